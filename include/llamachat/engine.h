/*
 * llamachat engine: the public interface.
 *
 * The engine loads GGUF models, tokenizes text, renders chat templates,
 * evaluates batches of tokens and samples from the logits. It knows nothing
 * of HTTP or SQL and can be used on its own:
 *
 *     char err[256];
 *     lc_model *m = lc_model_load("model.gguf", NULL, err, sizeof err);
 *     lc_context *ctx = lc_context_new(m, NULL, err, sizeof err);
 *     int32_t toks[64];
 *     int n = lc_tokenize(m, "Hello", 5, true, false, toks, 64);
 *     lc_batch b = {.n_tokens = n, .token = toks};     // seq 0, logits: last
 *     lc_decode(ctx, &b, err, sizeof err);
 *     const float *logits = lc_get_logits(ctx, n - 1);  // [n_vocab]
 *
 * Every function that can fail returns NULL or a negative number and, when
 * given an `err` buffer, writes one human-readable line into it.
 * Nothing here keeps hidden global state: all state hangs off the handles.
 * A model may be shared by several contexts; a context is used by one thread
 * at a time.
 */
#ifndef LLAMACHAT_ENGINE_H
#define LLAMACHAT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lc_model lc_model;
typedef struct lc_context lc_context;
typedef struct lc_sampler lc_sampler;

/* ---------------------------------------------------------------- model */

typedef struct lc_model_params {
    int n_threads; /* threads for matrix work; 0 = number of cores */
    bool progress; /* draw a progress bar on stderr while loading */
} lc_model_params;

/* Defaults: all cores, no progress bar. */
lc_model_params lc_model_default_params(void);

/* Memory-maps and validates a GGUF file. NULL on failure (err says why:
 * corrupt file, unknown architecture, unsupported tensor type, ...). */
lc_model *lc_model_load(const char *path, const lc_model_params *params,
                        char *err, size_t err_len);
void lc_model_free(lc_model *model);

const char *lc_model_arch(const lc_model *model); /* "llama", "gemma3", ... */
const char *lc_model_name(const lc_model *model); /* general.name or "" */
int lc_model_n_vocab(const lc_model *model);
int lc_model_n_embd(const lc_model *model);
int lc_model_n_ctx_train(const lc_model *model);
int lc_model_n_layer(const lc_model *model);
uint64_t lc_model_size_bytes(const lc_model *model); /* bytes of weights */
uint64_t lc_model_n_params(const lc_model *model);
/* Human-readable tensor type of the bulk of the weights, e.g. "Q4_K_M". */
const char *lc_model_ftype_name(const lc_model *model);

/* ------------------------------------------------------------ tokenizer */

enum { LC_TOKEN_NONE = -1 };

/* Converts text to token ids.
 * add_special: add BOS/EOS (and CLS/SEP) as the model's metadata asks.
 * parse_special: recognise control tokens such as "<|im_start|>" in text.
 * Returns the number of tokens; when that is larger than max_tokens, only
 * max_tokens were written and the caller should retry with a larger buffer.
 * Returns -1 on invalid input (err set when given). */
int lc_tokenize(const lc_model *model, const char *text, size_t text_len,
                bool add_special, bool parse_special, int32_t *tokens,
                int max_tokens);

/* The bytes a token stands for (byte-fallback tokens give one raw byte,
 * control tokens give their text only when `special` is true). Returns the
 * length written, or the negated length needed when buf is too small. */
int lc_token_to_piece(const lc_model *model, int32_t token, bool special,
                      char *buf, int buf_len);

int32_t lc_token_bos(const lc_model *model); /* LC_TOKEN_NONE if none */
int32_t lc_token_eos(const lc_model *model);
/* True for end-of-generation tokens (EOS, EOT, <|im_end|>, ...). */
bool lc_token_is_eog(const lc_model *model, int32_t token);

/* Streaming detokenisation: feeds tokens one at a time and hands out only
 * complete UTF-8 characters, so no character is ever split across two
 * pieces. A leading space that SentencePiece adds is removed at the start. */
typedef struct lc_detok {
    const lc_model *model;
    bool special;    /* render control tokens */
    bool at_start;   /* no text emitted yet */
    char pending[8]; /* bytes of an incomplete UTF-8 character */
    int n_pending;
} lc_detok;

void lc_detok_init(lc_detok *d, const lc_model *model, bool special);
/* Appends the text that token completes to out (NUL-terminated); returns
 * its length, or the negated length needed. */
int lc_detok_push(lc_detok *d, int32_t token, char *out, int out_len);
/* Flushes bytes of an unfinished character at end of stream (as U+FFFD). */
int lc_detok_flush(lc_detok *d, char *out, int out_len);

/* -------------------------------------------------------- chat template */

typedef struct lc_chat_message {
    const char *role; /* "system", "user" or "assistant" */
    const char *content;
} lc_chat_message;

/* Renders the conversation with the model's tokenizer.chat_template (or
 * `template_override` when non-NULL), exactly as the Jinja template would,
 * with the generation prompt when add_generation_prompt. The text of a BOS
 * token that the template writes is left out when the tokenizer adds BOS
 * itself. Returns a malloc'd string, or NULL (err: unknown template). */
char *lc_chat_render(const lc_model *model, const char *template_override,
                     const lc_chat_message *messages, int n_messages,
                     bool add_generation_prompt, char *err, size_t err_len);

/* Name of the template family chosen for the model, e.g. "llama3". */
const char *lc_chat_template_name(const lc_model *model);

/* -------------------------------------------------------------- context */

/* Where a context runs the model (lc_context_params.gpu_mode). The GPU
 * backend is a library loaded at run time (libllamachat-cuda.so next to
 * the executable, or $LLAMACHAT_CUDA_LIB); the CPU is always there. */
enum {
    LC_GPU_AUTO = 0, /* the GPU when one is usable, else the CPU */
    LC_GPU_ON = 1,   /* the GPU; context creation fails without one */
    LC_GPU_OFF = 2,  /* the CPU only; the library is never loaded */
};

typedef struct lc_context_params {
    int n_ctx;        /* positions per sequence; 0 = min(model's, 4096) */
    int n_seq_max;    /* sequences held at once in the KV cache */
    int n_batch;      /* largest batch lc_decode accepts; 0 = n_ctx */
    int n_threads;    /* 0 = the model's */
    int gpu_mode;     /* LC_GPU_AUTO (default), LC_GPU_ON, LC_GPU_OFF */
    int n_gpu_layers; /* layers [0, n) on the GPU, the rest on the CPU;
                         -1 (default) = as many as fit in GPU memory */
} lc_context_params;

lc_context_params lc_context_default_params(void);
lc_context *lc_context_new(lc_model *model, const lc_context_params *params,
                           char *err, size_t err_len);
void lc_context_free(lc_context *ctx);
int lc_context_n_ctx(const lc_context *ctx);

/* True when layers of this context run on a GPU. */
bool lc_context_gpu_active(const lc_context *ctx);
/* Layers on the GPU (0 on the CPU); the model has lc_model_n_layer. */
int lc_context_gpu_layers(const lc_context *ctx);
/* GPU memory this process holds, in MiB, measured by the driver (0 on the
 * CPU). */
int lc_context_gpu_memory_mb(const lc_context *ctx);
/* "CPU", or "CUDA (NVIDIA H200)". */
const char *lc_context_backend_name(const lc_context *ctx);
/* Why the context runs on the CPU although the GPU was not turned off
 * (library absent, no device, not enough memory, ...); "" otherwise. */
const char *lc_context_gpu_reason(const lc_context *ctx);

/* A batch: n tokens, each with its position, its sequence and whether its
 * logits are wanted. Tokens of one sequence must come in position order. */
typedef struct lc_batch {
    int n_tokens;
    const int32_t *token;  /* [n_tokens] */
    const int32_t *pos;    /* [n_tokens]; NULL = continue each sequence */
    const int32_t *seq_id; /* [n_tokens] in 0..n_seq_max-1; NULL = all 0 */
    const int8_t *logits;  /* [n_tokens] 1 = compute logits; NULL = last */
} lc_batch;

/* Evaluates a batch; K/V of every token are stored in its sequence's cache.
 * Returns 0, or -1 with err set (bad token id, position beyond n_ctx,
 * batch too large, ...). */
int lc_decode(lc_context *ctx, const lc_batch *batch, char *err,
              size_t err_len);

/* Logits [n_vocab] of the i-th token of the last batch (its logits flag must
 * have been set); NULL otherwise. Valid until the next lc_decode. */
const float *lc_get_logits(const lc_context *ctx, int i);

/* Forgets positions [p0, p1) of a sequence (p1 < 0: to the end). Only a
 * suffix can be removed: p1 must be the end. */
void lc_kv_seq_rm(lc_context *ctx, int32_t seq_id, int32_t p0, int32_t p1);
/* Number of positions held for a sequence. */
int32_t lc_kv_seq_len(const lc_context *ctx, int32_t seq_id);

/* ----------------------------------------------------------- embeddings */

/* True for embedding encoders (bert, nomic-bert, gemma-embedding): they are
 * evaluated with lc_embed, never with lc_decode. */
int lc_model_is_encoder(const lc_model *model);

/* Embeds one text: its tokens (tokenized with add_special = true, so CLS/SEP
 * or BOS/EOS are present; task prefixes such as nomic's "search_query: " are
 * the caller's to add to the text) are evaluated in one non-causal pass, the
 * hidden states pooled as the model's metadata says (mean, cls or last) and
 * the result L2-normalised into out [lc_model_n_embd]. Returns 0, or -1 with
 * err set (not an encoder, empty text, more tokens than the context holds,
 * bad token id, out of memory). The KV cache of ctx is not used. */
int lc_embed(lc_context *ctx, const int32_t *tokens, int n_tokens, float *out,
             char *err, size_t err_len);

/* The same pass without pooling: the final hidden state of every token,
 * out [n_tokens][lc_model_n_embd], not normalised. */
int lc_embed_tokens(lc_context *ctx, const int32_t *tokens, int n_tokens,
                    float *out, char *err, size_t err_len);

/* ------------------------------------------------------------- sampling */

typedef struct lc_sampler_params {
    float temperature;       /* <= 0: greedy (exact argmax, lowest id) */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int repeat_last_n;       /* tokens looked back for penalties */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
} lc_sampler_params;

lc_sampler_params lc_sampler_default_params(void);
lc_sampler *lc_sampler_new(const lc_sampler_params *params, int n_vocab);
void lc_sampler_free(lc_sampler *s);
/* Picks a token from logits [n_vocab]. *prob (optional) receives the
 * probability of the chosen token under the distribution after
 * temperature and penalties (1.0 for a greedy pick of a certain token). */
int32_t lc_sampler_sample(lc_sampler *s, const float *logits, float *prob);
/* Records a token (prompt or generated) for the penalties. */
void lc_sampler_accept(lc_sampler *s, int32_t token);
void lc_sampler_reset(lc_sampler *s);

/* Stop strings: finds the first occurrence of any stop string in text.
 * Returns its offset, or -1. *partial is set to the length of the longest
 * suffix of text that is a prefix of a stop string (text to hold back). */
long lc_find_stop(const char *text, size_t len, const char *const *stops,
                  int n_stops, size_t *partial);

#ifdef __cplusplus
}
#endif
#endif

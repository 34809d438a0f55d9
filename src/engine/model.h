/*
 * The loaded model: hyper-parameters and weights read from GGUF metadata
 * alone, shared by every context that evaluates it.
 *
 * Weight tensors are views into the memory-mapped file. Fused tensors
 * (phi3's attn_qkv and ffn_up) are split into row ranges at load time, so
 * the forward pass sees the same separate q/k/v and gate/up matrices for
 * every architecture.
 */
#ifndef LC_ENGINE_MODEL_H
#define LC_ENGINE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "llamachat/engine.h"
#include "gguf.h"
#include "quant.h"
#include "cpu/matmul.h"
#include "cpu/threadpool.h"
#include "tokenizer.h"

enum lc_arch {
    LC_ARCH_LLAMA,
    LC_ARCH_GEMMA3,
    LC_ARCH_QWEN2,
    LC_ARCH_QWEN3,
    LC_ARCH_PHI3,
    LC_ARCH_BERT,
    LC_ARCH_NOMIC_BERT,
    LC_ARCH_GEMMA_EMBEDDING,
};

enum lc_rope_type {
    LC_ROPE_NONE,
    LC_ROPE_NORM, /* rotate adjacent pairs (x[2i], x[2i+1]) */
    LC_ROPE_NEOX, /* rotate halves (x[i], x[i + n_rot/2]) */
};

/* A matrix [n_out][n_in] stored row-major in `type` (ne0 = n_in). */
typedef struct lc_weight {
    const void *data; /* NULL when the tensor is absent */
    enum ggml_type type;
    int n_in;
    int n_out;
} lc_weight;

/* A vector of floats (norm weights, biases): always F32 in GGUF files. */
typedef struct lc_vec {
    const float *data; /* NULL when absent */
    int n;
} lc_vec;

typedef struct lc_layer {
    lc_vec attn_norm, attn_norm_b;           /* [n_embd] */
    lc_weight wq, wk, wv, wo;                /* q: [n_head*head_dim][n_embd] */
    lc_vec bq, bk, bv, bo;                   /* biases (qwen2, bert) */
    lc_vec q_norm, k_norm;                   /* [head_dim] (qwen3, gemma3) */
    lc_vec attn_post_norm;                   /* gemma3 post_attention_norm */
    lc_vec ffn_norm, ffn_norm_b;             /* [n_embd] */
    lc_weight ffn_gate, ffn_up, ffn_down;    /* up: [n_ff][n_embd] */
    lc_vec ffn_up_b, ffn_down_b;             /* bert */
    lc_vec ffn_post_norm;                    /* gemma3 post_ffw_norm */
    lc_vec layer_out_norm, layer_out_norm_b; /* bert layer_output_norm */
    bool swa;                                /* sliding-window layer */
    lc_vec attn_out_norm, attn_out_norm_b;   /* bert attn_output_norm */
} lc_layer;

typedef struct lc_hparams {
    int n_vocab;
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim; /* attention.key_length, else n_embd / n_head */
    int n_ff;
    int n_rot;      /* rope.dimension_count, else head_dim */
    float norm_eps; /* rms or layer norm epsilon */
    float rope_freq_base;
    float rope_freq_base_swa;
    float rope_freq_scale;
    enum lc_rope_type rope_type;
    int n_swa; /* sliding window, 0 = none */
    bool causal;
    float embd_scale; /* multiply input embeddings (gemma: sqrt(n_embd)) */
    float attn_scale; /* scale of q·k, usually 1/sqrt(head_dim) */
    float final_logit_softcap; /* 0 = none */
    int pooling;               /* encoders: 0 none, 1 mean, 2 cls, 3 last */
} lc_hparams;

struct lc_model {
    gguf_file *gguf;
    lc_vocab *vocab;
    enum lc_arch arch;
    char arch_name[32];
    char name[256];
    char ftype_name[16];
    lc_hparams hp;
    lc_model_params params;

    lc_weight tok_embd;  /* [n_vocab][n_embd] */
    lc_weight pos_embd;  /* bert: [n_ctx_train][n_embd] */
    lc_weight type_embd; /* bert: [n_types][n_embd] */
    lc_vec tok_norm, tok_norm_b;
    lc_vec out_norm, out_norm_b;
    lc_weight output; /* [n_vocab][n_embd]; tok_embd when tied */
    lc_layer *layers; /* [n_layer] */

    char *chat_template; /* tokenizer.chat_template or NULL */
    uint64_t n_params;
    uint64_t weight_bytes;
    /* Encoders converted with sentence-transformers' dense modules
     * (embeddinggemma): two projections applied after pooling,
     * dense_2 [n_dense][n_embd] (+ bias), dense_3 [n_embd][n_dense]. */
    lc_weight dense_2, dense_3;
    lc_vec dense_2_b;
};

/* ------------------------------------------------------------- context */

/* Dot product of two float rows: *s = sum w[i] * a[i]. */
typedef void (*lc_dot_f32)(int n, float *s, const void *w, const void *a);

/* Tokens evaluated per pass through the layers: a larger lc_decode batch is
 * split into micro-batches of this size, which bounds the scratch memory
 * (the K/V of earlier micro-batches are already in the cache, so the result
 * is the same). */
#define LC_UBATCH_MAX 512

/* The F32 KV cache of all layers and sequences.
 *   k:  [n_layer][n_seq][n_ctx][kv_dim]   one key row per position
 *   vt: [n_layer][n_seq][kv_dim][n_ctx]   values transposed, so that the
 *       attention-weighted sum over positions is a contiguous dot product
 * kv_dim = n_head_kv * head_dim. Positions >= seq_len[s] hold garbage. */
typedef struct lc_kv_cache {
    int n_layer, n_seq, n_ctx, kv_dim;
    float *k;
    float *vt;
    int32_t *seq_len; /* [n_seq] */
} lc_kv_cache;

/* One micro-batch handed to the forward pass (already validated). */
typedef struct lc_ubatch {
    int n;                  /* tokens */
    const int32_t *token;   /* [n] */
    const int32_t *pos;     /* [n] */
    const int32_t *seq;     /* [n] */
    const int32_t *out_row; /* [n] row in ctx->logits, or -1 */
} lc_ubatch;

/* Activations of one micro-batch, [n_ubatch][dim] each, allocated once. */
typedef struct lc_scratch {
    float *x;      /* [n_ubatch][n_embd] residual stream */
    float *xn;     /* [n_ubatch][n_embd] normalised input of a block */
    float *q;      /* [n_ubatch][n_head * head_dim] */
    float *k;      /* [n_ubatch][kv_dim] */
    float *v;      /* [n_ubatch][kv_dim] */
    float *att;    /* [n_ubatch][n_head * head_dim] attention output */
    float *o;      /* [n_ubatch][n_embd] block output before the residual */
    float *gate;   /* [n_ubatch][n_ff] */
    float *up;     /* [n_ubatch][n_ff] */
    float *rope;   /* [n_ubatch][n_rot] cos/sin pairs per token */
    float *scores; /* [n_threads][n_ctx] attention scores per thread */
    int32_t *rows; /* [3][n_ubatch] pos, seq, out_row of the output rows */
} lc_scratch;

struct lc_context {
    lc_model *model;
    lc_threadpool *tp;
    int n_threads;
    int n_ctx, n_seq_max, n_batch, n_ubatch;
    lc_kv_cache kv;
    lc_scratch s;
    lc_matmul_scratch mm;
    lc_dot_f32 dot;    /* F32 dot kernel chosen for this CPU */
    int32_t *seq_next; /* [n_seq_max] validation scratch */
    int32_t *out_row;  /* [n_batch] logits row of each token, or -1 */
    int n_last;        /* tokens in the last successful batch */
    float *logits;     /* [logits_cap][n_vocab] */
    int logits_cap;
    struct lc_gpu_backend *gpu; /* layers on the GPU, or NULL (gpu_loader.h) */
    char gpu_reason[256];       /* why not, when the GPU was not turned off */
};

/* Runs the layers over a micro-batch: stores its K/V in the cache and
 * writes logits rows for the tokens with out_row >= 0. Returns 0, or -1
 * with err set (out of memory). forward.c */
int lc_forward(lc_context *ctx, const lc_ubatch *ub, char *err, size_t err_len);

/* The same from layer il0 on, with the residual stream of the micro-batch
 * already in ctx->s.x [ub->n][n_embd] (the GPU ran layers [0, il0)).
 * il0 = 0 embeds the tokens first, as lc_forward does. forward.c */
int lc_forward_from(lc_context *ctx, const lc_ubatch *ub, int il0, char *err,
                    size_t err_len);

#endif

/*
 * What the commands share: loading a model and a context with one clear
 * error line on failure, tokenizing into a buffer of the right size,
 * evaluating a run of tokens in batches, and a clock.
 */
#ifndef LC_CLI_COMMON_H
#define LC_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "llamachat/engine.h"

/* A growable array of token ids. */
typedef struct cli_tokens {
    int32_t *ids; /* [cap] */
    int n;
    int cap;
} cli_tokens;

int cli_tokens_push(cli_tokens *t, int32_t id); /* 0, or -1 out of memory */
void cli_tokens_free(cli_tokens *t);

/* A model and one context on it (one sequence, id 0). */
typedef struct cli_engine {
    lc_model *model;
    lc_context *ctx;
    int n_ctx;   /* positions the context holds */
    int n_batch; /* largest batch lc_decode accepts */
    double load_s;
} cli_engine;

/* Loads the model. With `progress` the engine reads every page of the
 * weights up front, drawing a bar on stderr (a terminal) or one summary
 * line (a file); the commands that evaluate the model want that, so that
 * the first token does not pay for page faults. On failure prints
 * "llamachat: <err>" and returns NULL. */
lc_model *cli_load_model(const char *path, int n_threads, bool progress,
                         double *load_s);

/* Loads the model (with progress) and makes a context of n_ctx positions (0 =
 * default) and batches of up to n_batch tokens (0 = n_ctx). 0, or -1 after
 * printing the error; e is zeroed on failure. */
int cli_engine_open(cli_engine *e, const char *path, int n_threads, int n_ctx,
                    int n_batch);

/* The --gpu and -ngl flags (CLI_OPTS_GPU). */
typedef struct cli_gpu {
    const char *mode; /* "auto", "on", "off" */
    int n_gpu_layers; /* -1: as many as fit */
} cli_gpu;
#define CLI_GPU_DEFAULT                                                        \
    { "auto", -1 }

/* LC_GPU_* of g->mode, or -1 when it is none of auto, on, off. */
int cli_gpu_mode(const cli_gpu *g);

/* cli_engine_open placing layers as g asks (NULL: auto). Unless the GPU is
 * off, prints one line on stderr saying where the model runs:
 *   gpu: CUDA (NVIDIA H200), 16/16 layers, 1234 MiB
 *   gpu: not used, the CPU runs the model (no CUDA device: ...) */
int cli_engine_open_gpu(cli_engine *e, const char *path, int n_threads,
                        int n_ctx, int n_batch, const cli_gpu *g);
void cli_engine_close(cli_engine *e);

/* Tokenizes text into a malloc'd array, *n_out ids. NULL after printing the
 * error (invalid text, out of memory). */
int32_t *cli_tokenize(const lc_model *model, const char *text, bool add_special,
                      bool parse_special, int *n_out);

/* Evaluates tokens [n] of sequence 0 at positions pos0.., in batches of at
 * most n_batch, with logits for the last token only; *last_index receives
 * that token's index in the last batch (for lc_get_logits). 0, or -1 after
 * printing the error. */
int cli_decode(cli_engine *e, const int32_t *tokens, int n, int pos0,
               int *last_index);

/* Monotonic clock in seconds. */
double cli_now(void);

/* A seed nobody chose, for sampling without --seed: different on every
 * run (clock and process id). */
uint64_t cli_clock_seed(void);

/* The thread count that n_threads = 0 stands for: the online cores. */
int cli_threads(int n_threads);

/* Prints "llamachat: <message>" and a newline to stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

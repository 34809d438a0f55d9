/*
 * Shared pieces of the commands: see common.h.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cli_tokens_push(cli_tokens *t, int32_t id) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 256;
        int32_t *ids = realloc(t->ids, (size_t)cap * sizeof *ids);
        if (!ids) return -1;
        t->ids = ids;
        t->cap = cap;
    }
    t->ids[t->n++] = id;
    return 0;
}

void cli_tokens_free(cli_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = t->cap = 0;
}

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("llamachat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cli_clock_seed(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 32);
}

int cli_threads(int n_threads) {
    if (n_threads > 0) return n_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

lc_model *cli_load_model(const char *path, int n_threads, bool progress,
                         double *load_s) {
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = n_threads;
    mp.progress = progress;
    char err[512] = "";
    double t0 = cli_now();
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) {
        cli_fail("%s", err[0] ? err : "cannot load the model");
        return NULL;
    }
    if (load_s) *load_s = cli_now() - t0;
    return m;
}

int cli_engine_open(cli_engine *e, const char *path, int n_threads, int n_ctx,
                    int n_batch) {
    return cli_engine_open_gpu(e, path, n_threads, n_ctx, n_batch, NULL);
}

int cli_gpu_mode(const cli_gpu *g) {
    if (!g || !g->mode || strcmp(g->mode, "auto") == 0) return LC_GPU_AUTO;
    if (strcmp(g->mode, "on") == 0) return LC_GPU_ON;
    if (strcmp(g->mode, "off") == 0) return LC_GPU_OFF;
    return -1;
}

/* One line on stderr: where the model runs, and why not on the GPU. */
static void print_placement(const cli_engine *e, int mode) {
    if (mode == LC_GPU_OFF) return;
    if (lc_context_gpu_active(e->ctx))
        fprintf(stderr, "gpu: %s, %d/%d layers, %d MiB\n",
                lc_context_backend_name(e->ctx), lc_context_gpu_layers(e->ctx),
                lc_model_n_layer(e->model), lc_context_gpu_memory_mb(e->ctx));
    else
        fprintf(stderr, "gpu: not used, the CPU runs the model (%s)\n",
                lc_context_gpu_reason(e->ctx));
}

int cli_engine_open_gpu(cli_engine *e, const char *path, int n_threads,
                        int n_ctx, int n_batch, const cli_gpu *g) {
    memset(e, 0, sizeof *e);
    const int mode = cli_gpu_mode(g);
    if (mode < 0) {
        cli_fail("--gpu must be auto, on or off, not '%s'", g->mode);
        return -1;
    }
    if (n_ctx < 0) {
        cli_fail("context size must not be negative");
        return -1;
    }
    e->model = cli_load_model(path, n_threads, true, &e->load_s);
    if (!e->model) return -1;
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq_max = 1;
    cp.n_batch = n_batch;
    cp.n_threads = n_threads;
    cp.gpu_mode = mode;
    if (g) cp.n_gpu_layers = g->n_gpu_layers;
    char err[512] = "";
    e->ctx = lc_context_new(e->model, &cp, err, sizeof err);
    if (!e->ctx) {
        cli_fail("%s", err[0] ? err : "cannot create a context");
        lc_model_free(e->model);
        memset(e, 0, sizeof *e);
        return -1;
    }
    e->n_ctx = lc_context_n_ctx(e->ctx);
    e->n_batch = n_batch > 0 && n_batch < e->n_ctx ? n_batch : e->n_ctx;
    print_placement(e, mode);
    return 0;
}

void cli_engine_close(cli_engine *e) {
    lc_context_free(e->ctx);
    lc_model_free(e->model);
    memset(e, 0, sizeof *e);
}

int32_t *cli_tokenize(const lc_model *model, const char *text, bool add_special,
                      bool parse_special, int *n_out) {
    size_t len = strlen(text);
    /* A token covers at least one byte, plus BOS/EOS: this is enough
     * unless the tokenizer says otherwise, and then it says how much. */
    int cap = (int)(len < 1 << 28 ? len : 1 << 28) + 8;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *ids = malloc((size_t)cap * sizeof *ids);
        if (!ids) {
            cli_fail("out of memory");
            return NULL;
        }
        int n =
            lc_tokenize(model, text, len, add_special, parse_special, ids, cap);
        if (n < 0) {
            free(ids);
            cli_fail("cannot tokenize the text");
            return NULL;
        }
        if (n <= cap) {
            *n_out = n;
            return ids;
        }
        free(ids);
        cap = n;
    }
    cli_fail("cannot tokenize the text");
    return NULL;
}

int cli_decode(cli_engine *e, const int32_t *tokens, int n, int pos0,
               int *last_index) {
    int32_t *pos =
        malloc((size_t)(e->n_batch > 0 ? e->n_batch : 1) * sizeof *pos);
    int32_t *seq =
        calloc((size_t)(e->n_batch > 0 ? e->n_batch : 1), sizeof *seq);
    if (!pos || !seq) {
        free(pos);
        free(seq);
        cli_fail("out of memory");
        return -1;
    }
    int rc = 0;
    for (int start = 0; start < n; start += e->n_batch) {
        int m = n - start < e->n_batch ? n - start : e->n_batch;
        for (int i = 0; i < m; i++) pos[i] = pos0 + start + i;
        /* logits = NULL: only the last token's, which is all a sampler
         * needs; earlier batches' logits are never read. */
        lc_batch b = {m, tokens + start, pos, seq, NULL};
        char err[512] = "";
        if (lc_decode(e->ctx, &b, err, sizeof err) != 0) {
            cli_fail("%s", err[0] ? err : "decode failed");
            rc = -1;
            break;
        }
        if (last_index) *last_index = m - 1;
    }
    free(pos);
    free(seq);
    return rc;
}

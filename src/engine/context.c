/*
 * Evaluation contexts: the thread pool, the KV cache, scratch memory, batch
 * validation and the logits of the last batch.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gpu_loader.h"
#include "model.h"

lc_context_params lc_context_default_params(void) {
    lc_context_params p = {.n_ctx = 0,
                           .n_seq_max = 1,
                           .n_batch = 0,
                           .n_threads = 0,
                           .gpu_mode = LC_GPU_AUTO,
                           .n_gpu_layers = -1};
    return p;
}

/* n floats, or NULL when n * 4 bytes would overflow or allocation fails.
 * calloc: large zeroed blocks come straight from mmap, so cache pages that
 * are never written cost no memory. */
static float *alloc_floats(size_t a, size_t b, size_t c) {
    if (b && a > SIZE_MAX / b) return NULL;
    size_t n = a * b;
    if (c && n > SIZE_MAX / c) return NULL;
    n *= c;
    if (n == 0 || n > SIZE_MAX / sizeof(float)) return NULL;
    return calloc(n, sizeof(float));
}

/* Bounds on context sizes that keep every index inside int32. */
#define MAX_CTX (1 << 22)
#define MAX_SEQ 1024

lc_context *lc_context_new(lc_model *model, const lc_context_params *params,
                           char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!model) {
        lc_set_err(err, err_len, "no model given");
        return NULL;
    }
    lc_context_params p = params ? *params : lc_context_default_params();
    const lc_hparams *hp = &model->hp;
    if (p.n_ctx <= 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_batch <= 0) p.n_batch = p.n_ctx;
    if (p.n_threads <= 0) p.n_threads = model->params.n_threads;
    if (p.n_ctx > MAX_CTX || p.n_seq_max > MAX_SEQ || p.n_batch > MAX_CTX) {
        lc_set_err(err, err_len,
                   "context too large (n_ctx %d, n_seq_max %d, n_batch %d)",
                   p.n_ctx, p.n_seq_max, p.n_batch);
        return NULL;
    }

    lc_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        lc_set_err(err, err_len, "out of memory");
        return NULL;
    }
    ctx->model = model;
    ctx->n_ctx = p.n_ctx;
    ctx->n_seq_max = p.n_seq_max;
    ctx->n_batch = p.n_batch;
    ctx->n_ubatch = p.n_batch < LC_UBATCH_MAX ? p.n_batch : LC_UBATCH_MAX;

    ctx->tp = lc_threadpool_new(p.n_threads);
    if (!ctx->tp) {
        lc_set_err(err, err_len, "cannot start %d threads", p.n_threads);
        goto fail;
    }
    ctx->n_threads = lc_threadpool_size(ctx->tp);
    ctx->dot = ggml_get_type_traits(GGML_TYPE_F32)->vec_dot;

    const int kv_dim = hp->n_head_kv * hp->head_dim;
    const int q_dim = hp->n_head * hp->head_dim;
    lc_kv_cache *kv = &ctx->kv;
    kv->n_layer = hp->n_layer;
    kv->n_seq = p.n_seq_max;
    kv->n_ctx = p.n_ctx;
    kv->kv_dim = kv_dim;
    const size_t per_layer = (size_t)p.n_seq_max * (size_t)p.n_ctx;
    kv->k = alloc_floats((size_t)hp->n_layer, per_layer, (size_t)kv_dim);
    kv->vt = alloc_floats((size_t)hp->n_layer, per_layer, (size_t)kv_dim);
    kv->seq_len = calloc((size_t)p.n_seq_max, sizeof *kv->seq_len);

    const size_t u = (size_t)ctx->n_ubatch;
    lc_scratch *s = &ctx->s;
    s->x = alloc_floats(u, (size_t)hp->n_embd, 1);
    s->xn = alloc_floats(u, (size_t)hp->n_embd, 1);
    s->o = alloc_floats(u, (size_t)hp->n_embd, 1);
    s->q = alloc_floats(u, (size_t)q_dim, 1);
    s->att = alloc_floats(u, (size_t)q_dim, 1);
    s->k = alloc_floats(u, (size_t)kv_dim, 1);
    s->v = alloc_floats(u, (size_t)kv_dim, 1);
    s->gate = alloc_floats(u, (size_t)hp->n_ff, 1);
    s->up = alloc_floats(u, (size_t)hp->n_ff, 1);
    s->rope = alloc_floats(u, (size_t)hp->n_rot, 1);
    s->scores = alloc_floats((size_t)ctx->n_threads, (size_t)p.n_ctx, 1);
    s->rows = calloc(3 * u, sizeof *s->rows);
    ctx->seq_next = calloc((size_t)p.n_seq_max, sizeof *ctx->seq_next);
    ctx->out_row = calloc((size_t)p.n_batch, sizeof *ctx->out_row);
    if (!kv->k || !kv->vt || !kv->seq_len || !s->x || !s->xn || !s->o ||
        !s->q || !s->att || !s->k || !s->v || !s->gate || !s->up || !s->rope ||
        !s->scores || !s->rows || !ctx->seq_next || !ctx->out_row) {
        lc_set_err(err, err_len,
                   "out of memory for a context of %d positions x %d sequences",
                   p.n_ctx, p.n_seq_max);
        goto fail;
    }

    /* The GPU last: it sizes its cache and scratch from the same numbers,
     * and on failure (auto mode) the CPU context above is complete. */
    lc_gpu_request rq = {p.gpu_mode, p.n_gpu_layers, p.n_ctx, p.n_seq_max,
                         ctx->n_ubatch};
    bool fatal = false;
    ctx->gpu = lc_gpu_backend_new(model, &rq, ctx->gpu_reason,
                                  sizeof ctx->gpu_reason, &fatal);
    if (!ctx->gpu) {
        if (fatal) {
            lc_set_err(err, err_len, "GPU: %s", ctx->gpu_reason);
            goto fail;
        }
        /* Turned off is a choice, not a reason to report. */
        if (p.gpu_mode == LC_GPU_OFF) ctx->gpu_reason[0] = '\0';
    }
    return ctx;

fail:
    lc_context_free(ctx);
    return NULL;
}

void lc_context_free(lc_context *ctx) {
    if (!ctx) return;
    lc_gpu_backend_free(ctx->gpu);
    if (ctx->tp) lc_threadpool_free(ctx->tp);
    lc_matmul_scratch_free(&ctx->mm);
    free(ctx->kv.k);
    free(ctx->kv.vt);
    free(ctx->kv.seq_len);
    lc_scratch *s = &ctx->s;
    free(s->x);
    free(s->xn);
    free(s->o);
    free(s->q);
    free(s->att);
    free(s->k);
    free(s->v);
    free(s->gate);
    free(s->up);
    free(s->rope);
    free(s->scores);
    free(s->rows);
    free(ctx->seq_next);
    free(ctx->out_row);
    free(ctx->logits);
    free(ctx);
}

int lc_context_n_ctx(const lc_context *ctx) {
    return ctx ? ctx->n_ctx : 0;
}

/* Beside the context queries because only placement needs it. */
int lc_model_n_layer(const lc_model *model) {
    return model ? model->hp.n_layer : 0;
}

bool lc_context_gpu_active(const lc_context *ctx) {
    return ctx && ctx->gpu;
}

int lc_context_gpu_layers(const lc_context *ctx) {
    return ctx && ctx->gpu ? ctx->gpu->n_layers : 0;
}

int lc_context_gpu_memory_mb(const lc_context *ctx) {
    if (!ctx || !ctx->gpu) return 0;
    const lc_gpu_backend *gb = ctx->gpu;
    const size_t bytes = gb->lib.api->memory_used(gb->gc);
    /* Rounded up: a context that holds any memory reports at least 1. */
    return (int)((bytes + (1u << 20) - 1) >> 20);
}

const char *lc_context_backend_name(const lc_context *ctx) {
    return ctx && ctx->gpu ? ctx->gpu->name : "CPU";
}

const char *lc_context_gpu_reason(const lc_context *ctx) {
    return ctx ? ctx->gpu_reason : "";
}

/* One micro-batch through the layers: the GPU's first, then the CPU's.
 * With every layer on the GPU it writes the logits rows itself; with a
 * partial split it leaves the residual stream in s.x for the CPU. */
static int forward_ubatch(lc_context *ctx, const lc_ubatch *ub, char *err,
                          size_t err_len) {
    lc_gpu_backend *gb = ctx->gpu;
    if (!gb) return lc_forward(ctx, ub, err, err_len);
    char gerr[256] = "";
    if (gb->lib.api->eval(gb->gc, ub, ctx->s.x, ctx->logits, gerr,
                          sizeof gerr) != 0) {
        lc_set_err(err, err_len, "GPU: %s",
                   gerr[0] ? gerr : "evaluation failed");
        return -1;
    }
    if (gb->full) return 0;
    return lc_forward_from(ctx, ub, gb->n_layers, err, err_len);
}

/* Checks every token before anything is touched, and assigns logits rows.
 * Returns the number of logits rows, or -1. */
static int validate(lc_context *ctx, const lc_batch *b, char *err,
                    size_t err_len) {
    const int n = b->n_tokens;
    const int n_vocab = ctx->model->hp.n_vocab;
    if (n <= 0 || !b->token) {
        lc_set_err(err, err_len, "empty batch");
        return -1;
    }
    if (n > ctx->n_batch) {
        lc_set_err(err, err_len, "batch of %d tokens is larger than n_batch %d",
                   n, ctx->n_batch);
        return -1;
    }
    memcpy(ctx->seq_next, ctx->kv.seq_len,
           sizeof(int32_t) * (size_t)ctx->n_seq_max);
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        const int32_t tok = b->token[i];
        const int32_t seq = b->seq_id ? b->seq_id[i] : 0;
        if (tok < 0 || tok >= n_vocab) {
            lc_set_err(err, err_len,
                       "token %d of the batch: id %d is outside the vocabulary "
                       "(0..%d)",
                       i, tok, n_vocab - 1);
            return -1;
        }
        if (seq < 0 || seq >= ctx->n_seq_max) {
            lc_set_err(err, err_len,
                       "token %d of the batch: sequence %d is out of range "
                       "(n_seq_max %d)",
                       i, seq, ctx->n_seq_max);
            return -1;
        }
        const int32_t want = ctx->seq_next[seq];
        const int32_t pos = b->pos ? b->pos[i] : want;
        if (pos >= ctx->n_ctx || pos < 0) {
            lc_set_err(
                err, err_len,
                "token %d of the batch: position %d is beyond the context "
                "size %d",
                i, pos, ctx->n_ctx);
            return -1;
        }
        if (pos != want) {
            lc_set_err(err, err_len,
                       "token %d of the batch: position %d of sequence %d does "
                       "not continue its cache (expected %d)",
                       i, pos, seq, want);
            return -1;
        }
        ctx->seq_next[seq] = want + 1;
        const bool want_logits = b->logits ? b->logits[i] != 0 : i == n - 1;
        ctx->out_row[i] = want_logits ? n_out++ : -1;
    }
    return n_out;
}

/* Grows the logits buffer to rows x n_vocab (kept between batches). */
static int reserve_logits(lc_context *ctx, int rows, char *err,
                          size_t err_len) {
    if (rows <= ctx->logits_cap) return 0;
    const size_t n_vocab = (size_t)ctx->model->hp.n_vocab;
    float *l = NULL;
    if ((size_t)rows <= SIZE_MAX / sizeof(float) / n_vocab)
        l = realloc(ctx->logits, (size_t)rows * n_vocab * sizeof(float));
    if (!l) {
        lc_set_err(err, err_len, "out of memory for %d rows of logits", rows);
        return -1;
    }
    ctx->logits = l;
    ctx->logits_cap = rows;
    return 0;
}

int lc_decode(lc_context *ctx, const lc_batch *batch, char *err,
              size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!ctx || !batch) {
        lc_set_err(err, err_len, "no context or batch given");
        return -1;
    }
    ctx->n_last = 0; /* logits of an earlier batch are gone either way */
    if (lc_model_is_encoder(ctx->model)) {
        lc_set_err(
            err, err_len,
            "'%s' is an embedding model: it has no logits (use lc_embed)",
            ctx->model->arch_name);
        return -1;
    }
    const int n_out = validate(ctx, batch, err, err_len);
    if (n_out < 0 || reserve_logits(ctx, n_out, err, err_len)) return -1;

    /* Positions and sequences with the defaults of NULL arrays filled in,
     * kept on the stack one micro-batch at a time. */
    const int n = batch->n_tokens;
    int32_t pos[LC_UBATCH_MAX], seq[LC_UBATCH_MAX];
    memcpy(ctx->seq_next, ctx->kv.seq_len,
           sizeof(int32_t) * (size_t)ctx->n_seq_max);
    for (int start = 0; start < n; start += ctx->n_ubatch) {
        const int count = n - start < ctx->n_ubatch ? n - start : ctx->n_ubatch;
        for (int i = 0; i < count; i++) {
            seq[i] = batch->seq_id ? batch->seq_id[start + i] : 0;
            pos[i] = ctx->seq_next[seq[i]]++;
        }
        lc_ubatch ub = {count, batch->token + start, pos, seq,
                        ctx->out_row + start};
        /* On failure the sequence lengths stay as they were: whatever was
         * written past them in the cache is ignored. */
        if (forward_ubatch(ctx, &ub, err, err_len)) return -1;
    }
    memcpy(ctx->kv.seq_len, ctx->seq_next,
           sizeof(int32_t) * (size_t)ctx->n_seq_max);
    ctx->n_last = n;
    return 0;
}

const float *lc_get_logits(const lc_context *ctx, int i) {
    if (!ctx || i < 0 || i >= ctx->n_last || ctx->out_row[i] < 0) return NULL;
    return ctx->logits + (size_t)ctx->out_row[i] * ctx->model->hp.n_vocab;
}

void lc_kv_seq_rm(lc_context *ctx, int32_t seq_id, int32_t p0, int32_t p1) {
    if (!ctx) return;
    if (p0 < 0) p0 = 0;
    /* seq_id < 0: every sequence. */
    for (int s = 0; s < ctx->n_seq_max; s++) {
        if (seq_id >= 0 && s != seq_id) continue;
        int32_t *len = &ctx->kv.seq_len[s];
        /* Only a suffix can go: positions are implicit in the layout. */
        if ((p1 < 0 || p1 >= *len) && p0 < *len) {
            *len = p0;
            /* The GPU's cache holds the same positions of its layers. */
            if (ctx->gpu) ctx->gpu->lib.api->kv_seq_rm(ctx->gpu->gc, s, p0);
        }
    }
}

int32_t lc_kv_seq_len(const lc_context *ctx, int32_t seq_id) {
    if (!ctx || seq_id < 0 || seq_id >= ctx->n_seq_max) return 0;
    return ctx->kv.seq_len[seq_id];
}

/*
 * eval(): one micro-batch through the GPU layers, mirroring forward.c
 * layer by layer (llama, gemma3, qwen2, qwen3, phi3):
 *
 *   x   = embed(token) * embd_scale                  [n][n_embd]
 *   per layer il < n_layers:
 *     xn  = rmsnorm(x) * attn_norm
 *     k,v = xn Wk (+bk), xn Wv (+bv)                 [n][kv_dim]
 *     k   = rope(k_norm(k)); cache[il][seq][pos] = k, v
 *     (last layer of the model: keep only the rows whose logits are wanted)
 *     q   = rope(q_norm(xn Wq + bq))                 [n][n_head*hd]
 *     att = attention(q, cache)                      [n][n_head*hd]
 *     x  += post_norm(att Wo + bo)
 *     xn  = rmsnorm(x) * ffn_norm
 *     x  += post_norm((act(xn Wg) * xn Wu) Wd)       act: GELU / SiLU
 *   partial split: x back to the host (the CPU takes the other layers)
 *   all layers:    logits = softcap(rmsnorm(x) * out_norm · Wout)
 *
 * Everything runs on the context's stream; the host waits once, at the
 * end, for the copies back. The token, position and sequence ids travel
 * to the device in one copy through a pinned buffer, together with the
 * gather list of the output rows (computed on the host, which knows
 * out_row).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

/* The rows the layers are working on: all tokens, then in the model's
 * last layer only the output rows. */
typedef struct rows {
    int n;
    const int32_t *pos, *seq; /* device [n] */
    float *x, *xn;            /* device [n][n_embd] */
} rows;

/* Per-layer RoPE parameters: local (sliding-window) layers of gemma3 use
 * their own base and no frequency scaling. theta_scale is computed here
 * with the host's powf, as lc_rope_angles computes it. */
static void rope_params(const lc_hparams *hp, bool swa, float *theta_scale,
                        float *freq_scale) {
    const float base = swa ? hp->rope_freq_base_swa : hp->rope_freq_base;
    *theta_scale = powf(base, -2.0f / (float)hp->n_rot);
    *freq_scale = swa ? 1.0f : hp->rope_freq_scale;
}

/* q or k [n][n_h][hd] after its product: bias, per-head RMSNorm, RoPE. */
static int qk_prep(lc_gpu_ctx *gc, const dev_layer *L, float *t,
                   const float *bias, const float *norm, int n_h, const rows *r,
                   char *err, size_t err_len) {
    const lc_hparams *hp = &gc->gm->hp;
    const int hd = hp->head_dim;
    float ts, fs;
    rope_params(hp, L->swa, &ts, &fs);
    if (bias && lcg_add_bias(gc->stream, t, bias, r->n, n_h * hd, err, err_len))
        return -1;
    /* QK-norm: each head normalised on its own, before RoPE */
    if (norm && lcg_rmsnorm(gc->stream, t, t, norm, r->n * n_h, hd,
                            hp->norm_eps, err, err_len))
        return -1;
    return lcg_rope(gc->stream, t, r->pos, r->n, n_h, hd, hp->n_rot, ts, fs,
                    hp->rope_type, err, err_len);
}

/* One layer over the rows r. In the model's last layer (n_out >= 0)
 * everything after the K/V store runs only for the n_out output rows,
 * gathered by the device list gidx/gpos/gseq; *r is replaced by them. */
static int layer(lc_gpu_ctx *gc, int il, rows *r, int max_keys, int n_out,
                 const int32_t *gidx, const int32_t *gpos, const int32_t *gseq,
                 char *err, size_t err_len) {
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    const dev_layer *L = &gm->layers[il];
    const int e = hp->n_embd;
    cudaStream_t st = gc->stream;
    const size_t layer_off = (size_t)il * gc->n_seq * gc->n_ctx * gc->kv_dim;

    /* ---- attention block */
    if (lcg_rmsnorm(st, r->xn, r->x, L->attn_norm, r->n, e, hp->norm_eps, err,
                    err_len) ||
        lcg_matmul(gc, gc->k, &L->wk, r->xn, r->n, err, err_len) ||
        lcg_matmul(gc, gc->v, &L->wv, r->xn, r->n, err, err_len))
        return -1;
    if (L->bv && lcg_add_bias(st, gc->v, L->bv, r->n, gc->kv_dim, err, err_len))
        return -1;
    if (qk_prep(gc, L, gc->k, L->bk, L->k_norm, hp->n_head_kv, r, err,
                err_len) ||
        lcg_kv_store(st, gc->k_cache + layer_off, gc->v_cache + layer_off,
                     gc->k, gc->v, r->seq, r->pos, r->n, gc->kv_dim, gc->n_ctx,
                     err, err_len))
        return -1;

    if (n_out >= 0 && n_out < r->n) {
        /* x, xn: only the output rows, in order, into the spare buffers */
        if (lcg_gather_rows(st, gc->x_alt, r->x, gidx, n_out, e, err,
                            err_len) ||
            lcg_gather_rows(st, gc->xn_alt, r->xn, gidx, n_out, e, err,
                            err_len))
            return -1;
        *r = (rows){n_out, gpos, gseq, gc->x_alt, gc->xn_alt};
    }
    if (r->n == 0) return 0;

    if (lcg_matmul(gc, gc->q, &L->wq, r->xn, r->n, err, err_len) ||
        qk_prep(gc, L, gc->q, L->bq, L->q_norm, hp->n_head, r, err, err_len) ||
        lcg_attention(gc, il, gc->att, gc->q, r->seq, r->pos, r->n, max_keys,
                      err, err_len) ||
        lcg_matmul(gc, gc->o, &L->wo, gc->att, r->n, err, err_len) ||
        lcg_residual(st, r->x, gc->o, L->bo, L->attn_post_norm, r->n, e,
                     hp->norm_eps, err, err_len))
        return -1;

    /* ---- feed-forward block */
    if (lcg_rmsnorm(st, r->xn, r->x, L->ffn_norm, r->n, e, hp->norm_eps, err,
                    err_len) ||
        lcg_matmul(gc, gc->gate, &L->ffn_gate, r->xn, r->n, err, err_len) ||
        lcg_matmul(gc, gc->up, &L->ffn_up, r->xn, r->n, err, err_len) ||
        lcg_glu(st, gc->gate, gc->up, (size_t)r->n * hp->n_ff, gm->geglu, err,
                err_len) ||
        lcg_matmul(gc, gc->o, &L->ffn_down, gc->gate, r->n, err, err_len) ||
        lcg_residual(st, r->x, gc->o, NULL, L->ffn_post_norm, r->n, e,
                     hp->norm_eps, err, err_len))
        return -1;
    return 0;
}

/* Final norm, LM head and softcap of rows [r0, r0 + nr) of r (all rows of
 * r are outputs, in batch order) into gc->logits [nr][n_vocab]. The norm
 * is applied by the caller once for all rows. */
static int head_rows(lc_gpu_ctx *gc, const rows *r, int r0, int nr, char *err,
                     size_t err_len) {
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    if (lcg_matmul(gc, gc->logits, &gm->output, r->xn + (size_t)r0 * hp->n_embd,
                   nr, err, err_len))
        return -1;
    if (hp->final_logit_softcap > 0.0f &&
        lcg_softcap(gc->stream, gc->logits, (size_t)nr * hp->n_vocab,
                    hp->final_logit_softcap, err, err_len))
        return -1;
    return 0;
}

/* Copies logits rows [0, nr) of gc->logits to logits + out_rows[k] *
 * n_vocab, runs of consecutive rows in one copy each. */
static int copy_logits(lc_gpu_ctx *gc, const int32_t *out_rows, int nr,
                       float *logits, char *err, size_t err_len) {
    const size_t nv = (size_t)gc->gm->hp.n_vocab;
    for (int a = 0; a < nr;) {
        int b = a + 1;
        while (b < nr && out_rows[b] == out_rows[b - 1] + 1) b++;
        LCG_CUDA(cudaMemcpyAsync(logits + (size_t)out_rows[a] * nv,
                                 gc->logits + (size_t)a * nv,
                                 sizeof(float) * (size_t)(b - a) * nv,
                                 cudaMemcpyDeviceToHost, gc->stream),
                 "copy logits");
        a = b;
    }
    return 0;
}

/* Checks the batch against the context's sizes (the engine validated it
 * against its own, which should be the same). */
static int check_batch(const lc_gpu_ctx *gc, const lc_ubatch *ub, char *err,
                       size_t err_len) {
    if (ub->n < 0 || ub->n > gc->n_ubatch)
        return lcg_fail(err, err_len, "GPU: batch of %d tokens (at most %d)",
                        ub->n, gc->n_ubatch);
    for (int i = 0; i < ub->n; i++) {
        if (ub->token[i] < 0 || ub->token[i] >= gc->gm->hp.n_vocab ||
            ub->pos[i] < 0 || ub->pos[i] >= gc->n_ctx || ub->seq[i] < 0 ||
            ub->seq[i] >= gc->n_seq)
            return lcg_fail(err, err_len,
                            "GPU: token %d of the batch is out of range "
                            "(id %d, pos %d, seq %d)",
                            i, ub->token[i], ub->pos[i], ub->seq[i]);
    }
    return 0;
}

/* The device work of a batch whose ids are already in gc->d_batch:
 * embedding, the GPU layers and, when all layers are here, the final norm
 * and the LM head of the first min(n_out, LCG_LOGIT_ROWS) output rows.
 * Queues kernels only (no copies, no waits), so that a single-token step
 * can be captured into a CUDA graph. *r is left on the final rows. */
static int forward_device(lc_gpu_ctx *gc, int n, int n_out, int max_keys,
                          rows *r, char *err, size_t err_len) {
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    const int u = gc->n_ubatch;
    const int32_t *db = gc->d_batch;
    if (lcg_embed(gc->stream, gc->x, &gm->tok_embd, db, n, hp->embd_scale, err,
                  err_len))
        return -1;
    *r = (rows){n, db + u, db + 2 * u, gc->x, gc->xn};
    for (int il = 0; il < gm->n_layers; il++) {
        const bool last = gm->full && il == hp->n_layer - 1;
        if (layer(gc, il, r, max_keys, last ? n_out : -1, db + 3 * u,
                  db + 4 * u, db + 5 * u, err, err_len))
            return -1;
    }
    if (!gm->full || n_out == 0) return 0;
    /* gm->full implies n_layers >= 1, so r holds exactly the n_out output
     * rows here */
    if (lcg_rmsnorm(gc->stream, r->xn, r->x, gm->out_norm, r->n, hp->n_embd,
                    hp->norm_eps, err, err_len))
        return -1;
    return head_rows(gc, r, 0, n_out < LCG_LOGIT_ROWS ? n_out : LCG_LOGIT_ROWS,
                     err, err_len);
}

/* A single-token step from the captured graph, capturing it on first use.
 * The graph reads token, position and sequence from gc->d_batch, so one
 * capture serves every later step; the attention split is fixed from
 * n_ctx (max_keys = n_ctx) for the same reason, the kernel itself taking
 * the keys of its range from the position. */
static int forward_graph(lc_gpu_ctx *gc, int n_out, char *err, size_t err_len) {
    cudaStream_t st = gc->stream;
    if (!gc->graph) {
        LCG_CUDA(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal),
                 "begin graph capture");
        rows r;
        const int rc =
            forward_device(gc, 1, n_out, gc->n_ctx, &r, err, err_len);
        cudaGraph_t g = NULL;
        const cudaError_t e = cudaStreamEndCapture(st, &g);
        if (rc != 0) {
            if (g) cudaGraphDestroy(g);
            return -1;
        }
        if (e != cudaSuccess) {
            if (g) cudaGraphDestroy(g);
            return lcg_fail(err, err_len, "CUDA graph capture: %s",
                            cudaGetErrorString(e));
        }
        const cudaError_t ei = cudaGraphInstantiate(&gc->graph, g, 0);
        cudaGraphDestroy(g);
        if (ei != cudaSuccess) {
            gc->graph = NULL;
            return lcg_fail(err, err_len, "CUDA graph instantiate: %s",
                            cudaGetErrorString(ei));
        }
    }
    LCG_CUDA(cudaGraphLaunch(gc->graph, st), "graph launch");
    return 0;
}

static int eval_batch(lc_gpu_ctx *gc, const lc_ubatch *ub, float *x,
                      float *logits, char *err, size_t err_len) {
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    const int n = ub->n, u = gc->n_ubatch;
    cudaStream_t st = gc->stream;
    if (check_batch(gc, ub, err, err_len)) return -1;
    if (n == 0) return 0;
    LCG_CUDA(cudaSetDevice(gm->device), "select device");

    /* h_batch: [0] tokens, [1] pos, [2] seq, [3] gather index, [4] gather
     * pos, [5] gather seq (each [n_ubatch]); out_rows: logits row of each
     * output row, host only. */
    int32_t *hb = gc->h_batch;
    int32_t *out_rows = (int32_t *)malloc(sizeof(int32_t) * (size_t)n);
    if (!out_rows) return lcg_fail(err, err_len, "out of host memory");
    int n_out = 0, max_keys = 0;
    for (int i = 0; i < n; i++) {
        hb[i] = ub->token[i];
        hb[u + i] = ub->pos[i];
        hb[2 * u + i] = ub->seq[i];
        if (ub->pos[i] + 1 > max_keys) max_keys = ub->pos[i] + 1;
        if (gm->full && logits && ub->out_row && ub->out_row[i] >= 0) {
            hb[3 * u + n_out] = i;
            hb[4 * u + n_out] = ub->pos[i];
            hb[5 * u + n_out] = ub->seq[i];
            out_rows[n_out++] = ub->out_row[i];
        }
    }
    int rc = -1;
    rows r;
    const cudaError_t ec =
        cudaMemcpyAsync(gc->d_batch, hb, sizeof(int32_t) * 6 * (size_t)u,
                        cudaMemcpyHostToDevice, st);
    if (ec != cudaSuccess) {
        lcg_fail(err, err_len, "CUDA copy the batch: %s",
                 cudaGetErrorString(ec));
        goto done;
    }
    if (gc->graphs && n == 1 && (!gm->full || n_out == 1)) {
        if (forward_graph(gc, n_out, err, err_len)) goto done;
        r = (rows){1, NULL, NULL, gc->x, gc->xn};
    } else if (forward_device(gc, n, n_out, max_keys, &r, err, err_len)) {
        goto done;
    }

    if (!gm->full) {
        /* the CPU continues from the residual stream of every token */
        const cudaError_t e =
            cudaMemcpyAsync(x, gc->x, sizeof(float) * (size_t)n * hp->n_embd,
                            cudaMemcpyDeviceToHost, st);
        if (e != cudaSuccess) {
            lcg_fail(err, err_len, "CUDA copy the residual stream: %s",
                     cudaGetErrorString(e));
            goto done;
        }
    } else {
        /* rows beyond the first LCG_LOGIT_ROWS: one chunk at a time, each
         * after the previous chunk's copies are done */
        for (int r0 = 0; r0 < n_out; r0 += LCG_LOGIT_ROWS) {
            const int nr =
                n_out - r0 < LCG_LOGIT_ROWS ? n_out - r0 : LCG_LOGIT_ROWS;
            if (r0 > 0) {
                const cudaError_t e = cudaStreamSynchronize(st);
                if (e != cudaSuccess) {
                    lcg_fail(err, err_len, "CUDA eval: %s",
                             cudaGetErrorString(e));
                    goto done;
                }
                if (head_rows(gc, &r, r0, nr, err, err_len)) goto done;
            }
            if (copy_logits(gc, out_rows + r0, nr, logits, err, err_len))
                goto done;
        }
    }
    {
        const cudaError_t e = cudaStreamSynchronize(st);
        if (e != cudaSuccess) {
            lcg_fail(err, err_len, "CUDA eval: %s", cudaGetErrorString(e));
            goto done;
        }
    }
    rc = 0;
done:
    free(out_rows);
    return rc;
}

int lcg_eval(lc_gpu_ctx *gc, const lc_ubatch *ub, float *x, float *logits,
             char *err, size_t err_len) {
    if (!gc || !ub) return lcg_fail(err, err_len, "GPU eval: no context");
    const int rc = eval_batch(gc, ub, x, logits, err, err_len);
    if (rc != 0) {
        /* Leave the stream idle before returning: the caller may free or
         * reuse the host buffers at once. An error from here on is sticky
         * and will show again on the next call. */
        cudaStreamSynchronize(gc->stream);
    }
    return rc;
}

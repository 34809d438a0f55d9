/*
 * The decoder forward pass, shared by llama, gemma3, qwen2, qwen3 and phi3.
 *
 * A micro-batch of n tokens (any mix of sequences) runs through the layers
 * together: activations are [n][dim] rows, every weight product is one
 * lc_matmul over all n tokens, and each token attends to its own
 * sequence's cache. Per layer:
 *
 *   xn  = norm(x)                        attn_norm
 *   q,k,v = xn Wq, xn Wk, xn Wv (+ bias)  [n][q_dim], [n][kv_dim] x2
 *   q,k = rope(qk_norm(q,k))             per head, at each token's position
 *   cache[seq][pos] = k, v
 *   att = softmax(q k^T * scale) v       causal (+ sliding window)
 *   x  += post_norm(att Wo)              post norm: gemma3 only
 *   xn  = norm(x)                        ffn_norm
 *   x  += post_norm((act(xn Wg) * xn Wu) Wd)
 *
 * then the final norm and the LM head for the tokens whose logits are
 * wanted. In the last layer only their rows go on after the K/V are cached
 * (a prompt usually wants the logits of its last token alone). The
 * architectures differ only in the switches read from lc_model (biases present,
 * QK-norm present, RoPE type, GELU vs SiLU, post norms).
 */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "ops.h"

/* What a row job does to one token (or one slice of the FFN). */
enum row_op {
    ROW_ATTN_NORM, /* xn = norm(x) * attn_norm */
    ROW_KV_PREP,   /* k/v biases, K-norm, RoPE, store K/V into the cache */
    ROW_Q_PREP,    /* q bias, Q-norm, RoPE */
    ROW_ATTN_OUT,  /* x += post_norm(o) */
    ROW_FFN_NORM,  /* xn = norm(x) * ffn_norm */
    ROW_FFN_ACT,   /* gate = act(gate) * up, split by elements */
    ROW_FFN_OUT,   /* x += post_norm(o) */
};

typedef struct row_job {
    lc_context *ctx;
    const lc_ubatch *ub;
    int il;
    enum row_op op;
} row_job;

/* Offset of (layer, sequence) in the K and V^T caches, in floats. */
static size_t kv_offset(const lc_kv_cache *kv, int il, int seq) {
    return ((size_t)il * kv->n_seq + (size_t)seq) * (size_t)kv->n_ctx *
           (size_t)kv->kv_dim;
}

/* RoPE angles of token i of ub for layer il: [n_rot/2][2]. Local
 * (sliding-window) layers of gemma3 use their own base and no scaling. */
static const float *rope_angles(lc_context *ctx, const lc_ubatch *ub, int il,
                                int i) {
    const lc_hparams *hp = &ctx->model->hp;
    const lc_layer *L = &ctx->model->layers[il];
    const float base = L->swa ? hp->rope_freq_base_swa : hp->rope_freq_base;
    const float scale = L->swa ? 1.0f : hp->rope_freq_scale;
    float *cs = ctx->s.rope + (size_t)i * hp->n_rot;
    lc_rope_angles(cs, hp->n_rot, ub->pos[i], base, scale);
    return cs;
}

/* Query of token i after the q matmul: bias, QK-norm, RoPE.
 * q: [n_head][head_dim] */
static void q_prep(lc_context *ctx, const lc_ubatch *ub, int il, int i) {
    const lc_hparams *hp = &ctx->model->hp;
    const lc_layer *L = &ctx->model->layers[il];
    const int hd = hp->head_dim, q_dim = hp->n_head * hd;
    float *q = ctx->s.q + (size_t)i * q_dim;
    if (L->bq.data) lc_vec_add(q, L->bq.data, q_dim);
    /* QK-norm (qwen3, gemma3): RMSNorm of each head before RoPE, which keeps
     * the attention logits bounded. */
    if (L->q_norm.data)
        for (int h = 0; h < hp->n_head; h++)
            lc_rmsnorm(q + h * hd, q + h * hd, L->q_norm.data, hd,
                       hp->norm_eps);
    lc_rope(q, hp->n_head, hd, hp->n_rot, rope_angles(ctx, ub, il, i),
            hp->rope_type);
}

/* Key and value of token i after the k/v matmuls: bias, K-norm, RoPE, then
 * into the cache of its sequence at its position.
 * k, v: [n_head_kv][head_dim] */
static void kv_prep(lc_context *ctx, const lc_ubatch *ub, int il, int i) {
    const lc_hparams *hp = &ctx->model->hp;
    const lc_layer *L = &ctx->model->layers[il];
    const int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd;
    float *k = ctx->s.k + (size_t)i * kv_dim;
    float *v = ctx->s.v + (size_t)i * kv_dim;
    if (L->bk.data) lc_vec_add(k, L->bk.data, kv_dim);
    if (L->bv.data) lc_vec_add(v, L->bv.data, kv_dim);
    if (L->k_norm.data)
        for (int h = 0; h < hp->n_head_kv; h++)
            lc_rmsnorm(k + h * hd, k + h * hd, L->k_norm.data, hd,
                       hp->norm_eps);
    lc_rope(k, hp->n_head_kv, hd, hp->n_rot, rope_angles(ctx, ub, il, i),
            hp->rope_type);

    /* The cache row of this position: K as a row, V as a column. */
    const lc_kv_cache *kv = &ctx->kv;
    const size_t off = kv_offset(kv, il, ub->seq[i]);
    const int pos = ub->pos[i];
    memcpy(kv->k + off + (size_t)pos * kv_dim, k, sizeof(float) * kv_dim);
    float *vt = kv->vt + off;
    for (int d = 0; d < kv_dim; d++) vt[(size_t)d * kv->n_ctx + pos] = v[d];
}

static void row_task(void *arg, int ith, int nth) {
    const row_job *j = arg;
    lc_context *ctx = j->ctx;
    const lc_hparams *hp = &ctx->model->hp;
    const lc_layer *L = &ctx->model->layers[j->il];
    const int n = j->ub->n, n_embd = hp->n_embd;

    if (j->op == ROW_FFN_ACT) {
        /* Split the [n][n_ff] elements, so that one token still uses every
         * thread. */
        const size_t total = (size_t)n * hp->n_ff;
        const size_t e0 = total * ith / nth, e1 = total * (ith + 1) / nth;
        float *g = ctx->s.gate + e0;
        const float *u = ctx->s.up + e0;
        if (ctx->model->arch == LC_ARCH_GEMMA3)
            lc_geglu(g, g, u, (int)(e1 - e0));
        else
            lc_swiglu(g, g, u, (int)(e1 - e0));
        return;
    }

    const int i0 = n * ith / nth, i1 = n * (ith + 1) / nth;
    for (int i = i0; i < i1; i++) {
        float *x = ctx->s.x + (size_t)i * n_embd; /* [n_embd] */
        float *xn = ctx->s.xn + (size_t)i * n_embd;
        float *o = ctx->s.o + (size_t)i * n_embd;
        switch (j->op) {
        case ROW_ATTN_NORM:
            lc_rmsnorm(xn, x, L->attn_norm.data, n_embd, hp->norm_eps);
            break;
        case ROW_KV_PREP:
            kv_prep(ctx, j->ub, j->il, i);
            break;
        case ROW_Q_PREP:
            q_prep(ctx, j->ub, j->il, i);
            break;
        case ROW_ATTN_OUT:
            if (L->bo.data) lc_vec_add(o, L->bo.data, n_embd);
            if (L->attn_post_norm.data)
                lc_rmsnorm(o, o, L->attn_post_norm.data, n_embd, hp->norm_eps);
            lc_vec_add(x, o, n_embd);
            break;
        case ROW_FFN_NORM:
            lc_rmsnorm(xn, x, L->ffn_norm.data, n_embd, hp->norm_eps);
            break;
        case ROW_FFN_OUT:
            if (L->ffn_post_norm.data)
                lc_rmsnorm(o, o, L->ffn_post_norm.data, n_embd, hp->norm_eps);
            lc_vec_add(x, o, n_embd);
            break;
        case ROW_FFN_ACT:
            break;
        }
    }
}

/* Row ops cost little per token: for a few tokens (generation) waking the
 * pool costs more than the work, so they run on the calling thread. */
#define ROWS_PARALLEL_MIN 4

static void run_rows(lc_context *ctx, const lc_ubatch *ub, int il,
                     enum row_op op) {
    row_job j = {ctx, ub, il, op};
    if (ub->n < ROWS_PARALLEL_MIN && op != ROW_FFN_ACT)
        row_task(&j, 0, 1);
    else
        lc_threadpool_run(ctx->tp, row_task, &j);
}

typedef struct attn_job {
    lc_context *ctx;
    const lc_ubatch *ub;
    int il;
} attn_job;

/* Attention of every (head, token) pair of the micro-batch. Pairs are
 * ordered head-major and split into equal ranges: a thread works through
 * whole heads, reusing the same K/V columns of the cache, and because every
 * head has the same causal triangle of work the split stays balanced. */
static void attn_task(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    lc_context *ctx = j->ctx;
    const lc_ubatch *ub = j->ub;
    const lc_hparams *hp = &ctx->model->hp;
    const lc_layer *L = &ctx->model->layers[j->il];
    const lc_kv_cache *kv = &ctx->kv;
    const int n = ub->n, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd;
    const int group = hp->n_head / hp->n_head_kv; /* q heads per kv head */
    const int window = L->swa ? hp->n_swa : 0;
    float *scores = ctx->s.scores + (size_t)ith * ctx->n_ctx; /* [n_ctx] */

    const int64_t n_task = (int64_t)hp->n_head * n;
    const int64_t t0 = n_task * ith / nth, t1 = n_task * (ith + 1) / nth;
    for (int64_t t = t0; t < t1; t++) {
        const int h = (int)(t / n), i = (int)(t % n);
        const int g = h / group; /* GQA: the kv head this q head reads */
        const int pos = ub->pos[i];
        const size_t off = kv_offset(kv, j->il, ub->seq[i]);
        const float *k = kv->k + off + (size_t)g * hd; /* stride kv_dim */
        const float *vt = kv->vt + off + (size_t)g * hd * kv->n_ctx;
        /* Causal: keys 0..pos; a sliding window keeps the last `window`. */
        const int j0 =
            window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
        lc_attention_head(ctx->s.att + (size_t)i * q_dim + (size_t)h * hd,
                          ctx->s.q + (size_t)i * q_dim + (size_t)h * hd, k,
                          kv->kv_dim, vt, kv->n_ctx, hd, j0, pos,
                          hp->attn_scale, scores, ctx->dot);
    }
}

static int matmul(lc_context *ctx, float *out, const lc_weight *w,
                  const float *x, int n, char *err, size_t err_len) {
    if (lc_matmul(ctx->tp, &ctx->mm, out, w->data, w->type, w->n_in, w->n_out,
                  x, n) != 0) {
        snprintf(err, err_len, "out of memory in a matrix product");
        return -1;
    }
    return 0;
}

/* Keeps only the rows of ub whose logits are wanted, moved to the front of
 * x and xn, and describes them in *out (arrays in s.rows). */
static void compact_outputs(lc_context *ctx, const lc_ubatch *ub,
                            lc_ubatch *out) {
    const int n_embd = ctx->model->hp.n_embd, cap = ctx->n_ubatch;
    int32_t *pos = ctx->s.rows, *seq = pos + cap, *row = seq + cap;
    int k = 0;
    for (int i = 0; i < ub->n; i++) {
        if (ub->out_row[i] < 0) continue;
        /* k <= i: moving rows forward in order never overwrites a row that
         * is still to be moved. */
        if (k != i) {
            memmove(ctx->s.x + (size_t)k * n_embd,
                    ctx->s.x + (size_t)i * n_embd, sizeof(float) * n_embd);
            memmove(ctx->s.xn + (size_t)k * n_embd,
                    ctx->s.xn + (size_t)i * n_embd, sizeof(float) * n_embd);
        }
        pos[k] = ub->pos[i];
        seq[k] = ub->seq[i];
        row[k] = ub->out_row[i];
        k++;
    }
    *out = (lc_ubatch){k, NULL, pos, seq, row};
}

/* One layer. Keys and values are computed and cached for every token of
 * ub; in the last layer (last = true) everything after that is needed only
 * for the tokens whose logits are wanted, and is computed for them alone
 * (*ub is then replaced by those rows). */
static int layer_forward(lc_context *ctx, lc_ubatch *ub, int il, bool last,
                         char *err, size_t err_len) {
    const lc_layer *L = &ctx->model->layers[il];
    lc_scratch *s = &ctx->s;

    /* ---- attention block */
    run_rows(ctx, ub, il, ROW_ATTN_NORM); /* xn: [n][n_embd] */
    /* k, v = xn Wk, xn Wv: [n][kv_dim] each */
    if (matmul(ctx, s->k, &L->wk, s->xn, ub->n, err, err_len) ||
        matmul(ctx, s->v, &L->wv, s->xn, ub->n, err, err_len))
        return -1;
    run_rows(ctx, ub, il, ROW_KV_PREP);
    if (last) {
        int n_out = 0;
        for (int i = 0; i < ub->n; i++) n_out += ub->out_row[i] >= 0;
        if (n_out < ub->n) {
            lc_ubatch outs;
            compact_outputs(ctx, ub, &outs);
            *ub = outs;
        }
        if (ub->n == 0) return 0;
    }
    const int n = ub->n;
    /* q = xn Wq: [n][n_head * head_dim] */
    if (matmul(ctx, s->q, &L->wq, s->xn, n, err, err_len)) return -1;
    run_rows(ctx, ub, il, ROW_Q_PREP);
    attn_job aj = {ctx, ub, il};
    lc_threadpool_run(ctx->tp, attn_task, &aj); /* att: [n][n_head*hd] */
    /* o = att Wo: [n][n_embd] */
    if (matmul(ctx, s->o, &L->wo, s->att, n, err, err_len)) return -1;
    run_rows(ctx, ub, il, ROW_ATTN_OUT);

    /* ---- feed-forward block */
    run_rows(ctx, ub, il, ROW_FFN_NORM);
    /* gate, up = xn Wg, xn Wu: [n][n_ff] each */
    if (matmul(ctx, s->gate, &L->ffn_gate, s->xn, n, err, err_len) ||
        matmul(ctx, s->up, &L->ffn_up, s->xn, n, err, err_len))
        return -1;
    run_rows(ctx, ub, il, ROW_FFN_ACT); /* gate = act(gate) * up */
    /* o = gate Wd: [n][n_embd] */
    if (matmul(ctx, s->o, &L->ffn_down, s->gate, n, err, err_len)) return -1;
    run_rows(ctx, ub, il, ROW_FFN_OUT);
    return 0;
}

/* x[i] = embedding row of token i (dequantized from any stored type). */
static void embed(lc_context *ctx, const lc_ubatch *ub) {
    const lc_model *m = ctx->model;
    const int n_embd = m->hp.n_embd;
    const lc_weight *te = &m->tok_embd;
    const type_traits *tr = ggml_get_type_traits(te->type);
    const size_t row = ggml_row_size(te->type, n_embd);
    for (int i = 0; i < ub->n; i++) {
        float *x = ctx->s.x + (size_t)i * n_embd;
        tr->to_float((const uint8_t *)te->data + (size_t)ub->token[i] * row, x,
                     n_embd);
        /* gemma scales embeddings by sqrt(n_embd): the tied LM head then
         * sees unscaled rows while the residual stream starts large. */
        if (m->hp.embd_scale != 1.0f) lc_vec_scale(x, m->hp.embd_scale, n_embd);
    }
}

int lc_forward(lc_context *ctx, const lc_ubatch *ub, char *err,
               size_t err_len) {
    return lc_forward_from(ctx, ub, 0, err, err_len);
}

int lc_forward_from(lc_context *ctx, const lc_ubatch *ub, int il0, char *err,
                    size_t err_len) {
    const lc_model *m = ctx->model;
    const lc_hparams *hp = &m->hp;
    const int n_embd = hp->n_embd;

    /* Starting later, x holds what the GPU layers left: the CPU layers only
     * read their own K/V from the cache, so layers before il0 need none. */
    if (il0 == 0) embed(ctx, ub);
    lc_ubatch rows = *ub; /* shrinks to the output rows in the last layer */
    for (int il = il0; il < hp->n_layer; il++)
        if (layer_forward(ctx, &rows, il, il == hp->n_layer - 1, err, err_len))
            return -1;
    ub = &rows;

    /* Final norm of only the rows whose logits are wanted, gathered into
     * xn [n_out][n_embd]: the LM head (n_vocab rows) is the largest matrix,
     * and a prompt usually needs the logits of its last token alone. */
    int n_out = 0, first = -1;
    for (int i = 0; i < ub->n; i++) {
        if (ub->out_row[i] < 0) continue;
        if (first < 0) first = ub->out_row[i];
        lc_rmsnorm(ctx->s.xn + (size_t)n_out * n_embd,
                   ctx->s.x + (size_t)i * n_embd, m->out_norm.data, n_embd,
                   hp->norm_eps);
        n_out++;
    }
    if (n_out == 0) return 0;
    /* Rows of one micro-batch are consecutive in the logits buffer. */
    float *logits = ctx->logits + (size_t)first * hp->n_vocab;
    if (matmul(ctx, logits, &m->output, ctx->s.xn, n_out, err, err_len))
        return -1;
    if (hp->final_logit_softcap > 0.0f)
        for (int r = 0; r < n_out; r++)
            lc_softcap(logits + (size_t)r * hp->n_vocab,
                       hp->final_logit_softcap, hp->n_vocab);
    return 0;
}

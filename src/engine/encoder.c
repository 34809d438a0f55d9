/*
 * The encoder forward pass and sentence embeddings: bert, nomic-bert and
 * gemma-embedding.
 *
 * An encoder sees the whole text at once: every token attends to every
 * other token (non-causal), so the text is evaluated in one pass over all
 * its tokens and nothing is cached between calls. Activations are
 * [n][dim] rows as in the decoder (forward.c); the weight products go
 * through lc_matmul.
 *
 * bert / nomic-bert (post-norm: the LayerNorm comes after each residual add)
 *
 *   x   = LN(tok_embd[t] + token_types[0] (+ position_embd[pos]))
 *   q,k,v = x Wq, x Wk, x Wv (+ bias)   nomic: one fused qkv, RoPE NEOX on q,k
 *   x   = LN(x + (softmax(q k^T / sqrt(hd)) v) Wo (+ bo))    attn_output_norm
 *   x   = LN(x + ffn(x))                                     layer_output_norm
 *         ffn: bert GELU(x Wu + bu) Wd + bd; nomic (silu(x Wg) * x Wu) Wd
 *
 * gemma-embedding (gemma3 blocks, pre-norm, RMSNorm; attention not causal)
 *
 *   x   = tok_embd[t] * sqrt(n_embd)
 *   x  += post_norm(attn(rmsnorm(x)))   QK-norm, RoPE NEOX; local layers see
 *                                       keys with |i - j| <= n_swa / 2
 *   x  += post_norm(GeGLU ffn(rmsnorm(x)))
 *   x   = rmsnorm(x) * output_norm
 *
 * The hidden states x are then pooled (mean, first token "cls", or last
 * token), projected by the optional dense layers (embeddinggemma files
 * converted with sentence-transformers' dense modules) and the vector
 * L2-normalised.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "ops.h"

int lc_model_is_encoder(const lc_model *m) {
    return m && (m->arch == LC_ARCH_BERT || m->arch == LC_ARCH_NOMIC_BERT ||
                 m->arch == LC_ARCH_GEMMA_EMBEDDING);
}

/* Activations of one pass over n tokens, allocated per call: an encoder
 * context evaluates one text at a time and keeps nothing between texts. */
typedef struct enc_pass {
    lc_context *ctx;
    const lc_model *m;
    int n;              /* tokens */
    const int32_t *tok; /* [n] */
    float *x;           /* [n][n_embd] residual stream, then hidden states */
    float *xn;          /* [n][n_embd] normalised input (gemma) */
    float *q;           /* [n][n_head * head_dim] */
    float *k;           /* [n][kv_dim] */
    float *v;           /* [n][kv_dim] */
    float *vt;          /* [kv_dim][n] values transposed (see ops.h) */
    float *att;         /* [n][n_head * head_dim] attention output */
    float *o;           /* [n][n_embd] block output before the residual */
    float *gate;        /* [n][n_ff] activated FFN hidden layer */
    float *up;          /* [n][n_ff] */
    float *rope;        /* [n][n_rot] cos/sin pairs per token */
    float *scores;      /* [n_threads][n] attention scores per thread */
} enc_pass;

static bool is_bert(const lc_model *m) {
    return m->arch == LC_ARCH_BERT || m->arch == LC_ARCH_NOMIC_BERT;
}

static float *alloc_rows(size_t rows, size_t cols) {
    if (rows == 0 || cols == 0 || rows > SIZE_MAX / sizeof(float) / cols)
        return NULL;
    return calloc(rows * cols, sizeof(float));
}

static void pass_free(enc_pass *p) {
    free(p->x);
    free(p->xn);
    free(p->q);
    free(p->k);
    free(p->v);
    free(p->vt);
    free(p->att);
    free(p->o);
    free(p->gate);
    free(p->up);
    free(p->rope);
    free(p->scores);
}

static bool pass_alloc(enc_pass *p) {
    const lc_hparams *hp = &p->m->hp;
    const size_t n = (size_t)p->n;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    p->x = alloc_rows(n, (size_t)hp->n_embd);
    p->xn = alloc_rows(n, (size_t)hp->n_embd);
    p->q = alloc_rows(n, q_dim);
    p->k = alloc_rows(n, kv_dim);
    p->v = alloc_rows(n, kv_dim);
    p->vt = alloc_rows(kv_dim, n);
    p->att = alloc_rows(n, q_dim);
    p->o = alloc_rows(n, (size_t)hp->n_embd);
    p->gate = alloc_rows(n, (size_t)hp->n_ff);
    p->up = alloc_rows(n, (size_t)hp->n_ff);
    p->rope = alloc_rows(n, (size_t)hp->n_rot);
    p->scores = alloc_rows((size_t)p->ctx->n_threads, n);
    return p->x && p->xn && p->q && p->k && p->v && p->vt && p->att && p->o &&
           p->gate && p->up && p->rope && p->scores;
}

/* ----------------------------------------------------------- row ops */

enum row_op {
    ROW_EMBED,     /* x = input embedding of the token */
    ROW_ATTN_NORM, /* xn = rmsnorm(x) * attn_norm (gemma) */
    ROW_QKV_PREP,  /* biases, QK-norm, RoPE; v into vt */
    ROW_ATTN_OUT,  /* x = LN(x + o) (bert) / x += post_norm(o) (gemma) */
    ROW_FFN_NORM,  /* xn = rmsnorm(x) * ffn_norm (gemma) */
    ROW_FFN_ACT,   /* gate = act(gate, up) */
    ROW_FFN_OUT,   /* like ROW_ATTN_OUT, with the FFN's norms */
    ROW_OUT_NORM,  /* x = rmsnorm(x) * output_norm (gemma) */
};

typedef struct row_job {
    enc_pass *p;
    int il;
    enum row_op op;
} row_job;

/* x[i]: token row (gemma: times sqrt(n_embd)), plus for BERT the segment-0
 * type row and the learned position row, then the embedding LayerNorm. */
static void embed_row(enc_pass *p, int i) {
    const lc_model *m = p->m;
    const int n_embd = m->hp.n_embd;
    float *x = p->x + (size_t)i * n_embd; /* [n_embd] */
    const lc_weight *te = &m->tok_embd;
    ggml_get_type_traits(te->type)->to_float(
        (const uint8_t *)te->data +
            (size_t)p->tok[i] * ggml_row_size(te->type, n_embd),
        x, n_embd);
    if (m->hp.embd_scale != 1.0f) lc_vec_scale(x, m->hp.embd_scale, n_embd);
    if (!is_bert(m)) return;
    float *tmp = p->o + (size_t)i * n_embd; /* free until attention */
    if (m->type_embd.data) {
        ggml_get_type_traits(m->type_embd.type)
            ->to_float(m->type_embd.data, tmp, n_embd);
        lc_vec_add(x, tmp, n_embd);
    }
    if (m->pos_embd.data) {
        const lc_weight *pe = &m->pos_embd;
        ggml_get_type_traits(pe->type)->to_float(
            (const uint8_t *)pe->data +
                (size_t)i * ggml_row_size(pe->type, n_embd),
            tmp, n_embd);
        lc_vec_add(x, tmp, n_embd);
    }
    lc_layernorm(x, x, m->tok_norm.data, m->tok_norm_b.data, n_embd,
                 m->hp.norm_eps);
}

/* Token i after the q/k/v matmuls: biases, per-head QK-norm (gemma), RoPE
 * at position i (not for bert, whose positions were added to the input),
 * and its value row into column i of vt.
 * q: [n_head][head_dim]   k, v: [n_head_kv][head_dim] */
static void qkv_prep(enc_pass *p, int il, int i) {
    const lc_hparams *hp = &p->m->hp;
    const lc_layer *L = &p->m->layers[il];
    const int hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    float *q = p->q + (size_t)i * q_dim;
    float *k = p->k + (size_t)i * kv_dim;
    const float *v = p->v + (size_t)i * kv_dim;
    if (L->bq.data) lc_vec_add(q, L->bq.data, q_dim);
    if (L->bk.data) lc_vec_add(k, L->bk.data, kv_dim);
    if (L->q_norm.data)
        for (int h = 0; h < hp->n_head; h++)
            lc_rmsnorm(q + h * hd, q + h * hd, L->q_norm.data, hd,
                       hp->norm_eps);
    if (L->k_norm.data)
        for (int h = 0; h < hp->n_head_kv; h++)
            lc_rmsnorm(k + h * hd, k + h * hd, L->k_norm.data, hd,
                       hp->norm_eps);
    if (hp->rope_type != LC_ROPE_NONE) {
        /* Local (sliding-window) layers of gemma use their own base. */
        const float base = L->swa ? hp->rope_freq_base_swa : hp->rope_freq_base;
        const float scale = L->swa ? 1.0f : hp->rope_freq_scale;
        float *cs = p->rope + (size_t)i * hp->n_rot;
        lc_rope_angles(cs, hp->n_rot, i, base, scale);
        lc_rope(q, hp->n_head, hd, hp->n_rot, cs, hp->rope_type);
        lc_rope(k, hp->n_head_kv, hd, hp->n_rot, cs, hp->rope_type);
    }
    /* The value bias is added on the way into vt, which is all that reads v. */
    for (int d = 0; d < kv_dim; d++)
        p->vt[(size_t)d * p->n + i] =
            v[d] + (L->bv.data ? L->bv.data[d] : 0.0f);
}

/* Residual add and norm after a block whose output is o[i]:
 * bert: x = LN(x + o + bias); gemma: x += rmsnorm(o) * post_norm. */
static void block_out(enc_pass *p, int i, const lc_vec *bias,
                      const lc_vec *norm, const lc_vec *norm_b) {
    const lc_hparams *hp = &p->m->hp;
    const int n_embd = hp->n_embd;
    float *x = p->x + (size_t)i * n_embd; /* [n_embd] */
    float *o = p->o + (size_t)i * n_embd;
    if (is_bert(p->m)) {
        if (bias->data) lc_vec_add(o, bias->data, n_embd);
        lc_vec_add(o, x, n_embd);
        lc_layernorm(x, o, norm->data, norm_b->data, n_embd, hp->norm_eps);
    } else {
        lc_rmsnorm(o, o, norm->data, n_embd, hp->norm_eps);
        lc_vec_add(x, o, n_embd);
    }
}

/* The FFN activation of token i: gate[i] = act(...)  [n_ff]. */
static void ffn_act(enc_pass *p, int il, int i) {
    const lc_layer *L = &p->m->layers[il];
    const int n_ff = p->m->hp.n_ff;
    float *g = p->gate + (size_t)i * n_ff;
    float *u = p->up + (size_t)i * n_ff;
    switch (p->m->arch) {
    case LC_ARCH_BERT:
        /* Sequential FFN: GELU of up (+ bias), through ggml's fp16 table. */
        if (L->ffn_up_b.data) lc_vec_add(u, L->ffn_up_b.data, n_ff);
        lc_gelu_fp16_row(g, u, n_ff);
        break;
    case LC_ARCH_GEMMA_EMBEDDING:
        lc_geglu(g, g, u, n_ff);
        break;
    default:
        lc_swiglu(g, g, u, n_ff);
        break;
    }
}

static void row_task(void *arg, int ith, int nth) {
    const row_job *j = arg;
    enc_pass *p = j->p;
    const lc_model *m = p->m;
    const lc_hparams *hp = &m->hp;
    const lc_layer *L =
        j->op == ROW_EMBED || j->op == ROW_OUT_NORM ? NULL : &m->layers[j->il];
    const int n_embd = hp->n_embd;
    const int i0 = p->n * ith / nth, i1 = p->n * (ith + 1) / nth;
    for (int i = i0; i < i1; i++) {
        float *x = p->x + (size_t)i * n_embd; /* [n_embd] */
        float *xn = p->xn + (size_t)i * n_embd;
        switch (j->op) {
        case ROW_EMBED:
            embed_row(p, i);
            break;
        case ROW_ATTN_NORM:
            lc_rmsnorm(xn, x, L->attn_norm.data, n_embd, hp->norm_eps);
            break;
        case ROW_QKV_PREP:
            qkv_prep(p, j->il, i);
            break;
        case ROW_ATTN_OUT:
            block_out(p, i, &L->bo,
                      is_bert(m) ? &L->attn_out_norm : &L->attn_post_norm,
                      &L->attn_out_norm_b);
            break;
        case ROW_FFN_NORM:
            lc_rmsnorm(xn, x, L->ffn_norm.data, n_embd, hp->norm_eps);
            break;
        case ROW_FFN_ACT:
            ffn_act(p, j->il, i);
            break;
        case ROW_FFN_OUT:
            block_out(p, i, &L->ffn_down_b,
                      is_bert(m) ? &L->layer_out_norm : &L->ffn_post_norm,
                      &L->layer_out_norm_b);
            break;
        case ROW_OUT_NORM:
            lc_rmsnorm(x, x, m->out_norm.data, n_embd, hp->norm_eps);
            break;
        }
    }
}

static void run_rows(enc_pass *p, int il, enum row_op op) {
    row_job j = {p, il, op};
    lc_threadpool_run(p->ctx->tp, row_task, &j);
}

/* ---------------------------------------------------------- attention */

typedef struct attn_job {
    enc_pass *p;
    int il;
} attn_job;

/* Every (head, token) pair, split in equal ranges over the threads. Keys
 * j of token i: all of the text, or for a gemma local layer the symmetric
 * window |i - j| <= n_swa / 2. */
static void attn_task(void *arg, int ith, int nth) {
    const attn_job *j = arg;
    enc_pass *p = j->p;
    const lc_hparams *hp = &p->m->hp;
    const lc_layer *L = &p->m->layers[j->il];
    const int n = p->n, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    const int group = hp->n_head / hp->n_head_kv; /* q heads per kv head */
    const int half = L->swa ? hp->n_swa / 2 : n;
    float *scores = p->scores + (size_t)ith * n; /* [n] */

    const int64_t n_task = (int64_t)hp->n_head * n;
    const int64_t t0 = n_task * ith / nth, t1 = n_task * (ith + 1) / nth;
    for (int64_t t = t0; t < t1; t++) {
        const int h = (int)(t / n), i = (int)(t % n);
        const int g = h / group;
        const int j0 = i - half > 0 ? i - half : 0;
        const int j1 = i + half < n - 1 ? i + half : n - 1;
        lc_attention_head(p->att + (size_t)i * q_dim + (size_t)h * hd,
                          p->q + (size_t)i * q_dim + (size_t)h * hd,
                          p->k + (size_t)g * hd, kv_dim,
                          p->vt + (size_t)g * hd * n, n, hd, j0, j1,
                          hp->attn_scale, scores, p->ctx->dot);
    }
}

/* ------------------------------------------------------------ layers */

static int matmul(enc_pass *p, float *out, const lc_weight *w, const float *x,
                  char *err, size_t err_len) {
    lc_context *ctx = p->ctx;
    if (lc_matmul(ctx->tp, &ctx->mm, out, w->data, w->type, w->n_in, w->n_out,
                  x, p->n) != 0) {
        lc_set_err(err, err_len, "out of memory in a matrix product");
        return -1;
    }
    return 0;
}

static int layer_forward(enc_pass *p, int il, char *err, size_t err_len) {
    const lc_layer *L = &p->m->layers[il];
    /* BERT blocks read the residual stream itself (their norms come after
     * the add); gemma blocks read its RMS-normalised copy. */
    const bool post_norm = is_bert(p->m);
    const float *in = post_norm ? p->x : p->xn; /* [n][n_embd] */

    if (!post_norm) run_rows(p, il, ROW_ATTN_NORM);
    /* q: [n][q_dim], k, v: [n][kv_dim] */
    if (matmul(p, p->q, &L->wq, in, err, err_len) ||
        matmul(p, p->k, &L->wk, in, err, err_len) ||
        matmul(p, p->v, &L->wv, in, err, err_len))
        return -1;
    run_rows(p, il, ROW_QKV_PREP);
    attn_job aj = {p, il};
    lc_threadpool_run(p->ctx->tp, attn_task, &aj); /* att: [n][q_dim] */
    /* o = att Wo: [n][n_embd] */
    if (matmul(p, p->o, &L->wo, p->att, err, err_len)) return -1;
    run_rows(p, il, ROW_ATTN_OUT);

    if (!post_norm) run_rows(p, il, ROW_FFN_NORM);
    /* gate, up: [n][n_ff]; bert has no gate (model.c refuses one) */
    if ((L->ffn_gate.data &&
         matmul(p, p->gate, &L->ffn_gate, in, err, err_len)) ||
        matmul(p, p->up, &L->ffn_up, in, err, err_len))
        return -1;
    run_rows(p, il, ROW_FFN_ACT);
    /* o = gate Wd: [n][n_embd] */
    if (matmul(p, p->o, &L->ffn_down, p->gate, err, err_len)) return -1;
    run_rows(p, il, ROW_FFN_OUT);
    return 0;
}

/* Checks the request, then runs the pass: on success p->x holds the final
 * hidden states [n][n_embd] and the caller frees p with pass_free. */
static int encode(enc_pass *p, lc_context *ctx, const int32_t *tokens, int n,
                  char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    if (err && err_len) err[0] = '\0';
    if (!ctx) {
        lc_set_err(err, err_len, "no context given");
        return -1;
    }
    const lc_model *m = ctx->model;
    if (!lc_model_is_encoder(m)) {
        lc_set_err(err, err_len,
                   "'%s' is a text-generation model: embeddings need an "
                   "embedding model (bert, nomic-bert, gemma-embedding)",
                   m->arch_name);
        return -1;
    }
    if (n <= 0 || !tokens) {
        lc_set_err(err, err_len, "nothing to embed: no tokens");
        return -1;
    }
    /* The whole text is one non-causal pass: it cannot be split. */
    if (n > ctx->n_ctx) {
        lc_set_err(err, err_len,
                   "text of %d tokens is longer than the context (%d tokens)",
                   n, ctx->n_ctx);
        return -1;
    }
    if (m->pos_embd.data && n > m->pos_embd.n_out) {
        lc_set_err(err, err_len,
                   "text of %d tokens is longer than the model's %d positions",
                   n, m->pos_embd.n_out);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            lc_set_err(err, err_len,
                       "token %d: id %d is outside the vocabulary (0..%d)", i,
                       tokens[i], m->hp.n_vocab - 1);
            return -1;
        }
    }
    p->ctx = ctx;
    p->m = m;
    p->n = n;
    p->tok = tokens;
    if (!pass_alloc(p)) {
        pass_free(p);
        lc_set_err(err, err_len, "out of memory for a text of %d tokens", n);
        return -1;
    }
    run_rows(p, 0, ROW_EMBED);
    for (int il = 0; il < m->hp.n_layer; il++) {
        if (layer_forward(p, il, err, err_len)) {
            pass_free(p);
            return -1;
        }
    }
    if (m->out_norm.data) run_rows(p, 0, ROW_OUT_NORM);
    return 0;
}

/* ---------------------------------------------------------- public API */

int lc_embed_tokens(lc_context *ctx, const int32_t *tokens, int n_tokens,
                    float *out, char *err, size_t err_len) {
    if (!out) {
        lc_set_err(err, err_len, "no output buffer given");
        return -1;
    }
    enc_pass p;
    if (encode(&p, ctx, tokens, n_tokens, err, err_len)) return -1;
    memcpy(out, p.x, sizeof(float) * (size_t)n_tokens * p.m->hp.n_embd);
    pass_free(&p);
    return 0;
}

/* out[n_embd] = pooled hidden states h [n][n_embd]: their mean, the first
 * token's (cls) or the last token's. */
static void pool(float *out, const float *h, int n, int n_embd, int pooling) {
    for (int d = 0; d < n_embd; d++) {
        double v;
        if (pooling == 2) {
            v = h[d];
        } else if (pooling == 3) {
            v = h[(size_t)(n - 1) * n_embd + d];
        } else {
            double sum = 0.0;
            for (int i = 0; i < n; i++) sum += h[(size_t)i * n_embd + d];
            v = sum / n;
        }
        out[d] = (float)v;
    }
}

/* v [n_embd] = dense_3 (dense_2 v + b): sentence-transformers' dense
 * modules with the identity activation, applied to the pooled vector. */
static int dense_out(lc_context *ctx, float *v, char *err, size_t err_len) {
    const lc_model *m = ctx->model;
    const lc_weight *w2 = &m->dense_2, *w3 = &m->dense_3;
    float *mid = calloc((size_t)w2->n_out, sizeof(float)); /* [n_dense] */
    int rc = mid ? 0 : -1;
    if (rc == 0)
        rc = lc_matmul(ctx->tp, &ctx->mm, mid, w2->data, w2->type, w2->n_in,
                       w2->n_out, v, 1);
    if (rc == 0 && m->dense_2_b.data)
        lc_vec_add(mid, m->dense_2_b.data, w2->n_out);
    if (rc == 0)
        rc = lc_matmul(ctx->tp, &ctx->mm, v, w3->data, w3->type, w3->n_in,
                       w3->n_out, mid, 1);
    free(mid);
    if (rc != 0)
        lc_set_err(err, err_len, "out of memory in the dense projection");
    return rc;
}

/* v[n] /= |v|, in double so that the unit vector carries no summation
 * error. A zero vector stays zero rather than becoming NaN. */
static void normalize(float *v, int n) {
    double ss = 0.0;
    for (int d = 0; d < n; d++) ss += (double)v[d] * v[d];
    if (ss > 0.0) {
        const double inv = 1.0 / sqrt(ss);
        for (int d = 0; d < n; d++) v[d] = (float)(v[d] * inv);
    }
}

int lc_embed(lc_context *ctx, const int32_t *tokens, int n_tokens, float *out,
             char *err, size_t err_len) {
    if (!out) {
        lc_set_err(err, err_len, "no output buffer given");
        return -1;
    }
    if (ctx && lc_model_is_encoder(ctx->model) && ctx->model->hp.pooling == 0) {
        lc_set_err(err, err_len,
                   "the model's pooling type is 'none': it gives per-token "
                   "states, not one vector per text");
        return -1;
    }
    enc_pass p;
    if (encode(&p, ctx, tokens, n_tokens, err, err_len)) return -1;
    pool(out, p.x, n_tokens, p.m->hp.n_embd, p.m->hp.pooling);
    pass_free(&p);
    if (ctx->model->dense_2.data && dense_out(ctx, out, err, err_len))
        return -1;
    normalize(out, ctx->model->hp.n_embd);
    return 0;
}

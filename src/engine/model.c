/*
 * Model loading: architecture, hyper-parameters and weights from the GGUF
 * metadata, each tensor checked for type and shape so that a hostile file
 * can never make the forward pass read outside the mapping.
 */
#include "error.h"
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

lc_model_params lc_model_default_params(void) {
    lc_model_params p = {.n_threads = 0, .progress = false};
    return p;
}

/* ------------------------------------------------------ architectures */

typedef struct arch_info {
    const char *name;
    enum lc_arch arch;
    bool encoder; /* embedding encoders: evaluated by encoder.c */
} arch_info;

static const arch_info ARCHS[] = {
    {"llama", LC_ARCH_LLAMA, false},
    {"gemma3", LC_ARCH_GEMMA3, false},
    {"qwen2", LC_ARCH_QWEN2, false},
    {"qwen3", LC_ARCH_QWEN3, false},
    {"phi3", LC_ARCH_PHI3, false},
    {"bert", LC_ARCH_BERT, true},
    {"nomic-bert", LC_ARCH_NOMIC_BERT, true},
    {"gemma-embedding", LC_ARCH_GEMMA_EMBEDDING, true},
};

/* ------------------------------------------------------ metadata keys */

/* Keys of the hyper-parameters are prefixed with the architecture name. */
static bool arch_u32(const lc_model *m, const char *key, uint32_t *out) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    return gguf_get_u32(m->gguf, full, out);
}

static bool arch_f32(const lc_model *m, const char *key, float *out) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    return gguf_get_f32(m->gguf, full, out);
}

static bool arch_str(const lc_model *m, const char *key, char *buf,
                     size_t len) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", m->arch_name, key);
    return gguf_get_str(m->gguf, full, buf, len);
}

/* Reads a required positive integer no larger than max. */
static bool need_int(const lc_model *m, const char *key, int max, int *out,
                     char *err, size_t err_len) {
    uint32_t v;
    if (!arch_u32(m, key, &v)) {
        lc_set_err(err, err_len, "missing metadata key '%s.%s'", m->arch_name,
                   key);
        return false;
    }
    if (v == 0 || v > (uint32_t)max) {
        lc_set_err(err, err_len,
                   "metadata '%s.%s' = %u is out of range (1..%d)",
                   m->arch_name, key, v, max);
        return false;
    }
    *out = (int)v;
    return true;
}

/* Reads an optional positive integer (def when absent). */
static bool opt_int(const lc_model *m, const char *key, int def, int max,
                    int *out, char *err, size_t err_len) {
    uint32_t v;
    if (!arch_u32(m, key, &v)) {
        *out = def;
        return true;
    }
    if (v == 0 || v > (uint32_t)max) {
        lc_set_err(err, err_len,
                   "metadata '%s.%s' = %u is out of range (1..%d)",
                   m->arch_name, key, v, max);
        return false;
    }
    *out = (int)v;
    return true;
}

/* Bounds that no real model reaches; they keep every product of two
 * dimensions far below INT32_MAX. */
#define MAX_DIM (1 << 20)
#define MAX_LAYERS 1024
#define MAX_HEADS 4096

/* Encoders see the whole text at once (non-causal attention) and reduce
 * the hidden states to one vector with the pooling the file names. */
static bool load_encoder_hparams(lc_model *m, char *err, size_t err_len) {
    lc_hparams *hp = &m->hp;
    const bool bert = m->arch == LC_ARCH_BERT;
    if (!bert && m->arch != LC_ARCH_NOMIC_BERT &&
        m->arch != LC_ARCH_GEMMA_EMBEDDING)
        return true;
    hp->causal = false;
    /* BERT adds learned position embeddings instead of rotating q/k. */
    if (bert) hp->rope_type = LC_ROPE_NONE;
    /* 0 none, 1 mean, 2 cls, 3 last; absent: mean, as llama.cpp does for
     * these architectures. 4 (rank) belongs to rerankers. */
    uint32_t pool = 1;
    arch_u32(m, "pooling_type", &pool);
    if (pool > 3) {
        lc_set_err(err, err_len,
                   "pooling type %u is not supported (mean, cls and last are)",
                   pool);
        return false;
    }
    hp->pooling = (int)pool;
    return true;
}

static bool load_hparams(lc_model *m, char *err, size_t err_len) {
    lc_hparams *hp = &m->hp;
    uint32_t u;

    if (!arch_u32(m, "context_length", &u) || u == 0) {
        lc_set_err(err, err_len, "missing metadata key '%s.context_length'",
                   m->arch_name);
        return false;
    }
    hp->n_ctx_train = u > (1u << 24) ? (1 << 24) : (int)u;
    if (!need_int(m, "embedding_length", MAX_DIM, &hp->n_embd, err, err_len) ||
        !need_int(m, "block_count", MAX_LAYERS, &hp->n_layer, err, err_len) ||
        !need_int(m, "feed_forward_length", MAX_DIM, &hp->n_ff, err, err_len) ||
        !need_int(m, "attention.head_count", MAX_HEADS, &hp->n_head, err,
                  err_len) ||
        !opt_int(m, "attention.head_count_kv", hp->n_head, MAX_HEADS,
                 &hp->n_head_kv, err, err_len))
        return false;
    if (hp->n_head % hp->n_head_kv != 0) {
        lc_set_err(err, err_len,
                   "attention.head_count %d is not a multiple of "
                   "attention.head_count_kv %d",
                   hp->n_head, hp->n_head_kv);
        return false;
    }
    int head_dim_v;
    if (!opt_int(m, "attention.key_length", hp->n_embd / hp->n_head, MAX_DIM,
                 &hp->head_dim, err, err_len) ||
        !opt_int(m, "attention.value_length", hp->head_dim, MAX_DIM,
                 &head_dim_v, err, err_len))
        return false;
    if (hp->head_dim <= 0 || head_dim_v != hp->head_dim) {
        lc_set_err(err, err_len,
                   "head size %d (key) / %d (value) is not supported",
                   hp->head_dim, head_dim_v);
        return false;
    }
    if ((int64_t)hp->n_head * hp->head_dim > MAX_DIM) {
        lc_set_err(err, err_len, "attention size %d x %d is too large",
                   hp->n_head, hp->head_dim);
        return false;
    }
    if (!opt_int(m, "rope.dimension_count", hp->head_dim, MAX_DIM, &hp->n_rot,
                 err, err_len))
        return false;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0) {
        lc_set_err(err, err_len,
                   "rope.dimension_count %d does not fit head size %d",
                   hp->n_rot, hp->head_dim);
        return false;
    }
    if (m->arch == LC_ARCH_LLAMA && hp->n_rot != hp->head_dim) {
        /* llama.cpp refuses these too: partial rotation is not Llama. */
        lc_set_err(err, err_len,
                   "rope.dimension_count %d differs from head size %d",
                   hp->n_rot, hp->head_dim);
        return false;
    }

    hp->norm_eps = 1e-5f;
    if (!arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->norm_eps) &&
        !arch_f32(m, "attention.layer_norm_epsilon", &hp->norm_eps)) {
        lc_set_err(err, err_len,
                   "missing metadata key '%s.attention.layer_norm_rms_epsilon'",
                   m->arch_name);
        return false;
    }
    if (!(hp->norm_eps >= 0.0f && hp->norm_eps < 1.0f)) {
        lc_set_err(err, err_len, "norm epsilon %g is out of range",
                   (double)hp->norm_eps);
        return false;
    }

    hp->rope_freq_base = 10000.0f;
    arch_f32(m, "rope.freq_base", &hp->rope_freq_base);
    hp->rope_freq_base_swa = 10000.0f;
    arch_f32(m, "rope.freq_base_swa", &hp->rope_freq_base_swa);
    if (!(hp->rope_freq_base > 0.0f) || !(hp->rope_freq_base_swa > 0.0f)) {
        lc_set_err(err, err_len, "rope.freq_base must be positive");
        return false;
    }
    /* Linear position scaling: positions are multiplied by 1/factor. Other
     * scaling types (YaRN, LongRoPE) are not implemented; within the
     * original context length they change little. */
    hp->rope_freq_scale = 1.0f;
    char scaling[32] = "linear";
    arch_str(m, "rope.scaling.type", scaling, sizeof scaling);
    float factor = 0.0f;
    if (!arch_f32(m, "rope.scaling.factor", &factor))
        arch_f32(m, "rope.scale_linear", &factor);
    if (strcmp(scaling, "linear") == 0 && factor > 0.0f && factor < 1e6f)
        hp->rope_freq_scale = 1.0f / factor;

    hp->causal = true;
    hp->embd_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->final_logit_softcap = 0.0f;
    hp->n_swa = 0;
    hp->pooling = 0;
    hp->rope_type = m->arch == LC_ARCH_LLAMA ? LC_ROPE_NORM : LC_ROPE_NEOX;

    if (m->arch == LC_ARCH_GEMMA3 || m->arch == LC_ARCH_GEMMA_EMBEDDING) {
        if (!need_int(m, "attention.sliding_window", 1 << 24, &hp->n_swa, err,
                      err_len))
            return false;
        hp->embd_scale = sqrtf((float)hp->n_embd);
        /* The 27B model (62 layers) scales queries by n_embd / n_head. */
        if (hp->n_layer == 62)
            hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
        arch_f32(m, "final_logit_softcapping", &hp->final_logit_softcap);
        if (!(hp->final_logit_softcap >= 0.0f)) hp->final_logit_softcap = 0;
    }
    /* phi3 files carry attention.sliding_window, but llama.cpp disables SWA
     * for Phi-3 and so do we. */
    return load_encoder_hparams(m, err, err_len);
}

/* Which layers use the sliding window: gemma3 alternates local and global
 * layers with a period (default 6): layer il is local iff il % p < p - 1. */
static void assign_swa_layers(lc_model *m) {
    if (m->hp.n_swa <= 0) return;
    int period = 6;
    int v;
    if (opt_int(m, "attention.sliding_window_pattern", 6, MAX_LAYERS, &v, NULL,
                0))
        period = v;
    for (int il = 0; il < m->hp.n_layer; il++)
        m->layers[il].swa = period > 1 && il % period < period - 1;
}

/* -------------------------------------------------------------- tensors */

static const gguf_tensor *find(const lc_model *m, const char *name) {
    return gguf_find_tensor(m->gguf, name);
}

static bool check_type(const gguf_tensor *t, const char *name, char *err,
                       size_t err_len) {
    const type_traits *tr = ggml_get_type_traits(t->type);
    if (!tr || !tr->to_float) {
        lc_set_err(err, err_len,
                   "tensor '%s' has type %s, which llamachat does not support",
                   name, ggml_type_name(t->type));
        return false;
    }
    return true;
}

static bool check_shape(const gguf_tensor *t, const char *name, int64_t ne0,
                        int64_t ne1, char *err, size_t err_len) {
    const int64_t want[GGUF_MAX_DIMS] = {ne0, ne1, 1, 1};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        if (t->ne[d] != want[d]) {
            lc_set_err(
                err, err_len,
                "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected "
                "[%lld, %lld]",
                name, (long long)t->ne[0], (long long)t->ne[1],
                (long long)t->ne[2], (long long)t->ne[3], (long long)ne0,
                (long long)ne1);
            return false;
        }
    }
    return true;
}

/* A matrix [n_out][n_in]. Absent and optional: w->data stays NULL. */
static bool load_weight(const lc_model *m, const char *name, int n_in,
                        int n_out, bool required, lc_weight *w, char *err,
                        size_t err_len) {
    memset(w, 0, sizeof *w);
    const gguf_tensor *t = find(m, name);
    if (!t) {
        if (required) lc_set_err(err, err_len, "tensor '%s' is missing", name);
        return !required;
    }
    if (!check_type(t, name, err, err_len)) return false;
    const type_traits *tr = ggml_get_type_traits(t->type);
    if (!tr->vec_dot || n_in % tr->blck_size != 0) {
        lc_set_err(err, err_len,
                   "tensor '%s' has type %s, which llamachat does not support "
                   "for this shape",
                   name, ggml_type_name(t->type));
        return false;
    }
    if (!check_shape(t, name, n_in, n_out, err, err_len)) return false;
    if (t->size < (uint64_t)ggml_row_size(t->type, n_in) * (uint64_t)n_out) {
        lc_set_err(err, err_len, "tensor '%s' is truncated", name);
        return false;
    }
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    return true;
}

/* A float vector [n]: norms and biases are F32 in every GGUF writer. */
static bool load_vec(const lc_model *m, const char *name, int n, bool required,
                     lc_vec *v, char *err, size_t err_len) {
    memset(v, 0, sizeof *v);
    const gguf_tensor *t = find(m, name);
    if (!t) {
        if (required) lc_set_err(err, err_len, "tensor '%s' is missing", name);
        return !required;
    }
    if (!check_type(t, name, err, err_len)) return false;
    if (t->type != GGML_TYPE_F32) {
        lc_set_err(err, err_len, "tensor '%s' has type %s, expected F32", name,
                   ggml_type_name(t->type));
        return false;
    }
    if (!check_shape(t, name, n, 1, err, err_len)) return false;
    if (t->size < (uint64_t)n * sizeof(float) ||
        ((uintptr_t)t->data % sizeof(float)) != 0) {
        lc_set_err(err, err_len, "tensor '%s' is truncated or misaligned",
                   name);
        return false;
    }
    v->data = t->data;
    v->n = n;
    return true;
}

/* Rows [row0, row0 + n_out) of a fused matrix, as a matrix of its own. */
static lc_weight weight_rows(const lc_weight *fused, int row0, int n_out) {
    lc_weight w = *fused;
    w.data = (const uint8_t *)fused->data +
             (size_t)row0 * ggml_row_size(fused->type, fused->n_in);
    w.n_out = n_out;
    return w;
}

/* Layer il's attention projections and their optional biases: separate
 * q/k/v, or one fused matrix (phi3, bert/nomic-bert's attn_qkv) split into
 * row ranges.
 *   wq: [q_dim][n_embd]  wk, wv: [kv_dim][n_embd]  bq: [q_dim]  bk, bv:
 * [kv_dim] */
static bool load_attn_qkv(lc_model *m, int il, int n_embd, int q_dim,
                          int kv_dim, lc_layer *L, char *err, size_t err_len) {
    char name[96];
#define N(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    if (find(m, N("attn_q.weight")) || !find(m, N("attn_qkv.weight")))
        return load_weight(m, N("attn_q.weight"), n_embd, q_dim, true, &L->wq,
                           err, err_len) &&
               load_weight(m, N("attn_k.weight"), n_embd, kv_dim, true, &L->wk,
                           err, err_len) &&
               load_weight(m, N("attn_v.weight"), n_embd, kv_dim, true, &L->wv,
                           err, err_len) &&
               load_vec(m, N("attn_q.bias"), q_dim, false, &L->bq, err,
                        err_len) &&
               load_vec(m, N("attn_k.bias"), kv_dim, false, &L->bk, err,
                        err_len) &&
               load_vec(m, N("attn_v.bias"), kv_dim, false, &L->bv, err,
                        err_len);
    lc_weight qkv;
    if (!load_weight(m, N("attn_qkv.weight"), n_embd, q_dim + 2 * kv_dim, true,
                     &qkv, err, err_len))
        return false;
    L->wq = weight_rows(&qkv, 0, q_dim);
    L->wk = weight_rows(&qkv, q_dim, kv_dim);
    L->wv = weight_rows(&qkv, q_dim + kv_dim, kv_dim);
    lc_vec b;
    if (!load_vec(m, N("attn_qkv.bias"), q_dim + 2 * kv_dim, false, &b, err,
                  err_len))
        return false;
    if (b.data) {
        L->bq = (lc_vec){b.data, q_dim};
        L->bk = (lc_vec){b.data + q_dim, kv_dim};
        L->bv = (lc_vec){b.data + q_dim + kv_dim, kv_dim};
    }
    return true;
#undef N
}

static bool load_layer(lc_model *m, int il, char *err, size_t err_len) {
    const lc_hparams *hp = &m->hp;
    lc_layer *L = &m->layers[il];
    const int n_embd = hp->n_embd;
    const int q_dim = hp->n_head * hp->head_dim;
    const int kv_dim = hp->n_head_kv * hp->head_dim;
    const bool gemma =
        m->arch == LC_ARCH_GEMMA3 || m->arch == LC_ARCH_GEMMA_EMBEDDING;
    const bool qk_norm = gemma || m->arch == LC_ARCH_QWEN3;
    char name[96];

#define N(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    if (!load_vec(m, N("attn_norm.weight"), n_embd, true, &L->attn_norm, err,
                  err_len))
        return false;

    if (!load_attn_qkv(m, il, n_embd, q_dim, kv_dim, L, err, err_len))
        return false;
    if (!load_weight(m, N("attn_output.weight"), q_dim, n_embd, true, &L->wo,
                     err, err_len) ||
        !load_vec(m, N("attn_output.bias"), n_embd, false, &L->bo, err,
                  err_len))
        return false;
    if (!load_vec(m, N("attn_q_norm.weight"), hp->head_dim, qk_norm, &L->q_norm,
                  err, err_len) ||
        !load_vec(m, N("attn_k_norm.weight"), hp->head_dim, qk_norm, &L->k_norm,
                  err, err_len))
        return false;
    if (!load_vec(m, N("post_attention_norm.weight"), n_embd, gemma,
                  &L->attn_post_norm, err, err_len) ||
        !load_vec(m, N("ffn_norm.weight"), n_embd, true, &L->ffn_norm, err,
                  err_len) ||
        !load_vec(m, N("post_ffw_norm.weight"), n_embd, gemma,
                  &L->ffn_post_norm, err, err_len))
        return false;

    /* Separate gate/up, or phi3's fused up = [gate rows; up rows]. */
    if (find(m, N("ffn_gate.weight"))) {
        if (!load_weight(m, N("ffn_gate.weight"), n_embd, hp->n_ff, true,
                         &L->ffn_gate, err, err_len) ||
            !load_weight(m, N("ffn_up.weight"), n_embd, hp->n_ff, true,
                         &L->ffn_up, err, err_len))
            return false;
    } else {
        lc_weight up2;
        if (!load_weight(m, N("ffn_up.weight"), n_embd, 2 * hp->n_ff, true,
                         &up2, err, err_len))
            return false;
        L->ffn_gate = weight_rows(&up2, 0, hp->n_ff);
        L->ffn_up = weight_rows(&up2, hp->n_ff, hp->n_ff);
    }
    if (!load_weight(m, N("ffn_down.weight"), hp->n_ff, n_embd, true,
                     &L->ffn_down, err, err_len))
        return false;
#undef N
    return true;
}

/* One BERT-family layer (post-norm): attention with biases (bert) or a
 * fused qkv without (nomic-bert), a LayerNorm after each residual add, and
 * a GELU (bert) or SwiGLU (nomic-bert) FFN. */
static bool load_bert_layer(lc_model *m, int il, char *err, size_t err_len) {
    const lc_hparams *hp = &m->hp;
    lc_layer *L = &m->layers[il];
    const int n_embd = hp->n_embd, n_ff = hp->n_ff;
    const int q_dim = hp->n_head * hp->head_dim;
    const int kv_dim = hp->n_head_kv * hp->head_dim;
    const bool nomic = m->arch == LC_ARCH_NOMIC_BERT;
    char name[96];

#define N(suffix) (snprintf(name, sizeof name, "blk.%d.%s", il, suffix), name)
    if (!load_attn_qkv(m, il, n_embd, q_dim, kv_dim, L, err, err_len))
        return false;
    /* BERT's FFN is sequential (GELU of up); a gated one is another
     * architecture (jina-bert) whose result would silently differ. */
    if (!nomic && find(m, N("ffn_gate.weight"))) {
        lc_set_err(err, err_len,
                   "tensor '%s': a gated FFN is not part of the 'bert' "
                   "architecture",
                   name);
        return false;
    }
    if (!load_weight(m, N("attn_output.weight"), q_dim, n_embd, true, &L->wo,
                     err, err_len) ||
        !load_vec(m, N("attn_output.bias"), n_embd, false, &L->bo, err,
                  err_len) ||
        !load_vec(m, N("attn_output_norm.weight"), n_embd, true,
                  &L->attn_out_norm, err, err_len) ||
        !load_vec(m, N("attn_output_norm.bias"), n_embd, false,
                  &L->attn_out_norm_b, err, err_len) ||
        !load_weight(m, N("ffn_gate.weight"), n_embd, n_ff, nomic, &L->ffn_gate,
                     err, err_len) ||
        !load_weight(m, N("ffn_up.weight"), n_embd, n_ff, true, &L->ffn_up, err,
                     err_len) ||
        !load_vec(m, N("ffn_up.bias"), n_ff, false, &L->ffn_up_b, err,
                  err_len) ||
        !load_weight(m, N("ffn_down.weight"), n_ff, n_embd, true, &L->ffn_down,
                     err, err_len) ||
        !load_vec(m, N("ffn_down.bias"), n_embd, false, &L->ffn_down_b, err,
                  err_len) ||
        !load_vec(m, N("layer_output_norm.weight"), n_embd, true,
                  &L->layer_out_norm, err, err_len) ||
        !load_vec(m, N("layer_output_norm.bias"), n_embd, false,
                  &L->layer_out_norm_b, err, err_len))
        return false;
#undef N
    return true;
}

/* A matrix whose row count comes from the file (token types, positions). */
static bool load_rows(const lc_model *m, const char *name, int n_in,
                      bool required, lc_weight *w, char *err, size_t err_len) {
    const gguf_tensor *t = find(m, name);
    int64_t rows = t ? t->ne[1] : 0;
    if (t && (rows <= 0 || rows > (1 << 24))) {
        lc_set_err(err, err_len, "tensor '%s' has %lld rows", name,
                   (long long)rows);
        return false;
    }
    return load_weight(m, name, n_in, (int)rows, required, w, err, err_len);
}

/* bert and nomic-bert: token (+ type, + position) embeddings followed by a
 * LayerNorm, post-norm layers, no final norm and no LM head. */
static bool load_bert_tensors(lc_model *m, char *err, size_t err_len) {
    lc_hparams *hp = &m->hp;
    const bool bert = m->arch == LC_ARCH_BERT;
    /* Only row 0 of token_types is ever used: every token of a single text
     * has segment type 0. */
    if (!load_rows(m, "token_types.weight", hp->n_embd, false, &m->type_embd,
                   err, err_len) ||
        !load_rows(m, "position_embd.weight", hp->n_embd, bert, &m->pos_embd,
                   err, err_len) ||
        !load_vec(m, "token_embd_norm.weight", hp->n_embd, true, &m->tok_norm,
                  err, err_len) ||
        !load_vec(m, "token_embd_norm.bias", hp->n_embd, false, &m->tok_norm_b,
                  err, err_len))
        return false;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        lc_set_err(err, err_len, "out of memory");
        return false;
    }
    for (int il = 0; il < hp->n_layer; il++)
        if (!load_bert_layer(m, il, err, err_len)) return false;
    return true;
}

/* The optional dense projections after pooling: both or neither. */
static bool load_dense(lc_model *m, char *err, size_t err_len) {
    const int n_embd = m->hp.n_embd;
    if (!load_rows(m, "dense_2.weight", n_embd, false, &m->dense_2, err,
                   err_len))
        return false;
    const int n_dense = m->dense_2.data ? m->dense_2.n_out : 0;
    if (!m->dense_2.data) {
        if (find(m, "dense_3.weight")) {
            lc_set_err(err, err_len,
                       "tensor 'dense_3.weight' is present without "
                       "'dense_2.weight'");
            return false;
        }
        return true;
    }
    return load_vec(m, "dense_2.bias", n_dense, false, &m->dense_2_b, err,
                    err_len) &&
           load_weight(m, "dense_3.weight", n_dense, n_embd, true, &m->dense_3,
                       err, err_len);
}

static bool load_tensors(lc_model *m, char *err, size_t err_len) {
    lc_hparams *hp = &m->hp;
    const gguf_tensor *te = find(m, "token_embd.weight");
    if (!te) {
        lc_set_err(err, err_len, "tensor 'token_embd.weight' is missing");
        return false;
    }
    if (te->ne[1] <= 0 || te->ne[1] > (1 << 24)) {
        lc_set_err(err, err_len, "tensor 'token_embd.weight' has %lld rows",
                   (long long)te->ne[1]);
        return false;
    }
    hp->n_vocab = (int)te->ne[1];
    if (m->arch == LC_ARCH_BERT || m->arch == LC_ARCH_NOMIC_BERT)
        return load_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab,
                           true, &m->tok_embd, err, err_len) &&
               load_bert_tensors(m, err, err_len) &&
               load_dense(m, err, err_len);
    if (m->arch == LC_ARCH_GEMMA_EMBEDDING && !load_dense(m, err, err_len))
        return false;
    if (!load_weight(m, "token_embd.weight", hp->n_embd, hp->n_vocab, true,
                     &m->tok_embd, err, err_len) ||
        !load_vec(m, "output_norm.weight", hp->n_embd, true, &m->out_norm, err,
                  err_len) ||
        !load_weight(m, "output.weight", hp->n_embd, hp->n_vocab, false,
                     &m->output, err, err_len))
        return false;
    if (!m->output.data) m->output = m->tok_embd; /* tied LM head */

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        lc_set_err(err, err_len, "out of memory");
        return false;
    }
    for (int il = 0; il < hp->n_layer; il++)
        if (!load_layer(m, il, err, err_len)) return false;
    assign_swa_layers(m);
    return true;
}

/* ---------------------------------------------------------- model info */

static const char *ftype_from_file_type(uint32_t ft) {
    /* llama_ftype values of general.file_type. */
    switch (ft) {
    case 0:
        return "F32";
    case 1:
        return "F16";
    case 2:
        return "Q4_0";
    case 3:
        return "Q4_1";
    case 7:
        return "Q8_0";
    case 8:
        return "Q5_0";
    case 9:
        return "Q5_1";
    case 10:
        return "Q2_K";
    case 11:
        return "Q3_K_S";
    case 12:
        return "Q3_K_M";
    case 13:
        return "Q3_K_L";
    case 14:
        return "Q4_K_S";
    case 15:
        return "Q4_K_M";
    case 16:
        return "Q5_K_S";
    case 17:
        return "Q5_K_M";
    case 18:
        return "Q6_K";
    case 21:
        return "Q2_K_S";
    case 32:
        return "BF16";
    default:
        return NULL;
    }
}

static void count_weights(lc_model *m) {
    /* Elements and bytes of every tensor, and the most common type among
     * the matrices (fallback name when general.file_type is absent). */
    uint64_t per_type[GGML_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const gguf_tensor *t = &m->gguf->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)t->ne[d];
        m->n_params += n;
        m->weight_bytes += t->size;
        if (t->n_dims >= 2 && (int)t->type < GGML_TYPE_COUNT)
            per_type[t->type] += n;
    }
    uint32_t ft;
    const char *name = NULL;
    if (gguf_get_u32(m->gguf, "general.file_type", &ft))
        name = ftype_from_file_type(ft);
    if (!name) {
        int best = 0;
        for (int t = 1; t < GGML_TYPE_COUNT; t++)
            if (per_type[t] > per_type[best]) best = t;
        name = ggml_type_name((enum ggml_type)best);
    }
    snprintf(m->ftype_name, sizeof m->ftype_name, "%s", name);
}

/* Reads every page of the tensor data once, in file order: the weights are
 * then in the page cache, and the bar tells the user how far that got. */
static void touch_pages(const lc_model *m) {
    const gguf_file *f = m->gguf;
    const uint64_t start = f->data_offset, end = f->map_size;
    const uint64_t page = 4096;
    const bool tty = isatty(STDERR_FILENO);
    volatile uint8_t sink = 0;
    int shown = -1;
    for (uint64_t off = start; off < end; off += page) {
        sink ^= f->map[off];
        int pct =
            end > start ? (int)((off - start) * 100 / (end - start)) : 100;
        if (tty && pct != shown) {
            shown = pct;
            char bar[21];
            for (int i = 0; i < 20; i++) bar[i] = i < pct / 5 ? '#' : ' ';
            bar[20] = '\0';
            fprintf(stderr, "\rloading model [%s] %3d%%", bar, pct);
        }
    }
    (void)sink;
    if (tty)
        fprintf(stderr, "\rloading model [####################] 100%%\n");
    else
        fprintf(stderr, "loading model: %llu MiB read\n",
                (unsigned long long)((end - start) >> 20));
}

/* ------------------------------------------------------------- loading */

lc_model *lc_model_load(const char *path, const lc_model_params *params,
                        char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!path) {
        lc_set_err(err, err_len, "no model path given");
        return NULL;
    }
    lc_model *m = calloc(1, sizeof *m);
    if (!m) {
        lc_set_err(err, err_len, "out of memory");
        return NULL;
    }
    m->params = params ? *params : lc_model_default_params();
    m->gguf = gguf_open(path, err, err_len);
    if (!m->gguf) goto fail;

    char arch[64];
    if (!gguf_get_str(m->gguf, "general.architecture", arch, sizeof arch)) {
        lc_set_err(err, err_len, "missing metadata key 'general.architecture'");
        goto fail;
    }
    const arch_info *ai = NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(ARCHS[i].name, arch) == 0) ai = &ARCHS[i];
    if (!ai) {
        lc_set_err(err, err_len, "unknown architecture '%s'", arch);
        goto fail;
    }
    m->arch = ai->arch;
    snprintf(m->arch_name, sizeof m->arch_name, "%s", ai->name);
    if (!gguf_get_str(m->gguf, "general.name", m->name, sizeof m->name))
        m->name[0] = '\0';

    if (!load_hparams(m, err, err_len) || !load_tensors(m, err, err_len))
        goto fail;

    m->vocab = lc_vocab_load(m->gguf, err, err_len);
    if (!m->vocab) goto fail;
    if (lc_vocab_n_tokens(m->vocab) != m->hp.n_vocab) {
        lc_set_err(err, err_len,
                   "the vocabulary has %d tokens but token_embd.weight has %d "
                   "rows",
                   lc_vocab_n_tokens(m->vocab), m->hp.n_vocab);
        goto fail;
    }

    const gguf_kv *tmpl = gguf_find_kv(m->gguf, "tokenizer.chat_template");
    if (tmpl && tmpl->type == GGUF_STRING) {
        m->chat_template = malloc(tmpl->v.str.len + 1);
        if (!m->chat_template) {
            lc_set_err(err, err_len, "out of memory");
            goto fail;
        }
        memcpy(m->chat_template, tmpl->v.str.ptr, tmpl->v.str.len);
        m->chat_template[tmpl->v.str.len] = '\0';
    }
    count_weights(m);
    if (m->params.progress) touch_pages(m);
    return m;

fail:
    lc_model_free(m);
    return NULL;
}

void lc_model_free(lc_model *m) {
    if (!m) return;
    if (m->vocab) lc_vocab_free(m->vocab);
    if (m->gguf) gguf_close(m->gguf);
    free(m->layers);
    free(m->chat_template);
    free(m);
}

const char *lc_model_arch(const lc_model *m) {
    return m ? m->arch_name : "";
}
const char *lc_model_name(const lc_model *m) {
    return m ? m->name : "";
}
int lc_model_n_vocab(const lc_model *m) {
    return m ? m->hp.n_vocab : 0;
}
int lc_model_n_embd(const lc_model *m) {
    return m ? m->hp.n_embd : 0;
}
int lc_model_n_ctx_train(const lc_model *m) {
    return m ? m->hp.n_ctx_train : 0;
}
uint64_t lc_model_size_bytes(const lc_model *m) {
    return m ? m->weight_bytes : 0;
}
uint64_t lc_model_n_params(const lc_model *m) {
    return m ? m->n_params : 0;
}
const char *lc_model_ftype_name(const lc_model *m) {
    return m ? m->ftype_name : "";
}

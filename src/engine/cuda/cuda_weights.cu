/*
 * Weight upload: the tensors of layers [0, n_layers), the token embeddings
 * (eval always embeds on the device) and, when every layer is here, the
 * output norm and LM head, copied in their stored types.
 *
 * An lc_weight may be a row range of a fused tensor (phi3's attn_qkv and
 * ffn_up): its data pointer already points at its first row, so copying
 * n_out rows of it uploads exactly that range.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

size_t lcg_weight_bytes(const lc_weight *w) {
    if (!w->data) return 0;
    const lcg_type_info t = lcg_type(w->type);
    if (t.blck == 0) return 0;
    return (size_t)w->n_out * ((size_t)w->n_in / t.blck) * (size_t)t.bytes;
}

#define MODEL_ALLOC(ptr_, size_)                                               \
    lcg_alloc(&gm->allocs, &gm->n_allocs, &gm->cap_allocs, &gm->bytes,         \
              (void **)&(ptr_), (size_), err, err_len)

/* Uploads w into *dw; an absent weight stays absent unless required. */
static int upload_weight(lc_gpu_model *gm, dev_weight *dw, const lc_weight *w,
                         const char *name, bool required, char *err,
                         size_t err_len) {
    memset(dw, 0, sizeof *dw);
    if (!w->data) {
        if (required)
            return lcg_fail(err, err_len, "GPU: weight %s is missing", name);
        return 0;
    }
    const lcg_type_info t = lcg_type(w->type);
    if (t.blck == 0)
        return lcg_fail(err, err_len,
                        "GPU: weight %s has type %d, which the CUDA backend "
                        "does not support",
                        name, (int)w->type);
    if (w->n_in <= 0 || w->n_out <= 0 || w->n_in % t.blck != 0)
        return lcg_fail(err, err_len, "GPU: weight %s has a bad shape [%d][%d]",
                        name, w->n_out, w->n_in);
    /* The quantized kernels work on chunks of 8 elements. */
    if (t.blck > 1 && w->n_in % 8 != 0)
        return lcg_fail(err, err_len, "GPU: weight %s: n_in %d", name, w->n_in);
    dw->type = w->type;
    dw->n_in = w->n_in;
    dw->n_out = w->n_out;
    dw->row_bytes = ((size_t)w->n_in / t.blck) * (size_t)t.bytes;
    const size_t bytes = dw->row_bytes * (size_t)w->n_out;
    void *p = NULL;
    if (MODEL_ALLOC(p, bytes)) return -1;
    LCG_CUDA(cudaMemcpy(p, w->data, bytes, cudaMemcpyHostToDevice),
             "upload a weight");
    dw->data = p;
    if ((size_t)w->n_in > gm->max_in) gm->max_in = (size_t)w->n_in;
    if (t.blck > 1) {
        const size_t elems = (size_t)w->n_in * (size_t)w->n_out;
        if (elems > gm->max_quant_elems) gm->max_quant_elems = elems;
    }
    return 0;
}

/* Uploads an F32 vector of the expected length; NULL stays NULL. */
static int upload_vec(lc_gpu_model *gm, const float **out, const lc_vec *v,
                      int n_expected, const char *name, char *err,
                      size_t err_len) {
    *out = NULL;
    if (!v->data) return 0;
    if (v->n != n_expected)
        return lcg_fail(err, err_len, "GPU: %s has %d elements, expected %d",
                        name, v->n, n_expected);
    void *p = NULL;
    if (MODEL_ALLOC(p, sizeof(float) * (size_t)v->n)) return -1;
    LCG_CUDA(cudaMemcpy(p, v->data, sizeof(float) * (size_t)v->n,
                        cudaMemcpyHostToDevice),
             "upload a vector");
    *out = (const float *)p;
    return 0;
}

/* The architectures whose forward pass eval mirrors (forward.c). */
static bool arch_supported(enum lc_arch a) {
    return a == LC_ARCH_LLAMA || a == LC_ARCH_GEMMA3 || a == LC_ARCH_QWEN2 ||
           a == LC_ARCH_QWEN3 || a == LC_ARCH_PHI3;
}

static int check_shapes(const lc_model *m, int n_layers, char *err,
                        size_t err_len) {
    const lc_hparams *hp = &m->hp;
    if (!arch_supported(m->arch) || !hp->causal)
        return lcg_fail(err, err_len,
                        "GPU: architecture %s is not supported by the CUDA "
                        "backend (decoders only)",
                        m->arch_name);
    if (n_layers < 0 || n_layers > hp->n_layer)
        return lcg_fail(err, err_len, "GPU: %d layers asked, the model has %d",
                        n_layers, hp->n_layer);
    if (hp->head_dim <= 0 || hp->head_dim > LCG_HEAD_DIM_MAX)
        return lcg_fail(err, err_len, "GPU: head_dim %d (at most %d)",
                        hp->head_dim, LCG_HEAD_DIM_MAX);
    if (hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_head % hp->n_head_kv != 0)
        return lcg_fail(err, err_len, "GPU: %d heads over %d KV heads",
                        hp->n_head, hp->n_head_kv);
    if (hp->n_rot < 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return lcg_fail(err, err_len, "GPU: n_rot %d", hp->n_rot);
    return 0;
}

static int upload_layer(lc_gpu_model *gm, dev_layer *D, const lc_layer *L,
                        char *err, size_t err_len) {
    const lc_hparams *hp = &gm->hp;
    const int e = hp->n_embd, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    D->swa = L->swa;
    if (upload_weight(gm, &D->wq, &L->wq, "attn_q", true, err, err_len) ||
        upload_weight(gm, &D->wk, &L->wk, "attn_k", true, err, err_len) ||
        upload_weight(gm, &D->wv, &L->wv, "attn_v", true, err, err_len) ||
        upload_weight(gm, &D->wo, &L->wo, "attn_output", true, err, err_len) ||
        upload_weight(gm, &D->ffn_gate, &L->ffn_gate, "ffn_gate", true, err,
                      err_len) ||
        upload_weight(gm, &D->ffn_up, &L->ffn_up, "ffn_up", true, err,
                      err_len) ||
        upload_weight(gm, &D->ffn_down, &L->ffn_down, "ffn_down", true, err,
                      err_len))
        return -1;
    /* The products below chain these shapes; a file that disagrees would
     * make the kernels read out of bounds. */
    if (D->wq.n_in != e || D->wq.n_out != q_dim || D->wk.n_in != e ||
        D->wk.n_out != kv_dim || D->wv.n_in != e || D->wv.n_out != kv_dim ||
        D->wo.n_in != q_dim || D->wo.n_out != e || D->ffn_gate.n_in != e ||
        D->ffn_gate.n_out != hp->n_ff || D->ffn_up.n_in != e ||
        D->ffn_up.n_out != hp->n_ff || D->ffn_down.n_in != hp->n_ff ||
        D->ffn_down.n_out != e)
        return lcg_fail(err, err_len,
                        "GPU: layer weights disagree with the "
                        "model's hyper-parameters");
    if (!L->attn_norm.data || !L->ffn_norm.data)
        return lcg_fail(err, err_len, "GPU: a layer norm is missing");
    return upload_vec(gm, &D->attn_norm, &L->attn_norm, e, "attn_norm", err,
                      err_len) ||
                   upload_vec(gm, &D->bq, &L->bq, q_dim, "attn_q.bias", err,
                              err_len) ||
                   upload_vec(gm, &D->bk, &L->bk, kv_dim, "attn_k.bias", err,
                              err_len) ||
                   upload_vec(gm, &D->bv, &L->bv, kv_dim, "attn_v.bias", err,
                              err_len) ||
                   upload_vec(gm, &D->bo, &L->bo, e, "attn_output.bias", err,
                              err_len) ||
                   upload_vec(gm, &D->q_norm, &L->q_norm, hd, "attn_q_norm",
                              err, err_len) ||
                   upload_vec(gm, &D->k_norm, &L->k_norm, hd, "attn_k_norm",
                              err, err_len) ||
                   upload_vec(gm, &D->attn_post_norm, &L->attn_post_norm, e,
                              "post_attention_norm", err, err_len) ||
                   upload_vec(gm, &D->ffn_norm, &L->ffn_norm, e, "ffn_norm",
                              err, err_len) ||
                   upload_vec(gm, &D->ffn_post_norm, &L->ffn_post_norm, e,
                              "post_ffw_norm", err, err_len)
               ? -1
               : 0;
}

static int upload_all(lc_gpu_model *gm, char *err, size_t err_len) {
    const lc_model *m = gm->m;
    const lc_hparams *hp = &gm->hp;
    LCG_CUDA(cudaSetDevice(gm->device), "select device");
    if (upload_weight(gm, &gm->tok_embd, &m->tok_embd, "token_embd", true, err,
                      err_len))
        return -1;
    if (gm->tok_embd.n_in != hp->n_embd || gm->tok_embd.n_out != hp->n_vocab)
        return lcg_fail(err, err_len, "GPU: token_embd has a bad shape");
    for (int il = 0; il < gm->n_layers; il++)
        if (upload_layer(gm, &gm->layers[il], &m->layers[il], err, err_len))
            return -1;
    if (!gm->full) return 0;
    if (m->output.data == m->tok_embd.data) {
        gm->output = gm->tok_embd; /* tied: same device memory */
    } else if (upload_weight(gm, &gm->output, &m->output, "output", true, err,
                             err_len)) {
        return -1;
    }
    if (gm->output.n_in != hp->n_embd || gm->output.n_out != hp->n_vocab)
        return lcg_fail(err, err_len, "GPU: output has a bad shape");
    if (!m->out_norm.data)
        return lcg_fail(err, err_len, "GPU: output_norm is missing");
    return upload_vec(gm, &gm->out_norm, &m->out_norm, hp->n_embd,
                      "output_norm", err, err_len);
}

lc_gpu_model *lcg_model_upload(const lc_model *m, int n_layers, char *err,
                               size_t err_len) {
    if (!m) {
        lcg_fail(err, err_len, "GPU: no model");
        return NULL;
    }
    if (check_shapes(m, n_layers, err, err_len)) return NULL;
    lc_gpu_model *gm = (lc_gpu_model *)calloc(1, sizeof *gm);
    if (!gm) {
        lcg_fail(err, err_len, "out of host memory");
        return NULL;
    }
    gm->m = m;
    gm->hp = m->hp;
    gm->geglu = m->arch == LC_ARCH_GEMMA3;
    gm->n_layers = n_layers;
    gm->full = n_layers == m->hp.n_layer;
    gm->device = 0;
    gm->layers = (dev_layer *)calloc(n_layers > 0 ? (size_t)n_layers : 1,
                                     sizeof(dev_layer));
    if (!gm->layers) {
        free(gm);
        lcg_fail(err, err_len, "out of host memory");
        return NULL;
    }
    if (upload_all(gm, err, err_len) != 0) {
        lcg_free_all(&gm->allocs, &gm->n_allocs, &gm->cap_allocs);
        free(gm->layers);
        free(gm);
        return NULL;
    }
    return gm;
}

/*
 * The library's one exported symbol, lc_gpu_get_api, and the table behind
 * it (gpu.h): device discovery, memory estimates, model and context
 * lifetimes, memory accounting.
 *
 * Memory accounting: every device allocation goes through lcg_alloc, which
 * records it in the model's or the context's list; memory_used reports the
 * sum of both lists (weights + KV cache + scratch + the cuBLAS workspace,
 * which we allocate ourselves). What the CUDA runtime and cuBLAS keep for
 * their own context is not included: no API reports it per process short
 * of NVML, which we do not link.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

/* ------------------------------------------------------------- helpers */

int lcg_fail(char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

lcg_type_info lcg_type(int type) {
    switch (type) {
    case GGML_TYPE_F32:
        return {1, 4};
    case GGML_TYPE_F16:
        return {1, 2};
    case GGML_TYPE_BF16:
        return {1, 2};
    case GGML_TYPE_Q4_0:
        return {QK4_0, (int)sizeof(block_q4_0)};
    case GGML_TYPE_Q4_1:
        return {QK4_1, (int)sizeof(block_q4_1)};
    case GGML_TYPE_Q5_0:
        return {QK5_0, (int)sizeof(block_q5_0)};
    case GGML_TYPE_Q5_1:
        return {QK5_1, (int)sizeof(block_q5_1)};
    case GGML_TYPE_Q8_0:
        return {QK8_0, (int)sizeof(block_q8_0)};
    case GGML_TYPE_Q2_K:
        return {QK_K, (int)sizeof(block_q2_K)};
    case GGML_TYPE_Q3_K:
        return {QK_K, (int)sizeof(block_q3_K)};
    case GGML_TYPE_Q4_K:
        return {QK_K, (int)sizeof(block_q4_K)};
    case GGML_TYPE_Q5_K:
        return {QK_K, (int)sizeof(block_q5_K)};
    case GGML_TYPE_Q6_K:
        return {QK_K, (int)sizeof(block_q6_K)};
    default:
        return {0, 0};
    }
}

const char *lcg_type_name(int type) {
    switch (type) {
    case GGML_TYPE_F32:
        return "F32";
    case GGML_TYPE_F16:
        return "F16";
    case GGML_TYPE_BF16:
        return "BF16";
    case GGML_TYPE_Q4_0:
        return "Q4_0";
    case GGML_TYPE_Q4_1:
        return "Q4_1";
    case GGML_TYPE_Q5_0:
        return "Q5_0";
    case GGML_TYPE_Q5_1:
        return "Q5_1";
    case GGML_TYPE_Q8_0:
        return "Q8_0";
    case GGML_TYPE_Q2_K:
        return "Q2_K";
    case GGML_TYPE_Q3_K:
        return "Q3_K";
    case GGML_TYPE_Q4_K:
        return "Q4_K";
    case GGML_TYPE_Q5_K:
        return "Q5_K";
    case GGML_TYPE_Q6_K:
        return "Q6_K";
    default:
        return "unsupported";
    }
}

int lcg_alloc(void ***list, int *n, int *cap, size_t *total, void **out,
              size_t bytes, char *err, size_t err_len) {
    *out = NULL;
    if (bytes == 0) bytes = 16; /* a valid pointer even for empty tensors */
    if (*n == *cap) {
        const int nc = *cap ? 2 * *cap : 64;
        void **nl = (void **)realloc(*list, sizeof(void *) * (size_t)nc);
        if (!nl) return lcg_fail(err, err_len, "out of host memory");
        *list = nl;
        *cap = nc;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky-free error state */
        return lcg_fail(err, err_len,
                        "cannot allocate %.1f MiB of GPU memory: %s",
                        (double)bytes / (1 << 20), cudaGetErrorString(e));
    }
    e = cudaMemset(p, 0, bytes);
    if (e != cudaSuccess) {
        cudaFree(p);
        return lcg_fail(err, err_len, "CUDA memset: %s", cudaGetErrorString(e));
    }
    (*list)[(*n)++] = p;
    *total += bytes;
    *out = p;
    return 0;
}

void lcg_free_all(void ***list, int *n, int *cap) {
    for (int i = 0; i < *n; i++) cudaFree((*list)[i]);
    free(*list);
    *list = NULL;
    *n = *cap = 0;
}

/* ---------------------------------------------------------- the table */

static int api_device_info(lc_gpu_device_info *info, char *err,
                           size_t err_len) {
    memset(info, 0, sizeof *info);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return lcg_fail(err, err_len, "no usable CUDA driver or device: %s",
                        cudaGetErrorString(e));
    if (count < 1) return lcg_fail(err, err_len, "no CUDA device");
    LCG_CUDA(cudaSetDevice(0), "select device 0");
    cudaDeviceProp prop;
    LCG_CUDA(cudaGetDeviceProperties(&prop, 0), "device properties");
    /* prop.name may be longer than ours: cut it */
    memcpy(info->name, prop.name, sizeof info->name - 1);
    info->name[sizeof info->name - 1] = '\0';
    info->compute_major = prop.major;
    info->compute_minor = prop.minor;
    /* Kernels exist only for the architectures this library was compiled
     * for: ask the runtime rather than guessing from the version. */
    if (lcg_probe_kernels(err, err_len) != 0) return -1;
    size_t free_b = 0, total_b = 0;
    LCG_CUDA(cudaMemGetInfo(&free_b, &total_b), "memory info");
    info->free_bytes = free_b;
    info->total_bytes = total_b;
    return 0;
}

/* Bytes of the F32 vector v, 0 when absent. */
static size_t vec_bytes(const lc_vec *v) {
    return v->data ? sizeof(float) * (size_t)v->n : 0;
}

static size_t layer_bytes(const lc_layer *L) {
    const lc_weight *w[] = {&L->wq,       &L->wk,     &L->wv,      &L->wo,
                            &L->ffn_gate, &L->ffn_up, &L->ffn_down};
    const lc_vec *v[] = {
        &L->attn_norm, &L->bq,           &L->bk,     &L->bv,
        &L->bo,        &L->q_norm,       &L->k_norm, &L->attn_post_norm,
        &L->ffn_norm,  &L->ffn_post_norm};
    size_t b = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        b += lcg_weight_bytes(w[i]);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) b += vec_bytes(v[i]);
    return b;
}

static size_t api_estimate_bytes(const lc_model *m, int n_layers, int n_ctx,
                                 int n_seq, int n_ubatch) {
    const lc_hparams *hp = &m->hp;
    if (n_layers < 0) n_layers = 0;
    if (n_layers > hp->n_layer) n_layers = hp->n_layer;
    size_t b = lcg_weight_bytes(&m->tok_embd); /* eval embeds on the GPU */
    for (int il = 0; il < n_layers; il++) b += layer_bytes(&m->layers[il]);
    const bool full = n_layers == hp->n_layer;
    if (full) {
        if (m->output.data != m->tok_embd.data)
            b += lcg_weight_bytes(&m->output);
        b += vec_bytes(&m->out_norm);
    }
    const size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim;
    b += 2 * sizeof(float) * (size_t)n_layers * (size_t)n_seq * (size_t)n_ctx *
         kv_dim;
    const size_t u = (size_t)(n_ubatch > 0 ? n_ubatch : 1);
    size_t max_in = (size_t)hp->n_embd;
    if ((size_t)hp->n_ff > max_in) max_in = (size_t)hp->n_ff;
    if (q_dim > max_in) max_in = q_dim;
    b += sizeof(float) * u *
         (5 * (size_t)hp->n_embd + 2 * q_dim + 2 * kv_dim +
          2 * (size_t)hp->n_ff);
    b += 2 * u * max_in;    /* half activations */
    b += 2 * LCG_WTILE_MAX; /* half weight tile */
    if (full) b += sizeof(float) * LCG_LOGIT_ROWS * (size_t)hp->n_vocab;
    b += sizeof(float) * LCG_MMV_MAX * (size_t)hp->n_head * LCG_ATTN_MAX_SPLIT *
         ((size_t)hp->head_dim + 2);
    b += LCG_BLAS_WS + LCG_RUNTIME_RESERVE;
    return b;
}

static void api_model_free(lc_gpu_model *gm) {
    if (!gm) return;
    cudaSetDevice(gm->device);
    lcg_free_all(&gm->allocs, &gm->n_allocs, &gm->cap_allocs);
    free(gm->layers);
    free(gm);
}

static lc_gpu_model *api_model_new(const lc_model *m, int n_layers, char *err,
                                   size_t err_len) {
    if (err && err_len) err[0] = '\0';
    return lcg_model_upload(m, n_layers, err, err_len);
}

static void api_ctx_free(lc_gpu_ctx *gc) {
    if (!gc) return;
    cudaSetDevice(gc->gm->device);
    if (gc->stream) cudaStreamSynchronize(gc->stream);
    if (gc->graph) cudaGraphExecDestroy(gc->graph);
    if (gc->blas) cublasDestroy(gc->blas);
    if (gc->stream) cudaStreamDestroy(gc->stream);
    if (gc->h_batch) cudaFreeHost(gc->h_batch);
    lcg_free_all(&gc->allocs, &gc->n_allocs, &gc->cap_allocs);
    free(gc);
}

/* Allocates *p with the context's list; returns -1 on failure. */
#define CTX_ALLOC(ptr_, size_)                                                 \
    lcg_alloc(&gc->allocs, &gc->n_allocs, &gc->cap_allocs, &gc->bytes,         \
              (void **)&(ptr_), (size_), err, err_len)

static int ctx_init(lc_gpu_ctx *gc, char *err, size_t err_len) {
    const lc_gpu_model *gm = gc->gm;
    const lc_hparams *hp = &gm->hp;
    const size_t u = (size_t)gc->n_ubatch, f = sizeof(float);
    const size_t kv = (size_t)gm->n_layers * (size_t)gc->n_seq *
                      (size_t)gc->n_ctx * (size_t)gc->kv_dim;

    LCG_CUDA(cudaSetDevice(gm->device), "select device");
    LCG_CUDA(cudaStreamCreateWithFlags(&gc->stream, cudaStreamNonBlocking),
             "create stream");
    LCG_BLAS(cublasCreate(&gc->blas), "create handle");
    LCG_BLAS(cublasSetStream(gc->blas, gc->stream), "set stream");
    /* Plain FP32 arithmetic for F32 weights: TF32 would lose the F32
     * models' reference tolerance. */
    LCG_BLAS(cublasSetMathMode(gc->blas, CUBLAS_DEFAULT_MATH), "math mode");
    if (CTX_ALLOC(gc->blas_ws, LCG_BLAS_WS)) return -1;
    LCG_BLAS(cublasSetWorkspace(gc->blas, gc->blas_ws, LCG_BLAS_WS),
             "set workspace");

    if (CTX_ALLOC(gc->k_cache, f * (kv ? kv : 1)) ||
        CTX_ALLOC(gc->v_cache, f * (kv ? kv : 1)) ||
        CTX_ALLOC(gc->x, f * u * hp->n_embd) ||
        CTX_ALLOC(gc->xn, f * u * hp->n_embd) ||
        CTX_ALLOC(gc->o, f * u * hp->n_embd) ||
        CTX_ALLOC(gc->x_alt, f * u * hp->n_embd) ||
        CTX_ALLOC(gc->xn_alt, f * u * hp->n_embd) ||
        CTX_ALLOC(gc->q, f * u * gc->q_dim) ||
        CTX_ALLOC(gc->att, f * u * gc->q_dim) ||
        CTX_ALLOC(gc->k, f * u * gc->kv_dim) ||
        CTX_ALLOC(gc->v, f * u * gc->kv_dim) ||
        CTX_ALLOC(gc->gate, f * u * hp->n_ff) ||
        CTX_ALLOC(gc->up, f * u * hp->n_ff) ||
        CTX_ALLOC(gc->att_part, f * LCG_MMV_MAX * hp->n_head *
                                    LCG_ATTN_MAX_SPLIT * (hp->head_dim + 2)) ||
        CTX_ALLOC(gc->xh, 2 * u * gm->max_in) ||
        CTX_ALLOC(gc->d_batch, sizeof(int32_t) * 6 * u))
        return -1;
    if (gm->full &&
        CTX_ALLOC(gc->logits, f * LCG_LOGIT_ROWS * (size_t)hp->n_vocab))
        return -1;
    /* The half tile holds a whole quantized matrix when it is small, else
     * row ranges of it (at least one row). */
    size_t wt = gm->max_quant_elems < LCG_WTILE_MAX ? gm->max_quant_elems
                                                    : LCG_WTILE_MAX;
    if (wt < gm->max_in) wt = gm->max_in;
    gc->wtile_elems = wt;
    if (CTX_ALLOC(gc->wtile, 2 * wt)) return -1;
    LCG_CUDA(cudaMallocHost((void **)&gc->h_batch, sizeof(int32_t) * 6 * u),
             "pinned host buffer");
    return 0;
}

static lc_gpu_ctx *api_ctx_new(lc_gpu_model *gm, int n_ctx, int n_seq,
                               int n_ubatch, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!gm || n_ctx <= 0 || n_seq <= 0 || n_ubatch <= 0) {
        lcg_fail(err, err_len,
                 "bad GPU context sizes (n_ctx %d, n_seq %d, "
                 "n_ubatch %d)",
                 n_ctx, n_seq, n_ubatch);
        return NULL;
    }
    lc_gpu_ctx *gc = (lc_gpu_ctx *)calloc(1, sizeof *gc);
    if (!gc) {
        lcg_fail(err, err_len, "out of host memory");
        return NULL;
    }
    gc->gm = gm;
    gc->n_ctx = n_ctx;
    gc->n_seq = n_seq;
    gc->n_ubatch = n_ubatch;
    gc->kv_dim = gm->hp.n_head_kv * gm->hp.head_dim;
    gc->q_dim = gm->hp.n_head * gm->hp.head_dim;
    /* LLAMACHAT_CUDA_GRAPHS=0 launches every kernel of a decoding step
     * one by one instead of replaying the captured graph. */
    const char *g = getenv("LLAMACHAT_CUDA_GRAPHS");
    gc->graphs = !(g && strcmp(g, "0") == 0);
    if (ctx_init(gc, err, err_len) != 0) {
        api_ctx_free(gc);
        return NULL;
    }
    return gc;
}

static int api_eval(lc_gpu_ctx *gc, const lc_ubatch *ub, float *x,
                    float *logits, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    return lcg_eval(gc, ub, x, logits, err, err_len);
}

/* Nothing to do on the device: the engine validates that each batch
 * continues its sequences contiguously, so every cache position that
 * attention reads ([0, pos]) was written by this batch or an earlier one
 * after the removal; stale rows beyond are never read. */
static void api_kv_seq_rm(lc_gpu_ctx *gc, int seq, int p0) {
    (void)gc;
    (void)seq;
    (void)p0;
}

static size_t api_memory_used(const lc_gpu_ctx *gc) {
    if (!gc) return 0;
    return gc->bytes + gc->gm->bytes;
}

static const lc_gpu_api api = {
    LC_GPU_ABI_VERSION, api_device_info, api_estimate_bytes, api_model_new,
    api_model_free,     api_ctx_new,     api_ctx_free,       api_eval,
    api_kv_seq_rm,      api_memory_used,
};

extern "C" __attribute__((visibility("default"))) const lc_gpu_api *
lc_gpu_get_api(void) {
    return &api;
}

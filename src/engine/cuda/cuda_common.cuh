/*
 * Shared declarations of the CUDA library (libllamachat-cuda.so): the
 * device-side model and context, error helpers, and the host launchers that
 * each .cu file provides to the others.
 *
 * The library is loaded with dlopen() by an engine that it must not call
 * back into (the engine's symbols are not exported to it), so everything it
 * needs about tensor types is defined here again from the public block
 * layouts in quant.h.
 *
 * Layouts on the device (all row-major, fp32 unless said otherwise):
 *   activations   [n_ubatch][dim]                    one row per token
 *   K cache       [n_layers][n_seq][n_ctx][kv_dim]   one key row per position
 *   V cache       [n_layers][n_seq][n_ctx][kv_dim]   one value row per position
 *   weights       [n_out][row_bytes]                 in their stored type
 */
#ifndef LC_CUDA_COMMON_CUH
#define LC_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern "C" {
#include "engine/gpu.h"
}

/* Matrix products with at most this many tokens use the matrix-vector
 * kernels (weights read once, dequantized in registers); larger ones go
 * through cuBLAS on half-precision copies of the weights. */
#define LCG_MMV_MAX 8

/* The attention kernels keep a head in two values per thread of a
 * 128-thread block. */
#define LCG_ATTN_THREADS 128
#define LCG_HEAD_DIM_MAX 256

/* Split-K decoding attention: at most this many key ranges per (token,
 * head), each of at least LCG_ATTN_SPLIT_KEYS keys. */
#define LCG_ATTN_MAX_SPLIT 32
#define LCG_ATTN_SPLIT_KEYS 128

/* Rows of logits computed per LM-head product (bounds the logits buffer). */
#define LCG_LOGIT_ROWS 128

/* Largest half-precision weight tile of the prompt path, in elements. */
#define LCG_WTILE_MAX ((size_t)32 << 20)

/* cuBLAS workspace we allocate ourselves, so that it is counted. */
#define LCG_BLAS_WS ((size_t)32 << 20)

/* Device memory the CUDA runtime and cuBLAS take for themselves (context,
 * module images, handles), which cudaMalloc totals do not show; only used
 * by estimate_bytes. */
#define LCG_RUNTIME_RESERVE ((size_t)400 << 20)

/* ---------------------------------------------------------------- types */

/* Elements per block and bytes per block of a weight type; {0, 0} when the
 * GPU backend does not compute with it. */
typedef struct lcg_type_info {
    int blck;
    int bytes;
} lcg_type_info;

lcg_type_info lcg_type(int type);
const char *lcg_type_name(int type);

/* ------------------------------------------------------------ the model */

/* A weight matrix on the device: [n_out][row_bytes] in its stored type. */
typedef struct dev_weight {
    const void *data; /* NULL when absent */
    int type;
    int n_in, n_out;
    size_t row_bytes;
} dev_weight;

/* One layer's weights on the device; vectors are F32, NULL when absent. */
typedef struct dev_layer {
    const float *attn_norm;                /* [n_embd] */
    dev_weight wq, wk, wv, wo;             /* wq: [n_head*head_dim][n_embd] */
    const float *bq, *bk, *bv, *bo;        /* biases (qwen2) */
    const float *q_norm, *k_norm;          /* [head_dim] (qwen3, gemma3) */
    const float *attn_post_norm;           /* [n_embd] (gemma3) */
    const float *ffn_norm;                 /* [n_embd] */
    dev_weight ffn_gate, ffn_up, ffn_down; /* up: [n_ff][n_embd] */
    const float *ffn_post_norm;            /* [n_embd] (gemma3) */
    bool swa;
} dev_layer;

struct lc_gpu_model {
    const lc_model *m;
    lc_hparams hp;
    bool geglu;   /* gemma3: GELU gate, else SiLU */
    int n_layers; /* layers [0, n_layers) live here */
    bool full;    /* n_layers == hp.n_layer: norm and LM head here too */
    int device;
    dev_layer *layers;   /* [n_layers] (host array of device pointers) */
    dev_weight tok_embd; /* always on the device: eval embeds there */
    dev_weight output;   /* full only; shares tok_embd's memory when tied */
    const float *out_norm;
    size_t max_in;          /* widest n_in of any weight product */
    size_t max_quant_elems; /* largest quantized matrix, in elements */
    void **allocs;          /* every cudaMalloc, for model_free */
    int n_allocs, cap_allocs;
    size_t bytes; /* sum of those allocations */
};

/* ---------------------------------------------------------- the context */

struct lc_gpu_ctx {
    lc_gpu_model *gm;
    int n_ctx, n_seq, n_ubatch;
    int kv_dim, q_dim;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;         /* [LCG_BLAS_WS] bytes */
    float *k_cache;        /* [n_layers][n_seq][n_ctx][kv_dim] */
    float *v_cache;        /* [n_layers][n_seq][n_ctx][kv_dim] */
    float *x, *xn, *o;     /* [n_ubatch][n_embd] */
    float *x_alt, *xn_alt; /* [n_ubatch][n_embd] output-row gather */
    float *q, *att;        /* [n_ubatch][q_dim] */
    float *k, *v;          /* [n_ubatch][kv_dim] */
    float *gate, *up;      /* [n_ubatch][n_ff] */
    float *logits;         /* [LCG_LOGIT_ROWS][n_vocab] (full only) */
    float *att_part; /* split-K partials [LCG_MMV_MAX][n_head][split][hd+2] */
    void *xh;        /* [n_ubatch][max_in] half/bf16 activations */
    void *wtile;     /* [wtile_elems] half weight tile */
    size_t wtile_elems;
    int32_t *d_batch; /* [6][n_ubatch] token, pos, seq, gather idx/pos/seq */
    int32_t *h_batch; /* pinned host copy of d_batch */
    bool graphs;      /* replay single-token steps from a CUDA graph */
    cudaGraphExec_t graph; /* the captured single-token step, or NULL */
    void **allocs;
    int n_allocs, cap_allocs;
    size_t bytes;
};

/* ------------------------------------------------------------- errors */

/* err = formatted message; returns -1 so that callers can `return`. */
int lcg_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks a CUDA runtime result: on failure writes "what: reason" and
 * returns -1 from the calling function. */
#define LCG_CUDA(call, what)                                                   \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess)                                                 \
            return lcg_fail(err, err_len, "CUDA %s: %s", (what),               \
                            cudaGetErrorString(e_));                           \
    } while (0)

#define LCG_BLAS(call, what)                                                   \
    do {                                                                       \
        cublasStatus_t s_ = (call);                                            \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                       \
            return lcg_fail(err, err_len, "cuBLAS %s: %s", (what),             \
                            cublasGetStatusString(s_));                        \
    } while (0)

/* After a kernel launch: a bad launch configuration shows up here. */
#define LCG_LAUNCHED(what) LCG_CUDA(cudaGetLastError(), what)

/* Device allocation recorded in an alloc list (model or context), zeroed. */
int lcg_alloc(void ***list, int *n, int *cap, size_t *total, void **out,
              size_t bytes, char *err, size_t err_len);
void lcg_free_all(void ***list, int *n, int *cap);

/* --------------------------------------------------- launchers (host) */

/* cuda_matmul.cu: out[n][w->n_out] = x[n][w->n_in] · w^T, choosing the
 * matrix-vector kernels (n <= LCG_MMV_MAX) or cuBLAS. */
int lcg_matmul(lc_gpu_ctx *gc, float *out, const dev_weight *w, const float *x,
               int n, char *err, size_t err_len);

/* cuda_matvec.cu: the same product for n <= LCG_MMV_MAX. */
int lcg_matvec(cudaStream_t st, float *out, const dev_weight *w, const float *x,
               int n, char *err, size_t err_len);
/* true when the matvec kernels exist for this device (probe). */
int lcg_probe_kernels(char *err, size_t err_len);

/* cuda_ops.cu */
int lcg_embed(cudaStream_t st, float *x, const dev_weight *te,
              const int32_t *tokens, int n, float scale, char *err,
              size_t err_len);
/* out[rows][cols] = x / rms(x) * w; out may alias x. */
int lcg_rmsnorm(cudaStream_t st, float *out, const float *x, const float *w,
                int rows, int cols, float eps, char *err, size_t err_len);
/* out = (x - mean) / sqrt(var + eps) * w + b (w, b may be NULL). */
int lcg_layernorm(cudaStream_t st, float *out, const float *x, const float *w,
                  const float *b, int rows, int cols, float eps, char *err,
                  size_t err_len);
/* x[rows][cols] += b[cols] */
int lcg_add_bias(cudaStream_t st, float *x, const float *b, int rows, int cols,
                 char *err, size_t err_len);
/* RoPE of x[n][n_head][head_dim] at the positions pos[n]. */
int lcg_rope(cudaStream_t st, float *x, const int32_t *pos, int n, int n_head,
             int head_dim, int n_rot, float theta_scale, float freq_scale,
             enum lc_rope_type type, char *err, size_t err_len);
/* Writes k, v [n][kv_dim] into the caches of one layer at (seq, pos). */
int lcg_kv_store(cudaStream_t st, float *k_cache, float *v_cache,
                 const float *k, const float *v, const int32_t *seq,
                 const int32_t *pos, int n, int kv_dim, int n_ctx, char *err,
                 size_t err_len);
/* x[rows][cols] += post_norm(o + bias); o is overwritten. */
int lcg_residual(cudaStream_t st, float *x, float *o, const float *bias,
                 const float *post_norm, int rows, int cols, float eps,
                 char *err, size_t err_len);
/* gate[n] = act(gate) * up; GELU (fp16 table semantics) or SiLU. */
int lcg_glu(cudaStream_t st, float *gate, const float *up, size_t n, bool geglu,
            char *err, size_t err_len);
int lcg_softcap(cudaStream_t st, float *x, size_t n, float cap, char *err,
                size_t err_len);
/* dst[r] = src[idx[r]] for rows r < n_rows of cols floats. */
int lcg_gather_rows(cudaStream_t st, float *dst, const float *src,
                    const int32_t *idx, int n_rows, int cols, char *err,
                    size_t err_len);

/* cuda_attention.cu: att[n][n_head*hd] for the queries q[n][n_head*hd]
 * over one layer's caches. max_keys: the largest pos + 1 in the batch. */
int lcg_attention(lc_gpu_ctx *gc, int il, float *att, const float *q,
                  const int32_t *seq, const int32_t *pos, int n, int max_keys,
                  char *err, size_t err_len);

/* cuda_weights.cu */
lc_gpu_model *lcg_model_upload(const lc_model *m, int n_layers, char *err,
                               size_t err_len);
size_t lcg_weight_bytes(const lc_weight *w);

/* cuda_forward.cu */
int lcg_eval(lc_gpu_ctx *gc, const lc_ubatch *ub, float *x, float *logits,
             char *err, size_t err_len);

#endif

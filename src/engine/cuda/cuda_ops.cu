/*
 * The element and row ops of the forward pass on the device, one kernel
 * each, with the semantics of ops.c:
 *
 *   embedding lookup   x[i] = dequant(tok_embd[token[i]]) * scale
 *   rmsnorm            out = x / sqrt(mean(x^2) + eps) * w   (sum in double)
 *   layernorm          out = (x - mean) / sqrt(var + eps) * w + b
 *   add_bias           x[r] += b
 *   rope               NORM (adjacent pairs) or NEOX (halves), angles
 *                      pos * freq_scale * theta_scale^i built by repeated
 *                      float multiplication as the CPU does
 *   kv_store           K/V rows into the cache at (seq, pos)
 *   residual           x += post_norm(o + bias)
 *   glu                gate = act(gate) * up, GELU with the CPU's fp16
 *                      rounding (gemma) or SiLU
 *   softcap            x = cap * tanh(x / cap)
 *   gather_rows        dst[r] = src[idx[r]]
 *
 * Row kernels: one block of 256 threads per row, threads striding over
 * the columns (coalesced), block-wide sums through shared memory.
 * Element kernels: grid-stride loops of 256-thread blocks.
 */
#include <cuda_fp16.h>
#include <math.h>

#include "cuda_common.cuh"
#include "cuda_quant.cuh"

#define ROW_THREADS 256

static unsigned grid_for(size_t n) {
    size_t b = (n + 255) / 256;
    if (b > 65535) b = 65535;
    return (unsigned)(b ? b : 1);
}

/* Sum of v over the block (ROW_THREADS threads); every thread gets it. */
static __device__ double block_sum(double v) {
    __shared__ double part[ROW_THREADS / 32];
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); /* part[] may still be read by an earlier call */
    if (lane == 0) part[warp] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < ROW_THREADS / 32; w++) s += part[w];
    return s;
}

/* ------------------------------------------------------------ embedding */

/* x: [n][n_embd]; the table is [n_vocab][row_bytes] of type T. */
template <int T>
__global__ void k_embed(float *__restrict__ x, const uint8_t *__restrict__ E,
                        size_t row_bytes, int n_embd,
                        const int32_t *__restrict__ tokens, float scale) {
    const int i = blockIdx.x;
    const uint8_t *row = E + (size_t)tokens[i] * row_bytes;
    float *xi = x + (size_t)i * n_embd;
    if (T == GGML_TYPE_F32 || T == GGML_TYPE_F16 || T == GGML_TYPE_BF16) {
        for (int e = threadIdx.x; e < n_embd; e += blockDim.x)
            xi[e] = lcg_float_elem(T, row, e) * scale;
    } else {
        for (int c = threadIdx.x; c < n_embd / 8; c += blockDim.x) {
            float w[8];
            DQ8<T>::run(row, c, w);
            for (int k = 0; k < 8; k++) xi[8 * c + k] = w[k] * scale;
        }
    }
}

int lcg_embed(cudaStream_t st, float *x, const dev_weight *te,
              const int32_t *tokens, int n, float scale, char *err,
              size_t err_len) {
    if (n <= 0) return 0;
    const uint8_t *E = (const uint8_t *)te->data;
    switch (te->type) {
#define EMB_CASE(T)                                                            \
    case T:                                                                    \
        k_embed<T><<<n, ROW_THREADS, 0, st>>>(x, E, te->row_bytes, te->n_in,   \
                                              tokens, scale);                  \
        break;
        EMB_CASE(GGML_TYPE_F32)
        EMB_CASE(GGML_TYPE_F16)
        EMB_CASE(GGML_TYPE_BF16)
        LCG_QUANT_TYPES(EMB_CASE)
#undef EMB_CASE
    default:
        return lcg_fail(err, err_len, "embedding: type %s",
                        lcg_type_name(te->type));
    }
    LCG_LAUNCHED("embedding lookup");
    return 0;
}

/* -------------------------------------------------------------- norms */

/* out, x: [rows][cols]; w: [cols] or NULL. out may alias x. */
__global__ void k_rmsnorm(float *out, const float *x,
                          const float *__restrict__ w, int cols, float eps) {
    const float *xr = x + (size_t)blockIdx.x * cols;
    float *orow = out + (size_t)blockIdx.x * cols;
    double ss = 0.0;
    for (int e = threadIdx.x; e < cols; e += blockDim.x)
        ss += (double)(xr[e] * xr[e]);
    ss = block_sum(ss);
    const float mean = (float)(ss / cols);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int e = threadIdx.x; e < cols; e += blockDim.x)
        orow[e] = w ? xr[e] * scale * w[e] : xr[e] * scale;
}

int lcg_rmsnorm(cudaStream_t st, float *out, const float *x, const float *w,
                int rows, int cols, float eps, char *err, size_t err_len) {
    if (rows <= 0) return 0;
    k_rmsnorm<<<rows, ROW_THREADS, 0, st>>>(out, x, w, cols, eps);
    LCG_LAUNCHED("rmsnorm");
    return 0;
}

__global__ void k_layernorm(float *out, const float *x,
                            const float *__restrict__ w,
                            const float *__restrict__ b, int cols, float eps) {
    const float *xr = x + (size_t)blockIdx.x * cols;
    float *orow = out + (size_t)blockIdx.x * cols;
    double s = 0.0;
    for (int e = threadIdx.x; e < cols; e += blockDim.x) s += xr[e];
    const float mean = (float)(block_sum(s) / cols);
    double var = 0.0;
    for (int e = threadIdx.x; e < cols; e += blockDim.x) {
        const float d = xr[e] - mean;
        var += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(block_sum(var) / cols) + eps);
    for (int e = threadIdx.x; e < cols; e += blockDim.x) {
        float y = (xr[e] - mean) * scale;
        if (w) y *= w[e];
        if (b) y += b[e];
        orow[e] = y;
    }
}

int lcg_layernorm(cudaStream_t st, float *out, const float *x, const float *w,
                  const float *b, int rows, int cols, float eps, char *err,
                  size_t err_len) {
    if (rows <= 0) return 0;
    k_layernorm<<<rows, ROW_THREADS, 0, st>>>(out, x, w, b, cols, eps);
    LCG_LAUNCHED("layernorm");
    return 0;
}

/* ---------------------------------------------------------- bias, rope */

__global__ void k_add_bias(float *x, const float *__restrict__ b, size_t total,
                           int cols) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] += b[i % cols];
}

int lcg_add_bias(cudaStream_t st, float *x, const float *b, int rows, int cols,
                 char *err, size_t err_len) {
    const size_t total = (size_t)rows * cols;
    if (total == 0) return 0;
    k_add_bias<<<grid_for(total), 256, 0, st>>>(x, b, total, cols);
    LCG_LAUNCHED("bias");
    return 0;
}

/* x: [n][n_head][head_dim], one block per token; thread pairs (h, i) with
 * i < n_rot / 2. */
__global__ void k_rope(float *x, const int32_t *__restrict__ pos, int n_head,
                       int head_dim, int n_rot, float theta_scale,
                       float freq_scale, int neox) {
    const int tok = blockIdx.x, half = n_rot / 2;
    float *xt = x + (size_t)tok * n_head * head_dim;
    for (int p = threadIdx.x; p < n_head * half; p += blockDim.x) {
        const int h = p / half, i = p % half;
        /* theta_i = pos * theta_scale^i, by repeated multiplication as
         * lc_rope_angles does: the same float roundings, the same angle */
        float theta = (float)pos[tok];
        for (int k = 0; k < i; k++) theta *= theta_scale;
        const float t = freq_scale * theta;
        const float c = cosf(t), s = sinf(t);
        float *v = xt + (size_t)h * head_dim;
        const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = v[a], x1 = v[b];
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
    }
}

int lcg_rope(cudaStream_t st, float *x, const int32_t *pos, int n, int n_head,
             int head_dim, int n_rot, float theta_scale, float freq_scale,
             enum lc_rope_type type, char *err, size_t err_len) {
    if (type == LC_ROPE_NONE || n_rot < 2 || n <= 0) return 0;
    k_rope<<<n, 128, 0, st>>>(x, pos, n_head, head_dim, n_rot, theta_scale,
                              freq_scale, type == LC_ROPE_NEOX);
    LCG_LAUNCHED("rope");
    return 0;
}

/* ------------------------------------------------------------ KV cache */

/* caches of one layer: [n_seq][n_ctx][kv_dim]; k, v: [n][kv_dim]. */
__global__ void k_kv_store(float *kc, float *vc, const float *__restrict__ k,
                           const float *__restrict__ v,
                           const int32_t *__restrict__ seq,
                           const int32_t *__restrict__ pos, int kv_dim,
                           int n_ctx) {
    const int i = blockIdx.x;
    const size_t dst = ((size_t)seq[i] * n_ctx + (size_t)pos[i]) * kv_dim;
    for (int d = threadIdx.x; d < kv_dim; d += blockDim.x) {
        kc[dst + d] = k[(size_t)i * kv_dim + d];
        vc[dst + d] = v[(size_t)i * kv_dim + d];
    }
}

int lcg_kv_store(cudaStream_t st, float *k_cache, float *v_cache,
                 const float *k, const float *v, const int32_t *seq,
                 const int32_t *pos, int n, int kv_dim, int n_ctx, char *err,
                 size_t err_len) {
    if (n <= 0) return 0;
    k_kv_store<<<n, ROW_THREADS, 0, st>>>(k_cache, v_cache, k, v, seq, pos,
                                          kv_dim, n_ctx);
    LCG_LAUNCHED("KV store");
    return 0;
}

/* ------------------------------------------------- residual, activations */

/* x, o: [rows][cols]; bias, post: [cols] or NULL. */
__global__ void k_residual(float *__restrict__ x, float *__restrict__ o,
                           const float *__restrict__ bias,
                           const float *__restrict__ post, int cols,
                           float eps) {
    float *xr = x + (size_t)blockIdx.x * cols;
    float *orow = o + (size_t)blockIdx.x * cols;
    if (bias)
        for (int e = threadIdx.x; e < cols; e += blockDim.x) orow[e] += bias[e];
    float scale = 1.0f;
    if (post) { /* uniform branch: every thread of the block takes it */
        double ss = 0.0;
        for (int e = threadIdx.x; e < cols; e += blockDim.x)
            ss += (double)(orow[e] * orow[e]);
        ss = block_sum(ss);
        scale = 1.0f / sqrtf((float)(ss / cols) + eps);
    }
    for (int e = threadIdx.x; e < cols; e += blockDim.x)
        xr[e] += post ? orow[e] * scale * post[e] : orow[e];
}

int lcg_residual(cudaStream_t st, float *x, float *o, const float *bias,
                 const float *post_norm, int rows, int cols, float eps,
                 char *err, size_t err_len) {
    if (rows <= 0) return 0;
    k_residual<<<rows, ROW_THREADS, 0, st>>>(x, o, bias, post_norm, cols, eps);
    LCG_LAUNCHED("residual");
    return 0;
}

/* GELU (tanh form) through fp16 input and output, as lc_gelu_fp16. */
static __device__ float gelu_fp16(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    const float xr = __half2float(__float2half_rn(x));
    const float g = 0.5f * xr *
                    (1.0f + tanhf(0.79788456080286535587989211986876f * xr *
                                  (1.0f + 0.044715f * xr * xr)));
    return __half2float(__float2half_rn(g));
}

__global__ void k_glu(float *gate, const float *__restrict__ up, size_t n,
                      int geglu) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float g = gate[i];
        const float a = geglu ? gelu_fp16(g) : g / (1.0f + expf(-g));
        gate[i] = a * up[i];
    }
}

int lcg_glu(cudaStream_t st, float *gate, const float *up, size_t n, bool geglu,
            char *err, size_t err_len) {
    if (n == 0) return 0;
    k_glu<<<grid_for(n), 256, 0, st>>>(gate, up, n, geglu ? 1 : 0);
    LCG_LAUNCHED("gated activation");
    return 0;
}

__global__ void k_softcap(float *x, size_t n, float cap) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = cap * tanhf(x[i] / cap);
}

int lcg_softcap(cudaStream_t st, float *x, size_t n, float cap, char *err,
                size_t err_len) {
    if (n == 0) return 0;
    k_softcap<<<grid_for(n), 256, 0, st>>>(x, n, cap);
    LCG_LAUNCHED("softcap");
    return 0;
}

/* ---------------------------------------------------------------- rows */

__global__ void k_gather_rows(float *__restrict__ dst,
                              const float *__restrict__ src,
                              const int32_t *__restrict__ idx, int cols) {
    const int r = blockIdx.x;
    const float *s = src + (size_t)idx[r] * cols;
    float *d = dst + (size_t)r * cols;
    for (int e = threadIdx.x; e < cols; e += blockDim.x) d[e] = s[e];
}

int lcg_gather_rows(cudaStream_t st, float *dst, const float *src,
                    const int32_t *idx, int n_rows, int cols, char *err,
                    size_t err_len) {
    if (n_rows <= 0) return 0;
    k_gather_rows<<<n_rows, ROW_THREADS, 0, st>>>(dst, src, idx, cols);
    LCG_LAUNCHED("gather rows");
    return 0;
}

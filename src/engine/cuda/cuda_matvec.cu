/*
 * Decode-path matrix products: out[t][row] = W[row] · x[t] for n <= 8
 * tokens, reading each weight row once and dequantizing it in registers.
 *
 * Launch: 128 threads = 4 warps per block, one warp per output row,
 * grid = ceil(n_out / 4). In a quantized row, lane l takes chunks l, l+32,
 * ... of 8 consecutive weights (cuda_quant.cuh): a warp's 32 chunks cover
 * 256 consecutive weights, i.e. one K-quant super-block or eight legacy
 * blocks, so the lanes read neighbouring bytes. Each chunk is multiplied
 * with the 8 matching activations of every token (two float4 loads per
 * token), accumulating in fp32; a warp shuffle sums the lanes. Float-typed
 * rows (F32/F16/BF16, any length) go element by element, lane l taking
 * elements l, l+32, ...
 *
 * Activations stay fp32 (the CPU quantizes them to Q8; this path is at
 * least as precise).
 */
#include "cuda_common.cuh"
#include "cuda_quant.cuh"

#define MV_WARPS 4

static __device__ __forceinline__ float warp_sum(float v) {
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* W: [n_out][row_bytes] of type T; x: [n][n_in]; out: [n][n_out]. */
template <int T>
__global__ void k_matvec_quant(const uint8_t *__restrict__ W, size_t row_bytes,
                               int n_in, int n_out, const float *__restrict__ x,
                               float *__restrict__ out, int n) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * MV_WARPS + threadIdx.x / 32;
    if (row >= n_out) return;
    const uint8_t *wr = W + (size_t)row * row_bytes;
    const int n_chunks = n_in / 8;
    float acc[LCG_MMV_MAX];
#pragma unroll
    for (int t = 0; t < LCG_MMV_MAX; t++) acc[t] = 0.0f;

    for (int c = lane; c < n_chunks; c += 32) {
        float w[8];
        DQ8<T>::run(wr, c, w);
#pragma unroll
        for (int t = 0; t < LCG_MMV_MAX; t++) {
            if (t >= n) break;
            /* n_in is a multiple of 32, so rows of x are 16-byte aligned */
            const float4 *xp =
                (const float4 *)(x + (size_t)t * n_in + (size_t)c * 8);
            const float4 a = xp[0], b = xp[1];
            acc[t] += w[0] * a.x + w[1] * a.y + w[2] * a.z + w[3] * a.w +
                      w[4] * b.x + w[5] * b.y + w[6] * b.z + w[7] * b.w;
        }
    }
#pragma unroll
    for (int t = 0; t < LCG_MMV_MAX; t++) {
        if (t >= n) break;
        const float s = warp_sum(acc[t]);
        if (lane == 0) out[(size_t)t * n_out + row] = s;
    }
}

/* Float-typed rows: W is F32, F16 or BF16 [n_out][n_in]. */
template <int T>
__global__ void k_matvec_float(const void *__restrict__ W, int n_in, int n_out,
                               const float *__restrict__ x,
                               float *__restrict__ out, int n) {
    const int lane = threadIdx.x % 32;
    const int row = blockIdx.x * MV_WARPS + threadIdx.x / 32;
    if (row >= n_out) return;
    const size_t esz = T == GGML_TYPE_F32 ? 4 : 2;
    const void *wr = (const uint8_t *)W + (size_t)row * n_in * esz;
    float acc[LCG_MMV_MAX];
#pragma unroll
    for (int t = 0; t < LCG_MMV_MAX; t++) acc[t] = 0.0f;
    for (int e = lane; e < n_in; e += 32) {
        const float w = lcg_float_elem(T, wr, e);
#pragma unroll
        for (int t = 0; t < LCG_MMV_MAX; t++) {
            if (t >= n) break;
            acc[t] += w * x[(size_t)t * n_in + e];
        }
    }
#pragma unroll
    for (int t = 0; t < LCG_MMV_MAX; t++) {
        if (t >= n) break;
        const float s = warp_sum(acc[t]);
        if (lane == 0) out[(size_t)t * n_out + row] = s;
    }
}

int lcg_matvec(cudaStream_t st, float *out, const dev_weight *w, const float *x,
               int n, char *err, size_t err_len) {
    if (n < 1 || n > LCG_MMV_MAX)
        return lcg_fail(err, err_len, "matvec: %d tokens", n);
    const dim3 block(32 * MV_WARPS);
    const dim3 grid((unsigned)((w->n_out + MV_WARPS - 1) / MV_WARPS));
    const uint8_t *W = (const uint8_t *)w->data;
    switch (w->type) {
    case GGML_TYPE_F32:
        k_matvec_float<GGML_TYPE_F32>
            <<<grid, block, 0, st>>>(W, w->n_in, w->n_out, x, out, n);
        break;
    case GGML_TYPE_F16:
        k_matvec_float<GGML_TYPE_F16>
            <<<grid, block, 0, st>>>(W, w->n_in, w->n_out, x, out, n);
        break;
    case GGML_TYPE_BF16:
        k_matvec_float<GGML_TYPE_BF16>
            <<<grid, block, 0, st>>>(W, w->n_in, w->n_out, x, out, n);
        break;
#define MV_CASE(T)                                                             \
    case T:                                                                    \
        k_matvec_quant<T><<<grid, block, 0, st>>>(W, w->row_bytes, w->n_in,    \
                                                  w->n_out, x, out, n);        \
        break;
        LCG_QUANT_TYPES(MV_CASE)
#undef MV_CASE
    default:
        return lcg_fail(err, err_len, "matvec: type %s not supported",
                        lcg_type_name(w->type));
    }
    LCG_LAUNCHED("matrix-vector kernel");
    return 0;
}

int lcg_probe_kernels(char *err, size_t err_len) {
    cudaFuncAttributes a;
    cudaError_t e =
        cudaFuncGetAttributes(&a, (const void *)k_matvec_quant<GGML_TYPE_Q4_K>);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lcg_fail(err, err_len,
                        "this GPU cannot run the kernels of this build "
                        "(compiled for other architectures?): %s",
                        cudaGetErrorString(e));
    }
    return 0;
}

/*
 * Matrix products of the forward pass: out[n][n_out] = x[n][n_in] · W^T.
 *
 * Up to LCG_MMV_MAX tokens (decoding) the matrix-vector kernels of
 * cuda_matvec.cu read the quantized weights directly. Beyond that (prompt
 * processing) the product is compute-bound and goes to cuBLAS with fp32
 * accumulation:
 *   F32 weights   cublasSgemm on the weights as they are (no TF32, so the
 *                 F32 models keep their reference tolerance)
 *   F16 / BF16    cublasGemmEx on the weights as they are, activations
 *                 rounded to the same half type (as the CPU backend does)
 *   quantized     rows of W are dequantized to F16 into a tile buffer
 *                 (a whole matrix when it fits in LCG_WTILE_MAX elements,
 *                 else row ranges), activations rounded to F16, then
 *                 cublasGemmEx per tile. F16 keeps 11 significant bits,
 *                 more than any block format stores, so the dequantized
 *                 weights are exact up to the half rounding of d * q.
 * This choice (dequantize + cuBLAS rather than integer MMQ kernels) is the
 * simple, obviously correct one; whether quantized tensor-core kernels pay
 * is left to measurement.
 *
 * cuBLAS is column-major: a row-major [n_out][n_in] W is a column-major
 * n_in x n_out matrix, so out^T (n_out x n, column-major = row-major
 * [n][n_out]) = op_T(W) (n_out x n_in) · x^T (n_in x n).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_common.cuh"
#include "cuda_quant.cuh"

/* dst[i] = half(src[i]) (round to nearest even). */
__global__ void k_to_half(const float *__restrict__ src,
                          __half *__restrict__ dst, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}

__global__ void k_to_bf16(const float *__restrict__ src,
                          __nv_bfloat16 *__restrict__ dst, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

/* Rows [r0, r0 + rows) of W (type T, [n_out][row_bytes]) to half:
 * dst[rows][n_in]. One thread per chunk of 8 weights. */
template <int T>
__global__ void k_dequant_half(const uint8_t *__restrict__ W, size_t row_bytes,
                               int n_in, int r0, int rows,
                               __half *__restrict__ dst) {
    const int cpr = n_in / 8; /* chunks per row */
    const size_t total = (size_t)rows * cpr;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(i / cpr), c = (int)(i % cpr);
        float w[8];
        DQ8<T>::run(W + (size_t)(r0 + r) * row_bytes, c, w);
        __align__(16) __half2 h[4];
        for (int k = 0; k < 4; k++)
            h[k] = __floats2half2_rn(w[2 * k], w[2 * k + 1]);
        /* 8 halves = 16 bytes; n_in % 8 == 0 keeps the store aligned */
        *(uint4 *)(dst + (size_t)r * n_in + (size_t)c * 8) = *(uint4 *)h;
    }
}

/* Blocks for a grid-stride loop over n items. */
static unsigned grid_for(size_t n) {
    size_t b = (n + 255) / 256;
    if (b > 65535) b = 65535;
    return (unsigned)(b ? b : 1);
}

static int dequant_half(cudaStream_t st, const dev_weight *w, int r0, int rows,
                        __half *dst, char *err, size_t err_len) {
    const size_t chunks = (size_t)rows * (w->n_in / 8);
    const uint8_t *W = (const uint8_t *)w->data;
    switch (w->type) {
#define DQ_CASE(T)                                                             \
    case T:                                                                    \
        k_dequant_half<T><<<grid_for(chunks), 256, 0, st>>>(                   \
            W, w->row_bytes, w->n_in, r0, rows, dst);                          \
        break;
        LCG_QUANT_TYPES(DQ_CASE)
#undef DQ_CASE
    default:
        return lcg_fail(err, err_len, "dequantize: type %s",
                        lcg_type_name(w->type));
    }
    LCG_LAUNCHED("dequantize to half");
    return 0;
}

static int gemm(lc_gpu_ctx *gc, float *out, const dev_weight *w, const float *x,
                int n, char *err, size_t err_len) {
    const int n_in = w->n_in, n_out = w->n_out;
    const float one = 1.0f, zero = 0.0f;
    const size_t nx = (size_t)n * n_in;
    cudaStream_t st = gc->stream;

    if (w->type == GGML_TYPE_F32) {
        LCG_BLAS(cublasSgemm(gc->blas, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n, n_in,
                             &one, (const float *)w->data, n_in, x, n_in, &zero,
                             out, n_out),
                 "Sgemm");
        return 0;
    }
    if (w->type == GGML_TYPE_BF16) {
        k_to_bf16<<<grid_for(nx), 256, 0, st>>>(x, (__nv_bfloat16 *)gc->xh, nx);
        LCG_LAUNCHED("round activations to bf16");
        LCG_BLAS(cublasGemmEx(gc->blas, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n,
                              n_in, &one, w->data, CUDA_R_16BF, n_in, gc->xh,
                              CUDA_R_16BF, n_in, &zero, out, CUDA_R_32F, n_out,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "GemmEx bf16");
        return 0;
    }
    k_to_half<<<grid_for(nx), 256, 0, st>>>(x, (__half *)gc->xh, nx);
    LCG_LAUNCHED("round activations to f16");
    if (w->type == GGML_TYPE_F16) {
        LCG_BLAS(cublasGemmEx(gc->blas, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n,
                              n_in, &one, w->data, CUDA_R_16F, n_in, gc->xh,
                              CUDA_R_16F, n_in, &zero, out, CUDA_R_32F, n_out,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "GemmEx f16");
        return 0;
    }
    /* Quantized: tiles of whole rows. */
    int tile_rows = (int)(gc->wtile_elems / (size_t)n_in);
    if (tile_rows < 1)
        return lcg_fail(err, err_len, "weight tile too small for n_in %d",
                        n_in);
    if (tile_rows > n_out) tile_rows = n_out;
    for (int r0 = 0; r0 < n_out; r0 += tile_rows) {
        const int rows = n_out - r0 < tile_rows ? n_out - r0 : tile_rows;
        if (dequant_half(st, w, r0, rows, (__half *)gc->wtile, err, err_len))
            return -1;
        LCG_BLAS(cublasGemmEx(gc->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, n_in,
                              &one, gc->wtile, CUDA_R_16F, n_in, gc->xh,
                              CUDA_R_16F, n_in, &zero, out + r0, CUDA_R_32F,
                              n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "GemmEx tile");
    }
    return 0;
}

int lcg_matmul(lc_gpu_ctx *gc, float *out, const dev_weight *w, const float *x,
               int n, char *err, size_t err_len) {
    if (n <= 0) return 0;
    if (n <= LCG_MMV_MAX)
        return lcg_matvec(gc->stream, out, w, x, n, err, err_len);
    if ((size_t)w->n_in > gc->gm->max_in || n > gc->n_ubatch)
        return lcg_fail(err, err_len, "matmul: shape beyond the scratch");
    return gemm(gc, out, w, x, n, err, err_len);
}

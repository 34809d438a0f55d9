/*
 * Float tensor types: F32, F16 and BF16 rows, scalar versions.
 *
 * F16 and BF16 weights are multiplied with activations rounded to the same
 * type (as ggml does); the products and the sum are computed in float.
 */
#include "quant.h"

#include <string.h>

/* ------------------------------------------------------------ to float */

void dequantize_row_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void dequantize_row_f16(const void *src, float *dst, int64_t n) {
    const lc_fp16 *x = src; /* [n] */
    for (int64_t i = 0; i < n; i++) dst[i] = lc_fp16_to_fp32(x[i]);
}

void dequantize_row_bf16(const void *src, float *dst, int64_t n) {
    const lc_bf16 *x = src; /* [n] */
    for (int64_t i = 0; i < n; i++) dst[i] = lc_bf16_to_fp32(x[i]);
}

/* ---------------------------------------------------------- from float */

void convert_row_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void convert_row_f16(const float *src, void *dst, int64_t n) {
    lc_fp16 *y = dst; /* [n] */
    for (int64_t i = 0; i < n; i++) y[i] = lc_fp32_to_fp16(src[i]);
}

void convert_row_bf16(const float *src, void *dst, int64_t n) {
    lc_bf16 *y = dst; /* [n] */
    for (int64_t i = 0; i < n; i++) y[i] = lc_fp32_to_bf16(src[i]);
}

/* -------------------------------------------------------- dot products */

void vec_dot_f32_ref(int n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a; /* [n] each */
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

void vec_dot_f16_ref(int n, float *s, const void *w, const void *a) {
    const lc_fp16 *x = w, *y = a; /* [n] each */
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += lc_fp16_to_fp32(x[i]) * lc_fp16_to_fp32(y[i]);
    *s = sum;
}

void vec_dot_bf16_ref(int n, float *s, const void *w, const void *a) {
    const lc_bf16 *x = w, *y = a; /* [n] each */
    float sum = 0.0f;
    for (int i = 0; i < n; i++)
        sum += lc_bf16_to_fp32(x[i]) * lc_bf16_to_fp32(y[i]);
    *s = sum;
}

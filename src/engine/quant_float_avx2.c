/*
 * Float dot products with AVX2 + FMA + F16C.
 *
 * Four independent accumulators hide the FMA latency (4 cycles, 2 per
 * cycle), so one loop step reads 32 elements of each row.
 */
#include "quant.h"

#include <immintrin.h>

/* Sum of the 8 lanes. */
static float hsum_ps(__m256 v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 halves -> 8 floats */
static __m256 load_f16(const lc_fp16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* 8 bfloat16 -> 8 floats: a bf16 is the top half of a float's bits */
static __m256 load_bf16(const lc_bf16 *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

void vec_dot_f32_avx2(int n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a; /* [n] each */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i),
                               acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8),
                               _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16),
                               _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24),
                               _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i),
                               acc0);
    float sum = hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

void vec_dot_f16_avx2(int n, float *s, const void *w, const void *a) {
    const lc_fp16 *x = w, *y = a; /* [n] each */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16(x + i + 8), load_f16(y + i + 8), acc1);
        acc2 =
            _mm256_fmadd_ps(load_f16(x + i + 16), load_f16(y + i + 16), acc2);
        acc3 =
            _mm256_fmadd_ps(load_f16(x + i + 24), load_f16(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), acc0);
    float sum = hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += _cvtsh_ss(x[i]) * _cvtsh_ss(y[i]);
    *s = sum;
}

void vec_dot_bf16_avx2(int n, float *s, const void *w, const void *a) {
    const lc_bf16 *x = w, *y = a; /* [n] each */
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_bf16(x + i), load_bf16(y + i), acc0);
        acc1 =
            _mm256_fmadd_ps(load_bf16(x + i + 8), load_bf16(y + i + 8), acc1);
        acc2 =
            _mm256_fmadd_ps(load_bf16(x + i + 16), load_bf16(y + i + 16), acc2);
        acc3 =
            _mm256_fmadd_ps(load_bf16(x + i + 24), load_bf16(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16(x + i), load_bf16(y + i), acc0);
    float sum = hsum_ps(
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) sum += lc_bf16_to_fp32(x[i]) * lc_bf16_to_fp32(y[i]);
    *s = sum;
}

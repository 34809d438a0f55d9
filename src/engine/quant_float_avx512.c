/*
 * Float dot products with AVX-512F.
 *
 * Same shape as the AVX2 kernels with 16-lane registers: four accumulators,
 * 64 elements per loop step, then 16 at a time, then a masked remainder so
 * that no scalar tail is needed.
 */
#include "quant.h"

#include <immintrin.h>

/* 16 halves -> 16 floats, only the lanes in mask are read */
static __m512 load_f16(const lc_fp16 *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* 16 bfloat16 -> 16 floats: a bf16 is the top half of a float's bits */
static __m512 load_bf16(const lc_bf16 *p, __mmask16 m) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* Lanes [0, r) set, r < 16. */
static __mmask16 tail_mask(int r) {
    return (__mmask16)((1u << r) - 1);
}

void vec_dot_f32_avx512(int n, float *s, const void *w, const void *a) {
    const float *x = w, *y = a; /* [n] each */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i),
                               acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16),
                               _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32),
                               _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48),
                               _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i),
                               acc0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
                               _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    acc0 = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    *s = _mm512_reduce_add_ps(acc0);
}

void vec_dot_f16_avx512(int n, float *s, const void *w, const void *a) {
    const lc_fp16 *x = w, *y = a; /* [n] each */
    const __mmask16 all = 0xffff;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load_f16(x + i, all), load_f16(y + i, all),
                               acc0);
        acc1 = _mm512_fmadd_ps(load_f16(x + i + 16, all),
                               load_f16(y + i + 16, all), acc1);
        acc2 = _mm512_fmadd_ps(load_f16(x + i + 32, all),
                               load_f16(y + i + 32, all), acc2);
        acc3 = _mm512_fmadd_ps(load_f16(x + i + 48, all),
                               load_f16(y + i + 48, all), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(load_f16(x + i, all), load_f16(y + i, all),
                               acc0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(load_f16(x + i, m), load_f16(y + i, m), acc1);
    }
    acc0 = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    *s = _mm512_reduce_add_ps(acc0);
}

void vec_dot_bf16_avx512(int n, float *s, const void *w, const void *a) {
    const lc_bf16 *x = w, *y = a; /* [n] each */
    const __mmask16 all = 0xffff;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(load_bf16(x + i, all), load_bf16(y + i, all),
                               acc0);
        acc1 = _mm512_fmadd_ps(load_bf16(x + i + 16, all),
                               load_bf16(y + i + 16, all), acc1);
        acc2 = _mm512_fmadd_ps(load_bf16(x + i + 32, all),
                               load_bf16(y + i + 32, all), acc2);
        acc3 = _mm512_fmadd_ps(load_bf16(x + i + 48, all),
                               load_bf16(y + i + 48, all), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(load_bf16(x + i, all), load_bf16(y + i, all),
                               acc0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(load_bf16(x + i, m), load_bf16(y + i, m), acc1);
    }
    acc0 = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    *s = _mm512_reduce_add_ps(acc0);
}

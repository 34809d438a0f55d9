/*
 * Float dot products with AVX-512F.
 *
 * Same shape as the AVX2 kernels with 16-lane registers: four accumulators,
 * 64 elements per loop step, then 16 at a time, then a masked remainder so
 * that no scalar tail is needed (F16 is the exception, see below).
 */
#include "quant.h"

#include <immintrin.h>

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

/* F16 runs at 256 bits: on AMD Zen 4 the 512-bit form of this loop
 * (vcvtph2ps zmm + 512-bit FMA) measured ~40% slower than 256-bit
 * conversions and FMAs; AVX-512VL still gives a masked remainder. */
static __m256 load_f16_256(const lc_fp16 *p, __mmask8 m) {
    return _mm256_cvtph_ps(_mm_maskz_loadu_epi16(m, p));
}

void vec_dot_f16_avx512(int n, float *s, const void *w, const void *a) {
    const lc_fp16 *x = w, *y = a; /* [n] each */
    const __mmask8 all = 0xff;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16_256(x + i, all),
                               load_f16_256(y + i, all), acc0);
        acc1 = _mm256_fmadd_ps(load_f16_256(x + i + 8, all),
                               load_f16_256(y + i + 8, all), acc1);
        acc2 = _mm256_fmadd_ps(load_f16_256(x + i + 16, all),
                               load_f16_256(y + i + 16, all), acc2);
        acc3 = _mm256_fmadd_ps(load_f16_256(x + i + 24, all),
                               load_f16_256(y + i + 24, all), acc3);
    }
    for (; i < n; i += 8) {
        __mmask8 m = n - i >= 8 ? all : (__mmask8)((1u << (n - i)) - 1);
        acc0 = _mm256_fmadd_ps(load_f16_256(x + i, m), load_f16_256(y + i, m),
                               acc0);
    }
    __m256 sum =
        _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
    __m128 t =
        _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    *s = _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

void vec_dot_bf16_avx512(int n, float *s, const void *w, const void *a) {
    const lc_bf16 *x = w, *y = a; /* [n] each */
    const __mmask16 all = 0xffff;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 =
            _mm512_fmadd_ps(load_bf16(x + i, all), load_bf16(y + i, all), acc0);
        acc1 = _mm512_fmadd_ps(load_bf16(x + i + 16, all),
                               load_bf16(y + i + 16, all), acc1);
        acc2 = _mm512_fmadd_ps(load_bf16(x + i + 32, all),
                               load_bf16(y + i + 32, all), acc2);
        acc3 = _mm512_fmadd_ps(load_bf16(x + i + 48, all),
                               load_bf16(y + i + 48, all), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 =
            _mm512_fmadd_ps(load_bf16(x + i, all), load_bf16(y + i, all), acc0);
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        acc1 = _mm512_fmadd_ps(load_bf16(x + i, m), load_bf16(y + i, m), acc1);
    }
    acc0 = _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3));
    *s = _mm512_reduce_add_ps(acc0);
}

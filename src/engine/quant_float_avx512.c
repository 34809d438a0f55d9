/*
 * Float dot products with AVX-512F.
 *
 * Same shape as the AVX2 kernels with 16-lane registers: four accumulators,
 * 64 elements per loop step, then 16 at a time, then a masked remainder so
 * that no scalar tail is needed (F16 is the exception, see below).
 * F16 also has a tile kernel for prompt processing (lc_vec_dot_tile_fn)
 * and a vector rounding of the activations to F16.
 */
#include "quant.h"

#include <immintrin.h>
#include <string.h>

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

/* The same bits as convert_row_f16 (vcvtps2ph rounds to nearest even and
 * quiets NaNs keeping the top payload bits, as lc_fp32_to_fp16 does; every
 * float was compared once). The scalar loop took ~10% of an F16 BERT's
 * prompt time on Zen 4. */
void convert_row_f16_avx512(const float *src, void *dst, int64_t n) {
    lc_fp16 *y = dst; /* [n] */
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i),
                                            _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = tail_mask((int)(n - i));
        _mm256_mask_storeu_epi16(
            y + i, m,
            _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i),
                            _MM_FROUND_TO_NEAREST_INT));
    }
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

/* ------------------------------------------------------------ F16 tile */

/* The tile runs at 512 bits, unlike vec_dot_f16_avx512 above: there each
 * FMA needs two conversions, here each conversion feeds four FMAs. On Zen 4
 * a standalone 4x4 tile over 768-element rows (one core) measured ~75
 * GFLOP/s in 512-bit form against ~63 in 256-bit form; two steps per loop
 * iteration (more loads in flight) and the one-vector reduction below took
 * it to ~91. The unroll pragmas keep the arrays in registers (see the tiles
 * in quant_k_avx512.c): 16 accumulators + 4 weights + 1 activation. */
static inline __attribute__((always_inline)) __m512
load_f16_512(const lc_fp16 *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* Elements [i, i + 16) of every row and token, lanes outside m zero. */
static inline __attribute__((always_inline)) void
f16_tile_step(const lc_fp16 *const x[LC_TILE_ROWS],
              const lc_fp16 *const y[LC_TILE_TOKS], int i, __mmask16 m,
              __m512 acc[LC_TILE_ROWS][LC_TILE_TOKS]) {
    __m512 wf[LC_TILE_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++) wf[r] = load_f16_512(x[r] + i, m);
#pragma GCC unroll 4
    for (int t = 0; t < LC_TILE_TOKS; t++) {
        __m512 af = load_f16_512(y[t] + i, m);
#pragma GCC unroll 4
        for (int r = 0; r < LC_TILE_ROWS; r++)
            acc[r][t] = _mm512_fmadd_ps(wf[r], af, acc[r][t]);
    }
}

/* The reduction folds the 16 accumulators together, halving the partial
 * sums per accumulator at each level: 45 instructions, where 16 separate
 * horizontal sums (~8 each) cost about 15% of a 768-element tile's FMAs.
 * fold8(a, b): 256-bit halves [a, b], 8 partial sums each. */
static __m512 fold8(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
}
/* fold4([p, q], [u, v]) of fold8 results: 128-bit quarters [p, q, u, v],
 * 4 partial sums each. */
static __m512 fold4(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
/* In each quarter, of 4 partial sums of a and of b: [a, b, a, b], 2 each. */
static __m512 fold2(__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
}
/* In each quarter, of fold2 results [p, q, p, q] and [u, v, u, v]: the
 * complete sums [p, q, u, v]. */
static __m512 fold1(__m512 a, __m512 b) {
    __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
}

void vec_dot_tile_f16_avx512(int n, float *s, size_t s_stride, const void *w,
                             size_t w_stride, const void *a, size_t a_stride) {
    const lc_fp16 *x[LC_TILE_ROWS]; /* each [n] */
    const lc_fp16 *y[LC_TILE_TOKS]; /* each [n] */
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
        x[r] = (const lc_fp16 *)((const char *)w + (size_t)r * w_stride);
#pragma GCC unroll 4
    for (int t = 0; t < LC_TILE_TOKS; t++)
        y[t] = (const lc_fp16 *)((const char *)a + (size_t)t * a_stride);
    __m512 acc[LC_TILE_ROWS][LC_TILE_TOKS];
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
#pragma GCC unroll 4
        for (int t = 0; t < LC_TILE_TOKS; t++) acc[r][t] = _mm512_setzero_ps();
    const __mmask16 all = 0xffff;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        f16_tile_step(x, y, i, all, acc);
        f16_tile_step(x, y, i + 16, all, acc);
    }
    /* the last step masks the elements past n (zeros add nothing) */
    for (; i < n; i += 16)
        f16_tile_step(x, y, i, n - i >= 16 ? all : tail_mask(n - i), acc);

    /* The folds below are written for a 4 x 4 tile. */
    _Static_assert(LC_TILE_ROWS == 4 && LC_TILE_TOKS == 4, "4 x 4 tile");
    /* v[4t + r] = acc[r][t]; the folds pair v[j] with v[j + 4], then
     * v[j] with v[j + 8], then neighbours, so that lane 4t + r of the
     * result is the sum of acc[r][t]: token t's outputs are quarter t. */
    __m512 v[LC_TILE_ROWS * LC_TILE_TOKS], h[8], q[4];
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
#pragma GCC unroll 4
        for (int t = 0; t < LC_TILE_TOKS; t++) v[4 * t + r] = acc[r][t];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        h[j] = fold8(v[j], v[j + 4]);
        h[j + 4] = fold8(v[j + 8], v[j + 12]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) q[j] = fold4(h[j], h[j + 4]);
    float out[LC_TILE_ROWS * LC_TILE_TOKS];
    _mm512_storeu_ps(out, fold1(fold2(q[0], q[1]), fold2(q[2], q[3])));
#pragma GCC unroll 4
    for (int t = 0; t < LC_TILE_TOKS; t++)
        memcpy(s + (size_t)t * s_stride, out + LC_TILE_ROWS * t,
               sizeof(float) * LC_TILE_ROWS);
}

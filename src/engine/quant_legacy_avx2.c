/*
 * Legacy block dot products with AVX2 (+ F16C for the scales).
 *
 * One block (32 weights) fills one 256-bit register of int8. AVX2 has no
 * signed x signed byte multiply, only maddubs (unsigned x signed -> pairs of
 * int16), so a signed weight x is split as |x| * (y * sign(x)): the product
 * is the same and |x| is a valid unsigned operand. The int16 pairs cannot
 * saturate (2 * 128 * 127 < 32768); madd with ones widens them to 8 int32
 * partial sums, which are scaled per block in float.
 */
#include "quant.h"

#include <immintrin.h>

static float hsum_ps(__m256 v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of nibble pairs -> 32 bytes 0..15 in element order: the low
 * nibbles are elements 0..15, the high nibbles elements 16..31. */
static __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/* qh (bit j = 5th bit of element j) -> byte j = 0x10 if set, else 0. */
static __m256i unpack_high_bits(const uint8_t qh_bytes[4]) {
    uint32_t qh;
    __builtin_memcpy(&qh, qh_bytes, 4); /* x86 is little-endian */
    /* byte j takes qh byte j/8, then keeps only bit j%8 */
    const __m256i pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, /* lane 0 */
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201ll);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 8 int32 partial sums of x[j] * y[j], x and y signed (y != -128). */
static __m256i dot_s8(__m256i x, __m256i y) {
    __m256i ax = _mm256_sign_epi8(x, x);
    __m256i sy = _mm256_sign_epi8(y, x);
    __m256i p = _mm256_maddubs_epi16(ax, sy);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 8 int32 partial sums of x[j] * y[j], x unsigned (< 128), y signed. */
static __m256i dot_u8(__m256i x, __m256i y) {
    __m256i p = _mm256_maddubs_epi16(x, y);
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

static __m256i load_q8(const int8_t *qs) {
    return _mm256_loadu_si256((const __m256i *)qs);
}

void vec_dot_q4_0_avx2(int n, float *s, const void *w, const void *a) {
    const block_q4_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK8_0; b++) {
        __m256i q = _mm256_sub_epi8(unpack_nibbles(x[b].qs), eight);
        __m256i isum = dot_s8(q, load_q8(y[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    }
    *s = hsum_ps(acc);
}

void vec_dot_q4_1_avx2(int n, float *s, const void *w, const void *a) {
    const block_q4_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f; /* sum of m_w * s_a */
    for (int b = 0; b < n / QK8_1; b++) {
        __m256i isum = dot_u8(unpack_nibbles(x[b].qs), load_q8(y[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
        summ += _cvtsh_ss(x[b].m) * _cvtsh_ss(y[b].s);
    }
    *s = hsum_ps(acc) + summ;
}

void vec_dot_q5_0_avx2(int n, float *s, const void *w, const void *a) {
    const block_q5_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK8_0; b++) {
        __m256i q =
            _mm256_or_si256(unpack_nibbles(x[b].qs), unpack_high_bits(x[b].qh));
        q = _mm256_sub_epi8(q, sixteen);
        __m256i isum = dot_s8(q, load_q8(y[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    }
    *s = hsum_ps(acc);
}

void vec_dot_q5_1_avx2(int n, float *s, const void *w, const void *a) {
    const block_q5_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f; /* sum of m_w * s_a */
    for (int b = 0; b < n / QK8_1; b++) {
        __m256i q =
            _mm256_or_si256(unpack_nibbles(x[b].qs), unpack_high_bits(x[b].qh));
        __m256i isum = dot_u8(q, load_q8(y[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
        summ += _cvtsh_ss(x[b].m) * _cvtsh_ss(y[b].s);
    }
    *s = hsum_ps(acc) + summ;
}

void vec_dot_q8_0_avx2(int n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / QK8_0; b++) {
        __m256i isum = dot_s8(load_q8(x[b].qs), load_q8(y[b].qs));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    }
    *s = hsum_ps(acc);
}

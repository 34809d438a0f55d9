/*
 * AVX2 dot products of K-quant weight rows with Q8_K activation rows.
 *
 * Compiled with -mavx2 -mfma -mf16c; called only after the CPU check.
 * Each kernel computes the same integers as its scalar `*_ref` twin in
 * quant_k.c: per super-block of 256 elements, the weight quants (made
 * unsigned) are multiplied with the int8 activations by
 * _mm256_maddubs_epi16 (u8 × s8, adjacent pairs summed to int16; the largest
 * pair, 2 × 63 × 128, cannot saturate), the int16 pair sums are multiplied
 * by the sub-block scales and summed to int32 by _mm256_madd_epi16, and the
 * block's int32 sums are scaled by d_w * d_a in float. Only the order of
 * the float additions differs from the reference.
 *
 * Weights whose quants are centred (Q3_K: q - 4, Q6_K: q - 32) are used
 * unsigned and the offset is taken back with the activations' bsums:
 * sum(a * (u - k)) = sum(a * u) - k * sum(a).
 */
#include <immintrin.h>
#include <string.h>

#include "quant.h"

/* --------------------------------------------------------- helpers */

static inline float hsum_ps_256(__m256 v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float fp16_to_fp32(lc_fp16 h) {
    return _cvtsh_ss(h);
}

/* Scales of two sub-blocks of 16, as 16 int16 lanes: lanes 0..7 hold
 * sc[first], lanes 8..15 sc[first + 1] — matching the int16 pair sums of
 * maddubs over 32 elements. sc16: 16 int8 scales. */
static inline __m256i scale_pair_16(__m128i sc16, int first) {
    const long long rep = 0x0101010101010101LL;
    __m128i mask = _mm_set_epi64x(rep * (first + 1), rep * first);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc16, mask));
}

/* Q4_K/Q5_K scales and mins (packing described in quant_k.c), unpacked
 * with 32-bit word operations instead of a byte loop: bytes 0..7 of the
 * result are the 8 scales, bytes 8..15 the 8 mins, all in 0..63. */
static inline __m128i unpack_scales_mins_k4(const uint8_t s[K_SCALE_SIZE]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    uint32_t sc_lo = w0 & 0x3f3f3f3fu; /* sub-blocks 0..3 */
    uint32_t mn_lo = w1 & 0x3f3f3f3fu;
    uint32_t sc_hi = (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4);
    uint32_t mn_hi =
        ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4);
    return _mm_set_epi32((int)mn_hi, (int)mn_lo, (int)sc_hi, (int)sc_lo);
}

/* Q3_K's 16 six-bit scales (packing described in quant_k.c) minus their
 * bias of 32, as 16 int8, unpacked with word operations. */
static inline __m128i unpack_scales_q3_K(const uint8_t s[12]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    uint32_t t0 = (w0 & m4) | ((w2 & m2) << 4);               /* 0..3 */
    uint32_t t1 = (w1 & m4) | (((w2 >> 2) & m2) << 4);        /* 4..7 */
    uint32_t t2 = ((w0 >> 4) & m4) | (((w2 >> 4) & m2) << 4); /* 8..11 */
    uint32_t t3 = ((w1 >> 4) & m4) | (((w2 >> 6) & m2) << 4); /* 12..15 */
    __m128i v = _mm_set_epi32((int)t3, (int)t2, (int)t1, (int)t0);
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

/* Word k of eight int16 (in both 128-bit lanes of v) in all 16 lanes. */
static inline __m256i broadcast_word(__m256i v, int k) {
    return _mm256_shuffle_epi8(v,
                               _mm256_set1_epi16((short)(0x0100 + 0x0202 * k)));
}

/* sum over 8 sub-blocks of 32 of mn[j] * (bsums[2j] + bsums[2j+1]), as 8
 * int32 lanes (lane j = sub-block j). mins: 8 bytes in the upper half. */
static inline __m256i mins_times_bsums(__m128i scales_mins,
                                       const int16_t *bsums) {
    __m128i m16 =
        _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scales_mins, scales_mins));
    __m256i mm = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16),
                                  _mm_unpacklo_epi16(m16, m16));
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm256_madd_epi16(b, mm);
}

/* ------------------------------------------------------------ Q4_K */

void vec_dot_q4_K_avx2(int n, float *s, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        const __m128i sm = unpack_scales_mins_k4(x[i].scales);
        /* the 8 scales as int16 in both 128-bit lanes */
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));

        __m256i prod_m = mins_times_bsums(sm, y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            /* 32 bytes of qs = elements 64c..64c+63 of the block */
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const int8_t *q8 = y[i].qs + 64 * c;
            __m256i a_lo = _mm256_loadu_si256((const __m256i *)q8);
            __m256i a_hi = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            __m256i p_lo = _mm256_maddubs_epi16(lo, a_lo);
            __m256i p_hi = _mm256_maddubs_epi16(hi, a_hi);
            p_lo = _mm256_madd_epi16(p_lo, broadcast_word(sc16, 2 * c));
            p_hi = _mm256_madd_epi16(p_hi, broadcast_word(sc16, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps_256(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q5_K */

void vec_dot_q5_K_avx2(int n, float *s, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        const __m128i sm = unpack_scales_mins_k4(x[i].scales);
        /* the 8 scales as int16 in both 128-bit lanes */
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));

        __m256i prod_m = mins_times_bsums(sm, y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        /* qh[l] bit 2c / 2c+1: fifth bit of element l / 32 + l of chunk c */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            __m256i h_lo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one);
            __m256i h_hi =
                _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one);
            __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4),
                                         _mm256_slli_epi16(h_lo, 4));
            __m256i hi =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                _mm256_slli_epi16(h_hi, 4));
            const int8_t *q8 = y[i].qs + 64 * c;
            __m256i a_lo = _mm256_loadu_si256((const __m256i *)q8);
            __m256i a_hi = _mm256_loadu_si256((const __m256i *)(q8 + 32));
            __m256i p_lo = _mm256_maddubs_epi16(lo, a_lo);
            __m256i p_hi = _mm256_maddubs_epi16(hi, a_hi);
            p_lo = _mm256_madd_epi16(p_lo, broadcast_word(sc16, 2 * c));
            p_hi = _mm256_madd_epi16(p_hi, broadcast_word(sc16, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps_256(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q6_K */

void vec_dot_q6_K_avx2(int n, float *s, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const __m128i sc16 = _mm_loadu_si128((const __m128i *)x[i].scales);

        /* the -32 offset: 32 * sum_k sc[k] * bsums[k], 8 int32 lanes */
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i off = _mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(sc16));

        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            __m256i qh =
                _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            /* 6-bit quants of elements 32k..32k+31 of this half; the two
             * high bits of each come from bits 2k..2k+1 of qh, moved to
             * bits 4-5 (bits that leak across bytes are masked off) */
            __m256i u[4];
            u[0] = _mm256_or_si256(
                _mm256_and_si256(ql0, m4),
                _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
            u[1] = _mm256_or_si256(
                _mm256_and_si256(ql1, m4),
                _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
            u[2] =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_and_si256(qh, m30));
            u[3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
            const int8_t *q8 = y[i].qs + 128 * h;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256i av = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
                __m256i p = _mm256_maddubs_epi16(u[k], av);
                p = _mm256_madd_epi16(p, scale_pair_16(sc16, 8 * h + 2 * k));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps_256(acc);
}

/* ------------------------------------------------------------ Q2_K */

void vec_dot_q2_K_avx2(int n, float *s, const void *w, const void *a) {
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float dall = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        /* scales[k]: low nibble = scale, high nibble = min of sub-block k */
        __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m128i sc16 = _mm_and_si128(raw, m4);
        __m128i mn16 = _mm_and_si128(_mm_srli_epi16(raw, 4), m4);

        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i prod_m = _mm256_madd_epi16(bs, _mm256_cvtepu8_epi16(mn16));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const int8_t *q8 = y[i].qs + 128 * h;
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                /* elements 32j..32j+31 of the half: bits 2j..2j+1 */
                __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                __m256i av = _mm256_loadu_si256((const __m256i *)(q8 + 32 * j));
                __m256i p = _mm256_maddubs_epi16(u, av);
                p = _mm256_madd_epi16(p, scale_pair_16(sc16, 8 * h + 2 * j));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi),
                              acc);
    }
    *s = hsum_ps_256(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q3_K */

void vec_dot_q3_K_avx2(int n, float *s, const void *w, const void *a) {
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const __m128i sc16 = unpack_scales_q3_K(x[i].scales);

        /* quants are u - 4 with u = low2 | high << 2 in 0..7 */
        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i off = _mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(sc16));

        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const int8_t *q8 = y[i].qs + 128 * h;
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                __m256i hb =
                    _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one);
                __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
                __m256i av = _mm256_loadu_si256((const __m256i *)(q8 + 32 * j));
                __m256i p = _mm256_maddubs_epi16(u, av);
                p = _mm256_madd_epi16(p, scale_pair_16(sc16, 8 * h + 2 * j));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps_256(acc);
}

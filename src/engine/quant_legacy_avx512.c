/*
 * Legacy block dot products with AVX-512 (F, BW, VL, DQ) and VNNI.
 *
 * Two blocks fill one 512-bit register of int8. VNNI's dpbusd multiplies
 * unsigned by signed bytes and adds each group of four products into an
 * int32 lane in one instruction; signed weights use |x| * (y * sign(x)) as
 * in the AVX2 kernels, with the sign taken from a mask register. Lanes 0-7
 * of the int32 result belong to the first block and lanes 8-15 to the
 * second, so one float vector [d_A x8, d_B x8] scales both. An odd last
 * block runs through the same steps at 256 bits.
 */
#include "quant.h"

#include <immintrin.h>

/* 16 bytes of nibble pairs -> 32 bytes 0..15 in element order: the low
 * nibbles are elements 0..15, the high nibbles elements 16..31. */
static __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(v, mask);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/* The 32 fifth bits as a byte mask: bit j of qh belongs to element j. */
static __mmask32 high_bits(const uint8_t qh_bytes[4]) {
    uint32_t qh;
    __builtin_memcpy(&qh, qh_bytes, 4); /* x86 is little-endian */
    return (__mmask32)qh;
}

static __m256i load_q8(const int8_t *qs) {
    return _mm256_loadu_si256((const __m256i *)qs);
}

/* Weights of one block as int8, per type. */
static __m256i weights_q4_0(const block_q4_0 *b) { /* -8..7 */
    return _mm256_sub_epi8(unpack_nibbles(b->qs), _mm256_set1_epi8(8));
}
static __m256i weights_q4_1(const block_q4_1 *b) { /* 0..15 */
    return unpack_nibbles(b->qs);
}
static __m256i weights_q5_0(const block_q5_0 *b) { /* -16..15 */
    /* q - 16 is q_low - 16 where the 5th bit is clear, q_low where set */
    __m256i lo = unpack_nibbles(b->qs);
    return _mm256_mask_sub_epi8(lo, (__mmask32)~high_bits(b->qh), lo,
                                _mm256_set1_epi8(16));
}
static __m256i weights_q5_1(const block_q5_1 *b) { /* 0..31 */
    __m256i lo = unpack_nibbles(b->qs);
    return _mm256_mask_add_epi8(lo, high_bits(b->qh), lo, _mm256_set1_epi8(16));
}

/* Two 256-bit halves -> one 512-bit register (a low, b high). */
static __m512i join(__m256i a, __m256i b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* Nibbles of two blocks -> 64 bytes 0..15 in element order, block A in
 * the low half. One permute copies each block's 16 bytes into two 128-bit
 * lanes, [A, A, B, B]; a per-lane shift (0 or 4) then exposes the low
 * nibbles (elements 0..15) in the first copy, the high ones in the second. */
static __m512i unpack_nibbles2(const uint8_t *qs_a, const uint8_t *qs_b) {
    __m256i ab = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs_a)),
        _mm_loadu_si128((const __m128i *)qs_b), 1);
    __m512i v = _mm512_permutexvar_epi64(
        _mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(ab));
    v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

/* The fifth bits of two blocks as one 64-bit byte mask. */
static __mmask64 high_bits2(const uint8_t qh_a[4], const uint8_t qh_b[4]) {
    return (__mmask64)high_bits(qh_a) | (__mmask64)high_bits(qh_b) << 32;
}

/* [wa * aa x8, wb * ab x8] from four fp16 scales, converted together. */
static __m512 scales2(lc_fp16 wa, lc_fp16 wb, lc_fp16 aa, lc_fp16 ab) {
    __m128 h = _mm_cvtph_ps(
        _mm_setr_epi16((short)wa, (short)wb, (short)aa, (short)ab, 0, 0, 0, 0));
    __m128 d = _mm_mul_ps(h, _mm_movehl_ps(h, h)); /* [wa*aa, wb*ab, ..] */
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        _mm512_castps128_ps512(d));
}

/* 16 int32 sums of four products each: x and y signed (y != -128). */
static __m512i dot_s8_512(__m512i x, __m512i y) {
    __mmask64 neg = _mm512_movepi8_mask(x);
    __m512i sy = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(x), sy);
}

/* x unsigned (< 128), y signed */
static __m512i dot_u8_512(__m512i x, __m512i y) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, y);
}

static __m256i dot_s8_256(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x, x),
                               _mm256_sign_epi8(y, x));
}

static __m256i dot_u8_256(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), x, y);
}

/* Sum of all lanes of a 512-bit and a 256-bit accumulator. */
static float reduce(__m512 acc, __m256 tail) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(tail),
                          _mm256_extractf128_ps(tail, 1));
    t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    t = _mm_add_ss(t, _mm_movehdup_ps(t));
    return _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(t);
}

/* Product of the two fp16 block scales. */
static float scale(lc_fp16 dw, lc_fp16 da) {
    return _cvtsh_ss(dw) * _cvtsh_ss(da);
}

void vec_dot_q4_0_avx512(int n, float *s, const void *w, const void *a) {
    const block_q4_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    int nb = n / QK8_0, b = 0;
    __m512 acc = _mm512_setzero_ps();
    __m256 tail = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i q = _mm512_sub_epi8(unpack_nibbles2(x[b].qs, x[b + 1].qs),
                                    _mm512_set1_epi8(8));
        __m512i v = join(load_q8(y[b].qs), load_q8(y[b + 1].qs));
        __m512 d = scales2(x[b].d, x[b + 1].d, y[b].d, y[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_s8_512(q, v)), d, acc);
    }
    if (b < nb) {
        __m256i isum = dot_s8_256(weights_q4_0(&x[b]), load_q8(y[b].qs));
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                             _mm256_set1_ps(scale(x[b].d, y[b].d)));
    }
    *s = reduce(acc, tail);
}

void vec_dot_q4_1_avx512(int n, float *s, const void *w, const void *a) {
    const block_q4_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    int nb = n / QK8_1, b = 0;
    __m512 acc = _mm512_setzero_ps();
    __m256 tail = _mm256_setzero_ps();
    float summ = 0.0f; /* sum of m_w * s_a */
    for (; b + 2 <= nb; b += 2) {
        __m512i q = unpack_nibbles2(x[b].qs, x[b + 1].qs);
        __m512i v = join(load_q8(y[b].qs), load_q8(y[b + 1].qs));
        __m512 d = scales2(x[b].d, x[b + 1].d, y[b].d, y[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8_512(q, v)), d, acc);
        summ += scale(x[b].m, y[b].s) + scale(x[b + 1].m, y[b + 1].s);
    }
    if (b < nb) {
        __m256i isum = dot_u8_256(weights_q4_1(&x[b]), load_q8(y[b].qs));
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                             _mm256_set1_ps(scale(x[b].d, y[b].d)));
        summ += scale(x[b].m, y[b].s);
    }
    *s = reduce(acc, tail) + summ;
}

void vec_dot_q5_0_avx512(int n, float *s, const void *w, const void *a) {
    const block_q5_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    int nb = n / QK8_0, b = 0;
    __m512 acc = _mm512_setzero_ps();
    __m256 tail = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i q = unpack_nibbles2(x[b].qs, x[b + 1].qs);
        /* q - 16: subtract 16 where the fifth bit is clear */
        q = _mm512_mask_sub_epi8(q, ~high_bits2(x[b].qh, x[b + 1].qh), q,
                                 _mm512_set1_epi8(16));
        __m512i v = join(load_q8(y[b].qs), load_q8(y[b + 1].qs));
        __m512 d = scales2(x[b].d, x[b + 1].d, y[b].d, y[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_s8_512(q, v)), d, acc);
    }
    if (b < nb) {
        __m256i isum = dot_s8_256(weights_q5_0(&x[b]), load_q8(y[b].qs));
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                             _mm256_set1_ps(scale(x[b].d, y[b].d)));
    }
    *s = reduce(acc, tail);
}

void vec_dot_q5_1_avx512(int n, float *s, const void *w, const void *a) {
    const block_q5_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    int nb = n / QK8_1, b = 0;
    __m512 acc = _mm512_setzero_ps();
    __m256 tail = _mm256_setzero_ps();
    float summ = 0.0f; /* sum of m_w * s_a */
    for (; b + 2 <= nb; b += 2) {
        __m512i q = unpack_nibbles2(x[b].qs, x[b + 1].qs);
        q = _mm512_mask_add_epi8(q, high_bits2(x[b].qh, x[b + 1].qh), q,
                                 _mm512_set1_epi8(16));
        __m512i v = join(load_q8(y[b].qs), load_q8(y[b + 1].qs));
        __m512 d = scales2(x[b].d, x[b + 1].d, y[b].d, y[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8_512(q, v)), d, acc);
        summ += scale(x[b].m, y[b].s) + scale(x[b + 1].m, y[b + 1].s);
    }
    if (b < nb) {
        __m256i isum = dot_u8_256(weights_q5_1(&x[b]), load_q8(y[b].qs));
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                             _mm256_set1_ps(scale(x[b].d, y[b].d)));
        summ += scale(x[b].m, y[b].s);
    }
    *s = reduce(acc, tail) + summ;
}

void vec_dot_q8_0_avx512(int n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    int nb = n / QK8_0, b = 0;
    __m512 acc = _mm512_setzero_ps();
    __m256 tail = _mm256_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i q = join(load_q8(x[b].qs), load_q8(x[b + 1].qs));
        __m512i v = join(load_q8(y[b].qs), load_q8(y[b + 1].qs));
        __m512 d = scales2(x[b].d, x[b + 1].d, y[b].d, y[b + 1].d);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_s8_512(q, v)), d, acc);
    }
    if (b < nb) {
        __m256i isum = dot_s8_256(load_q8(x[b].qs), load_q8(y[b].qs));
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(isum),
                             _mm256_set1_ps(scale(x[b].d, y[b].d)));
    }
    *s = reduce(acc, tail);
}

/* ------------------------------------------------------------ Q8_0 tile */

/* The unroll pragmas keep the per-row and per-pair arrays in registers
 * (see the tiles in quant_k_avx512.c). */

/* [d(a) x8, d(b) x8]: the scales of two blocks over the int32 lanes that
 * hold their products. */
static __m512 block_scales2(lc_fp16 a, lc_fp16 b) {
    __m128 h =
        _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, 0, 0, 0, 0, 0, 0));
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        _mm512_castps128_ps512(h));
}

/* Blocks b and b+1 of a Q8_0 row in one register, or block b alone (upper
 * half zero, scale 0) when it is the last of an odd count. */
static __m512i q8_0_pair(const block_q8_0 *x, int b, bool pair) {
    __m256i lo = load_q8(x[b].qs);
    return pair ? join(lo, load_q8(x[b + 1].qs)) : _mm512_zextsi256_si512(lo);
}
static __m512 q8_0_scales(const block_q8_0 *x, int b, bool pair) {
    return block_scales2(x[b].d, pair ? x[b + 1].d : 0);
}

/* One step of the tile over blocks b, b+1. The activations are made
 * unsigned by flipping their sign bit (a + 128, in 0..255), so a single
 * dpbusd multiplies them with the signed weights, with no per-pair sign
 * fix-up; the 128 * sum(w) this adds is taken back by starting each
 * accumulator at -128 * sum(w) of its lane, computed once per weight
 * register. The int32 sum of each block is the reference's exactly. */
static inline __attribute__((always_inline)) void
q8_0_tile_step(const block_q8_0 *const x[LC_TILE_ROWS],
               const block_q8_0 *const y[LC_TILE_TOKS], int b, bool pair,
               __m512 acc[LC_TILE_ROWS][LC_TILE_TOKS]) {
    const __m512i flip = _mm512_set1_epi8(-128);
    __m512i wq[LC_TILE_ROWS], corr[LC_TILE_ROWS];
    __m512 dw[LC_TILE_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++) {
        wq[r] = q8_0_pair(x[r], b, pair);
        corr[r] = _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wq[r]));
        dw[r] = q8_0_scales(x[r], b, pair);
    }
#pragma GCC unroll 4
    for (int t = 0; t < LC_TILE_TOKS; t++) {
        __m512i au = _mm512_xor_si512(q8_0_pair(y[t], b, pair), flip);
        __m512 da = q8_0_scales(y[t], b, pair);
#pragma GCC unroll 4
        for (int r = 0; r < LC_TILE_ROWS; r++) {
            __m512i isum = _mm512_dpbusd_epi32(corr[r], au, wq[r]);
            acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                                        _mm512_mul_ps(dw[r], da), acc[r][t]);
        }
    }
}

void vec_dot_tile_q8_0_avx512(int n, float *s, size_t s_stride, const void *w,
                              size_t w_stride, const void *a, size_t a_stride) {
    const block_q8_0 *x[LC_TILE_ROWS]; /* each [n / 32] */
    const block_q8_0 *y[LC_TILE_TOKS]; /* each [n / 32] */
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
        x[r] = (const block_q8_0 *)((const char *)w + (size_t)r * w_stride);
#pragma GCC unroll 4
    for (int t = 0; t < LC_TILE_TOKS; t++)
        y[t] = (const block_q8_0 *)((const char *)a + (size_t)t * a_stride);
    __m512 acc[LC_TILE_ROWS][LC_TILE_TOKS];
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
#pragma GCC unroll 4
        for (int t = 0; t < LC_TILE_TOKS; t++) acc[r][t] = _mm512_setzero_ps();
    int nb = n / QK8_0, b = 0;
    for (; b + 2 <= nb; b += 2) q8_0_tile_step(x, y, b, true, acc);
    if (b < nb) q8_0_tile_step(x, y, b, false, acc);
#pragma GCC unroll 4
    for (int r = 0; r < LC_TILE_ROWS; r++)
#pragma GCC unroll 4
        for (int t = 0; t < LC_TILE_TOKS; t++)
            s[(size_t)t * s_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

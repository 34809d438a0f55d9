/*
 * AVX-512 (F, BW, DQ, VL, VNNI) dot products of K-quant weight rows with Q8_K
 * activation rows.
 *
 * Compiled with -mavx512f/bw/dq/vl/vnni, AVX2, FMA and F16C (the compiler
 * may emit any of them), so it is called only after the CPU check for all
 * five AVX-512 features. One 512-bit register holds
 * 64 consecutive elements of a block. Weight quants are unpacked to
 * unsigned bytes; _mm512_maddubs_epi16 multiplies them with the int8
 * activations (adjacent pairs summed to int16, no saturation: at most
 * 2 × 63 × 128), and the VNNI instruction _mm512_dpwssd_epi32 multiplies
 * those int16 pair sums by the sub-block scales and accumulates in int32 in
 * one step. So each block's integer sum is exactly the one the scalar
 * `*_ref` kernel computes; only the float additions are ordered
 * differently.
 *
 * Unpacking 64 elements from 32 bytes of packed bits: the 32 bytes are
 * broadcast to both 256-bit halves, and _mm512_srlv_epi64 shifts each half
 * by its own amount, so one shift + mask yields two bit fields at once.
 * Bits that cross byte boundaries in the 64-bit shifts are masked off.
 */
#include <immintrin.h>
#include <string.h>

#include "quant.h"

/* --------------------------------------------------------- helpers */

static inline float fp16_to_fp32(lc_fp16 h) {
    return _cvtsh_ss(h);
}

static inline float hsum_ps_256(__m256 v) {
    __m128 s =
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 bytes at p in both halves of a 512-bit register. */
static inline __m512i load_32_twice(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

/* Shift counts per 64-bit lane: lo for the lower 256 bits, hi for the
 * upper 256. */
static inline __m512i shifts_lo_hi(long long lo, long long hi) {
    return _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo);
}

/* Scales of four sub-blocks of 16 as 32 int16 lanes: the 128-bit lane t
 * (8 int16 = the pair sums of 16 elements) holds sc[first + t].
 * sc16: 16 int8 scales. */
static inline __m512i scale_quad_16(__m128i sc16, int first) {
    const long long rep = 0x0101010101010101LL;
    __m256i both = _mm256_broadcastsi128_si256(sc16);
    __m256i mask = _mm256_set_epi64x(rep * (first + 3), rep * (first + 2),
                                     rep * (first + 1), rep * first);
    return _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(both, mask));
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

/* Scales of sub-blocks k and k+1 (of 32) as 32 int16 lanes: lower 16 lanes
 * word k, upper 16 lanes word k+1 of sc16x4 (eight int16 repeated in every
 * 128-bit lane). */
static inline __m512i scale_pair_32(__m512i sc16x4, int k) {
    short lo = (short)(0x0100 + 0x0202 * k), hi = (short)(lo + 0x0202);
    __m512i mask =
        _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1);
    return _mm512_shuffle_epi8(sc16x4, mask);
}

/* The 8 mins (bytes 8..15 of scales_mins) as 16 int16, each twice: mins
 * of sub-blocks of 32 lined up with the bsums of 16. */
static inline __m256i mins_spread(__m128i scales_mins) {
    __m128i m16 =
        _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scales_mins, scales_mins));
    return _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16),
                            _mm_unpacklo_epi16(m16, m16));
}

/* mn[j] * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes; mm from
 * mins_spread. */
static inline __m256i mins_times_bsums(__m256i mm, const int16_t *bsums) {
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm256_madd_epi16(b, mm);
}

/* sum_k sc[k] * bsums[k] over 16 sub-blocks of 16, as 16 int32 lanes
 * (upper 8 zero) ready to combine with a block's 512-bit int32 sums. */
static inline __m512i scales_times_bsums(__m128i sc16, const int16_t *bsums) {
    __m256i b = _mm256_loadu_si256((const __m256i *)bsums);
    __m256i p = _mm256_madd_epi16(b, _mm256_cvtepi8_epi16(sc16));
    return _mm512_zextsi256_si512(p);
}

/* ------------------------------------------------------------ Q4_K */

void vec_dot_q4_K_avx512(int n, float *s, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* lower half: low nibbles (first 32 elements), upper: high nibbles */
    const __m512i nib = shifts_lo_hi(0, 4);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        const __m128i sm = unpack_scales_mins_k4(x[i].scales);
        /* the 8 scales as int16, in every 128-bit lane */
        const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));

        __m256i prod_m = mins_times_bsums(mins_spread(sm), y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            /* elements 64c..64c+63: sub-blocks 2c (lower) and 2c+1 */
            __m512i q = load_32_twice(x[i].qs + 32 * c);
            __m512i u = _mm512_and_si512(_mm512_srlv_epi64(q, nib), m4);
            __m512i av = _mm512_loadu_si512(y[i].qs + 64 * c);
            __m512i p = _mm512_maddubs_epi16(u, av);
            sumi = _mm512_dpwssd_epi32(sumi, p, scale_pair_32(sc16, 2 * c));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q5_K */

void vec_dot_q5_K_avx512(int n, float *s, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i nib = shifts_lo_hi(0, 4);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        const __m128i sm = unpack_scales_mins_k4(x[i].scales);
        /* the 8 scales as int16, in every 128-bit lane */
        const __m512i sc16 = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm));

        __m256i prod_m = mins_times_bsums(mins_spread(sm), y[i].bsums);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        const __m512i qh = load_32_twice(x[i].qh);
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m512i q = load_32_twice(x[i].qs + 32 * c);
            __m512i u = _mm512_and_si512(_mm512_srlv_epi64(q, nib), m4);
            /* fifth bits: bit 2c of qh (lower half), 2c+1 (upper half) */
            __m512i hb = _mm512_and_si512(
                _mm512_srlv_epi64(qh, shifts_lo_hi(2 * c, 2 * c + 1)), one);
            u = _mm512_or_si512(u, _mm512_slli_epi16(hb, 4));
            __m512i av = _mm512_loadu_si512(y[i].qs + 64 * c);
            __m512i p = _mm512_maddubs_epi16(u, av);
            sumi = _mm512_dpwssd_epi32(sumi, p, scale_pair_32(sc16, 2 * c));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q6_K */

void vec_dot_q6_K_avx512(int n, float *s, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    /* qh bits 0-1 (elements 0..31) and 2-3 (32..63) moved to bits 4-5 */
    const __m512i sh_first = shifts_lo_hi(4, 2);
    /* qh bits 4-5 (elements 64..95) and 6-7 (96..127) moved to bits 4-5 */
    const __m512i sh_second = shifts_lo_hi(0, 2);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const __m128i sc16 = _mm_loadu_si128((const __m128i *)x[i].scales);

        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            /* ql[0..63]: low nibbles = elements 0..63 of the half,
             * high nibbles = elements 64..127 */
            __m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
            __m512i qh = load_32_twice(x[i].qh + 32 * h);
            __m512i u0 = _mm512_or_si512(
                _mm512_and_si512(ql, m4),
                _mm512_and_si512(_mm512_sllv_epi64(qh, sh_first), m30));
            __m512i u1 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                _mm512_and_si512(_mm512_srlv_epi64(qh, sh_second), m30));
            const int8_t *q8 = y[i].qs + 128 * h;
            __m512i p0 = _mm512_maddubs_epi16(u0, _mm512_loadu_si512(q8));
            __m512i p1 = _mm512_maddubs_epi16(u1, _mm512_loadu_si512(q8 + 64));
            sumi = _mm512_dpwssd_epi32(sumi, p0, scale_quad_16(sc16, 8 * h));
            sumi =
                _mm512_dpwssd_epi32(sumi, p1, scale_quad_16(sc16, 8 * h + 4));
        }
        /* quants are u - 32: take back 32 * sum_k sc[k] * bsums[k] */
        __m512i off = scales_times_bsums(sc16, y[i].bsums);
        sumi = _mm512_sub_epi32(sumi, _mm512_slli_epi32(off, 5));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ------------------------------------------------------------ Q2_K */

void vec_dot_q2_K_avx512(int n, float *s, const void *w, const void *a) {
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m128i m4x = _mm_set1_epi8(0x0F);
    const __m512i m3 = _mm512_set1_epi8(3);
    /* bits 0-1 / 2-3 give elements 0..63 of a half, bits 4-5 / 6-7 the
     * elements 64..127 */
    const __m512i sh_first = shifts_lo_hi(0, 2);
    const __m512i sh_second = shifts_lo_hi(4, 6);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_m = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float dall = fp16_to_fp32(x[i].d) * y[i].d;
        const float dmin = fp16_to_fp32(x[i].dmin) * y[i].d;
        __m128i raw = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m128i sc16 = _mm_and_si128(raw, m4x);
        __m128i mn16 = _mm_and_si128(_mm_srli_epi16(raw, 4), m4x);

        __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        __m256i prod_m = _mm256_madd_epi16(bs, _mm256_cvtepu8_epi16(mn16));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                _mm256_cvtepi32_ps(prod_m), acc_m);

        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i q = load_32_twice(x[i].qs + 32 * h);
            __m512i u0 = _mm512_and_si512(_mm512_srlv_epi64(q, sh_first), m3);
            __m512i u1 = _mm512_and_si512(_mm512_srlv_epi64(q, sh_second), m3);
            const int8_t *q8 = y[i].qs + 128 * h;
            __m512i p0 = _mm512_maddubs_epi16(u0, _mm512_loadu_si512(q8));
            __m512i p1 = _mm512_maddubs_epi16(u1, _mm512_loadu_si512(q8 + 64));
            sumi = _mm512_dpwssd_epi32(sumi, p0, scale_quad_16(sc16, 8 * h));
            sumi =
                _mm512_dpwssd_epi32(sumi, p1, scale_quad_16(sc16, 8 * h + 4));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dall), _mm512_cvtepi32_ps(sumi),
                              acc);
    }
    *s = _mm512_reduce_add_ps(acc) - hsum_ps_256(acc_m);
}

/* ------------------------------------------------------------ Q3_K */

void vec_dot_q3_K_avx512(int n, float *s, const void *w, const void *a) {
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    const int nb = n / QK_K;
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i one = _mm512_set1_epi8(1);
    const __m512i sh_first = shifts_lo_hi(0, 2);
    const __m512i sh_second = shifts_lo_hi(4, 6);
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const float d = fp16_to_fp32(x[i].d) * y[i].d;
        const __m128i sc16 = unpack_scales_q3_K(x[i].scales);

        const __m512i hm = load_32_twice(x[i].hmask);
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i q = load_32_twice(x[i].qs + 32 * h);
            /* high bit of element 32j + l of half h: bit 4h + j of hmask[l] */
            __m512i h0 = _mm512_and_si512(
                _mm512_srlv_epi64(hm, shifts_lo_hi(4 * h, 4 * h + 1)), one);
            __m512i h1 = _mm512_and_si512(
                _mm512_srlv_epi64(hm, shifts_lo_hi(4 * h + 2, 4 * h + 3)), one);
            __m512i u0 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srlv_epi64(q, sh_first), m3),
                _mm512_slli_epi16(h0, 2));
            __m512i u1 = _mm512_or_si512(
                _mm512_and_si512(_mm512_srlv_epi64(q, sh_second), m3),
                _mm512_slli_epi16(h1, 2));
            const int8_t *q8 = y[i].qs + 128 * h;
            __m512i p0 = _mm512_maddubs_epi16(u0, _mm512_loadu_si512(q8));
            __m512i p1 = _mm512_maddubs_epi16(u1, _mm512_loadu_si512(q8 + 64));
            sumi = _mm512_dpwssd_epi32(sumi, p0, scale_quad_16(sc16, 8 * h));
            sumi =
                _mm512_dpwssd_epi32(sumi, p1, scale_quad_16(sc16, 8 * h + 4));
        }
        /* quants are u - 4: take back 4 * sum_k sc[k] * bsums[k] */
        __m512i off = scales_times_bsums(sc16, y[i].bsums);
        sumi = _mm512_sub_epi32(sumi, _mm512_slli_epi32(off, 2));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* ------------------------------------------------------------ tiles */

/* The tile kernels (lc_vec_dot_tile_fn) follow the single-pair kernels
 * above step for step, with the work split by what it depends on: weight
 * unpacking and scales once per row, activation loads once per token, and
 * only maddubs + dpwssd per (row, token) pair. The int32 sums of a
 * super-block are kept for all pairs in registers (16 of the 32) and turned
 * into floats once per super-block.
 *
 * The per-row and per-pair arrays live in registers only if every loop
 * over rows, tokens and chunks is unrolled, which gcc does not do at -O2 by
 * itself (the arrays then go through the stack, and the tile ran at 0.9x
 * of the per-pair kernels instead of 1.7x): hence the unroll pragmas. */

#define TR LC_TILE_ROWS
#define TT LC_TILE_TOKS

/* Row r of a tile: the tile's first row plus r strides. */
/* One 64-quant chunk of a 4 x 4 tile, the heart of the Q4_K and Q6_K tile
 * kernels: sumi[r][t] += sc[r] * (u[r] . a_t) in 16 int32 lanes, where
 * u[r] holds row r's unsigned quants (0..63) of the chunk, sc[r] their
 * sub-block scales as int16 pairs, and a_t token t's int8 quants at byte
 * offset off of block i. */
static inline void tile_chunk(__m512i sumi[TR][TT], const __m512i u[TR],
                              const __m512i sc[TR],
                              const block_q8_K *const y[TT], int i, int off) {
#pragma GCC unroll 4
    for (int t = 0; t < TT; t++) {
        __m512i av = _mm512_loadu_si512(y[t][i].qs + off);
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++)
            sumi[r][t] = _mm512_dpwssd_epi32(
                sumi[r][t], _mm512_maddubs_epi16(u[r], av), sc[r]);
    }
}

static inline const void *tile_row(const void *p, size_t stride, int r) {
    return (const char *)p + (size_t)r * stride;
}

/* sum_k f[k] * bsums[k] of two rows against one token at once: f2 holds
 * row A's 16 int16 factors (Q4_K: mins_spread, Q6_K: the scales) in the
 * lower 256 bits and row B's in the upper, so one madd with the token's
 * bsums (in both halves) gives 8 int32 partial sums per row. */
static inline __m512i bsums_dot2(__m512i f2, const int16_t *bsums) {
    __m512i b =
        _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)bsums));
    return _mm512_madd_epi16(b, f2);
}

/* Sum of the lower (half 0) or upper (half 1) 8 lanes. */
static inline float hsum_half(__m512 v, int half) {
    return hsum_ps_256(half ? _mm512_extractf32x8_ps(v, 1)
                            : _mm512_castps512_ps256(v));
}

void vec_dot_tile_q4_K_avx512(int n, float *s, size_t s_stride, const void *w,
                              size_t w_stride, const void *a, size_t a_stride) {
    _Static_assert(TR % 2 == 0, "rows go in pairs for the mins");
    const block_q4_K *x[TR]; /* each [n / 256] */
    const block_q8_K *y[TT]; /* each [n / 256] */
#pragma GCC unroll 4
    for (int r = 0; r < TR; r++) x[r] = tile_row(w, w_stride, r);
#pragma GCC unroll 4
    for (int t = 0; t < TT; t++) y[t] = tile_row(a, a_stride, t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i nib = shifts_lo_hi(0, 4);
    /* acc: d * sums per pair; acc_m[p][t]: dmin * mins term of rows 2p
     * (lower 8 lanes) and 2p+1 (upper) with token t, subtracted at the end */
    __m512 acc[TR][TT], acc_m[TR / 2][TT];
#pragma GCC unroll 4
    for (int t = 0; t < TT; t++) {
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++) acc[r][t] = _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int p = 0; p < TR / 2; p++) acc_m[p][t] = _mm512_setzero_ps();
    }
    const int nb = n / QK_K;
    for (int i = 0; i < nb; i++) {
        __m128i sm[TR];
        __m512i sc16[TR];
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++) {
            sm[r] = unpack_scales_mins_k4(x[r][i].scales);
            sc16[r] = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm[r]));
        }
        __m512i sumi[TR][TT];
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < TT; t++) sumi[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            /* elements 64c..64c+63: sub-blocks 2c (lower) and 2c+1 */
            __m512i u[TR], sc[TR];
#pragma GCC unroll 4
            for (int r = 0; r < TR; r++) {
                __m512i q = load_32_twice(x[r][i].qs + 32 * c);
                u[r] = _mm512_and_si512(_mm512_srlv_epi64(q, nib), m4);
                sc[r] = scale_pair_32(sc16[r], 2 * c);
            }
            tile_chunk(sumi, u, sc, y, i, 64 * c);
        }
        __m512 d[TR], dmin2[TR / 2];
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++)
            d[r] = _mm512_set1_ps(fp16_to_fp32(x[r][i].d));
        __m512i mm2[TR / 2];
#pragma GCC unroll 4
        for (int p = 0; p < TR / 2; p++) {
            mm2[p] = _mm512_inserti64x4(
                _mm512_castsi256_si512(mins_spread(sm[2 * p])),
                mins_spread(sm[2 * p + 1]), 1);
            dmin2[p] = _mm512_insertf32x8(
                _mm512_set1_ps(fp16_to_fp32(x[2 * p][i].dmin)),
                _mm256_set1_ps(fp16_to_fp32(x[2 * p + 1][i].dmin)), 1);
        }
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) {
            const __m512 yd = _mm512_set1_ps(y[t][i].d);
#pragma GCC unroll 4
            for (int r = 0; r < TR; r++)
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(d[r], yd),
                                    _mm512_cvtepi32_ps(sumi[r][t]), acc[r][t]);
#pragma GCC unroll 4
            for (int p = 0; p < TR / 2; p++) {
                __m512i pm = bsums_dot2(mm2[p], y[t][i].bsums);
                acc_m[p][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(dmin2[p], yd),
                                    _mm512_cvtepi32_ps(pm), acc_m[p][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < TR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++)
            s[(size_t)t * s_stride + r] = _mm512_reduce_add_ps(acc[r][t]) -
                                          hsum_half(acc_m[r / 2][t], r % 2);
}

void vec_dot_tile_q6_K_avx512(int n, float *s, size_t s_stride, const void *w,
                              size_t w_stride, const void *a, size_t a_stride) {
    const block_q6_K *x[TR]; /* each [n / 256] */
    const block_q8_K *y[TT]; /* each [n / 256] */
#pragma GCC unroll 4
    for (int r = 0; r < TR; r++) x[r] = tile_row(w, w_stride, r);
#pragma GCC unroll 4
    for (int t = 0; t < TT; t++) y[t] = tile_row(a, a_stride, t);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    /* as in vec_dot_q6_K_avx512: the qh bits of the first and second 64
     * elements of a half moved to bits 4-5 */
    const __m512i sh_first = shifts_lo_hi(4, 2);
    const __m512i sh_second = shifts_lo_hi(0, 2);
    __m512 acc[TR][TT];
#pragma GCC unroll 4
    for (int r = 0; r < TR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) acc[r][t] = _mm512_setzero_ps();
    const int nb = n / QK_K;
    for (int i = 0; i < nb; i++) {
        __m128i sc16[TR];
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++)
            sc16[r] = _mm_loadu_si128((const __m128i *)x[r][i].scales);
        __m512i sumi[TR][TT];
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++)
#pragma GCC unroll 4
            for (int t = 0; t < TT; t++) sumi[r][t] = _mm512_setzero_si512();
/* quarter k: elements 64k..64k+63, from half k/2's ql (low nibbles
 * for even k, high for odd) and qh */
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const int h = k / 2;
            __m512i u[TR], sc[TR];
#pragma GCC unroll 4
            for (int r = 0; r < TR; r++) {
                __m512i ql = _mm512_loadu_si512(x[r][i].ql + 64 * h);
                __m512i qh = load_32_twice(x[r][i].qh + 32 * h);
                u[r] = k % 2 == 0
                           ? _mm512_or_si512(
                                 _mm512_and_si512(ql, m4),
                                 _mm512_and_si512(
                                     _mm512_sllv_epi64(qh, sh_first), m30))
                           : _mm512_or_si512(
                                 _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                 _mm512_and_si512(
                                     _mm512_srlv_epi64(qh, sh_second), m30));
                sc[r] = scale_quad_16(sc16[r], 4 * k);
            }
            tile_chunk(sumi, u, sc, y, i, 64 * k);
        }
        /* quants are u - 32: take back 32 * sum_k sc[k] * bsums[k] in the
         * int32 sums, computed for two rows per madd (bsums_dot2): rows 2p
         * and 2p+1 take the lower and upper 8 lanes of it */
        __m512i sc2[TR / 2];
#pragma GCC unroll 4
        for (int p = 0; p < TR / 2; p++)
            sc2[p] = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc16[2 * p])),
                _mm256_cvtepi8_epi16(sc16[2 * p + 1]), 1);
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++) {
#pragma GCC unroll 4
            for (int p = 0; p < TR / 2; p++) {
                __m512i off =
                    _mm512_slli_epi32(bsums_dot2(sc2[p], y[t][i].bsums), 5);
                sumi[2 * p][t] = _mm512_mask_sub_epi32(sumi[2 * p][t], 0x00FF,
                                                       sumi[2 * p][t], off);
                sumi[2 * p + 1][t] = _mm512_mask_sub_epi32(
                    sumi[2 * p + 1][t], 0xFF00, sumi[2 * p + 1][t], off);
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < TR; r++) {
            const __m512 d = _mm512_set1_ps(fp16_to_fp32(x[r][i].d));
#pragma GCC unroll 4
            for (int t = 0; t < TT; t++)
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(y[t][i].d)),
                                    _mm512_cvtepi32_ps(sumi[r][t]), acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < TR; r++)
#pragma GCC unroll 4
        for (int t = 0; t < TT; t++)
            s[(size_t)t * s_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

#undef TR
#undef TT

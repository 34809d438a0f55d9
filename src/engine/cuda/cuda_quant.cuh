/*
 * Dequantization on the device: 8 consecutive weights of a row at a time.
 *
 * Every block type has sub-blocks of 16 or 32 elements that share their
 * scales, so 8 consecutive elements (a "chunk") always share one scale and
 * one minimum: a chunk is the unit of work of the matrix-vector kernels,
 * the embedding lookup and the half-precision tile conversion. Chunk c of a
 * row covers elements 8c .. 8c+7; n_in is a multiple of the block size
 * (32 or 256), hence of 8.
 *
 * The bit layouts are those of quant.h (GGUF/ggml); each function repeats
 * in a line how element e of a block maps to its bits, as the CPU
 * dequantizers in quant_legacy.c / quant_k.c do. The functions are
 * __host__ __device__ so that a host program can compare them with the CPU
 * dequantizers.
 */
#ifndef LC_CUDA_QUANT_CUH
#define LC_CUDA_QUANT_CUH

#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "engine/quant.h"
}

#define LCG_HD __host__ __device__ __forceinline__

/* IEEE half bits -> float. */
LCG_HD float lcg_h2f(lc_fp16 h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    const uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                mant <<= 1;
                e++;
            } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) |
                   ((mant & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

/* bfloat16 bits -> float: the top half of a float. */
LCG_HD float lcg_bf2f(lc_bf16 h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* ------------------------------------------------------- legacy types */

/* Q4_0: element e of a block: nibble (e < 16 ? low : high) of qs[e % 16],
 * x = d * (q - 8). */
LCG_HD void dq8_q4_0(const void *row, int c, float w[8]) {
    const block_q4_0 *b = (const block_q4_0 *)row + c / 4;
    const int e0 = (c % 4) * 8, shift = e0 < 16 ? 0 : 4;
    const float d = lcg_h2f(b->d);
    for (int k = 0; k < 8; k++)
        w[k] = d * (float)(((b->qs[(e0 + k) % 16] >> shift) & 0x0f) - 8);
}

/* Q4_1: as Q4_0 with x = d * q + m. */
LCG_HD void dq8_q4_1(const void *row, int c, float w[8]) {
    const block_q4_1 *b = (const block_q4_1 *)row + c / 4;
    const int e0 = (c % 4) * 8, shift = e0 < 16 ? 0 : 4;
    const float d = lcg_h2f(b->d), m = lcg_h2f(b->m);
    for (int k = 0; k < 8; k++)
        w[k] = d * (float)((b->qs[(e0 + k) % 16] >> shift) & 0x0f) + m;
}

/* qh bytes as the little-endian word they are. */
LCG_HD uint32_t lcg_qh32(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
           (uint32_t)qh[3] << 24;
}

/* Q5_0: low 4 bits as Q4_0, 5th bit of element e = bit e of qh,
 * x = d * (q - 16). */
LCG_HD void dq8_q5_0(const void *row, int c, float w[8]) {
    const block_q5_0 *b = (const block_q5_0 *)row + c / 4;
    const int e0 = (c % 4) * 8, shift = e0 < 16 ? 0 : 4;
    const float d = lcg_h2f(b->d);
    const uint32_t qh = lcg_qh32(b->qh);
    for (int k = 0; k < 8; k++) {
        const int e = e0 + k;
        const int q = ((b->qs[e % 16] >> shift) & 0x0f) | (int)((qh >> e) & 1)
                                                              << 4;
        w[k] = d * (float)(q - 16);
    }
}

/* Q5_1: as Q5_0 with x = d * q + m. */
LCG_HD void dq8_q5_1(const void *row, int c, float w[8]) {
    const block_q5_1 *b = (const block_q5_1 *)row + c / 4;
    const int e0 = (c % 4) * 8, shift = e0 < 16 ? 0 : 4;
    const float d = lcg_h2f(b->d), m = lcg_h2f(b->m);
    const uint32_t qh = lcg_qh32(b->qh);
    for (int k = 0; k < 8; k++) {
        const int e = e0 + k;
        const int q = ((b->qs[e % 16] >> shift) & 0x0f) | (int)((qh >> e) & 1)
                                                              << 4;
        w[k] = d * (float)q + m;
    }
}

/* Q8_0: x = d * qs[e]. */
LCG_HD void dq8_q8_0(const void *row, int c, float w[8]) {
    const block_q8_0 *b = (const block_q8_0 *)row + c / 4;
    const int e0 = (c % 4) * 8;
    const float d = lcg_h2f(b->d);
    for (int k = 0; k < 8; k++) w[k] = d * (float)b->qs[e0 + k];
}

/* ------------------------------------------------------------ K-quants */

/* Q2_K: e = 128 h + 32 j + l: q = bits 2j..2j+1 of qs[32 h + l];
 * s = scales[e / 16]; x = d * (s & 15) * q - dmin * (s >> 4). */
LCG_HD void dq8_q2_K(const void *row, int c, float w[8]) {
    const block_q2_K *b = (const block_q2_K *)row + c / 32;
    const int e0 = (c % 32) * 8;
    const int h = e0 / 128, j = (e0 % 128) / 32, l0 = e0 % 32;
    const uint8_t s = b->scales[e0 / 16];
    const float dl = lcg_h2f(b->d) * (float)(s & 0x0f);
    const float ml = lcg_h2f(b->dmin) * (float)(s >> 4);
    const uint8_t *q = b->qs + 32 * h + l0;
    for (int k = 0; k < 8; k++) w[k] = dl * (float)((q[k] >> (2 * j)) & 3) - ml;
}

/* Q3_K: low 2 bits as Q2_K; the high bit of e = 128 h + 32 j + l is bit
 * 4h + j of hmask[l] and, when clear, subtracts 4. Scale s of sub-block
 * e / 16 is 6 bits: low 4 from scales[s % 8] (low nibble for s < 8, high
 * for s >= 8), high 2 from bits 2*(s/4) of scales[8 + s % 4]; minus 32. */
LCG_HD void dq8_q3_K(const void *row, int c, float w[8]) {
    const block_q3_K *b = (const block_q3_K *)row + c / 32;
    const int e0 = (c % 32) * 8;
    const int h = e0 / 128, j = (e0 % 128) / 32, l0 = e0 % 32;
    const int sb = e0 / 16;
    const int lo = sb < 8 ? (b->scales[sb] & 0x0f) : (b->scales[sb - 8] >> 4);
    const int hi = (b->scales[8 + sb % 4] >> (2 * (sb / 4))) & 3;
    const float dl = lcg_h2f(b->d) * (float)((lo | (hi << 4)) - 32);
    const uint8_t *q = b->qs + 32 * h + l0;
    const uint8_t *hm = b->hmask + l0;
    const uint8_t hbit = (uint8_t)(1u << (4 * h + j));
    for (int k = 0; k < 8; k++) {
        const int v = ((q[k] >> (2 * j)) & 3) - ((hm[k] & hbit) ? 0 : 4);
        w[k] = dl * (float)v;
    }
}

/* Q4_K/Q5_K scales and mins of sub-block sb (0..7), 6 bits each: for
 * sb < 4 the low 6 bits of s[sb] and s[sb + 4]; for sb >= 4 the nibbles of
 * s[sb + 4] with 2 high bits from the top of s[sb - 4] and s[sb]. */
LCG_HD void lcg_scale_min_k4(const uint8_t *s, int sb, float *sc, float *mn) {
    if (sb < 4) {
        *sc = (float)(s[sb] & 63);
        *mn = (float)(s[sb + 4] & 63);
    } else {
        *sc = (float)((s[sb + 4] & 0x0f) | ((s[sb - 4] >> 6) << 4));
        *mn = (float)((s[sb + 4] >> 4) | ((s[sb] >> 6) << 4));
    }
}

/* Q4_K: e = 64 g + l: l < 32 -> low nibble of qs[32 g + l], sub-block
 * 2g; else high nibble of qs[32 g + l - 32], sub-block 2g + 1;
 * x = d * sc * q - dmin * mn. */
LCG_HD void dq8_q4_K(const void *row, int c, float w[8]) {
    const block_q4_K *b = (const block_q4_K *)row + c / 32;
    const int e0 = (c % 32) * 8;
    const int g = e0 / 64, l0 = e0 % 64, sb = e0 / 32;
    float sc, mn;
    lcg_scale_min_k4(b->scales, sb, &sc, &mn);
    const float dl = lcg_h2f(b->d) * sc, ml = lcg_h2f(b->dmin) * mn;
    const uint8_t *q = b->qs + 32 * g + l0 % 32;
    const int shift = l0 < 32 ? 0 : 4;
    for (int k = 0; k < 8; k++)
        w[k] = dl * (float)((q[k] >> shift) & 0x0f) - ml;
}

/* Q5_K: as Q4_K plus a 5th bit: bit 2g of qh[l] for l < 32, bit 2g + 1
 * of qh[l - 32] otherwise. */
LCG_HD void dq8_q5_K(const void *row, int c, float w[8]) {
    const block_q5_K *b = (const block_q5_K *)row + c / 32;
    const int e0 = (c % 32) * 8;
    const int g = e0 / 64, l0 = e0 % 64, sb = e0 / 32;
    float sc, mn;
    lcg_scale_min_k4(b->scales, sb, &sc, &mn);
    const float dl = lcg_h2f(b->d) * sc, ml = lcg_h2f(b->dmin) * mn;
    const uint8_t *q = b->qs + 32 * g + l0 % 32;
    const uint8_t *qh = b->qh + l0 % 32;
    const int shift = l0 < 32 ? 0 : 4, hshift = l0 < 32 ? 2 * g : 2 * g + 1;
    for (int k = 0; k < 8; k++) {
        const int v = ((q[k] >> shift) & 0x0f) | (((qh[k] >> hshift) & 1) << 4);
        w[k] = dl * (float)v - ml;
    }
}

/* Q6_K: e = 128 h + 32 r + l: low 4 bits = nibble (r < 2 ? low : high)
 * of ql[64 h + 32 (r % 2) + l], high 2 bits = bits 2r..2r+1 of
 * qh[32 h + l]; scale scales[8 h + 2 r + l / 16]; x = d * sc * (q - 32). */
LCG_HD void dq8_q6_K(const void *row, int c, float w[8]) {
    const block_q6_K *b = (const block_q6_K *)row + c / 32;
    const int e0 = (c % 32) * 8;
    const int h = e0 / 128, r = (e0 % 128) / 32, l0 = e0 % 32;
    const float dl = lcg_h2f(b->d) * (float)b->scales[8 * h + 2 * r + l0 / 16];
    const uint8_t *ql = b->ql + 64 * h + 32 * (r % 2) + l0;
    const uint8_t *qh = b->qh + 32 * h + l0;
    const int shift = r < 2 ? 0 : 4;
    for (int k = 0; k < 8; k++) {
        const int v =
            ((ql[k] >> shift) & 0x0f) | (((qh[k] >> (2 * r)) & 3) << 4);
        w[k] = dl * (float)(v - 32);
    }
}

/* ------------------------------------------------------------ floats */

LCG_HD void dq8_f32(const void *row, int c, float w[8]) {
    const float *p = (const float *)row + 8 * c;
    for (int k = 0; k < 8; k++) w[k] = p[k];
}

LCG_HD void dq8_f16(const void *row, int c, float w[8]) {
    const lc_fp16 *p = (const lc_fp16 *)row + 8 * c;
    for (int k = 0; k < 8; k++) w[k] = lcg_h2f(p[k]);
}

LCG_HD void dq8_bf16(const void *row, int c, float w[8]) {
    const lc_bf16 *p = (const lc_bf16 *)row + 8 * c;
    for (int k = 0; k < 8; k++) w[k] = lcg_bf2f(p[k]);
}

/* One element of a float-typed row (rows of float types need not be a
 * multiple of 8 long). */
LCG_HD float lcg_float_elem(int type, const void *row, int e) {
    if (type == GGML_TYPE_F32) return ((const float *)row)[e];
    if (type == GGML_TYPE_F16) return lcg_h2f(((const lc_fp16 *)row)[e]);
    return lcg_bf2f(((const lc_bf16 *)row)[e]);
}

/* Dispatch on a compile-time type: DQ8<T>::run(row, c, w). */
template <int T> struct DQ8;
#define LCG_DQ8(T, fn)                                                         \
    template <> struct DQ8<T> {                                                \
        static LCG_HD void run(const void *r, int c, float w[8]) {             \
            fn(r, c, w);                                                       \
        }                                                                      \
    };
LCG_DQ8(GGML_TYPE_F32, dq8_f32)
LCG_DQ8(GGML_TYPE_F16, dq8_f16)
LCG_DQ8(GGML_TYPE_BF16, dq8_bf16)
LCG_DQ8(GGML_TYPE_Q4_0, dq8_q4_0)
LCG_DQ8(GGML_TYPE_Q4_1, dq8_q4_1)
LCG_DQ8(GGML_TYPE_Q5_0, dq8_q5_0)
LCG_DQ8(GGML_TYPE_Q5_1, dq8_q5_1)
LCG_DQ8(GGML_TYPE_Q8_0, dq8_q8_0)
LCG_DQ8(GGML_TYPE_Q2_K, dq8_q2_K)
LCG_DQ8(GGML_TYPE_Q3_K, dq8_q3_K)
LCG_DQ8(GGML_TYPE_Q4_K, dq8_q4_K)
LCG_DQ8(GGML_TYPE_Q5_K, dq8_q5_K)
LCG_DQ8(GGML_TYPE_Q6_K, dq8_q6_K)
#undef LCG_DQ8

/* Calls F::template go<T>(args...) for the quantized type `type`;
 * returns false for a type without a quantized kernel. */
#define LCG_QUANT_TYPES(X)                                                     \
    X(GGML_TYPE_Q4_0)                                                          \
    X(GGML_TYPE_Q4_1)                                                          \
    X(GGML_TYPE_Q5_0)                                                          \
    X(GGML_TYPE_Q5_1)                                                          \
    X(GGML_TYPE_Q8_0)                                                          \
    X(GGML_TYPE_Q2_K)                                                          \
    X(GGML_TYPE_Q3_K)                                                          \
    X(GGML_TYPE_Q4_K)                                                          \
    X(GGML_TYPE_Q5_K)                                                          \
    X(GGML_TYPE_Q6_K)

#endif

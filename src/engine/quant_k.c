/*
 * K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights and the Q8_K activation
 * type. Scalar reference kernels (dequantizers, the Q8_K quantizer and the
 * `*_ref` dot products); the AVX2 / AVX-512 dot products live in
 * quant_k_avx2.c / quant_k_avx512.c and are checked against these.
 *
 * Every K-quant groups QK_K = 256 elements into a super-block with one or
 * two fp16 factors (d, dmin) and small integer scales per sub-block of 16
 * or 32 elements. The layouts are GGUF/ggml's (see quant.h for the
 * structs); the comment above each function says how the bits map to
 * element indices.
 *
 * Dot products follow the order that llama.cpp computes in: all integer
 * products of a super-block are summed exactly in int32 (weight quant ×
 * activation quant × sub-block scale), and only then multiplied by the
 * float factors d_w * d_a. The "min" parts of Q2_K/Q4_K/Q5_K need
 * sum(activation quants) per sub-block, which Q8_K precomputes in bsums.
 *
 * A row of n elements holds n / QK_K blocks; callers guarantee that n is a
 * multiple of QK_K (the GGUF loader rejects K-quant rows that are not).
 */
#include <math.h>
#include <string.h>

#include "quant.h"

_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K layout");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* ------------------------------------------------------------ helpers */

/* Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 puts
 * the integer part in the low mantissa bits. This is the rounding ggml
 * uses when it quantizes activations, so the quants come out identical. */
static int round_nearest_even(float x) {
    float biased = x + 12582912.0f; /* 1.5 * 2^23 */
    int32_t bits;
    memcpy(&bits, &biased, sizeof(bits));
    return (bits & 0x007fffff) - 0x00400000;
}

/* Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins packed in 12 bytes.
 * Sub-blocks 0..3: scale = s[j] & 63, min = s[j+4] & 63.
 * Sub-blocks 4..7: low 4 bits in s[j+4] (scale low nibble, min high
 * nibble), high 2 bits in the top bits of s[j-4] (scale) and s[j] (min). */
static void unpack_scales_mins_k4(const uint8_t s[K_SCALE_SIZE], uint8_t sc[8],
                                  uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        mn[j] = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* Q3_K: 16 six-bit scales in 12 bytes, stored with a +32 bias.
 * Low 4 bits: s[j] low nibble for j < 8, s[j-8] high nibble for j >= 8.
 * High 2 bits: bits 2*(j/4)..+1 of s[8 + j%4]. */
static void unpack_scales_q3_K(const uint8_t s[12], int sc[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (lo | (hi << 4)) - 32;
    }
}

/* ------------------------------------------------------ dequantizers */

/* Q2_K: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4), q in 0..3.
 * Each half of 128 elements uses 32 bytes of qs; element 32*j + l of the
 * half (j = 0..3, l = 0..31) is bits 2j..2j+1 of qs[l]. Sub-block s of 16
 * elements = element index / 16. */
void dequantize_row_q2_K(const void *src, float *dst, int64_t n) {
    const block_q2_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_fp16_to_fp32(b[i].d);
        float dmin = lc_fp16_to_fp32(b[i].dmin);
        float *y = dst + i * QK_K;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b[i].qs + 32 * half;
            for (int j = 0; j < 4; j++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * half + 32 * j + l; /* element in block */
                    uint8_t s = b[i].scales[e / 16];
                    float dl = d * (float)(s & 0x0F);
                    float ml = dmin * (float)(s >> 4);
                    int v = (q[l] >> (2 * j)) & 3;
                    y[e] = dl * (float)v - ml;
                }
            }
        }
    }
}

/* Q3_K: x = d * (sc - 32) * (low2 - (high bit set ? 0 : 4)).
 * low2 is laid out as Q2_K's quants; the high bit of element 32*j + l of
 * half h is bit 4*h + j of hmask[l]. */
void dequantize_row_q3_K(const void *src, float *dst, int64_t n) {
    const block_q3_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_fp16_to_fp32(b[i].d);
        int sc[16];
        unpack_scales_q3_K(b[i].scales, sc);
        float *y = dst + i * QK_K;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b[i].qs + 32 * half;
            for (int j = 0; j < 4; j++) {
                uint8_t hbit = (uint8_t)(1u << (4 * half + j));
                for (int l = 0; l < 32; l++) {
                    int e = 128 * half + 32 * j + l;
                    float dl = d * (float)sc[e / 16];
                    int v = ((q[l] >> (2 * j)) & 3) -
                            ((b[i].hmask[l] & hbit) ? 0 : 4);
                    y[e] = dl * (float)v;
                }
            }
        }
    }
}

/* Q4_K: x = d * sc[s] * q - dmin * mn[s], q in 0..15, sub-blocks of 32.
 * Each 64 elements use 32 bytes of qs: the low nibbles are the first 32
 * elements (sub-block 2c), the high nibbles the next 32 (sub-block 2c+1). */
void dequantize_row_q4_K(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_fp16_to_fp32(b[i].d);
        float dmin = lc_fp16_to_fp32(b[i].dmin);
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(b[i].scales, sc, mn);
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            float d1 = d * (float)sc[2 * c], m1 = dmin * (float)mn[2 * c];
            float d2 = d * (float)sc[2 * c + 1];
            float m2 = dmin * (float)mn[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = d1 * (float)(q[l] & 0x0F) - m1;
                y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
            }
        }
    }
}

/* Q5_K: as Q4_K with a fifth bit: for the 64 elements of chunk c, bit 2c of
 * qh[l] is the high bit of element l, bit 2c+1 that of element 32 + l. */
void dequantize_row_q5_K(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_fp16_to_fp32(b[i].d);
        float dmin = lc_fp16_to_fp32(b[i].dmin);
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(b[i].scales, sc, mn);
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            const uint8_t *qh = b[i].qh;
            float d1 = d * (float)sc[2 * c], m1 = dmin * (float)mn[2 * c];
            float d2 = d * (float)sc[2 * c + 1];
            float m2 = dmin * (float)mn[2 * c + 1];
            for (int l = 0; l < 32; l++) {
                int v1 = (q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4);
                int v2 = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                y[64 * c + l] = d1 * (float)v1 - m1;
                y[64 * c + 32 + l] = d2 * (float)v2 - m2;
            }
        }
    }
}

/* Q6_K: x = d * scales[s] * (q - 32), q in 0..63, sub-blocks of 16.
 * Each half of 128 elements uses 64 bytes of ql and 32 of qh; for l in
 * 0..31 the four elements l, l+32, l+64, l+96 of the half are
 *   low nibble of ql[l],  low nibble of ql[l+32],
 *   high nibble of ql[l], high nibble of ql[l+32],
 * with their 2 high bits in bits 0-1, 2-3, 4-5, 6-7 of qh[l]. */
void dequantize_row_q6_K(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = lc_fp16_to_fp32(b[i].d);
        float *y = dst + i * QK_K;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = b[i].ql + 64 * half;
            const uint8_t *qh = b[i].qh + 32 * half;
            const int8_t *sc = b[i].scales + 8 * half;
            float *yh = y + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yh[l] = d * (float)sc[is + 0] * (float)q1;
                yh[l + 32] = d * (float)sc[is + 2] * (float)q2;
                yh[l + 64] = d * (float)sc[is + 4] * (float)q3;
                yh[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ------------------------------------------------------------- Q8_K */

/* Per block of 256: the element of largest magnitude (with its sign, the
 * first one on ties) maps to -127, so iscale = -127 / max and d = 1 /
 * iscale; quants are rounded ties-to-even and capped at 127. bsums[k] is
 * the sum of quants 16k..16k+15. This is exactly ggml's reference
 * quantizer, which llama.cpp's CPU backend uses on x86. */
void quantize_row_q8_K(const float *src, void *dst, int64_t n) {
    block_q8_K *y = dst;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        const float *x = src + i * QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            memset(y[i].qs, 0, sizeof(y[i].qs));
            memset(y[i].bsums, 0, sizeof(y[i].bsums));
            continue;
        }
        float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = round_nearest_even(iscale * x[j]);
            /* finite input never exceeds ±127 here; the lower clamp only
             * keeps inf/nan input from wrapping */
            v = v > 127 ? 127 : v;
            v = v < -128 ? -128 : v;
            y[i].qs[j] = (int8_t)v;
        }
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * k + l];
            y[i].bsums[k] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void dequantize_row_q8_K(const void *src, float *dst, int64_t n) {
    const block_q8_K *b = src;
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        for (int j = 0; j < QK_K; j++) {
            dst[i * QK_K + j] = b[i].d * (float)b[i].qs[j];
        }
    }
}

/* ------------------------------------------------- reference vec dots */

/* sum over sub-blocks s of 16: (sc[s] & 15) * dot(q, a) - dmin-part with
 * (sc[s] >> 4) * bsums[s]. */
void vec_dot_q2_K_ref(int n, float *s, const void *w, const void *a) {
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    int nb = n / QK_K;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++) {
        int summs = 0; /* sum of min * activation over the block */
        for (int k = 0; k < 16; k++) {
            summs += y[i].bsums[k] * (x[i].scales[k] >> 4);
        }
        int isum = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = x[i].qs + 32 * half;
            const int8_t *q8 = y[i].qs + 128 * half;
            for (int j = 0; j < 4; j++) {
                for (int sub = 0; sub < 2; sub++) {
                    int sumi = 0;
                    for (int l = 16 * sub; l < 16 * sub + 16; l++) {
                        sumi += q8[32 * j + l] * ((q[l] >> (2 * j)) & 3);
                    }
                    int is = 8 * half + 2 * j + sub;
                    isum += (x[i].scales[is] & 0x0F) * sumi;
                }
            }
        }
        float dall = y[i].d * lc_fp16_to_fp32(x[i].d);
        float dmin = y[i].d * lc_fp16_to_fp32(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void vec_dot_q3_K_ref(int n, float *s, const void *w, const void *a) {
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    int nb = n / QK_K;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++) {
        int sc[16];
        unpack_scales_q3_K(x[i].scales, sc);
        int isum = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = x[i].qs + 32 * half;
            const int8_t *q8 = y[i].qs + 128 * half;
            for (int j = 0; j < 4; j++) {
                uint8_t hbit = (uint8_t)(1u << (4 * half + j));
                for (int sub = 0; sub < 2; sub++) {
                    int sumi = 0;
                    for (int l = 16 * sub; l < 16 * sub + 16; l++) {
                        int v = ((q[l] >> (2 * j)) & 3) -
                                ((x[i].hmask[l] & hbit) ? 0 : 4);
                        sumi += q8[32 * j + l] * v;
                    }
                    isum += sc[8 * half + 2 * j + sub] * sumi;
                }
            }
        }
        sumf += lc_fp16_to_fp32(x[i].d) * y[i].d * (float)isum;
    }
    *s = sumf;
}

void vec_dot_q4_K_ref(int n, float *s, const void *w, const void *a) {
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    int nb = n / QK_K;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(x[i].scales, sc, mn);
        /* the min of sub-block j (32 elements) covers bsums 2j and 2j+1 */
        int summs = 0;
        for (int j = 0; j < 8; j++) {
            summs += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        int isum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            const int8_t *q8 = y[i].qs + 64 * c;
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                lo += q8[l] * (q[l] & 0x0F);
                hi += q8[32 + l] * (q[l] >> 4);
            }
            isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
        }
        float d = lc_fp16_to_fp32(x[i].d) * y[i].d;
        float dmin = lc_fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void vec_dot_q5_K_ref(int n, float *s, const void *w, const void *a) {
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    int nb = n / QK_K;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        unpack_scales_mins_k4(x[i].scales, sc, mn);
        int summs = 0;
        for (int j = 0; j < 8; j++) {
            summs += mn[j] * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        int isum = 0;
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = x[i].qs + 32 * c;
            const uint8_t *qh = x[i].qh;
            const int8_t *q8 = y[i].qs + 64 * c;
            int lo = 0, hi = 0;
            for (int l = 0; l < 32; l++) {
                int v1 = (q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4);
                int v2 = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                lo += q8[l] * v1;
                hi += q8[32 + l] * v2;
            }
            isum += sc[2 * c] * lo + sc[2 * c + 1] * hi;
        }
        float d = lc_fp16_to_fp32(x[i].d) * y[i].d;
        float dmin = lc_fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void vec_dot_q6_K_ref(int n, float *s, const void *w, const void *a) {
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    int nb = n / QK_K;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++) {
        /* sub[k] = dot of sub-block k (16 elements) with the activations */
        int sub[16] = {0};
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = x[i].ql + 64 * half;
            const uint8_t *qh = x[i].qh + 32 * half;
            const int8_t *q8 = y[i].qs + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = 8 * half + l / 16;
                int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                sub[is + 0] += q8[l] * q1;
                sub[is + 2] += q8[l + 32] * q2;
                sub[is + 4] += q8[l + 64] * q3;
                sub[is + 6] += q8[l + 96] * q4;
            }
        }
        int isum = 0;
        for (int k = 0; k < 16; k++) isum += x[i].scales[k] * sub[k];
        sumf += lc_fp16_to_fp32(x[i].d) * y[i].d * (float)isum;
    }
    *s = sumf;
}

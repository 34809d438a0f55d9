/*
 * The "legacy" block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32 weights per
 * block, one fp16 scale, optionally an fp16 minimum), their activation
 * partners Q8_0 and Q8_1, scalar versions.
 *
 * Nibble order: in a 4-bit block, byte qs[j] holds element j in its low
 * nibble and element j + 16 in its high nibble. Q5 types keep the 5th bit
 * of element j in bit j of the little-endian 32-bit word qh.
 *
 * A dot product sums integer products per block, exactly, and only then
 * applies the block's float scales (as ggml does):
 *   symmetric types:  sum += d_w * d_a * isum
 *   with a minimum:   sum += d_w * d_a * isum + m_w * s_a,
 * where s_a = d_a * sum(q_a) was stored by the Q8_1 quantizer, because
 * sum_j (d_w q_j + m_w) d_a a_j = d_w d_a sum_j q_j a_j + m_w d_a sum_j a_j.
 */
#include "quant.h"

#include <math.h>

/* qh bytes as the little-endian word they are, on any host */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 |
           (uint32_t)qh[3] << 24;
}

/* ------------------------------------------------------------ to float */

void dequantize_row_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK4_0; b++) {
        float d = lc_fp16_to_fp32(x[b].d);
        float *y = dst + b * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequantize_row_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK4_1; b++) {
        float d = lc_fp16_to_fp32(x[b].d), m = lc_fp16_to_fp32(x[b].m);
        float *y = dst + b * QK4_1;
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[b].qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

void dequantize_row_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK5_0; b++) {
        float d = lc_fp16_to_fp32(x[b].d);
        uint32_t qh = load_qh(x[b].qh);
        float *y = dst + b * QK5_0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + 16] = (float)(hi - 16) * d;
        }
    }
}

void dequantize_row_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK5_1; b++) {
        float d = lc_fp16_to_fp32(x[b].d), m = lc_fp16_to_fp32(x[b].m);
        uint32_t qh = load_qh(x[b].qh);
        float *y = dst + b * QK5_1;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + 16] = (float)hi * d + m;
        }
    }
}

void dequantize_row_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        float d = lc_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QK8_0; j++)
            dst[b * QK8_0 + j] = (float)x[b].qs[j] * d;
    }
}

void dequantize_row_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *x = src; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_1; b++) {
        float d = lc_fp16_to_fp32(x[b].d);
        for (int j = 0; j < QK8_1; j++)
            dst[b * QK8_1 + j] = (float)x[b].qs[j] * d;
    }
}

/* ------------------------------------------------- activation quantizers */

/* roundf(v) (halves away from zero) for |v| <= 127, without the libm call
 * that took a third of the activation quantization time in prompt
 * processing. Exact: q = trunc(v) and v - q is computed without rounding
 * (q is 0, or within a factor 2 of v). */
static int round_q8(float v) {
    int q = (int)v;
    float frac = v - (float)q;
    return q + (frac >= 0.5f) - (frac <= -0.5f);
}

/* 32 floats -> 32 int8 with d = amax / 127; returns d and the sum of q. */
static float quantize_block_q8(const float *x, int8_t *qs, int *sum) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float v = fabsf(x[j]);
        if (v > amax) amax = v;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        qs[j] = (int8_t)round_q8(x[j] * id); /* |x * id| <= 127 */
        s += qs[j];
    }
    *sum = s;
    return d;
}

void quantize_row_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *y = dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int sum;
        float d = quantize_block_q8(src + b * QK8_0, y[b].qs, &sum);
        y[b].d = lc_fp32_to_fp16(d);
    }
}

void quantize_row_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *y = dst; /* [n / 32] */
    for (int64_t b = 0; b < n / QK8_1; b++) {
        int sum;
        float d = quantize_block_q8(src + b * QK8_1, y[b].qs, &sum);
        y[b].d = lc_fp32_to_fp16(d);
        y[b].s = lc_fp32_to_fp16(d * (float)sum);
    }
}

/* -------------------------------------------------------- dot products */

void vec_dot_q4_0_ref(int n, float *s, const void *w, const void *a) {
    const block_q4_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_0; b++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((x[b].qs[j] & 0x0f) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
        }
        sum += (float)isum * lc_fp16_to_fp32(x[b].d) * lc_fp16_to_fp32(y[b].d);
    }
    *s = sum;
}

void vec_dot_q4_1_ref(int n, float *s, const void *w, const void *a) {
    const block_q4_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_1; b++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[b].qs[j] & 0x0f) * y[b].qs[j];
            isum += (x[b].qs[j] >> 4) * y[b].qs[j + 16];
        }
        sum += (float)isum * lc_fp16_to_fp32(x[b].d) * lc_fp16_to_fp32(y[b].d) +
               lc_fp16_to_fp32(x[b].m) * lc_fp16_to_fp32(y[b].s);
    }
    *s = sum;
}

void vec_dot_q5_0_ref(int n, float *s, const void *w, const void *a) {
    const block_q5_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_0; b++) {
        uint32_t qh = load_qh(x[b].qh);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += (lo - 16) * y[b].qs[j] + (hi - 16) * y[b].qs[j + 16];
        }
        sum += (float)isum * lc_fp16_to_fp32(x[b].d) * lc_fp16_to_fp32(y[b].d);
    }
    *s = sum;
}

void vec_dot_q5_1_ref(int n, float *s, const void *w, const void *a) {
    const block_q5_1 *x = w; /* [n / 32] */
    const block_q8_1 *y = a; /* [n / 32] */
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_1; b++) {
        uint32_t qh = load_qh(x[b].qh);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (x[b].qs[j] & 0x0f) | (int)((qh >> j) & 1) << 4;
            int hi = (x[b].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += lo * y[b].qs[j] + hi * y[b].qs[j + 16];
        }
        sum += (float)isum * lc_fp16_to_fp32(x[b].d) * lc_fp16_to_fp32(y[b].d) +
               lc_fp16_to_fp32(x[b].m) * lc_fp16_to_fp32(y[b].s);
    }
    *s = sum;
}

void vec_dot_q8_0_ref(int n, float *s, const void *w, const void *a) {
    const block_q8_0 *x = w; /* [n / 32] */
    const block_q8_0 *y = a; /* [n / 32] */
    float sum = 0.0f;
    for (int b = 0; b < n / QK8_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += x[b].qs[j] * y[b].qs[j];
        sum += (float)isum * lc_fp16_to_fp32(x[b].d) * lc_fp16_to_fp32(y[b].d);
    }
    *s = sum;
}

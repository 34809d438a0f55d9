/*
 * The shared op set (see ops.h). Plain loops over float rows.
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

void lc_rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    /* The sum of squares is accumulated in double, as ggml does, so that long
     * rows (n_embd of several thousand) lose no precision. */
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w) {
        for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    } else {
        for (int i = 0; i < n; i++) out[i] = x[i] * scale;
    }
}

void lc_layernorm(float *out, const float *x, const float *w, const float *b,
                  int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += x[i];
    const float mean = (float)(sum / n);
    double var = 0.0;
    for (int i = 0; i < n; i++) {
        const float d = x[i] - mean;
        var += (double)(d * d);
    }
    const float scale = 1.0f / sqrtf((float)(var / n) + eps);
    for (int i = 0; i < n; i++) {
        float y = (x[i] - mean) * scale;
        if (w) y *= w[i];
        if (b) y += b[i];
        out[i] = y;
    }
}

void lc_rope_angles(float *cs, int n_rot, int pos, float freq_base,
                    float freq_scale) {
    /* theta_i = pos * base^(-2i/n_rot), built by repeated multiplication in
     * float as ggml-cpu does: the last bits of the angle then match, which
     * matters at large positions where sin/cos amplify angle errors. */
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float t = freq_scale * theta;
        cs[2 * i + 0] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void lc_rope(float *x, int n_head, int head_dim, int n_rot, const float *cs,
             enum lc_rope_type type) {
    const int half = n_rot / 2;
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim; /* [head_dim] */
        for (int i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            /* NORM rotates neighbours; NEOX (GPT-NeoX layout) rotates element
             * i with element i + n_rot/2. Dims past n_rot stay as they are. */
            const int a = type == LC_ROPE_NEOX ? i : 2 * i;
            const int b = type == LC_ROPE_NEOX ? i + half : 2 * i + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void lc_softmax(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

float lc_silu(float x) {
    return x / (1.0f + expf(-x));
}

float lc_gelu(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f;
    const float coef_a = 0.044715f;
    return 0.5f * x *
           (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

/* gelu_table[h] = fp16(gelu(h)) for every fp16 bit pattern h: ggml-cpu's
 * table, and the reason lc_gelu_fp16 rounds input and output to fp16.
 * Evaluating tanhf per element was a quarter of an encoder's time (bert's
 * FFN runs GELU on n_ff values per token); the table is 128 KiB, filled
 * once on first use. It is a pure function of its index, so sharing it
 * between contexts and threads is safe. */
static lc_fp16 gelu_table[1 << 16];
static pthread_once_t gelu_table_once = PTHREAD_ONCE_INIT;

static void gelu_table_fill(void) {
    for (uint32_t h = 0; h < (1u << 16); h++)
        gelu_table[h] = lc_fp32_to_fp16(lc_gelu(lc_fp16_to_fp32((lc_fp16)h)));
}

/* One value, the table already filled. Outside (-10, 10) ggml returns 0 or
 * x unchanged. */
static float gelu_lookup(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return lc_fp16_to_fp32(gelu_table[lc_fp32_to_fp16(x)]);
}

float lc_gelu_fp16(float x) {
    pthread_once(&gelu_table_once, gelu_table_fill);
    return gelu_lookup(x);
}

void lc_gelu_fp16_row(float *out, const float *x, int n) {
    pthread_once(&gelu_table_once, gelu_table_fill);
    for (int i = 0; i < n; i++) out[i] = gelu_lookup(x[i]);
}

void lc_swiglu(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) out[i] = lc_silu(gate[i]) * up[i];
}

void lc_geglu(float *out, const float *gate, const float *up, int n) {
    pthread_once(&gelu_table_once, gelu_table_fill);
    for (int i = 0; i < n; i++) out[i] = gelu_lookup(gate[i]) * up[i];
}

void lc_vec_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}

void lc_vec_scale(float *x, float s, int n) {
    for (int i = 0; i < n; i++) x[i] *= s;
}

void lc_softcap(float *x, float cap, int n) {
    for (int i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

void lc_attention_head(float *out, const float *q, const float *k,
                       int64_t k_stride, const float *vt, int64_t vt_stride,
                       int head_dim, int j0, int j1, float scale, float *scores,
                       lc_dot_f32 dot) {
    /* scores[j0..j1] = scale * q·k_j */
    for (int j = j0; j <= j1; j++) {
        float s;
        dot(head_dim, &s, k + (int64_t)j * k_stride, q);
        scores[j] = s * scale;
    }
    const int n = j1 - j0 + 1;
    lc_softmax(scores + j0, n);
    /* out[d] = sum_j p_j * v_j[d]: with V transposed each output element is
     * one contiguous dot product over the positions. */
    for (int d = 0; d < head_dim; d++) {
        dot(n, &out[d], vt + (int64_t)d * vt_stride + j0, scores + j0);
    }
}

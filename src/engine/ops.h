/*
 * The shared op set of the forward passes: normalisation, rotary position
 * embedding, activations, softmax and single-head attention.
 *
 * Every op works on plain float arrays, one row (one token, or one head of
 * one token) at a time; the forward pass loops over rows and splits them
 * across threads. Weight products are not here: they go through lc_matmul.
 * Where llama.cpp's CPU backend rounds in a particular way (the fp16 GELU
 * table, the RoPE angle recurrence) the op does the same, so that our logits
 * land within the fixtures' tolerances.
 */
#ifndef LC_ENGINE_OPS_H
#define LC_ENGINE_OPS_H

#include <stdint.h>

#include "model.h"
#include "quant.h"

/* out[n] = x[n] / rms(x) * w[n]   (w may be NULL: no weight).
 * out may alias x. */
void lc_rmsnorm(float *out, const float *x, const float *w, int n, float eps);

/* out[n] = (x - mean) / sqrt(var + eps) * w + b   (w, b may be NULL). */
void lc_layernorm(float *out, const float *x, const float *w, const float *b,
                  int n, float eps);

/* RoPE angles of one position: cs[n_rot/2][2] = {cos, sin} of
 * pos * freq_scale * freq_base^(-2i/n_rot). */
void lc_rope_angles(float *cs, int n_rot, int pos, float freq_base,
                    float freq_scale);

/* Rotates the first n_rot dims of each of n_head heads of x
 * ([n_head][head_dim], in place) by the angles cs[n_rot/2][2]. NORM pairs
 * (x[2i], x[2i+1]); NEOX pairs (x[i], x[i + n_rot/2]). */
void lc_rope(float *x, int n_head, int head_dim, int n_rot, const float *cs,
             enum lc_rope_type type);

/* In place: x = softmax(x) over n elements. */
void lc_softmax(float *x, int n);

float lc_silu(float x);
/* tanh approximation of GELU, in float. */
float lc_gelu(float x);
/* GELU as ggml-cpu evaluates it: through an fp16 table (input and output
 * rounded to fp16) for |x| < 10, identity / zero outside. */
float lc_gelu_fp16(float x);
/* out[n] = lc_gelu_fp16(x[n]); may alias. */
void lc_gelu_fp16_row(float *out, const float *x, int n);

/* out[n] = silu(gate) * up   (SwiGLU); out may alias gate or up. */
void lc_swiglu(float *out, const float *gate, const float *up, int n);
/* out[n] = gelu(gate) * up   (GeGLU, fp16-table GELU); may alias. */
void lc_geglu(float *out, const float *gate, const float *up, int n);

/* y[n] += x[n] */
void lc_vec_add(float *y, const float *x, int n);
/* x[n] *= s */
void lc_vec_scale(float *x, float s, int n);
/* x[n] = cap * tanh(x / cap) */
void lc_softcap(float *x, float cap, int n);

/* Attention of one query head over keys/values j in [j0, j1]:
 *   out[d] = sum_j softmax_j(scale * q·k_j) * v_j[d]
 *   q:   [head_dim]
 *   k:   key j at k + j * k_stride, [head_dim] each
 *   vt:  value dim d of key j at vt[d * vt_stride + j] (values transposed,
 *        so that the weighted sum is a dot product along j)
 *   scores: scratch, at least j1 + 1 floats
 *   dot: the F32 dot kernel (lc_dot_f32, model.h)
 *   out: [head_dim] */
void lc_attention_head(float *out, const float *q, const float *k,
                       int64_t k_stride, const float *vt, int64_t vt_stride,
                       int head_dim, int j0, int j1, float scale, float *scores,
                       lc_dot_f32 dot);

#endif

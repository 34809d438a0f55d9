/*
 * Matrix products of stored weights with float activations, on the pool.
 *
 *   out[t][r] = sum_k W[r][k] * x[t][k]
 *   W:   [n_out][n_in]  rows in the weight's ggml type (row-major, as stored)
 *   x:   [n_tok][n_in]  float32
 *   out: [n_tok][n_out] float32
 *
 * The activations are first converted to the weight type's vec_dot_type
 * (quantized to Q8_0/Q8_1/Q8_K or rounded to F16/BF16), then the rows are
 * split across threads and tiled over tokens so that each weight block read
 * from memory is used for many tokens.
 */
#ifndef LC_ENGINE_CPU_MATMUL_H
#define LC_ENGINE_CPU_MATMUL_H

#include <stddef.h>

#include "../quant.h"
#include "threadpool.h"

/* Scratch memory for converted activations, grown on demand, owned by the
 * caller (one per context). */
typedef struct lc_matmul_scratch {
    void *buf;
    size_t size;
} lc_matmul_scratch;

/* Returns 0, or -1 when scratch memory cannot be allocated. */
int lc_matmul(lc_threadpool *tp, lc_matmul_scratch *scratch, float *out,
              const void *w, enum ggml_type w_type, int n_in, int n_out,
              const float *x, int n_tok);

void lc_matmul_scratch_free(lc_matmul_scratch *scratch);

#endif

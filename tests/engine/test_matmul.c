/*
 * lc_matmul against a naive float64 loop, for every weight type the engine
 * computes with, many shapes, 1-4 threads and n_tok 1..37 (both the
 * token-generation split and the tiled prompt path, with partial tiles).
 *
 * The naive loop dequantizes the weights and the activations as converted
 * to the weight's vec_dot_type, so the only differences left are summation
 * order and Q8_1's fp16-rounded block sums: a tolerance relative to
 * sum |w_k * a_k| covers both.
 */
#include "testutil.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/matmul.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd() & 0xffffff) / (float)0x1000000;
}

/* n_out rows of n_in weights in type t: random floats for float types,
 * random bytes with small fp16 scales for block types. */
static void *make_weights(enum ggml_type t, int n_out, int n_in) {
    const type_traits *tt = ggml_get_type_traits(t);
    size_t row = ggml_row_size(t, n_in), size = row * (size_t)n_out;
    unsigned char *w = malloc(size ? size : 1);
    assert_non_null(w);
    if (!tt->is_quantized) {
        float *tmp = malloc(sizeof(float) * (size_t)n_in);
        for (int r = 0; r < n_out; r++) {
            for (int k = 0; k < n_in; k++) tmp[k] = rnd_uniform(-1, 1);
            if (t == GGML_TYPE_F32) memcpy(w + r * row, tmp, row);
            if (t == GGML_TYPE_F16) convert_row_f16(tmp, w + r * row, n_in);
            if (t == GGML_TYPE_BF16) convert_row_bf16(tmp, w + r * row, n_in);
        }
        free(tmp);
        return w;
    }
    for (size_t i = 0; i < size; i++) w[i] = (unsigned char)rnd();
    size_t off[2];
    int n_off = lc_test_scale_offsets(t, off);
    for (size_t b = 0; b < size / tt->type_size; b++)
        for (int f = 0; f < n_off; f++) {
            float v =
                f == 0 ? rnd_uniform(0.01f, 0.1f) : rnd_uniform(-0.1f, 0.1f);
            lc_fp16 h = lc_fp32_to_fp16(v);
            memcpy(w + b * tt->type_size + off[f], &h, sizeof h);
        }
    return w;
}

/* Checks lc_matmul on one shape against the float64 loop. */
static void check_matmul(lc_threadpool *tp, lc_matmul_scratch *scratch,
                         enum ggml_type t, const void *w, int n_in, int n_out,
                         int n_tok) {
    const type_traits *tt = ggml_get_type_traits(t);
    const type_traits *at = ggml_get_type_traits(tt->vec_dot_type);
    float *x = malloc(sizeof(float) * (size_t)n_in * n_tok); /* [n_tok][n_in] */
    float *out =
        malloc(sizeof(float) * (size_t)n_out * n_tok); /* [n_tok][n_out] */
    float *wf =
        malloc(sizeof(float) * (size_t)n_in * n_out); /* [n_out][n_in] */
    float *af = malloc(sizeof(float) * (size_t)n_in);
    void *abuf = malloc(ggml_row_size(tt->vec_dot_type, n_in));
    for (int i = 0; i < n_in * n_tok; i++) x[i] = rnd_uniform(-1, 1);
    for (int i = 0; i < n_out * n_tok; i++) out[i] = NAN;
    size_t row = ggml_row_size(t, n_in);
    for (int r = 0; r < n_out; r++)
        tt->to_float((const char *)w + r * row, wf + (size_t)r * n_in, n_in);

    assert_int_equal(lc_matmul(tp, scratch, out, w, t, n_in, n_out, x, n_tok),
                     0);

    for (int tok = 0; tok < n_tok; tok++) {
        at->from_float(x + (size_t)tok * n_in, abuf, n_in);
        at->to_float(abuf, af, n_in);
        for (int r = 0; r < n_out; r++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < n_in; k++) {
                double p = (double)wf[(size_t)r * n_in + k] * af[k];
                ref += p;
                mag += fabs(p);
            }
            double got = out[(size_t)tok * n_out + r];
            if (!(fabs(got - ref) <= 1e-3 * mag + 1e-6)) {
                print_error("%s n_in=%d n_out=%d n_tok=%d nth=%d: out[%d][%d]"
                            " = %.7g, expected %.7g (mag %.3g)\n",
                            tt->name, n_in, n_out, n_tok,
                            lc_threadpool_size(tp), tok, r, got, ref, mag);
                fail();
            }
        }
    }
    free(x);
    free(out);
    free(wf);
    free(af);
    free(abuf);
}

static bool usable(enum ggml_type t) {
    const type_traits *tt = ggml_get_type_traits(t);
    return tt && tt->vec_dot;
}

static const enum ggml_type weight_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,
    GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
    GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
    GGML_TYPE_Q6_K,
};
#define N_TYPES (int)(sizeof weight_types / sizeof weight_types[0])

/* Every type, n_tok 1..37, 1-4 threads, on a 256-wide matrix with an odd
 * number of rows (partial row tiles and uneven thread shares). */
static void test_all_types_tokens_threads(void **state) {
    (void)state;
    lc_matmul_scratch scratch = {0};
    for (int nth = 1; nth <= 4; nth++) {
        lc_threadpool *tp = lc_threadpool_new(nth);
        assert_non_null(tp);
        for (int i = 0; i < N_TYPES; i++) {
            enum ggml_type t = weight_types[i];
            if (!usable(t)) {
                print_message("skip: %s has no kernel yet\n",
                              ggml_type_name(t));
                continue;
            }
            const int n_in = 256, n_out = 37;
            void *w = make_weights(t, n_out, n_in);
            for (int n_tok = 1; n_tok <= 37; n_tok++)
                check_matmul(tp, &scratch, t, w, n_in, n_out, n_tok);
            free(w);
        }
        lc_threadpool_free(tp);
    }
    lc_matmul_scratch_free(&scratch);
}

/* Other widths: small and large rows, fewer rows than threads, odd float
 * widths that leave SIMD remainders. */
static void test_shapes(void **state) {
    (void)state;
    lc_matmul_scratch scratch = {0};
    lc_threadpool *tp = lc_threadpool_new(3);
    assert_non_null(tp);
    static const int shapes[][2] = {
        {32, 1},   {32, 2}, {64, 3}, {96, 16}, {512, 17}, {768, 40},
        {2048, 9}, {7, 5},  {33, 4}, {1, 3},   {79, 8},
    };
    static const int toks[] = {1, 2, 8, 9, 16, 17};
    for (int i = 0; i < N_TYPES; i++) {
        enum ggml_type t = weight_types[i];
        if (!usable(t)) continue;
        int blk = ggml_get_type_traits(t)->blck_size;
        int ablk = ggml_get_type_traits(ggml_get_type_traits(t)->vec_dot_type)
                       ->blck_size;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n_in = shapes[s][0], n_out = shapes[s][1];
            if (n_in % blk || n_in % ablk) continue;
            void *w = make_weights(t, n_out, n_in);
            for (size_t k = 0; k < sizeof toks / sizeof toks[0]; k++)
                check_matmul(tp, &scratch, t, w, n_in, n_out, toks[k]);
            free(w);
        }
    }
    lc_threadpool_free(tp);
    lc_matmul_scratch_free(&scratch);
}

/* A NULL pool runs on the calling thread. */
static void test_null_pool(void **state) {
    (void)state;
    lc_matmul_scratch scratch = {0};
    void *w = make_weights(GGML_TYPE_F32, 9, 64);
    check_matmul(NULL, &scratch, GGML_TYPE_F32, w, 64, 9, 3);
    free(w);
    if (usable(GGML_TYPE_Q8_0)) {
        w = make_weights(GGML_TYPE_Q8_0, 9, 64);
        check_matmul(NULL, &scratch, GGML_TYPE_Q8_0, w, 64, 9, 11);
        free(w);
    }
    lc_matmul_scratch_free(&scratch);
}

/* Unsupported types and shapes are refused, not computed. */
static void test_bad_input(void **state) {
    (void)state;
    lc_matmul_scratch scratch = {0};
    float w[64] = {0}, x[64] = {0}, out[4];
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, (enum ggml_type)16, 64, 1, x, 1),
        -1); /* IQ2_XXS: no kernel */
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, GGML_TYPE_Q8_1, 32, 1, x, 1),
        -1); /* activation-only type */
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, (enum ggml_type)99, 32, 1, x, 1), -1);
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, GGML_TYPE_Q8_0, 48, 1, x, 1),
        -1); /* not a whole number of blocks */
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, GGML_TYPE_F32, 0, 1, x, 1), -1);
    assert_int_equal(
        lc_matmul(NULL, &scratch, out, w, GGML_TYPE_F32, 16, 0, x, 1), 0);
    lc_matmul_scratch_free(&scratch);
    lc_matmul_scratch_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types_tokens_threads),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_null_pool),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

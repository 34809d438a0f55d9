/*
 * Tile kernels (lc_vec_dot_tile_fn: LC_TILE_ROWS weight rows x
 * LC_TILE_TOKS activation rows per call) against their reference, the
 * scalar vec_dot_ref applied to every (row, token) pair:
 * - bit for bit when every float factor is 1 and the sums stay below 2^24,
 *   so the integer sum of every block must be the reference's;
 * - within 1e-6 of sum |w_k * a_k| with random factors and full-range
 *   bytes (weights and activations including -128 and 0xFF fills), for
 *   block counts 1, 2, 3, 5 and 16 (odd counts take Q8_0's one-block tail);
 * - F16 (blocks of one element): int8 values times random factors, rounded
 *   to F16, with the largest finite F16 (65504) as the "0xFF" fill, for
 *   element counts around the kernel's 16- and 32-element steps; within
 *   n * FLT_EPSILON of sum |w_k * a_k|, which bounds the difference of any
 *   two orders of n float additions;
 * - rows, tokens and outputs strided inside larger matrices: each output
 *   lands at s[t * s_stride + r] and nothing outside the tile is written;
 * - the dispatch: a tile kernel exactly for F16, Q8_0, Q4_K and Q6_K at the
 *   AVX-512 level, none when LLAMACHAT_SIMD caps the level lower (then
 *   lc_matmul calls vec_dot per pair, as tests/engine/test_matmul.c checks
 *   at whatever level it runs).
 */
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/quant.h"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static bool have_avx512(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

typedef struct tile_type {
    enum ggml_type type;
    lc_vec_dot_tile_fn avx512;
} tile_type;

static const tile_type TILED[] = {
    {GGML_TYPE_Q8_0, vec_dot_tile_q8_0_avx512},
    {GGML_TYPE_Q4_K, vec_dot_tile_q4_K_avx512},
    {GGML_TYPE_Q6_K, vec_dot_tile_q6_K_avx512},
    {GGML_TYPE_F16, vec_dot_tile_f16_avx512},
};
#define N_TILED (sizeof TILED / sizeof TILED[0])

/* How the bytes of a test matrix are chosen. */
enum fill { FILL_RANDOM, FILL_ZEROS, FILL_ONES /* 0xFF */ };

/* Sets the fp16 factors (d, and dmin where the type has one) of every
 * block: 1, or random in [1e-3, 1e-2]. */
static void set_factors(enum ggml_type t, void *rows, size_t bytes, bool unit) {
    const type_traits *tt = ggml_get_type_traits(t);
    size_t off[2];
    int n_off = lc_test_scale_offsets(t, off);
    for (size_t b = 0; b < bytes / tt->type_size; b++)
        for (int f = 0; f < n_off; f++) {
            lc_fp16 h = lc_fp32_to_fp16(
                unit ? 1.0f : lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
            memcpy((char *)rows + b * tt->type_size + off[f], &h, sizeof h);
        }
}

/* One F16 value for `fill`: a random int8 times 1 or a random factor in
 * [1e-3, 1e-2]; FILL_ONES (all bits set would be NaN) gives the largest
 * finite F16. */
static lc_fp16 f16_value(enum fill fill, bool unit) {
    if (fill == FILL_ONES) return lc_fp32_to_fp16(65504.0f);
    if (fill == FILL_ZEROS) return 0;
    float q = (float)(int8_t)lc_test_rng(&rng_state);
    return lc_fp32_to_fp16(
        unit ? q : q * lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
}

/* n_rows weight rows of n elements, row_bytes apart (>= the row size). */
static void *make_weights(enum ggml_type t, int n_rows, int n, size_t row_bytes,
                          enum fill fill, bool unit) {
    size_t size = row_bytes * (size_t)n_rows;
    uint8_t *w = malloc(size);
    assert_non_null(w);
    for (size_t i = 0; i < size; i++)
        w[i] = fill == FILL_RANDOM ? (uint8_t)lc_test_rng(&rng_state)
               : fill == FILL_ONES ? 0xFF
                                   : 0;
    for (int r = 0; r < n_rows; r++) {
        if (t == GGML_TYPE_F16) {
            lc_fp16 *x = (lc_fp16 *)(w + (size_t)r * row_bytes); /* [n] */
            for (int k = 0; k < n; k++) x[k] = f16_value(fill, unit);
        }
        set_factors(t, w + (size_t)r * row_bytes, ggml_row_size(t, n), unit);
    }
    return w;
}

/* A quant uniform in [-qmax, qmax] cut to the int8 range (qmax 128: any
 * int8, -128 included), or `fixed` when qmax is 0. */
static int8_t random_quant(int qmax, int fixed) {
    int q =
        qmax ? (int)(lc_test_rng(&rng_state) % (2u * qmax + 1)) - qmax : fixed;
    return (int8_t)(q > 127 ? 127 : q);
}

/* One activation row of n elements in type at (Q8_0, Q8_K or F16), quants
 * from random_quant (F16: times a random factor unless unit); Q8_K's bsums
 * follow the quants. */
static void fill_activation(enum ggml_type at, void *row, int n, int qmax,
                            int fixed, bool unit) {
    if (at == GGML_TYPE_F16) {
        lc_fp16 *y = row; /* [n] */
        for (int k = 0; k < n; k++) {
            float q = (float)random_quant(qmax, fixed);
            y[k] = lc_fp32_to_fp16(
                unit ? q : q * lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
        }
        return;
    }
    if (at == GGML_TYPE_Q8_0) {
        block_q8_0 *y = row; /* [n / 32] */
        for (int b = 0; b < n / QK8_0; b++) {
            y[b].d = lc_fp32_to_fp16(
                unit ? 1.0f : lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
            for (int j = 0; j < QK8_0; j++)
                y[b].qs[j] = random_quant(qmax, fixed);
        }
        return;
    }
    block_q8_K *y = row; /* [n / 256] */
    for (int b = 0; b < n / QK_K; b++) {
        y[b].d = unit ? 1.0f : lc_test_uniform(&rng_state, 1e-3f, 1e-2f);
        for (int j = 0; j < QK_K; j++) y[b].qs[j] = random_quant(qmax, fixed);
        for (int k = 0; k < QK_K / 16; k++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[b].qs[16 * k + j];
            y[b].bsums[k] = (int16_t)sum;
        }
    }
}

/* sum_k |w_k * a_k| of one pair, from the dequantized rows. */
static double magnitude(enum ggml_type t, const void *w, const void *a, int n) {
    const type_traits *tt = ggml_get_type_traits(t);
    const type_traits *at = ggml_get_type_traits(tt->vec_dot_type);
    float *wf = malloc(sizeof(float) * (size_t)n);
    float *af = malloc(sizeof(float) * (size_t)n);
    assert_non_null(wf);
    assert_non_null(af);
    tt->to_float(w, wf, n);
    at->to_float(a, af, n);
    double mag = 0.0;
    for (int k = 0; k < n; k++) mag += fabs((double)wf[k] * af[k]);
    free(wf);
    free(af);
    return mag;
}

/* One tile of n elements: rows w_gap rows apart inside a matrix, tokens
 * a_gap rows apart, outputs with stride s_stride. Checks every output
 * against vec_dot_ref (exactly when `exact`, else within 1e-6 * magnitude,
 * n * FLT_EPSILON * magnitude for F16) and that no other output element
 * changed. */
static void check_tile(const tile_type *tk, int nb, enum fill wfill, int qmax,
                       int fixed, bool unit, bool exact, int w_gap, int a_gap,
                       size_t s_stride) {
    const type_traits *tt = ggml_get_type_traits(tk->type);
    enum ggml_type at = tt->vec_dot_type;
    const int n = nb * tt->blck_size;
    const size_t w_row = ggml_row_size(tk->type, n) * (size_t)w_gap;
    const size_t a_row = ggml_row_size(at, n) * (size_t)a_gap;
    void *w = make_weights(tk->type, LC_TILE_ROWS, n, w_row, wfill, unit);
    char *a = malloc(a_row * LC_TILE_TOKS);
    assert_non_null(a);
    memset(a, 0x5A, a_row * LC_TILE_TOKS);
    for (int t = 0; t < LC_TILE_TOKS; t++)
        fill_activation(at, a + (size_t)t * a_row, n, qmax, fixed, unit);

    const size_t s_len = s_stride * LC_TILE_TOKS;
    float *s = malloc(sizeof(float) * s_len); /* [LC_TILE_TOKS][s_stride] */
    assert_non_null(s);
    for (size_t i = 0; i < s_len; i++) s[i] = -12345.0f; /* sentinel */
    tk->avx512(n, s, s_stride, w, w_row, a, a_row);

    for (int t = 0; t < LC_TILE_TOKS; t++) {
        for (size_t r = 0; r < s_stride; r++) {
            float got = s[(size_t)t * s_stride + r];
            if (r >= LC_TILE_ROWS) {
                if (got != -12345.0f)
                    fail_msg("%s: s[%d][%zu] outside the tile written",
                             tt->name, t, r);
                continue;
            }
            const char *wr = (const char *)w + r * w_row;
            const char *ar = a + (size_t)t * a_row;
            float want;
            tt->vec_dot_ref(n, &want, wr, ar);
            double rel = tk->type == GGML_TYPE_F16 ? n * FLT_EPSILON : 1e-6;
            double tol = exact ? 0.0 : rel * magnitude(tk->type, wr, ar, n);
            if (!(fabs((double)got - want) <= tol))
                fail_msg("%s nb=%d row %zu tok %d: %.9g, ref %.9g (tol %.3g)",
                         tt->name, nb, r, t, (double)got, (double)want, tol);
        }
    }
    free(w);
    free(a);
    free(s);
}

#define SKIP_WITHOUT_AVX512()                                                  \
    do {                                                                       \
        if (!have_avx512()) {                                                  \
            print_message("skip: CPU has no AVX-512 VNNI\n");                  \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* F16 element counts: below, at and past the kernel's 16-element step and
 * its 32-element loop (masked tails of 1 and 15), and BERT's 768. */
static const int F16_NS[] = {1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 100, 768};
#define N_F16_NS (sizeof F16_NS / sizeof F16_NS[0])

/* Unit factors keep every partial sum an integer below 2^24 (Q8_0 and F16:
 * any int8 over up to 16 blocks or 768 elements; K-quants: activations in
 * [-2, 2]), so the float arithmetic is exact and the tile must equal the
 * reference. */
static void test_exact_integers(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    static const int nbs[] = {1, 2, 3, 4};
    for (size_t k = 0; k < N_TILED; k++) {
        enum ggml_type t = TILED[k].type;
        int qmax = t == GGML_TYPE_Q8_0 || t == GGML_TYPE_F16 ? 128 : 2;
        bool f16 = t == GGML_TYPE_F16;
        size_t count = f16 ? N_F16_NS : sizeof nbs / sizeof nbs[0];
        for (size_t i = 0; i < count; i++)
            for (int rep = 0; rep < 20; rep++)
                check_tile(&TILED[k], f16 ? F16_NS[i] : nbs[i], FILL_RANDOM,
                           qmax, 0, true, true, 1, 1, LC_TILE_ROWS);
    }
}

/* Random factors and full-range bytes, odd and even block counts. */
static void test_random_factors(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    static const int nbs[] = {1, 2, 3, 5, 16};
    for (size_t k = 0; k < N_TILED; k++) {
        bool f16 = TILED[k].type == GGML_TYPE_F16;
        size_t count = f16 ? N_F16_NS : sizeof nbs / sizeof nbs[0];
        for (size_t i = 0; i < count; i++)
            for (int rep = 0; rep < 10; rep++)
                check_tile(&TILED[k], f16 ? F16_NS[i] : nbs[i], FILL_RANDOM,
                           128, 0, false, false, 1, 1, LC_TILE_ROWS);
    }
}

/* The largest products the types allow: weight bytes all 0xFF or all 0
 * (largest / smallest quants and scales, Q6_K's scales -1; F16: 65504)
 * against activations all -128 or all 127; no intermediate may saturate.
 * F16 takes 35 elements: two full steps and a masked tail. */
static void test_extremes(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    static const enum fill fills[] = {FILL_ONES, FILL_ZEROS};
    static const int acts[] = {-128, 127};
    for (size_t k = 0; k < N_TILED; k++) {
        int nb = TILED[k].type == GGML_TYPE_F16 ? 35 : 3;
        for (int f = 0; f < 2; f++)
            for (int v = 0; v < 2; v++)
                check_tile(&TILED[k], nb, fills[f], 0, acts[v], true, false, 1,
                           1, LC_TILE_ROWS);
    }
}

/* Rows and tokens inside larger matrices, outputs inside a wider row
 * (F16: odd element counts, so rows start at any 2-byte offset). */
static void test_strides(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    for (size_t k = 0; k < N_TILED; k++) {
        bool f16 = TILED[k].type == GGML_TYPE_F16;
        check_tile(&TILED[k], f16 ? 37 : 2, FILL_RANDOM, 128, 0, false, false,
                   3, 2, 7);
        check_tile(&TILED[k], f16 ? 51 : 3, FILL_RANDOM, 128, 0, false, false,
                   2, 5, LC_TILE_ROWS + 1);
    }
}

/* Prints the names of the types whose traits carry a tile kernel. */
static void print_tiled_types(void) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const type_traits *tt = ggml_get_type_traits((enum ggml_type)t);
        if (tt && tt->vec_dot_tile) printf("%s ", tt->name);
    }
    printf("\n");
}

/* Tile kernels are chosen at the AVX-512 level only: this program run
 * again under each LLAMACHAT_SIMD cap lists the tiled types. */
static void test_dispatch(void **state) {
    (void)state;
    static const char *levels[] = {"scalar", "avx2", "avx512"};
    char self[256];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = 0;
    for (int i = 0; i < 3; i++) {
        char cmd[512], got[128] = "", level[32] = "";
        snprintf(cmd, sizeof cmd, "LLAMACHAT_SIMD=%s '%s' --tiled-types",
                 levels[i], self);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(level, sizeof level, p));
        assert_non_null(fgets(got, sizeof got, p));
        assert_int_equal(pclose(p), 0);
        level[strcspn(level, "\n")] = 0;
        got[strcspn(got, "\n")] = 0;
        const char *want =
            strcmp(level, "avx512") == 0 ? "F16 Q8_0 Q4_K Q6_K " : "";
        if (strcmp(got, want) != 0)
            fail_msg("LLAMACHAT_SIMD=%s (level %s): tiled \"%s\", want \"%s\"",
                     levels[i], level, got, want);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--tiled-types") == 0) {
        printf("%s\n", lc_simd_level());
        print_tiled_types();
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_integers),
        cmocka_unit_test(test_random_factors),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_strides),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

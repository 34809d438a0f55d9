/*
 * K-quants (Q2_K..Q6_K) and the Q8_K activation type.
 *
 * - quantize_row_q8_K: round-trip error within half a step, the largest
 *   magnitude maps to -127, ties round to even (ggml's rounding), bsums.
 * - every vec_dot_*_ref equals a float64 dot product of the dequantized
 *   weight row and the dequantized activation row;
 * - every AVX2 / AVX-512 kernel equals its reference: exactly when all
 *   float factors are 1 and sums stay below 2^24 (so the integer parts must
 *   agree bit for bit), and to ~1e-6 relative with random factors;
 * - the dequantizers, applied to the K-quant tensors of the oracle's
 *   llama-v512 GGUF files, give back the F32 parent model's weights within
 *   each type's quantization error (a layout mistake gives errors ~1).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/quant.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static float rng_normal(void) {
    float u1 = lc_test_uniform(&rng_state, 1e-7f, 1.0f),
          u2 = lc_test_uniform(&rng_state, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static void fill_random_bytes(void *p, size_t n) {
    uint8_t *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)lc_test_rng(&rng_state);
}

typedef struct ktype {
    const char *name;
    enum ggml_type type;
    size_t block_size;
    void (*dequant)(const void *, float *, int64_t);
    lc_vec_dot_fn ref, avx2, avx512;
} ktype;

static const ktype KTYPES[] = {
    {"Q2_K", GGML_TYPE_Q2_K, sizeof(block_q2_K), dequantize_row_q2_K,
     vec_dot_q2_K_ref, vec_dot_q2_K_avx2, vec_dot_q2_K_avx512},
    {"Q3_K", GGML_TYPE_Q3_K, sizeof(block_q3_K), dequantize_row_q3_K,
     vec_dot_q3_K_ref, vec_dot_q3_K_avx2, vec_dot_q3_K_avx512},
    {"Q4_K", GGML_TYPE_Q4_K, sizeof(block_q4_K), dequantize_row_q4_K,
     vec_dot_q4_K_ref, vec_dot_q4_K_avx2, vec_dot_q4_K_avx512},
    {"Q5_K", GGML_TYPE_Q5_K, sizeof(block_q5_K), dequantize_row_q5_K,
     vec_dot_q5_K_ref, vec_dot_q5_K_avx2, vec_dot_q5_K_avx512},
    {"Q6_K", GGML_TYPE_Q6_K, sizeof(block_q6_K), dequantize_row_q6_K,
     vec_dot_q6_K_ref, vec_dot_q6_K_avx2, vec_dot_q6_K_avx512},
};
#define N_KTYPES (sizeof(KTYPES) / sizeof(KTYPES[0]))

static bool have_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

static bool have_avx512(void) {
    return have_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

/* Offsets of the fp16 factors inside each block type (d, and dmin where the
 * type has one; -1 otherwise). */
static void factor_offsets(enum ggml_type t, long *d_off, long *dmin_off) {
    *dmin_off = -1;
    switch (t) {
    case GGML_TYPE_Q2_K:
        *d_off = (long)offsetof(block_q2_K, d);
        *dmin_off = (long)offsetof(block_q2_K, dmin);
        break;
    case GGML_TYPE_Q3_K:
        *d_off = (long)offsetof(block_q3_K, d);
        break;
    case GGML_TYPE_Q4_K:
        *d_off = (long)offsetof(block_q4_K, d);
        *dmin_off = (long)offsetof(block_q4_K, dmin);
        break;
    case GGML_TYPE_Q5_K:
        *d_off = (long)offsetof(block_q5_K, d);
        *dmin_off = (long)offsetof(block_q5_K, dmin);
        break;
    default:
        *d_off = (long)offsetof(block_q6_K, d);
        break;
    }
}

/* nb random weight blocks; the fp16 factors are random in [1e-3, 1e-2]
 * or exactly 1 when unit_factors. */
static void *random_weights(const ktype *kt, int nb, bool unit_factors) {
    uint8_t *w = malloc(kt->block_size * (size_t)nb);
    assert_non_null(w);
    fill_random_bytes(w, kt->block_size * (size_t)nb);
    long d_off, dmin_off;
    factor_offsets(kt->type, &d_off, &dmin_off);
    for (int i = 0; i < nb; i++) {
        uint8_t *b = w + kt->block_size * (size_t)i;
        lc_fp16 d = lc_fp32_to_fp16(
            unit_factors ? 1.0f : lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
        memcpy(b + d_off, &d, sizeof d);
        if (dmin_off >= 0) {
            lc_fp16 m = lc_fp32_to_fp16(
                unit_factors ? 1.0f
                             : lc_test_uniform(&rng_state, 1e-3f, 1e-2f));
            memcpy(b + dmin_off, &m, sizeof m);
        }
    }
    return w;
}

/* nb Q8_K blocks with quants in [-qmax, qmax] (qmax 128 = the full int8
 * range), correct bsums, and d = 1 or random. */
static block_q8_K *random_q8_K(int nb, int qmax, bool unit_factor) {
    block_q8_K *y = calloc((size_t)nb, sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < nb; i++) {
        y[i].d = unit_factor ? 1.0f : lc_test_uniform(&rng_state, 1e-3f, 2e-2f);
        for (int j = 0; j < QK_K; j++) {
            int v = (int)(lc_test_rng(&rng_state) % (uint64_t)(2 * qmax + 1)) -
                    qmax;
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int k = 0; k < QK_K / 16; k++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * k + l];
            y[i].bsums[k] = (int16_t)s;
        }
    }
    return y;
}

/* float64 dot of dequantized rows; *mag = sum |w_i * a_i| (error scale) */
static double dot_dequantized(const ktype *kt, const void *w,
                              const block_q8_K *a, int n, double *mag) {
    float *wf = malloc(sizeof(float) * (size_t)n);
    float *af = malloc(sizeof(float) * (size_t)n);
    assert_non_null(wf);
    assert_non_null(af);
    kt->dequant(w, wf, n);
    dequantize_row_q8_K(a, af, n);
    double dot = 0, m = 0;
    for (int i = 0; i < n; i++) {
        dot += (double)wf[i] * (double)af[i];
        m += fabs((double)wf[i] * (double)af[i]);
    }
    free(wf);
    free(af);
    *mag = m;
    return dot;
}

/* ------------------------------------------------------------ Q8_K */

static void test_q8_K_round_trip(void **state) {
    (void)state;
    const int nb = 8, n = nb * QK_K;
    float *x = malloc(sizeof(float) * n);
    float *back = malloc(sizeof(float) * n);
    block_q8_K *y = malloc(sizeof(block_q8_K) * nb);
    assert_non_null(x);
    assert_non_null(back);
    assert_non_null(y);
    for (int i = 0; i < nb; i++) {
        float scale = powf(10.0f, (float)(i - 4)); /* 1e-4 .. 1e3 */
        for (int j = 0; j < QK_K; j++) x[i * QK_K + j] = scale * rng_normal();
    }
    /* block 3: largest element positive; block 5: one huge outlier */
    x[3 * QK_K + 17] = 50.0f * 1e-1f;
    x[5 * QK_K + 200] = -1e5f;
    quantize_row_q8_K(x, y, n);
    dequantize_row_q8_K(y, back, n);
    for (int i = 0; i < nb; i++) {
        const float *xb = x + i * QK_K;
        float amax = 0, max = 0;
        int imax = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
                imax = j;
            }
        }
        /* the element of largest magnitude maps to -127, so d has the
         * opposite sign of that element and |d| = amax / 127 */
        assert_int_equal(y[i].qs[imax], -127);
        assert_true(fabsf(fabsf(y[i].d) - amax / 127.0f) <=
                    1e-6f * amax / 127.0f);
        assert_true((y[i].d < 0) == (max > 0));
        for (int j = 0; j < QK_K; j++) {
            assert_true(y[i].qs[j] >= -127 && y[i].qs[j] <= 127);
            float err = fabsf(back[i * QK_K + j] - xb[j]);
            assert_true(err <= 0.5001f * fabsf(y[i].d));
            /* dequantize_row_q8_K is d * q exactly */
            assert_true(back[i * QK_K + j] == y[i].d * (float)y[i].qs[j]);
        }
        for (int k = 0; k < QK_K / 16; k++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * k + l];
            assert_int_equal(y[i].bsums[k], s);
        }
    }
    free(x);
    free(back);
    free(y);
}

/* With max = -127 the scale is exactly 1, so the quants are the inputs
 * rounded: ggml rounds ties to even (0.5 -> 0, 1.5 -> 2, 2.5 -> 2,
 * -0.5 -> 0, -3.5 -> -4), unlike roundf. */
static void test_q8_K_ties_to_even(void **state) {
    (void)state;
    float x[QK_K];
    for (int j = 0; j < QK_K; j++) x[j] = 0.0f;
    x[0] = -127.0f;
    x[1] = 0.5f;
    x[2] = 1.5f;
    x[3] = 2.5f;
    x[4] = -0.5f;
    x[5] = -3.5f;
    x[6] = 126.6f;
    x[7] = 126.5f;
    block_q8_K y;
    quantize_row_q8_K(x, &y, QK_K);
    assert_true(y.d == 1.0f);
    const int want[8] = {-127, 0, 2, 2, 0, -4, 127, 126};
    for (int j = 0; j < 8; j++) assert_int_equal(y.qs[j], want[j]);
    assert_int_equal(y.bsums[0], -127 + 0 + 2 + 2 + 0 - 4 + 127 + 126);
}

static void test_q8_K_zero_block(void **state) {
    (void)state;
    float x[2 * QK_K];
    for (int j = 0; j < 2 * QK_K; j++) x[j] = 0.0f;
    x[QK_K + 3] = 2.0f; /* second block non-zero */
    block_q8_K y[2];
    memset(y, 0x55, sizeof y);
    quantize_row_q8_K(x, y, 2 * QK_K);
    assert_true(y[0].d == 0.0f);
    for (int j = 0; j < QK_K; j++) assert_int_equal(y[0].qs[j], 0);
    for (int k = 0; k < QK_K / 16; k++) assert_int_equal(y[0].bsums[k], 0);
    assert_int_equal(y[1].qs[3], -127);
    assert_int_equal(y[1].bsums[0], -127);
    assert_true(fabsf(y[1].d + 2.0f / 127.0f) < 1e-7f);
}

/* ------------------------------------------------------- dot products */

/* _ref against a float64 dot of the dequantized rows, random blocks. */
static void test_ref_matches_dequantized(void **state) {
    (void)state;
    const int nb = 6, n = nb * QK_K;
    for (size_t t = 0; t < N_KTYPES; t++) {
        const ktype *kt = &KTYPES[t];
        for (int rep = 0; rep < 20; rep++) {
            void *w = random_weights(kt, nb, false);
            block_q8_K *a = random_q8_K(nb, 128, false);
            double mag;
            double want = dot_dequantized(kt, w, a, n, &mag);
            float got = -1.0f;
            kt->ref(n, &got, w, a);
            if (fabs(got - want) > 2e-6 * mag + 1e-30) {
                fail_msg("%s ref %.9g vs dequantized %.9g (mag %.3g)", kt->name,
                         (double)got, want, mag);
            }
            free(w);
            free(a);
        }
    }
}

/* Activations from quantize_row_q8_K of real floats, as the engine uses
 * them, and weights in a row length that is not a power of two. */
static void test_ref_with_quantized_activations(void **state) {
    (void)state;
    const int nb = 11, n = nb * QK_K;
    float *x = malloc(sizeof(float) * n);
    block_q8_K *a = malloc(sizeof(block_q8_K) * nb);
    assert_non_null(x);
    assert_non_null(a);
    for (int i = 0; i < n; i++) x[i] = rng_normal();
    quantize_row_q8_K(x, a, n);
    for (size_t t = 0; t < N_KTYPES; t++) {
        const ktype *kt = &KTYPES[t];
        void *w = random_weights(kt, nb, false);
        double mag;
        double want = dot_dequantized(kt, w, a, n, &mag);
        float got;
        kt->ref(n, &got, w, a);
        if (fabs(got - want) > 2e-6 * mag)
            fail_msg("%s ref %.9g vs %.9g", kt->name, (double)got, want);
        free(w);
    }
    free(x);
    free(a);
}

static lc_vec_dot_fn simd_fn(const ktype *kt, int level) {
    return level == 0 ? kt->avx2 : kt->avx512;
}

/* All factors 1 and small activations keep every partial sum an integer
 * below 2^24, so float arithmetic is exact and SIMD == ref bit for bit. */
static void test_simd_exact_integers(void **state) {
    (void)state;
    const bool avail[2] = {have_avx2(), have_avx512()};
    if (!avail[0]) {
        print_message("skip: CPU has no AVX2\n");
        skip();
    }
    const int nb = 4, n = nb * QK_K;
    for (size_t t = 0; t < N_KTYPES; t++) {
        const ktype *kt = &KTYPES[t];
        for (int rep = 0; rep < 50; rep++) {
            void *w = random_weights(kt, nb, true);
            block_q8_K *a = random_q8_K(nb, 2, true);
            float want;
            kt->ref(n, &want, w, a);
            assert_true(want == floorf(want)); /* integral */
            for (int level = 0; level < 2; level++) {
                if (!avail[level]) continue;
                float got = NAN;
                simd_fn(kt, level)(n, &got, w, a);
                if (got != want)
                    fail_msg("%s %s: %.1f, ref %.1f", kt->name,
                             level ? "avx512" : "avx2", (double)got,
                             (double)want);
            }
            free(w);
            free(a);
        }
    }
    if (!avail[1]) print_message("note: AVX-512 VNNI absent, only AVX2\n");
}

/* Random factors, full-range activations (including -128, which Q8_K
 * never produces but the kernels must survive without saturating). */
static void test_simd_matches_ref(void **state) {
    (void)state;
    const bool avail[2] = {have_avx2(), have_avx512()};
    if (!avail[0]) {
        print_message("skip: CPU has no AVX2\n");
        skip();
    }
    const int sizes[] = {1, 2, 3, 16};
    for (size_t t = 0; t < N_KTYPES; t++) {
        const ktype *kt = &KTYPES[t];
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            int nb = sizes[si], n = nb * QK_K;
            for (int rep = 0; rep < 10; rep++) {
                void *w = random_weights(kt, nb, false);
                block_q8_K *a = random_q8_K(nb, 128, false);
                double mag;
                (void)dot_dequantized(kt, w, a, n, &mag);
                float want;
                kt->ref(n, &want, w, a);
                for (int level = 0; level < 2; level++) {
                    if (!avail[level]) continue;
                    float got = NAN;
                    simd_fn(kt, level)(n, &got, w, a);
                    if (!(fabs((double)got - want) <= 1e-6 * mag))
                        fail_msg("%s %s nb=%d: %.9g, ref %.9g (mag %.3g)",
                                 kt->name, level ? "avx512" : "avx2", nb,
                                 (double)got, (double)want, mag);
                }
                free(w);
                free(a);
            }
        }
    }
}

/* Extreme bytes: every weight byte 0x00 or 0xFF (largest quants and
 * scales, negative int8 scales for Q6_K), activations all -128 or 127. */
static void test_simd_extremes(void **state) {
    (void)state;
    const bool avail[2] = {have_avx2(), have_avx512()};
    if (!avail[0]) {
        print_message("skip: CPU has no AVX2\n");
        skip();
    }
    const int nb = 2, n = nb * QK_K;
    const uint8_t fills[2] = {0x00, 0xFF};
    const int acts[2] = {-128, 127};
    for (size_t t = 0; t < N_KTYPES; t++) {
        const ktype *kt = &KTYPES[t];
        for (int f = 0; f < 2; f++) {
            for (int ai = 0; ai < 2; ai++) {
                void *w = random_weights(kt, nb, true);
                long d_off, dmin_off;
                factor_offsets(kt->type, &d_off, &dmin_off);
                for (int i = 0; i < nb; i++) {
                    uint8_t *b = (uint8_t *)w + kt->block_size * (size_t)i;
                    lc_fp16 d, m = 0;
                    memcpy(&d, b + d_off, sizeof d);
                    if (dmin_off >= 0) memcpy(&m, b + dmin_off, sizeof m);
                    memset(b, fills[f], kt->block_size);
                    memcpy(b + d_off, &d, sizeof d);
                    if (dmin_off >= 0) memcpy(b + dmin_off, &m, sizeof m);
                }
                block_q8_K *a = random_q8_K(nb, 0, true);
                for (int i = 0; i < nb; i++) {
                    memset(a[i].qs, acts[ai], QK_K);
                    for (int k = 0; k < QK_K / 16; k++)
                        a[i].bsums[k] = (int16_t)(16 * acts[ai]);
                }
                double mag;
                double exact = dot_dequantized(kt, w, a, n, &mag);
                float want;
                kt->ref(n, &want, w, a);
                assert_true(fabs(want - exact) <= 1e-6 * mag);
                for (int level = 0; level < 2; level++) {
                    if (!avail[level]) continue;
                    float got = NAN;
                    simd_fn(kt, level)(n, &got, w, a);
                    if (!(fabs((double)got - want) <= 1e-6 * mag))
                        fail_msg("%s %s fill %02x act %d: %.9g, ref %.9g",
                                 kt->name, level ? "avx512" : "avx2", fills[f],
                                 acts[ai], (double)got, (double)want);
                }
                free(w);
                free(a);
            }
        }
    }
}

/* ------------------------------------------------- oracle GGUF files */

static const ktype *ktype_of(enum ggml_type t) {
    for (size_t i = 0; i < N_KTYPES; i++)
        if (KTYPES[i].type == t) return &KTYPES[i];
    return NULL;
}

/* Bound on the relative RMS error of quantizing the oracle's N(0, 0.02)
 * weights with llama-quantize: about 1.2x the values measured (Q2_K 0.297,
 * Q3_K 0.151, Q4_K 0.0715, Q5_K 0.036, Q6_K 0.0178; each extra bit halves
 * the error, as it should). A wrong bit layout scrambles values (~1.4);
 * wrong scales for some sub-blocks push the error well above the bound. */
static double rms_bound(enum ggml_type t) {
    switch (t) {
    case GGML_TYPE_Q2_K:
        return 0.36;
    case GGML_TYPE_Q3_K:
        return 0.18;
    case GGML_TYPE_Q4_K:
        return 0.086;
    case GGML_TYPE_Q5_K:
        return 0.043;
    default:
        return 0.0215; /* Q6_K */
    }
}

/* Dequantizes every K-quant tensor of `file` and compares it with the same
 * tensor of the F32 parent; also checks every kernel on real rows. Returns
 * the number of K-quant tensors checked. */
static int check_oracle_file(const char *file, const gguf_file *f32) {
    char rel[256], err[256];
    snprintf(rel, sizeof rel, "oracle/models/%s", file);
    const char *path = lc_shared_path(rel);
    if (!lc_file_exists(path)) {
        print_message("skip: %s is absent\n", path);
        return 0;
    }
    gguf_file *q = gguf_open(path, err, sizeof err);
    if (!q) fail_msg("%s: %s", path, err);
    const bool avail[2] = {have_avx2(), have_avx512()};
    int checked = 0;
    for (uint64_t ti = 0; ti < q->n_tensors; ti++) {
        const gguf_tensor *qt = &q->tensors[ti];
        const ktype *kt = ktype_of(qt->type);
        if (!kt) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)qt->name.len, qt->name.ptr);
        const gguf_tensor *ft = gguf_find_tensor(f32, name);
        assert_non_null(ft);
        assert_int_equal(ft->type, GGML_TYPE_F32);
        int64_t ne0 = qt->ne[0];
        int64_t nrows = qt->ne[1] * qt->ne[2] * qt->ne[3];
        assert_int_equal(ne0 % QK_K, 0);
        assert_int_equal(ft->ne[0], ne0);
        assert_int_equal(ft->ne[1] * ft->ne[2] * ft->ne[3], nrows);
        size_t row_bytes = (size_t)(ne0 / QK_K) * kt->block_size;
        assert_true(qt->size >= row_bytes * (size_t)nrows);

        float *row = malloc(sizeof(float) * (size_t)ne0);
        assert_non_null(row);
        const float *ref = ft->data;
        double se = 0, ss = 0;
        for (int64_t r = 0; r < nrows; r++) {
            const uint8_t *qrow = (const uint8_t *)qt->data + row_bytes * r;
            kt->dequant(qrow, row, ne0);
            for (int64_t j = 0; j < ne0; j++) {
                double e = (double)row[j] - ref[r * ne0 + j];
                se += e * e;
                ss += (double)ref[r * ne0 + j] * ref[r * ne0 + j];
            }
        }
        double rel_rms = sqrt(se / ss);
        print_message("%s %s %s: relative rms error %.4f\n", file, name,
                      kt->name, rel_rms);
        if (!(rel_rms < rms_bound(qt->type)))
            fail_msg("%s %s (%s): relative rms error %.4f >= %.3f", file, name,
                     kt->name, rel_rms, rms_bound(qt->type));

        /* kernels on real rows: activations from a random float vector */
        int nb = (int)(ne0 / QK_K);
        float *x = malloc(sizeof(float) * (size_t)ne0);
        block_q8_K *a = malloc(sizeof(block_q8_K) * (size_t)nb);
        assert_non_null(x);
        assert_non_null(a);
        for (int64_t j = 0; j < ne0; j++) x[j] = rng_normal();
        quantize_row_q8_K(x, a, ne0);
        for (int64_t r = 0; r < nrows && r < 8; r++) {
            const void *qrow = (const uint8_t *)qt->data + row_bytes * r;
            double mag;
            double exact = dot_dequantized(kt, qrow, a, (int)ne0, &mag);
            float want;
            kt->ref((int)ne0, &want, qrow, a);
            assert_true(fabs(want - exact) <= 2e-6 * mag);
            for (int level = 0; level < 2; level++) {
                if (!avail[level]) continue;
                float got;
                simd_fn(kt, level)((int)ne0, &got, qrow, a);
                if (!(fabs((double)got - want) <= 1e-6 * mag))
                    fail_msg("%s %s row %d %s: %.9g, ref %.9g", file, name,
                             (int)r, level ? "avx512" : "avx2", (double)got,
                             (double)want);
            }
        }
        free(x);
        free(a);
        free(row);
        checked++;
    }
    gguf_close(q);
    return checked;
}

static void test_oracle_dequantize(void **state) {
    (void)state;
    const char *f32_path = lc_shared_path("oracle/models/llama-v512-F32.gguf");
    lc_test_skip_without(f32_path);
    char err[256];
    gguf_file *f32 = gguf_open(f32_path, err, sizeof err);
    if (!f32) fail_msg("%s: %s", f32_path, err);
    const char *files[] = {
        "llama-v512-Q2_K.gguf",   "llama-v512-Q3_K_M.gguf",
        "llama-v512-Q4_K_M.gguf", "llama-v512-Q5_K_M.gguf",
        "llama-v512-Q6_K.gguf",
    };
    int total = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        total += check_oracle_file(files[i], f32);
    gguf_close(f32);
    if (total == 0) {
        print_message("skip: no K-quant oracle file present\n");
        skip();
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_K_round_trip),
        cmocka_unit_test(test_q8_K_ties_to_even),
        cmocka_unit_test(test_q8_K_zero_block),
        cmocka_unit_test(test_ref_matches_dequantized),
        cmocka_unit_test(test_ref_with_quantized_activations),
        cmocka_unit_test(test_simd_exact_integers),
        cmocka_unit_test(test_simd_matches_ref),
        cmocka_unit_test(test_simd_extremes),
        cmocka_unit_test(test_oracle_dequantize),
    };
    return cmocka_run_group_tests_name("engine/quant_k", tests, NULL, NULL);
}

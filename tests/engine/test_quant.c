/*
 * Tensor types: fp16/bf16 conversions (edge cases, and against the CPU's
 * own F16C instructions where present; the AVX-512 row conversion against
 * the scalar one), the traits table, block layouts
 * (a quantizer written here from the documented layout must round-trip
 * through the engine's dequantizers), the Q8 activation quantizers, and
 * every dot product kernel: _ref against a float64 dot of the dequantized
 * rows, each SIMD variant the CPU can run against _ref.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/quant.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float rnd_uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd() & 0xffffff) / (float)0x1000000;
}

static bool cpu_has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

static bool cpu_has_avx512(void) {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ------------------------------------------------------------ fp16 */

static void test_fp16_edge_cases(void **state) {
    (void)state;
    assert_int_equal(lc_fp32_to_fp16(0.0f), 0x0000);
    assert_int_equal(lc_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(lc_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(lc_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(lc_fp32_to_fp16(65504.0f), 0x7bff);   /* max */
    assert_int_equal(lc_fp32_to_fp16(65519.996f), 0x7bff); /* below tie */
    assert_int_equal(lc_fp32_to_fp16(65520.0f), 0x7c00);   /* tie -> inf */
    assert_int_equal(lc_fp32_to_fp16(1e10f), 0x7c00);
    assert_int_equal(lc_fp32_to_fp16(-INFINITY), 0xfc00);
    assert_int_equal(lc_fp32_to_fp16(0x1p-24f), 0x0001); /* min subnormal */
    assert_int_equal(lc_fp32_to_fp16(0x1p-25f), 0x0000); /* tie -> even 0 */
    assert_int_equal(lc_fp32_to_fp16(0x1.8p-25f), 0x0001);
    assert_int_equal(lc_fp32_to_fp16(0x1.8p-24f), 0x0002); /* tie -> even 2 */
    assert_int_equal(lc_fp32_to_fp16(0x1.4p-24f), 0x0001);
    assert_int_equal(lc_fp32_to_fp16(0x1p-14f), 0x0400);     /* min normal */
    assert_int_equal(lc_fp32_to_fp16(0x1.ff8p-15f), 0x03ff); /* max subnormal */
    assert_int_equal(lc_fp32_to_fp16(0x1.ffbp-15f), 0x03ff);
    assert_int_equal(lc_fp32_to_fp16(0x1.ffcp-15f), 0x0400); /* tie -> even */
    assert_int_equal(lc_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00); /* tie even */
    assert_int_equal(lc_fp32_to_fp16(1.0f + 0x1.8p-10f), 0x3c02);
    assert_int_equal(lc_fp32_to_fp16(from_bits(1)), 0x0000); /* f32 subnormal */
    lc_fp16 nan = lc_fp32_to_fp16(NAN);
    assert_int_equal(nan & 0x7c00, 0x7c00);
    assert_true((nan & 0x3ff) != 0);
    /* a NaN whose payload lives only in the low bits must stay NaN */
    lc_fp16 nan2 = lc_fp32_to_fp16(from_bits(0x7f800001));
    assert_true((nan2 & 0x7c00) == 0x7c00 && (nan2 & 0x3ff) != 0);

    assert_true(lc_fp16_to_fp32(0x0001) == 0x1p-24f);
    assert_true(lc_fp16_to_fp32(0x03ff) == 0x1.ff8p-15f);
    assert_true(lc_fp16_to_fp32(0x7bff) == 65504.0f);
    assert_true(lc_fp16_to_fp32(0xfc00) == -INFINITY);
    assert_true(isnan(lc_fp16_to_fp32(0x7e00)));
    assert_true(isnan(lc_fp16_to_fp32(0x7c01)));
    assert_int_equal(to_bits(lc_fp16_to_fp32(0x8000)), 0x80000000u);

    /* every half survives half -> float -> half */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = lc_fp16_to_fp32((lc_fp16)h);
        if (isnan(f)) {
            assert_true((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
            continue;
        }
        assert_int_equal(lc_fp32_to_fp16(f), h);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("f16c"))) static lc_fp16 hw_to_fp16(float f) {
    return (lc_fp16)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("f16c"))) static float hw_to_fp32(lc_fp16 h) {
    return _cvtsh_ss(h);
}
#endif

/* The portable conversions give the same bits as F16C for every half and
 * for many floats, including all rounding ties near halves. */
static void test_fp16_matches_f16c(void **state) {
    (void)state;
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("f16c")) {
        print_message("skip: no F16C on this CPU\n");
        skip();
    }
    for (uint32_t h = 0; h < 0x10000; h++) {
        float a = lc_fp16_to_fp32((lc_fp16)h), b = hw_to_fp32((lc_fp16)h);
        if (isnan(b))
            assert_true(isnan(a));
        else
            assert_int_equal(to_bits(a), to_bits(b));
        /* the float halfway to the next half, and its neighbours */
        if ((h & 0x7fff) < 0x7c00 && !isnan(b)) {
            uint32_t u = to_bits(b) + 0x1000;
            if ((h & 0x7fff) < 0x0400) u = to_bits(b); /* subnormals below */
            for (int d = -1; d <= 1; d++) {
                float f = from_bits(u + (uint32_t)d);
                assert_int_equal(lc_fp32_to_fp16(f), hw_to_fp16(f));
            }
        }
    }
    for (int i = 0; i < 2000000; i++) {
        float f = from_bits(rnd() ^ (rnd() << 16));
        lc_fp16 a = lc_fp32_to_fp16(f), b = hw_to_fp16(f);
        if (isnan(f))
            assert_true((a & 0x7c00) == 0x7c00 && (a & 0x3ff));
        else
            assert_int_equal(a, b);
    }
#else
    skip();
#endif
}

/* convert_row_f16_avx512 gives convert_row_f16's bits (NaNs included)
 * for the halves' values and their rounding ties, random bit patterns and
 * every tail length, writes nothing past n, and is F16's from_float
 * exactly at the AVX-512 level. */
static void test_convert_row_f16_avx512(void **state) {
    (void)state;
    const type_traits *tt = ggml_get_type_traits(GGML_TYPE_F16);
    bool avx512 = strcmp(lc_simd_level(), "avx512") == 0;
    assert_true(tt->from_float ==
                (avx512 ? convert_row_f16_avx512 : convert_row_f16));
    if (!cpu_has_avx512()) {
        print_message("skip: CPU has no AVX-512\n");
        skip();
    }
    enum { N_RANDOM = 1000000, N = 4 * 0x10000 + N_RANDOM };
    float *src = malloc(sizeof(float) * N);
    lc_fp16 *got = malloc(sizeof(lc_fp16) * N);
    assert_non_null(src);
    assert_non_null(got);
    int n = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        uint32_t u = to_bits(lc_fp16_to_fp32((lc_fp16)h));
        /* the value, its neighbours, the tie with the next half up */
        for (int d = -1; d <= 2; d++)
            src[n++] = from_bits(u + (d == 2 ? 0x1000u : (uint32_t)d));
    }
    while (n < N) src[n++] = from_bits(rnd() ^ (rnd() << 16));
    convert_row_f16_avx512(src, got, N);
    for (int i = 0; i < N; i++)
        if (got[i] != lc_fp32_to_fp16(src[i]))
            fail_msg("%08x: %04x, scalar %04x", to_bits(src[i]), got[i],
                     lc_fp32_to_fp16(src[i]));
    for (int len = 0; len <= 40; len++) {
        lc_fp16 out[48];
        for (int i = 0; i < 48; i++) out[i] = 0xabcd;
        convert_row_f16_avx512(src + 4 * 0x3c00, out, len); /* near 1.0 */
        for (int i = 0; i < 48; i++)
            assert_int_equal(out[i], i < len
                                         ? lc_fp32_to_fp16(src[4 * 0x3c00 + i])
                                         : 0xabcd);
    }
    free(src);
    free(got);
}

/* ------------------------------------------------------------ bf16 */

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(lc_fp32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(lc_fp32_to_bf16(from_bits(0x3f808000)), 0x3f80); /* tie */
    assert_int_equal(lc_fp32_to_bf16(from_bits(0x3f818000)), 0x3f82); /* tie */
    assert_int_equal(lc_fp32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    assert_int_equal(lc_fp32_to_bf16(from_bits(0x3f807fff)), 0x3f80);
    assert_int_equal(lc_fp32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(lc_fp32_to_bf16(-INFINITY), 0xff80);
    assert_int_equal(lc_fp32_to_bf16(from_bits(0x7f7fffff)), 0x7f80); /* ovf */
    assert_int_equal(lc_fp32_to_bf16(-0.0f), 0x8000);
    lc_bf16 n = lc_fp32_to_bf16(from_bits(0x7f800001)); /* low payload */
    assert_true((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0);
    n = lc_fp32_to_bf16(from_bits(0xffffffff));
    assert_true((n & 0x7f80) == 0x7f80 && (n & 0x7f) != 0);
    assert_true(lc_bf16_to_fp32(0x3f80) == 1.0f);
    assert_true(isnan(lc_bf16_to_fp32(0x7fc0)));
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = lc_bf16_to_fp32((lc_bf16)h);
        if (isnan(f)) continue;
        assert_int_equal(lc_fp32_to_bf16(f), h);
    }
    /* random floats: the result is one of the two neighbours, the nearer */
    for (int i = 0; i < 1000000; i++) {
        float f = from_bits(rnd() ^ (rnd() << 16));
        if (isnan(f) || isinf(f)) continue;
        float r = lc_bf16_to_fp32(lc_fp32_to_bf16(f));
        uint32_t down = to_bits(f) & 0xffff0000u;
        float lo = from_bits(down), hi = from_bits(down + 0x10000);
        /* past the largest bf16, "hi" is infinity: measure to 2^128 */
        double hid = isinf(hi) ? copysign(0x1p128, f) : hi;
        double dlo = fabs((double)f - lo), dhi = fabs(hid - f);
        if (dlo < dhi)
            assert_true(r == lo);
        else if (dhi < dlo)
            assert_true(r == hi);
        else
            assert_true(r == ((down >> 16) & 1 ? hi : lo));
    }
}

/* ------------------------------------------------------------ traits */

static void test_traits_table(void **state) {
    (void)state;
    static const struct {
        enum ggml_type t;
        const char *name;
        int blck;
        size_t size;
        enum ggml_type vdt;
    } want[] = {
        {GGML_TYPE_F32, "F32", 1, 4, GGML_TYPE_F32},
        {GGML_TYPE_F16, "F16", 1, 2, GGML_TYPE_F16},
        {GGML_TYPE_BF16, "BF16", 1, 2, GGML_TYPE_BF16},
        {GGML_TYPE_Q4_0, "Q4_0", 32, 18, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q4_1, "Q4_1", 32, 20, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q5_0, "Q5_0", 32, 22, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q5_1, "Q5_1", 32, 24, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q8_0, "Q8_0", 32, 34, GGML_TYPE_Q8_0},
        {GGML_TYPE_Q8_1, "Q8_1", 32, 36, GGML_TYPE_Q8_1},
        {GGML_TYPE_Q2_K, "Q2_K", 256, 84, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q3_K, "Q3_K", 256, 110, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q4_K, "Q4_K", 256, 144, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q5_K, "Q5_K", 256, 176, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q6_K, "Q6_K", 256, 210, GGML_TYPE_Q8_K},
        {GGML_TYPE_Q8_K, "Q8_K", 256, 292, GGML_TYPE_Q8_K},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const type_traits *t = ggml_get_type_traits(want[i].t);
        assert_non_null(t);
        assert_string_equal(t->name, want[i].name);
        assert_string_equal(ggml_type_name(want[i].t), want[i].name);
        assert_int_equal(t->blck_size, want[i].blck);
        assert_int_equal(t->type_size, want[i].size);
        assert_int_equal(t->vec_dot_type, want[i].vdt);
        assert_int_equal(t->is_quantized, want[i].blck > 1);
        assert_non_null(t->to_float);
        bool activation_only =
            want[i].t == GGML_TYPE_Q8_1 || want[i].t == GGML_TYPE_Q8_K;
        if (activation_only) {
            assert_null(t->vec_dot);
        } else {
            assert_non_null(t->vec_dot);
            assert_non_null(t->vec_dot_ref);
        }
        /* every vec_dot_type can be produced from floats */
        assert_non_null(ggml_get_type_traits(t->vec_dot_type)->from_float);
        assert_int_equal(ggml_row_size(want[i].t, 4096),
                         4096 / want[i].blck * want[i].size);
    }
    assert_null(ggml_get_type_traits((enum ggml_type)4));
    assert_null(ggml_get_type_traits((enum ggml_type)16));
    assert_null(ggml_get_type_traits((enum ggml_type) - 1));
    assert_null(ggml_get_type_traits(GGML_TYPE_COUNT));
    assert_string_equal(ggml_type_name((enum ggml_type)4), "unknown");
    assert_string_equal(ggml_type_name((enum ggml_type)1000), "unknown");
    assert_string_equal(ggml_type_name((enum ggml_type) - 3), "unknown");
    assert_string_equal(ggml_type_name((enum ggml_type)16), "IQ2_XXS");
    assert_string_equal(ggml_type_name((enum ggml_type)23), "IQ4_XS");
    assert_int_equal(ggml_row_size((enum ggml_type)4, 32), 0);
    assert_int_equal(ggml_row_size((enum ggml_type)20, 64), 36); /* IQ4_NL */

    const char *level = lc_simd_level();
    assert_true(strcmp(level, "scalar") == 0 || strcmp(level, "avx2") == 0 ||
                strcmp(level, "avx512") == 0);
}

/* LLAMACHAT_SIMD caps the level: run this program again with it set. */
static void test_simd_env_cap(void **state) {
    (void)state;
    static const char *levels[] = {"scalar", "avx2", "avx512"};
    /* what the hardware allows (this process itself may run capped) */
    int native = cpu_has_avx512() ? 2 : cpu_has_avx2() ? 1 : 0;
    for (int i = 0; i < 3; i++) {
        char cmd[512], got[64] = "";
        /* popen runs a shell, whose /proc/self/exe is the shell: resolve
         * this program's path here */
        char self[256];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        assert_true(n > 0);
        self[n] = 0;
        snprintf(cmd, sizeof cmd, "LLAMACHAT_SIMD=%s '%s' --simd-level",
                 levels[i], self);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(got, sizeof got, p));
        assert_int_equal(pclose(p), 0);
        got[strcspn(got, "\n")] = 0;
        assert_string_equal(got, levels[i < native ? i : native]);
    }
}

/* ------------------------------------------- layouts, quantizers here */

/* Quantizers written from the layouts documented in quant.h, independent of
 * the engine, so that dequantize_row_* is checked against the documentation
 * rather than against itself. `x` is one block of 32 floats. */
static void set_nibble(uint8_t *qs, int j, int q) {
    if (j < 16)
        qs[j] = (uint8_t)((qs[j] & 0xf0) | q);
    else
        qs[j - 16] = (uint8_t)((qs[j - 16] & 0x0f) | q << 4);
}

static void set_qh(uint8_t qh[4], int j, int bit) {
    if (bit) qh[j / 8] |= (uint8_t)(1 << (j % 8));
}

static int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static void test_quantize_block(enum ggml_type t, const float *x, void *blk) {
    float amax = 0, mn = x[0], mx = x[0];
    for (int j = 0; j < 32; j++) {
        amax = fmaxf(amax, fabsf(x[j]));
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    memset(blk, 0, ggml_row_size(t, 32));
    switch (t) {
    case GGML_TYPE_Q4_0: {
        block_q4_0 *b = blk;
        float d = amax / 7;
        b->d = lc_fp32_to_fp16(d);
        d = lc_fp16_to_fp32(b->d);
        for (int j = 0; j < 32; j++)
            set_nibble(b->qs, j, clampi((int)lroundf(x[j] / d) + 8, 0, 15));
        break;
    }
    case GGML_TYPE_Q4_1: {
        block_q4_1 *b = blk;
        float d = (mx - mn) / 15;
        b->d = lc_fp32_to_fp16(d);
        b->m = lc_fp32_to_fp16(mn);
        d = lc_fp16_to_fp32(b->d);
        float m = lc_fp16_to_fp32(b->m);
        for (int j = 0; j < 32; j++)
            set_nibble(b->qs, j, clampi((int)lroundf((x[j] - m) / d), 0, 15));
        break;
    }
    case GGML_TYPE_Q5_0: {
        block_q5_0 *b = blk;
        float d = amax / 15;
        b->d = lc_fp32_to_fp16(d);
        d = lc_fp16_to_fp32(b->d);
        for (int j = 0; j < 32; j++) {
            int q = clampi((int)lroundf(x[j] / d) + 16, 0, 31);
            set_nibble(b->qs, j, q & 15);
            set_qh(b->qh, j, q >> 4);
        }
        break;
    }
    case GGML_TYPE_Q5_1: {
        block_q5_1 *b = blk;
        float d = (mx - mn) / 31;
        b->d = lc_fp32_to_fp16(d);
        b->m = lc_fp32_to_fp16(mn);
        d = lc_fp16_to_fp32(b->d);
        float m = lc_fp16_to_fp32(b->m);
        for (int j = 0; j < 32; j++) {
            int q = clampi((int)lroundf((x[j] - m) / d), 0, 31);
            set_nibble(b->qs, j, q & 15);
            set_qh(b->qh, j, q >> 4);
        }
        break;
    }
    case GGML_TYPE_Q8_0: {
        block_q8_0 *b = blk;
        float d = amax / 127;
        b->d = lc_fp32_to_fp16(d);
        d = lc_fp16_to_fp32(b->d);
        for (int j = 0; j < 32; j++)
            b->qs[j] = (int8_t)clampi((int)lroundf(x[j] / d), -127, 127);
        break;
    }
    default:
        fail();
    }
}

/* Dequantizing what the test quantizer wrote gives back the input within
 * half a step (plus the fp16 rounding of d and m): a wrong nibble or bit
 * order would be off by many steps. */
static void test_legacy_layouts(void **state) {
    (void)state;
    static const enum ggml_type types[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
                                           GGML_TYPE_Q5_0, GGML_TYPE_Q5_1,
                                           GGML_TYPE_Q8_0};
    float x[32], y[32];
    uint8_t blk[64];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        enum ggml_type t = types[i];
        const type_traits *tt = ggml_get_type_traits(t);
        for (int rep = 0; rep < 200; rep++) {
            float lo = rnd_uniform(-3, 0), hi = rnd_uniform(0.1f, 3);
            for (int j = 0; j < 32; j++) x[j] = rnd_uniform(lo, hi);
            test_quantize_block(t, x, blk);
            tt->to_float(blk, y, 32);
            float step = t == GGML_TYPE_Q4_0   ? fmaxf(-lo, hi) / 7
                         : t == GGML_TYPE_Q5_0 ? fmaxf(-lo, hi) / 15
                         : t == GGML_TYPE_Q8_0 ? fmaxf(-lo, hi) / 127
                         : t == GGML_TYPE_Q4_1 ? (hi - lo) / 15
                                               : (hi - lo) / 31;
            for (int j = 0; j < 32; j++)
                if (!(fabsf(x[j] - y[j]) <= 0.5f * step * 1.01f + 4e-3f)) {
                    print_error("%s element %d: %g -> %g (step %g)\n", tt->name,
                                j, x[j], y[j], step);
                    fail();
                }
        }
    }
}

/* Hand-made blocks pin the layout to specific bytes. */
static void test_layout_bytes(void **state) {
    (void)state;
    float y[32];
    block_q4_0 b4 = {.d = lc_fp32_to_fp16(1.0f)};
    b4.qs[0] = 0x9a; /* element 0: 0xa - 8 = 2; element 16: 0x9 - 8 = 1 */
    b4.qs[15] = 0x0f;
    for (int j = 1; j < 15; j++) b4.qs[j] = 0x88;
    dequantize_row_q4_0(&b4, y, 32);
    assert_true(y[0] == 2 && y[16] == 1 && y[15] == 7 && y[31] == -8);
    assert_true(y[1] == 0 && y[17] == 0);

    block_q5_0 b5 = {.d = lc_fp32_to_fp16(0.5f)};
    memset(b5.qs, 0, sizeof b5.qs);
    b5.qh[0] = 0x01; /* element 0 */
    b5.qh[2] = 0x02; /* element 17 */
    b5.qh[3] = 0x80; /* element 31 */
    dequantize_row_q5_0(&b5, y, 32);
    assert_true(y[0] == 0 && y[17] == 0 && y[31] == 0);
    assert_true(y[1] == -8 && y[16] == -8 && y[30] == -8);

    block_q5_1 b51 = {.d = lc_fp32_to_fp16(1.0f), .m = lc_fp32_to_fp16(-1)};
    memset(b51.qs, 0xff, sizeof b51.qs);
    memset(b51.qh, 0, sizeof b51.qh);
    b51.qh[1] = 0x04; /* element 10 */
    dequantize_row_q5_1(&b51, y, 32);
    assert_true(y[10] == 30 && y[9] == 14 && y[26] == 14);

    block_q4_1 b41 = {.d = lc_fp32_to_fp16(2.0f), .m = lc_fp32_to_fp16(0.5f)};
    memset(b41.qs, 0x31, sizeof b41.qs);
    dequantize_row_q4_1(&b41, y, 32);
    assert_true(y[0] == 2.5f && y[16] == 6.5f);
}

/* ------------------------------------------------- activation quantizers */

static void test_q8_quantizers(void **state) {
    (void)state;
    enum { N = 128 };
    float x[N], y[N];
    block_q8_0 q0[N / 32];
    block_q8_1 q1[N / 32];
    for (int rep = 0; rep < 100; rep++) {
        float scale = rnd_uniform(0.001f, 100);
        for (int i = 0; i < N; i++) x[i] = rnd_uniform(-scale, scale);
        if (rep == 0)
            for (int i = 32; i < 64; i++) x[i] = 0; /* an all-zero block */
        quantize_row_q8_0(x, q0, N);
        quantize_row_q8_1(x, q1, N);
        for (int b = 0; b < N / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[b * 32 + j]));
            float d = amax / 127, id = d ? 1 / d : 0;
            assert_int_equal(q0[b].d, lc_fp32_to_fp16(d));
            assert_int_equal(q1[b].d, lc_fp32_to_fp16(d));
            int sum = 0, maxq = 0;
            for (int j = 0; j < 32; j++) {
                int q = (int)roundf(x[b * 32 + j] * id);
                assert_int_equal(q0[b].qs[j], q);
                assert_int_equal(q1[b].qs[j], q);
                sum += q;
                maxq = abs(q) > maxq ? abs(q) : maxq;
            }
            assert_int_equal(maxq, amax > 0 ? 127 : 0);
            assert_int_equal(q1[b].s, lc_fp32_to_fp16(d * (float)sum));
        }
        dequantize_row_q8_1(q1, y, N);
        for (int i = 0; i < N; i++)
            assert_true(y[i] ==
                        q1[i / 32].qs[i % 32] * lc_fp16_to_fp32(q1[i / 32].d));
        /* round trip within half a step (+ fp16 rounding of d) */
        dequantize_row_q8_0(q0, y, N);
        for (int i = 0; i < N; i++) {
            float d = lc_fp16_to_fp32(q0[i / 32].d);
            assert_true(fabsf(x[i] - y[i]) <= 0.5f * d + 128 * d * 0x1p-10f);
        }
    }
}

/* ------------------------------------------------------- dot products */

typedef struct kernel_set {
    enum ggml_type type;
    lc_vec_dot_fn ref, avx2, avx512;
} kernel_set;

#define KS(T, t)                                                               \
    {                                                                          \
        GGML_TYPE_##T, vec_dot_##t##_ref, vec_dot_##t##_avx2,                  \
            vec_dot_##t##_avx512                                               \
    }
static const kernel_set kernels[] = {
    KS(F32, f32),   KS(F16, f16),   KS(BF16, bf16), KS(Q4_0, q4_0),
    KS(Q4_1, q4_1), KS(Q5_0, q5_0), KS(Q5_1, q5_1), KS(Q8_0, q8_0),
    KS(Q2_K, q2_K), KS(Q3_K, q3_K), KS(Q4_K, q4_K), KS(Q5_K, q5_K),
    KS(Q6_K, q6_K),
};

/* A weight row of n elements: for float types random floats; for legacy
 * types either blocks from the test quantizer or random bytes with sane
 * scales (which reach every quant value, e.g. -128 in Q8_0); K types get
 * random bytes with sane scales. */
static void make_row(enum ggml_type t, int n, void *row, bool random_bytes) {
    const type_traits *tt = ggml_get_type_traits(t);
    size_t size = ggml_row_size(t, n);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = rnd_uniform(-1, 1);
    if (!tt->is_quantized) {
        if (t == GGML_TYPE_F32) memcpy(row, x, size);
        if (t == GGML_TYPE_F16) convert_row_f16(x, row, n);
        if (t == GGML_TYPE_BF16) convert_row_bf16(x, row, n);
    } else if (!random_bytes && tt->blck_size == 32) {
        for (int b = 0; b < n / 32; b++)
            test_quantize_block(t, x + b * 32,
                                (char *)row + (size_t)b * tt->type_size);
    } else {
        unsigned char *p = row;
        for (size_t i = 0; i < size; i++) p[i] = (unsigned char)rnd();
        size_t off[2];
        int n_off = lc_test_scale_offsets(t, off);
        for (size_t b = 0; b < size / tt->type_size; b++)
            for (int f = 0; f < n_off; f++) {
                lc_fp16 h = lc_fp32_to_fp16(f == 0 ? rnd_uniform(0.01f, 0.1f)
                                                   : rnd_uniform(-0.1f, 0.1f));
                memcpy(p + b * tt->type_size + off[f], &h, sizeof h);
            }
    }
    free(x);
}

static void check_close(const char *what, const char *type, int n, float got,
                        double want, double tol) {
    if (!(fabs((double)got - want) <= tol)) {
        print_error("%s %s n=%d: got %.9g, want %.9g (tol %.3g)\n", what, type,
                    n, got, want, tol);
        fail();
    }
}

static void check_kernels(const kernel_set *k, int n, bool random_bytes) {
    const type_traits *tt = ggml_get_type_traits(k->type);
    assert_non_null(tt);
    const type_traits *at = ggml_get_type_traits(tt->vec_dot_type);
    void *w = malloc(ggml_row_size(k->type, n));
    void *a = malloc(ggml_row_size(tt->vec_dot_type, n));
    float *x = malloc(sizeof(float) * (size_t)n);
    float *wf = malloc(sizeof(float) * (size_t)n);
    float *af = malloc(sizeof(float) * (size_t)n);
    make_row(k->type, n, w, random_bytes);
    for (int i = 0; i < n; i++) x[i] = rnd_uniform(-2, 2);
    at->from_float(x, a, n);
    tt->to_float(w, wf, n);
    at->to_float(a, af, n);

    double want = 0, mag = 0;
    for (int i = 0; i < n; i++) {
        want += (double)wf[i] * af[i];
        mag += fabs((double)wf[i] * af[i]);
    }
    /* Q8_1 keeps s = d * sum(q) rounded to fp16 (from the unrounded d), so
     * the minimum's term m * s differs from m * sum(dequantized a) by up to
     * two fp16 roundings. */
    double extra = 0;
    if (tt->vec_dot_type == GGML_TYPE_Q8_1) {
        const block_q8_1 *ab = a;
        for (int b = 0; b < n / 32; b++) {
            lc_fp16 m = k->type == GGML_TYPE_Q4_1
                            ? ((const block_q4_1 *)w)[b].m
                            : ((const block_q5_1 *)w)[b].m;
            extra += fabs(lc_fp16_to_fp32(m)) * fabs(lc_fp16_to_fp32(ab[b].s)) *
                     0x1p-9;
        }
    }
    float ref = NAN;
    k->ref(n, &ref, w, a);
    /* float sums of n terms: a few ulps of the magnitude per term at worst,
     * far less in practice */
    double tol = 1e-5 * mag + extra + 1e-6;
    check_close("ref vs float64", tt->name, n, ref, want, tol);
    if (cpu_has_avx2()) {
        float got = NAN;
        k->avx2(n, &got, w, a);
        check_close("avx2 vs ref", tt->name, n, got, ref, 1e-5 * mag + 1e-6);
    }
    if (cpu_has_avx512()) {
        float got = NAN;
        k->avx512(n, &got, w, a);
        check_close("avx512 vs ref", tt->name, n, got, ref, 1e-5 * mag + 1e-6);
    }
    free(w);
    free(a);
    free(x);
    free(wf);
    free(af);
}

static void test_vec_dot_all_types(void **state) {
    (void)state;
    if (!cpu_has_avx2())
        print_message("note: no AVX2, SIMD kernels untested\n");
    else if (!cpu_has_avx512())
        print_message("note: no AVX-512 VNNI, those kernels untested\n");
    static const int sizes[] = {32, 64, 96, 256, 512, 768, 4096, 11008};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        const kernel_set *k = &kernels[i];
        int blk = ggml_get_type_traits(k->type)->blck_size;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            if (sizes[s] % blk || sizes[s] % (blk > 1 ? blk : 1)) continue;
            if (blk == 1 && sizes[s] % 32) continue;
            int n = sizes[s];
            if (ggml_get_type_traits(k->type)->vec_dot_type == GGML_TYPE_Q8_K &&
                n % 256)
                continue;
            for (int rep = 0; rep < 4; rep++) check_kernels(k, n, rep & 1);
        }
    }
}

/* Float types take any length: remainders of every SIMD width. */
static void test_vec_dot_float_odd_lengths(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++)
        for (int n = 1; n <= 150; n++) check_kernels(&kernels[i], n, false);
}

/* Extremes: the largest quants against the largest activations must not
 * saturate any intermediate (e.g. maddubs int16 pairs). */
static void test_vec_dot_extremes(void **state) {
    (void)state;
    enum { N = 256 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = i % 2 ? -1.0f : 1.0f;
    block_q8_0 a[N / 32], w[N / 32];
    quantize_row_q8_0(x, a, N); /* all +-127 */
    for (int b = 0; b < N / 32; b++) {
        w[b].d = lc_fp32_to_fp16(1.0f);
        for (int j = 0; j < 32; j++) w[b].qs[j] = j % 2 ? 127 : -128;
    }
    /* per pair: -128 * 127 + 127 * -127 */
    double want =
        (N / 2) * (-128.0 * 127 - 127.0 * 127) * lc_fp16_to_fp32(a[0].d);
    float got;
    vec_dot_q8_0_ref(N, &got, w, a);
    check_close("extreme ref", "Q8_0", N, got, want, 1e-6 * fabs(want));
    if (cpu_has_avx2()) {
        vec_dot_q8_0_avx2(N, &got, w, a);
        check_close("extreme avx2", "Q8_0", N, got, want, 1e-6 * fabs(want));
    }
    if (cpu_has_avx512()) {
        vec_dot_q8_0_avx512(N, &got, w, a);
        check_close("extreme avx512", "Q8_0", N, got, want, 1e-6 * fabs(want));
    }
    /* Q5_1 all 31 against +127: unsigned 31 * 127 pairs */
    block_q5_1 w5[N / 32];
    block_q8_1 a1[N / 32];
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    quantize_row_q8_1(x, a1, N);
    for (int b = 0; b < N / 32; b++) {
        w5[b].d = lc_fp32_to_fp16(1.0f);
        w5[b].m = 0;
        memset(w5[b].qs, 0xff, sizeof w5[b].qs);
        memset(w5[b].qh, 0xff, sizeof w5[b].qh);
    }
    want = N * 31.0 * 127 * lc_fp16_to_fp32(a1[0].d);
    vec_dot_q5_1_ref(N, &got, w5, a1);
    check_close("extreme ref", "Q5_1", N, got, want, 1e-6 * want);
    if (cpu_has_avx2()) {
        vec_dot_q5_1_avx2(N, &got, w5, a1);
        check_close("extreme avx2", "Q5_1", N, got, want, 1e-6 * want);
    }
    if (cpu_has_avx512()) {
        vec_dot_q5_1_avx512(N, &got, w5, a1);
        check_close("extreme avx512", "Q5_1", N, got, want, 1e-6 * want);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--simd-level") == 0) {
        printf("%s\n", lc_simd_level());
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_edge_cases),
        cmocka_unit_test(test_fp16_matches_f16c),
        cmocka_unit_test(test_convert_row_f16_avx512),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_traits_table),
        cmocka_unit_test(test_simd_env_cap),
        cmocka_unit_test(test_legacy_layouts),
        cmocka_unit_test(test_layout_bytes),
        cmocka_unit_test(test_q8_quantizers),
        cmocka_unit_test(test_vec_dot_all_types),
        cmocka_unit_test(test_vec_dot_float_odd_lengths),
        cmocka_unit_test(test_vec_dot_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

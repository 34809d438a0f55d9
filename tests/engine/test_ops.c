/*
 * Element-wise operations of src/engine/ops.c that have a fast path: the
 * fp16-table GELU equals its definition (GELU of the input rounded to fp16,
 * rounded to fp16) for every fp16 input and for floats between them, with
 * ggml's clamps outside (-10, 10); GeGLU multiplies by it.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/quant.h"

/* The definition the table must reproduce. */
static float gelu_fp16_reference(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    float xr = lc_fp16_to_fp32(lc_fp32_to_fp16(x));
    return lc_fp16_to_fp32(lc_fp32_to_fp16(lc_gelu(xr)));
}

static bool same(float a, float b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void test_gelu_every_fp16_input(void **state) {
    (void)state;
    for (uint32_t h = 0; h < (1u << 16); h++) {
        float x = lc_fp16_to_fp32((lc_fp16)h);
        float got = lc_gelu_fp16(x), want = gelu_fp16_reference(x);
        if (!same(got, want))
            fail_msg("gelu_fp16(%a) = %a, want %a", (double)x, (double)got,
                     (double)want);
    }
}

static void test_gelu_row_and_floats_between(void **state) {
    (void)state;
    enum { N = 4099 }; /* odd: no lane-sized tail is special */
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
    x[0] = -10.0f, x[1] = 10.0f, x[2] = -0.0f, x[3] = 1e-30f;
    lc_gelu_fp16_row(y, x, N);
    for (int i = 0; i < N; i++)
        if (!same(y[i], gelu_fp16_reference(x[i])))
            fail_msg("row[%d] gelu_fp16(%a) = %a", i, (double)x[i],
                     (double)y[i]);
    /* in place */
    memcpy(y, x, N * sizeof *x);
    lc_gelu_fp16_row(y, y, N);
    for (int i = 0; i < N; i++)
        assert_true(same(y[i], gelu_fp16_reference(x[i])));
    free(x);
    free(y);
}

static void test_geglu(void **state) {
    (void)state;
    float gate[5] = {-11.0f, -1.5f, 0.0f, 0.7f, 12.0f};
    float up[5] = {2.0f, 3.0f, 4.0f, -5.0f, 0.5f};
    float out[5];
    lc_geglu(out, gate, up, 5);
    for (int i = 0; i < 5; i++)
        assert_true(same(out[i], gelu_fp16_reference(gate[i]) * up[i]));
    assert_true(out[0] == 0.0f);         /* clamp below */
    assert_true(out[4] == 12.0f * 0.5f); /* identity above */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_every_fp16_input),
        cmocka_unit_test(test_gelu_row_and_floats_between),
        cmocka_unit_test(test_geglu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The Q8_0/Q8_1 activation quantizers round x / d like roundf (halves away
 * from zero) without calling it. tests/engine/test_quant.c checks them on
 * random floats, where exact halves almost never occur; here a block whose
 * largest magnitude is 127 makes d = 1, so each input is the value rounded
 * and the halves, their float neighbours and both signs are hit on purpose.
 */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "engine/quant.h"

static void check_block(const float x[QK8_0]) {
    block_q8_0 q0;
    block_q8_1 q1;
    quantize_row_q8_0(x, &q0, QK8_0);
    quantize_row_q8_1(x, &q1, QK8_1);
    assert_int_equal(q0.d, lc_fp32_to_fp16(1.0f));
    for (int j = 0; j < QK8_0; j++) {
        int want = (int)roundf(x[j]);
        if (q0.qs[j] != want || q1.qs[j] != want)
            fail_msg("x = %.9g: Q8_0 %d, Q8_1 %d, roundf %d", (double)x[j],
                     q0.qs[j], q1.qs[j], want);
    }
}

/* Halves, the floats just inside and outside them, and the edges. */
static void test_rounding_at_halves(void **state) {
    (void)state;
    float x[QK8_0];
    int j = 0;
    x[j++] = 127.0f; /* amax: d = 1, id = 1 */
    for (int k = 0; k <= 126 && j + 6 <= QK8_0; k += 9) {
        float h = (float)k + 0.5f;
        x[j++] = h;
        x[j++] = -h;
        x[j++] = nextafterf(h, 0.0f);
        x[j++] = -nextafterf(h, 0.0f);
        x[j++] = nextafterf(h, 200.0f);
        x[j++] = -nextafterf(h, 200.0f);
    }
    while (j < QK8_0) x[j++] = -0.0f;
    check_block(x);

    /* every half from -126.5 to 126.5 */
    for (int k = -127; k <= 126; k += QK8_0 - 1) {
        x[0] = -127.0f;
        for (int i = 1; i < QK8_0; i++) {
            int v = k + i - 1;
            x[i] = v > 126 ? 0.0f : (float)v + 0.5f;
        }
        check_block(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding_at_halves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Sampler and stop-string tests: greedy is exact argmax, each filter of the
 * chain keeps exactly the tokens it should, the draw follows the final
 * distribution, the seed makes runs repeatable, penalties follow their
 * formulas, and lc_find_stop finds matches and partial matches.
 */
#include "testutil.h"

#include "llamachat/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parameters with every filter off, greedy. */
static lc_sampler_params plain(void) {
    lc_sampler_params p = lc_sampler_default_params();
    p.temperature = 0.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 1234;
    return p;
}

/* Logits [n] whose softmax is exactly probs [n]. */
static void logits_from_probs(const double *probs, float *logits, int n) {
    for (int i = 0; i < n; i++) logits[i] = (float)log(probs[i]);
}

static void test_greedy_argmax_and_ties(void **state) {
    (void)state;
    lc_sampler_params p = plain();
    lc_sampler *s = lc_sampler_new(&p, 6);
    assert_non_null(s);
    float l[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 3.0f};
    float prob = -1;
    assert_int_equal(lc_sampler_sample(s, l, &prob), 1); /* lowest of ties */
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i] - 3.0);
    assert_float_equal(prob, 1.0 / z, 1e-6);

    float certain[6] = {-INFINITY, -INFINITY, 0.0f,
                        -INFINITY, -INFINITY, -INFINITY};
    assert_int_equal(lc_sampler_sample(s, certain, &prob), 2);
    assert_float_equal(prob, 1.0, 0);
    lc_sampler_free(s);
}

static void test_greedy_big_vocab(void **state) {
    (void)state;
    const int n = 262144;
    float *l = malloc(n * sizeof *l);
    assert_non_null(l);
    unsigned x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        l[i] = (float)((x >> 8) % 100000) / 1000.0f;
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[best]) best = i;
    lc_sampler_params p = plain();
    lc_sampler *s = lc_sampler_new(&p, n);
    assert_non_null(s);
    assert_int_equal(lc_sampler_sample(s, l, NULL), best);
    /* top-k 1 at any temperature is the argmax too. */
    lc_sampler_free(s);
    p.temperature = 1.5f;
    p.top_k = 1;
    s = lc_sampler_new(&p, n);
    for (int r = 0; r < 5; r++) {
        float prob = 0;
        assert_int_equal(lc_sampler_sample(s, l, &prob), best);
        assert_float_equal(prob, 1.0, 1e-6);
    }
    lc_sampler_free(s);
    free(l);
}

/* Draws `draws` tokens and counts them. */
static void histogram(lc_sampler *s, const float *l, int n, int draws,
                      int *count) {
    memset(count, 0, (size_t)n * sizeof *count);
    for (int d = 0; d < draws; d++) {
        int32_t t = lc_sampler_sample(s, l, NULL);
        assert_true(t >= 0 && t < n);
        count[t]++;
    }
}

static void test_draw_follows_distribution(void **state) {
    (void)state;
    const double probs[5] = {0.4, 0.3, 0.15, 0.1, 0.05};
    float l[5];
    logits_from_probs(probs, l, 5);
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    lc_sampler *s = lc_sampler_new(&p, 5);
    int count[5];
    const int draws = 40000;
    histogram(s, l, 5, draws, count);
    for (int i = 0; i < 5; i++) {
        /* 5 standard deviations: a correct sampler passes for any seed. */
        double sd = sqrt(draws * probs[i] * (1 - probs[i]));
        assert_true(fabs(count[i] - draws * probs[i]) < 5 * sd);
    }
    float prob = 0;
    int32_t t = lc_sampler_sample(s, l, &prob);
    assert_float_equal(prob, probs[t], 1e-5);
    lc_sampler_free(s);
}

static void test_temperature(void **state) {
    (void)state;
    const double probs[3] = {0.6, 0.3, 0.1};
    float l[3];
    logits_from_probs(probs, l, 3);
    lc_sampler_params p = plain();
    p.temperature = 0.5f; /* squares the probabilities, then renormalises */
    lc_sampler *s = lc_sampler_new(&p, 3);
    double z = 0.36 + 0.09 + 0.01;
    for (int r = 0; r < 20; r++) {
        float prob = 0;
        int32_t t = lc_sampler_sample(s, l, &prob);
        assert_float_equal(prob, probs[t] * probs[t] / z, 1e-5);
    }
    lc_sampler_free(s);
}

static void test_top_k(void **state) {
    (void)state;
    const double probs[5] = {0.1, 0.4, 0.05, 0.3, 0.15};
    float l[5];
    logits_from_probs(probs, l, 5);
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    p.top_k = 2;
    lc_sampler *s = lc_sampler_new(&p, 5);
    int count[5];
    histogram(s, l, 5, 2000, count);
    assert_int_equal(count[0] + count[2] + count[4], 0);
    assert_true(count[1] > 0 && count[3] > 0);
    float prob = 0;
    int32_t t = lc_sampler_sample(s, l, &prob);
    assert_float_equal(prob, probs[t] / 0.7, 1e-5);
    lc_sampler_free(s);
}

static void test_top_p(void **state) {
    (void)state;
    /* Sorted: 0.5 (id 2), 0.3 (id 0), 0.15 (id 3), 0.05 (id 1). With
     * top_p 0.7 the smallest prefix reaching 0.7 is {2, 0}. */
    const double probs[4] = {0.3, 0.05, 0.5, 0.15};
    float l[4];
    logits_from_probs(probs, l, 4);
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    p.top_p = 0.7f;
    lc_sampler *s = lc_sampler_new(&p, 4);
    int count[4];
    histogram(s, l, 4, 2000, count);
    assert_int_equal(count[1] + count[3], 0);
    assert_true(count[0] > 0 && count[2] > 0);
    lc_sampler_free(s);

    /* After top-k 2 ({2, 0}, renormalised 0.625 / 0.375) top-p 0.6 keeps
     * only id 2: top-p sees the distribution that top-k left. */
    p.top_k = 2;
    p.top_p = 0.6f;
    s = lc_sampler_new(&p, 4);
    histogram(s, l, 4, 500, count);
    assert_int_equal(count[2], 500);
    lc_sampler_free(s);
}

/* top-p over a big vocabulary without top-k (the path that avoids a full
 * sort) keeps exactly the set a full sort would keep. */
typedef struct ranked {
    float logit;
    int id;
} ranked;

static int by_logit_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

static void test_top_p_big_vocab(void **state) {
    (void)state;
    const int n = 50000;
    float *l = malloc(n * sizeof *l);
    ranked *r = malloc(n * sizeof *r);
    unsigned x = 99;
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        l[i] = (float)((x >> 8) % 80000) / 10000.0f; /* 0 .. 8 */
        r[i] = (ranked){l[i], i};
    }
    /* Reference: sort everything, keep the smallest prefix reaching p. */
    qsort(r, n, sizeof *r, by_logit_desc);
    const float top_p = 0.5f;
    double z = 0, zk = 0, cum = 0;
    for (int i = 0; i < n; i++) z += exp((double)(r[i].logit - r[0].logit));
    bool *kept = calloc(n, sizeof *kept);
    for (int i = 0; i < n; i++) {
        double w = exp((double)(r[i].logit - r[0].logit));
        kept[r[i].id] = true;
        zk += w;
        cum += w;
        if (cum >= top_p * z) break;
    }
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    p.top_p = top_p;
    lc_sampler *s = lc_sampler_new(&p, n);
    for (int d = 0; d < 500; d++) {
        float prob = 0;
        int32_t t = lc_sampler_sample(s, l, &prob);
        assert_true(kept[t]);
        double want = exp((double)(l[t] - r[0].logit)) / zk;
        assert_true(fabs(prob - want) <=
                    1e-5 * want); /* one token more or less moves it by ~2e-4 */
    }
    lc_sampler_free(s);
    free(kept);
    free(r);
    free(l);
}

static void test_min_p(void **state) {
    (void)state;
    /* min_p 0.4: keep p >= 0.4 * 0.5 = 0.2, i.e. ids 2 and 0. */
    const double probs[4] = {0.3, 0.05, 0.5, 0.15};
    float l[4];
    logits_from_probs(probs, l, 4);
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    p.min_p = 0.4f;
    lc_sampler *s = lc_sampler_new(&p, 4);
    int count[4];
    histogram(s, l, 4, 2000, count);
    assert_int_equal(count[1] + count[3], 0);
    assert_true(count[0] > 0 && count[2] > 0);
    float prob = 0;
    int32_t t = lc_sampler_sample(s, l, &prob);
    assert_float_equal(prob, probs[t] / 0.8, 1e-5);
    lc_sampler_free(s);
}

/* Temperature comes after the filters: a high temperature flattens the
 * kept tokens but cannot bring back a filtered one. */
static void test_temperature_after_filters(void **state) {
    (void)state;
    const double probs[4] = {0.3, 0.05, 0.5, 0.15};
    float l[4];
    logits_from_probs(probs, l, 4);
    lc_sampler_params p = plain();
    p.temperature = 100.0f;
    p.min_p = 0.4f;
    lc_sampler *s = lc_sampler_new(&p, 4);
    int count[4];
    histogram(s, l, 4, 2000, count);
    assert_int_equal(count[1] + count[3], 0);
    lc_sampler_free(s);
}

static void test_seed_repeats(void **state) {
    (void)state;
    const int n = 1000;
    float *l = calloc(n, sizeof *l); /* uniform distribution */
    lc_sampler_params p = plain();
    p.temperature = 1.0f;
    p.seed = 7;
    lc_sampler *a = lc_sampler_new(&p, n), *b = lc_sampler_new(&p, n);
    p.seed = 8;
    lc_sampler *c = lc_sampler_new(&p, n);
    int32_t first[100];
    int same_as_c = 0;
    for (int i = 0; i < 100; i++) {
        first[i] = lc_sampler_sample(a, l, NULL);
        assert_int_equal(lc_sampler_sample(b, l, NULL), first[i]);
        same_as_c += lc_sampler_sample(c, l, NULL) == first[i];
    }
    assert_true(same_as_c < 10); /* another seed, another sequence */
    /* A reset sampler starts over. */
    lc_sampler_reset(a);
    for (int i = 0; i < 100; i++)
        assert_int_equal(lc_sampler_sample(a, l, NULL), first[i]);
    lc_sampler_free(a);
    lc_sampler_free(b);
    lc_sampler_free(c);
    free(l);
}

static void test_repeat_penalty(void **state) {
    (void)state;
    lc_sampler_params p = plain();
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    lc_sampler *s = lc_sampler_new(&p, 3);
    /* Positive logits are divided, negative ones multiplied. */
    float l[3] = {2.0f, 1.5f, -1.0f};
    lc_sampler_accept(s, 0); /* 2.0 -> 1.0 */
    float prob = 0;
    assert_int_equal(lc_sampler_sample(s, l, &prob), 1);
    lc_sampler_accept(s, 0); /* counted once for the repeat penalty */
    float l2[3] = {2.0f, 0.5f, -1.0f};
    assert_int_equal(lc_sampler_sample(s, l2, &prob), 0); /* 1.0 > 0.5 */
    double z = exp(0.0) + exp(0.5 - 1.0) + exp(-1.0 - 1.0);
    assert_float_equal(prob, 1.0 / z, 1e-6);
    /* Negative: -1 * 2 = -2 is below -1.5. */
    float l3[3] = {-10.0f, -1.5f, -1.0f};
    lc_sampler_accept(s, 2); /* window: 0 0 2 */
    assert_int_equal(lc_sampler_sample(s, l3, NULL), 1);
    /* The window holds the last 3 tokens: after 1 1 1, 0 and 2 are free. */
    lc_sampler_accept(s, 1);
    lc_sampler_accept(s, 1);
    lc_sampler_accept(s, 1);
    assert_int_equal(lc_sampler_sample(s, l3, NULL), 2);
    /* The caller's logits are never modified. */
    assert_float_equal(l3[1], -1.5f, 0);
    lc_sampler_free(s);
}

static void test_presence_frequency(void **state) {
    (void)state;
    lc_sampler_params p = plain();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    lc_sampler *s = lc_sampler_new(&p, 2);
    lc_sampler_accept(s, 0);
    lc_sampler_accept(s, 0);
    lc_sampler_accept(s, 0);
    /* token 0: 3 - (3 * 0.5 + 0.25) = 1.25; token 1 stays 1.3 */
    float l[2] = {3.0f, 1.3f};
    float prob = 0;
    assert_int_equal(lc_sampler_sample(s, l, &prob), 1);
    assert_float_equal(prob, 1.0 / (1.0 + exp(1.25 - 1.3)), 1e-5);
    float l2[2] = {3.0f, 1.2f};
    assert_int_equal(lc_sampler_sample(s, l2, NULL), 0);
    lc_sampler_reset(s);
    assert_int_equal(lc_sampler_sample(s, l, NULL), 0);
    lc_sampler_free(s);
}

static void test_bad_input(void **state) {
    (void)state;
    assert_null(lc_sampler_new(NULL, 0));
    assert_null(lc_sampler_new(NULL, -5));
    lc_sampler *s = lc_sampler_new(NULL, 4); /* defaults */
    assert_non_null(s);
    lc_sampler_accept(s, -1); /* ignored */
    lc_sampler_accept(s, 4);  /* ignored */
    float nan_row[4] = {NAN, 1.0f, NAN, 0.5f};
    float prob = 0;
    int32_t t = lc_sampler_sample(s, nan_row, &prob);
    assert_true(t == 1 || t == 3);
    assert_true(prob > 0 && prob <= 1);
    float dead[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    t = lc_sampler_sample(s, dead, &prob);
    assert_true(t >= 0 && t < 4);
    lc_sampler_free(s);
    lc_sampler_free(NULL);
}

static void test_find_stop(void **state) {
    (void)state;
    const char *stops[] = {"</s>", "User:", "xyz"};
    size_t partial = 99;
    const char *t1 = "Hello there. User: hi </s>";
    assert_int_equal(lc_find_stop(t1, strlen(t1), stops, 3, &partial), 13);
    assert_int_equal(partial, 0);

    const char *t2 = "Hello </";
    assert_int_equal(lc_find_stop(t2, strlen(t2), stops, 3, &partial), -1);
    assert_int_equal(partial, 2);

    const char *t3 = "abc Use";
    assert_int_equal(lc_find_stop(t3, strlen(t3), stops, 3, &partial), -1);
    assert_int_equal(partial, 3);

    const char *t4 = "nothing here";
    assert_int_equal(lc_find_stop(t4, strlen(t4), stops, 3, &partial), -1);
    assert_int_equal(partial, 0);

    /* Only len bytes count, and empty or NULL stops are ignored. */
    const char *t5 = "a</s>";
    assert_int_equal(lc_find_stop(t5, 3, stops, 3, &partial), -1);
    assert_int_equal(partial, 2);
    const char *odd[] = {"", NULL, "s"};
    assert_int_equal(lc_find_stop(t5, 5, odd, 3, &partial), 3);
    assert_int_equal(lc_find_stop("", 0, stops, 3, &partial), -1);
    assert_int_equal(partial, 0);
    assert_int_equal(lc_find_stop("x", 1, NULL, 0, NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_argmax_and_ties),
        cmocka_unit_test(test_greedy_big_vocab),
        cmocka_unit_test(test_draw_follows_distribution),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_top_p_big_vocab),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_temperature_after_filters),
        cmocka_unit_test(test_seed_repeats),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_find_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

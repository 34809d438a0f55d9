/*
 * The Prometheus registry: exposition text of counters, gauges and
 * histograms, label escaping, refusal of bad families, and concurrent
 * recording from many threads.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

static void test_counter_gauge_text(void **state) {
    (void)state;
    lc_metrics *m = lc_metrics_new();
    assert_non_null(m);
    assert_int_equal(lc_metrics_register(m, "req_total", LC_METRIC_COUNTER,
                                         "requests\nby route", NULL, 0),
                     0);
    assert_int_equal(
        lc_metrics_register(m, "depth", LC_METRIC_GAUGE, "queue", NULL, 0), 0);
    char l[128];
    assert_int_equal(
        lc_metrics_labels(l, sizeof l, 2, "route", "/a", "status", "200"), 0);
    lc_metrics_add(m, "req_total", l, 1);
    lc_metrics_add(m, "req_total", l, 2);
    lc_metrics_add(m, "req_total", l, -5); /* counters never go down */
    lc_metrics_set(m, "depth", NULL, 7);
    lc_metrics_add(m, "depth", NULL, -2);
    lc_metrics_add(m, "unknown", NULL, 1); /* ignored */
    char *text = lc_metrics_render(m, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "# HELP req_total requests\\nby route\n"));
    assert_non_null(strstr(text, "# TYPE req_total counter\n"));
    assert_non_null(strstr(text, "req_total{route=\"/a\",status=\"200\"} 3\n"));
    assert_non_null(strstr(text, "# TYPE depth gauge\ndepth 5\n"));
    free(text);
    lc_metrics_free(m);
}

static void test_histogram_text(void **state) {
    (void)state;
    lc_metrics *m = lc_metrics_new();
    const double b[] = {0.25, 1, 10}; /* exact in binary */
    assert_int_equal(lc_metrics_register(m, "lat_seconds", LC_METRIC_HISTOGRAM,
                                         "latency", b, 3),
                     0);
    lc_metrics_observe(m, "lat_seconds", NULL, 0.125);
    lc_metrics_observe(m, "lat_seconds", NULL, 0.25); /* le is inclusive */
    lc_metrics_observe(m, "lat_seconds", NULL, 5);
    lc_metrics_observe(m, "lat_seconds", NULL, 50);
    char *text = lc_metrics_render(m, NULL);
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.25\"} 2\n"
                                 "lat_seconds_bucket{le=\"1\"} 2\n"
                                 "lat_seconds_bucket{le=\"10\"} 3\n"
                                 "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                                 "lat_seconds_sum 55.375\n"
                                 "lat_seconds_count 4\n"));
    free(text);
    lc_metrics_free(m);
}

static void test_labels_escape_and_bounds(void **state) {
    (void)state;
    char l[64];
    assert_int_equal(lc_metrics_labels(l, sizeof l, 1, "path", "a\"b\\c\nd"),
                     0);
    assert_string_equal(l, "path=\"a\\\"b\\\\c\\nd\"");
    char tiny[8];
    assert_int_equal(lc_metrics_labels(tiny, sizeof tiny, 1, "route", "/x"),
                     -1);
    assert_string_equal(tiny, "");
}

static void test_bad_families(void **state) {
    (void)state;
    lc_metrics *m = lc_metrics_new();
    const double up[] = {1, 2}, down[] = {2, 1};
    assert_int_equal(
        lc_metrics_register(m, "9bad", LC_METRIC_COUNTER, "", NULL, 0), -1);
    assert_int_equal(
        lc_metrics_register(m, "a-b", LC_METRIC_COUNTER, "", NULL, 0), -1);
    assert_int_equal(
        lc_metrics_register(m, "h", LC_METRIC_HISTOGRAM, "", down, 2), -1);
    assert_int_equal(
        lc_metrics_register(m, "h", LC_METRIC_HISTOGRAM, "", NULL, 0), -1);
    assert_int_equal(lc_metrics_register(m, "c", LC_METRIC_COUNTER, "", up, 2),
                     -1);
    assert_int_equal(
        lc_metrics_register(m, "ok", LC_METRIC_COUNTER, "", NULL, 0), 0);
    assert_int_equal(lc_metrics_register(m, "ok", LC_METRIC_GAUGE, "", NULL, 0),
                     -1);
    /* a wrong-type record is ignored, not a crash */
    lc_metrics_observe(m, "ok", NULL, 1);
    lc_metrics_set(m, "ok", NULL, 1);
    char *text = lc_metrics_render(m, NULL);
    assert_null(strstr(text, "ok 1"));
    free(text);
    lc_metrics_free(m);
}

#define N_THREADS 8
#define N_ADDS 10000

static void *hammer(void *arg) {
    lc_metrics *m = arg;
    for (int i = 0; i < N_ADDS; i++) {
        lc_metrics_add(m, "n_total", i % 2 ? "k=\"odd\"" : "k=\"even\"", 1);
        lc_metrics_observe(m, "h_seconds", NULL, i % 3);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    lc_metrics *m = lc_metrics_new();
    const double b[] = {0.5, 1.5};
    assert_int_equal(
        lc_metrics_register(m, "n_total", LC_METRIC_COUNTER, "n", NULL, 0), 0);
    assert_int_equal(
        lc_metrics_register(m, "h_seconds", LC_METRIC_HISTOGRAM, "h", b, 2), 0);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, m), 0);
    for (int i = 0; i < N_THREADS; i++) pthread_join(t[i], NULL);
    char *text = lc_metrics_render(m, NULL);
    assert_non_null(strstr(text, "n_total{k=\"even\"} 40000\n"));
    assert_non_null(strstr(text, "n_total{k=\"odd\"} 40000\n"));
    assert_non_null(strstr(text, "h_seconds_count 80000\n"));
    free(text);
    lc_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_text),
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_labels_escape_and_bounds),
        cmocka_unit_test(test_bad_families),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The thread pool: every thread runs each job exactly once with its own
 * index, jobs do not overlap, and thousands of back-to-back jobs (the decode
 * pattern) neither lose a wake-up nor hang, including after the workers
 * have gone to sleep.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "engine/cpu/threadpool.h"

#define MAX_T 16

typedef struct count_job {
    atomic_int calls[MAX_T]; /* per ith */
    atomic_int bad_nth;
    atomic_int running; /* threads inside the job right now */
    int expect_nth;
    long data[MAX_T];
} count_job;

static void count_task(void *arg, int ith, int nth) {
    count_job *job = arg;
    atomic_fetch_add(&job->running, 1);
    if (nth != job->expect_nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&job->bad_nth, 1);
    else {
        atomic_fetch_add(&job->calls[ith], 1);
        job->data[ith] += ith + 1; /* plain write: only this thread owns it */
    }
    atomic_fetch_sub(&job->running, 1);
}

static void run_counted(int n_threads, int n_runs) {
    lc_threadpool *tp = lc_threadpool_new(n_threads);
    assert_non_null(tp);
    int nth = lc_threadpool_size(tp);
    assert_int_equal(nth, n_threads);
    count_job job;
    memset(&job, 0, sizeof job);
    job.expect_nth = nth;
    for (int r = 0; r < n_runs; r++) {
        lc_threadpool_run(tp, count_task, &job);
        /* run() returns only when every thread has left the job */
        assert_int_equal(atomic_load(&job.running), 0);
    }
    assert_int_equal(atomic_load(&job.bad_nth), 0);
    for (int i = 0; i < nth; i++) {
        assert_int_equal(atomic_load(&job.calls[i]), n_runs);
        assert_int_equal(job.data[i], (long)n_runs * (i + 1));
    }
    lc_threadpool_free(tp);
}

static void test_sizes(void **state) {
    (void)state;
    for (int n = 1; n <= 5; n++) run_counted(n, 10);
    lc_threadpool *tp = lc_threadpool_new(0);
    assert_non_null(tp);
    assert_true(lc_threadpool_size(tp) >= 1);
    lc_threadpool_free(tp);
    lc_threadpool_free(NULL);
}

static void test_many_rapid_runs(void **state) {
    (void)state;
    run_counted(2, 20000);
    run_counted(4, 5000); /* more threads than this machine may have */
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Gaps longer than the spin time make workers (and the caller) sleep
 * between jobs: the wake-up path must work every time. */
static void test_runs_after_sleep(void **state) {
    (void)state;
    lc_threadpool *tp = lc_threadpool_new(3);
    assert_non_null(tp);
    count_job job;
    memset(&job, 0, sizeof job);
    job.expect_nth = 3;
    for (int r = 0; r < 20; r++) {
        lc_threadpool_run(tp, count_task, &job);
        sleep_ms(r % 2 ? 3 : 0);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&job.calls[i]), 20);
    lc_threadpool_free(tp);
}

/* A worker much slower than the caller: the caller must sleep and be woken
 * by the last worker. */
static void slow_task(void *arg, int ith, int nth) {
    (void)nth;
    atomic_int *sum = arg;
    if (ith == 1) sleep_ms(2);
    atomic_fetch_add(sum, ith + 1);
}

static void test_slow_worker(void **state) {
    (void)state;
    lc_threadpool *tp = lc_threadpool_new(2);
    assert_non_null(tp);
    atomic_int sum = 0;
    for (int r = 0; r < 10; r++) {
        lc_threadpool_run(tp, slow_task, &sum);
        assert_int_equal(atomic_load(&sum), 3 * (r + 1));
    }
    lc_threadpool_free(tp);
}

/* Splitting a sum by thread index: the pattern every kernel uses. */
typedef struct sum_job {
    const int *v;
    int n;
    long part[MAX_T];
} sum_job;

static void sum_task(void *arg, int ith, int nth) {
    sum_job *job = arg;
    long s = 0;
    for (int i = job->n * ith / nth; i < job->n * (ith + 1) / nth; i++)
        s += job->v[i];
    job->part[ith] = s;
}

static void test_split_sum(void **state) {
    (void)state;
    enum { N = 100003 };
    static int v[N];
    long expect = 0;
    for (int i = 0; i < N; i++) {
        v[i] = (i * 7919) % 1000 - 500;
        expect += v[i];
    }
    for (int nt = 1; nt <= 4; nt++) {
        lc_threadpool *tp = lc_threadpool_new(nt);
        assert_non_null(tp);
        for (int r = 0; r < 100; r++) {
            sum_job job = {.v = v, .n = N};
            lc_threadpool_run(tp, sum_task, &job);
            long got = 0;
            for (int i = 0; i < nt; i++) got += job.part[i];
            assert_int_equal(got, expect);
        }
        lc_threadpool_free(tp);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_many_rapid_runs),
        cmocka_unit_test(test_runs_after_sleep),
        cmocka_unit_test(test_slow_worker),
        cmocka_unit_test(test_split_sum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

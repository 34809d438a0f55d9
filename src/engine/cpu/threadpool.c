/*
 * The worker pool behind every matrix product.
 *
 * A job is published by bumping `generation`; workers that saw the previous
 * generation pick it up. Token generation runs a job ~200 times per token,
 * each only tens of microseconds long, so a sleeping worker (futex wake-up:
 * 5-50 us) would cost as much as the work. Workers therefore spin on the
 * counter for a short while after each job and only then sleep on a
 * condition variable. The caller does the share of thread 0 and then waits
 * for `pending` to reach zero the same way: spin first, then sleep.
 *
 * Lost wake-ups are ruled out by the Dekker pattern with sequentially
 * consistent atomics: a sleeper announces itself (n_sleeping / caller_asleep)
 * and re-checks the condition under the mutex; the other side changes the
 * condition first and then reads the announcement, taking the mutex to
 * signal.
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* How long a thread spins before it sleeps. Long enough to bridge the gap
 * between two matrix products of a decode step, short enough that an idle
 * pool stops using CPU almost at once. */
#define SPIN_NS 100000
#define MAX_THREADS 512

struct lc_threadpool {
    int n_threads;     /* including the caller */
    pthread_t *thread; /* [n_threads - 1] workers */
    struct worker_arg *warg;

    /* the current job, valid while workers run generation `generation` */
    lc_task_fn fn;
    void *arg;

    atomic_uint generation; /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_bool stop;

    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers wait here for a new generation */
    pthread_cond_t done; /* the caller waits here for pending == 0 */
    atomic_int n_sleeping;
    atomic_bool caller_asleep;
};

typedef struct worker_arg {
    lc_threadpool *tp;
    int ith;
} worker_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins until a job newer than `seen` is published (or stop); false when
 * the spin budget ran out first. */
static bool spin_for_job(lc_threadpool *tp, unsigned seen) {
    int64_t deadline = now_ns() + SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(&tp->generation, memory_order_acquire) !=
                    seen ||
                atomic_load_explicit(&tp->stop, memory_order_relaxed))
                return true;
            cpu_relax();
        }
        if (now_ns() > deadline) return false;
    }
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    lc_threadpool *tp = wa->tp;
    /* The pool is created at generation 0; reading the counter here instead
     * would miss a job published before this thread got to run. */
    unsigned seen = 0;
    for (;;) {
        if (!spin_for_job(tp, seen)) {
            pthread_mutex_lock(&tp->lock);
            atomic_fetch_add(&tp->n_sleeping, 1);
            while (atomic_load(&tp->generation) == seen &&
                   !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->wake, &tp->lock);
            atomic_fetch_sub(&tp->n_sleeping, 1);
            pthread_mutex_unlock(&tp->lock);
        }
        if (atomic_load(&tp->stop)) break;
        seen = atomic_load(&tp->generation);
        tp->fn(tp->arg, wa->ith, tp->n_threads);
        if (atomic_fetch_sub(&tp->pending, 1) == 1 &&
            atomic_load(&tp->caller_asleep)) {
            pthread_mutex_lock(&tp->lock);
            pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->lock);
        }
    }
    return NULL;
}

static void stop_workers(lc_threadpool *tp, int n_started) {
    pthread_mutex_lock(&tp->lock);
    atomic_store(&tp->stop, true);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->lock);
    for (int i = 0; i < n_started; i++) pthread_join(tp->thread[i], NULL);
}

lc_threadpool *lc_threadpool_new(int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;

    lc_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->stop, false);
    atomic_init(&tp->n_sleeping, 0);
    atomic_init(&tp->caller_asleep, false);
    if (pthread_mutex_init(&tp->lock, NULL) != 0) {
        free(tp);
        return NULL;
    }
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);

    int n_workers = n_threads - 1;
    tp->thread = calloc((size_t)n_workers + 1, sizeof *tp->thread);
    tp->warg = calloc((size_t)n_workers + 1, sizeof *tp->warg);
    if (!tp->thread || !tp->warg) {
        tp->n_threads = 1;
        lc_threadpool_free(tp);
        return NULL;
    }
    for (int i = 0; i < n_workers; i++) {
        tp->warg[i] = (worker_arg){tp, i + 1};
        if (pthread_create(&tp->thread[i], NULL, worker_main, &tp->warg[i]) !=
            0) {
            stop_workers(tp, i);
            tp->n_threads = 1; /* already joined */
            lc_threadpool_free(tp);
            return NULL;
        }
    }
    return tp;
}

void lc_threadpool_free(lc_threadpool *tp) {
    if (!tp) return;
    if (tp->n_threads > 1) stop_workers(tp, tp->n_threads - 1);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    pthread_mutex_destroy(&tp->lock);
    free(tp->thread);
    free(tp->warg);
    free(tp);
}

int lc_threadpool_size(const lc_threadpool *tp) {
    return tp ? tp->n_threads : 1;
}

/* Spins, then sleeps, until every worker has finished the current job. */
static void wait_for_workers(lc_threadpool *tp) {
    int64_t deadline = now_ns() + SPIN_NS;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(&tp->pending, memory_order_acquire) == 0)
                return;
            cpu_relax();
        }
        if (now_ns() > deadline) break;
    }
    pthread_mutex_lock(&tp->lock);
    atomic_store(&tp->caller_asleep, true);
    while (atomic_load(&tp->pending) != 0)
        pthread_cond_wait(&tp->done, &tp->lock);
    atomic_store(&tp->caller_asleep, false);
    pthread_mutex_unlock(&tp->lock);
}

void lc_threadpool_run(lc_threadpool *tp, lc_task_fn fn, void *arg) {
    if (!tp || tp->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store(&tp->pending, tp->n_threads - 1);
    atomic_fetch_add(&tp->generation, 1); /* publishes fn and arg */
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->lock);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->lock);
    }
    fn(arg, 0, tp->n_threads);
    wait_for_workers(tp);
}

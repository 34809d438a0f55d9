/*
 * A fixed pool of worker threads for the matrix work.
 *
 * lc_threadpool_run() runs fn(arg, ith, nth) on every thread of the pool
 * (the caller is thread 0) and returns when all have finished. Workers spin
 * briefly between jobs, then sleep, so a token-by-token decode loop pays
 * little wake-up latency while an idle server uses no CPU.
 */
#ifndef LC_ENGINE_CPU_THREADPOOL_H
#define LC_ENGINE_CPU_THREADPOOL_H

typedef struct lc_threadpool lc_threadpool;
typedef void (*lc_task_fn)(void *arg, int ith, int nth);

/* n_threads <= 0: number of online CPUs. NULL on failure. */
lc_threadpool *lc_threadpool_new(int n_threads);
void lc_threadpool_free(lc_threadpool *tp);
int lc_threadpool_size(const lc_threadpool *tp);
void lc_threadpool_run(lc_threadpool *tp, lc_task_fn fn, void *arg);

#endif

/*
 * The scheduler: its thread, the waiting queue, submit and shutdown.
 *
 * The thread loops: take the waiting jobs that fit into free slots (FIFO)
 * and the ones cancelled while waiting, run one step (step.c), and sleep
 * on the condition variable only when a step could do nothing (no jobs,
 * or every job paused on a full channel) until someone wakes it: a submit,
 * a cancel, a reader making room, or lc_sched_free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/sched_impl.h"

lc_sched_params lc_sched_default_params(void) {
    lc_sched_params p = {.n_ctx = 0,
                         .n_slots = 4,
                         .queue_max = 64,
                         .n_threads = 0,
                         .n_batch = 512,
                         .gpu_mode = LC_GPU_AUTO,
                         .n_gpu_layers = -1};
    return p;
}

double lc_sched_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void lc_sched_wake(lc_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->wake = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int lc_sched_n_ctx(const lc_sched *s) {
    return s ? s->n_ctx : 0;
}

void lc_sched_load(const lc_sched *s, int *waiting, int *running) {
    int w = 0, r = 0;
    if (s) {
        /* The counters are guarded by mu, which locking does not change
         * in any way a caller could see. */
        pthread_mutex_t *mu = (pthread_mutex_t *)&s->mu;
        pthread_mutex_lock(mu);
        w = s->n_waiting;
        r = s->n_running;
        pthread_mutex_unlock(mu);
    }
    if (waiting) *waiting = w;
    if (running) *running = r;
}

bool lc_sched_gpu_active(const lc_sched *s) {
    return s && lc_context_gpu_active(s->ctx);
}

const char *lc_sched_backend_name(const lc_sched *s) {
    return s ? lc_context_backend_name(s->ctx) : "";
}

int lc_sched_gpu_memory_mb(const lc_sched *s) {
    return s ? atomic_load(&((lc_sched *)s)->gpu_memory_mb) : 0;
}

/* A singly linked list of jobs, for handing jobs out of the queue. */
typedef struct job_list {
    lc_job *head, *tail;
} job_list;

static void list_append(job_list *l, lc_job *j) {
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

/* Moves waiting jobs that fit into free slots to `start` (in queue order)
 * and cancelled waiting jobs to `cancel`. Under s->mu. */
static void take_waiting(lc_sched *s, job_list *start, job_list *cancel) {
    lc_job *prev = NULL, *j = s->queue_head;
    while (j) {
        lc_job *next = j->next;
        const bool cancelled = lc_job_is_cancelled(j);
        const bool admit = !cancelled && s->n_running < s->n_slots;
        if (cancelled || admit) {
            if (prev)
                prev->next = next;
            else
                s->queue_head = next;
            if (s->queue_tail == j) s->queue_tail = prev;
            s->n_waiting--;
            if (admit) s->n_running++;
            list_append(admit ? start : cancel, j);
        } else {
            prev = j;
        }
        j = next;
    }
}

static void *sched_main(void *arg) {
    lc_sched *s = arg;
    for (;;) {
        job_list start = {NULL, NULL}, cancel = {NULL, NULL};
        pthread_mutex_lock(&s->mu);
        s->wake = false;
        s->draining = s->stopping;
        take_waiting(s, &start, &cancel);
        const bool quit = s->stopping && !s->queue_head && s->n_running == 0;
        pthread_mutex_unlock(&s->mu);

        /* Job locks are taken only now, outside s->mu (lock order). */
        for (lc_job *j = cancel.head, *next; j; j = next) {
            next = j->next;
            lc_step_finish(s, j, "cancelled", NULL);
        }
        for (lc_job *j = start.head, *next; j; j = next) {
            next = j->next;
            j->run.admitted = ++s->use_clock;
            lc_slots_assign(s, j);
            lc_step_start(s, j);
        }
        if (quit) break;
        if (lc_step(s) > 0 || start.head || cancel.head) continue;

        pthread_mutex_lock(&s->mu);
        while (!s->wake) pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void free_parts(lc_sched *s) {
    if (s->slots) {
        for (int i = 0; i < s->n_slots; i++) {
            free(s->slots[i].tokens);
            free(s->slots[i].cache_key);
        }
    }
    free(s->slots);
    free(s->b_token);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_logits);
    free(s->piece);
    lc_context_free(s->ctx);
    free(s);
}

/* Everything the thread needs, allocated before it starts. */
static int alloc_parts(lc_sched *s) {
    const size_t nb = (size_t)s->n_batch;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->b_token = malloc(nb * sizeof *s->b_token);
    s->b_pos = malloc(nb * sizeof *s->b_pos);
    s->b_seq = malloc(nb * sizeof *s->b_seq);
    s->b_logits = malloc(nb * sizeof *s->b_logits);
    s->cap_piece = 256;
    s->piece = malloc((size_t)s->cap_piece);
    if (!s->slots || !s->b_token || !s->b_pos || !s->b_seq || !s->b_logits ||
        !s->piece)
        return -1;
    for (int i = 0; i < s->n_slots; i++) {
        s->slots[i].tokens =
            malloc((size_t)s->n_ctx * sizeof *s->slots[i].tokens);
        if (!s->slots[i].tokens) return -1;
    }
    return 0;
}

lc_sched *lc_sched_new(lc_model *model, const lc_sched_params *params,
                       char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (!model) {
        if (err && err_len) snprintf(err, err_len, "no model given");
        return NULL;
    }
    lc_sched_params p = params ? *params : lc_sched_default_params();
    if (p.n_slots <= 0) p.n_slots = 4;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.queue_max < 0) p.queue_max = 64;
    /* Every generating job needs one position in each step's batch. */
    if (p.n_batch < p.n_slots) p.n_batch = p.n_slots;

    lc_sched *s = calloc(1, sizeof *s);
    if (!s) {
        if (err && err_len) snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->model = model;
    s->n_slots = p.n_slots;
    s->n_batch = p.n_batch;
    s->queue_max = p.queue_max;
    s->n_vocab = lc_model_n_vocab(model);
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_seq_max = p.n_slots;
    cp.n_batch = p.n_batch;
    cp.n_threads = p.n_threads;
    cp.gpu_mode = p.gpu_mode;
    cp.n_gpu_layers = p.n_gpu_layers;
    s->ctx = lc_context_new(model, &cp, err, err_len);
    if (!s->ctx) {
        free(s);
        return NULL;
    }
    s->n_ctx = lc_context_n_ctx(s->ctx);
    atomic_init(&s->gpu_memory_mb, lc_context_gpu_memory_mb(s->ctx));
    if (alloc_parts(s)) {
        if (err && err_len) snprintf(err, err_len, "out of memory");
        free_parts(s);
        return NULL;
    }
    if (pthread_mutex_init(&s->mu, NULL)) {
        if (err && err_len) snprintf(err, err_len, "cannot create a mutex");
        free_parts(s);
        return NULL;
    }
    if (pthread_cond_init(&s->cv, NULL)) {
        if (err && err_len) snprintf(err, err_len, "cannot create a condvar");
        pthread_mutex_destroy(&s->mu);
        free_parts(s);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, sched_main, s)) {
        if (err && err_len)
            snprintf(err, err_len, "cannot start the scheduler thread");
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free_parts(s);
        return NULL;
    }
    return s;
}

void lc_sched_free(lc_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->wake = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* The thread leaves once every accepted job has had its DONE event,
     * and by then it let go of all of them. */
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free_parts(s);
}

enum lc_submit_status lc_sched_submit(lc_sched *s, const lc_job_params *p,
                                      lc_job **job, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    if (job) *job = NULL;
    if (!s || !p || !job) {
        if (err && err_len) snprintf(err, err_len, "missing argument");
        return LC_SUBMIT_INVALID;
    }
    bool too_long = false;
    lc_job *j =
        lc_job_create(p, s->n_vocab, s->n_ctx, s, &too_long, err, err_len);
    if (!j) return too_long ? LC_SUBMIT_TOO_LONG : LC_SUBMIT_INVALID;
    j->t_submit = lc_sched_now_ms();

    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        lc_job_destroy(j);
        if (err && err_len)
            snprintf(err, err_len, "the scheduler is shutting down");
        return LC_SUBMIT_STOPPING;
    }
    /* Jobs that will find a free slot at once do not count as waiting. */
    const int free_slots = s->n_slots - s->n_running;
    if (s->n_waiting >= s->queue_max + free_slots) {
        const int waiting = s->n_waiting;
        pthread_mutex_unlock(&s->mu);
        lc_job_destroy(j);
        if (err && err_len)
            snprintf(err, err_len, "the queue is full (%d jobs waiting)",
                     waiting);
        return LC_SUBMIT_QUEUE_FULL;
    }
    j->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = j;
    else
        s->queue_head = j;
    s->queue_tail = j;
    s->n_waiting++;
    s->wake = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    *job = j;
    return LC_SUBMIT_OK;
}

/*
 * Jobs: parameters copied at submit, the bounded event channel between the
 * scheduler thread and the job's reader, cancellation, and the reference
 * count that frees a job once both its owner and the scheduler let go.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched/sched_impl.h"

#define DEFAULT_CAPACITY 256

static void set_err(char *err, size_t err_len, const char *msg) {
    if (err && err_len) snprintf(err, err_len, "%s", msg);
}

void lc_job_destroy(lc_job *j) {
    if (!j) return;
    for (int i = 0; i < j->count; i++)
        free(j->events[(j->head + i) % j->cap_events].text);
    free(j->events);
    free(j->read_text);
    for (int i = 0; i < j->n_stops; i++) free(j->stops[i]);
    free(j->stops);
    free(j->prompt);
    free(j->cache_key);
    lc_sampler_free(j->run.sampler);
    free(j->run.held);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

/* The channel's condition variable waits on CLOCK_MONOTONIC, so that a
 * timeout is not stretched or cut by changes of the wall clock. */
static int init_sync(lc_job *j) {
    if (pthread_mutex_init(&j->mu, NULL)) return -1;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca)) {
        pthread_mutex_destroy(&j->mu);
        return -1;
    }
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0) rc = pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) pthread_mutex_destroy(&j->mu);
    return rc ? -1 : 0;
}

/* Checks what can be checked before the job is queued. */
static int check_params(const lc_job_params *p, int n_vocab, int n_ctx,
                        bool *too_long, char *err, size_t err_len) {
    if (!p->prompt || p->n_prompt <= 0) {
        set_err(err, err_len, "the prompt is empty");
        return -1;
    }
    if (p->n_prompt > n_ctx - 1) {
        /* At least one position must stay free for a generated token. */
        if (err && err_len)
            snprintf(err, err_len,
                     "the prompt has %d tokens; the context holds %d "
                     "(at most %d for the prompt)",
                     p->n_prompt, n_ctx, n_ctx - 1);
        *too_long = true;
        return -1;
    }
    for (int i = 0; i < p->n_prompt; i++) {
        if (p->prompt[i] < 0 || p->prompt[i] >= n_vocab) {
            if (err && err_len)
                snprintf(err, err_len,
                         "prompt token %d: id %d is outside the vocabulary "
                         "(0..%d)",
                         i, p->prompt[i], n_vocab - 1);
            return -1;
        }
    }
    if (p->n_stops < 0 || (p->n_stops > 0 && !p->stops)) {
        set_err(err, err_len, "invalid list of stop strings");
        return -1;
    }
    for (int i = 0; i < p->n_stops; i++) {
        if (!p->stops[i] || !p->stops[i][0]) {
            set_err(err, err_len, "a stop string is empty");
            return -1;
        }
    }
    return 0;
}

static int copy_params(lc_job *j, const lc_job_params *p) {
    j->prompt = malloc((size_t)p->n_prompt * sizeof *j->prompt);
    if (!j->prompt) return -1;
    memcpy(j->prompt, p->prompt, (size_t)p->n_prompt * sizeof *j->prompt);
    j->n_prompt = p->n_prompt;
    if (p->cache_key && !(j->cache_key = strdup(p->cache_key))) return -1;
    if (p->n_stops > 0) {
        j->stops = calloc((size_t)p->n_stops, sizeof *j->stops);
        if (!j->stops) return -1;
        for (int i = 0; i < p->n_stops; i++) {
            if (!(j->stops[i] = strdup(p->stops[i]))) return -1;
            j->n_stops = i + 1;
        }
    }
    return 0;
}

lc_job *lc_job_create(const lc_job_params *p, int n_vocab, int n_ctx,
                      lc_sched *s, bool *too_long, char *err, size_t err_len) {
    *too_long = false;
    if (check_params(p, n_vocab, n_ctx, too_long, err, err_len)) return NULL;
    lc_job *j = calloc(1, sizeof *j);
    if (!j) {
        set_err(err, err_len, "out of memory");
        return NULL;
    }
    if (init_sync(j)) {
        free(j);
        set_err(err, err_len, "cannot create the job's channel");
        return NULL;
    }
    j->max_tokens = p->max_tokens;
    j->capacity =
        p->channel_capacity > 0 ? p->channel_capacity : DEFAULT_CAPACITY;
    j->refs = 2;
    j->sched = s;
    j->run.slot = -1;
    j->run.row = -1;
    j->run.min_prob = 1.0;
    atomic_init(&j->cancelled, false);
    /* The sampler is made here rather than on the scheduler thread so that
     * a failure is an answer to this submit. */
    j->run.sampler = lc_sampler_new(&p->sampling, n_vocab);
    if (!j->run.sampler || copy_params(j, p)) {
        lc_job_destroy(j);
        set_err(err, err_len, "out of memory");
        return NULL;
    }
    return j;
}

/* Makes room for `need` events in the ring. Under j->mu. */
static int reserve_events(lc_job *j, int need) {
    if (need <= j->cap_events) return 0;
    int cap = j->cap_events ? j->cap_events * 2 : 8;
    while (cap < need) cap *= 2;
    lc_job_event *ev = malloc((size_t)cap * sizeof *ev);
    if (!ev) return -1;
    /* Unroll the ring into the new array from index 0. */
    for (int i = 0; i < j->count; i++)
        ev[i] = j->events[(j->head + i) % j->cap_events];
    free(j->events);
    j->events = ev;
    j->cap_events = cap;
    j->head = 0;
    return 0;
}

int lc_job_push(lc_job *j, const lc_event *ev, const char *text) {
    const bool done = ev->type == LC_EVENT_DONE;
    char *copy = strdup(text ? text : "");
    pthread_mutex_lock(&j->mu);
    /* A TOKEN event also reserves the place of the DONE event that must
     * always be deliverable, so a DONE push does not fail for memory once
     * any event was pushed. A DONE whose text could not be copied still
     * goes out, with no text. */
    int need = j->count + (done ? 1 : 2);
    if (reserve_events(j, need) || (!copy && !done)) {
        pthread_mutex_unlock(&j->mu);
        free(copy);
        return -1;
    }
    lc_job_event *slot = &j->events[(j->head + j->count) % j->cap_events];
    slot->ev = *ev;
    slot->ev.text = NULL;
    slot->text = copy;
    j->count++;
    if (done) j->done_pushed = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

bool lc_job_channel_full(lc_job *j) {
    pthread_mutex_lock(&j->mu);
    bool full = j->count >= j->capacity;
    pthread_mutex_unlock(&j->mu);
    return full;
}

bool lc_job_is_cancelled(const lc_job *j) {
    return atomic_load(&j->cancelled);
}

/* Wakes the scheduler if it still holds the job. Under j->mu. */
static void wake_locked(lc_job *j) {
    if (j->sched) lc_sched_wake(j->sched);
}

/* Drops one reference; frees the job when it was the last. */
static void unref(lc_job *j, bool scheduler) {
    pthread_mutex_lock(&j->mu);
    if (scheduler) j->sched = NULL;
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) lc_job_destroy(j);
}

void lc_job_release(lc_job *j) {
    unref(j, true);
}

static void deadline_after(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int lc_job_next(lc_job *job, lc_event *ev, int timeout_ms) {
    if (!job || !ev) return -1;
    struct timespec deadline;
    if (timeout_ms > 0) deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&job->mu);
    while (job->count == 0 && !job->done_read) {
        if (timeout_ms == 0) break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&job->cv, &job->mu);
        } else if (pthread_cond_timedwait(&job->cv, &job->mu, &deadline) ==
                   ETIMEDOUT) {
            break;
        }
    }
    if (job->done_read) {
        pthread_mutex_unlock(&job->mu);
        return -1;
    }
    if (job->count == 0) {
        pthread_mutex_unlock(&job->mu);
        return 0;
    }
    /* A reader that makes room in a full channel un-pauses its job. */
    const bool was_full = job->count >= job->capacity;
    lc_job_event *e = &job->events[job->head];
    job->head = (job->head + 1) % job->cap_events;
    job->count--;
    free(job->read_text);
    job->read_text = e->text;
    e->text = NULL;
    *ev = e->ev;
    ev->text = job->read_text ? job->read_text : "";
    if (ev->type == LC_EVENT_DONE) job->done_read = true;
    if (was_full) wake_locked(job);
    pthread_mutex_unlock(&job->mu);
    return 1;
}

void lc_job_cancel(lc_job *job) {
    if (!job) return;
    atomic_store(&job->cancelled, true);
    pthread_mutex_lock(&job->mu);
    wake_locked(job);
    pthread_mutex_unlock(&job->mu);
}

void lc_job_free(lc_job *job) {
    if (!job) return;
    /* Harmless when the job already ended: the scheduler let go of it. */
    lc_job_cancel(job);
    unref(job, false);
}

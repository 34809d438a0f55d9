/*
 * The scheduler's private structures: a job (its parameters, its event
 * channel, its lifetime and its running state), a sequence slot of the
 * context, and the scheduler itself.
 *
 * Threads and locks:
 *   - lc_sched.mu guards the waiting queue, the counters and the wake flag.
 *   - lc_job.mu guards a job's channel, its reference count and its pointer
 *     back to the scheduler.
 *   - Everything in lc_job_run and lc_slot is touched by the scheduler
 *     thread only, so it needs no lock.
 * Lock order: a job's mu before the scheduler's mu (a reader wakes the
 * scheduler while holding its job's lock). The scheduler thread therefore
 * never takes a job's lock while holding its own.
 */
#ifndef LC_SCHED_SCHED_IMPL_H
#define LC_SCHED_SCHED_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sched/sched.h"

/* One buffered event; text is owned by the channel until it is read. */
typedef struct lc_job_event {
    lc_event ev;
    char *text;
} lc_job_event;

/* What the scheduler thread knows about a job while it runs. */
typedef struct lc_job_run {
    int slot;             /* sequence slot, -1 while waiting */
    uint64_t admitted;    /* admission order: prompt chunks go FIFO */
    int n_fed;            /* prompt tokens already in the KV cache */
    int n_cached;         /* of which were reused */
    bool has_pending;     /* a sampled token waits to be evaluated */
    int32_t pending;      /* that token */
    bool in_batch;        /* has tokens in this step's batch */
    int row;              /* batch index of its logits this step, or -1 */
    bool prompt_done_now; /* this step's chunk ends the prompt */
    lc_sampler *sampler;
    lc_detok detok;
    bool text_closed; /* a stop string matched: no more text */
    char *held;       /* text not yet emitted: a possible stop string */
    size_t n_held, cap_held;
    int n_gen;          /* TOKEN events emitted */
    double sum_logprob; /* of the emitted tokens */
    double min_prob;
    /* CLOCK_MONOTONIC, in ms; 0 when the moment has not come. */
    double t_first_eval, t_first_tok, t_last_tok;
    double prompt_ms;
} lc_job_run;

struct lc_job {
    /* Set at submit and read-only afterwards. */
    int32_t *prompt; /* [n_prompt] */
    int n_prompt;
    char *cache_key; /* NULL: no reuse by key */
    int max_tokens;
    char **stops; /* [n_stops] */
    int n_stops;
    int capacity; /* TOKEN events buffered before the job pauses */
    double t_submit;

    /* Channel and lifetime, under mu. The ring grows past capacity only
     * while the scheduler shuts down (a job is never paused then, so that
     * lc_sched_free cannot wait forever on a reader that is gone). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lc_job_event *events; /* ring [cap_events] */
    int head, count, cap_events;
    char *read_text; /* text of the event last handed out */
    bool done_pushed, done_read;
    int refs;        /* owner + scheduler */
    lc_sched *sched; /* to wake it; NULL once the scheduler let go */
    char error[256]; /* message of an "error" finish */

    atomic_bool cancelled;

    /* Scheduler thread only. */
    lc_job *next; /* in the waiting queue */
    lc_job_run run;
};

/* A sequence of the context: the tokens its KV cache holds. */
typedef struct lc_slot {
    int32_t *tokens; /* [n_ctx] mirror of the cache */
    int n_tokens;
    char *cache_key; /* key of the job that used it last, or NULL */
    uint64_t last_used;
    lc_job *job; /* running job, or NULL when free */
} lc_slot;

struct lc_sched {
    lc_model *model;
    lc_context *ctx;
    int n_ctx, n_slots, n_batch, queue_max, n_vocab;
    pthread_t thread;
    /* GPU memory the context held at its last measurement (MiB), written
     * by the scheduler thread, read by anyone (/metrics). */
    atomic_int gpu_memory_mb;

    /* Under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lc_job *queue_head, *queue_tail;
    int n_waiting, n_running;
    bool stopping;
    bool wake; /* something changed since the thread last looked */

    /* Scheduler thread only. */
    bool draining;      /* stopping: no job pauses any more */
    lc_slot *slots;     /* [n_slots] */
    uint64_t use_clock; /* orders slot use (LRU) and admissions */
    int32_t *b_token;   /* [n_batch] */
    int32_t *b_pos;     /* [n_batch] */
    int32_t *b_seq;     /* [n_batch] */
    int8_t *b_logits;   /* [n_batch] */
    char *piece;        /* detokeniser output scratch */
    int cap_piece;
};

/* ---- job.c */

/* Validates p and builds a job holding two references. NULL with err set
 * (and *too_long when the prompt does not fit n_ctx - 1) on failure. */
lc_job *lc_job_create(const lc_job_params *p, int n_vocab, int n_ctx,
                      lc_sched *s, bool *too_long, char *err, size_t err_len);
/* Frees a job that was never handed out. */
void lc_job_destroy(lc_job *j);
/* Appends an event (text copied; NULL means ""). Keeps room for a DONE
 * event, so that one always fits. 0, or -1 when out of memory. */
int lc_job_push(lc_job *j, const lc_event *ev, const char *text);
/* True while the reader has `capacity` unread events. */
bool lc_job_channel_full(lc_job *j);
bool lc_job_is_cancelled(const lc_job *j);
/* The scheduler drops its reference (after the DONE event). */
void lc_job_release(lc_job *j);

/* ---- sched.c */

/* Tells the scheduler thread to look again (new job, cancel, a reader made
 * room in a full channel). */
void lc_sched_wake(lc_sched *s);
double lc_sched_now_ms(void);

/* ---- slots.c */

/* Gives a job a free slot, reusing the longest cached prefix. */
void lc_slots_assign(lc_sched *s, lc_job *j);
/* The job leaves its slot; the slot keeps its tokens for reuse. */
void lc_slots_release(lc_sched *s, lc_job *j);

/* ---- step.c */

/* Ends a job: its DONE event, its slot, the scheduler's reference. */
void lc_step_finish(lc_sched *s, lc_job *j, const char *reason,
                    const char *error);
/* Sets up a newly admitted job's running state (sampler history, detok). */
void lc_step_start(lc_sched *s, lc_job *j);
/* One step: cancellations, one batch, one lc_decode, sampling. Returns the
 * number of things done (tokens evaluated, jobs finished); 0 means nothing
 * can run until something changes. */
int lc_step(lc_sched *s);

#endif

/*
 * The scheduler: one thread owns the engine context and its KV cache; every
 * generation is a job submitted to it.
 *
 * Connection threads never run the model. A request submits a job (a prompt
 * already tokenized, sampling parameters, limits) and then reads events
 * from the job's own bounded channel: one event per generated piece of text,
 * then a final event with the measured statistics. The scheduler thread
 * evaluates all running jobs together (continuous batching: one lc_decode
 * per step holds the next token of every running sequence, plus prompt
 * chunks of jobs that are starting), so a new request never waits for
 * another to finish, and a slow reader only fills its own channel: when a
 * channel is full its job pauses (skips steps) rather than stalling others.
 *
 * KV reuse: each sequence slot of the context remembers the tokens it holds
 * and the cache key (a session id) of the job that used it last. A job with
 * a cache key goes to the slot that held that key when it is free, and only
 * the tokens after the longest common prefix are evaluated.
 *
 * Cancellation: lc_job_cancel (or lc_job_free by a client that went away)
 * is seen by the scheduler before its next step; the job then ends with
 * finish reason "cancelled" and the text generated so far.
 */
#ifndef LC_SCHED_SCHED_H
#define LC_SCHED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llamachat/engine.h"

typedef struct lc_sched lc_sched;
typedef struct lc_job lc_job;

typedef struct lc_sched_params {
    int n_ctx;        /* positions per sequence (0: min(model's, 4096)) */
    int n_slots;      /* sequences evaluated together (default 4) */
    int queue_max;    /* jobs waiting for a slot before submit refuses (64) */
    int n_threads;    /* 0: the model's */
    int n_batch;      /* tokens per lc_decode step (default 512) */
    int gpu_mode;     /* LC_GPU_AUTO (0, default), LC_GPU_ON, LC_GPU_OFF */
    int n_gpu_layers; /* layers on the GPU; -1 (default): as many as fit */
} lc_sched_params;

lc_sched_params lc_sched_default_params(void);

/* Creates the context and starts the scheduler thread. NULL on failure. */
lc_sched *lc_sched_new(lc_model *model, const lc_sched_params *params,
                       char *err, size_t err_len);
/* Stops accepting jobs, lets running jobs finish (each gets its final
 * event), then stops the thread and frees everything. The jobs themselves
 * are still freed by their owners with lc_job_free. */
void lc_sched_free(lc_sched *s);

int lc_sched_n_ctx(const lc_sched *s);
/* Jobs waiting for a slot, and jobs running now. */
void lc_sched_load(const lc_sched *s, int *waiting, int *running);
/* The backend of the scheduler's context, fixed by lc_sched_new: true when
 * layers run on a GPU; "CPU" or e.g. "CUDA (NVIDIA H200)". */
bool lc_sched_gpu_active(const lc_sched *s);
const char *lc_sched_backend_name(const lc_sched *s);
/* GPU memory the engine held when it was last measured (at the end of
 * each job, and at start), in MiB; 0 on the CPU. Safe from any thread. */
int lc_sched_gpu_memory_mb(const lc_sched *s);

typedef struct lc_job_params {
    const int32_t *prompt; /* tokens, copied */
    int n_prompt;
    const char *cache_key; /* session id for KV reuse, or NULL */
    lc_sampler_params sampling;
    int max_tokens;           /* <= 0: until the context is full */
    const char *const *stops; /* stop strings, copied */
    int n_stops;
    int channel_capacity; /* events buffered (default 256) */
} lc_job_params;

enum lc_submit_status {
    LC_SUBMIT_OK,
    LC_SUBMIT_QUEUE_FULL, /* answer 503 + Retry-After */
    LC_SUBMIT_TOO_LONG,   /* prompt does not fit the context: 400 */
    LC_SUBMIT_STOPPING,   /* the scheduler is shutting down: 503 */
    LC_SUBMIT_INVALID,    /* bad parameters (err says which): 400 */
};

/* Queues a job. On success *job is set; the caller must lc_job_free it. */
enum lc_submit_status lc_sched_submit(lc_sched *s, const lc_job_params *p,
                                      lc_job **job, char *err, size_t err_len);

enum lc_event_type {
    LC_EVENT_TOKEN, /* a piece of text (may be empty while a UTF-8
                       character or a possible stop string is held back) */
    LC_EVENT_DONE,  /* the last event of every job */
};

/* Measured statistics of a finished job. */
typedef struct lc_job_stats {
    int n_prompt;        /* prompt tokens */
    int n_cached;        /* of which were reused from the KV cache */
    int n_generated;     /* tokens generated */
    double queue_ms;     /* submit -> first evaluation */
    double prompt_ms;    /* evaluating the uncached prompt tokens */
    double ttft_ms;      /* submit -> first generated token */
    double gen_ms;       /* first -> last generated token */
    double total_ms;     /* submit -> done */
    double mean_logprob; /* mean log-probability of the chosen tokens */
    double min_prob;     /* lowest probability of a chosen token */
    int gpu_memory_mb;   /* GPU memory held by the engine when the job
                            ended, MiB, from the driver (0 on the CPU) */
} lc_job_stats;

typedef struct lc_event {
    enum lc_event_type type;
    /* LC_EVENT_TOKEN */
    const char *text; /* valid until the next lc_job_next */
    int32_t token;
    float prob; /* probability of the token when sampled */
    int index;  /* 0-based position in the generated text */
    /* LC_EVENT_DONE (text: held-back text released at the end, e.g. the
       beginning of a stop string that never completed; usually "") */
    const char *finish_reason; /* "stop" (EOG or stop string), "length",
                                  "cancelled", "context", "error" */
    const char *error;         /* message when finish_reason is "error" */
    lc_job_stats stats;
} lc_event;

/* Waits up to timeout_ms (-1: forever) for the next event. Returns 1 when
 * an event was stored, 0 on timeout, -1 after the DONE event was read. */
int lc_job_next(lc_job *job, lc_event *ev, int timeout_ms);
/* Asks the scheduler to stop the job; its DONE event still follows. */
void lc_job_cancel(lc_job *job);
/* Releases the caller's reference; cancels the job if it is running. */
void lc_job_free(lc_job *job);

#endif

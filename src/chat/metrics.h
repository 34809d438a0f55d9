/*
 * The measured facts stored with an assistant message: confidence, speed
 * and the metadata JSON object.
 */
#ifndef LC_CHAT_METRICS_H
#define LC_CHAT_METRICS_H

#include "llamachat/engine.h"
#include "sched/sched.h"

/* 0..100: 100 × exp(mean log p) over the generated tokens, i.e. the
 * geometric mean of their probabilities under the sampling distribution
 * (chat.h); 0 when nothing was generated. */
int lc_chat_confidence(const lc_job_stats *st);

/* Generation speed in tokens per second, 0 when it cannot be measured. */
double lc_chat_tokens_per_second(const lc_job_stats *st);

typedef struct lc_reply_facts {
    const char *finish_reason;
    const lc_sampler_params *sampling;
    int max_tokens;
    const lc_job_stats *stats;
    int n_dropped_turns;
} lc_reply_facts;

/* The message's metadata as compact JSON text (malloc'd; NULL when out of
 * memory):
 *   {"finish_reason", "sampling": {temperature, top_k, top_p, min_p,
 *    repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty,
 *    seed}, "max_tokens", "prompt_tokens", "cached_tokens", "dropped_turns",
 *    "queue_ms", "ttft_ms", "prompt_ms", "generation_ms", "total_ms"} */
char *lc_chat_reply_metadata(const lc_reply_facts *f);

#endif

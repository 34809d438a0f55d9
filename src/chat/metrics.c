/* Confidence, speed and metadata of a reply; see metrics.h. */
#include "chat/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

int lc_chat_confidence(const lc_job_stats *st) {
    if (st->n_generated <= 0 || !isfinite(st->mean_logprob)) return 0;
    double c = 100.0 * exp(st->mean_logprob);
    if (c < 0) c = 0;
    if (c > 100) c = 100;
    return (int)lround(c);
}

double lc_chat_tokens_per_second(const lc_job_stats *st) {
    /* gen_ms runs from the first generated token to the last, so it spans
     * n_generated - 1 decode steps: the first token came from the prompt's
     * logits and its time is in ttft_ms. Counting intervals, not tokens,
     * keeps one- and two-token replies from reporting absurd speeds. */
    if (st->n_generated < 2 || st->gen_ms <= 0) return 0;
    return (st->n_generated - 1) * 1000.0 / st->gen_ms;
}

/* A millisecond figure with three decimals, enough for any timing here. */
static json_t *ms(double v) {
    return json_real(round(v * 1000.0) / 1000.0);
}

/* A float parameter as the decimal that was asked for: 0.8f is
 * 0.800000011920929 as a double, and six significant digits give back 0.8. */
static json_t *param(float v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.6g", (double)v);
    return json_real(strtod(buf, NULL));
}

static json_t *sampling_json(const lc_sampler_params *s) {
    /* a seed beyond JSON's safe integers would lose digits as a number */
    json_t *seed = s->seed <= (uint64_t)INT64_MAX
                       ? json_integer((json_int_t)s->seed)
                       : json_sprintf("%llu", (unsigned long long)s->seed);
    return json_pack("{s:o*, s:i, s:o*, s:o*, s:o*, s:i, s:o*, s:o*, s:o*}",
                     "temperature", param(s->temperature), "top_k", s->top_k,
                     "top_p", param(s->top_p), "min_p", param(s->min_p),
                     "repeat_penalty", param(s->repeat_penalty),
                     "repeat_last_n", s->repeat_last_n, "presence_penalty",
                     param(s->presence_penalty), "frequency_penalty",
                     param(s->frequency_penalty), "seed", seed);
}

char *lc_chat_reply_metadata(const lc_reply_facts *f) {
    const lc_job_stats *st = f->stats;
    json_t *o = json_pack(
        "{s:s, s:o*, s:i, s:i, s:i, s:i, s:o*, s:o*, s:o*, s:o*, s:o*}",
        "finish_reason", f->finish_reason ? f->finish_reason : "unknown",
        "sampling", sampling_json(f->sampling), "max_tokens", f->max_tokens,
        "prompt_tokens", st->n_prompt, "cached_tokens", st->n_cached,
        "dropped_turns", f->n_dropped_turns, "queue_ms", ms(st->queue_ms),
        "ttft_ms", ms(st->ttft_ms), "prompt_ms", ms(st->prompt_ms),
        "generation_ms", ms(st->gen_ms), "total_ms", ms(st->total_ms));
    if (!o) return NULL;
    /* ten significant digits: every value above prints as the short
     * decimal it is (0.8, 12.345) rather than its binary expansion */
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    return text;
}

/*
 * One scheduler step (continuous batching).
 *
 * A step builds ONE batch for lc_decode out of every running job:
 *   - a job that is generating contributes its last sampled token (one
 *     position, logits wanted), unless its reader's channel is full: then
 *     it pauses, i.e. it simply sits this step out;
 *   - jobs still evaluating their prompt share what is left of n_batch,
 *     oldest admission first, so a long prompt is cut into chunks and the
 *     generating jobs keep producing one token per step meanwhile.
 * After the decode every job whose logits are ready samples its next
 * token, which goes through the detokeniser and the stop-string check into
 * the job's channel.
 *
 * Text and stop strings: the text of each token is appended to `held`;
 * what could still be the beginning of a stop string (lc_find_stop's
 * partial length) stays there, the rest is emitted with the token. A stop
 * string that matches is never emitted. When a job ends for another reason
 * the held text is released in the DONE event's text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_impl.h"

/* Makes room for n more bytes of held text plus a NUL. */
static int held_reserve(lc_job_run *r, size_t n) {
    if (r->n_held + n + 1 <= r->cap_held) return 0;
    size_t cap = r->cap_held ? r->cap_held : 64;
    while (cap < r->n_held + n + 1) cap *= 2;
    char *h = realloc(r->held, cap);
    if (!h) return -1;
    r->held = h;
    r->cap_held = cap;
    return 0;
}

static int held_append(lc_job_run *r, const char *text, size_t n) {
    if (held_reserve(r, n)) return -1;
    memcpy(r->held + r->n_held, text, n);
    r->n_held += n;
    r->held[r->n_held] = '\0';
    return 0;
}

/* Grows the shared detokeniser scratch buffer to at least n bytes. */
static int piece_reserve(lc_sched *s, int n) {
    if (n <= s->cap_piece) return 0;
    char *p = realloc(s->piece, (size_t)n);
    if (!p) return -1;
    s->piece = p;
    s->cap_piece = n;
    return 0;
}

/* Appends the text a token completes to the job's held text. */
static int push_token_text(lc_sched *s, lc_job_run *r, int32_t tok) {
    int n = lc_detok_push(&r->detok, tok, s->piece, s->cap_piece);
    if (n < 0) {
        /* The piece did not fit: nothing was consumed, retry larger. */
        if (piece_reserve(s, -n)) return -1;
        n = lc_detok_push(&r->detok, tok, s->piece, s->cap_piece);
        if (n < 0) return -1;
    }
    return held_append(r, s->piece, (size_t)n);
}

/* Bytes of an unfinished UTF-8 character, at the end of the stream. */
static int flush_text(lc_sched *s, lc_job_run *r) {
    if (r->text_closed || !r->detok.model) return 0; /* or never started */
    int n = lc_detok_flush(&r->detok, s->piece, s->cap_piece);
    if (n < 0) {
        if (piece_reserve(s, -n)) return -1;
        n = lc_detok_flush(&r->detok, s->piece, s->cap_piece);
        if (n < 0) return -1;
    }
    return held_append(r, s->piece, (size_t)n);
}

static void fill_stats(const lc_sched *s, const lc_job *j, double now,
                       lc_job_stats *st) {
    const lc_job_run *r = &j->run;
    st->n_prompt = j->n_prompt;
    st->n_cached = r->n_cached;
    st->n_generated = r->n_gen;
    /* A job that never reached the engine waited all its life. */
    st->queue_ms = (r->t_first_eval > 0 ? r->t_first_eval : now) - j->t_submit;
    st->prompt_ms = r->prompt_ms;
    st->ttft_ms = r->t_first_tok > 0 ? r->t_first_tok - j->t_submit : 0.0;
    st->gen_ms = r->t_first_tok > 0 ? r->t_last_tok - r->t_first_tok : 0.0;
    st->total_ms = now - j->t_submit;
    st->mean_logprob = r->n_gen > 0 ? r->sum_logprob / r->n_gen : 0.0;
    st->min_prob = r->n_gen > 0 ? r->min_prob : 0.0;
    /* Asked here, on the thread that owns the context. */
    st->gpu_memory_mb = lc_context_gpu_memory_mb(s->ctx);
}

/* Ends a job. The text still held back (not a stop string: a matched one
 * was dropped by the caller) goes out with the DONE event. */
void lc_step_finish(lc_sched *s, lc_job *j, const char *reason,
                    const char *error) {
    lc_job_run *r = &j->run;
    const double now = lc_sched_now_ms();
    if (flush_text(s, r) && !error) {
        reason = "error";
        error = "out of memory";
    }
    lc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LC_EVENT_DONE;
    ev.token = LC_TOKEN_NONE;
    ev.index = r->n_gen;
    ev.finish_reason = reason;
    if (error) {
        snprintf(j->error, sizeof j->error, "%s", error);
        ev.error = j->error;
    }
    fill_stats(s, j, now, &ev.stats);
    atomic_store(&s->gpu_memory_mb, ev.stats.gpu_memory_mb);

    /* The job stops counting as running before its reader can see DONE,
     * so that lc_sched_load never lags behind what a client observed. */
    lc_sampler_free(r->sampler);
    r->sampler = NULL;
    const bool was_running = r->slot >= 0;
    lc_slots_release(s, j);
    pthread_mutex_lock(&s->mu);
    if (was_running) s->n_running--;
    pthread_mutex_unlock(&s->mu);

    lc_job_push(j, &ev, r->n_held ? r->held : "");
    lc_job_release(j);
}

void lc_step_start(lc_sched *s, lc_job *j) {
    lc_job_run *r = &j->run;
    lc_detok_init(&r->detok, s->model, false);
    /* Penalties look back over the prompt as well. */
    for (int i = 0; i < j->n_prompt; i++)
        lc_sampler_accept(r->sampler, j->prompt[i]);
}

/* Emits the text of a sampled (non end-of-generation) token and decides
 * whether the job ends with it. */
static void emit_token(lc_sched *s, lc_job *j, int32_t tok, float prob) {
    lc_job_run *r = &j->run;
    r->n_gen++;
    r->sum_logprob += log(prob > 0.0f ? (double)prob : 1e-30);
    if (prob < r->min_prob) r->min_prob = prob;

    if (push_token_text(s, r, tok)) {
        lc_step_finish(s, j, "error", "out of memory");
        return;
    }
    size_t partial = 0;
    long at = j->n_stops > 0 ? lc_find_stop(r->held, r->n_held,
                                            (const char *const *)j->stops,
                                            j->n_stops, &partial)
                             : -1;
    const char *reason = NULL;
    size_t emit;
    if (at >= 0) {
        emit = (size_t)at;
        reason = "stop";
    } else {
        const bool length = j->max_tokens > 0 && r->n_gen >= j->max_tokens;
        /* The token just sampled would need position n_tokens. */
        const bool full = s->slots[r->slot].n_tokens >= s->n_ctx;
        if (length || full) {
            reason = length ? "length" : "context";
            if (flush_text(s, r)) {
                lc_step_finish(s, j, "error", "out of memory");
                return;
            }
            emit = r->n_held;
        } else {
            emit = r->n_held - partial;
        }
    }

    lc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = LC_EVENT_TOKEN;
    ev.token = tok;
    ev.prob = prob;
    ev.index = r->n_gen - 1;
    const char saved = r->held[emit];
    r->held[emit] = '\0';
    const int rc = lc_job_push(j, &ev, r->held);
    r->held[emit] = saved;
    if (at >= 0) {
        /* The stop string and whatever followed it are dropped, and so is
         * an unfinished character after it. */
        r->n_held = 0;
        r->text_closed = true;
    } else {
        memmove(r->held, r->held + emit, r->n_held - emit);
        r->n_held -= emit;
    }
    r->held[r->n_held] = '\0';

    if (rc) {
        lc_step_finish(s, j, "error", "out of memory");
    } else if (reason) {
        lc_step_finish(s, j, reason, NULL);
    } else {
        r->has_pending = true;
        r->pending = tok;
    }
}

/* Samples the next token of a job whose logits are in the last batch. */
static void sample_job(lc_sched *s, lc_job *j) {
    lc_job_run *r = &j->run;
    const float *logits = lc_get_logits(s->ctx, r->row);
    if (!logits) {
        lc_step_finish(s, j, "error", "no logits for the job's token");
        return;
    }
    float prob = 0.0f;
    const int32_t tok = lc_sampler_sample(r->sampler, logits, &prob);
    lc_sampler_accept(r->sampler, tok);
    const double now = lc_sched_now_ms();
    if (r->t_first_tok <= 0) r->t_first_tok = now;
    r->t_last_tok = now;
    if (lc_token_is_eog(s->model, tok)) {
        lc_step_finish(s, j, "stop", NULL);
        return;
    }
    emit_token(s, j, tok, prob);
}

/* Appends one token of slot `seq` to the batch; its K/V go to the slot. */
static void add_token(lc_sched *s, int *n, int seq, int32_t tok, bool want) {
    lc_slot *sl = &s->slots[seq];
    s->b_token[*n] = tok;
    s->b_pos[*n] = sl->n_tokens;
    s->b_seq[*n] = seq;
    s->b_logits[*n] = want ? 1 : 0;
    sl->tokens[sl->n_tokens++] = tok;
    (*n)++;
}

/* The prompt job admitted first among those not yet in this batch. */
static lc_job *oldest_prompt_job(lc_sched *s) {
    lc_job *pick = NULL;
    for (int i = 0; i < s->n_slots; i++) {
        lc_job *j = s->slots[i].job;
        if (!j || j->run.in_batch || j->run.has_pending) continue;
        if (j->run.n_fed >= j->n_prompt) continue;
        if (!pick || j->run.admitted < pick->run.admitted) pick = j;
    }
    return pick;
}

/* Fills the batch; returns its size. */
static int build_batch(lc_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) {
        lc_job *j = s->slots[i].job;
        if (!j || !j->run.has_pending) continue;
        /* While shutting down nobody may be left waiting on a reader. */
        if (!s->draining && lc_job_channel_full(j)) continue;
        j->run.has_pending = false;
        j->run.in_batch = true;
        j->run.row = n;
        add_token(s, &n, i, j->run.pending, true);
    }
    lc_job *j;
    while (n < s->n_batch && (j = oldest_prompt_job(s))) {
        lc_job_run *r = &j->run;
        int take = j->n_prompt - r->n_fed;
        if (take > s->n_batch - n) take = s->n_batch - n;
        for (int k = 0; k < take; k++)
            add_token(s, &n, r->slot, j->prompt[r->n_fed + k], false);
        r->n_fed += take;
        r->in_batch = true;
        if (r->n_fed == j->n_prompt) {
            /* Only the last prompt token's logits are needed. */
            s->b_logits[n - 1] = 1;
            r->row = n - 1;
            r->prompt_done_now = true;
        }
    }
    return n;
}

int lc_step(lc_sched *s) {
    int done = 0;
    for (int i = 0; i < s->n_slots; i++) {
        lc_job *j = s->slots[i].job;
        if (!j) continue;
        j->run.in_batch = false;
        j->run.prompt_done_now = false;
        j->run.row = -1;
        if (lc_job_is_cancelled(j)) {
            lc_step_finish(s, j, "cancelled", NULL);
            done++;
        }
    }

    const int n = build_batch(s);
    if (n == 0) return done;

    const double t0 = lc_sched_now_ms();
    for (int i = 0; i < s->n_slots; i++) {
        lc_job *j = s->slots[i].job;
        if (j && j->run.in_batch && j->run.t_first_eval <= 0)
            j->run.t_first_eval = t0;
    }
    lc_batch b = {n, s->b_token, s->b_pos, s->b_seq, s->b_logits};
    char err[256];
    if (lc_decode(s->ctx, &b, err, sizeof err)) {
        /* The cache keeps what it held before the batch: so does the
         * mirror, and every job of the batch ends with the engine's
         * message. */
        for (int i = 0; i < s->n_slots; i++) {
            lc_job *j = s->slots[i].job;
            s->slots[i].n_tokens = lc_kv_seq_len(s->ctx, i);
            if (j && j->run.in_batch) lc_step_finish(s, j, "error", err);
        }
        return done + 1;
    }
    const double t1 = lc_sched_now_ms();
    for (int i = 0; i < s->n_slots; i++) {
        lc_job *j = s->slots[i].job;
        if (!j || !j->run.in_batch) continue;
        if (j->run.prompt_done_now) j->run.prompt_ms = t1 - j->run.t_first_eval;
        if (j->run.row >= 0) sample_job(s, j);
    }
    return done + n;
}

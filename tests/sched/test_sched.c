/*
 * The scheduler against the engine itself, with the real stories260K model:
 * every expected output is computed here by a plain greedy loop over the
 * engine's public API, never written down.
 *
 *  - a greedy job gives exactly the tokens of the plain loop;
 *  - 8 jobs submitted from 8 threads at once (4 slots, small batches so
 *    prompts are cut into chunks) each give what they give alone;
 *  - a second job of the same session reuses the cached prefix and still
 *    gives the same tokens as a fresh evaluation;
 *  - cancel ends a job within one token; a reader that never reads pauses
 *    only its own job; queue full, prompt too long, invalid parameters;
 *  - stop strings are never emitted, and held-back text is not lost;
 *  - lc_sched_free with running, waiting and unread jobs.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"
#include "testutil.h"

#define MODEL "models/stories260K.gguf"
#define MAX_GEN 600
#define TIMEOUT_MS 20000

static lc_model *g_model;

static int group_setup(void **state) {
    (void)state;
    const char *path = lc_shared_path(MODEL);
    if (!lc_file_exists(path)) return 0; /* every test skips */
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 1;
    g_model = lc_model_load(path, &mp, err, sizeof err);
    if (!g_model) print_message("load: %s\n", err);
    return g_model ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    lc_model_free(g_model);
    return 0;
}

#define NEED_MODEL() lc_test_skip_without(lc_shared_path(MODEL))

/* Tokens of text with BOS (add_bos) into out [cap]; returns the count. */
static int tokenize(const char *text, bool add_bos, int32_t *out, int cap) {
    int n = lc_tokenize(g_model, text, strlen(text), add_bos, false, out, cap);
    assert_true(n > 0 && n <= cap);
    return n;
}

/* The plain greedy loop: the prompt in one batch, then one token at a
 * time, until an end-of-generation token or max_tokens. */
static int reference_greedy_on(int gpu_mode, const int32_t *prompt,
                               int n_prompt, int max_tokens, int32_t *out) {
    char err[256];
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = 512;
    cp.n_seq_max = 1;
    cp.gpu_mode = gpu_mode;
    lc_context *ctx = lc_context_new(g_model, &cp, err, sizeof err);
    assert_non_null(ctx);
    lc_sampler_params sp = lc_sampler_default_params();
    sp.temperature = 0.0f;
    lc_sampler *smp = lc_sampler_new(&sp, lc_model_n_vocab(g_model));
    assert_non_null(smp);
    lc_batch b = {n_prompt, prompt, NULL, NULL, NULL};
    assert_int_equal(lc_decode(ctx, &b, err, sizeof err), 0);
    int n = 0;
    while (n < max_tokens) {
        int32_t tok =
            lc_sampler_sample(smp, lc_get_logits(ctx, b.n_tokens - 1), NULL);
        if (lc_token_is_eog(g_model, tok)) break;
        out[n++] = tok;
        lc_batch one = {1, &out[n - 1], NULL, NULL, NULL};
        b = one;
        assert_int_equal(lc_decode(ctx, &b, err, sizeof err), 0);
    }
    lc_sampler_free(smp);
    lc_context_free(ctx);
    return n;
}

/* The CPU: batches of different shapes give the same logits there, which
 * the comparisons of batched and single-sequence runs rely on. */
static int reference_greedy(const int32_t *prompt, int n_prompt, int max_tokens,
                            int32_t *out) {
    return reference_greedy_on(LC_GPU_OFF, prompt, n_prompt, max_tokens, out);
}

/* What a job produced. */
typedef struct result {
    int32_t tokens[MAX_GEN];
    int n_tokens;
    char text[8192];      /* TOKEN texts + DONE text */
    size_t n_token_text;  /* bytes that came with TOKEN events */
    size_t n_before_last; /* bytes before the last TOKEN event's */
    char finish[32];
    lc_job_stats stats;
    bool timed_out;
} result;

static void append_text(result *r, const char *t) {
    size_t have = strlen(r->text);
    snprintf(r->text + have, sizeof r->text - have, "%s", t);
}

/* Reads a job's events until DONE (no cmocka asserts: runs in threads). */
static void collect(lc_job *job, result *r) {
    memset(r, 0, sizeof *r);
    lc_event ev;
    for (;;) {
        int rc = lc_job_next(job, &ev, TIMEOUT_MS);
        if (rc <= 0) {
            r->timed_out = true;
            return;
        }
        if (ev.type == LC_EVENT_DONE) break;
        if (ev.index != r->n_tokens) r->timed_out = true; /* out of order */
        if (r->n_tokens < MAX_GEN) r->tokens[r->n_tokens++] = ev.token;
        r->n_before_last = strlen(r->text);
        append_text(r, ev.text);
        r->n_token_text = strlen(r->text);
    }
    append_text(r, ev.text);
    snprintf(r->finish, sizeof r->finish, "%s", ev.finish_reason);
    r->stats = ev.stats;
    /* Nothing follows DONE. */
    if (lc_job_next(job, &ev, 0) != -1) r->timed_out = true;
}

static lc_job_params greedy_params(const int32_t *prompt, int n_prompt,
                                   int max_tokens) {
    lc_job_params p;
    memset(&p, 0, sizeof p);
    p.prompt = prompt;
    p.n_prompt = n_prompt;
    p.sampling = lc_sampler_default_params();
    p.sampling.temperature = 0.0f;
    p.max_tokens = max_tokens;
    return p;
}

static lc_sched *new_sched_on(int gpu_mode, int n_ctx, int n_slots,
                              int queue_max, int n_batch) {
    lc_sched_params sp = lc_sched_default_params();
    sp.gpu_mode = gpu_mode;
    sp.n_ctx = n_ctx;
    sp.n_slots = n_slots;
    sp.queue_max = queue_max;
    sp.n_batch = n_batch;
    sp.n_threads = 1;
    char err[256];
    lc_sched *s = lc_sched_new(g_model, &sp, err, sizeof err);
    if (!s) print_message("lc_sched_new: %s\n", err);
    assert_non_null(s);
    return s;
}

static lc_sched *new_sched(int n_ctx, int n_slots, int queue_max, int n_batch) {
    return new_sched_on(LC_GPU_OFF, n_ctx, n_slots, queue_max, n_batch);
}

static lc_job *submit(lc_sched *s, const lc_job_params *p) {
    lc_job *job = NULL;
    char err[256];
    enum lc_submit_status st = lc_sched_submit(s, p, &job, err, sizeof err);
    if (st != LC_SUBMIT_OK) print_message("submit: %d %s\n", st, err);
    assert_int_equal(st, LC_SUBMIT_OK);
    assert_non_null(job);
    return job;
}

/* The text of tokens through a fresh detokeniser. */
static void detok_all(const int32_t *toks, int n, char *out, size_t cap) {
    lc_detok d;
    lc_detok_init(&d, g_model, false);
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i <= n; i++) {
        char piece[256];
        int k = i < n ? lc_detok_push(&d, toks[i], piece, sizeof piece)
                      : lc_detok_flush(&d, piece, sizeof piece);
        assert_true(k >= 0 && len + (size_t)k < cap);
        memcpy(out + len, piece, (size_t)k + 1);
        len += (size_t)k;
    }
}

static void assert_same_tokens(const result *r, const int32_t *ref, int n_ref) {
    assert_false(r->timed_out);
    assert_int_equal(r->n_tokens, n_ref);
    for (int i = 0; i < n_ref; i++) assert_int_equal(r->tokens[i], ref[i]);
}

static void wait_running(lc_sched *s, int want) {
    for (int i = 0; i < 2000; i++) {
        int w, r;
        lc_sched_load(s, &w, &r);
        if (r == want && w == 0) return;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("the scheduler never ran %d jobs", want);
}

/* ----------------------------------------------------------------- tests */

static void test_greedy_matches_engine(void **state) {
    (void)state;
    NEED_MODEL();
    int32_t prompt[64], ref[MAX_GEN];
    int np = tokenize("Once upon a time", true, prompt, 64);
    /* The default backend (the GPU where there is one): one job's batches
     * have the shapes of the plain loop's, so the logits are the same. */
    int nref = reference_greedy_on(LC_GPU_AUTO, prompt, np, 40, ref);
    assert_true(nref > 0);

    lc_sched *s = new_sched_on(LC_GPU_AUTO, 256, 2, 4, 512);
    print_message("backend: %s\n", lc_sched_backend_name(s));
    lc_job_params p = greedy_params(prompt, np, 40);
    lc_job *job = submit(s, &p);
    static result r;
    collect(job, &r);
    assert_same_tokens(&r, ref, nref);
    assert_string_equal(r.finish, nref == 40 ? "length" : "stop");

    /* The streamed text is the tokens' text. */
    char want[8192];
    detok_all(ref, nref, want, sizeof want);
    assert_string_equal(r.text, want);

    /* Measured statistics. */
    assert_int_equal(r.stats.n_prompt, np);
    assert_int_equal(r.stats.n_cached, 0);
    assert_int_equal(r.stats.n_generated, nref);
    assert_true(r.stats.queue_ms >= 0.0);
    assert_true(r.stats.prompt_ms > 0.0);
    assert_true(r.stats.ttft_ms >= r.stats.queue_ms);
    assert_true(r.stats.gen_ms > 0.0);
    assert_true(r.stats.total_ms >= r.stats.ttft_ms + r.stats.gen_ms - 1e-6);
    assert_true(r.stats.mean_logprob <= 0.0);
    assert_true(r.stats.min_prob > 0.0 && r.stats.min_prob <= 1.0);
    if (lc_sched_gpu_active(s))
        assert_true(r.stats.gpu_memory_mb > 0);
    else
        assert_int_equal(r.stats.gpu_memory_mb, 0);
    lc_job_free(job);
    lc_sched_free(s);
}

/* Eight different prompts, some longer than a batch of 16 tokens. */
static const char *const PROMPTS[8] = {
    "Once upon a time",
    "The little dog ran to the park because he wanted to play with the "
    "big red ball that his friend had",
    "Lily was sad",
    "One day, a boy named Tim found a shiny box under his bed. He opened "
    "it and",
    "The sun",
    "Mom said",
    "There was a big tree in the garden. Every day the birds sang and the "
    "children came to",
    "Ben and Sue",
};

typedef struct worker {
    lc_sched *s;
    int32_t prompt[128];
    int n_prompt;
    enum lc_submit_status status;
    result r;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    lc_job_params p = greedy_params(w->prompt, w->n_prompt, 48);
    lc_job *job = NULL;
    w->status = lc_sched_submit(w->s, &p, &job, NULL, 0);
    if (w->status == LC_SUBMIT_OK) {
        collect(job, &w->r);
        lc_job_free(job);
    }
    return NULL;
}

static void test_concurrent_jobs_do_not_mix(void **state) {
    (void)state;
    NEED_MODEL();
    static worker w[8];
    static int32_t ref[8][MAX_GEN];
    int nref[8];
    for (int i = 0; i < 8; i++) {
        w[i].n_prompt = tokenize(PROMPTS[i], true, w[i].prompt, 128);
        nref[i] = reference_greedy(w[i].prompt, w[i].n_prompt, 48, ref[i]);
    }
    /* 4 slots for 8 jobs: half of them wait, then reuse freed slots. */
    lc_sched *s = new_sched(256, 4, 8, 16);
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        w[i].s = s;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(w[i].status, LC_SUBMIT_OK);
        assert_same_tokens(&w[i].r, ref[i], nref[i]);
        assert_int_equal(w[i].r.stats.n_prompt, w[i].n_prompt);
    }
    lc_sched_free(s);
}

static void test_cache_reuse(void **state) {
    (void)state;
    NEED_MODEL();
    lc_sched *s = new_sched(256, 2, 4, 512);
    static int32_t p1[512], p2[512], other[64], ref[MAX_GEN];
    static result r1, r2, ro;
    int n1 =
        tokenize("Once upon a time, there was a little girl", true, p1, 512);

    lc_job_params p = greedy_params(p1, n1, 24);
    p.cache_key = "session-A";
    lc_job *job = submit(s, &p);
    collect(job, &r1);
    lc_job_free(job);
    assert_false(r1.timed_out);

    /* Another session in between must not take session A's slot. */
    int no = tokenize("Ben and Sue", true, other, 64);
    lc_job_params po = greedy_params(other, no, 8);
    po.cache_key = "session-B";
    job = submit(s, &po);
    collect(job, &ro);
    lc_job_free(job);
    assert_false(ro.timed_out);

    /* The next turn: the first turn, its reply, and a new message. */
    memcpy(p2, p1, (size_t)n1 * sizeof *p2);
    memcpy(p2 + n1, r1.tokens, (size_t)r1.n_tokens * sizeof *p2);
    int n2 = n1 + r1.n_tokens;
    n2 += tokenize(" Then she went home.", false, p2 + n2, 512 - n2);
    int nref = reference_greedy(p2, n2, 24, ref);

    p = greedy_params(p2, n2, 24);
    p.cache_key = "session-A";
    job = submit(s, &p);
    collect(job, &r2);
    lc_job_free(job);
    assert_same_tokens(&r2, ref, nref);
    /* At least the first prompt was still held; the new text was not. */
    assert_true(r2.stats.n_cached >= n1);
    assert_true(r2.stats.n_cached < n2);
    assert_int_equal(r2.stats.n_prompt, n2);

    /* The same prompt once more: everything but the last token is reused
     * (its logits are needed), and the output is still the same. */
    job = submit(s, &p);
    collect(job, &r2);
    lc_job_free(job);
    assert_same_tokens(&r2, ref, nref);
    assert_int_equal(r2.stats.n_cached, n2 - 1);
    lc_sched_free(s);
}

static void test_cancel_within_one_token(void **state) {
    (void)state;
    NEED_MODEL();
    lc_sched *s = new_sched(256, 2, 4, 512);
    int32_t prompt[64];
    int np = tokenize("Once upon a time", true, prompt, 64);
    lc_job_params p = greedy_params(prompt, np, 0); /* until ctx is full */
    p.channel_capacity = 1;
    lc_job *job = submit(s, &p);
    lc_event ev;
    int got = 0;
    while (got < 3) {
        assert_int_equal(lc_job_next(job, &ev, TIMEOUT_MS), 1);
        assert_int_equal(ev.type, LC_EVENT_TOKEN);
        got++;
    }
    lc_job_cancel(job);
    int after = 0;
    for (;;) {
        assert_int_equal(lc_job_next(job, &ev, TIMEOUT_MS), 1);
        if (ev.type == LC_EVENT_DONE) break;
        after++;
    }
    /* With one event of buffer, at most the token being computed when the
     * cancel came may still arrive. */
    assert_true(after <= 1);
    assert_string_equal(ev.finish_reason, "cancelled");
    assert_int_equal(ev.stats.n_generated, got + after);
    assert_int_equal(lc_job_next(job, &ev, 0), -1);
    lc_job_free(job);
    lc_sched_free(s);
}

static void test_slow_reader_does_not_block(void **state) {
    (void)state;
    NEED_MODEL();
    lc_sched *s = new_sched(256, 2, 4, 512);
    int32_t pa[64], pb[64], ref[MAX_GEN];
    int na = tokenize("The sun", true, pa, 64);
    int nb = tokenize("Lily was sad", true, pb, 64);
    int nref = reference_greedy(pb, nb, 60, ref);

    lc_job_params p = greedy_params(pa, na, 0);
    p.channel_capacity = 2;
    lc_job *slow = submit(s, &p); /* never read while B runs */
    lc_job_params q = greedy_params(pb, nb, 60);
    lc_job *fast = submit(s, &q);
    static result r;
    collect(fast, &r);
    assert_same_tokens(&r, ref, nref);
    lc_job_free(fast);

    /* The slow job is paused, not finished: exactly its two events wait. */
    int waiting, running;
    lc_sched_load(s, &waiting, &running);
    assert_int_equal(running, 1);
    assert_int_equal(waiting, 0);
    lc_event ev;
    assert_int_equal(lc_job_next(slow, &ev, TIMEOUT_MS), 1);
    assert_int_equal(ev.type, LC_EVENT_TOKEN);
    assert_int_equal(lc_job_next(slow, &ev, TIMEOUT_MS), 1);
    assert_int_equal(ev.type, LC_EVENT_TOKEN);
    assert_int_equal(ev.index, 1);
    /* The owner goes away while the job runs: it is cancelled and freed
     * by whoever lets go last (ASan checks the rest). */
    lc_job_free(slow);
    wait_running(s, 0);
    lc_sched_free(s);
}

static void test_queue_full(void **state) {
    (void)state;
    NEED_MODEL();
    lc_sched *s = new_sched(128, 1, 1, 512);
    int32_t prompt[64];
    int np = tokenize("Mom said", true, prompt, 64);
    lc_job_params p = greedy_params(prompt, np, 0);
    p.channel_capacity = 1;
    lc_job *a = submit(s, &p); /* holds the only slot, paused */
    wait_running(s, 1);
    lc_job *b = submit(s, &p); /* waits */
    lc_job *c = NULL;
    char err[256];
    assert_int_equal(lc_sched_submit(s, &p, &c, err, sizeof err),
                     LC_SUBMIT_QUEUE_FULL);
    assert_null(c);
    assert_true(strlen(err) > 0);
    int waiting, running;
    lc_sched_load(s, &waiting, &running);
    assert_int_equal(waiting, 1);
    assert_int_equal(running, 1);

    /* A cancelled waiting job ends at once, having generated nothing. */
    lc_job_cancel(b);
    static result r;
    collect(b, &r);
    assert_false(r.timed_out);
    assert_string_equal(r.finish, "cancelled");
    assert_int_equal(r.stats.n_generated, 0);
    lc_job_free(b);

    /* Its place in the queue is free again. */
    c = submit(s, &p);
    lc_job_free(c);
    lc_job_free(a);
    lc_sched_free(s);
}

static void test_too_long_and_invalid(void **state) {
    (void)state;
    NEED_MODEL();
    const int n_ctx = 64;
    lc_sched *s = new_sched(n_ctx, 1, 4, 512);
    assert_int_equal(lc_sched_n_ctx(s), n_ctx);
    int32_t prompt[64];
    int n = tokenize("Once upon a time there was", true, prompt, 64);
    for (int i = n; i < n_ctx; i++) prompt[i] = prompt[1 + (i - n) % (n - 1)];

    lc_job *job = NULL;
    char err[256];
    lc_job_params p = greedy_params(prompt, n_ctx, 4);
    assert_int_equal(lc_sched_submit(s, &p, &job, err, sizeof err),
                     LC_SUBMIT_TOO_LONG);
    assert_null(job);
    assert_non_null(strstr(err, "context"));

    /* n_ctx - 1 fits: one token from the prompt's logits, one more from
     * the last free position, then the context is full. */
    p.n_prompt = n_ctx - 1;
    p.max_tokens = 0;
    job = submit(s, &p);
    static result r;
    collect(job, &r);
    lc_job_free(job);
    assert_false(r.timed_out);
    if (strcmp(r.finish, "stop") != 0) { /* unless EOG came first */
        assert_string_equal(r.finish, "context");
        assert_int_equal(r.n_tokens, 2);
    }

    /* Invalid parameters. */
    int32_t bad = lc_model_n_vocab(g_model);
    p = greedy_params(&bad, 1, 4);
    assert_int_equal(lc_sched_submit(s, &p, &job, err, sizeof err),
                     LC_SUBMIT_INVALID);
    assert_non_null(strstr(err, "vocabulary"));
    p = greedy_params(prompt, 0, 4);
    assert_int_equal(lc_sched_submit(s, &p, &job, err, sizeof err),
                     LC_SUBMIT_INVALID);
    const char *empty[] = {""};
    p = greedy_params(prompt, 4, 4);
    p.stops = empty;
    p.n_stops = 1;
    assert_int_equal(lc_sched_submit(s, &p, &job, err, sizeof err),
                     LC_SUBMIT_INVALID);
    assert_int_equal(lc_sched_submit(s, NULL, &job, err, sizeof err),
                     LC_SUBMIT_INVALID);
    assert_int_equal(lc_sched_submit(NULL, &p, &job, NULL, 0),
                     LC_SUBMIT_INVALID);
    assert_null(lc_sched_new(NULL, NULL, err, sizeof err));
    lc_sched_free(s);
}

static void test_stop_strings(void **state) {
    (void)state;
    NEED_MODEL();
    lc_sched *s = new_sched(256, 2, 4, 512);
    int32_t prompt[64];
    int np = tokenize("Once upon a time", true, prompt, 64);
    static result full, r;

    lc_job_params p = greedy_params(prompt, np, 60);
    lc_job *job = submit(s, &p);
    collect(job, &full);
    lc_job_free(job);
    assert_false(full.timed_out);
    size_t len = strlen(full.text);
    assert_true(len > 20);

    /* A stop string taken from the middle of the reply. */
    char stop[8];
    memcpy(stop, full.text + len / 2, 5);
    stop[5] = '\0';
    const size_t at = (size_t)(strstr(full.text, stop) - full.text);
    const char *stops[] = {"no such text", stop};
    p.stops = stops;
    p.n_stops = 2;
    job = submit(s, &p);
    collect(job, &r);
    lc_job_free(job);
    assert_false(r.timed_out);
    assert_string_equal(r.finish, "stop");
    assert_int_equal(strlen(r.text), at);
    assert_memory_equal(r.text, full.text, at);
    assert_null(strstr(r.text, stop));

    /* A stop string that the reply starts but never finishes: the text
     * held back for it is released when the job ends, nothing is lost. */
    char never[8192];
    snprintf(never, sizeof never, "%s\x01", full.text + len / 2);
    const char *stops2[] = {never};
    p.stops = stops2;
    p.n_stops = 1;
    job = submit(s, &p);
    collect(job, &r);
    lc_job_free(job);
    assert_false(r.timed_out);
    assert_string_equal(r.finish, full.finish);
    assert_string_equal(r.text, full.text);
    /* Until the end, nothing from len / 2 on came out. */
    assert_true(r.n_before_last <= len / 2);

    /* The same, cancelled once the text is well past len / 2: the held
     * text comes with the DONE event. */
    int k = 1;
    char prefix[8192];
    for (; k < full.n_tokens; k++) {
        detok_all(full.tokens, k, prefix, sizeof prefix);
        if (strlen(prefix) > len / 2 + 4) break;
    }
    assert_true(k < full.n_tokens - 2);
    p.channel_capacity = 1;
    job = submit(s, &p);
    lc_event ev;
    for (int i = 0; i < k; i++) {
        assert_int_equal(lc_job_next(job, &ev, TIMEOUT_MS), 1);
        assert_int_equal(ev.type, LC_EVENT_TOKEN);
        assert_int_equal(ev.token, full.tokens[i]);
    }
    lc_job_cancel(job);
    int n_gen = k;
    for (;;) {
        assert_int_equal(lc_job_next(job, &ev, TIMEOUT_MS), 1);
        if (ev.type == LC_EVENT_DONE) break;
        n_gen++;
    }
    assert_string_equal(ev.finish_reason, "cancelled");
    assert_int_equal(ev.stats.n_generated, n_gen);
    detok_all(full.tokens, n_gen, prefix, sizeof prefix);
    assert_true(strlen(ev.text) > 4);
    assert_string_equal(ev.text, prefix + strlen(prefix) - strlen(ev.text));
    lc_job_free(job);
    lc_sched_free(s);
}

typedef struct reader {
    lc_job *job;
    result r;
} reader;

static void *reader_main(void *arg) {
    reader *rd = arg;
    collect(rd->job, &rd->r);
    return NULL;
}

static void test_free_with_running_jobs(void **state) {
    (void)state;
    NEED_MODEL();
    static int32_t prompts[4][128], ref[4][MAX_GEN];
    int np[4], nref[4];
    for (int i = 0; i < 4; i++) {
        np[i] = tokenize(PROMPTS[i], true, prompts[i], 128);
        nref[i] = reference_greedy(prompts[i], np[i], 20, ref[i]);
    }
    /* 2 slots: two jobs run, one waits; the 4th is never read while the
     * scheduler shuts down (its channel holds one event). */
    lc_sched *s = new_sched(256, 2, 4, 512);
    static reader rd[3];
    pthread_t th[3];
    lc_job *unread = NULL;
    for (int i = 0; i < 4; i++) {
        lc_job_params p = greedy_params(prompts[i], np[i], 20);
        if (i == 3) {
            p.channel_capacity = 1;
            unread = submit(s, &p);
        } else {
            rd[i].job = submit(s, &p);
        }
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    lc_sched_free(s); /* every accepted job still completes */
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_same_tokens(&rd[i].r, ref[i], nref[i]);
        assert_string_equal(rd[i].r.finish, nref[i] == 20 ? "length" : "stop");
        lc_job_free(rd[i].job);
    }
    static result r;
    collect(unread, &r);
    assert_same_tokens(&r, ref[3], nref[3]);
    lc_job_free(unread);
}

int main(void) {
    /* A scheduler that deadlocks fails the test instead of hanging it. */
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_matches_engine),
        cmocka_unit_test(test_concurrent_jobs_do_not_mix),
        cmocka_unit_test(test_cache_reuse),
        cmocka_unit_test(test_cancel_within_one_token),
        cmocka_unit_test(test_slow_reader_does_not_block),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_too_long_and_invalid),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_free_with_running_jobs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

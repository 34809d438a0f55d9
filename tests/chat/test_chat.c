/*
 * The conversation service against a real PostgreSQL (a private cluster in
 * a temporary folder) and a real model (stories260K, skipped when absent):
 * what one turn stores, KV reuse on the next turn, cancellation (by the
 * caller and by a client gone away), the context policy (too long, oldest
 * turns dropped), ownership, titles, and the pieces (titles, history
 * normalisation, prompt fitting) on their own.
 *
 * The tests share one cluster, one model and one scheduler.
 */
#include "testutil.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat/chat.h"
#include "chat/history.h"
#include "chat/prompt.h"
#include "store/cluster.h"
#include "store/db.h"
#include "store/messages.h"
#include "store/migrate.h"
#include "store/sessions.h"
#include "store/users.h"

/* A small context makes the context policy cheap to exercise. */
#define TEST_N_CTX 256

typedef struct world {
    char dir[64];
    lc_cluster *cluster;
    lc_db *db;
    char alice[37], bob[37];
    lc_model *model; /* NULL when the model file is absent */
    lc_sched *sched;
    lc_chat *chat;
} world;

static world W;

/* ---------------------------------------------------------------- helpers */

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

#define need_model()                                                           \
    do {                                                                       \
        lc_test_skip_without(lc_shared_path("models/stories260K.gguf"));       \
        assert_non_null(W.chat);                                               \
    } while (0)

/* What a turn's callbacks saw. */
typedef struct seen {
    int started;
    char user_message_id[37];
    int n_prompt, n_dropped;
    char text[8192];
    int pieces;
    int last_index;
    int cancel_after; /* should_cancel says yes once this many pieces came */
    int refuse_at;    /* on_piece returns false on this piece (1-based) */
} seen;

static void on_started(void *ud, const char *id, int n_prompt, int dropped) {
    seen *s = ud;
    s->started++;
    snprintf(s->user_message_id, sizeof s->user_message_id, "%s", id);
    s->n_prompt = n_prompt;
    s->n_dropped = dropped;
}

static bool on_piece(void *ud, const char *text, int index) {
    seen *s = ud;
    assert_true(index >= s->last_index); /* pieces come in order */
    s->last_index = index;
    strncat(s->text, text, sizeof s->text - strlen(s->text) - 1);
    s->pieces++;
    return !(s->refuse_at > 0 && s->pieces >= s->refuse_at);
}

static bool should_cancel(void *ud) {
    seen *s = ud;
    return s->cancel_after > 0 && s->pieces >= s->cancel_after;
}

static lc_turn_params turn_params(const char *user, const char *session,
                                  const char *message, int max_tokens) {
    lc_turn_params p = {
        .user_id = user,
        .session_id = session,
        .message = message,
        .sampling = lc_sampler_default_params(),
        .max_tokens = max_tokens,
    };
    p.sampling.temperature = 0; /* greedy: the same reply every run */
    return p;
}

static void new_session(const char *user, const char *title, char id[37]) {
    lc_session s = {0};
    lc_store_error err = {0};
    if (lc_sessions_create(W.db, user, title, "stories260K", NULL, &s, &err))
        fail_msg("session: %s", err.message);
    memcpy(id, s.id, 37);
    lc_session_clear(&s);
}

static size_t list_messages(const char *user, const char *session,
                            lc_message **out) {
    size_t n = 0;
    lc_store_error err = {0};
    if (lc_messages_list(W.db, user, session, 1000, 0, out, &n, &err))
        fail_msg("list: %s", err.message);
    return n;
}

static char *session_title(const char *user, const char *session) {
    lc_session s = {0};
    lc_store_error err = {0};
    if (lc_sessions_get(W.db, user, session, &s, &err))
        fail_msg("get: %s", err.message);
    char *t = strdup(s.title);
    lc_session_clear(&s);
    return t;
}

/* The metadata's finish_reason, for checks (malloc'd). */
static json_t *metadata_of(const lc_message *m) {
    json_error_t jerr;
    json_t *o = json_loads(m->metadata, 0, &jerr);
    if (!o) fail_msg("metadata is not JSON: %s", m->metadata);
    assert_true(json_is_object(o));
    return o;
}

/* ----------------------------------------------------------------- setup */

static int setup(void **state) {
    (void)state;
    snprintf(W.dir, sizeof W.dir, "/tmp/lcchat-XXXXXX");
    if (!mkdtemp(W.dir)) return -1;
    chmod(W.dir, 0755); /* as root, the cluster's user must enter it */
    lc_cluster_options opt = {.data_dir = W.dir, .port = 54341};
    lc_store_error err = {0};
    W.cluster = lc_cluster_start(&opt, &err);
    if (!W.cluster) {
        fprintf(stderr, "cluster: %s\n", err.message);
        return -1;
    }
    W.db = lc_db_open(lc_cluster_url(W.cluster), 4, &err);
    if (!W.db || lc_migrate(W.db, NULL, NULL, &err)) {
        fprintf(stderr, "db: %s\n", err.message);
        return -1;
    }
    lc_user u = {0};
    if (lc_users_create(W.db, "alice", "alice-password", NULL, &u, &err))
        return fprintf(stderr, "alice: %s\n", err.message), -1;
    memcpy(W.alice, u.id, 37);
    lc_user_clear(&u);
    if (lc_users_create(W.db, "bob", "bob-password", NULL, &u, &err))
        return fprintf(stderr, "bob: %s\n", err.message), -1;
    memcpy(W.bob, u.id, 37);
    lc_user_clear(&u);

    const char *path = lc_shared_path("models/stories260K.gguf");
    if (!lc_file_exists(path)) return 0; /* the model tests skip */
    char msg[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    W.model = lc_model_load(path, &mp, msg, sizeof msg);
    if (!W.model) return fprintf(stderr, "model: %s\n", msg), -1;
    lc_sched_params sp = lc_sched_default_params();
    sp.n_ctx = TEST_N_CTX;
    sp.n_slots = 2;
    W.sched = lc_sched_new(W.model, &sp, msg, sizeof msg);
    if (!W.sched) return fprintf(stderr, "sched: %s\n", msg), -1;
    W.chat = lc_chat_new(W.db, W.sched, W.model, "stories260K");
    return W.chat ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lc_chat_free(W.chat);
    if (W.sched) lc_sched_free(W.sched);
    lc_model_free(W.model);
    lc_db_close(W.db);
    lc_cluster_stop(W.cluster);
    nftw(W.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ------------------------------------------------------------ the pieces */

static void test_title(void **state) {
    (void)state;
    struct {
        const char *in;
        int max;
        const char *want;
    } cases[] = {
        {"  Hello \t  world  \nsecond line", 60, "Hello world"},
        {"\n \n  Hi there\n", 60, "Hi there"},
        {"one two three", 9, "one two"}, /* cut at a word boundary */
        {"one two three", 7, "one two"}, /* exactly at the limit */
        {"one two three", 6, "one"},
        {"abcdefghij klm", 4, "abcd"}, /* a first word too long */
        {"h\xc3\xa9llo w\xc3\xb6rld", 7, "h\xc3\xa9llo"}, /* characters */
        {"h\xc3\xa9llo w\xc3\xb6rld", 11, "h\xc3\xa9llo w\xc3\xb6rld"},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 2, "\xe6\x97\xa5\xe6\x9c\xac"},
        {"", 60, ""},
        {"   \n\t\n", 60, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = lc_chat_title_from_message(cases[i].in, cases[i].max);
        assert_non_null(t);
        assert_string_equal(t, cases[i].want);
        free(t);
    }
    assert_null(lc_chat_title_from_message(NULL, 10));
    assert_null(lc_chat_title_from_message("x", 0));
    /* broken UTF-8 does not crash and never grows the text */
    char *t = lc_chat_title_from_message("\xff\xfe abc \xc3", 60);
    assert_non_null(t);
    assert_true(strlen(t) <= 8);
    free(t);
}

static void test_history(void **state) {
    (void)state;
    lc_history h = {0};
    assert_int_equal(lc_history_add(&h, "user", "a"), 0);
    assert_int_equal(lc_history_add(&h, "assistant", "b"), 0);
    assert_int_equal(lc_history_add(&h, "user", "c"), 0);
    /* no reply (the queue was full): the next user message joins it */
    assert_int_equal(lc_history_add(&h, "user", "d"), 0);
    /* a reply cancelled before its first token is left out */
    assert_int_equal(lc_history_add(&h, "assistant", ""), 0);
    assert_int_equal(lc_history_add(&h, "system", "ignored"), 0);
    assert_int_equal(lc_history_add(&h, "assistant", "e"), 0);
    assert_int_equal(lc_history_add(&h, "user", "f"), 0);
    assert_int_equal(h.n, 5);
    assert_string_equal(h.msgs[2].role, "user");
    assert_string_equal(h.msgs[2].content, "c\n\nd");
    assert_string_equal(h.msgs[3].content, "e");
    assert_int_equal(h.n_turns, 3);
    assert_int_equal(h.turn_start[0], 0);
    assert_int_equal(h.turn_start[1], 2);
    assert_int_equal(h.turn_start[2], 4);
    lc_history_free(&h);
}

/* Detokenizes a prompt, for checks. */
static char *prompt_text(const lc_prompt *p) {
    size_t cap = 1 << 16, len = 0;
    char *s = calloc(cap, 1);
    assert_non_null(s);
    for (int i = 0; i < p->n_tokens; i++) {
        char piece[256];
        int n = lc_token_to_piece(W.model, p->tokens[i], true, piece,
                                  sizeof piece - 1);
        assert_true(n >= 0);
        assert_true(len + n < cap);
        memcpy(s + len, piece, n);
        len += n;
    }
    return s;
}

/* The context policy on its own: the oldest turns go, the system prompt and
 * the new message stay, and the fewest turns possible are dropped. */
static void test_prompt_policy(void **state) {
    (void)state;
    need_model();
    lc_history h = {0};
    char buf[128];
    for (int i = 0; i < 12; i++) {
        snprintf(buf, sizeof buf, "turn%d asks about the little red ball", i);
        assert_int_equal(lc_history_add(&h, "user", buf), 0);
        snprintf(buf, sizeof buf, "reply%d the ball was red and round", i);
        assert_int_equal(lc_history_add(&h, "assistant", buf), 0);
    }
    char err[256];
    lc_prompt all = {0};
    assert_int_equal(lc_prompt_build(W.model, "Be kind.", &h, "What now?",
                                     100000, &all, err, sizeof err),
                     LC_PROMPT_OK);
    assert_int_equal(all.n_dropped, 0);

    int budget = all.n_tokens / 2;
    lc_prompt p = {0};
    assert_int_equal(lc_prompt_build(W.model, "Be kind.", &h, "What now?",
                                     budget, &p, err, sizeof err),
                     LC_PROMPT_OK);
    assert_true(p.n_dropped > 0 && p.n_dropped < 12);
    assert_true(p.n_tokens <= budget);
    char *text = prompt_text(&p);
    assert_non_null(strstr(text, "Be kind."));
    assert_non_null(strstr(text, "What now?"));
    assert_null(strstr(text, "turn0 "));
    snprintf(buf, sizeof buf, "turn%d ", p.n_dropped - 1);
    assert_null(strstr(text, buf));
    snprintf(buf, sizeof buf, "turn%d ", p.n_dropped);
    assert_non_null(strstr(text, buf)); /* the first turn that was kept */
    free(text);

    /* one turn fewer dropped would not have fitted */
    lc_history fewer = {0};
    for (int i = p.n_dropped - 1; i < h.n_turns; i++) {
        lc_history_add(&fewer, "user", h.msgs[2 * i].content);
        lc_history_add(&fewer, "assistant", h.msgs[2 * i + 1].content);
    }
    lc_prompt q = {0};
    assert_int_equal(lc_prompt_build(W.model, "Be kind.", &fewer, "What now?",
                                     1 << 20, &q, err, sizeof err),
                     LC_PROMPT_OK);
    assert_true(q.n_tokens > budget);

    /* the system prompt and the message alone do not fit */
    lc_prompt r = {0};
    assert_int_equal(lc_prompt_build(W.model, "Be kind.", &h, "What now?", 3,
                                     &r, err, sizeof err),
                     LC_PROMPT_TOO_LONG);
    assert_true(r.n_needed > 3);
    assert_null(r.tokens);
    lc_prompt_free(&q);
    lc_prompt_free(&p);
    lc_prompt_free(&all);
    lc_history_free(&fewer);
    lc_history_free(&h);
}

/* ------------------------------------------------------------ whole turns */

static char S1[37]; /* alice's first session, used by several tests */

static void test_turn_stores_everything(void **state) {
    (void)state;
    need_model();
    new_session(W.alice, NULL, S1);
    char *title = session_title(W.alice, S1);
    assert_string_equal(title, "");
    free(title);

    const char *msg = "Once upon a time, there was a little dog";
    lc_turn_params p = turn_params(W.alice, S1, msg, 24);
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, should_cancel};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_OK);
    assert_int_equal(s.started, 1);
    assert_string_equal(s.user_message_id, r.user_message_id);
    assert_true(s.n_prompt > 0);
    assert_int_equal(s.n_dropped, 0);
    assert_int_equal(r.n_dropped_turns, 0);
    assert_true(strlen(r.text) > 0);
    assert_string_equal(r.text, s.text); /* the pieces make the reply */
    assert_true(strcmp(r.finish_reason, "stop") == 0 ||
                strcmp(r.finish_reason, "length") == 0);
    assert_true(r.stats.n_generated > 0 && r.stats.n_generated <= 24);
    assert_int_equal(r.stats.n_prompt, s.n_prompt);
    assert_true(r.confidence >= 0 && r.confidence <= 100);
    if (r.stats.n_generated >= 2) assert_true(r.tokens_per_second > 0);
    assert_false(r.cuda_accelerated);
    assert_int_equal(r.gpu_memory_used_mb, 0);

    lc_message *m = NULL;
    size_t n = list_messages(W.alice, S1, &m);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].id, r.user_message_id);
    assert_string_equal(m[0].role, "user");
    assert_string_equal(m[0].content, msg);
    assert_string_equal(m[1].id, r.assistant_message_id);
    assert_string_equal(m[1].role, "assistant");
    assert_string_equal(m[1].content, r.text);
    assert_string_equal(m[1].model, "stories260K");
    assert_int_equal(m[1].tokens, r.stats.n_generated);
    assert_int_equal(m[1].processing_time_ms, (int)(r.stats.total_ms + 0.5));
    assert_int_equal(m[1].tokens_per_second, (int)(r.tokens_per_second + 0.5));
    assert_int_equal(m[1].confidence, r.confidence);
    assert_false(m[1].cuda_accelerated);
    assert_int_equal(m[1].gpu_memory_used_mb, 0);

    print_message("reply: %s\nmetadata: %s\n", m[1].content, m[1].metadata);
    json_t *md = metadata_of(&m[1]);
    assert_string_equal(json_string_value(json_object_get(md, "finish_reason")),
                        r.finish_reason);
    json_t *smp = json_object_get(md, "sampling");
    assert_true(json_is_object(smp));
    assert_true(json_number_value(json_object_get(smp, "temperature")) == 0);
    assert_true(json_is_integer(json_object_get(smp, "seed")));
    assert_int_equal(json_integer_value(json_object_get(md, "max_tokens")), 24);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_tokens")),
                     r.stats.n_prompt);
    assert_int_equal(json_integer_value(json_object_get(md, "cached_tokens")),
                     r.stats.n_cached);
    assert_int_equal(json_integer_value(json_object_get(md, "dropped_turns")),
                     0);
    const char *timings[] = {"queue_ms", "ttft_ms", "prompt_ms",
                             "generation_ms", "total_ms"};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(md, timings[i]);
        assert_true(json_is_number(v));
        assert_true(json_number_value(v) >= 0);
    }
    assert_true(json_number_value(json_object_get(md, "ttft_ms")) > 0);
    json_decref(md);
    lc_messages_free(m, n);

    /* the untitled session is named after its first message */
    title = session_title(W.alice, S1);
    char *want = lc_chat_title_from_message(msg, 60);
    assert_string_equal(title, want);
    free(want);
    free(title);
    lc_turn_result_clear(&r);
    assert_null(r.text);
}

/* The second turn finds the first turn's prompt in the KV cache; a title
 * given by the user is kept. */
static void test_second_turn_reuses_cache(void **state) {
    (void)state;
    need_model();
    lc_store_error e;
    assert_int_equal(lc_sessions_rename(W.db, W.alice, S1, "My dog", &e),
                     LC_STORE_OK);
    lc_turn_params p = turn_params(W.alice, S1, "What did the dog do?", 16);
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, NULL};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_OK);
    assert_true(r.stats.n_cached > 0);
    assert_true(r.stats.n_cached < r.stats.n_prompt);
    lc_message *m = NULL;
    size_t n = list_messages(W.alice, S1, &m);
    assert_int_equal(n, 4);
    assert_string_equal(m[2].content, "What did the dog do?");
    assert_string_equal(m[3].content, r.text);
    json_t *md = metadata_of(&m[3]);
    assert_int_equal(json_integer_value(json_object_get(md, "cached_tokens")),
                     r.stats.n_cached);
    json_decref(md);
    lc_messages_free(m, n);
    char *title = session_title(W.alice, S1);
    assert_string_equal(title, "My dog");
    free(title);
    lc_turn_result_clear(&r);
}

/* Regenerate: the last reply is replaced (marked deleted, a new one
 * stored) from the same prompt, and no user message is added. */
static void test_regenerate(void **state) {
    (void)state;
    need_model();
    char sid[37];
    new_session(W.alice, "New chat", sid);
    lc_turn_params p = turn_params(W.alice, sid, NULL, 8);
    p.regenerate = true;
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, NULL};
    lc_turn_result r;
    char err[256] = "";
    /* nothing to answer yet */
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_INVALID);
    assert_non_null(strstr(err, "no user message"));
    assert_int_equal(s.started, 0);

    lc_turn_params first = turn_params(W.alice, sid, "Tell me about a cat.", 8);
    lc_turn_result r1;
    assert_int_equal(lc_chat_turn(W.chat, &first, &cb, &r1, err, sizeof err),
                     LC_TURN_OK);
    int n_prompt_first = s.n_prompt;

    /* another user's regenerate: not found, nothing changes */
    p.user_id = W.bob;
    memset(&s, 0, sizeof s);
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_NOT_FOUND);
    p.user_id = W.alice;

    for (int round = 0; round < 2; round++) {
        memset(&s, 0, sizeof s);
        assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                         LC_TURN_OK);
        /* the same conversation was answered: the old reply is not in the
         * prompt and the user message is not in it twice */
        assert_int_equal(s.n_prompt, n_prompt_first);
        assert_string_equal(r.user_message_id, "");
        assert_string_not_equal(r.assistant_message_id,
                                r1.assistant_message_id);
        lc_message *m = NULL;
        size_t n = list_messages(W.alice, sid, &m);
        assert_int_equal(n, 2); /* one user message, one (new) reply */
        assert_string_equal(m[0].role, "user");
        assert_string_equal(m[0].content, "Tell me about a cat.");
        assert_string_equal(m[1].role, "assistant");
        assert_string_equal(m[1].id, r.assistant_message_id);
        assert_string_equal(m[1].content, r.text);
        lc_messages_free(m, n);
        lc_turn_result_clear(&r);
    }
    lc_turn_result_clear(&r1);
}

/* A cancelled turn: the partial text is stored, finish reason "cancelled". */
static void check_cancelled(seen *s) {
    char sid[37];
    new_session(W.alice, "cancel", sid);
    lc_turn_params p = turn_params(W.alice, sid, "Once upon a time", 200);
    lc_turn_callbacks cb = {s, on_started, on_piece, should_cancel};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_OK);
    assert_string_equal(r.finish_reason, "cancelled");
    assert_string_equal(r.text, s->text);
    assert_true(strlen(r.text) > 0);
    assert_true(r.stats.n_generated < 200);
    lc_message *m = NULL;
    size_t n = list_messages(W.alice, sid, &m);
    assert_int_equal(n, 2);
    assert_string_equal(m[1].content, s->text);
    json_t *md = metadata_of(&m[1]);
    assert_string_equal(json_string_value(json_object_get(md, "finish_reason")),
                        "cancelled");
    json_decref(md);
    lc_messages_free(m, n);
    lc_turn_result_clear(&r);
}

static void test_cancel_mid_turn(void **state) {
    (void)state;
    need_model();
    seen s = {.cancel_after = 2};
    check_cancelled(&s);
    assert_int_equal(s.pieces, 2); /* no piece after the cancel */
}

static void test_client_gone(void **state) {
    (void)state;
    need_model();
    seen s = {.refuse_at = 3};
    check_cancelled(&s);
    assert_int_equal(s.pieces, 3);
}

/* A message that alone exceeds the context: an error, and nothing stored
 * (not the message, not a title). */
static void test_too_long(void **state) {
    (void)state;
    need_model();
    char sid[37];
    new_session(W.alice, NULL, sid);
    size_t len = 4 * TEST_N_CTX * 6;
    char *msg = malloc(len + 1);
    assert_non_null(msg);
    for (size_t i = 0; i < len; i += 6) memcpy(msg + i, "happy ", 6);
    msg[len] = '\0';
    lc_turn_params p = turn_params(W.alice, sid, msg, 16);
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, NULL};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_TOO_LONG);
    assert_true(strlen(err) > 0);
    assert_int_equal(s.started, 0);
    assert_int_equal(s.pieces, 0);
    assert_null(r.text);
    lc_message *m = NULL;
    assert_int_equal(list_messages(W.alice, sid, &m), 0);
    char *title = session_title(W.alice, sid);
    assert_string_equal(title, "");
    free(title);
    free(msg);
}

/* A long history: the oldest turns are dropped and the result says so. */
static void test_dropped_turns(void **state) {
    (void)state;
    need_model();
    char sid[37];
    new_session(W.alice, "long", sid);
    lc_store_error e = {0};
    assert_int_equal(lc_sessions_set_system_prompt(W.db, W.alice, sid,
                                                   "You tell stories.", &e),
                     LC_STORE_OK);
    for (int i = 0; i < 20; i++) {
        char u[128], id[37];
        snprintf(u, sizeof u, "Tell me about the cat number %d and the sun", i);
        assert_int_equal(
            lc_messages_add_user(W.db, W.alice, sid, u, NULL, id, &e),
            LC_STORE_OK);
        lc_assistant_reply a = {.content = "The cat sat in the warm sun and "
                                           "was very happy all day long.",
                                .model = "stories260K",
                                .confidence = -1};
        assert_int_equal(
            lc_messages_add_assistant(W.db, W.alice, sid, &a, id, &e),
            LC_STORE_OK);
    }
    lc_turn_params p = turn_params(W.alice, sid, "And then?", 32);
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, NULL};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_OK);
    assert_true(r.n_dropped_turns > 0 && r.n_dropped_turns < 20);
    assert_int_equal(s.n_dropped, r.n_dropped_turns);
    /* the prompt left room for the reply: min(max_tokens, n_ctx / 4) */
    assert_true(r.stats.n_prompt <= TEST_N_CTX - 32);
    lc_message *m = NULL;
    size_t n = list_messages(W.alice, sid, &m);
    assert_int_equal(n, 42);
    json_t *md = metadata_of(&m[41]);
    assert_int_equal(json_integer_value(json_object_get(md, "dropped_turns")),
                     r.n_dropped_turns);
    json_decref(md);
    lc_messages_free(m, n);
    lc_turn_result_clear(&r);
}

/* Another user's session is not found, and nothing is written to it. */
static void test_other_users_session(void **state) {
    (void)state;
    need_model();
    lc_message *m = NULL;
    size_t before = list_messages(W.alice, S1, &m);
    lc_messages_free(m, before);
    lc_turn_params p = turn_params(W.bob, S1, "Hello", 8);
    seen s = {0};
    lc_turn_callbacks cb = {&s, on_started, on_piece, NULL};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_NOT_FOUND);
    assert_int_equal(s.started, 0);
    p.session_id = "not-a-uuid";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_NOT_FOUND);
    p.session_id = "00000000-0000-0000-0000-000000000000";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_NOT_FOUND);
    size_t after = list_messages(W.alice, S1, &m);
    lc_messages_free(m, after);
    assert_int_equal(after, before);
}

static void test_bad_input(void **state) {
    (void)state;
    need_model();
    lc_turn_result r;
    char err[256] = "";
    const char *bad[] = {"", "broken \xc3\x28 utf-8", NULL};
    for (int i = 0; i < 3; i++) {
        lc_turn_params p = turn_params(W.alice, S1, bad[i], 8);
        assert_int_equal(lc_chat_turn(W.chat, &p, NULL, &r, err, sizeof err),
                         LC_TURN_INVALID);
        assert_true(strlen(err) > 0);
    }
    lc_turn_params p = turn_params(W.alice, S1, "hi", 8);
    p.n_stops = -1;
    assert_int_equal(lc_chat_turn(W.chat, &p, NULL, &r, err, sizeof err),
                     LC_TURN_INVALID);
    assert_int_equal(lc_chat_turn(W.chat, NULL, NULL, &r, err, sizeof err),
                     LC_TURN_INVALID);
    assert_null(lc_chat_new(NULL, W.sched, W.model, "x"));
    /* no callbacks and no error buffer are fine */
    p.n_stops = 0;
    assert_int_equal(lc_chat_turn(W.chat, &p, NULL, &r, NULL, 0), LC_TURN_OK);
    lc_turn_result_clear(&r);
}

/* Several sessions at once, from several threads: every reply complete and
 * stored in its own session. */
typedef struct client {
    char session[37];
    int ok;
    char replies[2][1024];
} client;

static void *client_main(void *arg) {
    client *cl = arg;
    const char *msgs[2] = {"Tim had a red ball", "Where did it go?"};
    for (int t = 0; t < 2; t++) {
        lc_turn_params p = turn_params(W.alice, cl->session, msgs[t], 12);
        lc_turn_result r;
        char err[256];
        if (lc_chat_turn(W.chat, &p, NULL, &r, err, sizeof err) == LC_TURN_OK) {
            snprintf(cl->replies[t], sizeof cl->replies[t], "%s", r.text);
            cl->ok++;
        }
        lc_turn_result_clear(&r);
    }
    return NULL;
}

static void test_concurrent_sessions(void **state) {
    (void)state;
    need_model();
    enum { N = 4 };
    client cl[N] = {0};
    pthread_t th[N];
    /* "New chat" is what the seed's client names a session: renamed too */
    for (int i = 0; i < N; i++) new_session(W.alice, "New chat", cl[i].session);
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cl[i].ok, 2);
        lc_message *m = NULL;
        size_t n = list_messages(W.alice, cl[i].session, &m);
        assert_int_equal(n, 4);
        assert_string_equal(m[0].content, "Tim had a red ball");
        assert_string_equal(m[1].content, cl[i].replies[0]);
        assert_string_equal(m[2].content, "Where did it go?");
        assert_string_equal(m[3].content, cl[i].replies[1]);
        /* greedy, same history: every session got the same replies */
        assert_string_equal(cl[i].replies[0], cl[0].replies[0]);
        assert_string_equal(cl[i].replies[1], cl[0].replies[1]);
        lc_messages_free(m, n);
        char *title = session_title(W.alice, cl[i].session);
        assert_string_equal(title, "Tim had a red ball");
        free(title);
    }
}

/* The session is deleted while its reply is generated: the reply cannot be
 * stored, the caller still gets its text. */
static bool delete_session_on_piece(void *ud, const char *text, int index) {
    (void)text, (void)index;
    const char *sid = ud;
    lc_store_error e = {0};
    lc_sessions_delete(W.db, W.alice, sid, &e);
    return true;
}

static void test_session_deleted_during_turn(void **state) {
    (void)state;
    need_model();
    char sid[37];
    new_session(W.alice, "doomed", sid);
    lc_turn_params p = turn_params(W.alice, sid, "Once upon a time", 8);
    lc_turn_callbacks cb = {.ud = sid, .on_piece = delete_session_on_piece};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_NOT_FOUND);
    assert_non_null(r.text);
    assert_true(strlen(r.text) > 0);
    assert_string_equal(r.assistant_message_id, "");
    lc_turn_result_clear(&r);
}

/* The database goes away while a reply is generated: UNAVAILABLE with the
 * text in the result; the user message committed before generation is
 * still there when the database is back, and nothing half-written is; the
 * next turn of the session works and sees the unanswered message. Runs
 * last: it restarts the cluster. */
static bool stop_database_on_piece(void *ud, const char *text, int index) {
    (void)text, (void)index;
    int *stopped = ud;
    if (!*stopped) {
        lc_cluster_stop(W.cluster);
        W.cluster = NULL;
        *stopped = 1;
    }
    return true;
}

static void test_database_gone_during_turn(void **state) {
    (void)state;
    need_model();
    char sid[37];
    new_session(W.alice, "outage", sid);
    lc_turn_params p = turn_params(W.alice, sid, "The sun was hot", 8);
    int stopped = 0;
    lc_turn_callbacks cb = {.ud = &stopped, .on_piece = stop_database_on_piece};
    lc_turn_result r;
    char err[256] = "";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb, &r, err, sizeof err),
                     LC_TURN_UNAVAILABLE);
    print_message("while the database is down: %s\n", err);
    assert_int_equal(stopped, 1);
    assert_true(strlen(r.text) > 0);
    assert_string_equal(r.assistant_message_id, "");
    char user_id[37];
    memcpy(user_id, r.user_message_id, 37);
    assert_true(lc_store_is_uuid(user_id));
    lc_turn_result_clear(&r);

    /* a turn while it is down fails cleanly, before anything */
    seen s = {0};
    lc_turn_callbacks cb2 = {&s, on_started, on_piece, NULL};
    p.message = "Anyone there?";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb2, &r, err, sizeof err),
                     LC_TURN_UNAVAILABLE);
    assert_int_equal(s.started, 0);

    lc_cluster_options opt = {.data_dir = W.dir, .port = 54341};
    lc_store_error e = {0};
    W.cluster = lc_cluster_start(&opt, &e);
    if (!W.cluster) fail_msg("restart: %s", e.message);
    lc_message *m = NULL;
    size_t n = list_messages(W.alice, sid, &m);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].id, user_id);
    assert_string_equal(m[0].content, "The sun was hot");
    lc_messages_free(m, n);

    p.message = "Tell me more";
    assert_int_equal(lc_chat_turn(W.chat, &p, &cb2, &r, err, sizeof err),
                     LC_TURN_OK);
    lc_turn_result_clear(&r);
    n = list_messages(W.alice, sid, &m);
    assert_int_equal(n, 3);
    assert_string_equal(m[1].content, "Tell me more");
    assert_string_equal(m[2].role, "assistant");
    lc_messages_free(m, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_title),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_prompt_policy),
        cmocka_unit_test(test_turn_stores_everything),
        cmocka_unit_test(test_second_turn_reuses_cache),
        cmocka_unit_test(test_cancel_mid_turn),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_dropped_turns),
        cmocka_unit_test(test_other_users_session),
        cmocka_unit_test(test_regenerate),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_concurrent_sessions),
        cmocka_unit_test(test_session_deleted_during_turn),
        cmocka_unit_test(test_database_gone_during_turn),
    };
    return cmocka_run_group_tests_name("chat", tests, setup, teardown);
}

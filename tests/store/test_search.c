/*
 * lc_search against a real PostgreSQL (a private cluster, as in
 * test_store.c): only the caller's messages, an exact duplicate first,
 * cosine ranking on stored hand-made vectors, a word found through
 * full-text, the session filters, the limit, bad input, a zero vector, and
 * the exact ranking of random vectors when many other users' rows are
 * nearer the query.
 *
 * The whole group runs twice: on the real[] fallback, then on pgvector's
 * vector(768) with its HNSW index when the server has the extension (else
 * that pass is skipped, with a message). The same assertions on both is
 * what makes the two paths give the same results.
 *
 * The vectors are written straight into content_embedding with known
 * values, so the expected order follows from the arithmetic alone.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "store/cluster.h"
#include "store/db.h"
#include "store/messages.h"
#include "store/migrate.h"
#include "store/search.h"
#include "store/sessions.h"
#include "store/users.h"

#define DIM 768

typedef struct world {
    bool pgvector;  /* this pass: migrated with pgvector (else real[]) */
    bool available; /* the server has pgvector (found by the first pass) */
    lc_test_db t;   /* t.dir, t.cluster, t.db */
    char alice[37], bob[37];
    char a1[37], a2[37]; /* alice's sessions */
    char b1[37];         /* bob's */
} world;

static world W;

/* A [DIM] vector that is zero but for its first four values. */
static void vec4(float *v, float a, float b, float c, float d) {
    memset(v, 0, DIM * sizeof *v);
    v[0] = a, v[1] = b, v[2] = c, v[3] = d;
}

static void set_embedding(const char *message_id, const float *v) {
    char lit[DIM * 16 + 4];
    size_t len = 0;
    lit[len++] = '{';
    for (int i = 0; i < DIM; i++)
        len += (size_t)snprintf(lit + len, sizeof lit - len, "%s%.9g",
                                i ? "," : "", (double)v[i]);
    lit[len++] = '}';
    lit[len] = '\0';
    lc_store_error err;
    PGconn *c = lc_db_acquire(W.t.db, &err);
    assert_non_null(c);
    const char *p[] = {message_id, lit};
    /* real[] is cast to vector(768) on assignment (pgvector's cast) */
    assert_int_equal(lc_db_exec(c,
                                "UPDATE chat_messages SET content_embedding ="
                                " $2::real[] WHERE id = $1",
                                2, p, &err),
                     LC_STORE_OK);
    lc_db_release(W.t.db, c);
}

static void add(const char *user, const char *session, const char *text,
                char id[37]) {
    lc_store_error err;
    if (lc_messages_add_user(W.t.db, user, session, text, NULL, id, &err))
        fail_msg("add: %s", err.message);
}

/* add() with an embedding that is zero but for its first four values. */
static void add_vec4(const char *user, const char *session, const char *text,
                     char id[37], float a, float b, float c, float d) {
    add(user, session, text, id);
    float v[DIM];
    vec4(v, a, b, c, d);
    set_embedding(id, v);
}

static void make_user(const char *name, char id[37]) {
    lc_user u = {0};
    lc_store_error err;
    if (lc_users_create(W.t.db, name, "correct horse battery", NULL, &u, &err))
        fail_msg("user: %s", err.message);
    snprintf(id, 37, "%s", u.id);
    lc_user_clear(&u);
}

static void make_session(const char *user, const char *title, char id[37]) {
    lc_session s = {0};
    lc_store_error err;
    if (lc_sessions_create(W.t.db, user, title, NULL, NULL, &s, &err))
        fail_msg("session: %s", err.message);
    snprintf(id, 37, "%s", s.id);
    lc_session_clear(&s);
}

static int setup(void **state) {
    (void)state;
    lc_store_error err = {0};
    if (lc_test_db_start(&W.t, 4)) return -1;
    lc_migrate_options mo = {.force_array_vectors = !W.pgvector};
    if (lc_test_db_migrate(&W.t, &mo)) return -1;
    W.available = lc_test_db_has_extension(&W.t, "vector");
    char backend[16];
    if (lc_store_vector_backend(W.t.db, backend, &err) ||
        strcmp(backend, W.pgvector ? "pgvector" : "array") != 0) {
        fprintf(stderr, "backend: '%s', wanted %s\n", backend,
                W.pgvector ? "pgvector" : "array");
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lc_test_db_stop(&W.t);
    return 0;
}

/* The messages every test searches. Alice's vectors (first four values):
 *   m_exact   "the lighthouse keeper fed the seagulls"   (1, 0, 0, 0)
 *   m_close   "a keeper of bees sold honey at the market" (0.9, 0.1, 0, 0)
 *   m_mid     "rain fell on the old stone bridge"         (0.5, 0.5, 0.5, 0)
 *   m_far     "the keeper said the seagulls were hungry"  (0, 0, 0, 1)
 *   m_other   in her second session, "violet kites over the lighthouse"
 *             (0.8, 0.6, 0, 0)
 * Bob has the same words and the query's exact vector: he must never be
 * found by Alice. */
static char m_exact[37], m_close[37], m_mid[37], m_far[37], m_other[37];
static char m_bob[37];

static void test_fixture(void **state) {
    (void)state;
    make_user("alice", W.alice);
    make_user("bob", W.bob);
    make_session(W.alice, "Coast", W.a1);
    make_session(W.alice, "Kites", W.a2);
    make_session(W.bob, "Bob's coast", W.b1);
    add_vec4(W.alice, W.a1, "the lighthouse keeper fed the seagulls", m_exact,
             1, 0, 0, 0);
    add_vec4(W.alice, W.a1, "a keeper of bees sold honey at the market",
             m_close, 0.9f, 0.1f, 0, 0);
    add_vec4(W.alice, W.a1, "rain fell on the old stone bridge", m_mid, 0.5f,
             0.5f, 0.5f, 0);
    add_vec4(W.alice, W.a1, "the keeper said the seagulls were hungry", m_far,
             0, 0, 0, 1);
    add_vec4(W.alice, W.a2, "violet kites over the lighthouse", m_other, 0.8f,
             0.6f, 0, 0);
    add_vec4(W.bob, W.b1, "the lighthouse keeper fed the seagulls", m_bob, 1, 0,
             0, 0);
}

static bool has(const lc_search_hit *h, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].message_id, id) == 0) return true;
    return false;
}

static void test_only_callers_messages(void **state) {
    (void)state;
    float q[DIM];
    vec4(q, 1, 0, 0, 0);
    const char *users[] = {W.alice, W.bob};
    for (int u = 0; u < 2; u++) {
        for (int with_vec = 0; with_vec < 2; with_vec++) {
            lc_search_hit *h = NULL;
            size_t n = 0;
            lc_store_error err;
            assert_int_equal(lc_search(W.t.db, users[u], "lighthouse keeper",
                                       with_vec ? q : NULL, DIM, NULL, 100, &h,
                                       &n, &err),
                             LC_STORE_OK);
            assert_true(n >= 1);
            for (size_t i = 0; i < n; i++) {
                bool alices = strcmp(h[i].session_id, W.a1) == 0 ||
                              strcmp(h[i].session_id, W.a2) == 0;
                assert_true(u == 0 ? alices : !alices);
                assert_true(u == 0 ? strcmp(h[i].message_id, m_bob) != 0
                                   : strcmp(h[i].message_id, m_bob) == 0);
            }
            lc_search_hits_free(h, n);
        }
    }
    /* Alice naming Bob's session finds nothing, not Bob's message */
    lc_search_hit *h = NULL;
    size_t n = 0;
    lc_store_error err;
    assert_int_equal(lc_search(W.t.db, W.alice, "lighthouse", q, DIM, W.b1, 10,
                               &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);
    /* an unknown user finds nothing; a malformed id is "not found" */
    assert_int_equal(lc_search(W.t.db, "00000000-0000-0000-0000-000000000000",
                               "lighthouse", q, DIM, NULL, 10, &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(lc_search(W.t.db, "alice", "lighthouse", NULL, 0, NULL, 10,
                               &h, &n, &err),
                     LC_STORE_NOT_FOUND);
}

static void test_exact_duplicate_first(void **state) {
    (void)state;
    float q[DIM];
    vec4(q, 1, 0, 0, 0); /* what an embedder gives for the same text */
    lc_search_hit *h = NULL;
    size_t n = 0;
    bool hybrid = false;
    lc_store_error err;
    lc_search_query sq = {.user_id = W.alice,
                          .text = "the lighthouse keeper fed the seagulls",
                          .qvec = q,
                          .dim = DIM,
                          .limit = 10};
    assert_int_equal(lc_search_run(W.t.db, &sq, &h, &n, &hybrid, &err),
                     LC_STORE_OK);
    assert_true(hybrid);
    assert_true(n >= 2);
    assert_string_equal(h[0].message_id, m_exact);
    assert_true(fabs(h[0].similarity - 1.0) < 1e-6);
    /* first in both lists: 2 / (60 + 1) */
    assert_true(fabs(h[0].score - 2.0 / (LC_SEARCH_RRF_K + 1)) < 1e-9);
    assert_string_equal(h[0].session_title, "Coast");
    assert_string_equal(h[0].role, "user");
    assert_string_equal(h[0].content, "the lighthouse keeper fed the seagulls");
    assert_non_null(strstr(h[0].snippet, "**lighthouse**"));
    assert_true(strlen(h[0].created_at) > 19);
    for (size_t i = 1; i < n; i++) assert_true(h[i].score <= h[i - 1].score);
    lc_search_hits_free(h, n);
}

static void test_cosine_ranking(void **state) {
    (void)state;
    /* words that match nothing: the order is the vector list's alone */
    float q[DIM];
    vec4(q, 1, 0, 0, 0);
    lc_search_hit *h = NULL;
    size_t n = 0;
    lc_store_error err;
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", q, DIM, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    /* cos to (1,0,0,0): exact 1, close 0.9/|(0.9,0.1)| = 0.99388,
     * other 0.8, mid 0.5/sqrt(0.75) = 0.57735, far 0 */
    const char *order[] = {m_exact, m_close, m_other, m_mid, m_far};
    const double cos[] = {1.0, 0.9 / sqrt(0.82), 0.8, 0.5 / sqrt(0.75), 0.0};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(h[i].message_id, order[i]);
        assert_true(fabs(h[i].similarity - cos[i]) < 1e-6);
        assert_true(fabs(h[i].score - 1.0 / (LC_SEARCH_RRF_K + 1 + (int)i)) <
                    1e-9);
        assert_true(h[i].text_rank == 0);
    }
    lc_search_hits_free(h, n);

    /* another direction changes the order: (0,0,0,1) puts far first */
    vec4(q, 0, 0, 0.1f, 1);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", q, DIM, NULL, 2, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].message_id, m_far);
    assert_string_equal(h[1].message_id, m_mid);
    lc_search_hits_free(h, n);

    /* a vector of another size compares with nothing stored */
    float small[4] = {1, 0, 0, 0};
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", small, 4, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
}

static void test_full_text(void **state) {
    (void)state;
    lc_search_hit *h = NULL;
    size_t n = 0;
    bool hybrid = true;
    lc_store_error err;
    lc_search_query sq = {.user_id = W.alice, .text = "HONEY", .limit = 10};
    assert_int_equal(lc_search_run(W.t.db, &sq, &h, &n, &hybrid, &err),
                     LC_STORE_OK);
    assert_false(hybrid);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].message_id, m_close);
    assert_true(isnan(h[0].similarity));
    assert_true(h[0].text_rank > 0);
    assert_non_null(strstr(h[0].snippet, "**honey**"));
    lc_search_hits_free(h, n);

    /* both words must be there (plainto_tsquery ANDs them) */
    assert_int_equal(lc_search(W.t.db, W.alice, "keeper seagulls", NULL, 0,
                               NULL, 10, &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_true(has(h, n, m_exact) && has(h, n, m_far));
    lc_search_hits_free(h, n);

    /* any word: what memory asks for; the more words, the higher */
    lc_search_query any = {.user_id = W.alice,
                           .text = "zebra seagulls keeper lighthouse fed",
                           .any_word = true,
                           .limit = 10};
    assert_int_equal(lc_search_run(W.t.db, &any, &h, &n, NULL, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 4); /* exact, far, close (keeper), other */
    assert_string_equal(h[0].message_id, m_exact);
    assert_true(has(h, n, m_far) && has(h, n, m_close) && has(h, n, m_other));
    lc_search_hits_free(h, n);
    any.text = "?!";
    assert_int_equal(lc_search_run(W.t.db, &any, &h, &n, NULL, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);

    /* punctuation only: no words, no match, no error */
    assert_int_equal(
        lc_search(W.t.db, W.alice, "?! ...", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
    /* quotes and operators are words, never syntax */
    assert_int_equal(lc_search(W.t.db, W.alice,
                               "'); DROP TABLE users; -- & | !", NULL, 0, NULL,
                               10, &h, &n, &err),
                     LC_STORE_OK);
    lc_search_hits_free(h, n);
}

static void test_session_filter_and_limit(void **state) {
    (void)state;
    float q[DIM];
    vec4(q, 1, 0, 0, 0);
    lc_search_hit *h = NULL;
    size_t n = 0;
    lc_store_error err;
    /* "lighthouse" is in both of Alice's sessions */
    assert_int_equal(lc_search(W.t.db, W.alice, "lighthouse", NULL, 0, W.a2, 10,
                               &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].message_id, m_other);
    assert_string_equal(h[0].session_title, "Kites");
    lc_search_hits_free(h, n);
    /* every session but the first: what memory asks for */
    lc_search_query sq = {.user_id = W.alice,
                          .text = "lighthouse",
                          .qvec = q,
                          .dim = DIM,
                          .exclude_session_id = W.a1,
                          .limit = 10};
    assert_int_equal(lc_search_run(W.t.db, &sq, &h, &n, NULL, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].message_id, m_other);
    lc_search_hits_free(h, n);
    /* limit: the best two of five */
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", q, DIM, NULL, 2, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].message_id, m_exact);
    assert_string_equal(h[1].message_id, m_close);
    lc_search_hits_free(h, n);
    /* a deleted message is not found */
    PGconn *c = lc_db_acquire(W.t.db, &err);
    assert_non_null(c);
    const char *p[] = {m_close};
    assert_int_equal(lc_db_exec(c,
                                "UPDATE chat_messages SET is_deleted = true"
                                " WHERE id = $1",
                                1, p, &err),
                     LC_STORE_OK);
    lc_db_release(W.t.db, c);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "honey", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
}

/* A time limit applies to the search alone: the connection goes back to
 * the pool without it. */
static void test_timeout_is_reset(void **state) {
    (void)state;
    lc_store_error err;
    lc_db *one = lc_db_open(lc_cluster_url(W.t.cluster), 1, &err);
    assert_non_null(one);
    float q[DIM];
    vec4(q, 1, 0, 0, 0);
    lc_search_query sq = {.user_id = W.alice,
                          .text = "lighthouse",
                          .qvec = q,
                          .dim = DIM,
                          .limit = 3,
                          .timeout_ms = 20000};
    lc_search_hit *h = NULL;
    size_t n = 0;
    assert_int_equal(lc_search_run(one, &sq, &h, &n, NULL, &err), LC_STORE_OK);
    assert_int_equal(n, 3);
    lc_search_hits_free(h, n);
    PGconn *c = lc_db_acquire(one, &err);
    assert_non_null(c);
    PGresult *r = lc_db_query(c, "SHOW statement_timeout", 0, NULL, &err);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    lc_db_release(one, c);
    lc_db_close(one);
}

static void test_bad_input(void **state) {
    (void)state;
    float q[DIM];
    vec4(q, 1, 0, 0, 0);
    lc_search_hit *h = NULL;
    size_t n = 0;
    lc_store_error err;
    assert_int_equal(
        lc_search(W.t.db, W.alice, "x", NULL, 0, NULL, 0, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(lc_search(W.t.db, W.alice, "x", NULL, 0, NULL,
                               LC_SEARCH_MAX_LIMIT + 1, &h, &n, &err),
                     LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "\xff\xfe", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "x", q, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    q[5] = NAN;
    assert_int_equal(
        lc_search(W.t.db, W.alice, "x", q, DIM, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(lc_search(W.t.db, W.alice, "x", NULL, 0, "not-a-uuid", 10,
                               &h, &n, &err),
                     LC_STORE_NOT_FOUND);
    assert_null(h);
    assert_int_equal(n, 0);
}

static void test_session_memory_setting(void **state) {
    (void)state;
    lc_store_error err;
    assert_int_equal(
        lc_search_set_session_memory(W.t.db, W.alice, W.a1,
                                     "{\"enabled\":true,\"top_k\":3}", &err),
        LC_STORE_OK);
    lc_session s = {0};
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, W.a1, &s, &err),
                     LC_STORE_OK);
    assert_non_null(strstr(s.metadata, "\"top_k\": 3"));
    lc_session_clear(&s);
    /* Bob cannot set Alice's */
    assert_int_equal(lc_search_set_session_memory(W.t.db, W.bob, W.a1,
                                                  "{\"enabled\":false}", &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(
        lc_search_set_session_memory(W.t.db, W.alice, W.a1, "{nope", &err),
        LC_STORE_INVALID);
}

/* A zero vector has no direction: similarity 0 on both paths (lc_cosine
 * says so; pgvector's <=> gives NaN, which search.c maps to 0), so it is
 * never ranked above a row that points the query's way. */
static void test_zero_vector(void **state) {
    (void)state;
    char zero_id[37];
    add_vec4(W.alice, W.a1, "a message whose vector is zero", zero_id, 0, 0, 0,
             0);
    float v[DIM];
    vec4(v, 1, 0, 0, 0);
    lc_search_hit *h = NULL;
    size_t n = 0;
    lc_store_error err;
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", v, DIM, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_true(n >= 2);
    assert_string_equal(h[0].message_id, m_exact);
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        assert_false(isnan(h[i].similarity));
        if (strcmp(h[i].message_id, zero_id) == 0) {
            seen = true;
            assert_true(h[i].similarity == 0);
        }
    }
    assert_true(seen);
    lc_search_hits_free(h, n);
    /* a zero query: every similarity 0, no error */
    vec4(v, 0, 0, 0, 0);
    assert_int_equal(
        lc_search(W.t.db, W.alice, "zebra", v, DIM, NULL, 3, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) assert_true(h[i].similarity == 0);
    lc_search_hits_free(h, n);
}

/* Runs one statement on c; fails the test on error. */
static void exec_on(PGconn *c, const char *sql, int n, const char **p) {
    lc_store_error err;
    if (lc_db_exec(c, sql, n, p, &err))
        fail_msg("%s\n  in: %.120s", err.message, sql);
}

/* The vector list ranks the caller's rows exactly even when thousands of
 * another user's rows are nearer the query: on pgvector, a plan that took
 * the nearest rows of the whole table from the HNSW index and filtered
 * them by owner afterwards would find none of Alice's. The planner is
 * pushed towards such an index (enable_seqscan and enable_sort off on the
 * searching connection);
 * the expected ranking is computed here with lc_cosine over the same rows
 * (pgvector's vector casts to real[] implicitly), i.e. the real[] path's
 * answer on the same data. */
static void test_exact_among_nearer_others(void **state) {
    (void)state;
    char mine[37], near[37];
    make_session(W.alice, "Random", mine);
    make_session(W.bob, "Near", near);
    lc_store_error err;
    lc_db *one = lc_db_open(lc_cluster_url(W.t.cluster), 1, &err);
    assert_non_null(one);
    PGconn *c = lc_db_acquire(one, &err);
    assert_non_null(c);
    /* the same rows every run: random() after setseed on one session */
    exec_on(c, "SELECT setseed(0.25)", 0, NULL);
    /* 300 of Alice's rows, uniform in [-0.5, 0.5): cosine to the query
     * about 0 +- 0.04. The subqueries refer to g so that they run per row. */
    const char *pa[] = {mine};
    exec_on(c,
            "INSERT INTO chat_messages (session_id, role, content,"
            " content_embedding)"
            " SELECT $1::uuid, 'user', 'random ' || g,"
            "  (SELECT array_agg((random() - 0.5)::real)"
            "   FROM generate_series(1, 768) WHERE g > 0)"
            " FROM generate_series(1, 300) g",
            1, pa);
    /* 3000 of Bob's, the query plus noise: cosine about 0.99 */
    const char *pb[] = {near};
    exec_on(c,
            "INSERT INTO chat_messages (session_id, role, content,"
            " content_embedding)"
            " SELECT $1::uuid, 'user', 'near ' || g,"
            "  (SELECT array_agg((sin(i * 0.37) + (random() - 0.5) * 0.2)"
            "   ::real ORDER BY i) FROM generate_series(0, 767) i"
            "   WHERE g > 0)"
            " FROM generate_series(1, 3000) g",
            1, pb);
    exec_on(c, "ANALYZE chat_messages", 0, NULL);
    exec_on(c, "ANALYZE chat_sessions", 0, NULL);
    float q[DIM];
    char lit[DIM * 16 + 4];
    size_t len = 0;
    lit[len++] = '{';
    for (int i = 0; i < DIM; i++) {
        q[i] = (float)sin(i * 0.37);
        len += (size_t)snprintf(lit + len, sizeof lit - len, "%s%.9g",
                                i ? "," : "", (double)q[i]);
    }
    lit[len++] = '}';
    lit[len] = '\0';
    const char *pe[] = {mine, lit};
    PGresult *want =
        lc_db_query(c,
                    "SELECT id, lc_cosine(content_embedding, $2::real[]) AS"
                    " sim FROM chat_messages WHERE session_id = $1::uuid"
                    " ORDER BY sim DESC LIMIT 20",
                    2, pe, &err);
    assert_non_null(want);
    assert_int_equal(PQntuples(want), 20);
    /* what would make a planner take an index that yields rows in
     * distance order, if the statement let it */
    exec_on(c, "SET enable_seqscan = off", 0, NULL);
    exec_on(c, "SET enable_sort = off", 0, NULL);
    lc_db_release(one, c);

    lc_search_hit *h = NULL;
    size_t n = 0;
    bool hybrid = false;
    lc_search_query sq = {.user_id = W.alice,
                          .text = "zebra",
                          .qvec = q,
                          .dim = DIM,
                          .session_id = mine,
                          .limit = 20};
    assert_int_equal(lc_search_run(one, &sq, &h, &n, &hybrid, &err),
                     LC_STORE_OK);
    assert_true(hybrid);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(h[i].message_id, PQgetvalue(want, (int)i, 0));
        double sim = strtod(PQgetvalue(want, (int)i, 1), NULL);
        /* pgvector sums in float, lc_cosine in double */
        assert_true(fabs(h[i].similarity - sim) < 1e-5);
    }
    lc_search_hits_free(h, n);
    /* the same without the session filter: Alice's best rows overall are
     * these same random ones (her hand-made vectors are orthogonal to the
     * query or nearly), never Bob's */
    sq.session_id = NULL;
    assert_int_equal(lc_search_run(one, &sq, &h, &n, NULL, &err), LC_STORE_OK);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(h[i].session_id, near);
    lc_search_hits_free(h, n);
    PQclear(want);
    lc_db_close(one);
}

/* One pass of the whole group on one backend. */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),
        cmocka_unit_test(test_only_callers_messages),
        cmocka_unit_test(test_exact_duplicate_first),
        cmocka_unit_test(test_cosine_ranking),
        cmocka_unit_test(test_full_text),
        cmocka_unit_test(test_session_filter_and_limit),
        cmocka_unit_test(test_timeout_is_reset),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_session_memory_setting),
        cmocka_unit_test(test_zero_vector),
        cmocka_unit_test(test_exact_among_nearer_others),
    };
    const size_t n = sizeof tests / sizeof tests[0];
    return lc_test_run_vector_passes("search", tests, n, setup, teardown,
                                     &W.pgvector, &W.available);
}

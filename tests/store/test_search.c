/*
 * lc_search against a real PostgreSQL (a private cluster, as in
 * test_store.c) on the real[] fallback: only the caller's messages, an
 * exact duplicate first, cosine ranking on stored hand-made vectors, a word
 * found through full-text, the session filters, the limit, bad input.
 *
 * The vectors are written straight into content_embedding with known
 * values, so the expected order follows from the arithmetic alone.
 */
#include "testutil.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/cluster.h"
#include "store/db.h"
#include "store/messages.h"
#include "store/migrate.h"
#include "store/search.h"
#include "store/sessions.h"
#include "store/users.h"

#define DIM 768

typedef struct world {
    char dir[64];
    lc_cluster *cluster;
    lc_db *db;
    char alice[37], bob[37];
    char a1[37], a2[37]; /* alice's sessions */
    char b1[37];         /* bob's */
} world;

static world W;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

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
    PGconn *c = lc_db_acquire(W.db, &err);
    assert_non_null(c);
    const char *p[] = {message_id, lit};
    assert_int_equal(lc_db_exec(c,
                                "UPDATE chat_messages SET content_embedding ="
                                " $2::real[] WHERE id = $1",
                                2, p, &err),
                     LC_STORE_OK);
    lc_db_release(W.db, c);
}

static void add(const char *user, const char *session, const char *text,
                char id[37]) {
    lc_store_error err;
    if (lc_messages_add_user(W.db, user, session, text, NULL, id, &err))
        fail_msg("add: %s", err.message);
}

static void make_user(const char *name, char id[37]) {
    lc_user u = {0};
    lc_store_error err;
    if (lc_users_create(W.db, name, "correct horse battery", NULL, &u, &err))
        fail_msg("user: %s", err.message);
    snprintf(id, 37, "%s", u.id);
    lc_user_clear(&u);
}

static void make_session(const char *user, const char *title, char id[37]) {
    lc_session s = {0};
    lc_store_error err;
    if (lc_sessions_create(W.db, user, title, NULL, NULL, &s, &err))
        fail_msg("session: %s", err.message);
    snprintf(id, 37, "%s", s.id);
    lc_session_clear(&s);
}

static int setup(void **state) {
    (void)state;
    snprintf(W.dir, sizeof W.dir, "/tmp/lcsearch-XXXXXX");
    if (!mkdtemp(W.dir)) return -1;
    chmod(W.dir, 0755); /* as root the cluster's user must enter it */
    lc_cluster_options opt = {.data_dir = W.dir};
    lc_store_error err = {0};
    W.cluster = lc_cluster_start(&opt, &err);
    if (!W.cluster) {
        fprintf(stderr, "cluster: %s\n", err.message);
        return -1;
    }
    W.db = lc_db_open(lc_cluster_url(W.cluster), 4, &err);
    if (!W.db) {
        fprintf(stderr, "db: %s\n", err.message);
        return -1;
    }
    lc_migrate_options mo = {.force_array_vectors = true};
    if (lc_migrate(W.db, &mo, NULL, &err)) {
        fprintf(stderr, "migrate: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lc_db_close(W.db);
    lc_cluster_stop(W.cluster);
    nftw(W.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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
    float v[DIM];
    add(W.alice, W.a1, "the lighthouse keeper fed the seagulls", m_exact);
    vec4(v, 1, 0, 0, 0);
    set_embedding(m_exact, v);
    add(W.alice, W.a1, "a keeper of bees sold honey at the market", m_close);
    vec4(v, 0.9f, 0.1f, 0, 0);
    set_embedding(m_close, v);
    add(W.alice, W.a1, "rain fell on the old stone bridge", m_mid);
    vec4(v, 0.5f, 0.5f, 0.5f, 0);
    set_embedding(m_mid, v);
    add(W.alice, W.a1, "the keeper said the seagulls were hungry", m_far);
    vec4(v, 0, 0, 0, 1);
    set_embedding(m_far, v);
    add(W.alice, W.a2, "violet kites over the lighthouse", m_other);
    vec4(v, 0.8f, 0.6f, 0, 0);
    set_embedding(m_other, v);
    add(W.bob, W.b1, "the lighthouse keeper fed the seagulls", m_bob);
    vec4(v, 1, 0, 0, 0);
    set_embedding(m_bob, v);
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
            assert_int_equal(lc_search(W.db, users[u], "lighthouse keeper",
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
    assert_int_equal(
        lc_search(W.db, W.alice, "lighthouse", q, DIM, W.b1, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
    /* an unknown user finds nothing; a malformed id is "not found" */
    assert_int_equal(lc_search(W.db, "00000000-0000-0000-0000-000000000000",
                               "lighthouse", q, DIM, NULL, 10, &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(
        lc_search(W.db, "alice", "lighthouse", NULL, 0, NULL, 10, &h, &n, &err),
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
    assert_int_equal(lc_search_run(W.db, &sq, &h, &n, &hybrid, &err),
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
        lc_search(W.db, W.alice, "zebra", q, DIM, NULL, 10, &h, &n, &err),
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
        lc_search(W.db, W.alice, "zebra", q, DIM, NULL, 2, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].message_id, m_far);
    assert_string_equal(h[1].message_id, m_mid);
    lc_search_hits_free(h, n);

    /* a vector of another size compares with nothing stored */
    float small[4] = {1, 0, 0, 0};
    assert_int_equal(
        lc_search(W.db, W.alice, "zebra", small, 4, NULL, 10, &h, &n, &err),
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
    assert_int_equal(lc_search_run(W.db, &sq, &h, &n, &hybrid, &err),
                     LC_STORE_OK);
    assert_false(hybrid);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].message_id, m_close);
    assert_true(isnan(h[0].similarity));
    assert_true(h[0].text_rank > 0);
    assert_non_null(strstr(h[0].snippet, "**honey**"));
    lc_search_hits_free(h, n);

    /* both words must be there (plainto_tsquery ANDs them) */
    assert_int_equal(lc_search(W.db, W.alice, "keeper seagulls", NULL, 0, NULL,
                               10, &h, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_true(has(h, n, m_exact) && has(h, n, m_far));
    lc_search_hits_free(h, n);

    /* any word: what memory asks for; the more words, the higher */
    lc_search_query any = {.user_id = W.alice,
                           .text = "zebra seagulls keeper lighthouse fed",
                           .any_word = true,
                           .limit = 10};
    assert_int_equal(lc_search_run(W.db, &any, &h, &n, NULL, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 4); /* exact, far, close (keeper), other */
    assert_string_equal(h[0].message_id, m_exact);
    assert_true(has(h, n, m_far) && has(h, n, m_close) && has(h, n, m_other));
    lc_search_hits_free(h, n);
    any.text = "?!";
    assert_int_equal(lc_search_run(W.db, &any, &h, &n, NULL, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);

    /* punctuation only: no words, no match, no error */
    assert_int_equal(
        lc_search(W.db, W.alice, "?! ...", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
    /* quotes and operators are words, never syntax */
    assert_int_equal(lc_search(W.db, W.alice, "'); DROP TABLE users; -- & | !",
                               NULL, 0, NULL, 10, &h, &n, &err),
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
    assert_int_equal(
        lc_search(W.db, W.alice, "lighthouse", NULL, 0, W.a2, 10, &h, &n, &err),
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
    assert_int_equal(lc_search_run(W.db, &sq, &h, &n, NULL, &err), LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].message_id, m_other);
    lc_search_hits_free(h, n);
    /* limit: the best two of five */
    assert_int_equal(
        lc_search(W.db, W.alice, "zebra", q, DIM, NULL, 2, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].message_id, m_exact);
    assert_string_equal(h[1].message_id, m_close);
    lc_search_hits_free(h, n);
    /* a deleted message is not found */
    PGconn *c = lc_db_acquire(W.db, &err);
    assert_non_null(c);
    const char *p[] = {m_close};
    assert_int_equal(lc_db_exec(c,
                                "UPDATE chat_messages SET is_deleted = true"
                                " WHERE id = $1",
                                1, p, &err),
                     LC_STORE_OK);
    lc_db_release(W.db, c);
    assert_int_equal(
        lc_search(W.db, W.alice, "honey", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
}

/* A time limit applies to the search alone: the connection goes back to
 * the pool without it. */
static void test_timeout_is_reset(void **state) {
    (void)state;
    lc_store_error err;
    lc_db *one = lc_db_open(lc_cluster_url(W.cluster), 1, &err);
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
        lc_search(W.db, W.alice, "x", NULL, 0, NULL, 0, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(lc_search(W.db, W.alice, "x", NULL, 0, NULL,
                               LC_SEARCH_MAX_LIMIT + 1, &h, &n, &err),
                     LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.db, W.alice, "", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.db, W.alice, "\xff\xfe", NULL, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.db, W.alice, "x", q, 0, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    q[5] = NAN;
    assert_int_equal(
        lc_search(W.db, W.alice, "x", q, DIM, NULL, 10, &h, &n, &err),
        LC_STORE_INVALID);
    assert_int_equal(
        lc_search(W.db, W.alice, "x", NULL, 0, "not-a-uuid", 10, &h, &n, &err),
        LC_STORE_NOT_FOUND);
    assert_null(h);
    assert_int_equal(n, 0);
}

static void test_session_memory_setting(void **state) {
    (void)state;
    lc_store_error err;
    assert_int_equal(
        lc_search_set_session_memory(W.db, W.alice, W.a1,
                                     "{\"enabled\":true,\"top_k\":3}", &err),
        LC_STORE_OK);
    lc_session s = {0};
    assert_int_equal(lc_sessions_get(W.db, W.alice, W.a1, &s, &err),
                     LC_STORE_OK);
    assert_non_null(strstr(s.metadata, "\"top_k\": 3"));
    lc_session_clear(&s);
    /* Bob cannot set Alice's */
    assert_int_equal(lc_search_set_session_memory(W.db, W.bob, W.a1,
                                                  "{\"enabled\":false}", &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(
        lc_search_set_session_memory(W.db, W.alice, W.a1, "{nope", &err),
        LC_STORE_INVALID);
}

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
    };
    return cmocka_run_group_tests_name("search", tests, setup, teardown);
}

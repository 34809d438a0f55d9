/*
 * store/embeddings.h against a real PostgreSQL (a private cluster, as in
 * test_store.c): the backend is reported, a vector is written and read
 * back exactly (of any size on the real[] fallback; on pgvector 768 values,
 * and another size is refused), bad vectors and ids are refused, and the
 * backfill's query returns the right rows in seq order (skipping embedded
 * and deleted messages, continuing after its cursor).
 *
 * The group runs on the real[] fallback, then again on pgvector when the
 * server has the extension (else that pass is skipped, with a message).
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
#include "store/embeddings.h"
#include "store/messages.h"
#include "store/migrate.h"
#include "store/sessions.h"
#include "store/users.h"

typedef struct world {
    bool pgvector;  /* this pass: migrated with pgvector (else real[]) */
    bool available; /* the server has pgvector (found by the first pass) */
    lc_test_db t;   /* t.dir, t.cluster, t.db */
    char user[37], session[37];
    char m[3][37]; /* three messages, in the order they were written */
} world;

static world W;

static int setup(void **state) {
    (void)state;
    lc_store_error err = {0};
    lc_migrate_options mo = {.force_array_vectors = !W.pgvector};
    if (lc_test_db_start(&W.t, 2) || lc_test_db_migrate(&W.t, &mo)) return -1;
    W.available = lc_test_db_has_extension(&W.t, "vector");
    lc_user u = {0};
    lc_session s = {0};
    if (lc_users_create(W.t.db, "emb", "password", NULL, &u, &err) ||
        lc_sessions_create(W.t.db, u.id, "t", NULL, NULL, &s, &err))
        return -1;
    snprintf(W.user, sizeof W.user, "%s", u.id);
    snprintf(W.session, sizeof W.session, "%s", s.id);
    lc_user_clear(&u);
    lc_session_clear(&s);
    const char *texts[3] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++)
        if (lc_messages_add_user(W.t.db, W.user, W.session, texts[i], NULL,
                                 W.m[i], &err))
            return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lc_test_db_stop(&W.t);
    return 0;
}

/* One value of a one-row query (malloc'd). */
static char *scalar(const char *sql, const char *param) {
    lc_store_error err = {0};
    PGconn *c = lc_db_acquire(W.t.db, &err);
    assert_non_null(c);
    const char *p[] = {param};
    PGresult *r = lc_db_query(c, sql, param ? 1 : 0, param ? p : NULL, &err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    lc_db_release(W.t.db, c);
    return v;
}

static void test_backend(void **state) {
    (void)state;
    char b[16];
    lc_store_error err = {0};
    assert_int_equal(lc_embeddings_backend(W.t.db, b, &err), LC_STORE_OK);
    assert_string_equal(b, W.pgvector ? "pgvector" : "array");
}

static void test_missing_in_order_with_cursor(void **state) {
    (void)state;
    lc_store_error err = {0};
    lc_embedding_todo *t = NULL;
    size_t n = 0;
    assert_int_equal(lc_embeddings_missing(W.t.db, 0, 10, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(t[i].id, W.m[i]);
    assert_string_equal(t[1].content, "second");
    assert_true(t[0].seq < t[1].seq && t[1].seq < t[2].seq);
    const long long after_first = t[0].seq;
    lc_embedding_todos_free(t, n);
    /* a batch of one, then the rest after the cursor */
    assert_int_equal(lc_embeddings_missing(W.t.db, 0, 1, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].id, W.m[0]);
    lc_embedding_todos_free(t, n);
    assert_int_equal(
        lc_embeddings_missing(W.t.db, after_first, 10, &t, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].id, W.m[1]);
    lc_embedding_todos_free(t, n);
    assert_int_equal(lc_embeddings_missing(W.t.db, 0, 0, &t, &n, &err),
                     LC_STORE_INVALID);
}

static void test_set_and_read_back(void **state) {
    (void)state;
    lc_store_error err = {0};
    /* the fallback stores any size (5 here), pgvector 768 values */
    float v[768] = {0.5f, -0.25f, 1e-7f, 0.333333343f, -1.0f};
    for (int i = 5; i < 768; i++) v[i] = (float)i / 3;
    const int dim = W.pgvector ? 768 : 5;
    if (W.pgvector) {
        assert_int_equal(lc_embeddings_set(W.t.db, W.m[0], v, 5, &err),
                         LC_STORE_INVALID);
        assert_non_null(strstr(err.message, "vector(768)"));
    }
    assert_int_equal(lc_embeddings_set(W.t.db, W.m[0], v, dim, &err),
                     LC_STORE_OK);
    /* read as real[] on both (pgvector's vector casts to it) */
    char *len = scalar("SELECT array_length(content_embedding::real[], 1) FROM "
                       "chat_messages WHERE id = $1",
                       W.m[0]);
    char want[16];
    snprintf(want, sizeof want, "%d", dim);
    assert_string_equal(len, want);
    free(len);
    /* every value exactly (real and pgvector's elements are floats) */
    char *all = scalar("SELECT array_to_string(content_embedding::real[]::"
                       "float8[], ' ') FROM chat_messages WHERE id = $1",
                       W.m[0]);
    char *p = all;
    for (int i = 0; i < dim; i++) {
        char *end;
        assert_true(strtof(p, &end) == v[i]);
        assert_true(end > p);
        p = end;
    }
    free(all);
    long long count = -1;
    assert_int_equal(lc_embeddings_count(W.t.db, &count, &err), LC_STORE_OK);
    assert_int_equal(count, 1);
    /* the embedded message is no longer missing; a deleted one neither */
    char *upd = scalar("UPDATE chat_messages SET is_deleted = true"
                       " WHERE id = $1 RETURNING 1",
                       W.m[2]);
    free(upd);
    lc_embedding_todo *t = NULL;
    size_t n = 0;
    assert_int_equal(lc_embeddings_missing(W.t.db, 0, 10, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].id, W.m[1]);
    lc_embedding_todos_free(t, n);
}

static void test_bad_input(void **state) {
    (void)state;
    lc_store_error err = {0};
    /* a size the backend stores, so that only the named fault is there */
    float v[768] = {1, 2, 3};
    const int dim = W.pgvector ? 768 : 3;
    assert_int_equal(lc_embeddings_set(W.t.db, "not-a-uuid", v, dim, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_embeddings_set(W.t.db,
                                       "00000000-0000-0000-0000-000000000000",
                                       v, dim, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_embeddings_set(W.t.db, W.m[1], v, 0, &err),
                     LC_STORE_INVALID);
    assert_int_equal(lc_embeddings_set(W.t.db, W.m[1], NULL, dim, &err),
                     LC_STORE_INVALID);
    v[1] = NAN;
    assert_int_equal(lc_embeddings_set(W.t.db, W.m[1], v, dim, &err),
                     LC_STORE_INVALID);
    v[1] = INFINITY;
    assert_int_equal(lc_embeddings_set(W.t.db, W.m[1], v, dim, &err),
                     LC_STORE_INVALID);
    /* nothing was written */
    char *s = scalar("SELECT content_embedding IS NULL FROM chat_messages "
                     "WHERE id = $1",
                     W.m[1]);
    assert_string_equal(s, "t");
    free(s);
}

/* One pass of the whole group on one backend. */
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend),
        cmocka_unit_test(test_missing_in_order_with_cursor),
        cmocka_unit_test(test_set_and_read_back),
        cmocka_unit_test(test_bad_input),
    };
    const size_t n = sizeof tests / sizeof tests[0];
    return lc_test_run_vector_passes("embeddings", tests, n, setup, teardown,
                                     &W.pgvector, &W.available);
}

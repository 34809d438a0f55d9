/*
 * store/embeddings.h against a real PostgreSQL (a private cluster, as in
 * test_store.c) on the real[] fallback: the backend is reported, a vector
 * of any size is written and read back exactly, bad vectors and ids are
 * refused, and the backfill's query returns the right rows in seq order
 * (skipping embedded and deleted messages, continuing after its cursor).
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
#include "store/embeddings.h"
#include "store/messages.h"
#include "store/migrate.h"
#include "store/sessions.h"
#include "store/users.h"

typedef struct world {
    char dir[64];
    lc_cluster *cluster;
    lc_db *db;
    char user[37], session[37];
    char m[3][37]; /* three messages, in the order they were written */
} world;

static world W;

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static int setup(void **state) {
    (void)state;
    snprintf(W.dir, sizeof W.dir, "/tmp/lcembed-XXXXXX");
    if (!mkdtemp(W.dir)) return -1;
    chmod(W.dir, 0755); /* as root the cluster's user must enter it */
    lc_cluster_options opt = {.data_dir = W.dir};
    lc_store_error err = {0};
    W.cluster = lc_cluster_start(&opt, &err);
    if (!W.cluster) {
        fprintf(stderr, "cluster: %s\n", err.message);
        return -1;
    }
    W.db = lc_db_open(lc_cluster_url(W.cluster), 2, &err);
    lc_migrate_options mo = {.force_array_vectors = true};
    if (!W.db || lc_migrate(W.db, &mo, NULL, &err)) {
        fprintf(stderr, "database: %s\n", err.message);
        return -1;
    }
    lc_user u = {0};
    lc_session s = {0};
    if (lc_users_create(W.db, "emb", "password", NULL, &u, &err) ||
        lc_sessions_create(W.db, u.id, "t", NULL, NULL, &s, &err))
        return -1;
    snprintf(W.user, sizeof W.user, "%s", u.id);
    snprintf(W.session, sizeof W.session, "%s", s.id);
    lc_user_clear(&u);
    lc_session_clear(&s);
    const char *texts[3] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++)
        if (lc_messages_add_user(W.db, W.user, W.session, texts[i], NULL,
                                 W.m[i], &err))
            return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lc_db_close(W.db);
    lc_cluster_stop(W.cluster);
    nftw(W.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* One value of a one-row query (malloc'd). */
static char *scalar(const char *sql, const char *param) {
    lc_store_error err = {0};
    PGconn *c = lc_db_acquire(W.db, &err);
    assert_non_null(c);
    const char *p[] = {param};
    PGresult *r = lc_db_query(c, sql, param ? 1 : 0, param ? p : NULL, &err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    lc_db_release(W.db, c);
    return v;
}

static void test_backend(void **state) {
    (void)state;
    char b[16];
    lc_store_error err = {0};
    assert_int_equal(lc_embeddings_backend(W.db, b, &err), LC_STORE_OK);
    assert_string_equal(b, "array");
}

static void test_missing_in_order_with_cursor(void **state) {
    (void)state;
    lc_store_error err = {0};
    lc_embedding_todo *t = NULL;
    size_t n = 0;
    assert_int_equal(lc_embeddings_missing(W.db, 0, 10, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_string_equal(t[i].id, W.m[i]);
    assert_string_equal(t[1].content, "second");
    assert_true(t[0].seq < t[1].seq && t[1].seq < t[2].seq);
    const long long after_first = t[0].seq;
    lc_embedding_todos_free(t, n);
    /* a batch of one, then the rest after the cursor */
    assert_int_equal(lc_embeddings_missing(W.db, 0, 1, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].id, W.m[0]);
    lc_embedding_todos_free(t, n);
    assert_int_equal(lc_embeddings_missing(W.db, after_first, 10, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].id, W.m[1]);
    lc_embedding_todos_free(t, n);
    assert_int_equal(lc_embeddings_missing(W.db, 0, 0, &t, &n, &err),
                     LC_STORE_INVALID);
}

static void test_set_and_read_back(void **state) {
    (void)state;
    lc_store_error err = {0};
    /* a size that is not 768: the fallback stores any */
    const float v[5] = {0.5f, -0.25f, 1e-7f, 0.333333343f, -1.0f};
    assert_int_equal(lc_embeddings_set(W.db, W.m[0], v, 5, &err), LC_STORE_OK);
    char *len = scalar("SELECT array_length(content_embedding, 1) FROM "
                       "chat_messages WHERE id = $1",
                       W.m[0]);
    assert_string_equal(len, "5");
    free(len);
    /* every value exactly (real is a float) */
    for (int i = 0; i < 5; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT content_embedding[%d]::float8 FROM chat_messages "
                 "WHERE id = $1",
                 i + 1);
        char *s = scalar(sql, W.m[0]);
        assert_true(strtof(s, NULL) == v[i]);
        free(s);
    }
    long long count = -1;
    assert_int_equal(lc_embeddings_count(W.db, &count, &err), LC_STORE_OK);
    assert_int_equal(count, 1);
    /* the embedded message is no longer missing; a deleted one neither */
    char *upd = scalar("UPDATE chat_messages SET is_deleted = true"
                       " WHERE id = $1 RETURNING 1",
                       W.m[2]);
    free(upd);
    lc_embedding_todo *t = NULL;
    size_t n = 0;
    assert_int_equal(lc_embeddings_missing(W.db, 0, 10, &t, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(t[0].id, W.m[1]);
    lc_embedding_todos_free(t, n);
}

static void test_bad_input(void **state) {
    (void)state;
    lc_store_error err = {0};
    float v[3] = {1, 2, 3};
    assert_int_equal(lc_embeddings_set(W.db, "not-a-uuid", v, 3, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_embeddings_set(W.db,
                                       "00000000-0000-0000-0000-000000000000",
                                       v, 3, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_embeddings_set(W.db, W.m[1], v, 0, &err),
                     LC_STORE_INVALID);
    assert_int_equal(lc_embeddings_set(W.db, W.m[1], NULL, 3, &err),
                     LC_STORE_INVALID);
    v[1] = NAN;
    assert_int_equal(lc_embeddings_set(W.db, W.m[1], v, 3, &err),
                     LC_STORE_INVALID);
    v[1] = INFINITY;
    assert_int_equal(lc_embeddings_set(W.db, W.m[1], v, 3, &err),
                     LC_STORE_INVALID);
    /* nothing was written */
    char *s = scalar("SELECT content_embedding IS NULL FROM chat_messages "
                     "WHERE id = $1",
                     W.m[1]);
    assert_string_equal(s, "t");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend),
        cmocka_unit_test(test_missing_in_order_with_cursor),
        cmocka_unit_test(test_set_and_read_back),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests_name("embeddings", tests, setup, teardown);
}

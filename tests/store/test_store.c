/*
 * The storage layer against a real PostgreSQL: a private cluster started in
 * a temporary folder by the launcher (as the unprivileged "llamachat" user
 * when the test runs as root), migrations (twice, and from two threads at
 * once, and the real[] fallback), every repository, ownership scoping, and
 * what callers see when the database stops and comes back.
 *
 * The tests share one cluster and run in order.
 */
#include "testutil.h"

#include <pthread.h>
#include <pwd.h>
#include <signal.h>
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
#include "store/sessions.h"
#include "store/tokens.h"
#include "store/users.h"

typedef struct world {
    lc_test_db t; /* t.dir, t.cluster, t.db */
    char alice[37], bob[37];
    char alice_session[37];
} world;

static world W;

/* ---------------------------------------------------------------- helpers */

/* The URL of another database in the test cluster. */
static void url_for(const char *dbname, char *out, size_t len) {
    const char *url = lc_cluster_url(W.t.cluster);
    const char *q = strchr(url, '?');
    snprintf(out, len, "postgresql:///%s%s", dbname, q);
}

/* One statement's first value as text (malloc'd), for checks. */
static char *scalar(lc_db *db, const char *sql, int n, const char *const *p) {
    lc_store_error err;
    PGconn *c = lc_db_acquire(db, &err);
    assert_non_null(c);
    PGresult *r = lc_db_query(c, sql, n, p, &err);
    if (!r) fail_msg("%s: %s", sql, err.message);
    char *v = PQntuples(r) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    lc_db_release(db, c);
    return v;
}

static void create_database(const char *name) {
    lc_store_error err;
    PGconn *c = lc_db_acquire(W.t.db, &err);
    assert_non_null(c);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    lc_db_release(W.t.db, c);
}

static lc_cluster *start_cluster(void) {
    lc_cluster_options opt = {.data_dir = W.t.dir};
    lc_store_error err = {0};
    lc_cluster *c = lc_cluster_start(&opt, &err);
    if (!c) fail_msg("cluster: %s", err.message);
    return c;
}

static int setup(void **state) {
    (void)state;
    return lc_test_db_start(&W.t, 4);
}

static int teardown(void **state) {
    (void)state;
    lc_test_db_stop(&W.t);
    return 0;
}

/* ---------------------------------------------------------------- cluster */

static void test_cluster_layout(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/postgres/data/PG_VERSION", W.t.dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (geteuid() == 0) {
        /* PostgreSQL refuses root: the cluster belongs to "llamachat" */
        struct passwd *pw = getpwnam("llamachat");
        assert_non_null(pw);
        assert_int_equal(st.st_uid, pw->pw_uid);
        assert_int_not_equal(st.st_uid, 0);
    }
    /* no TCP: the URL names a socket folder inside the data directory */
    assert_non_null(strstr(lc_cluster_url(W.t.cluster), W.t.dir));
    char *listen = scalar(W.t.db, "SHOW listen_addresses", 0, NULL);
    assert_string_equal(listen, "");
    free(listen);
}

static void test_cluster_not_installed(void **state) {
    (void)state;
    lc_cluster_options opt = {.data_dir = W.t.dir, .bin_dir = "/nonexistent"};
    lc_store_error err = {0};
    assert_null(lc_cluster_start(&opt, &err));
    assert_int_equal(err.status, LC_STORE_UNAVAILABLE);
    assert_non_null(strstr(err.message, "initdb"));
    opt = (lc_cluster_options){.data_dir = ""};
    assert_null(lc_cluster_start(&opt, &err));
    assert_int_equal(err.status, LC_STORE_INVALID);
}

/* As root, a data directory the cluster's user cannot enter (here: mode
 * 0700, like /root) gets its cluster under /var/lib/llamachat with a link.
 * A second start on a running cluster adopts it. */
static void test_cluster_root_fallback(void **state) {
    (void)state;
    if (geteuid() != 0) {
        print_message("skip: only as root\n");
        skip();
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/lcstore-closed-XXXXXX");
    assert_non_null(mkdtemp(dir));
    chmod(dir, 0700);
    lc_cluster_options opt = {.data_dir = dir, .port = 54330};
    lc_store_error err = {0};
    lc_cluster *c = lc_cluster_start(&opt, &err);
    if (!c) fail_msg("cluster: %s", err.message);
    assert_true(strncmp(lc_cluster_dir(c), "/var/lib/llamachat/", 19) == 0);
    char link[128], target[4096];
    snprintf(link, sizeof link, "%s/postgres", dir);
    ssize_t len = readlink(link, target, sizeof target - 1);
    assert_true(len > 0);
    target[len] = '\0';
    assert_string_equal(target, lc_cluster_dir(c));

    lc_cluster *again = lc_cluster_start(&opt, &err);
    if (!again) fail_msg("adopt: %s", err.message);
    assert_string_equal(lc_cluster_url(again), lc_cluster_url(c));
    lc_db *db = lc_db_open(lc_cluster_url(again), 1, &err);
    assert_non_null(db);
    lc_db_close(db);
    lc_cluster_stop(again);
    assert_int_equal(PQping(lc_cluster_url(c)), PQPING_NO_RESPONSE);
    snprintf(target, sizeof target, "%s", lc_cluster_dir(c));
    lc_cluster_stop(c); /* already stopped: nothing to do */
    lc_test_remove_tree(target);
    lc_test_remove_tree(dir);
}

/* ------------------------------------------------------------------- pool */

static void test_pool(void **state) {
    (void)state;
    lc_store_error err = {0};
    assert_null(lc_db_open("postgresql:///x?host=/nonexistent-dir", 2, &err));
    assert_int_equal(err.status, LC_STORE_UNAVAILABLE);
    assert_null(lc_db_open(lc_cluster_url(W.t.cluster), 0, &err));
    assert_int_equal(err.status, LC_STORE_INVALID);

    lc_db *db = lc_db_open(lc_cluster_url(W.t.cluster), 1, &err);
    assert_non_null(db);
    lc_db_set_acquire_timeout(db, 100);
    PGconn *c = lc_db_acquire(db, &err);
    assert_non_null(c);
    /* the only connection is taken: the second caller times out */
    assert_null(lc_db_acquire(db, &err));
    assert_int_equal(err.status, LC_STORE_UNAVAILABLE);
    /* a failed statement reports SQLSTATE-based statuses */
    assert_null(lc_db_query(c, "SELECT 'x'::int", 0, NULL, &err));
    assert_int_equal(err.status, LC_STORE_INVALID);
    assert_null(lc_db_query(c, "SELECT * FROM no_such_table", 0, NULL, &err));
    assert_int_equal(err.status, LC_STORE_ERROR);
    /* a transaction left open is rolled back on release */
    assert_int_equal(lc_db_exec(c, "BEGIN", 0, NULL, &err), LC_STORE_OK);
    lc_db_release(db, c);
    c = lc_db_acquire(db, &err);
    assert_non_null(c);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    /* parameters are data, never SQL */
    const char *p[] = {"1; DROP TABLE users"};
    PGresult *r = lc_db_query(c, "SELECT $1::text", 1, p, &err);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), p[0]);
    PQclear(r);
    lc_db_release(db, c);
    lc_db_close(db);
}

/* ------------------------------------------------------------- migrations */

static void check_backend(lc_db *db, bool forced_array) {
    char backend[16];
    lc_store_error err;
    assert_int_equal(lc_store_vector_backend(db, backend, &err), LC_STORE_OK);
    bool pgvector = !forced_array && lc_test_db_has_extension(&W.t, "vector");
    assert_string_equal(backend, pgvector ? "pgvector" : "array");
    char *type = scalar(db,
                        "SELECT udt_name FROM information_schema.columns"
                        " WHERE table_name = 'chat_messages'"
                        " AND column_name = 'content_embedding'",
                        0, NULL);
    assert_non_null(type);
    assert_string_equal(type, pgvector ? "vector" : "_float4");
    free(type);
}

static void test_migrate_twice(void **state) {
    (void)state;
    lc_store_error err;
    int applied = -1;
    assert_int_equal(lc_migrate(W.t.db, NULL, &applied, &err), LC_STORE_OK);
    assert_int_equal(applied, lc_migrate_latest_version());
    assert_true(applied >= 1);
    assert_int_equal(lc_migrate(W.t.db, NULL, &applied, &err), LC_STORE_OK);
    assert_int_equal(applied, 0);

    /* every column of the seed's tables, plus auth */
    static const char *cols[][2] = {{"users", "id"},
                                    {"users", "username"},
                                    {"users", "email"},
                                    {"users", "password_hash"},
                                    {"users", "created_at"},
                                    {"users", "last_active"},
                                    {"users", "preferences"},
                                    {"users", "is_admin"},
                                    {"chat_sessions", "id"},
                                    {"chat_sessions", "user_id"},
                                    {"chat_sessions", "title"},
                                    {"chat_sessions", "model"},
                                    {"chat_sessions", "system_prompt"},
                                    {"chat_sessions", "created_at"},
                                    {"chat_sessions", "updated_at"},
                                    {"chat_sessions", "is_active"},
                                    {"chat_sessions", "metadata"},
                                    {"chat_messages", "id"},
                                    {"chat_messages", "session_id"},
                                    {"chat_messages", "role"},
                                    {"chat_messages", "content"},
                                    {"chat_messages", "content_embedding"},
                                    {"chat_messages", "model"},
                                    {"chat_messages", "tokens"},
                                    {"chat_messages", "processing_time_ms"},
                                    {"chat_messages", "confidence"},
                                    {"chat_messages", "cuda_accelerated"},
                                    {"chat_messages", "gpu_memory_used_mb"},
                                    {"chat_messages", "tokens_per_second"},
                                    {"chat_messages", "created_at"},
                                    {"chat_messages", "edited_at"},
                                    {"chat_messages", "is_deleted"},
                                    {"chat_messages", "metadata"},
                                    {"api_tokens", "id"},
                                    {"api_tokens", "user_id"},
                                    {"api_tokens", "token_hash"},
                                    {"api_tokens", "created_at"},
                                    {"api_tokens", "last_used"}};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        char *n = scalar(W.t.db,
                         "SELECT count(*) FROM information_schema.columns"
                         " WHERE table_name = $1 AND column_name = $2",
                         2, cols[i]);
        if (strcmp(n, "1") != 0)
            fail_msg("column %s.%s is missing", cols[i][0], cols[i][1]);
        free(n);
    }
    static const char *indexes[] = {
        "idx_chat_sessions_user_id", "idx_chat_messages_session_id",
        "idx_chat_messages_content_fts", "api_tokens_token_hash_key"};
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        const char *p[] = {indexes[i]};
        char *n = scalar(W.t.db,
                         "SELECT count(*) FROM pg_indexes WHERE indexname = $1",
                         1, p);
        if (strcmp(n, "1") != 0) fail_msg("index %s is missing", indexes[i]);
        free(n);
    }
    check_backend(W.t.db, false);
}

typedef struct migrate_job {
    const char *url;
    lc_store_status st;
    int applied;
    char message[512];
} migrate_job;

static void *migrate_thread(void *arg) {
    migrate_job *job = arg;
    lc_store_error err = {0};
    lc_db *db = lc_db_open(job->url, 1, &err);
    if (!db) {
        job->st = err.status;
        snprintf(job->message, sizeof job->message, "%s", err.message);
        return NULL;
    }
    job->st = lc_migrate(db, NULL, &job->applied, &err);
    snprintf(job->message, sizeof job->message, "%s", err.message);
    lc_db_close(db);
    return NULL;
}

static void test_migrate_concurrent(void **state) {
    (void)state;
    create_database("concurrent");
    char url[512];
    url_for("concurrent", url, sizeof url);
    migrate_job jobs[2] = {{.url = url}, {.url = url}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, migrate_thread, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        if (jobs[i].st != LC_STORE_OK)
            fail_msg("migrate %d: %s", i, jobs[i].message);
    /* each migration applied exactly once, by one of the two */
    assert_int_equal(jobs[0].applied + jobs[1].applied,
                     lc_migrate_latest_version());
    assert_true(jobs[0].applied == 0 || jobs[1].applied == 0);
}

static void test_migrate_array_fallback(void **state) {
    (void)state;
    create_database("arrays");
    char url[512];
    url_for("arrays", url, sizeof url);
    lc_store_error err;
    lc_db *db = lc_db_open(url, 1, &err);
    assert_non_null(db);
    lc_migrate_options opt = {.force_array_vectors = true};
    assert_int_equal(lc_migrate(db, &opt, NULL, &err), LC_STORE_OK);
    check_backend(db, true);
    /* the fallback holds a vector of any length (migration 0002), but
     * always a vector: one dimension */
    lc_user u = {0};
    assert_int_equal(lc_users_create(db, "arr", "pw", NULL, &u, &err),
                     LC_STORE_OK);
    lc_session s = {0};
    assert_int_equal(lc_sessions_create(db, u.id, "t", NULL, NULL, &s, &err),
                     LC_STORE_OK);
    char id[37];
    assert_int_equal(
        lc_messages_add_user(db, u.id, s.id, "hello", NULL, id, &err),
        LC_STORE_OK);
    const char *p[] = {id};
    char *n = scalar(db,
                     "UPDATE chat_messages SET content_embedding ="
                     " array_fill(0.5::real, ARRAY[768]) WHERE id = $1"
                     " RETURNING array_length(content_embedding, 1)",
                     1, p);
    assert_string_equal(n, "768");
    free(n);
    PGconn *c = lc_db_acquire(db, &err);
    assert_null(lc_db_query(c,
                            "UPDATE chat_messages SET content_embedding ="
                            " array_fill(0.5::real, ARRAY[2, 2]) WHERE id = $1",
                            1, p, &err));
    assert_int_equal(err.status, LC_STORE_INVALID);
    lc_db_release(db, c);
    lc_session_clear(&s);
    lc_user_clear(&u);
    lc_db_close(db);
}

/* ------------------------------------------------------------ users, auth */

static void test_users_and_tokens(void **state) {
    (void)state;
    lc_store_error err;
    lc_user a = {0}, b = {0}, found = {0};
    assert_int_equal(
        lc_users_create(W.t.db, "alice", "s3cret", "a@example.org", &a, &err),
        LC_STORE_OK);
    assert_true(a.is_admin); /* the first user */
    assert_string_equal(a.username, "alice");
    assert_string_equal(a.email, "a@example.org");
    assert_true(lc_store_is_uuid(a.id));
    assert_int_equal(lc_users_create(W.t.db, "bob", "hunter2", NULL, &b, &err),
                     LC_STORE_OK);
    assert_false(b.is_admin);
    assert_null(b.email);
    snprintf(W.alice, sizeof W.alice, "%s", a.id);
    snprintf(W.bob, sizeof W.bob, "%s", b.id);

    assert_int_equal(lc_users_create(W.t.db, "alice", "x", NULL, NULL, &err),
                     LC_STORE_CONFLICT);
    assert_int_equal(
        lc_users_create(W.t.db, "carol", "x", "a@example.org", NULL, &err),
        LC_STORE_CONFLICT);
    assert_int_equal(lc_users_create(W.t.db, "", "x", NULL, NULL, &err),
                     LC_STORE_INVALID);
    assert_int_equal(lc_users_create(W.t.db, "bad\xff", "x", NULL, NULL, &err),
                     LC_STORE_INVALID);
    assert_int_equal(lc_users_create(W.t.db, "dave", "", NULL, NULL, &err),
                     LC_STORE_INVALID);

    /* the hash is argon2id, never the password */
    const char *pa[] = {a.id};
    char *hash =
        scalar(W.t.db, "SELECT password_hash FROM users WHERE id = $1", 1, pa);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_null(strstr(hash, "s3cret"));
    free(hash);

    assert_int_equal(lc_users_verify(W.t.db, "alice", "s3cret", &found, &err),
                     LC_STORE_OK);
    assert_string_equal(found.id, a.id);
    lc_user_clear(&found);
    assert_int_equal(lc_users_verify(W.t.db, "alice", "wrong", NULL, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_users_verify(W.t.db, "nobody", "s3cret", NULL, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_users_find(W.t.db, b.id, &found, &err), LC_STORE_OK);
    assert_string_equal(found.username, "bob");
    lc_user_clear(&found);
    assert_int_equal(lc_users_find(W.t.db, "not-a-uuid", &found, &err),
                     LC_STORE_NOT_FOUND);

    char token[LC_TOKEN_CHARS + 1];
    assert_int_equal(lc_tokens_create(W.t.db, a.id, token, &err), LC_STORE_OK);
    assert_int_equal(strlen(token), LC_TOKEN_CHARS);
    assert_int_equal(lc_tokens_lookup(W.t.db, token, &found, &err),
                     LC_STORE_OK);
    assert_string_equal(found.id, a.id);
    assert_true(found.is_admin);
    lc_user_clear(&found);
    /* only SHA-256(token) is stored */
    const char *pt[] = {token};
    char *n =
        scalar(W.t.db,
               "SELECT count(*) FROM api_tokens WHERE token_hash ="
               " sha256(convert_to($1, 'UTF8')) AND last_used IS NOT NULL",
               1, pt);
    assert_string_equal(n, "1");
    free(n);
    n = scalar(W.t.db,
               "SELECT count(*) FROM api_tokens WHERE"
               " position(convert_to($1, 'UTF8') in token_hash) > 0"
               " OR encode(token_hash, 'hex') = $1",
               1, pt);
    assert_string_equal(n, "0");
    free(n);
    /* bob cannot revoke alice's token; alice can */
    assert_int_equal(lc_tokens_revoke(W.t.db, b.id, token, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_tokens_revoke(W.t.db, a.id, token, &err), LC_STORE_OK);
    assert_int_equal(lc_tokens_lookup(W.t.db, token, &found, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_tokens_lookup(W.t.db, "' OR 1=1 --", &found, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_tokens_create(W.t.db,
                                      "00000000-0000-0000-0000-"
                                      "000000000000",
                                      token, &err),
                     LC_STORE_NOT_FOUND);
    lc_user_clear(&a);
    lc_user_clear(&b);
}

/* --------------------------------------------------------------- sessions */

static void test_sessions(void **state) {
    (void)state;
    lc_store_error err;
    lc_session s[3];
    memset(s, 0, sizeof s);
    assert_int_equal(lc_sessions_create(W.t.db, W.alice, "first", "m1",
                                        "Be brief.", &s[0], &err),
                     LC_STORE_OK);
    assert_string_equal(s[0].title, "first");
    assert_string_equal(s[0].model, "m1");
    assert_string_equal(s[0].system_prompt, "Be brief.");
    assert_string_equal(s[0].user_id, W.alice);
    assert_true(s[0].is_active);
    assert_string_equal(s[0].metadata, "{}");
    assert_int_equal(strlen(s[0].created_at), 27);
    assert_int_equal(
        lc_sessions_create(W.t.db, W.alice, NULL, NULL, NULL, &s[1], &err),
        LC_STORE_OK);
    assert_string_equal(s[1].title, "");
    assert_string_equal(s[1].model, "gemma3-legal:latest");
    assert_null(s[1].system_prompt);
    assert_int_equal(
        lc_sessions_create(W.t.db, W.alice, "third", NULL, NULL, &s[2], &err),
        LC_STORE_OK);
    snprintf(W.alice_session, sizeof W.alice_session, "%s", s[0].id);

    /* touching the first makes it the newest */
    assert_int_equal(lc_sessions_touch(W.t.db, W.alice, s[0].id, &err),
                     LC_STORE_OK);
    lc_session *list;
    size_t n;
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 10, 0, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, s[0].id);
    lc_sessions_free(list, n);
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 2, 1, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    assert_string_not_equal(list[0].id, s[0].id);
    assert_string_not_equal(list[1].id, s[0].id);
    lc_sessions_free(list, n);
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 10, 3, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 0, 0, &list, &n, &err),
                     LC_STORE_INVALID);

    assert_int_equal(
        lc_sessions_rename(W.t.db, W.alice, s[1].id, "named", &err),
        LC_STORE_OK);
    assert_int_equal(lc_sessions_set_system_prompt(W.t.db, W.alice, s[1].id,
                                                   "You are terse.", &err),
                     LC_STORE_OK);
    lc_session got = {0};
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, s[1].id, &got, &err),
                     LC_STORE_OK);
    assert_string_equal(got.title, "named");
    assert_string_equal(got.system_prompt, "You are terse.");
    lc_session_clear(&got);
    assert_int_equal(
        lc_sessions_set_system_prompt(W.t.db, W.alice, s[1].id, NULL, &err),
        LC_STORE_OK);
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, s[1].id, &got, &err),
                     LC_STORE_OK);
    assert_null(got.system_prompt);
    lc_session_clear(&got);

    assert_int_equal(lc_sessions_delete(W.t.db, W.alice, s[2].id, &err),
                     LC_STORE_OK);
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, s[2].id, &got, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_delete(W.t.db, W.alice, s[2].id, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, "nope", &got, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_create(W.t.db,
                                        "00000000-0000-0000-0000-"
                                        "000000000000",
                                        "x", NULL, NULL, NULL, &err),
                     LC_STORE_NOT_FOUND);
    for (int i = 0; i < 3; i++) lc_session_clear(&s[i]);
}

/* --------------------------------------------------------------- messages */

static void test_messages(void **state) {
    (void)state;
    lc_store_error err;
    const char *sid = W.alice_session;
    char u1[37], a1[37], u2[37];
    assert_int_equal(lc_messages_add_user(W.t.db, W.alice, sid,
                                          "Tell me about zebras", "m1", u1,
                                          &err),
                     LC_STORE_OK);
    lc_assistant_reply reply = {
        .content = "Zebras have stripes \xe2\x80\x94 black and white.",
        .model = "m1",
        .tokens = 12,
        .processing_time_ms = 340,
        .tokens_per_second = 35,
        .cuda_accelerated = false,
        .gpu_memory_used_mb = 0,
        .confidence = 87,
        .metadata = "{\"finish_reason\": \"stop\", \"prompt_tokens\": 9}"};
    assert_int_equal(
        lc_messages_add_assistant(W.t.db, W.alice, sid, &reply, a1, &err),
        LC_STORE_OK);
    assert_int_equal(lc_messages_add_user(W.t.db, W.alice, sid, "And giraffes?",
                                          NULL, u2, &err),
                     LC_STORE_OK);

    lc_message *m;
    size_t n;
    assert_int_equal(
        lc_messages_list(W.t.db, W.alice, sid, 100, 0, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].id, u1);
    assert_string_equal(m[0].role, "user");
    assert_int_equal(m[0].tokens, -1);
    assert_int_equal(m[0].confidence, -1);
    assert_string_equal(m[1].id, a1);
    assert_string_equal(m[1].role, "assistant");
    assert_string_equal(m[1].content, reply.content);
    assert_string_equal(m[1].model, "m1");
    assert_int_equal(m[1].tokens, 12);
    assert_int_equal(m[1].processing_time_ms, 340);
    assert_int_equal(m[1].tokens_per_second, 35);
    assert_int_equal(m[1].gpu_memory_used_mb, 0);
    assert_int_equal(m[1].confidence, 87);
    assert_false(m[1].cuda_accelerated);
    assert_non_null(strstr(m[1].metadata, "\"finish_reason\": \"stop\""));
    assert_string_equal(m[2].id, u2);
    assert_null(m[2].model);
    lc_messages_free(m, n);

    assert_int_equal(lc_messages_list(W.t.db, W.alice, sid, 1, 1, &m, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].id, a1);
    lc_messages_free(m, n);
    assert_int_equal(
        lc_messages_list(W.t.db, W.alice, sid, 10, 50, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);

    /* full-text search, words as written ('simple' configuration) */
    assert_int_equal(
        lc_messages_search(W.t.db, W.alice, "STRIPES", 10, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(m[0].id, a1);
    lc_messages_free(m, n);
    assert_int_equal(
        lc_messages_search(W.t.db, W.alice, "') OR true --", 10, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);

    /* bad input is rejected, nothing is written */
    reply.metadata = "[1, 2]";
    assert_int_equal(
        lc_messages_add_assistant(W.t.db, W.alice, sid, &reply, a1, &err),
        LC_STORE_INVALID);
    reply.metadata = "{not json";
    assert_int_equal(
        lc_messages_add_assistant(W.t.db, W.alice, sid, &reply, a1, &err),
        LC_STORE_INVALID);
    reply.metadata = NULL;
    reply.confidence = 101;
    assert_int_equal(
        lc_messages_add_assistant(W.t.db, W.alice, sid, &reply, a1, &err),
        LC_STORE_INVALID);
    assert_int_equal(lc_messages_add_user(W.t.db, W.alice, sid, "bad \xc3\x28",
                                          NULL, u2, &err),
                     LC_STORE_INVALID);
    const char *p[] = {sid};
    char *count = scalar(
        W.t.db, "SELECT count(*) FROM chat_messages WHERE session_id = $1", 1,
        p);
    assert_string_equal(count, "3");
    free(count);
}

/* -------------------------------------------------------------- ownership */

static void test_ownership(void **state) {
    (void)state;
    lc_store_error err;
    const char *sid = W.alice_session;
    lc_session s = {0};
    char id[37];
    lc_message *m;
    size_t n;
    /* bob sees alice's session as absent, whatever he tries */
    assert_int_equal(lc_sessions_get(W.t.db, W.bob, sid, &s, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_rename(W.t.db, W.bob, sid, "mine", &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(
        lc_sessions_set_system_prompt(W.t.db, W.bob, sid, "evil", &err),
        LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_touch(W.t.db, W.bob, sid, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_sessions_delete(W.t.db, W.bob, sid, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(lc_messages_list(W.t.db, W.bob, sid, 10, 0, &m, &n, &err),
                     LC_STORE_NOT_FOUND);
    assert_int_equal(
        lc_messages_add_user(W.t.db, W.bob, sid, "injected", NULL, id, &err),
        LC_STORE_NOT_FOUND);
    lc_assistant_reply reply = {.content = "injected", .confidence = -1};
    assert_int_equal(
        lc_messages_add_assistant(W.t.db, W.bob, sid, &reply, id, &err),
        LC_STORE_NOT_FOUND);
    assert_int_equal(
        lc_messages_search(W.t.db, W.bob, "zebras", 10, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 0);
    lc_session *list;
    assert_int_equal(lc_sessions_list(W.t.db, W.bob, 10, 0, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 0);

    /* and alice's session is as she left it */
    assert_int_equal(lc_sessions_get(W.t.db, W.alice, sid, &s, &err),
                     LC_STORE_OK);
    assert_string_equal(s.title, "first");
    assert_string_equal(s.system_prompt, "Be brief.");
    lc_session_clear(&s);
    assert_int_equal(
        lc_messages_list(W.t.db, W.alice, sid, 10, 0, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(m[i].content, "injected"));
    lc_messages_free(m, n);
}

/* ------------------------------------------- the database stops and comes
 * back; a crashed server leaves its postmaster.pid behind */

static void test_unavailable_and_restart(void **state) {
    (void)state;
    lc_store_error err = {0};
    lc_cluster_stop(W.t.cluster);
    W.t.cluster = NULL;

    lc_session *list;
    size_t n;
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 10, 0, &list, &n, &err),
                     LC_STORE_UNAVAILABLE);
    char id[37];
    assert_int_equal(lc_messages_add_user(W.t.db, W.alice, W.alice_session,
                                          "lost?", NULL, id, &err),
                     LC_STORE_UNAVAILABLE);
    lc_user u;
    assert_int_equal(lc_tokens_lookup(W.t.db,
                                      "0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef0123456789abcdef",
                                      &u, &err),
                     LC_STORE_UNAVAILABLE);
    assert_int_equal(lc_migrate(W.t.db, NULL, NULL, &err),
                     LC_STORE_UNAVAILABLE);

    /* the same pool reconnects once the server is back; data persisted */
    W.t.cluster = start_cluster();
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 10, 0, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    lc_sessions_free(list, n);

    /* crash: kill the postmaster outright, leaving postmaster.pid */
    char pidfile[256];
    snprintf(pidfile, sizeof pidfile, "%s/data/postmaster.pid",
             lc_cluster_dir(W.t.cluster));
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
    for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) usleep(50000);
    /* stopping a dead server does nothing but free the handle */
    lc_cluster_stop(W.t.cluster);
    W.t.cluster = NULL;
    /* make the stale file name a live process that is not postgres (ours),
     * as after a reboot that reused the pid */
    f = fopen(pidfile, "w");
    assert_non_null(f);
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    usleep(300000); /* let the orphaned backends notice and exit */
    W.t.cluster = start_cluster();
    assert_int_equal(lc_sessions_list(W.t.db, W.alice, 10, 0, &list, &n, &err),
                     LC_STORE_OK);
    assert_int_equal(n, 2);
    lc_sessions_free(list, n);
    lc_message *m;
    assert_int_equal(
        lc_messages_list(W.t.db, W.alice, W.alice_session, 10, 0, &m, &n, &err),
        LC_STORE_OK);
    assert_int_equal(n, 3);
    lc_messages_free(m, n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_layout),
        cmocka_unit_test(test_cluster_not_installed),
        cmocka_unit_test(test_cluster_root_fallback),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_migrate_array_fallback),
        cmocka_unit_test(test_users_and_tokens),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_ownership),
        cmocka_unit_test(test_unavailable_and_restart),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}

/* The private cluster of the store tests; see fixture.h. */
#include "fixture.h"

#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void lc_test_remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int lc_test_db_start(lc_test_db *t, int pool_size) {
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/lcstore-XXXXXX");
    if (!mkdtemp(t->dir)) {
        perror("mkdtemp");
        t->dir[0] = '\0';
        return -1;
    }
    chmod(t->dir, 0755); /* as root the cluster's user must enter it */
    lc_cluster_options opt = {.data_dir = t->dir};
    lc_store_error err = {0};
    t->cluster = lc_cluster_start(&opt, &err);
    if (!t->cluster) {
        fprintf(stderr, "cluster: %s\n", err.message);
        return -1;
    }
    t->db = lc_db_open(lc_cluster_url(t->cluster), pool_size, &err);
    if (!t->db) {
        fprintf(stderr, "db: %s\n", err.message);
        return -1;
    }
    return 0;
}

int lc_test_db_migrate(lc_test_db *t, const lc_migrate_options *mo) {
    lc_store_error err = {0};
    if (lc_migrate(t->db, mo, NULL, &err)) {
        fprintf(stderr, "migrate: %s\n", err.message);
        return -1;
    }
    return 0;
}

bool lc_test_db_has_extension(lc_test_db *t, const char *name) {
    lc_store_error err = {0};
    PGconn *c = lc_db_acquire(t->db, &err);
    const char *p[] = {name};
    PGresult *r = c ? lc_db_query(c,
                                  "SELECT count(*) FROM pg_available_extensions"
                                  " WHERE name = $1",
                                  1, p, &err)
                    : NULL;
    if (!r) fail_msg("pg_available_extensions: %s", err.message);
    bool have = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    lc_db_release(t->db, c);
    return have;
}

int lc_test_run_vector_passes(const char *name, const struct CMUnitTest *tests,
                              size_t n, CMFixtureFunction setup,
                              CMFixtureFunction teardown, bool *pgvector,
                              const bool *available) {
    char title[128];
    *pgvector = false;
    snprintf(title, sizeof title, "%s (real[] fallback)", name);
    int failed = _cmocka_run_group_tests(title, tests, n, setup, teardown);
    if (!*available) {
        print_message("skip: the pgvector pass of %s (this PostgreSQL has no "
                      "'vector' extension; see docs/api.md, \"Vector "
                      "storage\")\n",
                      name);
        return failed;
    }
    *pgvector = true;
    snprintf(title, sizeof title, "%s (pgvector)", name);
    return failed + _cmocka_run_group_tests(title, tests, n, setup, teardown);
}

void lc_test_db_stop(lc_test_db *t) {
    if (t->db) lc_db_close(t->db);
    if (t->cluster) lc_cluster_stop(t->cluster);
    if (t->dir[0]) lc_test_remove_tree(t->dir);
    memset(t, 0, sizeof *t);
}

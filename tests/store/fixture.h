/*
 * A private PostgreSQL cluster for one store test program: started in a
 * fresh temporary folder, migrated, and removed at the end. Every store test
 * starts its database this way (tests/CMakeLists.txt links this file into
 * the programs of tests/store/).
 */
#ifndef LC_TEST_STORE_FIXTURE_H
#define LC_TEST_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/cluster.h"
#include "store/db.h"
#include "store/migrate.h"

typedef struct lc_test_db {
    char dir[64];
    lc_cluster *cluster;
    lc_db *db;
} lc_test_db;

/* Starts the cluster and opens a pool of pool_size connections. Returns 0,
 * or -1 after printing why; whatever was started is stopped again by
 * lc_test_db_stop, which is safe to call. */
int lc_test_db_start(lc_test_db *t, int pool_size);

/* lc_migrate with mo (may be NULL): 0, or -1 after printing why. */
int lc_test_db_migrate(lc_test_db *t, const lc_migrate_options *mo);

/* Whether the PostgreSQL server has extension `name` installed (its files;
 * not necessarily created in this database). Fails the test on error. */
bool lc_test_db_has_extension(lc_test_db *t, const char *name);

/* Runs a cmocka group once on the real[] vector fallback and, when the
 * server has pgvector, once more on it: *pgvector says which pass runs (the
 * group's setup migrates accordingly) and *available is what that setup
 * found out during the first pass (lc_test_db_has_extension). Without
 * pgvector the second pass is reported as skipped. Returns the failures. */
int lc_test_run_vector_passes(const char *name, const struct CMUnitTest *tests,
                              size_t n, CMFixtureFunction setup,
                              CMFixtureFunction teardown, bool *pgvector,
                              const bool *available);

/* Removes a folder and everything in it (a cluster's, say). */
void lc_test_remove_tree(const char *dir);

/* Closes the pool, stops the cluster and removes its folder. */
void lc_test_db_stop(lc_test_db *t);

#endif

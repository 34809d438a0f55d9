/*
 * Schema migrations: the numbered SQL files of src/store/migrations/,
 * embedded in the binary, applied at start-up.
 *
 * All pending migrations run in ONE transaction that first takes a
 * transaction-scoped advisory lock, so several servers starting at once
 * against one database apply each migration exactly once: the others wait
 * for the lock, then find the versions recorded in schema_migrations and
 * apply nothing. A failing migration leaves the database as it was.
 */
#ifndef LC_STORE_MIGRATE_H
#define LC_STORE_MIGRATE_H

#include <stdbool.h>

#include "store/db.h"

typedef struct lc_migrate_options {
    /* Use the real[] fallback for content_embedding even when pgvector is
     * available (only matters the first time 0001 runs). */
    bool force_array_vectors;
    /* Compute the real[] fallback's cosine in SQL even when the
     * llamachat_vector extension (src/store/pgext) is installed; decided
     * again at every start-up, like the C path it replaces. */
    bool sql_cosine;
} lc_migrate_options;

/* Applies what is pending; *applied (when non-NULL) gets how many were.
 * opt may be NULL. */
lc_store_status lc_migrate(lc_db *db, const lc_migrate_options *opt,
                           int *applied, lc_store_error *err);

/* The newest version the program knows (the last embedded file). */
int lc_migrate_latest_version(void);

/* 'pgvector' or 'array': how content_embedding is stored in this database
 * (llamachat_settings.vector_backend). out must hold 16 bytes. */
lc_store_status lc_store_vector_backend(lc_db *db, char out[16],
                                        lc_store_error *err);

/* 'c' or 'sql': where the real[] fallback's cosine is computed in this
 * database (llamachat_settings.vector_cosine, chosen at start-up). out must
 * hold 16 bytes. */
lc_store_status lc_store_vector_cosine(lc_db *db, char out[16],
                                       lc_store_error *err);

#endif

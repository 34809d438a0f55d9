/*
 * Applies the embedded migrations. Migration files are static SQL with
 * several statements each, so they go through PQexec (the simple query
 * protocol); they carry no user data, which only ever travels as
 * parameters (store/db.h).
 */
#include "store/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrations_embedded.h"

/* The advisory lock's key: an arbitrary constant that every llamachat
 * process uses, and that nothing else in the database should. */
#define LC_MIGRATE_LOCK_KEY "7228434473418146912"

int lc_migrate_latest_version(void) {
    return lc_migration_count ? lc_migrations[lc_migration_count - 1].version
                              : 0;
}

/* Runs one multi-statement script; fills err the way lc_db_query does. */
static lc_store_status exec_script(PGconn *conn, const char *what,
                                   const char *sql, lc_store_error *err) {
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return LC_STORE_OK;
    }
    lc_store_status status =
        PQstatus(conn) == CONNECTION_OK ? LC_STORE_ERROR : LC_STORE_UNAVAILABLE;
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    lc_store_fail(err, status, "%s%s: %s",
                  status == LC_STORE_UNAVAILABLE ? "database unavailable: "
                                                 : "migration ",
                  what, msg);
    PQclear(r);
    return status;
}

/* The versions already applied, as a bitmap over lc_migrations' indexes. */
static lc_store_status applied_versions(PGconn *conn, bool *done,
                                        lc_store_error *err) {
    PGresult *r = lc_db_query(conn, "SELECT version FROM schema_migrations", 0,
                              NULL, err);
    if (!r) return err ? err->status : LC_STORE_ERROR;
    for (int row = 0; row < PQntuples(r); row++) {
        int v = atoi(PQgetvalue(r, row, 0));
        for (size_t i = 0; i < lc_migration_count; i++)
            if (lc_migrations[i].version == v) done[i] = true;
    }
    PQclear(r);
    return LC_STORE_OK;
}

/* Points lc_cosine (migration 0004) at the C implementation when the
 * llamachat_vector extension is installed on this PostgreSQL server (files
 * in its pkglibdir and extension folder: `make pgext-install`), else at the
 * SQL one, and records the choice as llamachat_settings.vector_cosine.
 * Runs at every start-up, under the migration lock, so installing or
 * removing the extension takes effect on the next start. CREATE EXTENSION
 * needs the CREATE privilege on the database (the extension is trusted);
 * without it, or with the files half-installed, the SQL path stays and a
 * NOTICE says why. Setting llamachat.sql_cosine = 'on' in the transaction
 * forces the SQL path (lc_migrate_options.sql_cosine). */
static const char *const choose_cosine_sql =
    "DO $$\n"
    "DECLARE\n"
    "  want_c BOOLEAN :=\n"
    "    coalesce(current_setting('llamachat.sql_cosine', true), '') <> 'on'\n"
    "    AND EXISTS (\n"
    "    SELECT 1 FROM pg_available_extensions\n"
    "    WHERE name = 'llamachat_vector');\n"
    "  have_c BOOLEAN := EXISTS (SELECT 1 FROM pg_extension\n"
    "    WHERE extname = 'llamachat_vector');\n"
    "  chosen TEXT;\n"
    "BEGIN\n"
    "  IF want_c AND NOT have_c THEN\n"
    "    BEGIN\n"
    "      CREATE EXTENSION llamachat_vector;\n"
    "      have_c := true;\n"
    "    EXCEPTION WHEN insufficient_privilege OR undefined_file\n"
    "                   OR invalid_parameter_value OR feature_not_supported\n"
    "                   OR object_not_in_prerequisite_state THEN\n"
    "      RAISE NOTICE 'llamachat_vector unusable (%), cosine in SQL',\n"
    "        SQLERRM;\n"
    "    END;\n"
    "  END IF;\n"
    "  chosen := CASE WHEN want_c AND have_c THEN 'c' ELSE 'sql' END;\n"
    "  IF chosen IS DISTINCT FROM (SELECT value FROM llamachat_settings\n"
    "                             WHERE key = 'vector_cosine') THEN\n"
    "    EXECUTE format('CREATE OR REPLACE FUNCTION lc_cosine(a real[],'\n"
    "      ' b real[]) RETURNS double precision LANGUAGE sql IMMUTABLE'\n"
    "      ' STRICT PARALLEL SAFE AS %L', CASE chosen\n"
    "        WHEN 'c' THEN 'SELECT lc_vector_cosine(a, b)'\n"
    "        ELSE 'SELECT lc_cosine_sql(a, b)' END);\n"
    "    UPDATE llamachat_settings SET value = chosen\n"
    "      WHERE key = 'vector_cosine';\n"
    "  END IF;\n"
    "END\n"
    "$$";

static lc_store_status migrate_locked(PGconn *conn,
                                      const lc_migrate_options *opt,
                                      int *applied, lc_store_error *err) {
    lc_store_status st;
    /* waits here while another process migrates this database */
    st = lc_db_exec(conn,
                    "SELECT pg_advisory_xact_lock(" LC_MIGRATE_LOCK_KEY ")", 0,
                    NULL, err);
    if (st) return st;
    st = exec_script(conn, "bookkeeping",
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " version INTEGER PRIMARY KEY,"
                     " name TEXT NOT NULL,"
                     " applied_at TIMESTAMP WITH TIME ZONE NOT NULL"
                     " DEFAULT NOW())",
                     err);
    if (st) return st;
    if (opt && opt->force_array_vectors) {
        st = lc_db_exec(conn,
                        "SELECT set_config('llamachat.vector_backend',"
                        " 'array', true)",
                        0, NULL, err);
        if (st) return st;
    }
    if (opt && opt->sql_cosine) {
        st = lc_db_exec(conn,
                        "SELECT set_config('llamachat.sql_cosine', 'on', true)",
                        0, NULL, err);
        if (st) return st;
    }
    bool *done = calloc(lc_migration_count + 1, sizeof *done);
    if (!done) return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    st = applied_versions(conn, done, err);
    for (size_t i = 0; st == LC_STORE_OK && i < lc_migration_count; i++) {
        if (done[i]) continue;
        const lc_migration *m = &lc_migrations[i];
        st = exec_script(conn, m->name, m->sql, err);
        if (st) break;
        char version[16];
        snprintf(version, sizeof version, "%d", m->version);
        const char *params[] = {version, m->name};
        st = lc_db_exec(conn,
                        "INSERT INTO schema_migrations (version, name)"
                        " VALUES ($1, $2)",
                        2, params, err);
        if (st == LC_STORE_OK && applied) (*applied)++;
    }
    free(done);
    if (st == LC_STORE_OK)
        st = exec_script(conn, "choose_cosine", choose_cosine_sql, err);
    return st;
}

lc_store_status lc_migrate(lc_db *db, const lc_migrate_options *opt,
                           int *applied, lc_store_error *err) {
    if (applied) *applied = 0;
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    lc_store_status st = lc_db_exec(conn, "BEGIN", 0, NULL, err);
    if (st == LC_STORE_OK) st = migrate_locked(conn, opt, applied, err);
    if (st == LC_STORE_OK) st = lc_db_exec(conn, "COMMIT", 0, NULL, err);
    if (st != LC_STORE_OK && applied) *applied = 0;
    /* release rolls back a transaction left open by a failure */
    lc_db_release(db, conn);
    return st;
}

/* One value of llamachat_settings into out[16]. */
static lc_store_status read_setting(lc_db *db, const char *key, char out[16],
                                    lc_store_error *err) {
    out[0] = '\0';
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {key};
    PGresult *r =
        lc_db_query(conn, "SELECT value FROM llamachat_settings WHERE key = $1",
                    1, params, err);
    lc_store_status st = LC_STORE_OK;
    if (!r) {
        st = err ? err->status : LC_STORE_ERROR;
    } else if (PQntuples(r) == 0) {
        st = lc_store_fail(err, LC_STORE_NOT_FOUND,
                           "%s is not set: not migrated yet?", key);
    } else {
        snprintf(out, 16, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_store_vector_backend(lc_db *db, char out[16],
                                        lc_store_error *err) {
    return read_setting(db, "vector_backend", out, err);
}

lc_store_status lc_store_vector_cosine(lc_db *db, char out[16],
                                       lc_store_error *err) {
    return read_setting(db, "vector_cosine", out, err);
}

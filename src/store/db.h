/*
 * Connection pool and query helper for PostgreSQL (libpq).
 *
 * A pool holds up to N connections made from one URL or conninfo string.
 * A thread acquires a connection, runs parameterised statements on it and
 * releases it. Connections are made lazily; one that broke (the server
 * restarted, the network dropped) is reconnected on the next acquire, so a
 * restarted database is picked up without restarting the program.
 *
 *     lc_store_error err;
 *     lc_db *db = lc_db_open(url, 4, &err);
 *     PGconn *c = lc_db_acquire(db, &err);
 *     const char *p[] = {user_id};
 *     PGresult *r = lc_db_query(c, "SELECT 1 FROM users WHERE id = $1", 1, p,
 *                               &err);
 *     ...
 *     PQclear(r);
 *     lc_db_release(db, c);
 *
 * Every function that can fail fills an lc_store_error: a status the caller
 * can act on (LC_STORE_UNAVAILABLE -> HTTP 503) and one line of text.
 */
#ifndef LC_STORE_DB_H
#define LC_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* What went wrong, in the terms a caller acts on. */
typedef enum lc_store_status {
    LC_STORE_OK = 0,
    LC_STORE_NOT_FOUND,   /* no such row, or it belongs to another user */
    LC_STORE_CONFLICT,    /* a unique value is taken (username, email) */
    LC_STORE_INVALID,     /* the input was rejected (bad uuid, bad UTF-8) */
    LC_STORE_UNAVAILABLE, /* the database cannot be reached, or every
                             connection stayed busy past the timeout */
    LC_STORE_ERROR,       /* any other failure (a bug, out of memory) */
} lc_store_status;

typedef struct lc_store_error {
    lc_store_status status;
    char message[512];
} lc_store_error;

/* "ok", "not found", "conflict", "invalid", "unavailable", "error". */
const char *lc_store_status_name(lc_store_status status);

/* Sets err (when non-NULL) and returns status: one line for every failure
 * path. */
lc_store_status lc_store_fail(lc_store_error *err, lc_store_status status,
                              const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True when s is a canonical textual UUID (8-4-4-4-12 hex digits). The
 * repositories check ids before they reach SQL, so a malformed id is
 * LC_STORE_NOT_FOUND rather than a database error. */
bool lc_store_is_uuid(const char *s);

typedef struct lc_db lc_db;

/* Opens a pool of at most n_conns connections (1..64) to url, which may be a
 * postgresql:// URL or a "key=value" conninfo string. One connection is made
 * at once so that a wrong URL or a stopped server is reported here (as
 * LC_STORE_UNAVAILABLE); the others are made when first needed. */
lc_db *lc_db_open(const char *url, int n_conns, lc_store_error *err);
void lc_db_close(lc_db *db);

/* How long lc_db_acquire waits for a free connection (default 10000 ms). */
void lc_db_set_acquire_timeout(lc_db *db, int timeout_ms);

/* A connection for the calling thread's exclusive use, (re)connected when
 * needed; NULL with LC_STORE_UNAVAILABLE when the server cannot be reached
 * or no connection became free in time. */
PGconn *lc_db_acquire(lc_db *db, lc_store_error *err);
/* Gives the connection back. A connection left inside a transaction (a
 * caller returned early) is rolled back; a broken one is dropped and made
 * anew on a later acquire. */
void lc_db_release(lc_db *db, PGconn *conn);

/* Runs one statement with text parameters ($1..$n; a NULL pointer is SQL
 * NULL) through PQexecParams, so user data never becomes SQL text. Returns
 * the result (PGRES_COMMAND_OK or PGRES_TUPLES_OK; PQclear it), or NULL
 * with err filled: a lost connection is LC_STORE_UNAVAILABLE, a unique
 * violation LC_STORE_CONFLICT, a foreign-key violation LC_STORE_NOT_FOUND,
 * bad data (SQLSTATE class 22, check violations) LC_STORE_INVALID. */
PGresult *lc_db_query(PGconn *conn, const char *sql, int n_params,
                      const char *const *params, lc_store_error *err);

/* lc_db_query for statements whose result is not needed (BEGIN, UPDATE). */
lc_store_status lc_db_exec(PGconn *conn, const char *sql, int n_params,
                           const char *const *params, lc_store_error *err);

#endif

/*
 * The connection pool: a fixed array of slots guarded by one mutex, and a
 * condition variable that wakes a waiting thread when a slot is released.
 * Connecting and talking to the server happen outside the mutex, so a slow
 * or dead server stalls only the thread that is using that connection.
 */
#include "store/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_DB_MAX_CONNS 64
#define LC_DB_CONNECT_TIMEOUT_S "5"

struct lc_db {
    char *url;
    int n;          /* number of slots */
    PGconn **conns; /* [n]; NULL until first used or after it broke */
    bool *busy;     /* [n] */
    int timeout_ms; /* how long acquire waits for a free slot */
    pthread_mutex_t mu;
    pthread_cond_t freed;
};

const char *lc_store_status_name(lc_store_status status) {
    switch (status) {
    case LC_STORE_OK:
        return "ok";
    case LC_STORE_NOT_FOUND:
        return "not found";
    case LC_STORE_CONFLICT:
        return "conflict";
    case LC_STORE_INVALID:
        return "invalid";
    case LC_STORE_UNAVAILABLE:
        return "unavailable";
    case LC_STORE_ERROR:
        return "error";
    }
    return "error";
}

lc_store_status lc_store_fail(lc_store_error *err, lc_store_status status,
                              const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        /* libpq messages end in a newline; the caller wants one line */
        size_t len = strlen(err->message);
        while (len > 0 &&
               (err->message[len - 1] == '\n' || err->message[len - 1] == ' '))
            err->message[--len] = '\0';
    }
    return status;
}

bool lc_store_is_uuid(const char *s) {
    if (!s) return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return s[36] == '\0';
}

static void ignore_notice(void *arg, const char *message) {
    (void)arg, (void)message;
}

/* Makes one connection. connect_timeout comes first so that a value in the
 * URL overrides it (libpq applies expanded dbname settings in order). */
static PGconn *db_connect(const char *url, lc_store_error *err) {
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {LC_DB_CONNECT_TIMEOUT_S, url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        lc_store_fail(err, LC_STORE_ERROR, "database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        lc_store_fail(err, LC_STORE_UNAVAILABLE, "database unavailable: %s",
                      PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    /* Server notices ("relation already exists, skipping") are not
     * errors; libpq would print them on stderr. */
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    /* Timestamps come back in UTC whatever the server's zone is. */
    PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        lc_store_fail(err, LC_STORE_UNAVAILABLE, "database unavailable: %s",
                      PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

lc_db *lc_db_open(const char *url, int n_conns, lc_store_error *err) {
    if (!url || !*url) {
        lc_store_fail(err, LC_STORE_INVALID, "database: empty URL");
        return NULL;
    }
    if (n_conns < 1 || n_conns > LC_DB_MAX_CONNS) {
        lc_store_fail(err, LC_STORE_INVALID,
                      "database: pool size %d is outside 1..%d", n_conns,
                      LC_DB_MAX_CONNS);
        return NULL;
    }
    lc_db *db = calloc(1, sizeof *db);
    if (!db) goto oom;
    db->url = strdup(url);
    db->conns = calloc((size_t)n_conns, sizeof *db->conns);
    db->busy = calloc((size_t)n_conns, sizeof *db->busy);
    if (!db->url || !db->conns || !db->busy) goto oom;
    db->n = n_conns;
    db->timeout_ms = 10000;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->freed, NULL);
    db->conns[0] = db_connect(url, err);
    if (!db->conns[0]) {
        lc_db_close(db);
        return NULL;
    }
    return db;
oom:
    if (db) {
        free(db->url);
        free(db->conns);
        free(db->busy);
        free(db);
    }
    lc_store_fail(err, LC_STORE_ERROR, "database: out of memory");
    return NULL;
}

void lc_db_close(lc_db *db) {
    if (!db) return;
    for (int i = 0; i < db->n; i++)
        if (db->conns[i]) PQfinish(db->conns[i]);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->freed);
    free(db->url);
    free(db->conns);
    free(db->busy);
    free(db);
}

void lc_db_set_acquire_timeout(lc_db *db, int timeout_ms) {
    pthread_mutex_lock(&db->mu);
    db->timeout_ms = timeout_ms < 0 ? 0 : timeout_ms;
    pthread_mutex_unlock(&db->mu);
}

/* An idle connection whose server went away has an end-of-file (or the
 * server's "terminating connection" message) waiting on its socket: read
 * it now so that PQstatus tells the truth before a query is sent. */
static bool conn_alive(PGconn *c) {
    if (PQstatus(c) != CONNECTION_OK) return false;
    /* A dying server first sends a FATAL message, then closes: the first
     * read consumes the message, a second one meets the end of file. */
    for (int i = 0; i < 4; i++) {
        struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
        if (p.fd < 0) return false;
        if (poll(&p, 1, 0) <= 0) break;
        if (!PQconsumeInput(c)) return false;
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) PQfreemem(n);
        if (PQstatus(c) != CONNECTION_OK) return false;
    }
    return PQstatus(c) == CONNECTION_OK;
}

PGconn *lc_db_acquire(lc_db *db, lc_store_error *err) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    pthread_mutex_lock(&db->mu);
    long ms = db->timeout_ms;
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int slot = -1;
    for (;;) {
        /* prefer a slot that already holds a connection */
        for (int i = 0; i < db->n && slot < 0; i++)
            if (!db->busy[i] && db->conns[i]) slot = i;
        for (int i = 0; i < db->n && slot < 0; i++)
            if (!db->busy[i]) slot = i;
        if (slot >= 0) break;
        int rc = pthread_cond_timedwait(&db->freed, &db->mu, &deadline);
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&db->mu);
            lc_store_fail(err, LC_STORE_UNAVAILABLE,
                          "database unavailable: all %d connections stayed "
                          "busy for %ld ms",
                          db->n, ms);
            return NULL;
        }
    }
    db->busy[slot] = true;
    PGconn *c = db->conns[slot];
    db->conns[slot] = NULL; /* the slot is ours; put it back on release */
    pthread_mutex_unlock(&db->mu);

    if (c && !conn_alive(c)) {
        PQfinish(c);
        c = NULL;
    }
    if (!c) c = db_connect(db->url, err);
    if (!c) {
        pthread_mutex_lock(&db->mu);
        db->busy[slot] = false;
        pthread_cond_signal(&db->freed);
        pthread_mutex_unlock(&db->mu);
        return NULL;
    }
    /* Remember which slot this connection occupies: the slot keeps the
     * pointer while busy so release can find it. */
    pthread_mutex_lock(&db->mu);
    db->conns[slot] = c;
    pthread_mutex_unlock(&db->mu);
    return c;
}

void lc_db_release(lc_db *db, PGconn *conn) {
    if (!conn) return;
    bool keep = PQstatus(conn) == CONNECTION_OK;
    if (keep && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        PQclear(r);
        keep = PQstatus(conn) == CONNECTION_OK &&
               PQtransactionStatus(conn) == PQTRANS_IDLE;
    }
    pthread_mutex_lock(&db->mu);
    for (int i = 0; i < db->n; i++) {
        if (db->busy[i] && db->conns[i] == conn) {
            db->busy[i] = false;
            if (!keep) db->conns[i] = NULL;
            break;
        }
    }
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->mu);
    if (!keep) PQfinish(conn);
}

/* Maps a failed statement to a status. SQLSTATE classes: 08 connection
 * exception, 57P0x the server is shutting down or starting, 53300 too many
 * connections, 23 integrity constraint violations, 22 data exceptions. */
static lc_store_status classify(PGconn *conn, const PGresult *r) {
    if (PQstatus(conn) != CONNECTION_OK) return LC_STORE_UNAVAILABLE;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!state) return LC_STORE_UNAVAILABLE; /* no answer from the server */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strcmp(state, "53300") == 0)
        return LC_STORE_UNAVAILABLE;
    if (strcmp(state, "23505") == 0) return LC_STORE_CONFLICT;
    if (strcmp(state, "23503") == 0) return LC_STORE_NOT_FOUND;
    if (strncmp(state, "22", 2) == 0 || strcmp(state, "23514") == 0 ||
        strcmp(state, "23502") == 0)
        return LC_STORE_INVALID;
    return LC_STORE_ERROR;
}

PGresult *lc_db_query(PGconn *conn, const char *sql, int n_params,
                      const char *const *params, lc_store_error *err) {
    if (!conn) {
        lc_store_fail(err, LC_STORE_UNAVAILABLE,
                      "database unavailable: no connection");
        return NULL;
    }
    PGresult *r =
        PQexecParams(conn, sql, n_params, NULL, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    lc_store_status status = classify(conn, r);
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = PQerrorMessage(conn);
    lc_store_fail(err, status, "%s%s",
                  status == LC_STORE_UNAVAILABLE ? "database unavailable: "
                                                 : "database: ",
                  msg);
    PQclear(r);
    return NULL;
}

lc_store_status lc_db_exec(PGconn *conn, const char *sql, int n_params,
                           const char *const *params, lc_store_error *err) {
    PGresult *r = lc_db_query(conn, sql, n_params, params, err);
    if (!r) return err ? err->status : LC_STORE_ERROR;
    PQclear(r);
    return LC_STORE_OK;
}

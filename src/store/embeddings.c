/* The message-embeddings repository; see embeddings.h. */
#include "store/embeddings.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "store/repo.h"

/* pgvector's column is vector(768), fixed by migration 0001. */
#define PGVECTOR_DIM 768

lc_store_status lc_embeddings_backend(lc_db *db, char out[16],
                                      lc_store_error *err) {
    return lc_store_vector_backend(db, out, err);
}

/* The text literal of v [dim]: "[a,b,...]" for pgvector, "{a,b,...}" for
 * real[] (PostgreSQL's array syntax). %.9g round-trips a float exactly.
 * malloc'd, or NULL when out of memory. */
static char *vector_literal(const float *v, int dim, bool pgvector) {
    const size_t cap = (size_t)dim * 18 + 3;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t len = 0;
    s[len++] = pgvector ? '[' : '{';
    for (int d = 0; d < dim; d++)
        len += (size_t)snprintf(s + len, cap - len, d ? ",%.9g" : "%.9g",
                                (double)v[d]);
    s[len++] = pgvector ? ']' : '}';
    s[len] = '\0';
    return s;
}

lc_store_status lc_embeddings_set(lc_db *db, const char *message_id,
                                  const float *v, int dim,
                                  lc_store_error *err) {
    if (!message_id || !lc_store_is_uuid(message_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such message");
    if (!v || dim < 1 || dim > LC_EMBEDDING_MAX_DIM)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "an embedding has 1..%d values, not %d",
                             LC_EMBEDDING_MAX_DIM, dim);
    for (int d = 0; d < dim; d++)
        if (!isfinite(v[d]))
            return lc_store_fail(err, LC_STORE_INVALID,
                                 "an embedding value is not finite");
    char backend[16];
    lc_store_status st = lc_embeddings_backend(db, backend, err);
    if (st != LC_STORE_OK) return st;
    const bool pgvector = strcmp(backend, "pgvector") == 0;
    if (pgvector && dim != PGVECTOR_DIM)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "the database stores vector(%d): a %d-dimension "
                             "embedding does not fit",
                             PGVECTOR_DIM, dim);
    char *literal = vector_literal(v, dim, pgvector);
    if (!literal) return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) {
        free(literal);
        return err ? err->status : LC_STORE_UNAVAILABLE;
    }
    /* The parameter's type is inferred from the column (vector or real[]),
     * so one statement serves both backends. */
    const char *params[] = {message_id, literal};
    PGresult *r = lc_db_query(
        conn, "UPDATE chat_messages SET content_embedding = $2 WHERE id = $1",
        2, params, err);
    if (!r)
        st = err ? err->status : LC_STORE_ERROR;
    else if (strcmp(PQcmdTuples(r), "1") != 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such message");
    PQclear(r);
    lc_db_release(db, conn);
    free(literal);
    return st;
}

void lc_embedding_todos_free(lc_embedding_todo *list, size_t n) {
    for (size_t i = 0; list && i < n; i++) free(list[i].content);
    free(list);
}

lc_store_status lc_embeddings_missing(lc_db *db, long long after_seq, int limit,
                                      lc_embedding_todo **out, size_t *n,
                                      lc_store_error *err) {
    *out = NULL;
    *n = 0;
    if (limit < 1 || limit > 1000)
        return lc_store_fail(err, LC_STORE_INVALID, "limit must be 1..1000");
    char seq_s[32], limit_s[16];
    snprintf(seq_s, sizeof seq_s, "%lld", after_seq);
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {seq_s, limit_s};
    PGresult *r = lc_db_query(conn,
                              "SELECT id, seq, content FROM chat_messages"
                              " WHERE content_embedding IS NULL"
                              " AND is_deleted IS NOT TRUE AND seq > $1"
                              " ORDER BY seq LIMIT $2",
                              2, params, err);
    lc_store_status st = LC_STORE_OK;
    if (!r) {
        st = err ? err->status : LC_STORE_ERROR;
    } else if (PQntuples(r) > 0) {
        const int rows = PQntuples(r);
        lc_embedding_todo *list = calloc((size_t)rows, sizeof *list);
        bool oom = list == NULL;
        for (int i = 0; i < rows && !oom; i++) {
            lc_repo_copy(r, i, 0, list[i].id, sizeof list[i].id);
            list[i].seq = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            list[i].content = lc_repo_dup(r, i, 2, &oom);
        }
        if (oom) {
            lc_embedding_todos_free(list, list ? (size_t)rows : 0);
            st = lc_store_fail(err, LC_STORE_ERROR, "out of memory");
        } else {
            *out = list;
            *n = (size_t)rows;
        }
    }
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_embeddings_count(lc_db *db, long long *count,
                                    lc_store_error *err) {
    *count = 0;
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    PGresult *r = lc_db_query(conn,
                              "SELECT count(*) FROM chat_messages"
                              " WHERE content_embedding IS NOT NULL",
                              0, NULL, err);
    lc_store_status st = LC_STORE_OK;
    if (!r)
        st = err ? err->status : LC_STORE_ERROR;
    else
        *count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

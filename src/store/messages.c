/* The messages repository; see messages.h. Ownership is checked by joining
 * or filtering on chat_sessions.user_id in the same statement. */
#include "store/messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/repo.h"

#define MESSAGE_COLUMNS                                                        \
    "m.id, m.session_id, m.role, m.content, m.model, m.tokens,"                \
    " m.processing_time_ms, m.tokens_per_second, m.gpu_memory_used_mb,"        \
    " m.confidence, m.cuda_accelerated, " LC_SQL_TS(                           \
        "m.created_at") ", m.metadata"

void lc_message_clear(lc_message *m) {
    if (!m) return;
    free(m->content);
    free(m->model);
    free(m->metadata);
    memset(m, 0, sizeof *m);
}

void lc_messages_free(lc_message *list, size_t n) {
    for (size_t i = 0; list && i < n; i++) lc_message_clear(&list[i]);
    free(list);
}

/* Fills out from a row whose MESSAGE_COLUMNS start at column c0. */
static lc_store_status read_message(const PGresult *r, int row, int c0,
                                    lc_message *out, lc_store_error *err) {
    bool oom = false;
    memset(out, 0, sizeof *out);
    lc_repo_copy(r, row, c0 + 0, out->id, sizeof out->id);
    lc_repo_copy(r, row, c0 + 1, out->session_id, sizeof out->session_id);
    lc_repo_copy(r, row, c0 + 2, out->role, sizeof out->role);
    out->content = lc_repo_dup(r, row, c0 + 3, &oom);
    out->model = lc_repo_dup(r, row, c0 + 4, &oom);
    out->tokens = lc_repo_int(r, row, c0 + 5, -1);
    out->processing_time_ms = lc_repo_int(r, row, c0 + 6, -1);
    out->tokens_per_second = lc_repo_int(r, row, c0 + 7, -1);
    out->gpu_memory_used_mb = lc_repo_int(r, row, c0 + 8, -1);
    out->confidence = lc_repo_int(r, row, c0 + 9, -1);
    out->cuda_accelerated = lc_repo_bool(r, row, c0 + 10);
    lc_repo_copy(r, row, c0 + 11, out->created_at, sizeof out->created_at);
    out->metadata = lc_repo_dup(r, row, c0 + 12, &oom);
    if (oom) {
        lc_message_clear(out);
        return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    }
    return LC_STORE_OK;
}

/* Reads every row of r into a malloc'd array. */
static lc_store_status read_messages(const PGresult *r, int c0,
                                     lc_message **out, size_t *n,
                                     lc_store_error *err) {
    int rows = PQntuples(r);
    if (rows == 0) return LC_STORE_OK;
    *out = calloc((size_t)rows, sizeof **out);
    if (!*out) return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    for (int i = 0; i < rows; i++) {
        lc_store_status st = read_message(r, i, c0, &(*out)[i], err);
        if (st) {
            lc_messages_free(*out, *n);
            *out = NULL;
            *n = 0;
            return st;
        }
        *n = (size_t)i + 1;
    }
    return LC_STORE_OK;
}

static lc_store_status check_ids(const char *user_id, const char *session_id,
                                 lc_store_error *err) {
    if (!lc_store_is_uuid(user_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    if (session_id && !lc_store_is_uuid(session_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    return LC_STORE_OK;
}

/* The insert for both roles. The CTE moves the session's updated_at only
 * when the session is the user's, and the insert takes its session id from
 * that CTE: no row, no insert, one statement, no race. $1 user, $2
 * session, $3 role, $4 content, $5 model, $6..$11 metrics, $12 metadata. */
static const char *const insert_sql =
    "WITH s AS (UPDATE chat_sessions SET updated_at = now()"
    "           WHERE id = $2 AND user_id = $1 RETURNING id)"
    " INSERT INTO chat_messages (session_id, role, content, model, tokens,"
    "   processing_time_ms, tokens_per_second, cuda_accelerated,"
    "   gpu_memory_used_mb, confidence, metadata)"
    " SELECT s.id, $3, $4, $5, $6, $7, $8, coalesce($9::boolean, false),"
    "   $10, $11, coalesce($12::jsonb, '{}'::jsonb)"
    " FROM s RETURNING id";

static lc_store_status insert_message(lc_db *db, const char *const *params,
                                      char id[37], lc_store_error *err) {
    id[0] = '\0';
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    PGresult *r = lc_db_query(conn, insert_sql, 12, params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    if (!st) lc_repo_copy(r, 0, 0, id, 37);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_messages_add_user(lc_db *db, const char *user_id,
                                     const char *session_id,
                                     const char *content, const char *model,
                                     char id[37], lc_store_error *err) {
    id[0] = '\0';
    lc_store_status st = check_ids(user_id, session_id, err);
    if (!st) st = lc_repo_check_text("content", content, LC_MESSAGE_MAX, err);
    if (!st && model) st = lc_repo_check_text("model", model, 256, err);
    if (st) return st;
    const char *params[12] = {user_id, session_id, "user", content, model};
    return insert_message(db, params, id, err);
}

lc_store_status lc_messages_add_assistant(lc_db *db, const char *user_id,
                                          const char *session_id,
                                          const lc_assistant_reply *reply,
                                          char id[37], lc_store_error *err) {
    id[0] = '\0';
    lc_store_status st = check_ids(user_id, session_id, err);
    if (!st)
        st = lc_repo_check_text("content", reply->content, LC_MESSAGE_MAX, err);
    if (!st && reply->model)
        st = lc_repo_check_text("model", reply->model, 256, err);
    if (!st && reply->metadata)
        st = lc_repo_check_text("metadata", reply->metadata, LC_MESSAGE_MAX,
                                err);
    if (!st && (reply->confidence < -1 || reply->confidence > 100))
        st =
            lc_store_fail(err, LC_STORE_INVALID,
                          "confidence %d is outside 0..100", reply->confidence);
    if (st) return st;
    if (reply->metadata) {
        /* a JSON array or number would be valid jsonb but not metadata */
        const char *p = reply->metadata;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '{')
            return lc_store_fail(err, LC_STORE_INVALID,
                                 "metadata must be a JSON object");
    }
    char tokens[16], ms[16], tps[16], gpu[16], conf[16];
    snprintf(tokens, sizeof tokens, "%d", reply->tokens);
    snprintf(ms, sizeof ms, "%d", reply->processing_time_ms);
    snprintf(tps, sizeof tps, "%d", reply->tokens_per_second);
    snprintf(gpu, sizeof gpu, "%d", reply->gpu_memory_used_mb);
    snprintf(conf, sizeof conf, "%d", reply->confidence);
    const char *params[12] = {user_id,
                              session_id,
                              "assistant",
                              reply->content,
                              reply->model,
                              tokens,
                              ms,
                              tps,
                              reply->cuda_accelerated ? "true" : "false",
                              gpu,
                              reply->confidence < 0 ? NULL : conf,
                              reply->metadata};
    /* invalid JSON text is SQLSTATE 22P02: LC_STORE_INVALID */
    return insert_message(db, params, id, err);
}

lc_store_status lc_messages_delete_last_reply(lc_db *db, const char *user_id,
                                              const char *session_id,
                                              char deleted_id[37],
                                              lc_store_error *err) {
    deleted_id[0] = '\0';
    lc_store_status st = check_ids(user_id, session_id, err);
    if (st) return st;
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    /* One statement: the first column says whether the session is the
     * user's, the second is the id of the reply it marked (NULL when the
     * last live message is not an assistant reply). */
    const char *params[] = {user_id, session_id};
    PGresult *r = lc_db_query(
        conn,
        "WITH s AS (SELECT id FROM chat_sessions"
        "           WHERE id = $2 AND user_id = $1),"
        " last AS (SELECT m.id, m.role FROM chat_messages m, s"
        "   WHERE m.session_id = s.id AND NOT coalesce(m.is_deleted, false)"
        "   ORDER BY m.created_at DESC, m.seq DESC LIMIT 1),"
        " del AS (UPDATE chat_messages SET is_deleted = true"
        "   WHERE id IN (SELECT id FROM last WHERE role = 'assistant')"
        "   RETURNING id)"
        " SELECT s.id, (SELECT id FROM del) FROM s",
        2, params, err);
    st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    if (!st && !PQgetisnull(r, 0, 1)) lc_repo_copy(r, 0, 1, deleted_id, 37);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_messages_list(lc_db *db, const char *user_id,
                                 const char *session_id, int limit, int offset,
                                 lc_message **out, size_t *n,
                                 lc_store_error *err) {
    *out = NULL;
    *n = 0;
    lc_store_status st = check_ids(user_id, session_id, err);
    if (st) return st;
    if (limit < 1 || limit > 10000 || offset < 0)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "paging: limit must be 1..10000, offset >= 0");
    char lim[16], off[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(off, sizeof off, "%d", offset);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    /* One statement, so the ownership check and the read see the same
     * snapshot: the first column says whether the session is the user's,
     * the rest are NULL when it has no (more) messages. */
    const char *params[] = {user_id, session_id, lim, off};
    PGresult *r = lc_db_query(
        conn,
        "SELECT s.id, " MESSAGE_COLUMNS " FROM chat_sessions s"
        " LEFT JOIN LATERAL (SELECT * FROM chat_messages"
        "   WHERE session_id = s.id AND NOT coalesce(is_deleted, false)"
        "   ORDER BY created_at, seq LIMIT $3 OFFSET $4) m ON true"
        " WHERE s.id = $2 AND s.user_id = $1"
        " ORDER BY m.created_at, m.seq",
        4, params, err);
    st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    /* a single row with NULL message columns: the session has none */
    if (!st && !(PQntuples(r) == 1 && PQgetisnull(r, 0, 1)))
        st = read_messages(r, 1, out, n, err);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_messages_search(lc_db *db, const char *user_id,
                                   const char *query, int limit,
                                   lc_message **out, size_t *n,
                                   lc_store_error *err) {
    *out = NULL;
    *n = 0;
    lc_store_status st = check_ids(user_id, NULL, err);
    if (!st) st = lc_repo_check_text("query", query, 1024, err);
    if (st) return st;
    if (limit < 1 || limit > 1000)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "search: limit must be 1..1000");
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    /* The match uses the same expression as the GIN index
     * (to_tsvector('simple', content)); plainto_tsquery turns any text into
     * a valid query (words ANDed), so no user input can be a syntax error. */
    const char *params[] = {user_id, query, lim};
    PGresult *r = lc_db_query(
        conn,
        "SELECT " MESSAGE_COLUMNS
        " FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id,"
        " plainto_tsquery('simple', $2) q"
        " WHERE s.user_id = $1 AND NOT coalesce(m.is_deleted, false)"
        " AND to_tsvector('simple', m.content) @@ q"
        " ORDER BY ts_rank(to_tsvector('simple', m.content), q) DESC,"
        " m.created_at DESC, m.seq DESC LIMIT $3",
        3, params, err);
    st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st) st = read_messages(r, 0, out, n, err);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

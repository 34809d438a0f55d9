/* The sessions repository; see sessions.h. Every statement has
 * "user_id = $1" in its WHERE clause: that is the ownership check. */
#include "store/sessions.h"

#include <stdlib.h>
#include <string.h>

#include "store/repo.h"

#define SESSION_COLUMNS                                                        \
    "id, user_id, title, model, system_prompt, " LC_SQL_TS(                    \
        "created_at") ", " LC_SQL_TS("updated_at") ", is_active, metadata"

void lc_session_clear(lc_session *s) {
    if (!s) return;
    free(s->title);
    free(s->model);
    free(s->system_prompt);
    free(s->metadata);
    memset(s, 0, sizeof *s);
}

void lc_sessions_free(lc_session *list, size_t n) {
    for (size_t i = 0; list && i < n; i++) lc_session_clear(&list[i]);
    free(list);
}

static lc_store_status read_session(const PGresult *r, int row, lc_session *out,
                                    lc_store_error *err) {
    bool oom = false;
    memset(out, 0, sizeof *out);
    lc_repo_copy(r, row, 0, out->id, sizeof out->id);
    lc_repo_copy(r, row, 1, out->user_id, sizeof out->user_id);
    out->title = lc_repo_dup(r, row, 2, &oom);
    out->model = lc_repo_dup(r, row, 3, &oom);
    out->system_prompt = lc_repo_dup(r, row, 4, &oom);
    lc_repo_copy(r, row, 5, out->created_at, sizeof out->created_at);
    lc_repo_copy(r, row, 6, out->updated_at, sizeof out->updated_at);
    out->is_active = lc_repo_bool(r, row, 7);
    out->metadata = lc_repo_dup(r, row, 8, &oom);
    if (oom) {
        lc_session_clear(out);
        return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    }
    return LC_STORE_OK;
}

/* Runs a statement scoped to one of the user's sessions. With out, the
 * statement must return SESSION_COLUMNS; without, it must return a row
 * per session touched. No row means not found (or not the user's). */
static lc_store_status session_statement(lc_db *db, const char *sql,
                                         int n_params,
                                         const char *const *params,
                                         lc_session *out, lc_store_error *err) {
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    PGresult *r = lc_db_query(conn, sql, n_params, params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    if (!st && out) st = read_session(r, 0, out, err);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

static lc_store_status check_ids(const char *user_id, const char *session_id,
                                 lc_store_error *err) {
    if (!lc_store_is_uuid(user_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    if (session_id && !lc_store_is_uuid(session_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    return LC_STORE_OK;
}

lc_store_status lc_sessions_create(lc_db *db, const char *user_id,
                                   const char *title, const char *model,
                                   const char *system_prompt, lc_session *out,
                                   lc_store_error *err) {
    lc_store_status st = check_ids(user_id, NULL, err);
    if (!st && title)
        st = lc_repo_check_text("title", title, LC_TITLE_MAX, err);
    if (!st && model) st = lc_repo_check_text("model", model, 256, err);
    if (!st && system_prompt)
        st = lc_repo_check_text("system_prompt", system_prompt,
                                LC_SYSTEM_PROMPT_MAX, err);
    if (st) return st;
    const char *params[] = {user_id, title ? title : "", model, system_prompt};
    lc_session tmp;
    /* an unknown user is a foreign-key violation: LC_STORE_NOT_FOUND */
    st = session_statement(
        db,
        "INSERT INTO chat_sessions (user_id, title, model, system_prompt)"
        " VALUES ($1, $2, coalesce($3, 'gemma3-legal:latest'), $4)"
        " RETURNING " SESSION_COLUMNS,
        4, params, out ? out : &tmp, err);
    if (!out && !st) lc_session_clear(&tmp);
    return st;
}

lc_store_status lc_sessions_list(lc_db *db, const char *user_id, int limit,
                                 int offset, lc_session **out, size_t *n,
                                 lc_store_error *err) {
    *out = NULL;
    *n = 0;
    lc_store_status st = check_ids(user_id, NULL, err);
    if (st) return st;
    if (limit < 1 || limit > 1000 || offset < 0)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "paging: limit must be 1..1000, offset >= 0");
    char lim[16], off[16];
    snprintf(lim, sizeof lim, "%d", limit);
    snprintf(off, sizeof off, "%d", offset);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {user_id, lim, off};
    PGresult *r = lc_db_query(conn,
                              "SELECT " SESSION_COLUMNS " FROM chat_sessions"
                              " WHERE user_id = $1"
                              " ORDER BY updated_at DESC, id"
                              " LIMIT $2 OFFSET $3",
                              3, params, err);
    st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    int rows = r ? PQntuples(r) : 0;
    if (!st && rows > 0) {
        *out = calloc((size_t)rows, sizeof **out);
        if (!*out) st = lc_store_fail(err, LC_STORE_ERROR, "out of memory");
        for (int i = 0; !st && i < rows; i++) {
            st = read_session(r, i, &(*out)[i], err);
            if (!st) *n = (size_t)i + 1;
        }
        if (st) {
            lc_sessions_free(*out, *n);
            *out = NULL;
            *n = 0;
        }
    }
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_sessions_get(lc_db *db, const char *user_id,
                                const char *session_id, lc_session *out,
                                lc_store_error *err) {
    lc_store_status st = check_ids(user_id, session_id, err);
    if (st) return st;
    const char *params[] = {user_id, session_id};
    return session_statement(db,
                             "SELECT " SESSION_COLUMNS " FROM chat_sessions"
                             " WHERE user_id = $1 AND id = $2",
                             2, params, out, err);
}

lc_store_status lc_sessions_rename(lc_db *db, const char *user_id,
                                   const char *session_id, const char *title,
                                   lc_store_error *err) {
    lc_store_status st = check_ids(user_id, session_id, err);
    if (!st) st = lc_repo_check_text("title", title, LC_TITLE_MAX, err);
    if (st) return st;
    const char *params[] = {user_id, session_id, title};
    return session_statement(db,
                             "UPDATE chat_sessions"
                             " SET title = $3, updated_at = now()"
                             " WHERE user_id = $1 AND id = $2 RETURNING id",
                             3, params, NULL, err);
}

lc_store_status lc_sessions_set_system_prompt(lc_db *db, const char *user_id,
                                              const char *session_id,
                                              const char *prompt,
                                              lc_store_error *err) {
    lc_store_status st = check_ids(user_id, session_id, err);
    if (!st && prompt)
        st = lc_repo_check_text("system_prompt", prompt, LC_SYSTEM_PROMPT_MAX,
                                err);
    if (st) return st;
    const char *params[] = {user_id, session_id, prompt};
    return session_statement(db,
                             "UPDATE chat_sessions"
                             " SET system_prompt = $3, updated_at = now()"
                             " WHERE user_id = $1 AND id = $2 RETURNING id",
                             3, params, NULL, err);
}

lc_store_status lc_sessions_delete(lc_db *db, const char *user_id,
                                   const char *session_id,
                                   lc_store_error *err) {
    lc_store_status st = check_ids(user_id, session_id, err);
    if (st) return st;
    const char *params[] = {user_id, session_id};
    return session_statement(db,
                             "DELETE FROM chat_sessions"
                             " WHERE user_id = $1 AND id = $2 RETURNING id",
                             2, params, NULL, err);
}

lc_store_status lc_sessions_touch(lc_db *db, const char *user_id,
                                  const char *session_id, lc_store_error *err) {
    lc_store_status st = check_ids(user_id, session_id, err);
    if (st) return st;
    const char *params[] = {user_id, session_id};
    return session_statement(db,
                             "UPDATE chat_sessions SET updated_at = now()"
                             " WHERE user_id = $1 AND id = $2 RETURNING id",
                             2, params, NULL, err);
}

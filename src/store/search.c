/* Search over one user's messages; see search.h for the ranking. */
#include "store/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/repo.h"

void lc_search_hits_free(lc_search_hit *hits, size_t n) {
    for (size_t i = 0; hits && i < n; i++) {
        free(hits[i].session_title);
        free(hits[i].content);
        free(hits[i].snippet);
    }
    free(hits);
}

/* The caller's messages, written out where each list needs them rather
 * than as a shared CTE: a CTE read twice is materialised, which would copy
 * every row's content and embedding before ranking. $1 user, $3 session
 * filter, $4 excluded session. The user's sessions come through the btree
 * on chat_sessions(user_id, ...), their messages through the one on
 * chat_messages(session_id, ...): filter first, then rank. */
#define OWNED_ROWS                                                             \
    " FROM chat_sessions s JOIN chat_messages m ON m.session_id = s.id"        \
    " WHERE s.user_id = $1::uuid"                                              \
    " AND ($3::uuid IS NULL OR s.id = $3::uuid)"                               \
    " AND ($4::uuid IS NULL OR s.id <> $4::uuid)"                              \
    " AND NOT coalesce(m.is_deleted, false)"

/* Full-text list: every matching row is ranked (ts_rank_cd, normalised by
 * log length so a long message does not win by size alone), the best $6
 * kept. numnode() = 0 is a query with no words (e.g. "?!"), which matches
 * nothing: tested first so PostgreSQL never warns about it. */
static const char *const fulltext_cte_fmt =
    "q AS (SELECT %s AS tsq),"
    " ft0 AS (SELECT m.id, m.created_at, m.seq,"
    "   ts_rank_cd(to_tsvector('simple', m.content), (SELECT tsq FROM q), 1)"
    "     AS tr" OWNED_ROWS "   AND numnode((SELECT tsq FROM q)) > 0"
    "   AND to_tsvector('simple', m.content) @@ (SELECT tsq FROM q)"
    "   ORDER BY tr DESC, m.created_at DESC, m.seq DESC LIMIT $6),"
    " ft AS (SELECT id, tr, row_number() OVER"
    "   (ORDER BY tr DESC, created_at DESC, seq DESC) AS rk FROM ft0),";

/* The words as a query: all of them (plainto_tsquery), or any of them
 * (one plainto_tsquery per word, ORed by lc_tsquery_or from migration
 * 0003; '' when there is no word). */
static const char *const all_words_tsq = "plainto_tsquery('simple', $2::text)";
static const char *const any_word_tsq =
    "(SELECT coalesce(lc_tsquery_or(plainto_tsquery('simple', w)),"
    " ''::tsquery) FROM unnest(tsvector_to_array("
    "to_tsvector('simple', $2::text))) AS w)";

/* Vector list, exact: the similarity of each of the caller's rows, best
 * $6 kept. The ORDER BY is on an expression of the distance, not on
 * `embedding <=> q` itself, so the planner cannot swap in a global HNSW
 * scan (which would filter after ranking and lose results). %s: the
 * similarity expression.
 *
 * There is no "same dimension as the query" condition in the WHERE: the
 * planner pushes such a condition below the join, onto a scan of every
 * user's rows, and evaluating it reads (detoasts) every vector in the
 * table; measured, that made a 10,000-row search over a 100,000-row table
 * 4 times slower. lc_cosine is NULL for a vector of another length (dropped
 * by "sim IS NOT NULL" below), and pgvector's column is vector(768), which
 * only 768-dim queries reach (lc_search_run). */
static const char *const vector_cte_fmt =
    " v0 AS (SELECT m.id, m.created_at, m.seq, %s AS sim" OWNED_ROWS
    "   AND m.content_embedding IS NOT NULL"
    "   ORDER BY sim DESC NULLS LAST, m.created_at DESC, m.seq DESC LIMIT $6),"
    " vec AS (SELECT id, sim, row_number() OVER"
    "   (ORDER BY sim DESC NULLS LAST, created_at DESC, seq DESC) AS rk"
    "   FROM v0 WHERE sim IS NOT NULL),";

/* pgvector's cosine similarity, made to agree with lc_cosine: <=> of a
 * zero vector is NaN (0/0), which ORDER BY ... DESC would put first, and
 * lc_cosine says 0 there. */
static const char *const pgvector_similarity =
    "coalesce(nullif(1 - (m.content_embedding <=> $7::vector),"
    " 'NaN'::float8), 0)";

static const char *const no_vector_cte =
    " vec AS (SELECT NULL::uuid AS id, NULL::float8 AS sim,"
    "   NULL::bigint AS rk WHERE false),";

/* Fusion and the final rows; %d is the RRF constant. The snippet is
 * computed only for the rows returned. */
static const char *const fuse_fmt =
    " fused AS (SELECT coalesce(f.id, v.id) AS id,"
    "   coalesce(1.0 / (%d + f.rk), 0) + coalesce(1.0 / (%d + v.rk), 0)"
    "     AS score, v.sim, coalesce(f.tr, 0) AS tr"
    "   FROM ft f FULL JOIN vec v ON v.id = f.id)"
    " SELECT m.id, m.session_id, s.title, m.role, m.content,"
    "   CASE WHEN numnode(q.tsq) > 0 THEN ts_headline('simple', m.content,"
    "     q.tsq, 'MaxWords=24, MinWords=8, MaxFragments=2,"
    " StartSel=**, StopSel=**')"
    "   ELSE left(m.content, 200) END,"
    "   fused.score, fused.sim, fused.tr, " LC_SQL_TS(
        "m.created_at") " FROM fused JOIN chat_messages m ON m.id = fused.id"
                        " JOIN chat_sessions s ON s.id = m.session_id, q"
                        " WHERE s.user_id = $1::uuid"
                        " ORDER BY fused.score DESC, fused.sim DESC NULLS LAST,"
                        "   m.created_at DESC, m.seq DESC LIMIT $5";

/* The query vector as a literal of the column's type: '{..}' for real[],
 * '[..]' for pgvector. NULL when a value is not finite or out of memory
 * (*bad tells which). */
static char *vector_literal(const float *v, int dim, bool pgvector, bool *bad) {
    *bad = false;
    size_t cap = (size_t)dim * 18 + 3;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t len = 0;
    s[len++] = pgvector ? '[' : '{';
    for (int i = 0; i < dim; i++) {
        if (!isfinite(v[i])) {
            *bad = true;
            free(s);
            return NULL;
        }
        /* %.9g keeps every bit of a float */
        len += (size_t)snprintf(s + len, cap - len, "%s%.9g", i ? "," : "",
                                (double)v[i]);
    }
    s[len++] = pgvector ? ']' : '}';
    s[len] = '\0';
    return s;
}

static lc_store_status check_query(const lc_search_query *q,
                                   lc_store_error *err) {
    if (!q || !q->user_id || !lc_store_is_uuid(q->user_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    if (q->session_id && !lc_store_is_uuid(q->session_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    if (q->exclude_session_id && !lc_store_is_uuid(q->exclude_session_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    const char *text = q->text ? q->text : "";
    lc_store_status st =
        lc_repo_check_text("query", text, LC_SEARCH_QUERY_MAX, err);
    if (st) return st;
    if (!text[0] && !q->qvec)
        return lc_store_fail(err, LC_STORE_INVALID, "search: query is empty");
    if (q->qvec && (q->dim < 1 || q->dim > 16384))
        return lc_store_fail(err, LC_STORE_INVALID,
                             "search: vector dimension %d is outside 1..16384",
                             q->dim);
    if (q->limit < 1 || q->limit > LC_SEARCH_MAX_LIMIT)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "search: limit must be 1..%d",
                             LC_SEARCH_MAX_LIMIT);
    return LC_STORE_OK;
}

/* How content_embedding is stored here: true for pgvector. */
static lc_store_status read_backend(PGconn *conn, bool *pgvector,
                                    lc_store_error *err) {
    PGresult *r = lc_db_query(conn,
                              "SELECT value FROM llamachat_settings"
                              " WHERE key = 'vector_backend'",
                              0, NULL, err);
    if (!r) return err ? err->status : LC_STORE_ERROR;
    *pgvector =
        PQntuples(r) > 0 && strcmp(PQgetvalue(r, 0, 0), "pgvector") == 0;
    PQclear(r);
    return LC_STORE_OK;
}

static double column_double(const PGresult *r, int row, int col,
                            double fallback) {
    if (PQgetisnull(r, row, col)) return fallback;
    return strtod(PQgetvalue(r, row, col), NULL);
}

static lc_store_status read_hits(const PGresult *r, lc_search_hit **out,
                                 size_t *n, lc_store_error *err) {
    int rows = PQntuples(r);
    if (rows == 0) return LC_STORE_OK;
    lc_search_hit *hits = calloc((size_t)rows, sizeof *hits);
    if (!hits) return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    bool oom = false;
    for (int i = 0; i < rows; i++) {
        lc_search_hit *h = &hits[i];
        lc_repo_copy(r, i, 0, h->message_id, sizeof h->message_id);
        lc_repo_copy(r, i, 1, h->session_id, sizeof h->session_id);
        h->session_title = lc_repo_dup(r, i, 2, &oom);
        lc_repo_copy(r, i, 3, h->role, sizeof h->role);
        h->content = lc_repo_dup(r, i, 4, &oom);
        h->snippet = lc_repo_dup(r, i, 5, &oom);
        h->score = column_double(r, i, 6, 0);
        h->similarity = column_double(r, i, 7, NAN);
        h->text_rank = column_double(r, i, 8, 0);
        lc_repo_copy(r, i, 9, h->created_at, sizeof h->created_at);
        /* a NULL title or content would be a schema violation; "" keeps
         * callers free of NULL checks */
        if (!h->session_title) h->session_title = strdup("");
        if (!h->content) h->content = strdup("");
        if (!h->snippet) h->snippet = strdup("");
        if (!h->session_title || !h->content || !h->snippet) oom = true;
    }
    if (oom) {
        lc_search_hits_free(hits, (size_t)rows);
        return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    }
    *out = hits;
    *n = (size_t)rows;
    return LC_STORE_OK;
}

lc_store_status lc_search_run(lc_db *db, const lc_search_query *q,
                              lc_search_hit **out, size_t *n, bool *hybrid,
                              lc_store_error *err) {
    *out = NULL;
    *n = 0;
    if (hybrid) *hybrid = false;
    lc_store_status st = check_query(q, err);
    if (st) return st;
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    bool pgvector = false;
    char *vec = NULL, *sql = NULL;
    st = read_backend(conn, &pgvector, err);
    /* pgvector's column holds 768 values: a query of another size cannot
     * match any row, so it is full-text only */
    bool use_vec = !st && q->qvec && (!pgvector || q->dim == 768);
    if (use_vec) {
        bool bad;
        vec = vector_literal(q->qvec, q->dim, pgvector, &bad);
        if (!vec)
            st = lc_store_fail(err, bad ? LC_STORE_INVALID : LC_STORE_ERROR,
                               bad ? "search: vector value is not finite"
                                   : "out of memory");
    }
    char vector_cte[2048] = "";
    if (!st && use_vec) {
        snprintf(vector_cte, sizeof vector_cte, vector_cte_fmt,
                 pgvector ? pgvector_similarity
                          : "lc_cosine(m.content_embedding, $7::real[])");
    }
    char fulltext_cte[2048];
    snprintf(fulltext_cte, sizeof fulltext_cte, fulltext_cte_fmt,
             q->any_word ? any_word_tsq : all_words_tsq);
    char fuse[2048];
    snprintf(fuse, sizeof fuse, fuse_fmt, LC_SEARCH_RRF_K, LC_SEARCH_RRF_K);
    size_t sql_len = strlen(fulltext_cte) + strlen(vector_cte) +
                     strlen(no_vector_cte) + strlen(fuse) + 16;
    if (!st && !(sql = malloc(sql_len)))
        st = lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    PGresult *r = NULL;
    if (!st) {
        snprintf(sql, sql_len, "WITH %s%s%s", fulltext_cte,
                 use_vec ? vector_cte : no_vector_cte, fuse);
        char lim[16], cand[16];
        snprintf(lim, sizeof lim, "%d", q->limit);
        snprintf(cand, sizeof cand, "%d", q->limit + LC_SEARCH_CANDIDATES);
        const char *params[7] = {q->user_id,
                                 q->text ? q->text : "",
                                 q->session_id,
                                 q->exclude_session_id,
                                 lim,
                                 cand,
                                 vec};
        char timeout[16];
        snprintf(timeout, sizeof timeout, "%d", q->timeout_ms);
        const char *tp[] = {timeout};
        /* session-level, so it is reset below before the connection goes
         * back to the pool */
        if (q->timeout_ms > 0)
            st = lc_db_exec(conn,
                            "SELECT set_config('statement_timeout', $1,"
                            " false)",
                            1, tp, err);
        if (!st) {
            r = lc_db_query(conn, sql, use_vec ? 7 : 6, params, err);
            if (!r) st = err ? err->status : LC_STORE_ERROR;
        }
        if (q->timeout_ms > 0) {
            lc_store_error ignored;
            lc_db_exec(conn, "RESET statement_timeout", 0, NULL, &ignored);
        }
    }
    if (!st) st = read_hits(r, out, n, err);
    if (!st && hybrid) *hybrid = use_vec;
    PQclear(r);
    free(sql);
    free(vec);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_search(lc_db *db, const char *user_id,
                          const char *query_text, const float *qvec, int dim,
                          const char *session_id, int limit,
                          lc_search_hit **out, size_t *n, lc_store_error *err) {
    lc_search_query q = {
        .user_id = user_id,
        .text = query_text,
        .qvec = qvec,
        .dim = dim,
        .session_id = session_id,
        .limit = limit,
    };
    return lc_search_run(db, &q, out, n, NULL, err);
}

lc_store_status lc_search_set_session_memory(lc_db *db, const char *user_id,
                                             const char *session_id,
                                             const char *memory_json,
                                             lc_store_error *err) {
    if (!lc_store_is_uuid(user_id) || !lc_store_is_uuid(session_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    lc_store_status st = lc_repo_check_text("memory", memory_json, 4096, err);
    if (st) return st;
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {user_id, session_id, memory_json};
    /* jsonb || merges at the top level: other metadata keys stay */
    PGresult *r = lc_db_query(
        conn,
        "UPDATE chat_sessions SET metadata = coalesce(metadata, '{}'::jsonb)"
        " || jsonb_build_object('memory', $3::jsonb)"
        " WHERE id = $2 AND user_id = $1 RETURNING id",
        3, params, err);
    st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such session");
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

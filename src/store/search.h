/*
 * Search over one user's messages: full-text and vector similarity, fused.
 *
 * Only the caller's messages are ever looked at: the statement starts from
 * chat_sessions filtered on user_id (btree), joins that user's messages, and
 * ranks them exactly. A global HNSW index is never asked for "the nearest
 * rows, then filter by owner": measured on pgvector, that loses most results
 * (DESIGN.md "Storage", reference/pgvector-measurements.md).
 *
 * Two ranked lists, each over the caller's (optionally one session's)
 * messages that are not deleted:
 *   full-text  to_tsvector('simple', content) @@ plainto_tsquery('simple', q)
 *              (every word; or any word, see any_word), ranked by
 * ts_rank_cd(..., 1) (cover density over log length) vector     cosine
 * similarity to the query vector, only when one is given and only over rows
 * whose embedding has the query's dimension: pgvector: 1 - (content_embedding
 * <=> q); array fallback: lc_cosine(content_embedding, q) (migration
 * 0003_search.sql) Each list keeps its best LC_SEARCH_CANDIDATES + limit rows.
 * The score is reciprocal-rank fusion (RRF, k = 60): score = sum over the lists
 * a message is in of 1 / (60 + rank) where rank starts at 1. A message first in
 * both lists scores 2/61. RRF needs no calibration between cosine values and
 * ts_rank_cd values, which live on unrelated scales. Ties go to the higher
 * cosine, then the newer message. Without a query vector the score is the
 * full-text term alone.
 */
#ifndef LC_STORE_SEARCH_H
#define LC_STORE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

#include "store/db.h"

#define LC_SEARCH_RRF_K 60
#define LC_SEARCH_CANDIDATES 50 /* extra rows each list keeps for fusion */
#define LC_SEARCH_MAX_LIMIT 100
#define LC_SEARCH_QUERY_MAX 1024 /* bytes of query text */

typedef struct lc_search_hit {
    char message_id[37];
    char session_id[37];
    char *session_title;
    char role[16];
    char *content;       /* the whole message */
    char *snippet;       /* ts_headline around the matched words */
    double score;        /* the fused score, see above */
    double similarity;   /* cosine to the query vector; NaN when none */
    double text_rank;    /* ts_rank_cd; 0 when the words did not match */
    char created_at[40]; /* RFC 3339, UTC */
} lc_search_hit;

void lc_search_hits_free(lc_search_hit *hits, size_t n);

typedef struct lc_search_query {
    const char *user_id;            /* the caller: the only owner searched */
    const char *text;               /* words, as typed (may be "" with qvec) */
    const float *qvec;              /* [dim] query embedding, or NULL */
    int dim;                        /* its length (ignored without qvec) */
    const char *session_id;         /* only this session, or NULL */
    const char *exclude_session_id; /* every session but this, or NULL */
    int limit;                      /* 1..LC_SEARCH_MAX_LIMIT */
    /* false: a full-text hit has every word (plainto_tsquery); true: any
     * word, the more the better (memory retrieval: a new message rarely
     * repeats every word of an earlier one) */
    bool any_word;
    /* > 0: the statement is cancelled after this many ms (an error), so a
     * caller on a latency budget (memory, before a turn) can fall back to
     * full-text, which is fast; the array fallback's exact cosine over a
     * very long history is not (docs/benchmarks.md) */
    int timeout_ms;
} lc_search_query;

/* Runs q; *out (malloc'd, free with lc_search_hits_free) gets the hits,
 * best first. A session filter naming a session that is not the user's
 * simply finds nothing. *hybrid (when non-NULL) says whether the vector
 * list took part. Bad input (no text and no vector, text not UTF-8, a
 * limit out of range, a non-finite vector value) is LC_STORE_INVALID. */
lc_store_status lc_search_run(lc_db *db, const lc_search_query *q,
                              lc_search_hit **out, size_t *n, bool *hybrid,
                              lc_store_error *err);

/* The same, in the shape of a plain call. */
lc_store_status lc_search(lc_db *db, const char *user_id,
                          const char *query_text, const float *qvec, int dim,
                          const char *session_id, int limit,
                          lc_search_hit **out, size_t *n, lc_store_error *err);

/* Merges {"memory": memory_json} into the session's metadata (memory_json
 * is a JSON object's text, checked by the caller). Not the user's session:
 * LC_STORE_NOT_FOUND. */
lc_store_status lc_search_set_session_memory(lc_db *db, const char *user_id,
                                             const char *session_id,
                                             const char *memory_json,
                                             lc_store_error *err);

#endif

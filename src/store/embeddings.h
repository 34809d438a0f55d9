/*
 * Message embeddings: the content_embedding column of chat_messages.
 *
 * The column's type was chosen at migration time and is recorded in
 * llamachat_settings.vector_backend:
 *   'pgvector'  vector(768) with an HNSW index: only 768-dimension vectors
 *               can be stored (the server refuses another model at start-up)
 *   'array'     real[] of any length (migration 0002 lifted the seed's
 *               768 check): vectors of any size are stored, and search
 *               compares only vectors of the query's size
 * Vectors travel as text literals in parameters, never as SQL text.
 */
#ifndef LC_STORE_EMBEDDINGS_H
#define LC_STORE_EMBEDDINGS_H

#include <stddef.h>

#include "store/db.h"

/* Largest vector accepted (bytes of the literal stay well under 1 MiB). */
#define LC_EMBEDDING_MAX_DIM 16384

/* 'pgvector' or 'array' into out (16 bytes). */
lc_store_status lc_embeddings_backend(lc_db *db, char out[16],
                                      lc_store_error *err);

/* Sets the embedding of one message (any owner: the caller is the server's
 * embedding service, not a user). A message that no longer exists is
 * LC_STORE_NOT_FOUND; a non-finite value, dim outside 1..MAX or, on
 * pgvector, dim != 768 is LC_STORE_INVALID. */
lc_store_status lc_embeddings_set(lc_db *db, const char *message_id,
                                  const float *v, int dim, lc_store_error *err);

/* A message without an embedding, for the backfill. */
typedef struct lc_embedding_todo {
    char id[37];
    long long seq; /* chat_messages.seq: the backfill's cursor */
    char *content;
} lc_embedding_todo;

void lc_embedding_todos_free(lc_embedding_todo *list, size_t n);

/* Up to limit (1..1000) messages that are not deleted and have no
 * embedding, with seq > after_seq, in seq order. A backfill pass starts at
 * after_seq = 0 and continues from the last row's seq, so a message that
 * cannot be embedded is skipped for the rest of the pass instead of being
 * fetched again and again. */
lc_store_status lc_embeddings_missing(lc_db *db, long long after_seq, int limit,
                                      lc_embedding_todo **out, size_t *n,
                                      lc_store_error *err);

/* How many messages have an embedding (all users). */
lc_store_status lc_embeddings_count(lc_db *db, long long *count,
                                    lc_store_error *err);

#endif

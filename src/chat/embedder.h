/*
 * The embedding service: one thread that owns an encoder model's context
 * and computes sentence embeddings for the server, away from the
 * generation thread (the scheduler never waits for it, nor it for the
 * scheduler).
 *
 * Work, in this order of priority:
 *   1. synchronous requests (lc_embedder_embed): the HTTP embedding APIs and
 *      search queries; the caller blocks until its vector is ready;
 *   2. stored messages (lc_embedder_submit): fire-and-forget; the vector is
 *      written to chat_messages.content_embedding. The queue is bounded: a
 *      message that does not fit is left to the backfill;
 *   3. the backfill: at start-up and then every backfill_interval_ms, the
 *      messages without an embedding (messages stored while no embedding
 *      model was configured, or dropped from a full queue) are embedded in
 *      batches, one message at a time so that 1 and 2 are never held up by
 *      more than one text.
 *
 * Task prefixes: models trained with them expect a prefix naming the task.
 * The rule (docs/api.md): when the model's name (general.name or its file
 * name) contains "nomic", stored messages are embedded as
 * "search_document: " + text and search queries as "search_query: " + text;
 * other models get no prefix. lc_embedder_embed adds none itself: the HTTP
 * APIs embed exactly what the client sent (as `llamachat embed` does), and
 * the search route prepends lc_embedder_prefix(e, true).
 *
 * A text longer than the model's context is cut to it (its first
 * n_ctx - 1 tokens and its last one, the end-of-text marker) for stored
 * messages; the HTTP APIs choose (truncate flag).
 */
#ifndef LC_CHAT_EMBEDDER_H
#define LC_CHAT_EMBEDDER_H

#include <stdbool.h>
#include <stddef.h>

#include "llamachat/engine.h"
#include "store/db.h"

typedef struct lc_embedder lc_embedder;

typedef struct lc_embedder_params {
    const char *name;         /* the model's name as served (file name) */
    int n_threads;            /* 0: all cores */
    int n_ctx;                /* 0: min(model's, 4096) */
    int queue_max;            /* stored messages waiting; 0: 1024 */
    int backfill_interval_ms; /* 0: 60000 */
    int backfill_batch;       /* rows fetched per query; 0: 32 */
    /* called on the service's thread after each embedding it stored (e.g.
     * to count it in the metrics); may be NULL */
    void (*on_stored)(void *ud);
    void *on_stored_ud;
} lc_embedder_params;

/* Starts the service for an encoder model (which stays the caller's and
 * must outlive the service). db may be NULL: then nothing is stored and
 * there is no backfill. NULL with err set on failure. */
lc_embedder *lc_embedder_new(lc_model *model, lc_db *db,
                             const lc_embedder_params *params, char *err,
                             size_t err_len);
/* Stops the thread (a request being computed finishes first; waiting
 * synchronous callers get an error; queued messages are left to the next
 * backfill) and frees the service. NULL is ignored. */
void lc_embedder_free(lc_embedder *e);

/* The vector size: the model's n_embd. */
int lc_embedder_dim(const lc_embedder *e);
/* The name the service was started with. */
const char *lc_embedder_name(const lc_embedder *e);
/* The model's GGUF general.name ("" when it has none). */
const char *lc_embedder_model_name(const lc_embedder *e);
/* The task prefix for queries (query = true) or stored documents: see the
 * rule above; "" for models without one. */
const char *lc_embedder_prefix(const lc_embedder *e, bool query);

/* Embeds text as given (no prefix added) into out [lc_embedder_dim], L2-
 * normalised; *dim receives the size and *n_tokens (when non-NULL) the
 * tokens evaluated. Waits at most timeout_ms (<= 0: 30000) for its turn in
 * the queue; the computation itself is then waited for. A text beyond the
 * context is an error unless truncate. Returns 0; -1 with err set when
 * the text cannot be embedded (too long, not tokenizable); -2 with err set
 * when the service is busy past the timeout or shutting down (worth a
 * retry). Thread-safe. */
int lc_embedder_embed(lc_embedder *e, const char *text, bool truncate,
                      float *out, int *dim, int *n_tokens, int timeout_ms,
                      char *err, size_t err_len);

/* Queues a stored message (copied) for embedding with the document prefix;
 * never blocks. False when the queue is full or the service stops (the
 * backfill then fills the row later). */
bool lc_embedder_submit(lc_embedder *e, const char *message_id,
                        const char *content);

/* Embeddings this service has written to the database so far. */
long long lc_embedder_n_stored(const lc_embedder *e);

#endif

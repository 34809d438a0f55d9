/*
 * The conversation service: one turn of a chat session.
 *
 * A turn: (1) the user message is committed to the database before any
 * generation starts; (2) the session's history (system prompt, earlier
 * messages, the new message) is rendered through the model's chat template
 * and tokenized; when it does not fit the context window, the oldest turns
 * are dropped (the system prompt is kept) and the result says how many;
 * a single message that alone does not fit is an error; (3) the prompt is
 * submitted to the scheduler with the session id as cache key, so the next
 * turn evaluates only its new tokens; (4) pieces of text are handed to the
 * caller as they are generated; (5) when generation ends (finished,
 * cancelled, client gone) the assistant message is committed with its
 * measured metrics, and the partial text when cancelled.
 *
 * Confidence (0..100) of a reply: 100 × the geometric mean of the
 * probabilities of the generated tokens under the sampling distribution,
 * i.e. 100 × exp(mean log p). Documented in docs/api.md.
 */
#ifndef LC_CHAT_CHAT_H
#define LC_CHAT_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "llamachat/engine.h"
#include "sched/sched.h"
#include "store/db.h"

typedef struct lc_chat lc_chat;

lc_chat *lc_chat_new(lc_db *db, lc_sched *sched, lc_model *model,
                     const char *model_name);
void lc_chat_free(lc_chat *c);

/* Called after each message of a turn is committed (the user message, then
 * the reply), on the turn's thread, with the message's id and text. It must
 * not block: the embedding service only queues them (chat/embedder.h). Set
 * it once, before the first turn. */
typedef void (*lc_chat_stored_fn)(void *ud, const char *message_id,
                                  const char *content);
void lc_chat_on_stored(lc_chat *c, lc_chat_stored_fn fn, void *ud);

/* Memory (chat/memory.h): how a turn embeds its message to search the
 * user's other sessions. Without it (or while it returns -1) retrieval is
 * full-text only. Set it once, before the first turn. */
typedef int (*lc_chat_embed_fn)(void *ud, const char *text, float *out,
                                int max_dim);
void lc_chat_set_memory_embed(lc_chat *c, lc_chat_embed_fn fn, void *ud);

typedef struct lc_turn_params {
    const char *user_id;
    const char *session_id;
    const char *message; /* NULL when regenerate */
    /* Regenerate the last reply: the session's last message, when it is an
     * assistant reply, is marked deleted and a new reply is generated for
     * the history that ends with the last user message. No user message is
     * stored (user_message_id stays ""). LC_TURN_INVALID when the session
     * has no user message to answer. */
    bool regenerate;
    lc_sampler_params sampling;
    int max_tokens; /* <= 0: default 512 */
    const char *const *stops;
    int n_stops;
} lc_turn_params;

/* Callbacks of a running turn; ud is the caller's. on_piece returns false
 * when the client has gone away (the turn is then cancelled and stored). */
typedef struct lc_turn_callbacks {
    void *ud;
    /* Called once the user message is committed, before generation. */
    void (*on_started)(void *ud, const char *user_message_id, int n_prompt,
                       int n_dropped_turns);
    bool (*on_piece)(void *ud, const char *text, int index);
    /* Polled between pieces: true asks to cancel (e.g. a cancel frame). */
    bool (*should_cancel)(void *ud);
} lc_turn_callbacks;

enum lc_turn_status {
    LC_TURN_OK,
    LC_TURN_NOT_FOUND,   /* no such session of this user: 404 */
    LC_TURN_TOO_LONG,    /* the message alone exceeds the context: 400 */
    LC_TURN_BUSY,        /* the queue is full: 503 + Retry-After */
    LC_TURN_UNAVAILABLE, /* database unavailable: 503 */
    LC_TURN_INVALID,     /* bad input (err says which): 400 */
    LC_TURN_ERROR,       /* anything else: 500 */
};

typedef struct lc_turn_result {
    char user_message_id[37];
    char assistant_message_id[37];
    char *text;                /* the reply (malloc'd; free it) */
    const char *finish_reason; /* "stop", "length", "cancelled", ... */
    lc_job_stats stats;
    int n_dropped_turns; /* context-overflow policy at work */
    int confidence;      /* 0..100 */
    double tokens_per_second;
    bool cuda_accelerated;
    int gpu_memory_used_mb;
} lc_turn_result;

enum lc_turn_status lc_chat_turn(lc_chat *c, const lc_turn_params *p,
                                 const lc_turn_callbacks *cb,
                                 lc_turn_result *out, char *err,
                                 size_t err_len);
void lc_turn_result_clear(lc_turn_result *r);

/* A title made from a first message: its first line, whitespace folded,
 * cut at a word boundary to at most max_chars characters. */
char *lc_chat_title_from_message(const char *message, int max_chars);

#endif

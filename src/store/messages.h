/*
 * Chat messages. Like sessions.h, every function takes the calling user's
 * id, and a session that is not the user's is LC_STORE_NOT_FOUND.
 *
 * A user message is committed by lc_messages_add_user before generation
 * starts; the assistant's reply is committed by lc_messages_add_assistant
 * when generation ends (also when it was cancelled: the metadata then says
 * so). Each insert also moves the session's updated_at, in one statement.
 */
#ifndef LC_STORE_MESSAGES_H
#define LC_STORE_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "store/db.h"

#define LC_MESSAGE_MAX (1 << 20) /* bytes of content */

typedef struct lc_message {
    char id[37];
    char session_id[37];
    char role[16]; /* "user", "assistant" or "system" */
    char *content;
    char *model; /* NULL when not recorded */
    /* The generation metrics; -1 where the column is NULL (user messages) */
    int tokens;
    int processing_time_ms;
    int tokens_per_second;
    int gpu_memory_used_mb;
    int confidence; /* 0..100 */
    bool cuda_accelerated;
    char created_at[40]; /* RFC 3339, UTC */
    char *metadata;      /* JSON object text */
} lc_message;

void lc_message_clear(lc_message *m);
void lc_messages_free(lc_message *list, size_t n);

/* What an assistant reply records: the seed's per-message metrics, all
 * measured by the caller. */
typedef struct lc_assistant_reply {
    const char *content;
    const char *model;
    int tokens;
    int processing_time_ms;
    int tokens_per_second;
    bool cuda_accelerated;
    int gpu_memory_used_mb;
    int confidence;       /* 0..100, or -1 for none */
    const char *metadata; /* a JSON object (sampling parameters, finish
                             reason, ...); NULL = {} */
} lc_assistant_reply;

/* Adds a user message (model may be NULL); id receives its uuid. */
lc_store_status lc_messages_add_user(lc_db *db, const char *user_id,
                                     const char *session_id,
                                     const char *content, const char *model,
                                     char id[37], lc_store_error *err);

/* Adds an assistant message; id receives its uuid. Metadata that is not a
 * JSON object, or a confidence outside 0..100, is LC_STORE_INVALID. */
lc_store_status lc_messages_add_assistant(lc_db *db, const char *user_id,
                                          const char *session_id,
                                          const lc_assistant_reply *reply,
                                          char id[37], lc_store_error *err);

/* Regenerate: marks the session's last message deleted (is_deleted) when
 * it is an assistant reply, so a new reply can take its place. deleted_id
 * receives its uuid, or "" when the last message is not a reply (nothing
 * changes then). LC_STORE_NOT_FOUND: no such session of this user. */
lc_store_status lc_messages_delete_last_reply(lc_db *db, const char *user_id,
                                              const char *session_id,
                                              char deleted_id[37],
                                              lc_store_error *err);

/* The session's messages, oldest first, skipping offset and returning at
 * most limit (1..10000). Deleted messages (is_deleted) are left out. */
lc_store_status lc_messages_list(lc_db *db, const char *user_id,
                                 const char *session_id, int limit, int offset,
                                 lc_message **out, size_t *n,
                                 lc_store_error *err);

/* Full-text search over all of the user's messages (PostgreSQL's 'simple'
 * configuration: words as written, lower-cased, no stemming). query is
 * plain words; the best matches come first, at most limit (1..1000). */
lc_store_status lc_messages_search(lc_db *db, const char *user_id,
                                   const char *query, int limit,
                                   lc_message **out, size_t *n,
                                   lc_store_error *err);

#endif

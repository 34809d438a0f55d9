/*
 * Chat sessions. Every function takes the calling user's id and touches
 * only that user's sessions: a session of another user is reported as
 * LC_STORE_NOT_FOUND, exactly like one that does not exist, so a caller
 * learns nothing about other users' ids.
 */
#ifndef LC_STORE_SESSIONS_H
#define LC_STORE_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "store/db.h"

#define LC_TITLE_MAX 512           /* bytes */
#define LC_SYSTEM_PROMPT_MAX 65536 /* bytes */

typedef struct lc_session {
    char id[37];
    char user_id[37];
    char *title; /* "" until given one */
    char *model;
    char *system_prompt; /* NULL when none */
    char created_at[40]; /* RFC 3339, UTC */
    char updated_at[40]; /* last message, rename or prompt change */
    bool is_active;
    char *metadata; /* JSON object text */
} lc_session;

void lc_session_clear(lc_session *s);
/* Clears and frees an array from lc_sessions_list. */
void lc_sessions_free(lc_session *list, size_t n);

/* Creates a session. title NULL means "" (the chat layer names it from the
 * first message); model NULL takes the column's default; system_prompt
 * may be NULL. out (may be NULL) gets the new session. */
lc_store_status lc_sessions_create(lc_db *db, const char *user_id,
                                   const char *title, const char *model,
                                   const char *system_prompt, lc_session *out,
                                   lc_store_error *err);

/* The user's sessions, most recently updated first, skipping offset and
 * returning at most limit (1..1000). *out is malloc'd (NULL when none). */
lc_store_status lc_sessions_list(lc_db *db, const char *user_id, int limit,
                                 int offset, lc_session **out, size_t *n,
                                 lc_store_error *err);

lc_store_status lc_sessions_get(lc_db *db, const char *user_id,
                                const char *session_id, lc_session *out,
                                lc_store_error *err);

lc_store_status lc_sessions_rename(lc_db *db, const char *user_id,
                                   const char *session_id, const char *title,
                                   lc_store_error *err);

/* prompt NULL removes the system prompt. */
lc_store_status lc_sessions_set_system_prompt(lc_db *db, const char *user_id,
                                              const char *session_id,
                                              const char *prompt,
                                              lc_store_error *err);

/* Deletes the session and its messages. */
lc_store_status lc_sessions_delete(lc_db *db, const char *user_id,
                                   const char *session_id, lc_store_error *err);

/* Sets updated_at to now (adding a message does this by itself). */
lc_store_status lc_sessions_touch(lc_db *db, const char *user_id,
                                  const char *session_id, lc_store_error *err);

#endif

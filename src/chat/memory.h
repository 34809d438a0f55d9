/*
 * Memory: before a turn, the user's earlier conversations are searched for
 * messages relevant to the new one, and the best are put into the prompt.
 *
 * Per session, in chat_sessions.metadata:
 *     {"memory": {"enabled": true, "top_k": 3, "max_tokens": 256}}
 * set through PATCH /api/sessions/:id {"memory": {...}}. Off by default.
 *
 * Retrieval: lc_search_run over the user's OTHER sessions (never this one,
 * whose history is in the prompt already; never another user's), with the
 * new message as the query: any of its words for full-text, and its
 * embedding when an embedding model is loaded (the caller's embed function).
 * The hybrid search may take 1.5 s at most (the array fallback's exact
 * cosine over a very long history is slow); past that, or when it fails,
 * retrieval is full-text only.
 * The top_k hits, best first, become one block of text:
 *     Relevant notes from earlier conversations:
 *     - (user, 2026-11-27) the text of the message
 * kept within max_tokens tokens of the chat model (a note that would cross
 * the budget is cut at a word boundary, and nothing after it is added).
 * The block is appended to the session's system prompt, so every chat
 * template renders it (not all accept two system messages), and the context
 * policy keeps it like the system prompt. The ids of the notes used are
 * recorded in the reply's metadata as "memory": [ids].
 */
#ifndef LC_CHAT_MEMORY_H
#define LC_CHAT_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "llamachat/engine.h"
#include "store/db.h"

#define LC_MEMORY_TOP_K_MAX 20
#define LC_MEMORY_TOKENS_MIN 16
#define LC_MEMORY_TOKENS_MAX 4096

typedef struct lc_memory_settings {
    bool enabled;
    int top_k;      /* 1..LC_MEMORY_TOP_K_MAX, default 3 */
    int max_tokens; /* LC_MEMORY_TOKENS_MIN..MAX, default 256 */
} lc_memory_settings;

/* The settings in a session's metadata text; defaults (disabled) when
 * absent or unreadable. */
void lc_memory_settings_from_metadata(const char *metadata,
                                      lc_memory_settings *out);

/* Checks a client's {"enabled"?, "top_k"?, "max_tokens"?} over base (the
 * current settings: fields not given keep their value). Unknown fields,
 * wrong types and values out of range are refused: -1 with err set. */
int lc_memory_settings_parse(const json_t *obj, const lc_memory_settings *base,
                             lc_memory_settings *out, char *err,
                             size_t err_len);

/* {"enabled":..,"top_k":..,"max_tokens":..} (a new reference). */
json_t *lc_memory_settings_json(const lc_memory_settings *s);

/* Embeds a query for retrieval: writes at most max_dim values into out and
 * returns how many, or -1 when no embedding is available (then retrieval
 * is full-text only). */
typedef int (*lc_memory_embed_fn)(void *ud, const char *text, float *out,
                                  int max_dim);

typedef struct lc_memory {
    char *notes;     /* the block of text, NULL when nothing was found */
    char (*ids)[37]; /* [n_ids] messages used */
    int n_ids;
} lc_memory;

/* Retrieves for one turn (see above). A failure of retrieval is not the
 * turn's failure: it returns -1 with err set and *out empty, and the turn
 * goes on without memory. */
int lc_memory_recall(lc_db *db, const lc_model *model,
                     const lc_memory_settings *s, const char *user_id,
                     const char *session_id, const char *message,
                     lc_memory_embed_fn embed, void *embed_ud, lc_memory *out,
                     char *err, size_t err_len);
void lc_memory_free(lc_memory *m);

/* Adds "memory": [ids] to a JSON object's text; returns a new malloc'd
 * text, or NULL when out of memory or metadata is not an object. */
char *lc_memory_add_to_metadata(const char *metadata, const lc_memory *m);

#endif

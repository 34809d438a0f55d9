/*
 * A session's stored conversation, ready for the chat template.
 *
 * The stored messages are read oldest first and reduced to what a template
 * accepts: user and assistant messages only, no empty assistant message (a
 * reply cancelled before its first token), and strictly alternating roles.
 * Two stored messages in a row with one role (a user message whose reply
 * was never generated because the queue was full or the server stopped)
 * are joined with a blank line, since several templates reject a
 * conversation whose roles do not alternate and the text is still part of
 * the conversation.
 *
 * The messages are grouped into turns: a turn begins at a user message and
 * holds the replies after it. The context policy drops whole turns, oldest
 * first.
 */
#ifndef LC_CHAT_HISTORY_H
#define LC_CHAT_HISTORY_H

#include "llamachat/engine.h"
#include "store/db.h"

typedef struct lc_history {
    lc_chat_message *msgs; /* [n]: role is a literal, content malloc'd */
    int n;
    int cap;
    int *turn_start; /* [n_turns]: index into msgs of each turn */
    int n_turns;
    int turn_cap;
} lc_history;

/* Reads every message of the session, page by page. */
lc_store_status lc_history_load(lc_history *h, lc_db *db, const char *user_id,
                                const char *session_id, lc_store_error *err);

/* Adds one message (role "user" or "assistant"; others are ignored) as
 * described above. Returns 0, or -1 when out of memory. */
int lc_history_add(lc_history *h, const char *role, const char *content);

void lc_history_free(lc_history *h);

#endif

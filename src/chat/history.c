/* Loading and normalising a session's conversation; see history.h. */
#include "chat/history.h"

#include <stdlib.h>
#include <string.h>

#include "store/messages.h"

/* Messages read per query: large enough that a long session needs few
 * round trips, small enough that one page is a modest result set. */
#define HISTORY_PAGE 1000

static int push_turn(lc_history *h, int start) {
    if (h->n_turns == h->turn_cap) {
        int cap = h->turn_cap ? 2 * h->turn_cap : 16;
        int *t = realloc(h->turn_start, (size_t)cap * sizeof *t);
        if (!t) return -1;
        h->turn_start = t;
        h->turn_cap = cap;
    }
    h->turn_start[h->n_turns++] = start;
    return 0;
}

/* Joins content to the last message with a blank line between. */
static int join_last(lc_history *h, const char *content) {
    char *prev = (char *)h->msgs[h->n - 1].content;
    size_t a = strlen(prev), b = strlen(content);
    char *s = malloc(a + 2 + b + 1);
    if (!s) return -1;
    memcpy(s, prev, a);
    memcpy(s + a, "\n\n", 2);
    memcpy(s + a + 2, content, b + 1);
    free(prev);
    h->msgs[h->n - 1].content = s;
    return 0;
}

int lc_history_add(lc_history *h, const char *role, const char *content) {
    const char *r;
    if (!role) return 0;
    if (!content) content = "";
    if (strcmp(role, "user") == 0) {
        r = "user";
    } else if (strcmp(role, "assistant") == 0) {
        r = "assistant";
        /* a reply cancelled before its first token says nothing */
        if (content[0] == '\0') return 0;
    } else {
        return 0; /* system text comes from the session, not from here */
    }
    if (h->n > 0 && strcmp(h->msgs[h->n - 1].role, r) == 0)
        return join_last(h, content);

    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 32;
        lc_chat_message *m = realloc(h->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        h->msgs = m;
        h->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return -1;
    /* a turn starts at each user message, and at the very first message
     * even if that is a reply, so every message belongs to a turn */
    if (r[0] == 'u' || h->n_turns == 0) {
        if (push_turn(h, h->n) < 0) {
            free(copy);
            return -1;
        }
    }
    h->msgs[h->n++] = (lc_chat_message){.role = r, .content = copy};
    return 0;
}

lc_store_status lc_history_load(lc_history *h, lc_db *db, const char *user_id,
                                const char *session_id, lc_store_error *err) {
    for (int offset = 0;; offset += HISTORY_PAGE) {
        lc_message *page = NULL;
        size_t n = 0;
        lc_store_status st = lc_messages_list(
            db, user_id, session_id, HISTORY_PAGE, offset, &page, &n, err);
        if (st != LC_STORE_OK) return st;
        for (size_t i = 0; i < n; i++) {
            if (lc_history_add(h, page[i].role, page[i].content) < 0) {
                lc_messages_free(page, n);
                return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
            }
        }
        lc_messages_free(page, n);
        if (n < HISTORY_PAGE) return LC_STORE_OK;
    }
}

void lc_history_free(lc_history *h) {
    for (int i = 0; i < h->n; i++) free((char *)h->msgs[i].content);
    free(h->msgs);
    free(h->turn_start);
    *h = (lc_history){0};
}

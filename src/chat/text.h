/*
 * Text helpers of the conversation service: repairing UTF-8, and a growing
 * string buffer for the reply as its pieces arrive.
 */
#ifndef LC_CHAT_TEXT_H
#define LC_CHAT_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A malloc'd copy of s[0..len) in which every byte that does not start a
 * well-formed sequence is replaced by U+FFFD, so that a reply is always
 * storable even if a model produced broken bytes. NULL when out of memory. */
char *lc_chat_utf8_sanitize(const char *s, size_t len);

typedef struct lc_strbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    bool oom; /* an append failed: the text is incomplete */
} lc_strbuf;

void lc_strbuf_append(lc_strbuf *b, const char *s, size_t n);
/* Hands the text over (an empty string when nothing was appended); NULL
 * when out of memory. The buffer is left empty. */
char *lc_strbuf_take(lc_strbuf *b);
void lc_strbuf_free(lc_strbuf *b);

#endif

/*
 * UTF-8 validation shared by every layer (the store, the chat service and
 * the server all refuse or repair text that is not UTF-8).
 *
 * Well formed means what PostgreSQL accepts: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing past U+10FFFF, no truncated
 * sequence at the end.
 */
#ifndef LC_UTIL_UTF8_H
#define LC_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the well-formed sequence at s, reading at most avail
 * bytes; 0 when it is not well formed. */
size_t lc_utf8_seq_len(const unsigned char *s, size_t avail);

/* True when s[0..len) is well-formed UTF-8; otherwise *bad (optional)
 * receives the offset of the first bad byte. */
bool lc_utf8_valid(const char *s, size_t len, size_t *bad);

#endif

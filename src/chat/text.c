/* UTF-8 checks and the reply buffer; see text.h. */
#include "chat/text.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

char *lc_chat_utf8_sanitize(const char *s, size_t len) {
    /* each bad byte (1 byte) becomes U+FFFD (3 bytes): 3 * len is enough */
    if (len > ((size_t)-1 - 1) / 3) return NULL;
    char *out = malloc(3 * len + 1);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = lc_utf8_seq_len(p + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i += 1;
        } else {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

void lc_strbuf_append(lc_strbuf *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

char *lc_strbuf_take(lc_strbuf *b) {
    char *s = b->data ? b->data : strdup("");
    if (b->oom) {
        free(s);
        s = NULL;
    }
    *b = (lc_strbuf){0};
    return s;
}

void lc_strbuf_free(lc_strbuf *b) {
    free(b->data);
    *b = (lc_strbuf){0};
}

/* Helpers shared by the repositories; see repo.h. */
#include "store/repo.h"

#include <stdlib.h>
#include <string.h>

char *lc_repo_dup(const PGresult *r, int row, int col, bool *oom) {
    if (PQgetisnull(r, row, col)) return NULL;
    char *s = strdup(PQgetvalue(r, row, col));
    if (!s && oom) *oom = true;
    return s;
}

void lc_repo_copy(const PGresult *r, int row, int col, char *out,
                  size_t out_len) {
    const char *v = PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
    size_t n = strlen(v);
    if (n >= out_len) n = out_len - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

int lc_repo_int(const PGresult *r, int row, int col, int fallback) {
    if (PQgetisnull(r, row, col)) return fallback;
    return atoi(PQgetvalue(r, row, col));
}

bool lc_repo_bool(const PGresult *r, int row, int col) {
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* Length of the UTF-8 sequence at s, or 0 when it is not well formed
 * (overlong forms, surrogates and values past U+10FFFF are rejected, as
 * PostgreSQL would). */
static size_t utf8_seq_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned min, cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

lc_store_status lc_repo_check_text(const char *field, const char *s,
                                   size_t max_bytes, lc_store_error *err) {
    if (!s) return lc_store_fail(err, LC_STORE_INVALID, "%s is missing", field);
    const unsigned char *p = (const unsigned char *)s;
    size_t len = 0;
    while (p[len]) {
        size_t n = utf8_seq_len(p + len);
        if (n == 0)
            return lc_store_fail(err, LC_STORE_INVALID,
                                 "%s is not valid UTF-8 (byte %zu)", field,
                                 len);
        len += n;
        if (len > max_bytes)
            return lc_store_fail(err, LC_STORE_INVALID,
                                 "%s is longer than %zu bytes", field,
                                 max_bytes);
    }
    return LC_STORE_OK;
}

/* Helpers shared by the repositories; see repo.h. */
#include "store/repo.h"
#include "util/utf8.h"

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

lc_store_status lc_repo_check_text(const char *field, const char *s,
                                   size_t max_bytes, lc_store_error *err) {
    if (!s) return lc_store_fail(err, LC_STORE_INVALID, "%s is missing", field);
    const unsigned char *p = (const unsigned char *)s;
    size_t len = 0;
    while (p[len]) {
        size_t n = lc_utf8_seq_len(p + len, strnlen((const char *)p + len, 4));
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

/*
 * Streaming detokenisation: token pieces in, whole UTF-8 characters out.
 *
 * A character can be spread over several tokens (byte-fallback tokens,
 * byte-level BPE pieces that end inside a character), so bytes of an
 * unfinished character wait in d->pending until the token that completes
 * it. Invalid bytes are replaced by U+FFFD so that what comes out is
 * always valid UTF-8 (JSON and SSE need that).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tokenizer_impl.h"

static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

void lc_detok_init(lc_detok *d, const lc_model *model, bool special) {
    memset(d, 0, sizeof *d);
    d->model = model;
    d->special = special;
    d->at_start = true;
}

/* Length of the valid UTF-8 character at s[0..n): > 0 when complete,
 * 0 when s is a valid but unfinished prefix, -1 when invalid. */
static int utf8_char(const unsigned char *s, int n) {
    unsigned char b = s[0];
    int need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF)
        need = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (b == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return -1;
    }
    for (int i = 1; i < need; i++) {
        if (i >= n) return 0;
        unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xBF;
        if (s[i] < lo_i || s[i] > hi_i) return -1;
    }
    return need;
}

/* Splits bytes into the valid text to emit (into out when out_len allows;
 * its length is returned) and an unfinished tail (its length in *tail). */
static int sanitize(const unsigned char *s, int n, char *out, int out_len,
                    int *tail) {
    int len = 0;
    int i = 0;
    *tail = 0;
    while (i < n) {
        int k = utf8_char(s + i, n - i);
        if (k == 0) {
            *tail = n - i;
            break;
        }
        const char *src = (const char *)s + i;
        int m = k;
        if (k < 0) {
            src = REPLACEMENT;
            m = 3;
            k = 1;
        }
        if (len + m <= out_len) memcpy(out + len, src, (size_t)m);
        len += m;
        i += k;
    }
    return len;
}

int lc_detok_push(lc_detok *d, int32_t token, char *out, int out_len) {
    const lc_vocab *v = d && d->model ? d->model->vocab : NULL;
    if (!v || (!out && out_len > 0) || out_len < 0) return 0;

    char small[256];
    char *piece = small;
    int n = lc_vocab_piece(v, token, d->special, small, sizeof small);
    if (n < 0) {
        piece = malloc((size_t)-n);
        if (!piece) return 0;
        n = lc_vocab_piece(v, token, d->special, piece, -n);
    }
    int skip = 0;
    /* SentencePiece's leading space belongs to no text at the start. */
    if (d->at_start && v->add_space_prefix && n > 0 && piece[0] == ' ')
        skip = 1;

    /* pending bytes, then the piece */
    int total = d->n_pending + n - skip;
    unsigned char *bytes = malloc((size_t)total + 1);
    if (!bytes) {
        if (piece != small) free(piece);
        return 0;
    }
    memcpy(bytes, d->pending, (size_t)d->n_pending);
    memcpy(bytes + d->n_pending, piece + skip, (size_t)(n - skip));

    int tail;
    int len = sanitize(bytes, total, out, out_len > 0 ? out_len - 1 : 0, &tail);
    int ret;
    if (len + 1 > out_len) {
        ret = -(len + 1); /* nothing consumed: the caller retries */
    } else {
        out[len] = '\0';
        /* A tail is at most 3 bytes of one unfinished character. */
        memcpy(d->pending, bytes + total - tail, (size_t)tail);
        d->n_pending = tail;
        if (n - skip > 0) d->at_start = false;
        ret = len;
    }
    free(bytes);
    if (piece != small) free(piece);
    return ret;
}

int lc_detok_flush(lc_detok *d, char *out, int out_len) {
    if (!d || (!out && out_len > 0) || out_len < 0) return 0;
    int len = d->n_pending > 0 ? 3 : 0;
    if (len + 1 > out_len) return -(len + 1);
    memcpy(out, REPLACEMENT, (size_t)len);
    out[len] = '\0';
    d->n_pending = 0;
    return len;
}

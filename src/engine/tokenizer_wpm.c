/*
 * WordPiece ("bert" vocabularies, as llama.cpp's converter stores them:
 * word-initial pieces carry a U+2581 prefix, continuation pieces have
 * their "##" removed).
 *
 * Normalisation as BERT's: optionally strip accents (each codepoint to
 * the first codepoint of its NFD form, then drop combining marks) and
 * lower-case; drop NUL, U+FFFD and control characters; split on
 * whitespace; punctuation, ASCII symbols and CJK ideographs become words
 * of their own. Each word, prefixed with U+2581, is then cut greedily into
 * the longest vocabulary pieces from the left; a word that cannot be cut
 * completely becomes the unknown token.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

static bool is_chinese(uint32_t c) {
    /* The ranges BERT uses (its 0x2B920 lower bound included). */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Cuts one word (already prefixed with U+2581) into pieces. */
static void wpm_word(const lc_vocab *v, const char *w, int n, lc_tokbuf *out) {
    int first = out->n;
    for (int i = 0; i < n;) {
        int j = i + v->max_token_len + 1;
        if (j > n) j = n;
        int32_t id = -1;
        for (; j > i; j--) {
            id = lc_vocab_find(v, w + i, (size_t)(j - i));
            if (id >= 0) break;
        }
        if (id < 0) {
            out->n = first; /* the whole word becomes [UNK] */
            break;
        }
        lc_tokbuf_push(out, id);
        i = j;
    }
    if (out->n == first && v->unk >= 0) lc_tokbuf_push(out, v->unk);
}

void lc_wpm_tokenize(const lc_vocab *v, const char *text, size_t len,
                     lc_tokbuf *out) {
    if (len == 0) return;
    /* Words are built in one buffer: U+2581 + up to 4 bytes per input
     * byte (lower-casing can lengthen a character's encoding). */
    char *w = malloc(len * 4 + 8);
    if (!w) {
        out->failed = true;
        return;
    }
    int wn = 0; /* bytes of the current word after its U+2581 prefix */
    memcpy(w, "\xe2\x96\x81", 3);

    size_t pos = 0;
    while (pos <= len) {
        bool end = pos == len;
        uint32_t c = end ? ' ' : lc_utf8_decode(text, len, &pos);
        if (!end && v->strip_accents) c = lc_cpt_nfd_first(c);
        unsigned f = lc_cpt_flags(c);
        if (f & LC_CPT_WHITESPACE) {
            if (wn > 0) wpm_word(v, w, 3 + wn, out);
            wn = 0;
            if (end) break;
            continue;
        }
        if (c == 0 || c == 0xFFFD || (f & LC_CPT_CONTROL)) continue;
        if (v->strip_accents && (f & LC_CPT_ACCENT_MARK)) continue;
        uint32_t lc = v->lowercase ? lc_cpt_tolower(c) : c;
        if ((f & LC_CPT_PUNCTUATION) || (c < 0x7F && (f & LC_CPT_SYMBOL)) ||
            is_chinese(c)) {
            /* A word of its own. */
            if (wn > 0) wpm_word(v, w, 3 + wn, out);
            wn = lc_utf8_encode(lc, w + 3);
            wpm_word(v, w, 3 + wn, out);
            wn = 0;
            continue;
        }
        wn += lc_utf8_encode(lc, w + 3 + wn);
    }
    free(w);
}

/*
 * Token pieces: the bytes a token stands for. SPM and WPM pieces turn
 * U+2581 back into spaces; byte-level BPE pieces map their alphabet back
 * to bytes; <0xXX> tokens give one raw byte; control and unknown tokens
 * give their text only when asked for.
 */
#include <stdio.h>
#include <string.h>

#include "tokenizer_impl.h"

/* -------------------------------------------------------------- pieces */

static int copy_out(const char *s, int n, char *buf, int buf_len) {
    if (n > buf_len) return -n;
    if (n > 0) memcpy(buf, s, (size_t)n);
    return n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* <0xXX> -> XX (as llama.cpp reads characters 3 and 4). */
static int byte_of_token(const lc_token_info *t) {
    if (t->len < 5) return -1;
    int hi = hexval(t->text[3]), lo = hexval(t->text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* SPM/WPM text with U+2581 turned back into spaces. */
static int unescape_spaces(const lc_token_info *t, char *buf, int buf_len) {
    int n = 0;
    for (uint32_t i = 0; i < t->len;) {
        char c = t->text[i];
        if (i + 3 <= t->len && memcmp(t->text + i, "\xe2\x96\x81", 3) == 0) {
            c = ' ';
            i += 3;
        } else {
            i++;
        }
        if (n < buf_len) buf[n] = c;
        n++;
    }
    return n > buf_len ? -n : n;
}

/* Byte-level BPE text back to the bytes it encodes. A character outside
 * the 256-character alphabet is written as llama.cpp does:
 * "[UNK_BYTE_0x<its utf-8 in hex><token text>]". */
static int decode_byte_level(const lc_token_info *t, char *buf, int buf_len) {
    int n = 0;
    size_t pos = 0;
    while (pos < t->len) {
        size_t start = pos;
        uint32_t cpt = lc_utf8_decode(t->text, t->len, &pos);
        int b = lc_cpt_to_byte(cpt);
        if (b >= 0) {
            if (n < buf_len) buf[n] = (char)b;
            n++;
            continue;
        }
        char tmp[16];
        int k = snprintf(tmp, sizeof tmp, "[UNK_BYTE_0x");
        for (int j = 0; j < k; j++, n++)
            if (n < buf_len) buf[n] = tmp[j];
        char enc[4];
        int el = lc_utf8_encode(cpt, enc);
        (void)start;
        for (int j = 0; j < el; j++) {
            snprintf(tmp, sizeof tmp, "%02x", (unsigned char)enc[j]);
            for (int q = 0; q < 2; q++, n++)
                if (n < buf_len) buf[n] = tmp[q];
        }
        for (uint32_t j = 0; j < t->len; j++, n++)
            if (n < buf_len) buf[n] = t->text[j];
        if (n < buf_len) buf[n] = ']';
        n++;
    }
    return n > buf_len ? -n : n;
}

int lc_vocab_piece(const lc_vocab *v, int32_t token, bool special, char *buf,
                   int buf_len) {
    if (!v || token < 0 || token >= v->n_tokens) return 0;
    if (buf_len < 0 || (!buf && buf_len > 0)) return 0;
    const lc_token_info *t = &v->tokens[token];
    const uint32_t ctrl = LC_ATTR_UNKNOWN | LC_ATTR_CONTROL;
    if (!special && (t->attr & ctrl)) return 0;
    if (t->attr & (ctrl | LC_ATTR_USER_DEFINED))
        return copy_out(t->text, (int)t->len, buf, buf_len);
    if (t->attr & LC_ATTR_NORMAL) {
        if (v->kind == LC_VOCAB_BPE) return decode_byte_level(t, buf, buf_len);
        return unescape_spaces(t, buf, buf_len);
    }
    if (t->attr & LC_ATTR_BYTE) {
        int b = byte_of_token(t);
        if (b < 0) return 0;
        char c = (char)b;
        return copy_out(&c, 1, buf, buf_len);
    }
    return 0; /* unused and undefined tokens render as nothing */
}

/*
 * Session titles from a first message: lc_chat_title_from_message.
 *
 * The title is the first line that has any text, with runs of whitespace
 * folded into one space and the ends trimmed. A line longer than max_chars
 * characters (code points, not bytes) is cut at the last space that keeps it
 * within max_chars, so no word is split; only a first word that alone is too
 * long is cut inside, at a character boundary.
 */
#include "chat/chat.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

#include "chat/text.h"

static bool is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static bool is_newline(unsigned char c) {
    return c == '\n' || c == '\r';
}

/* Bytes of the character at s (1 for a byte that is not well-formed UTF-8,
 * so that broken input still advances one byte at a time). */
static size_t char_len(const unsigned char *s) {
    size_t n = lc_utf8_seq_len(s, strnlen((const char *)s, 4));
    return n ? n : 1;
}

char *lc_chat_title_from_message(const char *message, int max_chars) {
    if (!message || max_chars <= 0) return NULL;
    const unsigned char *p = (const unsigned char *)message;

    /* skip blank lines: the title comes from the first line with text */
    for (;;) {
        const unsigned char *q = p;
        while (is_space(*q)) q++;
        if (!is_newline(*q)) {
            p = q;
            break;
        }
        p = q + 1;
    }

    /* the folded line is never longer than the line itself */
    size_t line_len = 0;
    while (p[line_len] && !is_newline(p[line_len])) line_len++;
    char *out = malloc(line_len + 1);
    if (!out) return NULL;

    size_t o = 0;          /* bytes written */
    int chars = 0;         /* characters written */
    size_t last_space = 0; /* bytes before the last space written, or 0 */
    bool pending_space = false;
    size_t i = 0;
    while (i < line_len) {
        if (is_space(p[i])) {
            pending_space = o > 0; /* no leading space */
            i++;
            continue;
        }
        size_t n = char_len(p + i);
        if (i + n > line_len) n = line_len - i;
        int need = chars + (pending_space ? 1 : 0) + 1;
        if (need > max_chars) {
            /* Too long. After a whole word (a space was pending) the text
             * already ends at a word boundary; inside a word, go back to
             * the last space, unless the first word alone is too long. */
            if (!pending_space && last_space > 0) o = last_space;
            break;
        }
        if (pending_space) {
            last_space = o;
            out[o++] = ' ';
            chars++;
            pending_space = false;
        }
        memcpy(out + o, p + i, n);
        o += n;
        chars++;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/*
 * Unicode facts the tokenizers need: UTF-8 decoding with llama.cpp's
 * error handling, codepoint classes (from utf8proc's general categories),
 * lower-casing, NFD and GPT-2's byte-level alphabet.
 */
#include <utf8proc.h>

#include "tokenizer_impl.h"

int lc_utf8_len(unsigned char first) {
    /* By the high nibble, as SentencePiece splits text into characters:
     * stray continuation bytes count as one-byte characters. */
    static const int LEN[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return LEN[first >> 4];
}

static bool is_cont(const char *s, size_t len, size_t i) {
    return i < len && ((unsigned char)s[i] & 0xc0) == 0x80;
}

uint32_t lc_utf8_decode(const char *s, size_t len, size_t *pos) {
    size_t i = *pos;
    unsigned char b = (unsigned char)s[i];
    uint32_t cpt;
    int n;
    /* Overlong forms are accepted (as llama.cpp does); truncated and
     * stray bytes are not. */
    if (b < 0x80) {
        cpt = b;
        n = 1;
    } else if ((b & 0xe0) == 0xc0 && is_cont(s, len, i + 1)) {
        cpt = ((uint32_t)(b & 0x1f) << 6) | ((unsigned char)s[i + 1] & 0x3f);
        n = 2;
    } else if ((b & 0xf0) == 0xe0 && is_cont(s, len, i + 1) &&
               is_cont(s, len, i + 2)) {
        cpt = ((uint32_t)(b & 0x0f) << 12) |
              ((uint32_t)((unsigned char)s[i + 1] & 0x3f) << 6) |
              ((unsigned char)s[i + 2] & 0x3f);
        n = 3;
    } else if ((b & 0xf8) == 0xf0 && is_cont(s, len, i + 1) &&
               is_cont(s, len, i + 2) && is_cont(s, len, i + 3)) {
        cpt = ((uint32_t)(b & 0x07) << 18) |
              ((uint32_t)((unsigned char)s[i + 1] & 0x3f) << 12) |
              ((uint32_t)((unsigned char)s[i + 2] & 0x3f) << 6) |
              ((unsigned char)s[i + 3] & 0x3f);
        n = 4;
        if (cpt > 0x10FFFF) {
            cpt = 0xFFFD;
            n = 1;
        }
    } else {
        cpt = 0xFFFD; /* replacement character, one byte consumed */
        n = 1;
    }
    *pos = i + (size_t)n;
    return cpt;
}

int lc_utf8_encode(uint32_t cpt, char *out) {
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (char)(0xc0 | (cpt >> 6));
        out[1] = (char)(0x80 | (cpt & 0x3f));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xe0 | (cpt >> 12));
        out[1] = (char)(0x80 | ((cpt >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cpt & 0x3f));
        return 3;
    }
    if (cpt > 0x10FFFF) cpt = 0xFFFD;
    if (cpt < 0x10000) return lc_utf8_encode(cpt, out);
    out[0] = (char)(0xf0 | (cpt >> 18));
    out[1] = (char)(0x80 | ((cpt >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cpt >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cpt & 0x3f));
    return 4;
}

/* Unicode's White_Space property: what llama.cpp's \s means. */
static bool is_whitespace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

unsigned lc_cpt_flags(uint32_t cpt) {
    if (cpt > 0x10FFFF) return 0;
    unsigned f = 0;
    switch (utf8proc_category((utf8proc_int32_t)cpt)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        f = LC_CPT_LETTER;
        break;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        f = LC_CPT_ACCENT_MARK;
        break;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        f = LC_CPT_NUMBER;
        break;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        f = LC_CPT_PUNCTUATION;
        break;
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
        f = LC_CPT_SYMBOL;
        break;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        f = LC_CPT_SEPARATOR;
        break;
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
        f = LC_CPT_CONTROL;
        break;
    default:
        f = 0;
        break; /* unassigned */
    }
    if (is_whitespace(cpt)) f |= LC_CPT_WHITESPACE;
    return f;
}

uint32_t lc_cpt_tolower(uint32_t cpt) {
    if (cpt > 0x10FFFF) return cpt;
    return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cpt);
}

uint32_t lc_cpt_nfd_first(uint32_t cpt) {
    if (cpt > 0x10FFFF) return cpt;
    utf8proc_int32_t out[32];
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)cpt, out, 32,
                                                 UTF8PROC_DECOMPOSE, &last);
    return n > 0 ? (uint32_t)out[0] : cpt;
}

/* GPT-2's byte-level alphabet: printable Latin-1 bytes stand for
 * themselves; the other 68 bytes take codepoints 256, 257, ... in byte
 * order, so that every byte is a visible character. */
static bool byte_is_printable(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) ||
           (b >= 0xAE && b <= 0xFF);
}

/* The 68 non-printable bytes are 0x00-0x20 (33), 0x7F-0xA0 (34), 0xAD. */
uint32_t lc_byte_to_cpt(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 256u + b;
    if (b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    return 256u + 67u; /* 0xAD, soft hyphen */
}

int lc_cpt_to_byte(uint32_t cpt) {
    if (cpt < 256) return byte_is_printable((int)cpt) ? (int)cpt : -1;
    if (cpt < 256 + 33) return (int)(cpt - 256);
    if (cpt < 256 + 67) return (int)(cpt - 256 - 33 + 0x7F);
    if (cpt == 256 + 67) return 0xAD;
    return -1;
}

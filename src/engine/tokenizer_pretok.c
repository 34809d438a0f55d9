/*
 * Pre-tokenizers of byte-level BPE vocabularies: the regexes each model
 * family splits text with before BPE, as hand-written matchers over
 * codepoints.
 *
 * A family is a list of stages. Each stage refines the current list of
 * words: inside each word it finds the regex's matches left to right (as a
 * regex iterator does), and both the matches and the text between them
 * become words. A matcher therefore only answers "how long is the match
 * starting here" (0 = none); it never looks outside its word.
 *
 * Two kinds of character classes appear, because llama.cpp evaluates the
 * regexes two ways and the fixtures depend on the difference:
 *   - the GPT-2 and Llama 3 regexes have dedicated matchers that test
 *     codepoint flags; there a codepoint of no known category is neither
 *     letter, number, whitespace nor "other";
 *   - the remaining regexes run on a "collapsed" text in which every
 *     non-ASCII codepoint becomes one byte standing for its category
 *     (number, letter, punctuation, mark, symbol; whitespace; anything
 *     else), so \p{L} is [A-Za-z] plus the letter byte, \p{P} is ASCII
 *     punctuation plus the punctuation byte, and [^...] classes include
 *     unassigned codepoints.
 * Regexes without \p{..} match raw codepoints (non-ASCII whitespace still
 * counts as \s).
 */
#include <stdlib.h>

#include "tokenizer_impl.h"

/* ---------------------------------------------------- character classes */

/* Collapsed category of a codepoint. */
enum {
    COL_OTHER = 0xD0,
    COL_NUMBER = 0xD1,
    COL_LETTER = 0xD2,
    COL_PUNCT = 0xD3,
    COL_MARK = 0xD4,
    COL_SYMBOL = 0xD5,
    COL_SPACE = 0x0B, /* non-ASCII whitespace becomes vertical tab */
};

static uint32_t collapse(uint32_t c) {
    if (c < 128) return c;
    unsigned f = lc_cpt_flags(c);
    if (f & LC_CPT_WHITESPACE) return COL_SPACE;
    if (f & LC_CPT_NUMBER) return COL_NUMBER;
    if (f & LC_CPT_LETTER) return COL_LETTER;
    if (f & LC_CPT_PUNCTUATION) return COL_PUNCT;
    if (f & LC_CPT_ACCENT_MARK) return COL_MARK;
    if (f & LC_CPT_SYMBOL) return COL_SYMBOL;
    return COL_OTHER;
}

/* Classes over collapsed (or raw, for the ASCII part) characters. */
static bool c_space(uint32_t x) {
    return x == ' ' || (x >= '\t' && x <= '\r');
}

static bool c_digit(uint32_t x) {
    return x >= '0' && x <= '9';
}

static bool c_number(uint32_t x) {
    return x == COL_NUMBER || c_digit(x);
}

static bool c_letter(uint32_t x) {
    return x == COL_LETTER || (x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z');
}

/* \p{P}: the ASCII characters of category P, and the punctuation byte. */
static bool c_punct(uint32_t x) {
    if (x == COL_PUNCT) return true;
    switch (x) {
    case '!':
    case '"':
    case '#':
    case '%':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case ',':
    case '-':
    case '.':
    case '/':
    case ':':
    case ';':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '_':
    case '{':
    case '}':
        return true;
    default:
        return false;
    }
}

static bool c_newline(uint32_t x) {
    return x == '\r' || x == '\n';
}

typedef struct range {
    uint32_t lo, hi;
} range;

static bool in_ranges(uint32_t c, const range *r, int n) {
    for (int i = 0; i < n; i++)
        if (c >= r[i].lo && c <= r[i].hi) return true;
    return false;
}

/* deepseek-llm's letters: the cased letters (Lu, Ll, Lt) of Unicode. */
static const range DS_LETTERS[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},
    {0xC0, 0xD6},       {0xD8, 0xF6},       {0xF8, 0x1BA},
    {0x1BC, 0x1BF},     {0x1C4, 0x293},     {0x295, 0x2AF},
    {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},
    {0x38C, 0x38C},     {0x38E, 0x3A1},     {0x3A3, 0x3F5},
    {0x3F7, 0x481},     {0x48A, 0x52F},     {0x531, 0x556},
    {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},
    {0x1D6B, 0x1D77},   {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},   {0x1F48, 0x1F4D},
    {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},
    {0x1FB6, 0x1FBC},   {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},
    {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},   {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},
    {0x2115, 0x2115},   {0x2119, 0x211D},   {0x2124, 0x2124},
    {0x2126, 0x2126},   {0x2128, 0x2128},   {0x212A, 0x212D},
    {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},
    {0x2C00, 0x2C7B},   {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},
    {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},   {0xA680, 0xA69B},
    {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A},   {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* deepseek-llm's punctuation: ASCII and full-width punctuation, curly
 * quotes, and U+3000..U+3002 (whose U+3000 is whitespace, so never). */
static const range DS_PUNCT[] = {
    {0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

/* CJK ideographs, U+0800..U+4E00 and Hangul, as the deepseek regexes. */
static const range DS_CJK[] = {
    {0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

#define N_RANGES(r) ((int)(sizeof(r) / sizeof((r)[0])))

/* ------------------------------------------------------------- stages */

/* A word being matched: raw codepoints and collapsed ones, [0, n). */
typedef struct span {
    const uint32_t *raw;
    const uint32_t *col;
    int n;
} span;

typedef int (*matcher)(const span *s, int pos);

static int run_of(const span *s, int pos, bool (*cls)(uint32_t)) {
    int k = 0;
    while (pos + k < s->n && cls(s->col[pos + k])) k++;
    return k;
}

/* "[\r\n]" */
static int m_newline(const span *s, int pos) {
    return c_newline(s->col[pos]) ? 1 : 0;
}

/* "\p{N}" */
static int m_number1(const span *s, int pos) {
    return c_number(s->col[pos]) ? 1 : 0;
}

/* "\p{N}+" */
static int m_numbers(const span *s, int pos) {
    return run_of(s, pos, c_number);
}

/* "[0-9][0-9][0-9]" (raw ASCII digits only) */
static int m_three_digits(const span *s, int pos) {
    if (pos + 3 > s->n) return 0;
    for (int i = 0; i < 3; i++)
        if (!c_digit(s->raw[pos + i])) return 0;
    return 3;
}

static bool c_punct_sym(uint32_t x) {
    return c_punct(x) || x == '$' || x == '+' || x == '<' || x == '=' ||
           x == '>' || x == '^' || x == '~' || x == '|';
}

static bool c_punct_sym_bt(uint32_t x) {
    return c_punct_sym(x) || x == '`';
}

/* "[\p{P}\$\+<=>\^~\|]+" */
static int m_punct_sym(const span *s, int pos) {
    return run_of(s, pos, c_punct_sym);
}

/* falcon: "[\p{P}\$\+<=>\^~\|`]+" */
static int m_punct_sym_bt(const span *s, int pos) {
    return run_of(s, pos, c_punct_sym_bt);
}

/* "\s?X+" where X is a class: the optional space is tried first. */
static int opt_space_then(const span *s, int pos, bool (*cls)(uint32_t)) {
    if (c_space(s->col[pos]) && pos + 1 < s->n) {
        int k = run_of(s, pos + 1, cls);
        if (k > 0) return 1 + k;
    }
    return run_of(s, pos, cls);
}

/* deepseek-coder: "\s?\p{L}+", "\s?\p{P}+" */
static int m_space_letters(const span *s, int pos) {
    return opt_space_then(s, pos, c_letter);
}

static int m_space_punct(const span *s, int pos) {
    return opt_space_then(s, pos, c_punct);
}

/* Raw-codepoint classes: the regex sees non-ASCII whitespace as \v. */
static bool raw_space(const span *s, int i) {
    return c_space(s->col[i]);
}

static int raw_run(const span *s, int pos, const range *r, int nr) {
    int k = 0;
    while (pos + k < s->n && !raw_space(s, pos + k) &&
           in_ranges(s->raw[pos + k], r, nr))
        k++;
    return k;
}

static int raw_opt_space_then(const span *s, int pos, const range *r, int nr) {
    if (raw_space(s, pos) && pos + 1 < s->n) {
        int k = raw_run(s, pos + 1, r, nr);
        if (k > 0) return 1 + k;
    }
    return raw_run(s, pos, r, nr);
}

/* deepseek-llm: "\s?[A-Za-zµÀ-Ö...]+" */
static int m_ds_letters(const span *s, int pos) {
    return raw_opt_space_then(s, pos, DS_LETTERS, N_RANGES(DS_LETTERS));
}

/* deepseek-llm: "\s?[!-/:-~！-／：-～‘-‟　-。]+" */
static int m_ds_punct(const span *s, int pos) {
    return raw_opt_space_then(s, pos, DS_PUNCT, N_RANGES(DS_PUNCT));
}

/* "[一-龥ࠀ-一가-퟿]+" */
static int m_ds_cjk(const span *s, int pos) {
    return raw_run(s, pos, DS_CJK, N_RANGES(DS_CJK));
}

/* "\s+$": whitespace up to the end of the word. */
static int m_trailing_space(const span *s, int pos) {
    for (int i = pos; i < s->n; i++)
        if (!raw_space(s, i)) return 0;
    return s->n - pos;
}

/* Contractions "'s|'t|'re|'ve|'m|'ll|'d"; case-insensitive when asked. */
static int contraction(const span *s, int pos, bool any_case) {
    if (s->raw[pos] != '\'' || pos + 1 >= s->n) return 0;
    uint32_t a = s->raw[pos + 1];
    uint32_t b = pos + 2 < s->n ? s->raw[pos + 2] : 0;
    if (any_case) {
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
        (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* Whitespace tail shared by the Qwen2 regex:
 * "\s*[\r\n]+|\s+(?!\S)|\s+" */
static int space_tail(const span *s, int pos, bool newline_alt) {
    int k = 0, last_nl = -1;
    while (pos + k < s->n && c_space(s->col[pos + k])) {
        if (c_newline(s->col[pos + k])) last_nl = pos + k;
        k++;
    }
    if (k == 0) return 0;
    if (newline_alt && last_nl >= 0) return last_nl + 1 - pos;
    if (pos + k == s->n) return k; /* nothing follows: (?!\S) holds */
    if (k > 1) return k - 1;       /* leave one space for the next word */
    return k;
}

static bool c_other(uint32_t x) {
    return !c_space(x) && !c_letter(x) && !c_number(x);
}

/* Qwen2 (collapsed): "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]
 * |'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*
 * |\s*[\r\n]+|\s+(?!\S)|\s+" */
static int m_qwen2(const span *s, int pos) {
    int k = contraction(s, pos, true);
    if (k) return k;
    uint32_t x = s->col[pos];
    if (!c_newline(x) && !c_letter(x) && !c_number(x) && pos + 1 < s->n &&
        c_letter(s->col[pos + 1]))
        return 1 + run_of(s, pos + 1, c_letter);
    if (c_letter(x)) return run_of(s, pos, c_letter);
    if (c_number(x)) return 1;
    int start = pos;
    if (x == ' ' && pos + 1 < s->n && c_other(s->col[pos + 1])) start++;
    k = run_of(s, start, c_other);
    if (k > 0) {
        int end = start + k;
        while (end < s->n && c_newline(s->col[end])) end++;
        return end - pos;
    }
    return space_tail(s, pos, true);
}

/* GPT-2 (flags): "'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+
 * | ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+". Unassigned codepoints match none of
 * the classes and become one-character words. */
static unsigned fl(const span *s, int i) {
    return i < s->n ? lc_cpt_flags(s->raw[i]) : 0;
}

static bool fl_other(unsigned f) {
    return f && !(f & (LC_CPT_WHITESPACE | LC_CPT_LETTER | LC_CPT_NUMBER));
}

static int m_gpt2(const span *s, int pos) {
    int k = contraction(s, pos, false);
    if (k) return k;
    uint32_t c = s->raw[pos];
    unsigned f2 = c == ' ' ? fl(s, pos + 1) : fl(s, pos);
    int i = pos + (c == ' ');
    if (f2 & LC_CPT_LETTER) {
        while (fl(s, i) & LC_CPT_LETTER) i++;
        return i - pos;
    }
    if (f2 & LC_CPT_NUMBER) {
        while (fl(s, i) & LC_CPT_NUMBER) i++;
        return i - pos;
    }
    if (fl_other(f2)) {
        while (fl_other(fl(s, i))) i++;
        return i - pos;
    }
    int ws = 0;
    while (fl(s, pos + ws) & LC_CPT_WHITESPACE) ws++;
    if (ws > 1 && pos + ws < s->n) return ws - 1;
    if (ws > 0) return ws;
    return 1;
}

/* Llama 3 (flags): "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+
 * |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+" */
static int m_llama3(const span *s, int pos) {
    int k = contraction(s, pos, true);
    if (k) return k;
    uint32_t c = s->raw[pos];
    unsigned f = fl(s, pos);
    if (!(c == '\r' || c == '\n' || (f & LC_CPT_NUMBER))) {
        if ((f & LC_CPT_LETTER) || (fl(s, pos + 1) & LC_CPT_LETTER)) {
            int i = pos + 1;
            while (fl(s, i) & LC_CPT_LETTER) i++;
            return i - pos;
        }
    }
    if (f & LC_CPT_NUMBER) {
        int i = pos;
        while (i - pos < 3 && (fl(s, i) & LC_CPT_NUMBER)) i++;
        return i - pos;
    }
    unsigned f2 = c == ' ' ? fl(s, pos + 1) : f;
    /* The first test looks at the flags of `c` itself (so a space followed
     * by punctuation qualifies), the loop at each following codepoint. */
    if (!(f2 & (LC_CPT_WHITESPACE | LC_CPT_LETTER | LC_CPT_NUMBER)) && f) {
        int i = pos + (c == ' ');
        while (fl_other(fl(s, i))) i++;
        while (i < s->n && (s->raw[i] == '\r' || s->raw[i] == '\n')) i++;
        return i - pos;
    }
    int ws = 0, last_nl = -1;
    while (fl(s, pos + ws) & LC_CPT_WHITESPACE) {
        uint32_t c2 = s->raw[pos + ws];
        if (c2 == '\r' || c2 == '\n') last_nl = pos + ws;
        ws++;
    }
    if (last_nl >= 0) return last_nl + 1 - pos;
    if (ws > 1 && pos + ws < s->n) return ws - 1;
    if (ws > 0) return ws;
    return 1;
}

/* ------------------------------------------------------------ families */

#define MAX_STAGES 6

typedef struct family {
    matcher stages[MAX_STAGES];
    int n;
} family;

static family family_of(enum lc_pre_kind pre) {
    switch (pre) {
    case LC_PRE_GPT2:
        return (family){{m_gpt2}, 1};
    case LC_PRE_LLAMA3:
        return (family){{m_llama3}, 1};
    case LC_PRE_QWEN2:
        return (family){{m_qwen2}, 1};
    case LC_PRE_DEEPSEEK_LLM:
        return (family){{m_newline, m_ds_letters, m_ds_punct, m_trailing_space,
                         m_ds_cjk, m_numbers},
                        6};
    case LC_PRE_DEEPSEEK_CODER:
        return (family){
            {m_newline, m_space_letters, m_space_punct, m_ds_cjk, m_number1},
            5};
    case LC_PRE_FALCON:
        return (family){{m_punct_sym_bt, m_gpt2, m_three_digits}, 3};
    case LC_PRE_STARCODER:
        return (family){{m_number1, m_gpt2}, 2};
    case LC_PRE_DEFAULT:
    default:
        return (family){{m_punct_sym, m_gpt2, m_numbers, m_three_digits}, 4};
    }
}

/* Splits each word of (lens, n_words) by one stage into out. */
static int apply_stage(matcher m, const uint32_t *raw, const uint32_t *col,
                       const int *lens, int n_words, int *out) {
    int n_out = 0, start = 0;
    for (int w = 0; w < n_words; w++) {
        span s = {raw + start, col + start, lens[w]};
        int gap = 0; /* start of the text not matched yet */
        for (int pos = 0; pos < s.n;) {
            int k = m(&s, pos);
            if (k <= 0) {
                pos++;
                continue;
            }
            if (pos > gap) out[n_out++] = pos - gap;
            out[n_out++] = k;
            pos += k;
            gap = pos;
        }
        if (gap < s.n) out[n_out++] = s.n - gap;
        start += lens[w];
    }
    return n_out;
}

int lc_pretokenize(enum lc_pre_kind pre, const uint32_t *cpts, int n,
                   int *lens) {
    if (n <= 0) return 0;
    uint32_t *col = malloc((size_t)n * sizeof *col);
    int *tmp = malloc((size_t)n * sizeof *tmp);
    if (!col || !tmp) {
        free(col);
        free(tmp);
        return -1;
    }
    for (int i = 0; i < n; i++) col[i] = collapse(cpts[i]);
    family fam = family_of(pre);
    int n_words = 1;
    lens[0] = n;
    for (int st = 0; st < fam.n; st++) {
        n_words = apply_stage(fam.stages[st], cpts, col, lens, n_words, tmp);
        for (int i = 0; i < n_words; i++) lens[i] = tmp[i];
    }
    free(col);
    free(tmp);
    return n_words;
}

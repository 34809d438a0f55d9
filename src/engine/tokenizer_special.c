/*
 * Special tokens: which tokens end generation, which are cut out of text
 * before tokenizing (and in what order), per-model quirks, and the cutting
 * itself.
 *
 * Special tokens are cut out longest first over the whole text, as
 * llama.cpp does: a longer token wins over a shorter one that overlaps it
 * even when the shorter one starts earlier.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"
#include "error.h"

static int32_t find_cstr(const lc_vocab *v, const char *s) {
    return lc_vocab_find(v, s, strlen(s));
}

/* Finds a token by its text among candidates when the metadata did not
 * name it (the lowest id if several exist), and makes sure it is a control
 * token. */
static void detect_special(lc_vocab *v, int32_t *id, const char *const *texts) {
    if (*id >= 0) return;
    for (; *texts; texts++) {
        int32_t t = find_cstr(v, *texts);
        if (t >= 0 && (*id < 0 || t < *id)) *id = t;
    }
    if (*id >= 0) v->tokens[*id].attr |= LC_ATTR_CONTROL;
}

static const char *const EOT_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>",
    NULL};
static const char *const EOM_TEXTS[] = {"<|eom_id|>", NULL};
static const char *const FIM_PRE_TEXTS[] = {"<|fim_prefix|>",
                                            "<fim-prefix>",
                                            "<fim_prefix>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81"
                                            "begin\xef\xbd\x9c>",
                                            "<PRE>",
                                            "\xe2\x96\x81<PRE>",
                                            "<|code_prefix|>",
                                            "<|prefix|>",
                                            NULL};
static const char *const FIM_SUF_TEXTS[] = {"<|fim_suffix|>",
                                            "<fim-suffix>",
                                            "<fim_suffix>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                                            "<SUF>",
                                            "\xe2\x96\x81<SUF>",
                                            "<|code_suffix|>",
                                            "<|suffix|>",
                                            NULL};
static const char *const FIM_MID_TEXTS[] = {"<|fim_middle|>",
                                            "<fim-middle>",
                                            "<fim_middle>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81"
                                            "end\xef\xbd\x9c>",
                                            "<MID>",
                                            "\xe2\x96\x81<MID>",
                                            "<|code_middle|>",
                                            "<|middle|>",
                                            NULL};
static const char *const FIM_PAD_TEXTS[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>",
                                            "<fim-repo>",   "<REPO>",
                                            "<reponame>",   NULL};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>", NULL};
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xef\xbd\x9c"
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "[e~[",
    NULL};

static void build_eog(lc_vocab *v, const gguf_file *f) {
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1;
    int32_t fim_pad = -1, fim_rep = -1, fim_sep = -1;
    lc_vocab_read_id(v, f, "tokenizer.ggml.prefix_token_id", &fim_pre);
    lc_vocab_read_id(v, f, "tokenizer.ggml.suffix_token_id", &fim_suf);
    lc_vocab_read_id(v, f, "tokenizer.ggml.middle_token_id", &fim_mid);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_pre_token_id", &fim_pre);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_suf_token_id", &fim_suf);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_mid_token_id", &fim_mid);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_pad_token_id", &fim_pad);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_rep_token_id", &fim_rep);
    lc_vocab_read_id(v, f, "tokenizer.ggml.fim_sep_token_id", &fim_sep);

    /* Converters do not always name these: find them by their text. */
    detect_special(v, &v->eot, EOT_TEXTS);
    detect_special(v, &v->eom, EOM_TEXTS);
    detect_special(v, &fim_pre, FIM_PRE_TEXTS);
    detect_special(v, &fim_suf, FIM_SUF_TEXTS);
    detect_special(v, &fim_mid, FIM_MID_TEXTS);
    detect_special(v, &fim_pad, FIM_PAD_TEXTS);
    detect_special(v, &fim_rep, FIM_REP_TEXTS);
    detect_special(v, &fim_sep, FIM_SEP_TEXTS);

    for (int i = 0; i < v->n_tokens; i++) {
        lc_token_info *t = &v->tokens[i];
        /* Control tokens named "unused" are placeholders. */
        if ((t->attr & LC_ATTR_CONTROL) && strstr(t->text, "unused"))
            t->attr |= LC_ATTR_UNUSED;
    }

    if (fim_pad >= 0) v->eog[fim_pad] = 1;
    if (fim_rep >= 0) v->eog[fim_rep] = 1;
    if (fim_sep >= 0) v->eog[fim_sep] = 1;
    for (const char *const *t = EOG_TEXTS; *t; t++) {
        int32_t id = find_cstr(v, *t);
        if (id < 0) continue;
        v->eog[id] = 1;
        v->tokens[id].attr |= LC_ATTR_CONTROL;
    }
    /* gpt-oss renders these channel markers always. */
    static const char *const ALWAYS_SHOWN[] = {
        "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (const char *const *t = ALWAYS_SHOWN; *t; t++) {
        int32_t id = find_cstr(v, *t);
        if (id >= 0) v->tokens[id].attr = LC_ATTR_USER_DEFINED;
    }

    if (v->eos >= 0) v->eog[v->eos] = 1;
    if (v->eot >= 0) v->eog[v->eot] = 1;
    if (v->eom >= 0) v->eog[v->eom] = 1;

    /* o200k_harmony / solar-open: <|end|> ends a message, not the
     * generation, when <|return|> and <|call|> (or <|calls|> and
     * <|flush|>) exist. */
    int32_t ret = find_cstr(v, "<|return|>"), call = find_cstr(v, "<|call|>");
    int32_t calls = find_cstr(v, "<|calls|>"),
            flush = find_cstr(v, "<|flush|>");
    int32_t end = find_cstr(v, "<|end|>");
    bool has_call =
        (call >= 0 && v->eog[call]) || (calls >= 0 && v->eog[calls]);
    if (end >= 0 && v->eog[end] && has_call &&
        ((ret >= 0 && v->eog[ret]) || (flush >= 0 && v->eog[flush]))) {
        v->eog[end] = 0;
        v->tokens[end].attr = LC_ATTR_USER_DEFINED;
    }
    /* gemma4 / paddleocr: </s> is not an end token there. */
    int32_t tool = find_cstr(v, "<|tool_response>"), s = find_cstr(v, "</s>");
    if (tool >= 0 && v->eog[tool] && s >= 0 && v->eog[s]) {
        v->eog[s] = 0;
        v->tokens[s].attr = LC_ATTR_NORMAL;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Longest text first, ties by id (llama.cpp's sort leaves ties in no
 * particular order; any fixed order gives the same splits in practice).
 * Sorting packed (inverted length, id) keys needs no comparison context. */
static bool sort_specials(const lc_vocab *v, int32_t *ids, int n) {
    if (n < 2) return true;
    uint64_t *keys = malloc((size_t)n * sizeof *keys);
    if (!keys) return false;
    for (int i = 0; i < n; i++)
        keys[i] = ((uint64_t)(UINT32_MAX - v->tokens[ids[i]].len) << 32) |
                  (uint32_t)ids[i];
    qsort(keys, (size_t)n, sizeof *keys, cmp_u64);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(keys[i] & 0xffffffffu);
    free(keys);
    return true;
}

static bool build_special(lc_vocab *v) {
    const uint32_t mask =
        LC_ATTR_CONTROL | LC_ATTR_USER_DEFINED | LC_ATTR_UNKNOWN;
    int n = 0;
    for (int i = 0; i < v->n_tokens; i++)
        if (v->tokens[i].attr & mask) n++;
    v->special = malloc((size_t)(n ? n : 1) * sizeof *v->special);
    if (!v->special) return false;
    v->n_special = 0;
    for (int i = 0; i < v->n_tokens; i++) {
        if (!(v->tokens[i].attr & mask)) continue;
        v->special[v->n_special++] = i;
        if ((int)v->tokens[i].len > v->special_max_len)
            v->special_max_len = (int)v->tokens[i].len;
    }
    return sort_specials(v, v->special, v->n_special);
}

/* Per-model attribute quirks that llama.cpp applies by name. */
static bool apply_quirks(lc_vocab *v, const gguf_file *f, char *err,
                         size_t err_len) {
    char name[256] = "", pre[64] = "", arch[64] = "";
    gguf_get_str(f, "general.name", name, sizeof name);
    gguf_get_str(f, "tokenizer.ggml.pre", pre, sizeof pre);
    gguf_get_str(f, "general.architecture", arch, sizeof arch);
    for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);

    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") ||
        strstr(pre, "jina-v2-code") || strstr(arch, "nomic-bert-moe") ||
        strstr(arch, "jina-bert-v3")) {
        int32_t m = find_cstr(v, "<mask>");
        if (m >= 0) v->tokens[m].attr |= LC_ATTR_LSTRIP;
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        /* Phi-3: text right after a special token loses its leading
         * whitespace, except after <unk>, <s> and <|endoftext|>. */
        const char *need[] = {"</s>", "<unk>", "<s>", "<|endoftext|>"};
        int32_t ids[4];
        for (int i = 0; i < 4; i++) {
            ids[i] = find_cstr(v, need[i]);
            if (ids[i] < 0) {
                lc_set_err(err, err_len, "phi-3 vocabulary lacks the token %s",
                           need[i]);
                return false;
            }
        }
        for (int i = 0; i < v->n_special; i++)
            v->tokens[v->special[i]].attr |= LC_ATTR_RSTRIP;
        v->tokens[ids[0]].attr |= LC_ATTR_RSTRIP;
        for (int i = 1; i < 4; i++) v->tokens[ids[i]].attr &= ~LC_ATTR_RSTRIP;
    } else if (strstr(name, "modern-bert")) {
        int32_t m = find_cstr(v, "[MASK]");
        if (m >= 0) v->tokens[m].attr |= LC_ATTR_LSTRIP;
    }
    return true;
}

bool lc_vocab_init_special(lc_vocab *v, const gguf_file *f, char *err,
                           size_t err_len) {
    build_eog(v, f);
    if (!build_special(v)) {
        lc_set_err(err, err_len, "%s", "out of memory");
        return false;
    }
    return apply_quirks(v, f, err, err_len);
}

/* --------------------------------------------------- special splitting */

static bool frag_push(lc_fraglist *l, int32_t token, size_t off, size_t len) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        lc_fragment *items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) return false;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (lc_fragment){token, off, len};
    return true;
}

static bool special_allowed(const lc_vocab *v, int32_t id, bool parse_special) {
    uint32_t a = v->tokens[id].attr;
    if (!(a & (LC_ATTR_CONTROL | LC_ATTR_USER_DEFINED | LC_ATTR_UNKNOWN)))
        return false;
    /* Without parse_special only user-defined tokens are cut out. */
    return parse_special || !(a & (LC_ATTR_CONTROL | LC_ATTR_UNKNOWN));
}

/* The special tokens that occur anywhere in the text, so that the
 * splitting below only loops over those (Gemma has thousands). */
static int find_candidates(const lc_vocab *v, const char *text, size_t len,
                           bool parse_special, int32_t **out) {
    int n = 0, cap = 0;
    int32_t *ids = NULL;
    for (size_t i = 0; i < len; i++) {
        uint64_t h = LC_HASH_INIT;
        size_t max = len - i;
        if (max > (size_t)v->special_max_len) max = (size_t)v->special_max_len;
        for (size_t k = 0; k < max; k++) {
            h = lc_hash_step(h, (unsigned char)text[i + k]);
            int32_t id = lc_vocab_find_hashed(v, h, text + i, k + 1);
            if (id < 0 || !special_allowed(v, id, parse_special)) continue;
            int j = 0;
            while (j < n && ids[j] != id) j++;
            if (j < n) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                int32_t *p = realloc(ids, (size_t)cap * sizeof *p);
                if (!p) {
                    free(ids);
                    return -1;
                }
                ids = p;
            }
            ids[n++] = id;
        }
    }
    if (!sort_specials(v, ids, n)) {
        free(ids);
        return -1;
    }
    *out = ids;
    return n;
}

static bool is_space_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/* Cuts every occurrence of token `id` out of the text fragments of
 * `in`, appending the result to `out`. */
static bool split_on_token(const lc_vocab *v, const char *text, int32_t id,
                           const lc_fraglist *in, lc_fraglist *out) {
    const lc_token_info *t = &v->tokens[id];
    for (int f = 0; f < in->n; f++) {
        lc_fragment fr = in->items[f];
        if (fr.token >= 0) {
            if (!frag_push(out, fr.token, 0, 0)) return false;
            continue;
        }
        size_t off = fr.off, len = fr.len;
        while (len > 0) {
            const char *hit =
                t->len <= len ? memmem(text + off, len, t->text, t->len) : NULL;
            if (!hit) {
                if (!frag_push(out, -1, off, len)) return false;
                break;
            }
            size_t at = (size_t)(hit - text);
            size_t left = at - off;
            if (t->attr & LC_ATTR_LSTRIP)
                while (left > 0 && is_space_byte(text[off + left - 1])) left--;
            if (left > 0 && !frag_push(out, -1, off, left)) return false;
            if (!frag_push(out, id, 0, 0)) return false;
            size_t roff = at + t->len;
            size_t rlen = off + len - roff;
            if (t->attr & LC_ATTR_RSTRIP)
                while (rlen > 0 && is_space_byte(text[roff])) {
                    roff++;
                    rlen--;
                }
            off = roff;
            len = rlen;
        }
    }
    return true;
}

bool lc_vocab_partition(const lc_vocab *v, const char *text, size_t len,
                        bool parse_special, lc_fraglist *frags) {
    frags->n = 0;
    if (len == 0) return true;
    if (!frag_push(frags, -1, 0, len)) return false;
    int32_t *cands = NULL;
    int nc = find_candidates(v, text, len, parse_special, &cands);
    if (nc < 0) return false;
    lc_fraglist tmp = {0};
    bool ok = true;
    for (int c = 0; c < nc && ok; c++) {
        tmp.n = 0;
        ok = split_on_token(v, text, cands[c], frags, &tmp);
        lc_fraglist swap = *frags;
        *frags = tmp;
        tmp = swap;
    }
    free(tmp.items);
    free(cands);
    return ok;
}

/*
 * Vocabulary loading from GGUF metadata and the dispatch from
 * lc_vocab_tokenize() to the three tokenizers (special tokens live in
 * tokenizer_special.c, pieces in tokenizer_piece.c).
 *
 * Metadata read (all under tokenizer.ggml.): model, pre, tokens, scores,
 * token_type, merges, {bos,eos,eot,eom,unknown,seperator,padding,mask}
 * _token_id, add_{bos,eos,sep}_token, add_space_prefix,
 * normalizer.{lowercase,strip_accents}. Defaults follow llama.cpp so that
 * files converted for it tokenize identically.
 *
 * Tokenizing a text happens in two steps, as in llama.cpp:
 *   1. special tokens (CONTROL and UNKNOWN only when parse_special;
 *      USER_DEFINED always) are cut out of the text, longest token first,
 *      leaving runs of plain text between them;
 *   2. each run is handed to the SPM, BPE or WPM tokenizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "error.h"
#include "tokenizer_impl.h"

/* GGUF token_type values. */
enum {
    GGUF_TOKEN_NORMAL = 1,
    GGUF_TOKEN_UNKNOWN = 2,
    GGUF_TOKEN_CONTROL = 3,
    GGUF_TOKEN_USER_DEFINED = 4,
    GGUF_TOKEN_UNUSED = 5,
    GGUF_TOKEN_BYTE = 6,
};

/* ------------------------------------------------------------ hashing */

/* FNV-1a: simple, and it can be extended one byte at a time, which the
 * special-token scan uses. */
uint64_t lc_hash_step(uint64_t h, unsigned char c) {
    return (h ^ c) * 1099511628211ULL;
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = LC_HASH_INIT;
    for (size_t i = 0; i < n; i++) h = lc_hash_step(h, (unsigned char)s[i]);
    return h;
}

static uint64_t table_size_for(uint64_t n) {
    uint64_t size = 16;
    while (size < 2 * n) size *= 2;
    return size;
}

int32_t lc_vocab_find_hashed(const lc_vocab *v, uint64_t h, const char *text,
                             size_t len) {
    for (uint64_t i = h & v->token_mask;; i = (i + 1) & v->token_mask) {
        int32_t id = v->token_slots[i];
        if (id < 0) return -1;
        const lc_token_info *t = &v->tokens[id];
        if (t->len == len && memcmp(t->text, text, len) == 0) return id;
    }
}

int32_t lc_vocab_find(const lc_vocab *v, const char *text, size_t len) {
    return lc_vocab_find_hashed(v, fnv1a(text, len), text, len);
}

static uint64_t merge_hash(const char *l, size_t ll, const char *r, size_t rl) {
    /* Mix the lengths in so that ("ab","c") and ("a","bc") differ. */
    uint64_t h = fnv1a(l, ll) ^ (ll * 0x9E3779B97F4A7C15ULL);
    return (h * 31) ^ fnv1a(r, rl);
}

int lc_vocab_merge_rank(const lc_vocab *v, const char *left, size_t left_len,
                        const char *right, size_t right_len) {
    if (v->n_merges == 0) return -1;
    uint64_t h = merge_hash(left, left_len, right, right_len);
    for (uint64_t i = h & v->merge_mask;; i = (i + 1) & v->merge_mask) {
        int32_t r = v->merge_slots[i];
        if (r < 0) return -1;
        const lc_merge *m = &v->merges[r];
        if (m->left_len == left_len && m->right_len == right_len &&
            memcmp(m->left, left, left_len) == 0 &&
            memcmp(m->right, right, right_len) == 0)
            return r;
    }
}

void lc_tokbuf_push(lc_tokbuf *b, int32_t id) {
    if (b->failed) return;
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        int32_t *ids = realloc(b->ids, (size_t)cap * sizeof *ids);
        if (!ids) {
            b->failed = true;
            return;
        }
        b->ids = ids;
        b->cap = cap;
    }
    b->ids[b->n++] = id;
}

/* ------------------------------------------------------------ loading */

/* Numbers inside the mapping are not necessarily aligned: copy them. */
static float arr_f32(const void *arr, uint64_t i) {
    float x;
    memcpy(&x, (const char *)arr + 4 * i, 4);
    return x;
}

static int32_t arr_i32(const void *arr, uint64_t i) {
    int32_t x;
    memcpy(&x, (const char *)arr + 4 * i, 4);
    return x;
}

static uint32_t attr_from_gguf_type(int32_t type) {
    switch (type) {
    case GGUF_TOKEN_NORMAL:
        return LC_ATTR_NORMAL;
    case GGUF_TOKEN_UNKNOWN:
        return LC_ATTR_UNKNOWN;
    case GGUF_TOKEN_CONTROL:
        return LC_ATTR_CONTROL;
    case GGUF_TOKEN_USER_DEFINED:
        return LC_ATTR_USER_DEFINED;
    case GGUF_TOKEN_UNUSED:
        return LC_ATTR_UNUSED;
    case GGUF_TOKEN_BYTE:
        return LC_ATTR_BYTE;
    default:
        return 0; /* undefined */
    }
}

typedef struct pre_name {
    const char *name;
    enum lc_pre_kind kind;
} pre_name;

/* The pre-tokenizer names llama.cpp accepts whose regexes we implement. */
static const pre_name PRE_NAMES[] = {
    {"default", LC_PRE_DEFAULT},
    {"gpt-2", LC_PRE_GPT2},
    {"phi-2", LC_PRE_GPT2},
    {"jina-es", LC_PRE_GPT2},
    {"jina-de", LC_PRE_GPT2},
    {"jina-v2-es", LC_PRE_GPT2},
    {"jina-v2-de", LC_PRE_GPT2},
    {"jina-v1-en", LC_PRE_GPT2},
    {"jina-v2-code", LC_PRE_GPT2},
    {"roberta-bpe", LC_PRE_GPT2},
    {"mpt", LC_PRE_GPT2},
    {"olmo", LC_PRE_GPT2},
    {"gpt-neox", LC_PRE_GPT2},
    {"exaone4", LC_PRE_GPT2},
    {"llama3", LC_PRE_LLAMA3},
    {"llama-v3", LC_PRE_LLAMA3},
    {"llama-bpe", LC_PRE_LLAMA3},
    {"falcon3", LC_PRE_LLAMA3},
    {"pixtral", LC_PRE_LLAMA3},
    {"dbrx", LC_PRE_LLAMA3},
    {"smaug-bpe", LC_PRE_LLAMA3},
    {"qwen2", LC_PRE_QWEN2},
    {"deepseek-r1-qwen", LC_PRE_QWEN2},
    {"stablelm2", LC_PRE_QWEN2},
    {"megrez", LC_PRE_QWEN2},
    {"deepseek-llm", LC_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", LC_PRE_DEEPSEEK_CODER},
    {"falcon", LC_PRE_FALCON},
    {"starcoder", LC_PRE_STARCODER},
    {"refact", LC_PRE_STARCODER},
    {"command-r", LC_PRE_STARCODER},
    {"smollm", LC_PRE_STARCODER},
    {"codeshell", LC_PRE_STARCODER},
    {"exaone", LC_PRE_STARCODER},
    {"minerva-7b", LC_PRE_STARCODER},
};

/* BPE settings that depend on the pre-tokenizer name (llama.cpp's). */
static bool set_bpe_pre(lc_vocab *v, const char *pre) {
    v->pre = LC_PRE_DEFAULT;
    if (pre[0] == '\0') return true; /* missing: default regexes */
    size_t n = sizeof PRE_NAMES / sizeof PRE_NAMES[0];
    size_t i = 0;
    while (i < n && strcmp(PRE_NAMES[i].name, pre) != 0) i++;
    if (i == n) return false;
    v->pre = PRE_NAMES[i].kind;
    if (v->pre == LC_PRE_LLAMA3) {
        /* llama3 words that are whole tokens skip merging; the family
         * adds BOS by default. dbrx/smaug share the regex but not this. */
        bool llama3 = strcmp(pre, "dbrx") != 0 && strcmp(pre, "smaug-bpe");
        v->ignore_merges = llama3;
        v->add_bos = llama3;
    }
    if (v->pre == LC_PRE_DEEPSEEK_LLM || v->pre == LC_PRE_DEEPSEEK_CODER ||
        v->pre == LC_PRE_QWEN2 || strcmp(pre, "command-r") == 0 ||
        strcmp(pre, "smollm") == 0)
        v->clean_spaces = false;
    if (strcmp(pre, "stablelm2") == 0 || strcmp(pre, "megrez") == 0)
        v->clean_spaces = true;
    if (strcmp(pre, "jina-v1-en") == 0 || strcmp(pre, "jina-v2-code") == 0 ||
        strcmp(pre, "roberta-bpe") == 0)
        v->add_sep = true;
    return true;
}

static bool read_tokens(lc_vocab *v, const gguf_file *f, char *err,
                        size_t err_len) {
    enum gguf_value_type type;
    uint64_t n;
    const gguf_kv *kv = gguf_get_arr(f, "tokenizer.ggml.tokens", &type, &n);
    if (!kv || type != GGUF_STRING || !kv->strs) {
        lc_set_err(err, err_len, "%s: missing or not an array of strings",
                   "tokenizer.ggml.tokens");
        return false;
    }
    if (n == 0 || n > INT32_MAX / 4) {
        lc_set_err(err, err_len, "%s: bad token count",
                   "tokenizer.ggml.tokens");
        return false;
    }

    const void *scores = NULL, *iscores = NULL;
    enum gguf_value_type st;
    uint64_t sn;
    const gguf_kv *skv = gguf_get_arr(f, "tokenizer.ggml.scores", &st, &sn);
    if (skv) {
        if ((st != GGUF_FLOAT32 && st != GGUF_INT32) || sn < n) {
            lc_set_err(err, err_len, "%s: wrong type or too short",
                       "tokenizer.ggml.scores");
            return false;
        }
        if (st == GGUF_FLOAT32)
            scores = skv->arr;
        else
            iscores = skv->arr;
    } else if (gguf_find_kv(f, "tokenizer.ggml.scores")) {
        lc_set_err(err, err_len, "%s: not an array", "tokenizer.ggml.scores");
        return false;
    }

    const void *types = NULL;
    enum gguf_value_type tt;
    uint64_t tn;
    const gguf_kv *tkv = gguf_get_arr(f, "tokenizer.ggml.token_type", &tt, &tn);
    if (tkv) {
        if (tt != GGUF_INT32 || tn < n) {
            lc_set_err(err, err_len, "%s: wrong type or too short",
                       "tokenizer.ggml.token_type");
            return false;
        }
        types = tkv->arr;
    } else if (gguf_find_kv(f, "tokenizer.ggml.token_type")) {
        lc_set_err(err, err_len, "%s: not an array",
                   "tokenizer.ggml.token_type");
        return false;
    }

    /* One arena for all token texts (NUL-terminated) and merge texts. */
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++)
        bytes += (kv->strs[i].len ? kv->strs[i].len : 24) + 1;
    enum gguf_value_type mt = GGUF_STRING;
    uint64_t mn = 0;
    const gguf_kv *mkv = NULL;
    if (v->kind == LC_VOCAB_BPE) {
        mkv = gguf_get_arr(f, "tokenizer.ggml.merges", &mt, &mn);
        if (!mkv || mt != GGUF_STRING || !mkv->strs || mn > INT32_MAX / 4) {
            lc_set_err(err, err_len, "%s: missing or not an array of strings",
                       "tokenizer.ggml.merges");
            return false;
        }
        for (uint64_t i = 0; i < mn; i++) bytes += mkv->strs[i].len;
    }

    v->n_tokens = (int)n;
    v->tokens = calloc(n, sizeof *v->tokens);
    v->arena = malloc(bytes ? bytes : 1);
    v->eog = calloc(n, 1);
    uint64_t slots = table_size_for(n);
    v->token_slots = malloc(slots * sizeof *v->token_slots);
    if (!v->tokens || !v->arena || !v->eog || !v->token_slots) {
        lc_set_err(err, err_len, "%s", "out of memory loading the vocabulary");
        return false;
    }
    memset(v->token_slots, 0xff, slots * sizeof *v->token_slots);
    v->token_mask = slots - 1;

    char *p = v->arena;
    for (uint64_t i = 0; i < n; i++) {
        lc_token_info *t = &v->tokens[i];
        gguf_str s = kv->strs[i];
        t->text = p;
        if (s.len == 0) {
            /* llama.cpp renames empty tokens so that they stay unique. */
            t->len = (uint32_t)sprintf(p, "[EMPTY_%u]", (unsigned)i);
        } else {
            memcpy(p, s.ptr, s.len);
            t->len = (uint32_t)s.len;
        }
        p[t->len] = '\0';
        p += t->len + 1;
        t->score = scores    ? arr_f32(scores, i)
                   : iscores ? (float)arr_i32(iscores, i)
                             : 0.0f;
        t->attr =
            types ? attr_from_gguf_type(arr_i32(types, i)) : LC_ATTR_NORMAL;
        if ((int)t->len > v->max_token_len) v->max_token_len = (int)t->len;

        uint64_t h = fnv1a(t->text, t->len);
        uint64_t j = h & v->token_mask;
        for (; v->token_slots[j] >= 0; j = (j + 1) & v->token_mask) {
            const lc_token_info *o = &v->tokens[v->token_slots[j]];
            if (o->len == t->len && memcmp(o->text, t->text, t->len) == 0) {
                char msg[96];
                snprintf(msg, sizeof msg, "ids %d and %u", v->token_slots[j],
                         (unsigned)i);
                lc_set_err(err, err_len, "duplicate token in vocabulary (%s)",
                           msg);
                return false;
            }
        }
        v->token_slots[j] = (int32_t)i;
    }

    if (mkv) {
        v->n_merges = (int)mn;
        v->merges = calloc(mn ? mn : 1, sizeof *v->merges);
        uint64_t mslots = table_size_for(mn);
        v->merge_slots = malloc(mslots * sizeof *v->merge_slots);
        if (!v->merges || !v->merge_slots) {
            lc_set_err(err, err_len, "%s", "out of memory loading merges");
            return false;
        }
        memset(v->merge_slots, 0xff, mslots * sizeof *v->merge_slots);
        v->merge_mask = mslots - 1;
        for (uint64_t i = 0; i < mn; i++) {
            gguf_str s = mkv->strs[i];
            memcpy(p, s.ptr, s.len);
            /* "left right", split at the first space after the first
             * byte; a line without one becomes the pair ("", ""). */
            const char *sp = s.len > 1 ? memchr(p + 1, ' ', s.len - 1) : NULL;
            lc_merge *m = &v->merges[i];
            m->left = p;
            if (sp) {
                m->left_len = (uint32_t)(sp - p);
                m->right = sp + 1;
                m->right_len = (uint32_t)(s.len - m->left_len - 1);
            } else {
                m->left_len = 0;
                m->right = p;
                m->right_len = 0;
            }
            p += s.len;
            /* The first of duplicate pairs keeps its rank. */
            if (lc_vocab_merge_rank(v, m->left, m->left_len, m->right,
                                    m->right_len) >= 0)
                continue;
            uint64_t h =
                merge_hash(m->left, m->left_len, m->right, m->right_len);
            uint64_t j = h & v->merge_mask;
            while (v->merge_slots[j] >= 0) j = (j + 1) & v->merge_mask;
            v->merge_slots[j] = (int32_t)i;
        }
    }
    return true;
}

void lc_vocab_read_id(const lc_vocab *v, const gguf_file *f, const char *key,
                      int32_t *id) {
    /* A default outside the vocabulary is disabled; a stored id outside
     * it is ignored (llama.cpp warns and keeps the default). */
    if (*id >= v->n_tokens) *id = -1;
    uint32_t x;
    if (gguf_get_u32(f, key, &x) && x < (uint32_t)v->n_tokens) *id = (int32_t)x;
}

static int32_t find_cstr(const lc_vocab *v, const char *s) {
    return lc_vocab_find(v, s, strlen(s));
}

static void build_byte_tokens(lc_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id = -1;
        if (v->kind == LC_VOCAB_BPE) {
            int n = lc_utf8_encode(lc_byte_to_cpt((uint8_t)b), buf);
            id = lc_vocab_find(v, buf, (size_t)n);
        } else {
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            id = find_cstr(v, buf);
            if (id < 0) {
                buf[0] = (char)b;
                id = lc_vocab_find(v, buf, 1);
            }
        }
        v->byte_token[b] = id;
    }
}

lc_vocab *lc_vocab_load(const gguf_file *f, char *err, size_t err_len) {
    if (!f) {
        lc_set_err(err, err_len, "%s", "no GGUF file");
        return NULL;
    }
    char model[64], pre[64] = "";
    if (!gguf_get_str(f, "tokenizer.ggml.model", model, sizeof model)) {
        lc_set_err(err, err_len, "%s: missing", "tokenizer.ggml.model");
        return NULL;
    }
    gguf_get_str(f, "tokenizer.ggml.pre", pre, sizeof pre);

    lc_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        lc_set_err(err, err_len, "%s", "out of memory");
        return NULL;
    }
    v->bos = v->eos = v->eot = v->eom = v->unk = -1;
    v->sep = v->pad = v->mask = -1;
    v->lowercase = true;

    if (strcmp(model, "llama") == 0) {
        v->kind = LC_VOCAB_SPM;
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
    } else if (strcmp(model, "bert") == 0) {
        v->kind = LC_VOCAB_WPM;
        v->bos = 101;
        v->unk = 100;
        v->sep = 102;
        v->pad = 0;
        v->mask = 103;
        v->add_bos = true;
        v->add_sep = true;
        v->clean_spaces = true;
    } else if (strcmp(model, "gpt2") == 0) {
        v->kind = LC_VOCAB_BPE;
        v->bos = 11;
        v->eos = 11;
        v->clean_spaces = true;
        if (!set_bpe_pre(v, pre)) {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown pre-tokenizer type '%s'", pre);
            lc_set_err(err, err_len, "%s (tokenizer.ggml.pre)", msg);
            free(v);
            return NULL;
        }
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "unsupported tokenizer model '%s'", model);
        lc_set_err(err, err_len, "%s (tokenizer.ggml.model)", msg);
        free(v);
        return NULL;
    }
    /* model is one of the three names above: it fits. */
    memcpy(v->type_name, model, strlen(model) + 1);
    gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);

    if (!read_tokens(v, f, err, err_len)) goto fail;

    lc_vocab_read_id(v, f, "tokenizer.ggml.bos_token_id", &v->bos);
    lc_vocab_read_id(v, f, "tokenizer.ggml.eos_token_id", &v->eos);
    lc_vocab_read_id(v, f, "tokenizer.ggml.eot_token_id", &v->eot);
    lc_vocab_read_id(v, f, "tokenizer.ggml.eom_token_id", &v->eom);
    lc_vocab_read_id(v, f, "tokenizer.ggml.unknown_token_id", &v->unk);
    lc_vocab_read_id(v, f, "tokenizer.ggml.seperator_token_id", &v->sep);
    lc_vocab_read_id(v, f, "tokenizer.ggml.padding_token_id", &v->pad);
    lc_vocab_read_id(v, f, "tokenizer.ggml.mask_token_id", &v->mask);

    gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos);
    gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &v->add_eos);
    gguf_get_bool(f, "tokenizer.ggml.add_sep_token", &v->add_sep);
    if (v->add_bos && v->bos < 0) {
        lc_set_err(err, err_len, "%s is true but there is no BOS token",
                   "tokenizer.ggml.add_bos_token");
        goto fail;
    }
    if (v->add_eos && v->eos < 0) {
        lc_set_err(err, err_len, "%s is true but there is no EOS token",
                   "tokenizer.ggml.add_eos_token");
        goto fail;
    }
    if (v->add_sep && v->sep < 0) {
        lc_set_err(err, err_len, "%s is true but there is no SEP token",
                   "tokenizer.ggml.add_sep_token");
        goto fail;
    }
    gguf_get_bool(f, "tokenizer.ggml.normalizer.lowercase", &v->lowercase);
    v->strip_accents = v->lowercase;
    gguf_get_bool(f, "tokenizer.ggml.normalizer.strip_accents",
                  &v->strip_accents);

    if (!lc_vocab_init_special(v, f, err, err_len)) goto fail;
    build_byte_tokens(v);
    return v;

fail:
    lc_vocab_free(v);
    return NULL;
}

void lc_vocab_free(lc_vocab *v) {
    if (!v) return;
    free(v->tokens);
    free(v->arena);
    free(v->token_slots);
    free(v->merges);
    free(v->merge_slots);
    free(v->special);
    free(v->eog);
    free(v);
}

/* ----------------------------------------------------------- accessors */

int lc_vocab_n_tokens(const lc_vocab *v) {
    return v ? v->n_tokens : 0;
}

const char *lc_vocab_text(const lc_vocab *v, int32_t token) {
    if (!v || token < 0 || token >= v->n_tokens) return "";
    return v->tokens[token].text;
}

int32_t lc_vocab_bos(const lc_vocab *v) {
    return v ? v->bos : -1;
}

int32_t lc_vocab_eos(const lc_vocab *v) {
    return v ? v->eos : -1;
}

bool lc_vocab_add_bos(const lc_vocab *v) {
    /* WordPiece always starts with CLS (its BOS) when adding specials. */
    return v && v->bos >= 0 && (v->add_bos || v->kind == LC_VOCAB_WPM);
}

bool lc_vocab_is_eog(const lc_vocab *v, int32_t token) {
    return v && token >= 0 && token < v->n_tokens && v->eog[token];
}

const char *lc_vocab_type_name(const lc_vocab *v) {
    return v ? v->type_name : "";
}

/* ---------------------------------------------------------- tokenizing */

int lc_vocab_tokenize(const lc_vocab *v, const char *text, size_t len,
                      bool add_special, bool parse_special, int32_t *out,
                      int max_tokens) {
    if (!v || (!text && len > 0) || max_tokens < 0 || (!out && max_tokens > 0))
        return -1;
    lc_fraglist frags = {0};
    lc_tokbuf buf = {0};
    if (!lc_vocab_partition(v, text, len, parse_special, &frags)) {
        free(frags.items);
        return -1;
    }

    bool want_bos = add_special && (v->add_bos || v->kind == LC_VOCAB_WPM);
    if (want_bos) {
        if (v->bos < 0) goto fail;
        lc_tokbuf_push(&buf, v->bos);
    }
    /* SPM: the first text, and text after a special token, gets the
     * space prefix (as SentencePiece sees each piece as a new text). */
    bool prev_special = true;
    for (int i = 0; i < frags.n; i++) {
        const lc_fragment *fr = &frags.items[i];
        if (fr->token >= 0) {
            lc_tokbuf_push(&buf, fr->token);
            prev_special = true;
            continue;
        }
        switch (v->kind) {
        case LC_VOCAB_SPM:
            lc_spm_tokenize(v, text + fr->off, fr->len,
                            v->add_space_prefix && prev_special, &buf);
            break;
        case LC_VOCAB_BPE:
            lc_bpe_tokenize(v, text + fr->off, fr->len, &buf);
            break;
        case LC_VOCAB_WPM:
            lc_wpm_tokenize(v, text + fr->off, fr->len, &buf);
            break;
        }
        prev_special = false;
    }
    if (add_special) {
        if (v->kind == LC_VOCAB_WPM) {
            if (v->sep < 0) goto fail;
            lc_tokbuf_push(&buf, v->sep);
        } else if (v->add_eos) {
            lc_tokbuf_push(&buf, v->eos);
        }
    }
    if (buf.failed) goto fail;

    int n = buf.n;
    for (int i = 0; i < n && i < max_tokens; i++) out[i] = buf.ids[i];
    free(buf.ids);
    free(frags.items);
    return n;

fail:
    free(buf.ids);
    free(frags.items);
    return -1;
}

/* ------------------------------------------------------ public wrappers */

static const lc_vocab *model_vocab(const lc_model *model) {
    return model ? model->vocab : NULL;
}

int lc_tokenize(const lc_model *model, const char *text, size_t text_len,
                bool add_special, bool parse_special, int32_t *tokens,
                int max_tokens) {
    const lc_vocab *v = model_vocab(model);
    if (!v) return -1;
    return lc_vocab_tokenize(v, text, text_len, add_special, parse_special,
                             tokens, max_tokens);
}

int lc_token_to_piece(const lc_model *model, int32_t token, bool special,
                      char *buf, int buf_len) {
    return lc_vocab_piece(model_vocab(model), token, special, buf, buf_len);
}

int32_t lc_token_bos(const lc_model *model) {
    return lc_vocab_bos(model_vocab(model));
}

int32_t lc_token_eos(const lc_model *model) {
    return lc_vocab_eos(model_vocab(model));
}

bool lc_token_is_eog(const lc_model *model, int32_t token) {
    return lc_vocab_is_eog(model_vocab(model), token);
}

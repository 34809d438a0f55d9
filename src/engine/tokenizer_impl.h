/*
 * Private parts of the tokenizer, shared by tokenizer.c (vocabulary loading,
 * special tokens, dispatch), tokenizer_spm.c, tokenizer_bpe.c,
 * tokenizer_pretok.c, tokenizer_wpm.c, tokenizer_unicode.c and detok.c.
 *
 * The behaviour follows llama.cpp's vocabulary code (facts only: which
 * metadata keys exist, their defaults, the order in which merges happen),
 * so that the same GGUF file gives the same token ids.
 */
#ifndef LC_ENGINE_TOKENIZER_IMPL_H
#define LC_ENGINE_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

enum lc_vocab_kind {
    LC_VOCAB_SPM, /* "llama": SentencePiece-style merges by score */
    LC_VOCAB_BPE, /* "gpt2": byte-level BPE by merge rank */
    LC_VOCAB_WPM, /* "bert": WordPiece, longest match first */
};

/* Pre-tokenizer families: one per distinct set of splitting regexes. */
enum lc_pre_kind {
    LC_PRE_DEFAULT,        /* missing or "default" pre name */
    LC_PRE_GPT2,           /* gpt-2, mpt, olmo, gpt-neox, roberta-bpe, ... */
    LC_PRE_LLAMA3,         /* llama3, llama-bpe, ... */
    LC_PRE_QWEN2,          /* qwen2, deepseek-r1-qwen, stablelm2 */
    LC_PRE_DEEPSEEK_LLM,   /* deepseek-llm */
    LC_PRE_DEEPSEEK_CODER, /* deepseek-coder */
    LC_PRE_FALCON,         /* falcon */
    LC_PRE_STARCODER,      /* starcoder, refact, smollm, command-r, ... */
};

/* Token attributes, a bit set (GGUF stores one token_type per token;
 * loading turns it into one of these bits and quirks add LSTRIP/RSTRIP). */
enum {
    LC_ATTR_UNKNOWN = 1 << 0,
    LC_ATTR_UNUSED = 1 << 1,
    LC_ATTR_NORMAL = 1 << 2,
    LC_ATTR_CONTROL = 1 << 3,
    LC_ATTR_USER_DEFINED = 1 << 4,
    LC_ATTR_BYTE = 1 << 5,
    LC_ATTR_LSTRIP = 1 << 7,
    LC_ATTR_RSTRIP = 1 << 8,
};

typedef struct lc_token_info {
    const char *text; /* NUL-terminated, inside lc_vocab.arena */
    uint32_t len;
    float score;
    uint32_t attr;
} lc_token_info;

typedef struct lc_merge {
    const char *left; /* inside lc_vocab.arena, not NUL-terminated */
    const char *right;
    uint32_t left_len;
    uint32_t right_len;
} lc_merge; /* the rank of a merge is its index */

struct lc_vocab {
    enum lc_vocab_kind kind;
    enum lc_pre_kind pre;

    int n_tokens;
    lc_token_info *tokens; /* [n_tokens] */
    char *arena;           /* token and merge texts */
    int max_token_len;

    /* text -> id: open addressing, slots hold id or -1; size is a power
     * of two at least twice n_tokens so that probes stay short. */
    int32_t *token_slots;
    uint64_t token_mask;

    lc_merge *merges; /* [n_merges] */
    int n_merges;
    int32_t *merge_slots; /* (left, right) -> rank, same scheme */
    uint64_t merge_mask;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_sep;
    bool add_space_prefix; /* SPM: prefix text with a space */
    bool ignore_merges;    /* BPE: a word that is a token is kept whole */
    bool clean_spaces;     /* detokenizer clean-up (unused by pieces) */
    bool lowercase;        /* WPM normaliser */
    bool strip_accents;    /* WPM normaliser */

    /* CONTROL, USER_DEFINED and UNKNOWN tokens, longest text first: the
     * order in which they are cut out of the text. */
    int32_t *special; /* [n_special] */
    int n_special;
    int special_max_len;

    uint8_t *eog; /* [n_tokens] 1 = ends generation */

    /* BPE: the token of each byte's byte-level character (-1 if none);
     * SPM: the <0xXX> token of each byte, else the one-byte token. */
    int32_t byte_token[256];

    char type_name[16];
};

/* A growing list of token ids. On allocation failure `failed` is set and
 * later pushes are ignored. */
typedef struct lc_tokbuf {
    int32_t *ids;
    int n;
    int cap;
    bool failed;
} lc_tokbuf;

void lc_tokbuf_push(lc_tokbuf *b, int32_t id);

/* Token id of a text, or -1. */
int32_t lc_vocab_find(const lc_vocab *v, const char *text, size_t len);
/* The hash behind lc_vocab_find (FNV-1a), exposed so that a scan can
 * extend it one byte at a time: h = LC_HASH_INIT, then h =
 * lc_hash_step(h, byte) per byte, then lc_vocab_find_hashed(). */
#define LC_HASH_INIT 1469598103934665603ULL
uint64_t lc_hash_step(uint64_t h, unsigned char c);
int32_t lc_vocab_find_hashed(const lc_vocab *v, uint64_t h, const char *text,
                             size_t len);
/* Reads a token id key into *id when present and inside the vocabulary;
 * a default *id outside the vocabulary becomes -1. */
void lc_vocab_read_id(const lc_vocab *v, const gguf_file *f, const char *key,
                      int32_t *id);
/* Rank of the merge (left, right), or -1. */
int lc_vocab_merge_rank(const lc_vocab *v, const char *left, size_t left_len,
                        const char *right, size_t right_len);

/* ---- special tokens (tokenizer_special.c) ---- */

/* End-of-generation set, special-token list and model quirks; called by
 * lc_vocab_load once tokens and special ids are read. */
bool lc_vocab_init_special(lc_vocab *v, const gguf_file *f, char *err,
                           size_t err_len);

/* A piece of the input: plain text [off, off+len) or one token. */
typedef struct lc_fragment {
    int32_t token; /* -1: text */
    size_t off;
    size_t len;
} lc_fragment;

typedef struct lc_fraglist {
    lc_fragment *items;
    int n;
    int cap;
} lc_fraglist;

/* Cuts the special tokens out of text (user-defined ones always, control
 * and unknown ones when parse_special). false on allocation failure. */
bool lc_vocab_partition(const lc_vocab *v, const char *text, size_t len,
                        bool parse_special, lc_fraglist *frags);

/* The tokenizers proper: each appends the ids of one run of plain text
 * (special tokens already cut out) to out. */
void lc_spm_tokenize(const lc_vocab *v, const char *text, size_t len,
                     bool prefix_space, lc_tokbuf *out);
void lc_bpe_tokenize(const lc_vocab *v, const char *text, size_t len,
                     lc_tokbuf *out);
void lc_wpm_tokenize(const lc_vocab *v, const char *text, size_t len,
                     lc_tokbuf *out);

/* ---- Unicode helpers (tokenizer_unicode.c) ---- */

/* Codepoint classes as llama.cpp's tables define them. */
enum {
    LC_CPT_NUMBER = 1 << 0,      /* \p{N} */
    LC_CPT_LETTER = 1 << 1,      /* \p{L} */
    LC_CPT_SEPARATOR = 1 << 2,   /* \p{Z} */
    LC_CPT_ACCENT_MARK = 1 << 3, /* \p{M} */
    LC_CPT_PUNCTUATION = 1 << 4, /* \p{P} */
    LC_CPT_SYMBOL = 1 << 5,      /* \p{S} */
    LC_CPT_CONTROL = 1 << 6,     /* \p{C} except unassigned */
    LC_CPT_WHITESPACE = 1 << 7,  /* \s (Unicode White_Space) */
};

/* Class bits of a codepoint; 0 for unassigned or out of range. */
unsigned lc_cpt_flags(uint32_t cpt);
/* Decodes one codepoint at s[*pos] (len bytes in all). Invalid sequences
 * give U+FFFD and consume one byte, as llama.cpp does. */
uint32_t lc_utf8_decode(const char *s, size_t len, size_t *pos);
/* Encodes cpt into out (4 bytes room); returns the byte count. */
int lc_utf8_encode(uint32_t cpt, char *out);
/* Length of a UTF-8 sequence from its first byte (1 for stray bytes). */
int lc_utf8_len(unsigned char first);
/* Lower case (simple mapping); cpt itself when there is none. */
uint32_t lc_cpt_tolower(uint32_t cpt);
/* First codepoint of the canonical decomposition (é -> e). */
uint32_t lc_cpt_nfd_first(uint32_t cpt);

/* Byte-level BPE alphabet: byte -> codepoint and back (-1 if none). */
uint32_t lc_byte_to_cpt(uint8_t b);
int lc_cpt_to_byte(uint32_t cpt);

/* ---- pre-tokenizer (tokenizer_pretok.c) ---- */

/* Splits the codepoints cpts[0..n) into words as the family's regexes
 * do. Word i spans cpts[start..start+lens[i]). Returns the number of
 * words (<= n) written to lens (room for n), or -1 on allocation
 * failure. */
int lc_pretokenize(enum lc_pre_kind pre, const uint32_t *cpts, int n,
                   int *lens);

#endif

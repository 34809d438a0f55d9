/*
 * gen_model: writes a random-weight GGUF v3 file for benchmarks: a llama
 * decoder or a BERT encoder.
 *
 *     gen_model --preset 1b --type q4_k_m -o /tmp/models/llama-1b-q4_k_m.gguf
 *     gen_model --preset bert-base --type f16 -o /tmp/models/bert-base-f16.gguf
 *
 * Speed of a forward pass depends on the shapes and tensor types, not on the
 * values, so the weights are random: quantized blocks get random quant bytes
 * and small valid fp16 scales, F16 weights get normal(0, 0.02) values, norm
 * weights are 1 + small noise, biases and BERT's position and token-type
 * tables normal(0, 0.02). The magnitudes are chosen so that every weight
 * type gives elements with a standard deviation near 0.02, as in a trained
 * model, which keeps the activations of a forward pass finite.
 *
 * The tensor set, names, types and metadata keys are those of a llama or a
 * bert model as llama.cpp's converter (and llama-quantize for the quantized
 * types) writes it, so llama.cpp (llama-bench) and llamachat load the same
 * file. The llama tokenizer is a synthetic SentencePiece ("llama")
 * vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then made-up pieces.
 * The bert tokenizer is a synthetic WordPiece ("bert") vocabulary: [PAD]
 * [UNK] [CLS] [SEP] [MASK], the printable ASCII characters, then made-up
 * pieces (see "WordPiece vocabulary" below).
 *
 * The file is written streaming (one chunk of rows at a time). A regular
 * output file is written as "<output>.tmp" first and renamed at the end, so
 * a failed run never leaves a truncated file under the requested name; any
 * other existing path (a pipe, a device) is written in place.
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* stat() */
#endif
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/quant.h"

/* GGUF metadata value types (the subset written here). */
enum {
    KV_UINT32 = 4,
    KV_INT32 = 5,
    KV_FLOAT32 = 6,
    KV_BOOL = 7,
    KV_STRING = 8,
    KV_ARRAY = 9,
};

#define GGUF_ALIGNMENT 32 /* default general.alignment; not written */

/* llama.cpp's llama_ftype values stored in general.file_type. */
enum file_type { FTYPE_F16 = 1, FTYPE_Q8_0 = 7, FTYPE_Q4_K_M = 15 };

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block is 210 bytes");

/* ------------------------------------------------------------ presets */

enum arch { ARCH_LLAMA, ARCH_BERT };

typedef struct preset {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base; /* llama only */
    float norm_eps;  /* RMSNorm (llama) or LayerNorm (bert) epsilon */
    enum arch arch;
} preset;

static const preset PRESETS[] = {
    /* Llama-3.2-1B's shape (with a Llama-2 sized vocabulary). */
    {"1b", 2048, 16, 32, 8, 8192, 32000, 4096, 500000.0f, 1e-5f, ARCH_LLAMA},
    /* A GPT-2-small sized llama. */
    {"125m", 768, 12, 12, 12, 3072, 32000, 2048, 10000.0f, 1e-5f, ARCH_LLAMA},
    /* BERT-base (bert-base-uncased, bge-base-en): 512 positions, a
     * 30522-token WordPiece vocabulary, mean pooling. */
    {"bert-base", 768, 12, 12, 12, 3072, 30522, 512, 0.0f, 1e-12f, ARCH_BERT},
    /* The same graph at test size (a file of about 0.3 MiB). */
    {"bert-tiny", 64, 2, 4, 4, 128, 512, 512, 0.0f, 1e-12f, ARCH_BERT},
};

/* ------------------------------------------------------------- random */

/* splitmix64: tiny, fast and good enough for filler data. */
static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static float rng_uniform(uint64_t *s) {
    return (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f);
}

/* Two independent standard normals (Box-Muller). */
static void rng_normal2(uint64_t *s, float *a, float *b) {
    float u1 = rng_uniform(s);
    float u2 = rng_uniform(s);
    if (u1 < 1e-7f) u1 = 1e-7f; /* log(0) */
    float r = sqrtf(-2.0f * logf(u1));
    *a = r * cosf(6.2831853f * u2);
    *b = r * sinf(6.2831853f * u2);
}

static float rng_normal(uint64_t *s) {
    float a, b;
    rng_normal2(s, &a, &b);
    return a;
}

static void rng_bytes(uint64_t *s, void *dst, size_t n) {
    uint8_t *p = dst;
    while (n >= 8) {
        uint64_t r = rng_next(s);
        memcpy(p, &r, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t r = rng_next(s);
        memcpy(p, &r, n);
    }
}

/* ------------------------------------------------------------- fp16 */

/* float -> IEEE half, round to nearest even. Local so that this tool does
 * not depend on the engine's quant.c. */
static uint16_t half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t man = x & 0x7FFFFFu;

    if (exp == 0xFF) /* inf or nan */
        return (uint16_t)(sign | 0x7C00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7C00u); /* overflow -> inf */
    if (e <= 0) {
        /* Subnormal half (or zero): shift the mantissa with its implicit
         * bit into place, rounding to nearest even. */
        if (e < -10) return (uint16_t)sign;
        uint32_t m = man | 0x800000u;
        int shift = 14 - e;
        uint32_t h = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1FFFu;
    /* A carry out of the mantissa correctly bumps the exponent. */
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* ------------------------------------------------------------ tensors */

typedef struct tensor_desc {
    char name[64];
    int n_dims;
    int64_t ne[2]; /* ne[0] = row length */
    enum ggml_type type;
    bool centred;    /* F32 values around 0 (biases, tables), not around 1 */
    uint64_t offset; /* in the data section */
    uint64_t size;   /* bytes, unpadded */
} tensor_desc;

static int64_t block_elems(enum ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32:
    case GGML_TYPE_F16:
        return 1;
    case GGML_TYPE_Q8_0:
        return QK8_0;
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q6_K:
        return QK_K;
    default:
        return 0;
    }
}

static size_t block_bytes(enum ggml_type t) {
    switch (t) {
    case GGML_TYPE_F32:
        return 4;
    case GGML_TYPE_F16:
        return 2;
    case GGML_TYPE_Q8_0:
        return sizeof(block_q8_0);
    case GGML_TYPE_Q4_K:
        return sizeof(block_q4_K);
    case GGML_TYPE_Q6_K:
        return sizeof(block_q6_K);
    default:
        return 0;
    }
}

static size_t row_bytes(enum ggml_type t, int64_t n) {
    return (size_t)(n / block_elems(t)) * block_bytes(t);
}

/* llama.cpp's "use_more_bits" rule for Q4_K_M/Q5_K_M: the first and last
 * eighth of the layers, and every third layer in between, keep more bits in
 * attn_v and ffn_down, where quantization error hurts most. */
static bool use_more_bits(int i_layer, int n_layer) {
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 ||
           (i_layer - n_layer / 8) % 3 == 2;
}

enum role {
    ROLE_NORM,
    ROLE_EMBD,
    ROLE_OUTPUT,
    ROLE_ATTN_V,
    ROLE_FFN_DOWN,
    ROLE_OTHER,
    ROLE_BIAS,  /* 1-D, F32, centred */
    ROLE_TABLE, /* BERT's position and token-type rows: F32, centred */
};

/* Type of a 2-D weight under each file type, as llama-quantize picks it.
 * The converter writes 1-D tensors and BERT's position and token-type
 * tables in F32, and llama-quantize leaves them so. */
static enum ggml_type weight_type(enum file_type ft, enum role role, int il,
                                  int n_layer) {
    if (role == ROLE_NORM || role == ROLE_BIAS || role == ROLE_TABLE)
        return GGML_TYPE_F32;
    switch (ft) {
    case FTYPE_F16:
        return GGML_TYPE_F16;
    case FTYPE_Q8_0:
        return GGML_TYPE_Q8_0;
    case FTYPE_Q4_K_M:
        if (role == ROLE_OUTPUT) return GGML_TYPE_Q6_K;
        if ((role == ROLE_ATTN_V || role == ROLE_FFN_DOWN) &&
            use_more_bits(il, n_layer))
            return GGML_TYPE_Q6_K;
        return GGML_TYPE_Q4_K;
    }
    return GGML_TYPE_F32;
}

static void add_tensor(tensor_desc *t, int *n, const char *name, int n_dims,
                       int64_t ne0, int64_t ne1, enum ggml_type type) {
    tensor_desc *d = &t[(*n)++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n_dims = n_dims;
    d->ne[0] = ne0;
    d->ne[1] = ne1;
    d->type = type;
    d->size = row_bytes(type, ne0) * (uint64_t)ne1;
}

/* Fills `t` (room for 2 + 9 * n_layer + 1 entries) in the order llama.cpp's
 * converter writes them; returns the count. */
static int build_llama_tensors(const preset *p, enum file_type ft,
                               tensor_desc *t) {
    int n = 0;
    int64_t n_embd_kv = (int64_t)p->n_embd / p->n_head * p->n_head_kv;
    char name[64];

    /* token_embd: [n_embd, n_vocab] */
    add_tensor(t, &n, "token_embd.weight", 2, p->n_embd, p->n_vocab,
               weight_type(ft, ROLE_EMBD, 0, p->n_layer));
    for (int il = 0; il < p->n_layer; il++) {
        struct {
            const char *suffix;
            int n_dims;
            int64_t ne0, ne1;
            enum role role;
        } w[] = {
            {"attn_norm", 1, p->n_embd, 1, ROLE_NORM},
            {"attn_q", 2, p->n_embd, p->n_embd, ROLE_OTHER},  /* [d, d] */
            {"attn_k", 2, p->n_embd, n_embd_kv, ROLE_OTHER},  /* [d, kv] */
            {"attn_v", 2, p->n_embd, n_embd_kv, ROLE_ATTN_V}, /* [d, kv] */
            {"attn_output", 2, p->n_embd, p->n_embd, ROLE_OTHER},
            {"ffn_norm", 1, p->n_embd, 1, ROLE_NORM},
            {"ffn_gate", 2, p->n_embd, p->n_ff, ROLE_OTHER},    /* [d, ff] */
            {"ffn_up", 2, p->n_embd, p->n_ff, ROLE_OTHER},      /* [d, ff] */
            {"ffn_down", 2, p->n_ff, p->n_embd, ROLE_FFN_DOWN}, /* [ff, d] */
        };
        for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, w[k].suffix);
            add_tensor(t, &n, name, w[k].n_dims, w[k].ne0, w[k].ne1,
                       weight_type(ft, w[k].role, il, p->n_layer));
        }
    }
    add_tensor(t, &n, "output_norm.weight", 1, p->n_embd, 1, GGML_TYPE_F32);
    /* output: [n_embd, n_vocab], untied from token_embd */
    add_tensor(t, &n, "output.weight", 2, p->n_embd, p->n_vocab,
               weight_type(ft, ROLE_OUTPUT, 0, p->n_layer));
    return n;
}

/* BERT (post-norm, learned positions, every projection with a bias, GELU
 * FFN, no output head). Fills `t` (room for BERT_TENSORS(n_layer)) in the
 * order of a BERT checkpoint; returns the count. */
#define BERT_TENSORS(n_layer) (5 + 16 * (n_layer))
typedef struct bert_tensor {
    const char *name; /* in a layer: after "blk.N." */
    int n_dims;
    int64_t ne0, ne1;
    enum role role;
} bert_tensor;

static int build_bert_tensors(const preset *p, enum file_type ft,
                              tensor_desc *t) {
    int n = 0;
    const int64_t d = p->n_embd, ff = p->n_ff;
    char name[64];
    /* A model without an output tensor has its token_embd quantized as
     * llama-quantize quantizes an output tensor (Q6_K in Q4_K_M). */
    const bert_tensor g[] = {
        {"token_embd.weight", 2, d, p->n_vocab, ROLE_OUTPUT},
        {"position_embd.weight", 2, d, p->n_ctx, ROLE_TABLE},
        {"token_types.weight", 2, d, 2, ROLE_TABLE}, /* segments A, B */
        {"token_embd_norm.weight", 1, d, 1, ROLE_NORM},
        {"token_embd_norm.bias", 1, d, 1, ROLE_BIAS},
    };
    for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
        add_tensor(t, &n, g[k].name, g[k].n_dims, g[k].ne0, g[k].ne1,
                   weight_type(ft, g[k].role, 0, p->n_layer));
        t[n - 1].centred = g[k].role == ROLE_BIAS || g[k].role == ROLE_TABLE;
    }
    for (int il = 0; il < p->n_layer; il++) {
        const bert_tensor w[] = {
            {"attn_q.weight", 2, d, d, ROLE_OTHER},
            {"attn_q.bias", 1, d, 1, ROLE_BIAS},
            {"attn_k.weight", 2, d, d, ROLE_OTHER},
            {"attn_k.bias", 1, d, 1, ROLE_BIAS},
            {"attn_v.weight", 2, d, d, ROLE_ATTN_V},
            {"attn_v.bias", 1, d, 1, ROLE_BIAS},
            {"attn_output.weight", 2, d, d, ROLE_OTHER},
            {"attn_output.bias", 1, d, 1, ROLE_BIAS},
            {"attn_output_norm.weight", 1, d, 1, ROLE_NORM},
            {"attn_output_norm.bias", 1, d, 1, ROLE_BIAS},
            {"ffn_up.weight", 2, d, ff, ROLE_OTHER}, /* [d, ff] */
            {"ffn_up.bias", 1, ff, 1, ROLE_BIAS},
            {"ffn_down.weight", 2, ff, d, ROLE_FFN_DOWN}, /* [ff, d] */
            {"ffn_down.bias", 1, d, 1, ROLE_BIAS},
            {"layer_output_norm.weight", 1, d, 1, ROLE_NORM},
            {"layer_output_norm.bias", 1, d, 1, ROLE_BIAS},
        };
        for (size_t k = 0; k < sizeof w / sizeof w[0]; k++) {
            snprintf(name, sizeof name, "blk.%d.%s", il, w[k].name);
            add_tensor(t, &n, name, w[k].n_dims, w[k].ne0, w[k].ne1,
                       weight_type(ft, w[k].role, il, p->n_layer));
            t[n - 1].centred = w[k].role == ROLE_BIAS;
        }
    }
    return n;
}

/* ------------------------------------------------------------- writer */

/* With f == NULL a writer only counts (a dry run that sizes the header). */
typedef struct writer {
    FILE *f;
    uint64_t pos;  /* bytes written so far */
    uint64_t n_kv; /* key/value pairs written so far */
    bool failed;
    int err; /* errno of the first failure */
} writer;

static void put(writer *w, const void *data, size_t n) {
    if (w->failed || n == 0) return;
    if (w->f && fwrite(data, 1, n, w->f) != n) {
        w->failed = true;
        w->err = errno;
        return;
    }
    w->pos += n;
}

static void put_u32(writer *w, uint32_t v) {
    put(w, &v, 4);
}
static void put_i32(writer *w, int32_t v) {
    put(w, &v, 4);
}
static void put_u64(writer *w, uint64_t v) {
    put(w, &v, 8);
}
static void put_f32(writer *w, float v) {
    put(w, &v, 4);
}

static void put_str(writer *w, const char *s) {
    size_t n = strlen(s);
    put_u64(w, n);
    put(w, s, n);
}

static void pad_to_alignment(writer *w) {
    static const uint8_t zeros[GGUF_ALIGNMENT];
    uint64_t rem = w->pos % GGUF_ALIGNMENT;
    if (rem) put(w, zeros, GGUF_ALIGNMENT - rem);
}

static void kv_u32(writer *w, const char *key, uint32_t v) {
    w->n_kv++;
    put_str(w, key);
    put_u32(w, KV_UINT32);
    put_u32(w, v);
}

static void kv_f32(writer *w, const char *key, float v) {
    w->n_kv++;
    put_str(w, key);
    put_u32(w, KV_FLOAT32);
    put_f32(w, v);
}

static void kv_bool(writer *w, const char *key, bool v) {
    uint8_t b = v;
    w->n_kv++;
    put_str(w, key);
    put_u32(w, KV_BOOL);
    put(w, &b, 1);
}

static void kv_str(writer *w, const char *key, const char *v) {
    w->n_kv++;
    put_str(w, key);
    put_u32(w, KV_STRING);
    put_str(w, v);
}

static void kv_array_header(writer *w, const char *key, uint32_t elem_type,
                            uint64_t n) {
    w->n_kv++;
    put_str(w, key);
    put_u32(w, KV_ARRAY);
    put_u32(w, elem_type);
    put_u64(w, n);
}

/* ---------------------------------------------------------- tokenizer */

enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };

#define N_SPECIAL 3 /* <unk> <s> </s> */
#define N_BYTES 256
#define FIRST_PIECE (N_SPECIAL + N_BYTES)

/* Text of token `id` of the synthetic vocabulary into buf. */
static void token_text(int id, char *buf, size_t size) {
    static const char *const special[N_SPECIAL] = {"<unk>", "<s>", "</s>"};
    if (id < N_SPECIAL)
        snprintf(buf, size, "%s", special[id]);
    else if (id < FIRST_PIECE)
        snprintf(buf, size, "<0x%02X>", id - N_SPECIAL);
    else /* "\xE2\x96\x81" is U+2581, SentencePiece's word-start mark */
        snprintf(buf, size, "\xE2\x96\x81w%d", id - FIRST_PIECE);
}

static int token_type(int id) {
    if (id == 0) return TOKEN_UNKNOWN;
    if (id < N_SPECIAL) return TOKEN_CONTROL;
    if (id < FIRST_PIECE) return TOKEN_BYTE;
    return TOKEN_NORMAL;
}

/* SentencePiece scores: higher merges first; make later pieces rarer. */
static float token_score(int id) {
    return id < FIRST_PIECE ? 0.0f : -(float)(id - FIRST_PIECE);
}

static void write_tokenizer(writer *w, int n_vocab) {
    char text[32];
    kv_str(w, "tokenizer.ggml.model", "llama");
    kv_array_header(w, "tokenizer.ggml.tokens", KV_STRING, (uint64_t)n_vocab);
    for (int id = 0; id < n_vocab; id++) {
        token_text(id, text, sizeof text);
        put_str(w, text);
    }
    kv_array_header(w, "tokenizer.ggml.scores", KV_FLOAT32, (uint64_t)n_vocab);
    for (int id = 0; id < n_vocab; id++) put_f32(w, token_score(id));
    kv_array_header(w, "tokenizer.ggml.token_type", KV_INT32,
                    (uint64_t)n_vocab);
    for (int id = 0; id < n_vocab; id++) put_i32(w, token_type(id));
    kv_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    kv_bool(w, "tokenizer.ggml.add_bos_token", true);
    kv_bool(w, "tokenizer.ggml.add_eos_token", false);
}

/* ---------------------------------------------- WordPiece vocabulary */

/* llama.cpp's converter stores a WordPiece vocabulary in "phantom space"
 * form: a word-initial piece "hello" becomes "\u2581hello" and a
 * continuation "##llo" becomes "llo"; control tokens stay as they are.
 * The synthetic vocabulary, in that form:
 *   0..4     [PAD] [UNK] [CLS] [SEP] [MASK]
 *   then     every printable ASCII character but A-Z (the tokenizer
 *            lower-cases) as a word, then a-z and 0-9 as continuations,
 *            so that any ASCII text tokenizes without [UNK]
 *   then     made-up words and continuations, alternately, spelled with
 *            consonant-vowel syllables ("\u2581ba", "ba", "\u2581be", ...) */
enum { WPM_PAD, WPM_UNK, WPM_CLS, WPM_SEP, WPM_MASK, WPM_N_SPECIAL };
#define WPM_CHARS                                                              \
    "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
#define WPM_CONT_CHARS "abcdefghijklmnopqrstuvwxyz0123456789"
#define WPM_CONSONANTS "bcdfghjklmnprstvwz"
#define WPM_VOWELS "aeiou"

static int wpm_first_made_up(void) {
    return WPM_N_SPECIAL + (int)strlen(WPM_CHARS) + (int)strlen(WPM_CONT_CHARS);
}

/* Syllables of made-up piece j: j + 1 in bijective base 90 (18 consonants
 * x 5 vowels), so every j gives a different, non-empty spelling. */
static void wpm_syllables(int j, char *buf, size_t size) {
    const int nc = (int)strlen(WPM_CONSONANTS), nv = (int)strlen(WPM_VOWELS);
    const int base = nc * nv;
    char rev[16]; /* an int has at most 5 digits in base 90: 10 letters */
    int n = 0;
    for (int k = j + 1; k > 0 && n + 2 <= (int)sizeof rev; k = (k - 1) / base) {
        int digit = (k - 1) % base;
        rev[n++] = WPM_VOWELS[digit % nv];
        rev[n++] = WPM_CONSONANTS[digit / nv];
    }
    size_t o = 0;
    for (int i = n - 1; i >= 0 && o + 1 < size; i--) buf[o++] = rev[i];
    buf[o] = '\0';
}

static void wpm_token_text(int id, char *buf, size_t size) {
    static const char *const special[WPM_N_SPECIAL] = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const int n_chars = (int)strlen(WPM_CHARS);
    const int n_cont = (int)strlen(WPM_CONT_CHARS);
    char syl[16];
    if (id < WPM_N_SPECIAL) {
        snprintf(buf, size, "%s", special[id]);
    } else if ((id -= WPM_N_SPECIAL) < n_chars) {
        snprintf(buf, size, "\xE2\x96\x81%c", WPM_CHARS[id]);
    } else if ((id -= n_chars) < n_cont) {
        snprintf(buf, size, "%c", WPM_CONT_CHARS[id]);
    } else {
        id -= n_cont;
        wpm_syllables(id / 2, syl, sizeof syl);
        snprintf(buf, size, "%s%s", id % 2 == 0 ? "\xE2\x96\x81" : "", syl);
    }
}

/* The keys llama.cpp's converter writes for a BERT vocabulary (no scores:
 * WordPiece has none). Both engines default CLS/UNK/SEP/PAD/MASK to BERT's
 * ids 101/100/102/0/103, so the ids are written; CLS goes in
 * bos_token_id too, which is where both engines read it from
 * (cls_token_id is what the converter writes, and is read by neither). */
static void write_wpm_tokenizer(writer *w, int n_vocab) {
    char text[32];
    kv_u32(w, "tokenizer.ggml.token_type_count", 2);
    kv_str(w, "tokenizer.ggml.model", "bert");
    kv_array_header(w, "tokenizer.ggml.tokens", KV_STRING, (uint64_t)n_vocab);
    for (int id = 0; id < n_vocab; id++) {
        wpm_token_text(id, text, sizeof text);
        put_str(w, text);
    }
    kv_array_header(w, "tokenizer.ggml.token_type", KV_INT32,
                    (uint64_t)n_vocab);
    for (int id = 0; id < n_vocab; id++)
        put_i32(w, id < WPM_N_SPECIAL ? TOKEN_CONTROL : TOKEN_NORMAL);
    kv_u32(w, "tokenizer.ggml.unknown_token_id", WPM_UNK);
    kv_u32(w, "tokenizer.ggml.seperator_token_id", WPM_SEP);
    kv_u32(w, "tokenizer.ggml.padding_token_id", WPM_PAD);
    kv_u32(w, "tokenizer.ggml.cls_token_id", WPM_CLS);
    kv_u32(w, "tokenizer.ggml.mask_token_id", WPM_MASK);
    kv_u32(w, "tokenizer.ggml.bos_token_id", WPM_CLS);
}

/* ------------------------------------------------------ random blocks */

/* Fills `nb` blocks of type `t` (n elements in all for F32/F16). Scales are
 * picked so that elements have a standard deviation near 0.02. */
static void fill_blocks(enum ggml_type t, bool centred, void *dst, int64_t nb,
                        uint64_t *rng) {
    switch (t) {
    case GGML_TYPE_F32: {
        /* norm weights: 1 + small noise; biases and tables: normal(0, 0.02) */
        float *x = dst;
        for (int64_t i = 0; i < nb; i++)
            x[i] = centred ? 0.02f * rng_normal(rng)
                           : 1.0f + 0.01f * rng_normal(rng);
        break;
    }
    case GGML_TYPE_F16: {
        uint16_t *x = dst;
        for (int64_t i = 0; i < nb; i += 2) {
            float a, b;
            rng_normal2(rng, &a, &b);
            x[i] = half_from_float(0.02f * a);
            if (i + 1 < nb) x[i + 1] = half_from_float(0.02f * b);
        }
        break;
    }
    case GGML_TYPE_Q8_0: {
        /* x = d * q, q uniform int8 (std ~74) */
        block_q8_0 *b = dst;
        for (int64_t i = 0; i < nb; i++) {
            b[i].d = half_from_float(2e-4f + 1.5e-4f * rng_uniform(rng));
            rng_bytes(rng, b[i].qs, sizeof b[i].qs);
        }
        break;
    }
    case GGML_TYPE_Q4_K: {
        /* x = d * sc * q - dmin * m; sc, m 6-bit (mean ~32), q 0..15:
         * dmin = 7.5 d centres the elements near zero. */
        block_q4_K *b = dst;
        for (int64_t i = 0; i < nb; i++) {
            float d = 5e-5f + 5e-5f * rng_uniform(rng);
            b[i].d = half_from_float(d);
            b[i].dmin = half_from_float(7.5f * d);
            rng_bytes(rng, b[i].scales, sizeof b[i].scales);
            rng_bytes(rng, b[i].qs, sizeof b[i].qs);
        }
        break;
    }
    case GGML_TYPE_Q6_K: {
        /* x = d * sc * (q - 32); sc int8, q 0..63 */
        block_q6_K *b = dst;
        for (int64_t i = 0; i < nb; i++) {
            rng_bytes(rng, b[i].ql, sizeof b[i].ql);
            rng_bytes(rng, b[i].qh, sizeof b[i].qh);
            rng_bytes(rng, b[i].scales, sizeof b[i].scales);
            b[i].d = half_from_float(1e-5f + 1e-5f * rng_uniform(rng));
        }
        break;
    }
    default:
        break;
    }
}

/* ----------------------------------------------------------------- main */

static void usage(FILE *out) {
    fprintf(out,
            "usage: gen_model --preset NAME --type f16|q8_0|q4_k_m -o FILE "
            "[--seed N]\n"
            "Writes a random-weight GGUF v3 file for benchmarks.\n"
            "Presets: 1b, 125m (llama decoders), bert-base (a BERT-base "
            "encoder),\n"
            "bert-tiny (the same graph at test size).\n");
}

static const char *ftype_name(enum file_type ft) {
    switch (ft) {
    case FTYPE_F16:
        return "F16";
    case FTYPE_Q8_0:
        return "Q8_0";
    case FTYPE_Q4_K_M:
        return "Q4_K_M";
    }
    return "?";
}

static void write_llama_hparams(writer *w, const preset *p) {
    kv_u32(w, "llama.vocab_size", (uint32_t)p->n_vocab);
    kv_u32(w, "llama.context_length", (uint32_t)p->n_ctx);
    kv_u32(w, "llama.embedding_length", (uint32_t)p->n_embd);
    kv_u32(w, "llama.block_count", (uint32_t)p->n_layer);
    kv_u32(w, "llama.feed_forward_length", (uint32_t)p->n_ff);
    kv_u32(w, "llama.attention.head_count", (uint32_t)p->n_head);
    kv_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_head_kv);
    kv_u32(w, "llama.attention.key_length", (uint32_t)(p->n_embd / p->n_head));
    kv_u32(w, "llama.attention.value_length",
           (uint32_t)(p->n_embd / p->n_head));
    kv_u32(w, "llama.rope.dimension_count", (uint32_t)(p->n_embd / p->n_head));
    kv_f32(w, "llama.rope.freq_base", p->rope_base);
    kv_f32(w, "llama.attention.layer_norm_rms_epsilon", p->norm_eps);
    write_tokenizer(w, p->n_vocab);
}

/* The keys llama.cpp's converter writes for a BERT model (sentence-
 * transformers' mean pooling). */
static void write_bert_hparams(writer *w, const preset *p) {
    kv_u32(w, "bert.context_length", (uint32_t)p->n_ctx);
    kv_u32(w, "bert.embedding_length", (uint32_t)p->n_embd);
    kv_u32(w, "bert.feed_forward_length", (uint32_t)p->n_ff);
    kv_u32(w, "bert.block_count", (uint32_t)p->n_layer);
    kv_u32(w, "bert.attention.head_count", (uint32_t)p->n_head);
    kv_f32(w, "bert.attention.layer_norm_epsilon", p->norm_eps);
    kv_bool(w, "bert.attention.causal", false);
    kv_u32(w, "bert.pooling_type", 1); /* mean */
    write_wpm_tokenizer(w, p->n_vocab);
}

/* Header and metadata; n_kv must be the number of pairs this writes (found
 * by a dry run with a counting writer). */
static void write_metadata(writer *w, const preset *p, enum file_type ft,
                           int n_tensors, uint64_t n_kv) {
    const char *arch = p->arch == ARCH_BERT ? "bert" : "llama";
    char name[64];

    put(w, "GGUF", 4);
    put_u32(w, 3);
    put_u64(w, (uint64_t)n_tensors);
    put_u64(w, n_kv);

    snprintf(name, sizeof name, "random %s %s %s", arch, p->name,
             ftype_name(ft));
    kv_str(w, "general.architecture", arch);
    kv_str(w, "general.name", name);
    kv_u32(w, "general.file_type", (uint32_t)ft);
    if (ft != FTYPE_F16) kv_u32(w, "general.quantization_version", 2);
    if (p->arch == ARCH_BERT)
        write_bert_hparams(w, p);
    else
        write_llama_hparams(w, p);
}

static void write_tensor_infos(writer *w, const tensor_desc *t, int n) {
    for (int i = 0; i < n; i++) {
        put_str(w, t[i].name);
        put_u32(w, (uint32_t)t[i].n_dims);
        for (int d = 0; d < t[i].n_dims; d++) put_u64(w, (uint64_t)t[i].ne[d]);
        put_u32(w, (uint32_t)t[i].type);
        put_u64(w, t[i].offset);
    }
}

/* Streams the data of every tensor, a chunk of rows at a time. */
static void write_tensor_data(writer *w, const tensor_desc *t, int n,
                              uint64_t total, uint64_t seed) {
    enum { CHUNK_BYTES = 8 << 20 };
    uint64_t rng = seed;
    uint64_t data_start = w->pos;
    void *buf = NULL;
    size_t buf_size = 0;
    int last_pct = -1;

    for (int i = 0; i < n && !w->failed; i++) {
        size_t rb = row_bytes(t[i].type, t[i].ne[0]);
        int64_t rows_per_chunk = rb >= CHUNK_BYTES ? 1 : CHUNK_BYTES / rb;
        if (rows_per_chunk > t[i].ne[1]) rows_per_chunk = t[i].ne[1];
        size_t need = rb * (size_t)rows_per_chunk;
        if (need > buf_size) {
            void *nb = realloc(buf, need);
            if (!nb) {
                w->failed = true;
                w->err = ENOMEM;
                break;
            }
            buf = nb;
            buf_size = need;
        }
        for (int64_t r = 0; r < t[i].ne[1] && !w->failed; r += rows_per_chunk) {
            int64_t rows = t[i].ne[1] - r;
            if (rows > rows_per_chunk) rows = rows_per_chunk;
            int64_t blocks = rows * (t[i].ne[0] / block_elems(t[i].type));
            fill_blocks(t[i].type, t[i].centred, buf, blocks, &rng);
            put(w, buf, rb * (size_t)rows);

            int pct = (int)((w->pos - data_start) * 100 / total);
            if (pct != last_pct) {
                fprintf(stderr, "\rgen_model: %3d%% %6.0f/%.0f MiB  %-28s", pct,
                        (double)(w->pos - data_start) / 1048576.0,
                        (double)total / 1048576.0, t[i].name);
                last_pct = pct;
            }
        }
        pad_to_alignment(w);
    }
    fprintf(stderr, "\n");
    free(buf);
}

int main(int argc, char **argv) {
    const char *preset_name = NULL, *type_name = NULL, *out = NULL;
    uint64_t seed = 1234;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gen_model: unknown or incomplete option '%s'\n",
                    a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--preset"))
            preset_name = v;
        else if (!strcmp(a, "--type"))
            type_name = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || *end || end == v) {
                fprintf(stderr, "gen_model: bad seed '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "gen_model: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!preset_name || !type_name || !out) {
        usage(stderr);
        return 2;
    }

    const preset *p = NULL;
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++)
        if (!strcmp(preset_name, PRESETS[i].name)) p = &PRESETS[i];
    if (!p) {
        fprintf(stderr,
                "gen_model: unknown preset '%s' (1b, 125m, bert-base, "
                "bert-tiny)\n",
                preset_name);
        return 2;
    }
    enum file_type ft;
    if (!strcmp(type_name, "f16"))
        ft = FTYPE_F16;
    else if (!strcmp(type_name, "q8_0"))
        ft = FTYPE_Q8_0;
    else if (!strcmp(type_name, "q4_k_m"))
        ft = FTYPE_Q4_K_M;
    else {
        fprintf(stderr, "gen_model: unknown type '%s' (f16, q8_0, q4_k_m)\n",
                type_name);
        return 2;
    }

    if (p->arch == ARCH_BERT && p->n_vocab < wpm_first_made_up()) {
        fprintf(stderr, "gen_model: preset '%s': vocabulary too small\n",
                p->name);
        return 2;
    }
    /* llama: token_embd + 9 per layer + output_norm + output */
    int max_tensors =
        p->arch == ARCH_BERT ? BERT_TENSORS(p->n_layer) : 3 + 9 * p->n_layer;
    tensor_desc *t = calloc((size_t)max_tensors, sizeof *t);
    if (!t) {
        fprintf(stderr, "gen_model: out of memory\n");
        return 1;
    }
    int n = p->arch == ARCH_BERT ? build_bert_tensors(p, ft, t)
                                 : build_llama_tensors(p, ft, t);
    for (int i = 0; i < n; i++) {
        if (t[i].ne[0] % block_elems(t[i].type) != 0) {
            fprintf(stderr,
                    "gen_model: preset '%s' cannot be written as %s: rows of "
                    "'%s' hold %lld values, not whole blocks\n",
                    p->name, type_name, t[i].name, (long long)t[i].ne[0]);
            free(t);
            return 2;
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        t[i].offset = off;
        off +=
            (t[i].size + GGUF_ALIGNMENT - 1) / GGUF_ALIGNMENT * GGUF_ALIGNMENT;
    }

    /* Write beside the target and rename, unless the target exists and is
     * not a regular file: renaming over a device or pipe would replace it. */
    struct stat st;
    bool in_place = stat(out, &st) == 0 && !S_ISREG(st.st_mode);
    size_t tmp_len = strlen(out) + 5;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        free(t);
        fprintf(stderr, "gen_model: out of memory\n");
        return 1;
    }
    snprintf(tmp, tmp_len, in_place ? "%s" : "%s.tmp", out);

    writer dry = {NULL, 0, 0, false, 0};
    write_metadata(&dry, p, ft, n, 0);

    writer w = {fopen(tmp, "wb"), 0, 0, false, 0};
    if (!w.f) {
        fprintf(stderr, "gen_model: cannot create '%s': %s\n", tmp,
                strerror(errno));
        free(tmp);
        free(t);
        return 1;
    }
    fprintf(stderr, "gen_model: %s %s, %d tensors, %.1f MiB of weights\n",
            p->name, ftype_name(ft), n, (double)off / 1048576.0);

    write_metadata(&w, p, ft, n, dry.n_kv);
    write_tensor_infos(&w, t, n);
    pad_to_alignment(&w);
    write_tensor_data(&w, t, n, off, seed);

    int err = w.err;
    bool ok = !w.failed;
    if (fclose(w.f) != 0) {
        err = errno;
        ok = false;
    }
    if (ok && !in_place && rename(tmp, out) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) {
        fprintf(stderr, "gen_model: writing '%s' failed: %s\n", out,
                strerror(err));
        if (!in_place) remove(tmp);
    } else {
        fprintf(stderr, "gen_model: wrote %s (%.1f MiB)\n", out,
                (double)w.pos / 1048576.0);
    }
    free(tmp);
    free(t);
    return ok ? 0 : 1;
}

/*
 * GGUF reader tests.
 *
 * 1. The oracle models open and match the facts that manifest.json records
 *    about them (architecture, tensor type counts, shapes, file layout).
 * 2. A small GGUF built here by a tiny writer opens, and every getter gives
 *    back what was written.
 * 3. Broken versions of that file (every truncation, flipped bytes, hostile
 *    counts, lengths, dimensions, offsets, alignments, duplicates) are
 *    refused with a one-line error and never read outside the buffer:
 *    each input is copied into a heap block of exactly its size, so ASan
 *    reports any over-read.
 *
 * With LC_GGUF_WRITE_SEEDS=<dir> the program only writes the small files
 * it builds into <dir> (the fuzzer's seed corpus) and exits.
 */
#include "testutil.h"

#include "engine/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERR_LEN 256

/* ------------------------------------------------------- a tiny writer */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    if (n > 0) memcpy(w->p + w->n, src, n);
    w->n += n;
}

static void w_le(wbuf *w, uint64_t v, int n) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, (size_t)n);
}
static void w_u8(wbuf *w, uint8_t v) {
    w_le(w, v, 1);
}
static void w_u16(wbuf *w, uint16_t v) {
    w_le(w, v, 2);
}
static void w_u32(wbuf *w, uint32_t v) {
    w_le(w, v, 4);
}
static void w_u64(wbuf *w, uint64_t v) {
    w_le(w, v, 8);
}
static void w_f32(wbuf *w, float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    w_u32(w, b);
}
static void w_f64(wbuf *w, double f) {
    uint64_t b;
    memcpy(&b, &f, 8);
    w_u64(w, b);
}
static void w_str(wbuf *w, const char *s) {
    w_u64(w, strlen(s));
    w_bytes(w, s, strlen(s));
}
static void w_key(wbuf *w, const char *key, enum gguf_value_type t) {
    w_str(w, key);
    w_u32(w, (uint32_t)t);
}
static void w_pad(wbuf *w, size_t alignment) {
    while (w->n % alignment != 0) w_u8(w, 0);
}

/* Options for the test file; all false/0 gives the plain valid file. */
typedef struct file_opts {
    uint32_t version;   /* 0 = 3 */
    uint32_t alignment; /* 0 = no general.alignment key (default 32) */
    bool alignment_as_string;
    bool dup_key;
    bool dup_tensor;
    bool nested_array;
    bool no_tensors;
} file_opts;

#define N_TENSORS 3

/* Where the fields that the hostile tests patch ended up. */
typedef struct layout {
    size_t version_at, n_tensors_at, n_kv_at;
    size_t key0_len_at;  /* length of the first key */
    size_t u8_type_at;   /* value type of "t.u8" */
    size_t strs_n_at;    /* element count of the string array */
    size_t strs_type_at; /* element type of the string array */
    size_t ndims_at[N_TENSORS], ne_at[N_TENSORS], type_at[N_TENSORS],
        offset_at[N_TENSORS];
    size_t data_at;
    uint64_t alignment;
} layout;

static const char *TOKENS[] = {"<unk>", "a", "", "hello"};

/* Tensors: F32 [8, 2], Q8_0 [64], Q4_K [256, 2]. */
static const char *T_NAMES[N_TENSORS] = {"w.f32", "w.q8_0", "w.q4_k"};
static const uint32_t T_NDIMS[N_TENSORS] = {2, 1, 2};
static const uint64_t T_NE[N_TENSORS][2] = {{8, 2}, {64, 1}, {256, 2}};
static const uint32_t T_TYPE[N_TENSORS] = {GGML_TYPE_F32, GGML_TYPE_Q8_0,
                                           GGML_TYPE_Q4_K};
static const uint64_t T_SIZE[N_TENSORS] = {64, 2 * 34, 2 * 144};

/* Builds the test file into w (which must be empty). The file ends with
 * the last tensor's data, so every proper prefix of it is invalid. */
static void build_file(wbuf *w, const file_opts *o, layout *l) {
    memset(l, 0, sizeof *l);
    uint64_t align = o->alignment ? o->alignment : 32;
    /* Invalid alignments are refused before the tensors are read: lay the
     * rest out with the default rather than padding by gigabytes. */
    if ((align & (align - 1)) != 0 || align > 4096) align = 32;
    l->alignment = align;
    uint32_t n_kv = 18 + (o->alignment ? 1 : 0) + (o->dup_key ? 1 : 0) +
                    (o->nested_array ? 1 : 0);
    uint32_t n_tensors = o->no_tensors ? 0 : N_TENSORS;

    w_bytes(w, "GGUF", 4);
    l->version_at = w->n;
    w_u32(w, o->version ? o->version : 3);
    l->n_tensors_at = w->n;
    w_u64(w, n_tensors);
    l->n_kv_at = w->n;
    w_u64(w, n_kv);

    l->key0_len_at = w->n;
    w_key(w, "general.architecture", GGUF_STRING);
    w_str(w, "llama");
    if (o->alignment) {
        if (o->alignment_as_string) {
            w_key(w, "general.alignment", GGUF_STRING);
            w_str(w, "32");
        } else {
            w_key(w, "general.alignment", GGUF_UINT32);
            w_u32(w, o->alignment);
        }
    }
    w_str(w, "t.u8");
    l->u8_type_at = w->n;
    w_u32(w, GGUF_UINT8);
    w_u8(w, 200);
    w_key(w, "t.i8", GGUF_INT8);
    w_u8(w, (uint8_t)-5);
    w_key(w, "t.u16", GGUF_UINT16);
    w_u16(w, 60000);
    w_key(w, "t.i16", GGUF_INT16);
    w_u16(w, (uint16_t)-30000);
    w_key(w, "t.u32", GGUF_UINT32);
    w_u32(w, 4000000000u);
    w_key(w, "t.i32", GGUF_INT32);
    w_u32(w, (uint32_t)-2000000000);
    w_key(w, "t.f32", GGUF_FLOAT32);
    w_f32(w, 1.5f);
    w_key(w, "t.bool", GGUF_BOOL);
    w_u8(w, 1);
    w_key(w, "t.u64", GGUF_UINT64);
    w_u64(w, 1ull << 40);
    w_key(w, "t.i64", GGUF_INT64);
    w_u64(w, (uint64_t) - (1ll << 40));
    w_key(w, "t.i64small", GGUF_INT64);
    w_u64(w, (uint64_t)-7);
    w_key(w, "t.f64", GGUF_FLOAT64);
    w_f64(w, 0.25);
    w_key(w, "t.empty_str", GGUF_STRING);
    w_str(w, "");

    w_key(w, "tokenizer.ggml.tokens", GGUF_ARRAY);
    l->strs_type_at = w->n;
    w_u32(w, GGUF_STRING);
    l->strs_n_at = w->n;
    w_u64(w, 4);
    for (int i = 0; i < 4; i++) w_str(w, TOKENS[i]);
    w_key(w, "t.scores", GGUF_ARRAY);
    w_u32(w, GGUF_FLOAT32);
    w_u64(w, 3);
    w_f32(w, 0.5f);
    w_f32(w, -1.0f);
    w_f32(w, 2.0f);
    w_key(w, "t.empty_arr", GGUF_ARRAY);
    w_u32(w, GGUF_INT32);
    w_u64(w, 0);
    w_key(w, "t.bools", GGUF_ARRAY);
    w_u32(w, GGUF_BOOL);
    w_u64(w, 2);
    w_u8(w, 0);
    w_u8(w, 1);
    if (o->nested_array) {
        w_key(w, "t.nested", GGUF_ARRAY);
        w_u32(w, GGUF_ARRAY);
        w_u64(w, 1);
        w_u32(w, GGUF_UINT8);
        w_u64(w, 1);
        w_u8(w, 9);
    }
    if (o->dup_key) {
        w_key(w, "general.architecture", GGUF_STRING);
        w_str(w, "gemma3");
    }

    uint64_t offset = 0;
    for (uint32_t i = 0; i < n_tensors; i++) {
        const char *name = T_NAMES[i];
        if (o->dup_tensor && i == N_TENSORS - 1) name = T_NAMES[0];
        w_str(w, name);
        l->ndims_at[i] = w->n;
        w_u32(w, T_NDIMS[i]);
        l->ne_at[i] = w->n;
        for (uint32_t d = 0; d < T_NDIMS[i]; d++) w_u64(w, T_NE[i][d]);
        l->type_at[i] = w->n;
        w_u32(w, T_TYPE[i]);
        l->offset_at[i] = w->n;
        w_u64(w, offset);
        offset += T_SIZE[i];
        offset = (offset + align - 1) / align * align;
    }
    if (n_tensors == 0) return;
    w_pad(w, align);
    l->data_at = w->n;
    for (uint32_t i = 0; i < n_tensors; i++) {
        if (i > 0) w_pad(w, align);
        for (uint64_t b = 0; b < T_SIZE[i]; b++) w_u8(w, (uint8_t)(b * 7 + i));
    }
}

static void patch_u32(wbuf *w, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) w->p[at + i] = (uint8_t)(v >> (8 * i));
}
static void patch_u64(wbuf *w, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) w->p[at + i] = (uint8_t)(v >> (8 * i));
}

/* ------------------------------------------------------------- helpers */

/* Opens n bytes of src from a heap block of exactly n bytes. */
static gguf_file *open_exact(const uint8_t *src, size_t n, char *err,
                             uint8_t **block) {
    *block = malloc(n ? n : 1);
    assert_non_null(*block);
    if (n) memcpy(*block, src, n);
    return gguf_open_buffer(*block, n, err, ERR_LEN);
}

/* Reads every byte that the parsed file points at, and checks that the
 * lookups find each entry; ASan catches any pointer outside the buffer. */
static unsigned walk(const gguf_file *f) {
    unsigned sum = 0;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const gguf_kv *kv = &f->kv[i];
        for (uint64_t j = 0; j < kv->key.len; j++) sum += kv->key.ptr[j];
        char key[128];
        if (kv->key.len < sizeof key && !memchr(kv->key.ptr, 0, kv->key.len)) {
            memcpy(key, kv->key.ptr, kv->key.len);
            key[kv->key.len] = '\0';
            assert_ptr_equal(gguf_find_kv(f, key), kv);
            uint32_t u;
            int32_t s;
            float x;
            bool b;
            char str[16];
            uint64_t n;
            enum gguf_value_type et;
            sum += gguf_get_u32(f, key, &u) + gguf_get_i32(f, key, &s) +
                   gguf_get_f32(f, key, &x) + gguf_get_bool(f, key, &b) +
                   gguf_get_str(f, key, str, sizeof str) +
                   (gguf_get_arr(f, key, &et, &n) != NULL);
        }
        if (kv->type == GGUF_STRING)
            for (uint64_t j = 0; j < kv->v.str.len; j++)
                sum += kv->v.str.ptr[j];
        if (kv->type != GGUF_ARRAY) continue;
        if (kv->arr_type == GGUF_STRING) {
            assert_non_null(kv->strs);
            for (uint64_t k = 0; k < kv->arr_n; k++)
                for (uint64_t j = 0; j < kv->strs[k].len; j++)
                    sum += kv->strs[k].ptr[j];
        } else {
            const uint8_t *p = kv->arr;
            static const size_t sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4,
                                                          1, 0, 0, 8, 8, 8};
            for (uint64_t j = 0; j < kv->arr_n * sizes[kv->arr_type]; j++)
                sum += p[j];
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        char name[128];
        if (t->name.len < sizeof name && !memchr(t->name.ptr, 0, t->name.len)) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = '\0';
            assert_ptr_equal(gguf_find_tensor(f, name), t);
        }
        assert_true(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
        const uint8_t *d = t->data;
        for (uint64_t j = 0; j < t->size; j++) sum += d[j];
    }
    return sum;
}

/* Asserts that the bytes are refused with an error containing `want`. */
static void expect_fail_n(const uint8_t *src, size_t n, const char *want) {
    char err[ERR_LEN] = "";
    uint8_t *block;
    gguf_file *f = open_exact(src, n, err, &block);
    if (f != NULL || strncmp(err, "gguf: ", 6) != 0 ||
        (want && !strstr(err, want)))
        print_message("expected failure with '%s', got %s: '%s'\n",
                      want ? want : "", f ? "success" : "failure", err);
    assert_null(f);
    assert_true(strncmp(err, "gguf: ", 6) == 0);
    assert_null(strchr(err, '\n'));
    if (want) assert_non_null(strstr(err, want));
    free(block);
}

static void expect_fail(const wbuf *w, const char *want) {
    expect_fail_n(w->p, w->n, want);
}

static void expect_ok(const wbuf *w) {
    char err[ERR_LEN] = "x";
    uint8_t *block;
    gguf_file *f = open_exact(w->p, w->n, err, &block);
    if (f == NULL) print_message("unexpected failure: %s\n", err);
    assert_non_null(f);
    assert_string_equal(err, "");
    walk(f);
    gguf_close(f);
    free(block);
}

/* ------------------------------------------------------ the valid file */

static void check_valid_file(const gguf_file *f, const uint8_t *buf,
                             const layout *l, uint32_t version) {
    assert_int_equal(f->version, version);
    assert_int_equal(f->n_tensors, N_TENSORS);
    assert_int_equal(f->alignment, l->alignment);
    assert_int_equal(f->data_offset, l->data_at);
    assert_ptr_equal(f->map, buf);

    char s[64];
    assert_true(gguf_get_str(f, "general.architecture", s, sizeof s));
    assert_string_equal(s, "llama");
    assert_true(gguf_get_str(f, "general.architecture", s, 3));
    assert_string_equal(s, "ll");
    assert_true(gguf_get_str(f, "t.empty_str", s, sizeof s));
    assert_string_equal(s, "");
    assert_false(gguf_get_str(f, "t.u8", s, sizeof s));
    assert_false(gguf_get_str(f, "no.such.key", s, sizeof s));

    uint32_t u;
    int32_t i;
    assert_true(gguf_get_u32(f, "t.u8", &u));
    assert_int_equal(u, 200);
    assert_true(gguf_get_i32(f, "t.u8", &i));
    assert_int_equal(i, 200);
    assert_false(gguf_get_u32(f, "t.i8", &u)); /* -5 does not fit */
    assert_true(gguf_get_i32(f, "t.i8", &i));
    assert_int_equal(i, -5);
    assert_true(gguf_get_u32(f, "t.u16", &u));
    assert_int_equal(u, 60000);
    assert_true(gguf_get_i32(f, "t.i16", &i));
    assert_int_equal(i, -30000);
    assert_true(gguf_get_u32(f, "t.u32", &u));
    assert_int_equal(u, 4000000000u);
    assert_false(gguf_get_i32(f, "t.u32", &i)); /* above INT32_MAX */
    assert_true(gguf_get_i32(f, "t.i32", &i));
    assert_int_equal(i, -2000000000);
    assert_false(gguf_get_u32(f, "t.u64", &u)); /* 2^40 */
    assert_false(gguf_get_i32(f, "t.i64", &i)); /* -2^40 */
    assert_true(gguf_get_i32(f, "t.i64small", &i));
    assert_int_equal(i, -7);
    assert_false(gguf_get_u32(f, "t.bool", &u)); /* not an integer */
    assert_false(gguf_get_u32(f, "t.f32", &u));
    assert_false(gguf_get_u32(f, "general.architecture", &u));

    float x;
    assert_true(gguf_get_f32(f, "t.f32", &x));
    assert_true(x == 1.5f);
    assert_true(gguf_get_f32(f, "t.f64", &x));
    assert_true(x == 0.25f);
    assert_false(gguf_get_f32(f, "t.u8", &x));

    bool b = false;
    assert_true(gguf_get_bool(f, "t.bool", &b));
    assert_true(b);
    assert_false(gguf_get_bool(f, "t.u8", &b));

    const gguf_kv *kv = gguf_find_kv(f, "t.u64");
    assert_non_null(kv);
    assert_int_equal(kv->type, GGUF_UINT64);
    assert_true(kv->v.u64 == 1ull << 40);
    kv = gguf_find_kv(f, "t.i64");
    assert_true(kv->v.i64 == -(1ll << 40));

    enum gguf_value_type et;
    uint64_t n;
    kv = gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n);
    assert_non_null(kv);
    assert_int_equal(et, GGUF_STRING);
    assert_int_equal(n, 4);
    for (int k = 0; k < 4; k++)
        assert_true(gguf_str_eq(kv->strs[k], TOKENS[k]));
    kv = gguf_get_arr(f, "t.scores", &et, &n);
    assert_non_null(kv);
    assert_int_equal(et, GGUF_FLOAT32);
    assert_int_equal(n, 3);
    assert_null(kv->strs);
    float scores[3];
    memcpy(scores, kv->arr, sizeof scores); /* may be unaligned */
    assert_true(scores[0] == 0.5f && scores[1] == -1.0f && scores[2] == 2.0f);
    kv = gguf_get_arr(f, "t.empty_arr", NULL, &n);
    assert_non_null(kv);
    assert_int_equal(n, 0);
    assert_null(gguf_get_arr(f, "t.u8", NULL, NULL));
    assert_null(gguf_get_arr(f, "missing", NULL, NULL));

    for (int k = 0; k < N_TENSORS; k++) {
        const gguf_tensor *t = gguf_find_tensor(f, T_NAMES[k]);
        assert_non_null(t);
        assert_ptr_equal(t, &f->tensors[k]);
        assert_int_equal(t->n_dims, T_NDIMS[k]);
        assert_int_equal(t->ne[0], T_NE[k][0]);
        assert_int_equal(t->ne[1], T_NE[k][1]);
        assert_int_equal(t->ne[2], 1);
        assert_int_equal(t->ne[3], 1);
        assert_int_equal(t->type, T_TYPE[k]);
        assert_int_equal(t->size, T_SIZE[k]);
        assert_ptr_equal(t->data, buf + f->data_offset + t->offset);
        assert_int_equal(t->offset % f->alignment, 0);
        assert_int_equal(((const uint8_t *)t->data)[1], 7 + k);
    }
    assert_null(gguf_find_tensor(f, "w.f3"));
    assert_null(gguf_find_tensor(f, ""));
    assert_true(gguf_str_eq(f->tensors[0].name, "w.f32"));
    assert_false(gguf_str_eq(f->tensors[0].name, "w.f32x"));
}

static void test_valid_v3(void **state) {
    (void)state;
    wbuf w = {0};
    layout l;
    file_opts o = {0};
    build_file(&w, &o, &l);
    char err[ERR_LEN];
    uint8_t *block;
    gguf_file *f = open_exact(w.p, w.n, err, &block);
    if (!f) print_message("%s\n", err);
    assert_non_null(f);
    check_valid_file(f, block, &l, 3);
    assert_int_equal(f->n_kv, 18);
    walk(f);
    gguf_close(f);
    free(block);
    free(w.p);
}

static void test_valid_v2_and_alignments(void **state) {
    (void)state;
    static const uint32_t aligns[] = {1, 8, 32, 64, 4096};
    for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++) {
        wbuf w = {0};
        layout l;
        file_opts o = {.version = 2, .alignment = aligns[a]};
        build_file(&w, &o, &l);
        char err[ERR_LEN];
        uint8_t *block;
        gguf_file *f = open_exact(w.p, w.n, err, &block);
        if (!f) print_message("alignment %u: %s\n", aligns[a], err);
        assert_non_null(f);
        check_valid_file(f, block, &l, 2);
        uint32_t got;
        assert_true(gguf_get_u32(f, "general.alignment", &got));
        assert_int_equal(got, aligns[a]);
        gguf_close(f);
        free(block);
        free(w.p);
    }
}

static void test_no_tensors_and_empty(void **state) {
    (void)state;
    /* Header only: no key/values, no tensors, no padding. */
    wbuf w = {0};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, 0);
    w_u64(&w, 0);
    expect_ok(&w);
    char err[ERR_LEN];
    uint8_t *block;
    gguf_file *f = open_exact(w.p, w.n, err, &block);
    assert_non_null(f);
    assert_null(gguf_find_kv(f, "general.architecture"));
    assert_null(gguf_find_tensor(f, "x"));
    assert_int_equal(f->alignment, 32);
    gguf_close(f);
    free(block);
    free(w.p);

    w = (wbuf){0};
    layout l;
    file_opts o = {.no_tensors = true};
    build_file(&w, &o, &l);
    expect_ok(&w);
    free(w.p);

    expect_fail_n((const uint8_t *)"", 0, "not a GGUF file");
    assert_null(gguf_open_buffer(NULL, 10, NULL, 0)); /* no err buffer */
    gguf_close(NULL);
}

/* ------------------------------------------------------- broken inputs */

static void test_every_truncation(void **state) {
    (void)state;
    wbuf w = {0};
    layout l;
    file_opts o = {.alignment = 8};
    build_file(&w, &o, &l);
    for (size_t n = 0; n < w.n; n++) expect_fail_n(w.p, n, NULL);
    /* Mid-header and mid-tensor-data cuts name the part that is missing. */
    expect_fail_n(w.p, 10, "truncated file: header ends at byte 16 of 10");
    expect_fail_n(w.p, w.n - 1, "data ends at byte");
    expect_fail_n(w.p, l.offset_at[2] + 3, "truncated file: tensor info 2");
    expect_fail_n(w.p, l.strs_n_at + 20, "truncated file: kv");
    free(w.p);
}

static void test_flipped_bytes(void **state) {
    (void)state;
    wbuf w = {0};
    layout l;
    file_opts o = {.alignment = 16};
    build_file(&w, &o, &l);
    static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x40, 0x80, 0xff};
    int refused = 0, accepted = 0;
    /* Only the header, metadata and tensor infos: data bytes are free. */
    for (size_t at = 0; at < l.data_at; at++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            w.p[at] ^= masks[m];
            char err[ERR_LEN] = "";
            uint8_t *block;
            gguf_file *f = open_exact(w.p, w.n, err, &block);
            if (f == NULL) {
                assert_true(strncmp(err, "gguf: ", 6) == 0);
                assert_true(strlen(err) > 6);
                refused++;
            } else {
                walk(f);
                gguf_close(f);
                accepted++;
            }
            free(block);
            w.p[at] ^= masks[m];
        }
    }
    /* Flipping bytes of the string values gives other valid files, while
     * flipping lengths, counts and types does not: both must happen. */
    assert_true(refused > 0 && accepted > 0);
    print_message("flips: %d refused, %d accepted\n", refused, accepted);
    expect_ok(&w);
    free(w.p);
}

/* Builds the default file, patches it with `fn`, expects `want`. */
typedef void (*patch_fn)(wbuf *w, const layout *l);

static void run_patch(const file_opts *o, patch_fn fn, const char *want) {
    wbuf w = {0};
    layout l;
    build_file(&w, o, &l);
    if (fn) fn(&w, &l);
    expect_fail(&w, want);
    free(w.p);
}

static void p_magic(wbuf *w, const layout *l) {
    (void)l;
    memcpy(w->p, "GGML", 4);
}
static void p_v1(wbuf *w, const layout *l) {
    patch_u32(w, l->version_at, 1);
}
static void p_v4(wbuf *w, const layout *l) {
    patch_u32(w, l->version_at, 4);
}
static void p_v0(wbuf *w, const layout *l) {
    patch_u32(w, l->version_at, 0);
}
static void p_big_endian(wbuf *w, const layout *l) {
    patch_u32(w, l->version_at, 0x03000000);
}
static void p_n_kv_huge(wbuf *w, const layout *l) {
    patch_u64(w, l->n_kv_at, 1ull << 63);
}
static void p_n_kv_max(wbuf *w, const layout *l) {
    patch_u64(w, l->n_kv_at, UINT64_MAX);
}
static void p_n_kv_plus1(wbuf *w, const layout *l) {
    /* One more kv than written: the tensor infos are read as a kv. */
    w->p[l->n_kv_at] += 1;
}
static void p_n_tensors_huge(wbuf *w, const layout *l) {
    patch_u64(w, l->n_tensors_at, 1ull << 63);
}
static void p_n_tensors_plus1(wbuf *w, const layout *l) {
    w->p[l->n_tensors_at] += 1;
}
static void p_key_len_max(wbuf *w, const layout *l) {
    patch_u64(w, l->key0_len_at, UINT64_MAX);
}
static void p_key_len_big(wbuf *w, const layout *l) {
    patch_u64(w, l->key0_len_at, w->n);
}
static void p_kv_type(wbuf *w, const layout *l) {
    patch_u32(w, l->u8_type_at, GGUF_TYPE_COUNT);
}
static void p_kv_type_max(wbuf *w, const layout *l) {
    patch_u32(w, l->u8_type_at, UINT32_MAX);
}
static void p_arr_type(wbuf *w, const layout *l) {
    patch_u32(w, l->strs_type_at, 77);
}
static void p_strs_n_huge(wbuf *w, const layout *l) {
    patch_u64(w, l->strs_n_at, 1ull << 62);
}
static void p_strs_n_plus(wbuf *w, const layout *l) {
    patch_u64(w, l->strs_n_at, w->n / 8 - 2);
}
static void p_arr_as_u64(wbuf *w, const layout *l) {
    /* The strings read as u64 numbers: 2^61 of them cannot fit. */
    patch_u32(w, l->strs_type_at, GGUF_UINT64);
    patch_u64(w, l->strs_n_at, 1ull << 61);
}
static void p_ndims5(wbuf *w, const layout *l) {
    patch_u32(w, l->ndims_at[0], 5);
}
static void p_ndims0(wbuf *w, const layout *l) {
    patch_u32(w, l->ndims_at[0], 0);
}
static void p_ndims_max(wbuf *w, const layout *l) {
    patch_u32(w, l->ndims_at[1], UINT32_MAX);
}
static void p_ne_negative(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[0], UINT64_MAX); /* -1 */
}
static void p_ne1_negative(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[2] + 8, 1ull << 63);
}
static void p_ne_elements_overflow(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[0], 1ull << 62);
    patch_u64(w, l->ne_at[0] + 8, 4);
}
static void p_ne_bytes_overflow(wbuf *w, const layout *l) {
    /* 2^61 * 2 elements fit in int64, but 4 bytes each do not fit u64. */
    patch_u64(w, l->ne_at[0], 1ull << 61);
    patch_u64(w, l->ne_at[0] + 8, 2);
}
static void p_ne_too_big_for_file(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[2] + 8, 1ull << 40);
}
static void p_type_removed(wbuf *w, const layout *l) {
    patch_u32(w, l->type_at[0], 4); /* Q4_2, long gone */
}
static void p_type_unknown(wbuf *w, const layout *l) {
    patch_u32(w, l->type_at[1], 1000);
}
static void p_type_count(wbuf *w, const layout *l) {
    patch_u32(w, l->type_at[1], GGML_TYPE_COUNT);
}
static void p_row_not_blocks(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[1], 48); /* Q8_0 blocks are 32 */
}
static void p_row_not_superblocks(wbuf *w, const layout *l) {
    patch_u64(w, l->ne_at[2], 128); /* Q4_K blocks are 256 */
}
static void p_offset_misaligned(wbuf *w, const layout *l) {
    patch_u64(w, l->offset_at[1], 65);
}
static void p_offset_past_end(wbuf *w, const layout *l) {
    patch_u64(w, l->offset_at[2], 1ull << 40);
}
static void p_offset_wraps(wbuf *w, const layout *l) {
    patch_u64(w, l->offset_at[2], UINT64_MAX - 31);
}
static void p_offset_last_byte(wbuf *w, const layout *l) {
    /* The data would start inside the file but run past its end. */
    patch_u64(w, l->offset_at[0], w->n - l->data_at - 32);
}

static void test_hostile_headers(void **state) {
    (void)state;
    const file_opts o = {0};
    run_patch(&o, p_magic, "not a GGUF file (bad magic)");
    run_patch(&o, p_v1, "unsupported version 1");
    run_patch(&o, p_v4, "unsupported version 4");
    run_patch(&o, p_v0, "unsupported version 0");
    run_patch(&o, p_big_endian, "big-endian");
    run_patch(&o, p_n_kv_huge, "key/values cannot fit");
    run_patch(&o, p_n_kv_max, "key/values cannot fit");
    run_patch(&o, p_n_kv_plus1, NULL);
    run_patch(&o, p_n_tensors_huge, "tensor infos cannot fit");
    run_patch(&o, p_n_tensors_plus1, NULL);
}

static void test_hostile_kvs(void **state) {
    (void)state;
    const file_opts o = {0};
    run_patch(&o, p_key_len_max, "truncated file: kv 0 ends at byte");
    run_patch(&o, p_key_len_big, "truncated file: kv 0");
    run_patch(&o, p_kv_type, "kv 't.u8' has unknown value type 13");
    run_patch(&o, p_kv_type_max, "unknown value type 4294967295");
    run_patch(&o, p_arr_type, "array of unknown value type 77");
    run_patch(&o, p_strs_n_huge, "strings but only");
    run_patch(&o, p_strs_n_plus, "truncated file");
    run_patch(&o, p_arr_as_u64, "elements of 8 bytes");

    const file_opts dup = {.dup_key = true};
    run_patch(&dup, NULL, "duplicate key 'general.architecture'");
    const file_opts nested = {.nested_array = true};
    run_patch(&nested, NULL, "kv 't.nested' is an array of arrays");

    const file_opts a0 = {.alignment = 0xffffffff};
    run_patch(&a0, NULL, "general.alignment must be a power of two");
    const file_opts a3 = {.alignment = 3};
    run_patch(&a3, NULL, "got 3");
    const file_opts a48 = {.alignment = 48};
    run_patch(&a48, NULL, "power of two");
    const file_opts abig = {.alignment = 1u << 31};
    run_patch(&abig, NULL, "power of two");
    const file_opts astr = {.alignment = 32, .alignment_as_string = true};
    run_patch(&astr, NULL, "general.alignment has type string");

    /* general.alignment = 0, written by hand (0 means "absent" above). */
    wbuf w = {0};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, 0);
    w_u64(&w, 1);
    w_key(&w, "general.alignment", GGUF_UINT32);
    w_u32(&w, 0);
    expect_fail(&w, "got 0");
    free(w.p);
    w = (wbuf){0};
    w_bytes(&w, "GGUF", 4);
    w_u32(&w, 3);
    w_u64(&w, 0);
    w_u64(&w, 1);
    w_key(&w, "general.alignment", GGUF_INT32);
    w_u32(&w, (uint32_t)-64);
    expect_fail(&w, "got -64");
    free(w.p);
}

static void test_hostile_tensors(void **state) {
    (void)state;
    const file_opts o = {0};
    run_patch(&o, p_ndims5, "tensor 'w.f32' has 5 dimensions");
    run_patch(&o, p_ndims0, "has 0 dimensions");
    run_patch(&o, p_ndims_max, "has 4294967295 dimensions");
    run_patch(&o, p_ne_negative, "negative size -1 in dimension 0");
    run_patch(&o, p_ne1_negative, "tensor 'w.q4_k' has negative size");
    run_patch(&o, p_ne_elements_overflow, "too many elements");
    run_patch(&o, p_ne_bytes_overflow, "too large");
    run_patch(&o, p_ne_too_big_for_file, "truncated file: tensor 'w.q4_k'");
    run_patch(&o, p_type_removed, "tensor 'w.f32' has unsupported type id 4");
    run_patch(&o, p_type_unknown, "unsupported type id 1000");
    run_patch(&o, p_type_count, "unsupported type id 40");
    run_patch(&o, p_row_not_blocks, "row length 48 is not a multiple");
    run_patch(&o, p_row_not_superblocks, "block size 256");
    run_patch(&o, p_offset_misaligned, "not a multiple of the alignment 32");
    run_patch(&o, p_offset_past_end, "data ends at byte");
    run_patch(&o, p_offset_wraps, "data ends at byte");
    run_patch(&o, p_offset_last_byte, "tensor 'w.f32' data ends");
    const file_opts dup = {.dup_tensor = true};
    run_patch(&dup, NULL, "duplicate tensor name 'w.f32' (tensors 0 and 2)");
}

/* ------------------------------------------------------------- files */

static void test_open_paths(void **state) {
    (void)state;
    char err[ERR_LEN];
    assert_null(gguf_open("/nonexistent/dir/model.gguf", err, sizeof err));
    assert_non_null(strstr(err, "cannot open /nonexistent/dir/model.gguf"));
    assert_null(gguf_open("/tmp", err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));

    char path[] = "/tmp/lc_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_null(gguf_open(path, err, sizeof err)); /* empty file */
    assert_non_null(strstr(err, "not a GGUF file"));

    wbuf w = {0};
    layout l;
    file_opts o = {0};
    build_file(&w, &o, &l);
    assert_int_equal(write(fd, w.p, w.n), (ssize_t)w.n);
    close(fd);
    gguf_file *f = gguf_open(path, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(f->map_size, w.n);
    check_valid_file(f, f->map, &l, 3);
    assert_memory_equal(f->map, w.p, w.n);
    gguf_close(f);

    /* A file cut short on disk. */
    assert_int_equal(truncate(path, (off_t)(w.n - 5)), 0);
    assert_null(gguf_open(path, err, sizeof err));
    assert_non_null(strstr(err, "truncated file"));
    unlink(path);
    free(w.p);
}

/* ------------------------------------------------------ oracle models */

static const struct {
    const char *name;
    enum ggml_type type;
} TYPE_NAMES[] = {
    {"F32", GGML_TYPE_F32},   {"F16", GGML_TYPE_F16},
    {"BF16", GGML_TYPE_BF16}, {"Q4_0", GGML_TYPE_Q4_0},
    {"Q4_1", GGML_TYPE_Q4_1}, {"Q5_0", GGML_TYPE_Q5_0},
    {"Q5_1", GGML_TYPE_Q5_1}, {"Q8_0", GGML_TYPE_Q8_0},
    {"Q2_K", GGML_TYPE_Q2_K}, {"Q3_K", GGML_TYPE_Q3_K},
    {"Q4_K", GGML_TYPE_Q4_K}, {"Q5_K", GGML_TYPE_Q5_K},
    {"Q6_K", GGML_TYPE_Q6_K},
};

static int type_from_name(const char *name) {
    for (size_t i = 0; i < sizeof TYPE_NAMES / sizeof *TYPE_NAMES; i++)
        if (strcmp(TYPE_NAMES[i].name, name) == 0) return TYPE_NAMES[i].type;
    fail_msg("unknown type name %s in the manifest", name);
    return -1;
}

static int count_type(const gguf_file *f, enum ggml_type type) {
    int n = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) n += f->tensors[i].type == type;
    return n;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a;
    const gguf_tensor *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writers lay tensors out back to back, each aligned: so the byte size we
 * computed for each tensor must reach exactly the next one's offset. */
static void check_packed_layout(const gguf_file *f) {
    const gguf_tensor **order = malloc(f->n_tensors * sizeof *order);
    assert_non_null(order);
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, cmp_offset);
    uint64_t expect = 0;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        assert_int_equal(order[i]->offset, expect);
        uint64_t end = order[i]->offset + order[i]->size;
        expect = (end + f->alignment - 1) / f->alignment * f->alignment;
    }
    assert_true(f->data_offset + expect >= f->map_size);
    assert_true(f->data_offset + expect - f->map_size < f->alignment);
    free(order);
}

/* Checks one manifest entry against the file; false when it is absent. */
static bool check_model(json_t *manifest, json_t *m) {
    const char *file = json_string_value(json_object_get(m, "file"));
    const char *name = json_string_value(json_object_get(m, "name"));
    assert_non_null(file);
    char rel[512];
    snprintf(rel, sizeof rel, "oracle/%s", file);
    const char *path = lc_shared_path(rel);
    if (!lc_file_exists(path)) return false;

    char err[ERR_LEN];
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (f == NULL) print_message("%s: %s\n", name, err);
    assert_non_null(f);
    assert_true(f->version == 2 || f->version == 3);

    json_t *size = json_object_get(m, "size_bytes");
    if (size) assert_int_equal(f->map_size, json_integer_value(size));

    char arch[64];
    assert_true(gguf_get_str(f, "general.architecture", arch, sizeof arch));
    assert_string_equal(arch, json_string_value(json_object_get(m, "arch")));

    /* Tensor types: exactly the counts the manifest lists. */
    json_t *counts = json_object_get(m, "tensor_type_counts");
    const char *tname;
    json_t *cnt;
    json_int_t total = 0;
    json_object_foreach(counts, tname, cnt) {
        int got = count_type(f, (enum ggml_type)type_from_name(tname));
        if (got != json_integer_value(cnt))
            print_message("%s: %s %d != %d\n", name, tname, got,
                          (int)json_integer_value(cnt));
        assert_int_equal(got, json_integer_value(cnt));
        total += json_integer_value(cnt);
    }
    assert_int_equal(f->n_tensors, total);

    /* Vocabulary and embedding shape. */
    json_int_t n_vocab = json_integer_value(json_object_get(m, "n_vocab"));
    enum gguf_value_type et;
    uint64_t n;
    const gguf_kv *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n);
    assert_non_null(tokens);
    assert_int_equal(et, GGUF_STRING);
    assert_int_equal(n, n_vocab);
    assert_non_null(tokens->strs);
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(emb);
    json_t *n_embd = json_object_get(m, "n_embd");
    if (n_embd) assert_int_equal(emb->ne[0], json_integer_value(n_embd));
    assert_int_equal(emb->ne[1], n_vocab);
    char key[128];
    uint32_t embd_len;
    snprintf(key, sizeof key, "%s.embedding_length", arch);
    assert_true(gguf_get_u32(f, key, &embd_len));
    assert_int_equal(embd_len, emb->ne[0]);

    /* Names and shapes match the F32 parent's listing. */
    const char *variant = json_string_value(json_object_get(m, "variant"));
    json_t *listing =
        variant ? json_object_get(
                      json_object_get(manifest, "f32_tensor_listing"), variant)
                : NULL;
    if (listing) {
        assert_int_equal(json_array_size(listing), f->n_tensors);
        size_t i;
        json_t *row;
        json_array_foreach(listing, i, row) {
            const char *tn = json_string_value(json_array_get(row, 0));
            const gguf_tensor *t = gguf_find_tensor(f, tn);
            if (t == NULL) print_message("%s: no tensor %s\n", name, tn);
            assert_non_null(t);
            json_t *shape = json_array_get(row, 2);
            assert_int_equal(t->n_dims, json_array_size(shape));
            for (size_t d = 0; d < json_array_size(shape); d++)
                assert_int_equal(t->ne[d],
                                 json_integer_value(json_array_get(shape, d)));
            if (strcmp(json_string_value(json_object_get(m, "type")), "F32") ==
                0)
                assert_int_equal(t->type, type_from_name(json_string_value(
                                              json_array_get(row, 1))));
        }
    }
    check_packed_layout(f);
    walk(f);
    gguf_close(f);
    return true;
}

static void test_oracle_models(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("oracle/manifest.json"));
    json_t *manifest = lc_load_manifest();
    assert_non_null(manifest);
    json_t *models = json_object_get(manifest, "models");
    assert_true(json_array_size(models) > 0);
    size_t i, opened = 0;
    json_t *m;
    json_array_foreach(models, i, m) opened += check_model(manifest, m);
    print_message("opened %zu of %zu oracle models\n", opened,
                  json_array_size(models));
    json_decref(manifest);
    if (opened == 0) skip();
}

static void test_q4_k_m_mix(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/models/llama-v512-Q4_K_M.gguf");
    lc_test_skip_without(path);
    char err[ERR_LEN];
    gguf_file *f = gguf_open(path, err, sizeof err);
    assert_non_null(f);
    /* README: F32:5, Q4_K:13, Q6_K:3; output.weight is Q6_K. */
    assert_int_equal(count_type(f, GGML_TYPE_Q4_K), 13);
    assert_int_equal(count_type(f, GGML_TYPE_Q6_K), 3);
    assert_int_equal(count_type(f, GGML_TYPE_F32), 5);
    const gguf_tensor *out = gguf_find_tensor(f, "output.weight");
    assert_non_null(out);
    assert_int_equal(out->type, GGML_TYPE_Q6_K);
    /* 512 rows of 256 elements = one 210-byte super-block per row. */
    assert_int_equal(out->size, 512 * 210);
    gguf_close(f);
}

static void test_stories260k(void **state) {
    (void)state;
    const char *path = lc_shared_path("models/stories260K.gguf");
    lc_test_skip_without(path);
    char err[ERR_LEN];
    gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) print_message("%s\n", err);
    assert_non_null(f);
    char arch[32];
    assert_true(gguf_get_str(f, "general.architecture", arch, sizeof arch));
    assert_string_equal(arch, "llama");
    uint64_t n;
    const gguf_kv *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens", NULL, &n);
    assert_non_null(tokens);
    assert_int_equal(n, 512);
    uint32_t layers;
    assert_true(gguf_get_u32(f, "llama.block_count", &layers));
    assert_true(layers > 0 && layers < 64);
    char name[64];
    snprintf(name, sizeof name, "blk.%u.attn_q.weight", layers - 1);
    assert_non_null(gguf_find_tensor(f, name));
    snprintf(name, sizeof name, "blk.%u.attn_q.weight", layers);
    assert_null(gguf_find_tensor(f, name));
    check_packed_layout(f);
    walk(f);
    gguf_close(f);
}

/* ------------------------------------------------------------- seeds */

static int write_seed(const char *dir, const char *name, const wbuf *w) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(w->p, 1, w->n, fp) != w->n) {
        fprintf(stderr, "cannot write %s\n", path);
        if (fp) fclose(fp);
        return 1;
    }
    return fclose(fp) != 0;
}

static int write_seeds(const char *dir) {
    static const struct {
        const char *name;
        file_opts o;
    } seeds[] = {
        {"v3.gguf", {0}},
        {"v2_align8.gguf", {.version = 2, .alignment = 8}},
        {"no_tensors.gguf", {.no_tensors = true}},
        {"dup_tensor.gguf", {.dup_tensor = true}},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
        wbuf w = {0};
        layout l;
        build_file(&w, &seeds[i].o, &l);
        rc |= write_seed(dir, seeds[i].name, &w);
        free(w.p);
    }
    return rc;
}

int main(void) {
    const char *seed_dir = getenv("LC_GGUF_WRITE_SEEDS");
    if (seed_dir) return write_seeds(seed_dir);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_v3),
        cmocka_unit_test(test_valid_v2_and_alignments),
        cmocka_unit_test(test_no_tensors_and_empty),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_kvs),
        cmocka_unit_test(test_hostile_tensors),
        cmocka_unit_test(test_open_paths),
        cmocka_unit_test(test_oracle_models),
        cmocka_unit_test(test_q4_k_m_mix),
        cmocka_unit_test(test_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

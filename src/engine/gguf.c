/*
 * GGUF v2/v3 reader: parse and validate a whole file once, at open time.
 *
 * Nothing in the file is trusted. Every count, length, dimension and offset
 * is checked against the bytes that remain before it is used, so a hostile
 * file can neither make us read outside the buffer nor make us allocate
 * more than a small multiple of its own size.
 *
 * Byte layout (little-endian; a string is u64 length + bytes):
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv      x { string key, u32 value_type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type,
 *                 u64 offset }
 *   padding to general.alignment, then the data section.
 */
#include "gguf.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32

/* The smallest number of bytes one record can take. Used to bound hostile
 * counts by the bytes that remain, before any allocation. */
#define MIN_KV_BYTES (8 + 4 + 1) /* key len, type, 1-byte value */
#define MIN_TENSOR_BYTES                                                       \
    (8 + 4 + 8 + 4 + 8)    /* name len, n_dims, ne[0], ...                     \
                            */
#define MIN_STRING_BYTES 8 /* the length alone */

/* ------------------------------------------------------- tensor types */

/* Block size (elements) and bytes per block of the types a file may hold.
 * Kept here rather than taken from quant.c so that the reader can validate
 * any file without depending on which kernels exist. */
typedef struct type_size {
    int blck;     /* elements per block; 0 = id not known */
    size_t bytes; /* bytes per block */
} type_size;

_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block layout");
_Static_assert(sizeof(block_q4_1) == 20, "Q4_1 block layout");
_Static_assert(sizeof(block_q5_0) == 22, "Q5_0 block layout");
_Static_assert(sizeof(block_q5_1) == 24, "Q5_1 block layout");
_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block layout");
_Static_assert(sizeof(block_q8_1) == 36, "Q8_1 block layout");
_Static_assert(sizeof(block_q2_K) == 84, "Q2_K block layout");
_Static_assert(sizeof(block_q3_K) == 110, "Q3_K block layout");
_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block layout");
_Static_assert(sizeof(block_q5_K) == 176, "Q5_K block layout");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block layout");
_Static_assert(sizeof(block_q8_K) == 292, "Q8_K block layout");

static const type_size TYPE_SIZES[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {1, 4},
    [GGML_TYPE_F16] = {1, 2},
    [GGML_TYPE_BF16] = {1, 2},
    [GGML_TYPE_Q4_0] = {QK4_0, sizeof(block_q4_0)},
    [GGML_TYPE_Q4_1] = {QK4_1, sizeof(block_q4_1)},
    [GGML_TYPE_Q5_0] = {QK5_0, sizeof(block_q5_0)},
    [GGML_TYPE_Q5_1] = {QK5_1, sizeof(block_q5_1)},
    [GGML_TYPE_Q8_0] = {QK8_0, sizeof(block_q8_0)},
    [GGML_TYPE_Q8_1] = {QK8_1, sizeof(block_q8_1)},
    [GGML_TYPE_Q2_K] = {QK_K, sizeof(block_q2_K)},
    [GGML_TYPE_Q3_K] = {QK_K, sizeof(block_q3_K)},
    [GGML_TYPE_Q4_K] = {QK_K, sizeof(block_q4_K)},
    [GGML_TYPE_Q5_K] = {QK_K, sizeof(block_q5_K)},
    [GGML_TYPE_Q6_K] = {QK_K, sizeof(block_q6_K)},
    [GGML_TYPE_Q8_K] = {QK_K, sizeof(block_q8_K)},
};

static const type_size *lookup_type(uint32_t id) {
    if (id >= GGML_TYPE_COUNT || TYPE_SIZES[id].blck == 0) return NULL;
    return &TYPE_SIZES[id];
}

/* Bytes of one element of a numeric array; 0 for strings and arrays. */
static size_t value_size(enum gguf_value_type t) {
    switch (t) {
    case GGUF_UINT8:
    case GGUF_INT8:
    case GGUF_BOOL:
        return 1;
    case GGUF_UINT16:
    case GGUF_INT16:
        return 2;
    case GGUF_UINT32:
    case GGUF_INT32:
    case GGUF_FLOAT32:
        return 4;
    case GGUF_UINT64:
    case GGUF_INT64:
    case GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static const char *value_type_name(enum gguf_value_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        "u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
        "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

/* ------------------------------------------------------- the file object */

/* The public gguf_file plus what only this file needs: hash indexes of
 * keys and tensor names, and how to release the bytes. */
typedef struct gguf_impl {
    gguf_file pub;    /* first, so a gguf_file * converts back */
    bool mapped;      /* pub.map came from mmap */
    size_t *kv_index; /* open addressing: slot -> kv number + 1, 0 = free */
    size_t kv_cap;    /* power of two */
    size_t *tensor_index;
    size_t tensor_cap;
} gguf_impl;

/* FNV-1a: short keys, a few hundred entries; good enough and simple. */
static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool str_eq_str(gguf_str a, gguf_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

/* Capacity of a table holding n entries at most half full. */
static size_t index_capacity(uint64_t n) {
    size_t cap = 8;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

/* Inserts name number i; returns false (and inserts nothing) when the same
 * name is already present, setting *dup to the earlier entry. */
static bool index_insert(size_t *slots, size_t cap, const gguf_str *names,
                         size_t stride, size_t i, size_t *dup) {
    const gguf_str *name = (const gguf_str *)((const char *)names + i * stride);
    size_t s = (size_t)hash_bytes(name->ptr, name->len) & (cap - 1);
    while (slots[s] != 0) {
        size_t j = slots[s] - 1;
        const gguf_str *other =
            (const gguf_str *)((const char *)names + j * stride);
        if (str_eq_str(*name, *other)) {
            *dup = j;
            return false;
        }
        s = (s + 1) & (cap - 1);
    }
    slots[s] = i + 1;
    return true;
}

/* Finds `name` (a C string) in an index; -1 when absent. */
static int64_t index_find(const size_t *slots, size_t cap,
                          const gguf_str *names, size_t stride,
                          const char *name) {
    if (slots == NULL) return -1;
    size_t n = strlen(name);
    size_t s = (size_t)hash_bytes(name, n) & (cap - 1);
    while (slots[s] != 0) {
        size_t j = slots[s] - 1;
        const gguf_str *other =
            (const gguf_str *)((const char *)names + j * stride);
        if (gguf_str_eq(*other, name)) return (int64_t)j;
        s = (s + 1) & (cap - 1);
    }
    return -1;
}

/* ------------------------------------------------------------ the reader */

typedef struct reader {
    const uint8_t *buf;
    uint64_t size;
    uint64_t pos;
    char *err;
    size_t err_len;
} reader;

__attribute__((format(printf, 2, 3))) static void fail(reader *r,
                                                       const char *fmt, ...) {
    if (r->err == NULL || r->err_len == 0) return;
    int n = snprintf(r->err, r->err_len, "gguf: ");
    if (n < 0 || (size_t)n >= r->err_len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Prints at most 64 bytes of a name from the file, replacing bytes that
 * would garble an error line. */
static const char *printable(gguf_str s, char out[72]) {
    uint64_t n = s.len < 64 ? s.len : 64;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[n] = '\0';
    if (s.len > 64) strcpy(out + n, "...");
    return out;
}

/* Checks that n more bytes exist; `what` and `idx` name the record. */
#define NO_INDEX UINT64_MAX
static bool need(reader *r, uint64_t n, const char *what, uint64_t idx) {
    if (n <= r->size - r->pos) return true;
    uint64_t end = r->pos + n < r->pos ? UINT64_MAX : r->pos + n;
    if (idx == NO_INDEX)
        fail(r, "truncated file: %s ends at byte %llu of %llu", what,
             (unsigned long long)end, (unsigned long long)r->size);
    else
        fail(r, "truncated file: %s %llu ends at byte %llu of %llu", what,
             (unsigned long long)idx, (unsigned long long)end,
             (unsigned long long)r->size);
    return false;
}

static uint64_t le_bytes(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static bool read_u32(reader *r, uint32_t *out, const char *what, uint64_t idx) {
    if (!need(r, 4, what, idx)) return false;
    *out = (uint32_t)le_bytes(r->buf + r->pos, 4);
    r->pos += 4;
    return true;
}

static bool read_u64(reader *r, uint64_t *out, const char *what, uint64_t idx) {
    if (!need(r, 8, what, idx)) return false;
    *out = le_bytes(r->buf + r->pos, 8);
    r->pos += 8;
    return true;
}

static bool read_str(reader *r, gguf_str *out, const char *what, uint64_t idx) {
    uint64_t len;
    if (!read_u64(r, &len, what, idx)) return false;
    if (!need(r, len, what, idx)) return false;
    out->ptr = (const char *)r->buf + r->pos;
    out->len = len;
    r->pos += len;
    return true;
}

/* Decodes one scalar of type t at the current position into kv->v. */
static bool read_scalar(reader *r, enum gguf_value_type t, gguf_kv *kv,
                        uint64_t idx) {
    if (t == GGUF_STRING) return read_str(r, &kv->v.str, "kv", idx);
    size_t n = value_size(t);
    if (!need(r, n, "kv", idx)) return false;
    uint64_t bits = le_bytes(r->buf + r->pos, (int)n);
    r->pos += n;
    switch (t) {
    case GGUF_UINT8:
    case GGUF_UINT16:
    case GGUF_UINT32:
    case GGUF_UINT64:
        kv->v.u64 = bits;
        break;
    case GGUF_INT8:
        kv->v.i64 = (int8_t)bits;
        break;
    case GGUF_INT16:
        kv->v.i64 = (int16_t)bits;
        break;
    case GGUF_INT32:
        kv->v.i64 = (int32_t)bits;
        break;
    case GGUF_INT64:
        kv->v.i64 = (int64_t)bits;
        break;
    case GGUF_FLOAT32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        kv->v.f64 = f;
        break;
    }
    case GGUF_FLOAT64:
        memcpy(&kv->v.f64, &bits, sizeof kv->v.f64);
        break;
    case GGUF_BOOL:
        kv->v.b = bits != 0;
        break;
    default:
        break;
    }
    return true;
}

/* An array value: element type, count, then the elements. Numbers stay in
 * the mapping; strings get an index so that lookups are O(1). */
static bool read_array(reader *r, gguf_kv *kv, uint64_t idx) {
    char name[72];
    uint32_t et;
    if (!read_u32(r, &et, "kv", idx)) return false;
    if (!read_u64(r, &kv->arr_n, "kv", idx)) return false;
    if (et >= GGUF_TYPE_COUNT) {
        fail(r, "kv '%s' is an array of unknown value type %u",
             printable(kv->key, name), et);
        return false;
    }
    if (et == GGUF_ARRAY) {
        /* No model metadata uses them, and skipping them safely would need
         * a recursive walk with its own depth limit: refuse instead. */
        fail(r, "kv '%s' is an array of arrays (not supported)",
             printable(kv->key, name));
        return false;
    }
    kv->arr_type = (enum gguf_value_type)et;
    kv->arr = r->buf + r->pos;
    if (et != GGUF_STRING) {
        size_t es = value_size(kv->arr_type);
        /* n * es may overflow: compare n with remaining / es instead. */
        if (kv->arr_n > (r->size - r->pos) / es) {
            fail(r,
                 "truncated file: kv '%s' has %llu elements of %zu bytes but "
                 "only %llu bytes remain",
                 printable(kv->key, name), (unsigned long long)kv->arr_n, es,
                 (unsigned long long)(r->size - r->pos));
            return false;
        }
        r->pos += kv->arr_n * es;
        return true;
    }
    /* Each string takes at least its 8-byte length, which bounds the index
     * allocation by the size of the file. */
    if (kv->arr_n > (r->size - r->pos) / MIN_STRING_BYTES) {
        fail(r,
             "truncated file: kv '%s' has %llu strings but only %llu bytes "
             "remain",
             printable(kv->key, name), (unsigned long long)kv->arr_n,
             (unsigned long long)(r->size - r->pos));
        return false;
    }
    kv->strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->strs);
    if (kv->strs == NULL) {
        fail(r, "out of memory for kv '%s' (%llu strings)",
             printable(kv->key, name), (unsigned long long)kv->arr_n);
        return false;
    }
    for (uint64_t i = 0; i < kv->arr_n; i++)
        if (!read_str(r, &kv->strs[i], "kv", idx)) return false;
    return true;
}

static bool read_kv(reader *r, gguf_kv *kv, uint64_t idx) {
    char name[72];
    uint32_t t;
    if (!read_str(r, &kv->key, "kv", idx)) return false;
    if (!read_u32(r, &t, "kv", idx)) return false;
    if (t >= GGUF_TYPE_COUNT) {
        fail(r, "kv '%s' has unknown value type %u", printable(kv->key, name),
             t);
        return false;
    }
    kv->type = (enum gguf_value_type)t;
    if (kv->type == GGUF_ARRAY) return read_array(r, kv, idx);
    return read_scalar(r, kv->type, kv, idx);
}

/* Reads general.alignment when present: a power of two, any integer type
 * (writers use u32, but the value is what matters). */
static bool read_alignment(reader *r, const gguf_kv *kv, uint64_t *out) {
    *out = GGUF_DEFAULT_ALIGNMENT;
    if (kv == NULL) return true;
    uint64_t a;
    switch (kv->type) {
    case GGUF_UINT8:
    case GGUF_UINT16:
    case GGUF_UINT32:
    case GGUF_UINT64:
        a = kv->v.u64;
        break;
    case GGUF_INT8:
    case GGUF_INT16:
    case GGUF_INT32:
    case GGUF_INT64:
        a = kv->v.i64 > 0 ? (uint64_t)kv->v.i64 : 0;
        break;
    default:
        fail(r, "general.alignment has type %s, expected an integer",
             value_type_name(kv->type));
        return false;
    }
    /* 1 GiB is far above any real alignment and keeps the arithmetic on
     * offsets well away from overflow. */
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30)) {
        bool neg = kv->type == GGUF_INT8 || kv->type == GGUF_INT16 ||
                   kv->type == GGUF_INT32 || kv->type == GGUF_INT64;
        if (neg)
            fail(r,
                 "general.alignment must be a power of two up to 2^30, "
                 "got %lld",
                 (long long)kv->v.i64);
        else
            fail(r,
                 "general.alignment must be a power of two up to 2^30, "
                 "got %llu",
                 (unsigned long long)kv->v.u64);
        return false;
    }
    *out = a;
    return true;
}

/* One tensor descriptor: shape and type are checked here; the data range is
 * checked once the data section's start is known. */
static bool read_tensor_info(reader *r, gguf_tensor *t, uint64_t idx,
                             uint64_t alignment) {
    char name[72];
    if (!read_str(r, &t->name, "tensor info", idx)) return false;
    if (!read_u32(r, &t->n_dims, "tensor info", idx)) return false;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS) {
        fail(r, "tensor '%s' has %u dimensions (expected 1 to %d)",
             printable(t->name, name), t->n_dims, GGUF_MAX_DIMS);
        return false;
    }
    /* n_elements must fit in int64_t: the product is checked as it grows. */
    int64_t n_elements = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < t->n_dims && !read_u64(r, &ne, "tensor info", idx))
            return false;
        if (ne > (uint64_t)INT64_MAX) {
            fail(r, "tensor '%s' has negative size %lld in dimension %d",
                 printable(t->name, name), (long long)ne, d);
            return false;
        }
        t->ne[d] = (int64_t)ne;
        if (t->ne[d] != 0 && n_elements > INT64_MAX / t->ne[d]) {
            fail(r, "tensor '%s' has too many elements (shape overflows)",
                 printable(t->name, name));
            return false;
        }
        n_elements *= t->ne[d];
    }
    uint32_t type;
    if (!read_u32(r, &type, "tensor info", idx)) return false;
    if (!read_u64(r, &t->offset, "tensor info", idx)) return false;
    const type_size *ts = lookup_type(type);
    if (ts == NULL) {
        fail(r, "tensor '%s' has unsupported type id %u",
             printable(t->name, name), type);
        return false;
    }
    t->type = (enum ggml_type)type;
    if (t->ne[0] % ts->blck != 0) {
        fail(r,
             "tensor '%s': row length %lld is not a multiple of the block "
             "size %d of type id %u",
             printable(t->name, name), (long long)t->ne[0], ts->blck, type);
        return false;
    }
    /* size = blocks per row * bytes per block * rows, each step checked. */
    uint64_t row_bytes = (uint64_t)(t->ne[0] / ts->blck);
    if (row_bytes != 0 && ts->bytes > UINT64_MAX / row_bytes) goto too_big;
    row_bytes *= ts->bytes;
    uint64_t size = row_bytes;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if (ne != 0 && size > UINT64_MAX / ne) goto too_big;
        size *= ne;
    }
    t->size = size;
    if (t->offset % alignment != 0) {
        fail(r,
             "tensor '%s' has offset %llu, not a multiple of the "
             "alignment %llu",
             printable(t->name, name), (unsigned long long)t->offset,
             (unsigned long long)alignment);
        return false;
    }
    return true;
too_big:
    fail(r, "tensor '%s' is too large (byte size overflows)",
         printable(t->name, name));
    return false;
}

static bool build_kv_index(reader *r, gguf_impl *g) {
    gguf_file *f = &g->pub;
    g->kv_cap = index_capacity(f->n_kv);
    g->kv_index = calloc(g->kv_cap, sizeof *g->kv_index);
    if (g->kv_index == NULL) {
        fail(r, "out of memory for the key index");
        return false;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) {
        size_t dup;
        if (!index_insert(g->kv_index, g->kv_cap, &f->kv[0].key,
                          sizeof(gguf_kv), (size_t)i, &dup)) {
            char name[72];
            fail(r, "duplicate key '%s' (kv %zu and %llu)",
                 printable(f->kv[i].key, name), dup, (unsigned long long)i);
            return false;
        }
    }
    return true;
}

static bool build_tensor_index(reader *r, gguf_impl *g) {
    gguf_file *f = &g->pub;
    g->tensor_cap = index_capacity(f->n_tensors);
    g->tensor_index = calloc(g->tensor_cap, sizeof *g->tensor_index);
    if (g->tensor_index == NULL) {
        fail(r, "out of memory for the tensor index");
        return false;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        size_t dup;
        if (!index_insert(g->tensor_index, g->tensor_cap, &f->tensors[0].name,
                          sizeof(gguf_tensor), (size_t)i, &dup)) {
            char name[72];
            fail(r, "duplicate tensor name '%s' (tensors %zu and %llu)",
                 printable(f->tensors[i].name, name), dup,
                 (unsigned long long)i);
            return false;
        }
    }
    return true;
}

/* Parses the header, all key/values and all tensor infos of r->buf. */
static bool parse(reader *r, gguf_impl *g) {
    gguf_file *f = &g->pub;
    if (r->size < 4 || memcmp(r->buf, GGUF_MAGIC, 4) != 0) {
        fail(r,
             r->size < 4 ? "not a GGUF file (only %llu bytes)"
                         : "not a GGUF file (bad magic)",
             (unsigned long long)r->size);
        return false;
    }
    r->pos = 4;
    if (!read_u32(r, &f->version, "header", NO_INDEX)) return false;
    if (f->version != 2 && f->version != 3) {
        /* A big-endian file has its version byte-swapped. */
        if ((f->version & 0xffff) == 0 && f->version != 0)
            fail(r, "big-endian GGUF files are not supported");
        else
            fail(r, "unsupported version %u (expected 2 or 3)", f->version);
        return false;
    }
    if (!read_u64(r, &f->n_tensors, "header", NO_INDEX)) return false;
    if (!read_u64(r, &f->n_kv, "header", NO_INDEX)) return false;

    if (f->n_kv > (r->size - r->pos) / MIN_KV_BYTES) {
        fail(r, "truncated file: %llu key/values cannot fit in %llu bytes",
             (unsigned long long)f->n_kv,
             (unsigned long long)(r->size - r->pos));
        return false;
    }
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    if (f->kv == NULL) {
        fail(r, "out of memory for %llu key/values",
             (unsigned long long)f->n_kv);
        return false;
    }
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (!read_kv(r, &f->kv[i], i)) return false;
    if (!build_kv_index(r, g)) return false;
    if (!read_alignment(r, gguf_find_kv(f, "general.alignment"), &f->alignment))
        return false;

    if (f->n_tensors > (r->size - r->pos) / MIN_TENSOR_BYTES) {
        fail(r, "truncated file: %llu tensor infos cannot fit in %llu bytes",
             (unsigned long long)f->n_tensors,
             (unsigned long long)(r->size - r->pos));
        return false;
    }
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (f->tensors == NULL) {
        fail(r, "out of memory for %llu tensor infos",
             (unsigned long long)f->n_tensors);
        return false;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (!read_tensor_info(r, &f->tensors[i], i, f->alignment)) return false;
    if (!build_tensor_index(r, g)) return false;

    /* The data section starts at the next multiple of the alignment. A file
     * without tensors may end before that padding. */
    uint64_t data = (r->pos + f->alignment - 1) & ~(f->alignment - 1);
    if (data > r->size) {
        if (f->n_tensors > 0) {
            fail(r, "truncated file: data section starts at byte %llu of %llu",
                 (unsigned long long)data, (unsigned long long)r->size);
            return false;
        }
        data = r->size;
    }
    f->data_offset = data;
    uint64_t data_size = r->size - data;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset > data_size || t->size > data_size - t->offset) {
            char name[72];
            uint64_t end = t->offset + t->size < t->offset
                               ? UINT64_MAX
                               : t->offset + t->size;
            fail(r,
                 "truncated file: tensor '%s' data ends at byte %llu of "
                 "the %llu-byte data section",
                 printable(t->name, name), (unsigned long long)end,
                 (unsigned long long)data_size);
            return false;
        }
        t->data = r->buf + data + t->offset;
    }
    return true;
}

/* ------------------------------------------------------------ open/close */

/* Parses buf; takes ownership of the mapping when `mapped`. */
static gguf_file *open_bytes(const uint8_t *buf, uint64_t size, bool mapped,
                             char *err, size_t err_len) {
    gguf_impl *g = calloc(1, sizeof *g);
    if (g == NULL) {
        lc_set_err(err, err_len, "gguf: out of memory");
        if (mapped) munmap((void *)buf, size);
        return NULL;
    }
    g->pub.map = buf;
    g->pub.map_size = size;
    g->mapped = mapped;
    reader r = {buf, size, 0, err, err_len};
    if (!parse(&r, g)) {
        gguf_close(&g->pub);
        return NULL;
    }
    if (err != NULL && err_len > 0) err[0] = '\0';
    return &g->pub;
}

gguf_file *gguf_open_buffer(const void *data, size_t size, char *err,
                            size_t err_len) {
    if (data == NULL && size > 0) {
        lc_set_err(err, err_len, "gguf: NULL buffer");
        return NULL;
    }
    /* An empty buffer still needs a valid pointer for the reader. */
    static const uint8_t empty[1];
    return open_bytes(data ? data : empty, size, false, err, err_len);
}

gguf_file *gguf_open(const char *path, char *err, size_t err_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lc_set_err(err, err_len, "gguf: cannot open %s: %s", path,
                   strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        lc_set_err(err, err_len, "gguf: cannot stat %s: %s", path,
                   strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        lc_set_err(err, err_len, "gguf: %s is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        /* mmap refuses length 0; the parser gives the real message. */
        close(fd);
        return gguf_open_buffer(NULL, 0, err, err_len);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        lc_set_err(err, err_len, "gguf: cannot map %s: %s", path,
                   strerror(saved));
        return NULL;
    }
    return open_bytes(map, (uint64_t)st.st_size, true, err, err_len);
}

void gguf_close(gguf_file *f) {
    if (f == NULL) return;
    gguf_impl *g = (gguf_impl *)f;
    if (f->kv != NULL)
        for (uint64_t i = 0; i < f->n_kv; i++) free(f->kv[i].strs);
    free(f->kv);
    free(f->tensors);
    free(g->kv_index);
    free(g->tensor_index);
    if (g->mapped) munmap((void *)f->map, f->map_size);
    free(g);
}

/* --------------------------------------------------------------- lookups */

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (f == NULL || key == NULL) return NULL;
    const gguf_impl *g = (const gguf_impl *)f;
    if (f->kv == NULL) return NULL;
    int64_t i =
        index_find(g->kv_index, g->kv_cap, &f->kv[0].key, sizeof(gguf_kv), key);
    return i < 0 ? NULL : &f->kv[i];
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (f == NULL || name == NULL) return NULL;
    const gguf_impl *g = (const gguf_impl *)f;
    if (f->tensors == NULL) return NULL;
    int64_t i = index_find(g->tensor_index, g->tensor_cap, &f->tensors[0].name,
                           sizeof(gguf_tensor), name);
    return i < 0 ? NULL : &f->tensors[i];
}

/* Any integer value as a signed 128-bit-free pair: *neg set when below 0,
 * *mag the magnitude. False when kv is not an integer. */
static bool kv_integer(const gguf_kv *kv, bool *neg, uint64_t *mag) {
    switch (kv->type) {
    case GGUF_UINT8:
    case GGUF_UINT16:
    case GGUF_UINT32:
    case GGUF_UINT64:
        *neg = false;
        *mag = kv->v.u64;
        return true;
    case GGUF_INT8:
    case GGUF_INT16:
    case GGUF_INT32:
    case GGUF_INT64:
        *neg = kv->v.i64 < 0;
        /* -(INT64_MIN) overflows; go through unsigned arithmetic. */
        *mag = *neg ? 0 - (uint64_t)kv->v.i64 : (uint64_t)kv->v.i64;
        return true;
    default:
        return false;
    }
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    bool neg;
    uint64_t mag;
    if (kv == NULL || !kv_integer(kv, &neg, &mag)) return false;
    if (neg || mag > UINT32_MAX) return false;
    *out = (uint32_t)mag;
    return true;
}

bool gguf_get_i32(const gguf_file *f, const char *key, int32_t *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    bool neg;
    uint64_t mag;
    if (kv == NULL || !kv_integer(kv, &neg, &mag)) return false;
    if (neg ? mag > (uint64_t)INT32_MAX + 1 : mag > INT32_MAX) return false;
    *out = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
    return true;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (kv == NULL) return false;
    if (kv->type != GGUF_FLOAT32 && kv->type != GGUF_FLOAT64) return false;
    *out = (float)kv->v.f64;
    return true;
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (kv == NULL || kv->type != GGUF_BOOL) return false;
    *out = kv->v.b;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, char *buf,
                  size_t buf_len) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (kv == NULL || kv->type != GGUF_STRING || buf == NULL || buf_len == 0)
        return false;
    size_t n =
        kv->v.str.len < buf_len - 1 ? (size_t)kv->v.str.len : buf_len - 1;
    if (n > 0) memcpy(buf, kv->v.str.ptr, n);
    buf[n] = '\0';
    return true;
}

const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key,
                            enum gguf_value_type *elem_type, uint64_t *n) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (kv == NULL || kv->type != GGUF_ARRAY) return NULL;
    if (elem_type != NULL) *elem_type = kv->arr_type;
    if (n != NULL) *n = kv->arr_n;
    return kv;
}

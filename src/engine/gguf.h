/*
 * GGUF v2/v3 reader.
 *
 * The file is memory-mapped read-only. At open time every key/value pair and
 * every tensor descriptor is parsed and validated (sizes, offsets, alignment,
 * dimensions, type ids) so that code using a gguf_file never reads outside
 * the mapping. Tensor data stays in the mapping in its stored format.
 *
 * Layout (little-endian): magic "GGUF", u32 version, u64 n_tensors,
 * u64 n_kv, then n_kv × {string key, u32 type, value}, then n_tensors ×
 * {string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset},
 * then padding to `general.alignment` (default 32) and the data section.
 * A string is u64 length + bytes (no NUL).
 */
#ifndef LC_ENGINE_GGUF_H
#define LC_ENGINE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quant.h"

enum gguf_value_type {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
    GGUF_TYPE_COUNT
};

/* A string inside the mapping: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    enum gguf_value_type type;
    /* Scalars are decoded here; for GGUF_STRING `str` is set. */
    union {
        uint64_t u64;
        int64_t i64;
        double f64;
        bool b;
        gguf_str str;
    } v;
    /* For GGUF_ARRAY: element type and count; `arr` points at the first
     * element inside the mapping (numbers) and `strs` holds a parsed
     * index of the elements when they are strings (else NULL). */
    enum gguf_value_type arr_type;
    uint64_t arr_n;
    const void *arr;
    gguf_str *strs;
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] = row length; unused dims are 1 */
    enum ggml_type type;
    uint64_t offset;  /* from the start of the data section */
    const void *data; /* inside the mapping */
    uint64_t size;    /* bytes */
} gguf_tensor;

typedef struct gguf_file {
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;
    const uint8_t *map; /* whole file */
    uint64_t map_size;
    uint64_t data_offset;
} gguf_file;

/* Opens and validates a GGUF file. NULL on failure with one line in err. */
gguf_file *gguf_open(const char *path, char *err, size_t err_len);
/* Same, over a buffer the caller keeps alive (used by the fuzzer). */
gguf_file *gguf_open_buffer(const void *data, size_t size, char *err,
                            size_t err_len);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: false when the key is absent or of an incompatible type.
 * Integer getters accept any integer type whose value fits. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
/* String value copied into buf (NUL-terminated, truncated to buf_len-1). */
bool gguf_get_str(const gguf_file *f, const char *key, char *buf,
                  size_t buf_len);
/* Array of any type; out params may be NULL. */
const gguf_kv *gguf_get_arr(const gguf_file *f, const char *key,
                            enum gguf_value_type *elem_type, uint64_t *n);

/* Compares a gguf_str with a C string. */
bool gguf_str_eq(gguf_str s, const char *c);

#endif

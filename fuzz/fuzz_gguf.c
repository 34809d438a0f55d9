/*
 * libFuzzer target for the GGUF reader: any input must either be refused
 * with a one-line error or give a gguf_file whose every pointer stays inside
 * the input. On success this walks all key/values, array elements and tensor
 * data, and calls every getter on every key, so that ASan sees any read
 * outside the buffer.
 */
#include "engine/gguf.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of one array element; 0 for strings (read through `strs`). */
static size_t elem_size(enum gguf_value_type t) {
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

static unsigned touch(const void *p, uint64_t n) {
    const unsigned char *b = p;
    unsigned sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += b[i];
    return sum;
}

/* Calls every getter with `key`; the results only feed the checksum. */
static unsigned query(const gguf_file *f, const char *key) {
    uint32_t u;
    int32_t i;
    float x;
    bool b;
    char s[32];
    enum gguf_value_type t;
    uint64_t n;
    unsigned sum = 0;
    if (gguf_get_u32(f, key, &u)) sum += u;
    if (gguf_get_i32(f, key, &i)) sum += (unsigned)i;
    if (gguf_get_f32(f, key, &x)) sum += x > 0;
    if (gguf_get_bool(f, key, &b)) sum += b;
    if (gguf_get_str(f, key, s, sizeof s)) sum += (unsigned)strlen(s);
    if (gguf_get_arr(f, key, &t, &n)) sum += (unsigned)t + (unsigned)n;
    return sum;
}

static unsigned walk(const gguf_file *f) {
    unsigned sum = 0;
    char name[256];
    for (uint64_t k = 0; k < f->n_kv; k++) {
        const gguf_kv *kv = &f->kv[k];
        sum += touch(kv->key.ptr, kv->key.len);
        if (kv->key.len < sizeof name) {
            memcpy(name, kv->key.ptr, kv->key.len);
            name[kv->key.len] = '\0';
            /* Keys with a NUL inside cannot be found by C string. */
            const gguf_kv *found = gguf_find_kv(f, name);
            if (strlen(name) == kv->key.len && found != kv) abort();
            sum += query(f, name);
        }
        if (kv->type == GGUF_STRING) sum += touch(kv->v.str.ptr, kv->v.str.len);
        if (kv->type != GGUF_ARRAY) continue;
        if (kv->arr_type == GGUF_STRING) {
            for (uint64_t j = 0; j < kv->arr_n; j++)
                sum += touch(kv->strs[j].ptr, kv->strs[j].len);
        } else {
            sum += touch(kv->arr, kv->arr_n * elem_size(kv->arr_type));
        }
    }
    for (uint64_t k = 0; k < f->n_tensors; k++) {
        const gguf_tensor *t = &f->tensors[k];
        if (t->name.len < sizeof name) {
            memcpy(name, t->name.ptr, t->name.len);
            name[t->name.len] = '\0';
            const gguf_tensor *found = gguf_find_tensor(f, name);
            if (strlen(name) == t->name.len && found != t) abort();
        }
        sum += touch(t->data, t->size);
    }
    sum += query(f, "general.architecture") + query(f, "general.alignment");
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    gguf_file *f = gguf_open_buffer(data, size, err, sizeof err);
    if (f == NULL) {
        /* Every refusal must explain itself. */
        if (strncmp(err, "gguf: ", 6) != 0 || err[6] == '\0') abort();
        return 0;
    }
    volatile unsigned sink = walk(f);
    (void)sink;
    gguf_close(f);
    return 0;
}

/*
 * Encoder models against llama.cpp: for every embedding model of the oracle
 * manifest, the three texts tokenized by our tokenizer, embedded, and the
 * pooled unit vectors and per-token hidden states compared with what
 * llama.cpp produced for the same file (../shared/oracle/README.md,
 * "Suggested test tolerances"). Also the errors: a decoder given to
 * lc_embed, an encoder given to lc_decode, a text longer than the context.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llamachat/engine.h"
#include "testutil.h"

/* README: unit embeddings F32 1e-4, F16 3e-4, quantized 1e-2 (and a cosine
 * of at least 0.9995). */
static double unit_tolerance(const char *type) {
    if (strcmp(type, "F32") == 0) return 1e-4;
    if (strcmp(type, "F16") == 0) return 3e-4;
    return 1e-2;
}

typedef struct cmp {
    double max_abs;
    double min_cos;
} cmp;

/* Worst element difference and worst row cosine of rows [n][dim]. */
static cmp compare(const float *got, const float *want, int rows, int dim) {
    cmp c = {0.0, 1.0};
    for (int r = 0; r < rows; r++) {
        const float *a = got + (size_t)r * dim, *b = want + (size_t)r * dim;
        double ab = 0, aa = 0, bb = 0;
        for (int d = 0; d < dim; d++) {
            double diff = fabs((double)a[d] - b[d]);
            if (!(diff <= c.max_abs)) c.max_abs = diff; /* NaN sticks */
            ab += (double)a[d] * b[d];
            aa += (double)a[d] * a[d];
            bb += (double)b[d] * b[d];
        }
        double cs = aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
        if (!(cs >= c.min_cos)) c.min_cos = cs;
    }
    return c;
}

static lc_model *load(const char *path) {
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) print_message("load %s: %s\n", path, err);
    return m;
}

static lc_context *context(lc_model *m, int n_ctx) {
    char err[256];
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.gpu_mode = LC_GPU_OFF;
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    if (!ctx) print_message("context: %s\n", err);
    return ctx;
}

/* A fixture model of ../shared (rel) and a context of n_ctx on it; the test
 * is skipped when the file is absent and fails when either cannot be made. */
static lc_context *open_shared(const char *rel, int n_ctx, lc_model **m) {
    const char *path = lc_shared_path(rel);
    lc_test_skip_without(path);
    *m = load(path);
    assert_non_null(*m);
    lc_context *ctx = context(*m, n_ctx);
    assert_non_null(ctx);
    return ctx;
}

/* One model of the manifest: returns the number of failed checks. */
static int check_model(const json_t *e) {
    const char *name = json_string_value(json_object_get(e, "name"));
    const char *type = json_string_value(json_object_get(e, "type"));
    char path[4096], epath[4096], hpath[4096];
    lc_oracle_path(path, sizeof path, json_object_get(e, "file"));
    lc_oracle_path(epath, sizeof epath, json_object_get(e, "embedding_file"));
    lc_oracle_path(hpath, sizeof hpath,
                   json_object_get(e, "hidden_states_file"));
    if (!lc_file_exists(path) || !lc_file_exists(epath)) {
        print_message("%-26s absent, skipped\n", name);
        return 0;
    }
    lc_model *m = load(path);
    if (!m) return 1;
    int failures = 0;
    const int n_embd = lc_model_n_embd(m);
    assert_true(lc_model_is_encoder(m));
    assert_int_equal(n_embd, json_integer_value(json_object_get(e, "n_embd")));
    lc_context *ctx = context(m, 512);
    assert_non_null(ctx);

    const json_t *texts = json_object_get(e, "texts");
    const json_t *ids = json_object_get(e, "token_ids");
    const size_t n_text = json_array_size(texts);
    size_t n_hidden = 0;
    for (size_t t = 0; t < n_text; t++)
        n_hidden += json_array_size(json_array_get(ids, t));
    float *ref = lc_read_f32(epath, n_text, (size_t)n_embd);
    float *ref_h = lc_read_f32(hpath, n_hidden, (size_t)n_embd);
    assert_non_null(ref);
    float *got = calloc(n_text * (size_t)n_embd, sizeof(float));
    float *got_h = calloc(n_hidden * (size_t)n_embd, sizeof(float));
    assert_non_null(got);
    assert_non_null(got_h);

    size_t row = 0;
    for (size_t t = 0; t < n_text; t++) {
        const char *text = json_string_value(json_array_get(texts, t));
        int n_want;
        int32_t *want = lc_json_ids(json_array_get(ids, t), &n_want);
        /* Text in: our tokenizer, with the model's special tokens
         * (CLS/SEP, BOS, EOS) and control tokens parsed, as llama.cpp's
         * embedding example does. */
        int32_t toks[256];
        int n = lc_tokenize(m, text, strlen(text), true, true, toks, 256);
        if (n != n_want ||
            memcmp(toks, want, sizeof(int32_t) * (size_t)n_want) != 0) {
            print_message("%-26s text %zu: tokens differ from llama.cpp's\n",
                          name, t);
            failures++;
        }
        char err[256];
        if (lc_embed(ctx, toks, n, got + t * n_embd, err, sizeof err) != 0 ||
            lc_embed_tokens(ctx, toks, n, got_h + row * n_embd, err,
                            sizeof err) != 0) {
            print_message("%-26s text %zu: %s\n", name, t, err);
            failures++;
        }
        /* The pooled vector is a unit vector. */
        double ss = 0;
        for (int d = 0; d < n_embd; d++)
            ss += (double)got[t * n_embd + d] * got[t * n_embd + d];
        if (fabs(ss - 1.0) > 1e-5) {
            print_message("%-26s text %zu: |v|^2 = %g\n", name, t, ss);
            failures++;
        }
        row += (size_t)n;
        free(want);
    }

    const double tol = unit_tolerance(type);
    cmp c = compare(got, ref, (int)n_text, n_embd);
    bool ok = c.max_abs <= tol && c.min_cos >= LC_ORACLE_MIN_COS;
    /* Hidden states are not normalised: after a LayerNorm/RMSNorm a row
     * has norm about sqrt(n_embd), so the unit tolerance scales by that. */
    cmp ch = {NAN, NAN};
    if (ref_h && row == n_hidden) {
        ch = compare(got_h, ref_h, (int)n_hidden, n_embd);
        ok = ok && ch.max_abs <= tol * sqrt((double)n_embd) &&
             ch.min_cos >= LC_ORACLE_MIN_COS;
    }
    print_message("%-26s %-6s pooled max-abs %.3g cos %.9f, hidden max-abs "
                  "%.3g cos %.9f%s\n",
                  name, type, c.max_abs, c.min_cos, ch.max_abs, ch.min_cos,
                  ok ? "" : "  FAIL");
    failures += !ok;

    free(got);
    free(got_h);
    free(ref);
    free(ref_h);
    lc_context_free(ctx);
    lc_model_free(m);
    return failures;
}

static void test_embed_oracle(void **state) {
    (void)state;
    json_t *man = lc_require_manifest();
    json_t *models = json_object_get(man, "models");
    int failures = 0, tested = 0;
    for (size_t i = 0; i < json_array_size(models); i++) {
        json_t *e = json_array_get(models, i);
        if (strcmp(json_string_value(json_object_get(e, "kind")), "decoder") ==
            0)
            continue;
        char path[4096];
        lc_oracle_path(path, sizeof path, json_object_get(e, "file"));
        tested += lc_file_exists(path);
        failures += check_model(e);
    }
    json_decref(man);
    print_message("%d encoders compared, %d checks failed\n", tested, failures);
    if (tested == 0) {
        print_message("skip: no oracle encoder files are present\n");
        skip();
    }
    assert_int_equal(failures, 0);
}

/* A decoder has no encoder pass: lc_embed refuses it with a clear error. */
static void test_embed_decoder_refused(void **state) {
    (void)state;
    lc_model *m = NULL;
    lc_context *ctx = open_shared("oracle/models/llama-v512-F32.gguf", 64, &m);
    assert_false(lc_model_is_encoder(m));
    int32_t toks[3] = {1, 100, 200};
    float out[1024];
    char err[256] = "";
    assert_int_equal(lc_embed(ctx, toks, 3, out, err, sizeof err), -1);
    print_message("decoder: %s\n", err);
    assert_non_null(strstr(err, "embedding model"));
    assert_int_equal(lc_embed_tokens(ctx, toks, 3, out, err, sizeof err), -1);
    lc_context_free(ctx);
    lc_model_free(m);
}

/* Encoders: a text longer than the context, an empty text, a bad token id
 * and lc_decode are errors, never a crash or a partial result. */
static void test_embed_errors(void **state) {
    (void)state;
    lc_model *m = NULL;
    lc_context *ctx = open_shared("oracle/models/bert-v512-F16.gguf", 16, &m);
    const int n_embd = lc_model_n_embd(m);
    float *out = calloc(32 * (size_t)n_embd, sizeof(float));
    assert_non_null(out);
    int32_t toks[32];
    for (int i = 0; i < 32; i++) toks[i] = 1 + i;
    char err[256] = "";

    assert_int_equal(lc_embed(ctx, toks, 16, out, err, sizeof err), 0);
    assert_int_equal(lc_embed(ctx, toks, 17, out, err, sizeof err), -1);
    print_message("too long: %s\n", err);
    assert_non_null(strstr(err, "longer than the context"));
    assert_int_equal(lc_embed_tokens(ctx, toks, 17, out, err, sizeof err), -1);
    assert_int_equal(lc_embed(ctx, toks, 0, out, err, sizeof err), -1);
    toks[3] = lc_model_n_vocab(m);
    assert_int_equal(lc_embed(ctx, toks, 5, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "outside the vocabulary"));
    toks[3] = -1;
    assert_int_equal(lc_embed(ctx, toks, 5, out, err, sizeof err), -1);
    assert_int_equal(lc_embed(NULL, toks, 5, out, err, sizeof err), -1);

    toks[3] = 4;
    lc_batch b = {.n_tokens = 4, .token = toks};
    assert_int_equal(lc_decode(ctx, &b, err, sizeof err), -1);
    print_message("decode: %s\n", err);
    assert_non_null(strstr(err, "embedding model"));

    free(out);
    lc_context_free(ctx);
    lc_model_free(m);
}

/* Mean pooling is the mean of the per-token states, normalised, and a text
 * embedded twice gives the same vector (nothing is kept between calls). */
static void test_embed_pooling_consistent(void **state) {
    (void)state;
    lc_model *m = NULL;
    lc_context *ctx =
        open_shared("oracle/models/nomic-bert-v512-F16.gguf", 64, &m);
    const int n_embd = lc_model_n_embd(m);
    int32_t toks[64];
    const char *text = "Once upon a time there was a little girl";
    int n = lc_tokenize(m, text, strlen(text), true, true, toks, 64);
    assert_true(n > 2 && n <= 64);
    float *h = calloc((size_t)n * n_embd, sizeof(float));
    float *v1 = calloc((size_t)n_embd, sizeof(float));
    float *v2 = calloc((size_t)n_embd, sizeof(float));
    float *other = calloc((size_t)n_embd, sizeof(float));
    assert_true(h && v1 && v2 && other);
    char err[256];
    assert_int_equal(lc_embed(ctx, toks, n, v1, err, sizeof err), 0);
    assert_int_equal(lc_embed(ctx, toks, n - 1, other, err, sizeof err), 0);
    assert_int_equal(lc_embed(ctx, toks, n, v2, err, sizeof err), 0);
    assert_memory_equal(v1, v2, sizeof(float) * (size_t)n_embd);
    assert_int_equal(lc_embed_tokens(ctx, toks, n, h, err, sizeof err), 0);
    double ss = 0;
    for (int d = 0; d < n_embd; d++) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[(size_t)i * n_embd + d];
        mean /= n;
        v2[d] = (float)mean;
        ss += mean * mean;
    }
    double worst = 0;
    for (int d = 0; d < n_embd; d++)
        worst = fmax(worst, fabs(v2[d] / sqrt(ss) - v1[d]));
    assert_true(worst < 1e-6);
    /* Another text (one token less) gives another vector. */
    double diff = 0;
    for (int d = 0; d < n_embd; d++) diff = fmax(diff, fabs(v1[d] - other[d]));
    assert_true(diff > 1e-4);
    free(h);
    free(v1);
    free(v2);
    free(other);
    lc_context_free(ctx);
    lc_model_free(m);
}

/* Offset of the first occurrence of s in buf, or fails the test. */
static size_t find_bytes(const char *buf, size_t size, const char *s) {
    const size_t n = strlen(s);
    for (size_t off = 0; off + n <= size; off++)
        if (memcmp(buf + off, s, n) == 0) return off;
    fail_msg("'%s' not found", s);
    return 0;
}

/* Loads a patched copy of a model; expects an error containing needle. */
static void expect_load_error(const char *data, size_t size,
                              const char *needle) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/lc_test_embed_%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, size, fp), size);
    fclose(fp);
    char err[256] = "";
    lc_model *m = lc_model_load(path, NULL, err, sizeof err);
    remove(path);
    print_message("-> %s\n", err);
    assert_null(m);
    assert_non_null(strstr(err, needle));
}

/* Hostile encoder files: a missing tensor, a reranker's pooling type and a
 * truncated file are load errors naming the problem. */
static void test_embed_load_errors(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/models/bert-v512-F16.gguf");
    lc_test_skip_without(path);
    size_t size;
    char *data = lc_read_file(path, &size);
    assert_non_null(data);

    /* Same-length rename of the embedding LayerNorm's weight. */
    char *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, data, size);
    size_t off = find_bytes(copy, size, "token_embd_norm.weight");
    memcpy(copy + off, "token_embd_norX", 15);
    expect_load_error(copy, size, "tensor 'token_embd_norm.weight' is missing");

    /* bert.pooling_type = 4 (rank): key, u32 type id, u32 value. */
    memcpy(copy, data, size);
    off = find_bytes(copy, size, "bert.pooling_type");
    off += strlen("bert.pooling_type") + 4;
    uint32_t v;
    memcpy(&v, copy + off, 4);
    assert_int_equal(v, 1);
    v = 4;
    memcpy(copy + off, &v, 4);
    expect_load_error(copy, size, "pooling type 4 is not supported");

    /* A truncated file: the data of the last tensors is cut off. */
    expect_load_error(data, size - 4096, "");

    free(copy);
    free(data);
}

/* cls and last pooling (no oracle model uses them): the bert twin with
 * its pooling_type patched to 2 and 3 gives the normalised hidden state of
 * the first and the last token. */
static void test_embed_cls_last(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/models/bert-v512-F16.gguf");
    lc_test_skip_without(path);
    size_t size;
    char *data = lc_read_file(path, &size);
    assert_non_null(data);
    size_t off = find_bytes(data, size, "bert.pooling_type");
    off += strlen("bert.pooling_type") + 4;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/lc_test_embed_pool_%d.gguf", (int)getpid());
    for (uint32_t pooling = 2; pooling <= 3; pooling++) {
        memcpy(data + off, &pooling, 4);
        FILE *fp = fopen(tmp, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, size, fp), size);
        fclose(fp);
        lc_model *m = load(tmp);
        remove(tmp);
        assert_non_null(m);
        lc_context *ctx = context(m, 64);
        assert_non_null(ctx);
        const int n_embd = lc_model_n_embd(m);
        int32_t toks[5] = {1, 300, 301, 302, 303};
        float *h = calloc(5 * (size_t)n_embd, sizeof(float));
        float *v = calloc((size_t)n_embd, sizeof(float));
        assert_true(h && v);
        char err[256];
        assert_int_equal(lc_embed(ctx, toks, 5, v, err, sizeof err), 0);
        assert_int_equal(lc_embed_tokens(ctx, toks, 5, h, err, sizeof err), 0);
        const float *row = h + (pooling == 2 ? 0 : 4) * (size_t)n_embd;
        double ss = 0, worst = 0;
        for (int d = 0; d < n_embd; d++) ss += (double)row[d] * row[d];
        for (int d = 0; d < n_embd; d++)
            worst = fmax(worst, fabs(row[d] / sqrt(ss) - v[d]));
        print_message("pooling %u: max-abs %.3g\n", pooling, worst);
        assert_true(worst < 1e-6);
        free(h);
        free(v);
        lc_context_free(ctx);
        lc_model_free(m);
    }
    free(data);
}

/* ------------------------------------------- dense projections (no oracle)
 * The gemma-embedding twin rewritten with two extra F32 tensors,
 * dense_2.weight [n_dense][n_embd] and dense_3.weight [n_embd][n_dense]:
 * the pooled vector must become normalize(W3 (W2 mean(h))). */

typedef struct rd {
    const uint8_t *p;
    size_t off, size;
} rd;

static uint64_t rd_u(rd *r, int bytes) {
    assert_true(r->off + (size_t)bytes <= r->size);
    uint64_t v = 0;
    memcpy(&v, r->p + r->off, (size_t)bytes); /* little-endian host */
    r->off += (size_t)bytes;
    return v;
}

/* Skips one metadata value of GGUF type t. */
static void rd_skip_value(rd *r, uint32_t t) {
    static const int width[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    assert_true(t <= 12);
    if (t == 8) {
        r->off += rd_u(r, 8);
    } else if (t == 9) {
        uint32_t et = (uint32_t)rd_u(r, 4);
        uint64_t n = rd_u(r, 8);
        for (uint64_t i = 0; i < n; i++) rd_skip_value(r, et);
    } else {
        r->off += (size_t)width[t];
    }
    assert_true(r->off <= r->size);
}

static void put(uint8_t **w, const void *src, size_t n) {
    memcpy(*w, src, n);
    *w += n;
}

static void put_info(uint8_t **w, const char *name, uint64_t ne0, uint64_t ne1,
                     uint64_t offset) {
    uint64_t len = strlen(name);
    uint32_t n_dims = 2, type = 0; /* F32 */
    put(w, &len, 8);
    put(w, name, len);
    put(w, &n_dims, 4);
    put(w, &ne0, 8);
    put(w, &ne1, 8);
    put(w, &type, 4);
    put(w, &offset, 8);
}

#define ALIGN32(x) (((x) + 31) & ~(size_t)31)

static void test_embed_dense(void **state) {
    (void)state;
    const char *path =
        lc_shared_path("oracle/models/gemma-embedding-v512-F16.gguf");
    lc_test_skip_without(path);
    size_t size;
    uint8_t *in = (uint8_t *)lc_read_file(path, &size);
    assert_non_null(in);
    rd r = {in, 8, size}; /* after magic and version */
    const uint64_t n_tensors = rd_u(&r, 8), n_kv = rd_u(&r, 8);
    for (uint64_t i = 0; i < n_kv; i++) {
        r.off += rd_u(&r, 8); /* key */
        rd_skip_value(&r, (uint32_t)rd_u(&r, 4));
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        r.off += rd_u(&r, 8);             /* name */
        r.off += 8 * rd_u(&r, 4) + 4 + 8; /* dims, type, offset */
    }
    const size_t info_end = r.off, data_start = ALIGN32(info_end);
    const size_t old_data = size - data_start;

    enum { N_EMBD = 256, N_DENSE = 64 };
    static float w2[N_DENSE][N_EMBD], w3[N_EMBD][N_DENSE];
    uint32_t seed = 12345;
    for (int i = 0; i < N_DENSE; i++)
        for (int j = 0; j < N_EMBD; j++) {
            seed = seed * 1664525u + 1013904223u;
            w2[i][j] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
            seed = seed * 1664525u + 1013904223u;
            w3[j][i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
        }
    const size_t off2 = ALIGN32(old_data), off3 = ALIGN32(off2 + sizeof w2);
    const size_t out_size = data_start + 200 + off3 + sizeof w3;
    uint8_t *out = calloc(1, out_size), *w = out;
    assert_non_null(out);
    put(&w, in, 16); /* magic, version, n_tensors (patched below) */
    const uint64_t n_new = n_tensors + 2;
    memcpy(out + 8, &n_new, 8);
    put(&w, in + 16, info_end - 16); /* n_kv, metadata, old tensor infos */
    put_info(&w, "dense_2.weight", N_EMBD, N_DENSE, off2);
    put_info(&w, "dense_3.weight", N_DENSE, N_EMBD, off3);
    const size_t new_start = ALIGN32((size_t)(w - out));
    w = out + new_start;
    put(&w, in + data_start, old_data);
    memcpy(out + new_start + off2, w2, sizeof w2);
    memcpy(out + new_start + off3, w3, sizeof w3);
    const size_t new_size = new_start + off3 + sizeof w3;
    assert_true(new_size <= out_size);

    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/lc_test_embed_dense_%d.gguf",
             (int)getpid());
    FILE *fp = fopen(tmp, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(out, 1, new_size, fp), new_size);
    fclose(fp);
    lc_model *m = load(tmp);
    remove(tmp);
    assert_non_null(m);
    lc_model *plain = load(path);
    assert_non_null(plain);
    lc_context *ctx = context(m, 64), *pctx = context(plain, 64);
    assert_true(ctx && pctx);

    int32_t toks[64];
    const char *text = "hello world";
    int n = lc_tokenize(m, text, strlen(text), true, true, toks, 64);
    assert_true(n > 2 && n <= 64);
    float *h = calloc((size_t)n * N_EMBD, sizeof(float));
    float v[N_EMBD], pv[N_EMBD];
    assert_non_null(h);
    char err[256];
    assert_int_equal(lc_embed(ctx, toks, n, v, err, sizeof err), 0);
    assert_int_equal(lc_embed(pctx, toks, n, pv, err, sizeof err), 0);
    assert_int_equal(lc_embed_tokens(ctx, toks, n, h, err, sizeof err), 0);

    double mean[N_EMBD], mid[N_DENSE], want[N_EMBD], ss = 0;
    for (int d = 0; d < N_EMBD; d++) {
        mean[d] = 0;
        for (int i = 0; i < n; i++) mean[d] += h[(size_t)i * N_EMBD + d];
        mean[d] /= n;
    }
    for (int i = 0; i < N_DENSE; i++) {
        mid[i] = 0;
        for (int j = 0; j < N_EMBD; j++) mid[i] += w2[i][j] * mean[j];
    }
    for (int j = 0; j < N_EMBD; j++) {
        want[j] = 0;
        for (int i = 0; i < N_DENSE; i++) want[j] += w3[j][i] * mid[i];
        ss += want[j] * want[j];
    }
    double worst = 0, moved = 0;
    for (int j = 0; j < N_EMBD; j++) {
        worst = fmax(worst, fabs(want[j] / sqrt(ss) - v[j]));
        moved = fmax(moved, fabs((double)pv[j] - v[j]));
    }
    print_message("dense: max-abs %.3g against float64 (moved %.3g)\n", worst,
                  moved);
    assert_true(worst < 1e-5);
    assert_true(moved > 1e-2);

    free(h);
    free(out);
    free(in);
    lc_context_free(ctx);
    lc_context_free(pctx);
    lc_model_free(m);
    lc_model_free(plain);
}

/* llamachat embed: --json vectors of the bert twin match llama.cpp's, and
 * --prefix is prepended to each text ("hello " + "world" is text 0). */
static void test_embed_cli(void **state) {
    (void)state;
    const char *bin = getenv("LLAMACHAT_BIN");
    if (!bin) {
        print_message("skip: LLAMACHAT_BIN is not set\n");
        skip();
    }
    lc_test_skip_without(bin);
    char model[4096], epath[4096];
    snprintf(model, sizeof model, "%s",
             lc_shared_path("oracle/models/bert-v512-F16.gguf"));
    snprintf(epath, sizeof epath, "%s",
             lc_shared_path("oracle/embeddings/bert-v512-F16.f32"));
    lc_test_skip_without(model);
    lc_test_skip_without(epath);
    float *ref = lc_read_f32(epath, 3, 256);
    assert_non_null(ref);

    char args[8192];
    snprintf(args, sizeof args,
             "embed -m '%s' --json --prefix 'hello ' world "
             "'-t' 2 -- 'x'",
             model);
    /* The options may follow the texts; "--" ends them. */
    char *out = NULL;
    assert_int_equal(lc_run_cli(args, &out, NULL), 0);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    if (!doc) print_message("output: %.200s\n", out);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "n_embd")), 256);
    json_t *vecs = json_object_get(doc, "embeddings");
    assert_int_equal(json_array_size(vecs), 2);
    json_t *v0 = json_array_get(vecs, 0);
    assert_int_equal(json_array_size(v0), 256);
    double worst = 0;
    for (int d = 0; d < 256; d++)
        worst = fmax(worst,
                     fabs(json_number_value(json_array_get(v0, d)) - ref[d]));
    print_message("cli: max-abs %.3g against llama.cpp\n", worst);
    assert_true(worst <= 3e-4);
    json_decref(doc);
    free(out);

    /* Plain output: one line of 256 numbers per text. */
    snprintf(args, sizeof args, "embed -m '%s' 'hello world' 'Legal'", model);
    assert_int_equal(lc_run_cli(args, &out, NULL), 0);
    int lines = 0, numbers = 0;
    for (char *tok = strtok(out, " \n"); tok; tok = strtok(NULL, " \n"))
        numbers++;
    free(out);
    assert_int_equal(lc_run_cli(args, &out, NULL), 0);
    for (char *c = out; *c; c++) lines += *c == '\n';
    free(out);
    assert_int_equal(lines, 2);
    assert_int_equal(numbers, 512);

    /* A decoder is refused with exit status 1 and nothing on stdout. */
    snprintf(args, sizeof args, "embed -m '%s' hello",
             lc_shared_path("oracle/models/llama-v512-F32.gguf"));
    assert_int_equal(lc_run_cli(args, &out, NULL), 1);
    assert_string_equal(out, "");
    free(out);
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed_oracle),
        cmocka_unit_test(test_embed_decoder_refused),
        cmocka_unit_test(test_embed_errors),
        cmocka_unit_test(test_embed_pooling_consistent),
        cmocka_unit_test(test_embed_load_errors),
        cmocka_unit_test(test_embed_cls_last),
        cmocka_unit_test(test_embed_dense),
        cmocka_unit_test(test_embed_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

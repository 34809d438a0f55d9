/*
 * lc_decode and the KV cache: the same logits whichever way the tokens
 * arrive (one batch, one at a time, interleaved with another sequence,
 * after removing a suffix), invalid batches refused without side effects,
 * and lc_model_load's errors on damaged files.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llamachat/engine.h"
#include "testutil.h"

#define N_TOK 24

/* 24 token ids of the oracle prompt (any ids < 512 would do). */
static const int32_t TOKS[N_TOK] = {1,   291, 410, 456, 425, 417, 340, 268,
                                    420, 327, 416, 272, 414, 444, 410, 449,
                                    425, 423, 427, 419, 334, 330, 265, 278};

static lc_model *load(const char *rel) {
    const char *path = lc_shared_path(rel);
    if (!lc_file_exists(path)) return NULL;
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) print_message("%s: %s\n", rel, err);
    assert_non_null(m);
    return m;
}

static lc_context *new_ctx(lc_model *m, int n_ctx, int n_seq) {
    char err[256];
    lc_context_params cp = lc_context_default_params();
    cp.gpu_mode = LC_GPU_OFF; /* the CPU engine is under test here */
    cp.n_ctx = n_ctx;
    cp.n_seq_max = n_seq;
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    if (!ctx) print_message("context: %s\n", err);
    assert_non_null(ctx);
    return ctx;
}

/* Decodes tokens [n] of one sequence from pos0; logits for every token are
 * copied into out [n][n_vocab] when out is given. */
static int decode_seq(lc_context *ctx, const int32_t *tok, int n, int pos0,
                      int32_t seq, float *out, int n_vocab, char *err,
                      size_t err_len) {
    int32_t pos[64], sq[64];
    int8_t lg[64];
    for (int i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        sq[i] = seq;
        lg[i] = 1;
    }
    lc_batch b = {n, tok, pos, sq, lg};
    int rc = lc_decode(ctx, &b, err, err_len);
    if (rc == 0 && out)
        for (int i = 0; i < n; i++)
            memcpy(out + (size_t)i * n_vocab, lc_get_logits(ctx, i),
                   sizeof(float) * (size_t)n_vocab);
    return rc;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* One batch vs. the same tokens one at a time through the cache, for a
 * model of each attention flavour (gemma3: 24 tokens > its 16-token
 * sliding window, so the window is crossed through the cache). */
static void check_token_by_token(const char *rel) {
    lc_model *m = load(rel);
    if (!m) {
        print_message("skip: %s is absent\n", rel);
        return;
    }
    const int nv = lc_model_n_vocab(m);
    float *batch = malloc(sizeof(float) * N_TOK * (size_t)nv);
    float *single = malloc(sizeof(float) * N_TOK * (size_t)nv);
    char err[256];
    lc_context *ctx = new_ctx(m, 64, 1);
    assert_int_equal(
        decode_seq(ctx, TOKS, N_TOK, 0, 0, batch, nv, err, sizeof err), 0);
    lc_context_free(ctx);
    ctx = new_ctx(m, 64, 1);
    for (int i = 0; i < N_TOK; i++) {
        assert_int_equal(decode_seq(ctx, &TOKS[i], 1, i, 0,
                                    single + (size_t)i * nv, nv, err,
                                    sizeof err),
                         0);
        assert_int_equal(lc_kv_seq_len(ctx, 0), i + 1);
    }
    double d = max_diff(batch, single, (size_t)N_TOK * nv);
    print_message("%s: batch vs token-by-token max-abs %.3g\n", rel, d);
    assert_true(d <= 1e-4);
    lc_context_free(ctx);
    free(batch);
    free(single);
    lc_model_free(m);
}

static void test_token_by_token(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/models/llama-v512-F32.gguf");
    lc_test_skip_without(path);
    check_token_by_token("oracle/models/llama-v512-F32.gguf");
    check_token_by_token("oracle/models/gemma3-v512-F32.gguf");
    check_token_by_token("oracle/models/qwen3-v512-F32.gguf");
}

/* Two sequences interleaved in one batch = each alone. */
static void test_two_sequences(void **state) {
    (void)state;
    const char *rel = "oracle/models/gemma3-v512-F32.gguf";
    lc_test_skip_without(lc_shared_path(rel));
    lc_model *m = load(rel);
    const int nv = lc_model_n_vocab(m);
    const int na = 14, nb = 10; /* seq 0: TOKS[0..14), seq 1: TOKS[14..24) */
    float *alone = malloc(sizeof(float) * N_TOK * (size_t)nv);
    char err[256];
    lc_context *ctx = new_ctx(m, 64, 1);
    assert_int_equal(
        decode_seq(ctx, TOKS, na, 0, 0, alone, nv, err, sizeof err), 0);
    lc_context_free(ctx);
    ctx = new_ctx(m, 64, 1);
    assert_int_equal(decode_seq(ctx, TOKS + na, nb, 0, 0,
                                alone + (size_t)na * nv, nv, err, sizeof err),
                     0);
    lc_context_free(ctx);

    /* Interleaved: a0 b0 a1 b1 ... then the rest of a. */
    int32_t tok[N_TOK], pos[N_TOK], seq[N_TOK], src[N_TOK];
    int8_t lg[N_TOK];
    int n = 0;
    for (int i = 0; i < na; i++) {
        tok[n] = TOKS[i], pos[n] = i, seq[n] = 0, src[n] = i, lg[n] = 1, n++;
        if (i < nb) {
            tok[n] = TOKS[na + i], pos[n] = i, seq[n] = 1, src[n] = na + i;
            lg[n] = 1, n++;
        }
    }
    ctx = new_ctx(m, 64, 2);
    lc_batch b = {n, tok, pos, seq, lg};
    assert_int_equal(lc_decode(ctx, &b, err, sizeof err), 0);
    assert_int_equal(lc_kv_seq_len(ctx, 0), na);
    assert_int_equal(lc_kv_seq_len(ctx, 1), nb);
    double d = 0;
    for (int i = 0; i < n; i++) {
        const float *got = lc_get_logits(ctx, i);
        assert_non_null(got);
        double di = max_diff(got, alone + (size_t)src[i] * nv, (size_t)nv);
        if (di > d) d = di;
    }
    print_message("interleaved vs alone: max-abs %.3g\n", d);
    assert_true(d <= 1e-4);

    /* Continuing one sequence leaves the other alone. */
    int32_t t = TOKS[0], p = nb, s1 = 1;
    lc_batch one = {1, &t, &p, &s1, NULL};
    assert_int_equal(lc_decode(ctx, &one, err, sizeof err), 0);
    assert_int_equal(lc_kv_seq_len(ctx, 0), na);
    assert_int_equal(lc_kv_seq_len(ctx, 1), nb + 1);
    lc_context_free(ctx);
    free(alone);
    lc_model_free(m);
}

/* Removing a suffix and decoding it again gives the same logits. */
static void test_seq_rm(void **state) {
    (void)state;
    const char *rel = "oracle/models/qwen3-v512-F32.gguf";
    lc_test_skip_without(lc_shared_path(rel));
    lc_model *m = load(rel);
    const int nv = lc_model_n_vocab(m);
    float *ref = malloc(sizeof(float) * N_TOK * (size_t)nv);
    float *again = malloc(sizeof(float) * N_TOK * (size_t)nv);
    char err[256];
    lc_context *ctx = new_ctx(m, 64, 1);
    assert_int_equal(
        decode_seq(ctx, TOKS, N_TOK, 0, 0, ref, nv, err, sizeof err), 0);
    lc_kv_seq_rm(ctx, 0, 16, -1);
    assert_int_equal(lc_kv_seq_len(ctx, 0), 16);
    /* Removing from the middle is not possible: nothing changes. */
    lc_kv_seq_rm(ctx, 0, 4, 8);
    assert_int_equal(lc_kv_seq_len(ctx, 0), 16);
    assert_int_equal(decode_seq(ctx, TOKS + 16, N_TOK - 16, 16, 0, again, nv,
                                err, sizeof err),
                     0);
    double d =
        max_diff(ref + (size_t)16 * nv, again, (size_t)(N_TOK - 16) * nv);
    print_message("after seq_rm: max-abs %.3g\n", d);
    assert_true(d <= 1e-4);
    /* A different continuation after a shorter cut. */
    lc_kv_seq_rm(ctx, 0, 8, -1);
    assert_int_equal(lc_kv_seq_len(ctx, 0), 8);
    assert_int_equal(
        decode_seq(ctx, TOKS + 8, 4, 8, 0, again, nv, err, sizeof err), 0);
    assert_true(max_diff(ref + (size_t)8 * nv, again, (size_t)4 * nv) <= 1e-4);
    lc_context_free(ctx);
    free(ref);
    free(again);
    lc_model_free(m);
}

/* A batch longer than a micro-batch (512 tokens) with logits for its last
 * token and one in the middle = the same tokens in small batches. */
static void test_long_batch(void **state) {
    (void)state;
    const char *rel = "oracle/models/gemma3-v512-F32.gguf";
    lc_test_skip_without(lc_shared_path(rel));
    lc_model *m = load(rel);
    const int nv = lc_model_n_vocab(m);
    enum { N = 600 };
    int32_t *tok = malloc(sizeof(int32_t) * N);
    int32_t *pos = malloc(sizeof(int32_t) * N);
    int32_t *seq = calloc(N, sizeof(int32_t));
    int8_t *lg = calloc(N, 1);
    for (int i = 0; i < N; i++) {
        tok[i] = TOKS[i % N_TOK] + i % 3;
        pos[i] = i;
    }
    lg[N - 1] = 1;
    lg[300] = 1;
    char err[256];
    lc_context *ctx = new_ctx(m, 1024, 1);
    lc_batch b = {N, tok, pos, seq, lg};
    assert_int_equal(lc_decode(ctx, &b, err, sizeof err), 0);
    assert_null(lc_get_logits(ctx, 0));
    assert_null(lc_get_logits(ctx, 512));
    float *mid = malloc(sizeof(float) * (size_t)nv);
    float *end = malloc(sizeof(float) * (size_t)nv);
    memcpy(mid, lc_get_logits(ctx, 300), sizeof(float) * (size_t)nv);
    memcpy(end, lc_get_logits(ctx, N - 1), sizeof(float) * (size_t)nv);
    lc_context_free(ctx);

    ctx = new_ctx(m, 1024, 1);
    double d = 0;
    for (int start = 0; start < N; start += 50) {
        lc_batch part = {50, tok + start, pos + start, seq, lg + start};
        assert_int_equal(lc_decode(ctx, &part, err, sizeof err), 0);
        if (start == 300) d = max_diff(mid, lc_get_logits(ctx, 0), (size_t)nv);
    }
    double d2 = max_diff(end, lc_get_logits(ctx, 49), (size_t)nv);
    print_message("600-token batch vs batches of 50: max-abs %.3g, %.3g\n", d,
                  d2);
    assert_true(d <= 1e-4 && d2 <= 1e-4);
    lc_context_free(ctx);
    free(tok);
    free(pos);
    free(seq);
    free(lg);
    free(mid);
    free(end);
    lc_model_free(m);
}

/* Each invalid batch: -1, an error line, the cache as it was. */
static void test_invalid_batches(void **state) {
    (void)state;
    const char *rel = "oracle/models/llama-v512-F32.gguf";
    lc_test_skip_without(lc_shared_path(rel));
    lc_model *m = load(rel);
    const int nv = lc_model_n_vocab(m);
    float *ref = malloc(sizeof(float) * N_TOK * (size_t)nv);
    float *got = malloc(sizeof(float) * (size_t)nv);
    char err[256];
    lc_context *ctx = new_ctx(m, 32, 2);
    assert_int_equal(
        decode_seq(ctx, TOKS, N_TOK, 0, 0, ref, nv, err, sizeof err), 0);
    lc_kv_seq_rm(ctx, 0, 8, -1);

    /* Each batch starts with a valid token, so a decoder that validated
     * lazily would have changed the cache before seeing the bad one. */
    struct {
        const char *what, *needle;
        int32_t tok[2], pos[2], seq[2];
    } bad[] = {
        {"bad token id", "vocabulary", {TOKS[8], 512}, {8, 9}, {0, 0}},
        {"negative token id", "vocabulary", {TOKS[8], -1}, {8, 9}, {0, 0}},
        {"position gap", "continue", {TOKS[8], TOKS[9]}, {8, 10}, {0, 0}},
        {"position repeated", "continue", {TOKS[8], TOKS[9]}, {8, 8}, {0, 0}},
        {"sequence out of range",
         "sequence",
         {TOKS[8], TOKS[9]},
         {8, 0},
         {0, 2}},
        {"negative sequence", "sequence", {TOKS[8], TOKS[9]}, {8, 0}, {0, -1}},
        {"skips the cache", "continue", {TOKS[8], TOKS[9]}, {8, 3}, {0, 1}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        lc_batch b = {2, bad[k].tok, bad[k].pos, bad[k].seq, NULL};
        err[0] = '\0';
        assert_int_equal(lc_decode(ctx, &b, err, sizeof err), -1);
        print_message("%s: %s\n", bad[k].what, err);
        assert_non_null(strstr(err, bad[k].needle));
        assert_int_equal(lc_kv_seq_len(ctx, 0), 8);
        assert_int_equal(lc_kv_seq_len(ctx, 1), 0);
        assert_null(lc_get_logits(ctx, 0));
    }
    /* Too large and empty batches. */
    int32_t many[40] = {0}, mpos[40], mseq[40] = {0};
    for (int i = 0; i < 40; i++) mpos[i] = 8 + i;
    lc_batch big = {40, many, mpos, mseq, NULL};
    assert_int_equal(lc_decode(ctx, &big, err, sizeof err), -1);
    lc_batch empty = {0, many, mpos, mseq, NULL};
    assert_int_equal(lc_decode(ctx, &empty, err, sizeof err), -1);
    assert_int_equal(lc_kv_seq_len(ctx, 0), 8);

    /* The cache is intact: token 8 gives the logits it gave in the batch. */
    assert_int_equal(
        decode_seq(ctx, TOKS + 8, 1, 8, 0, got, nv, err, sizeof err), 0);
    assert_true(max_diff(ref + (size_t)8 * nv, got, (size_t)nv) <= 1e-4);

    /* Position beyond n_ctx (32): fill the sequence, then one more. */
    assert_int_equal(decode_seq(ctx, TOKS, 23, 9, 0, NULL, nv, err, sizeof err),
                     0);
    assert_int_equal(lc_kv_seq_len(ctx, 0), 32);
    int32_t t = TOKS[0], p = 32, s = 0;
    lc_batch over = {1, &t, &p, &s, NULL};
    assert_int_equal(lc_decode(ctx, &over, err, sizeof err), -1);
    print_message("position beyond n_ctx: %s\n", err);
    assert_non_null(strstr(err, "context"));
    assert_int_equal(lc_kv_seq_len(ctx, 0), 32);

    /* Logits only where asked. */
    lc_kv_seq_rm(ctx, 0, 0, -1);
    int8_t lg[3] = {0, 1, 0};
    int32_t pos3[3] = {0, 1, 2}, seq3[3] = {0, 0, 0};
    lc_batch three = {3, TOKS, pos3, seq3, lg};
    assert_int_equal(lc_decode(ctx, &three, err, sizeof err), 0);
    assert_null(lc_get_logits(ctx, 0));
    assert_non_null(lc_get_logits(ctx, 1));
    assert_null(lc_get_logits(ctx, 2));
    assert_null(lc_get_logits(ctx, 3));
    assert_true(max_diff(ref + (size_t)1 * nv, lc_get_logits(ctx, 1),
                         (size_t)nv) <= 1e-4);

    lc_context_free(ctx);
    free(ref);
    free(got);
    lc_model_free(m);
}

static void test_model_info(void **state) {
    (void)state;
    const char *rel = "oracle/models/llama-v512-Q4_K_M.gguf";
    lc_test_skip_without(lc_shared_path(rel));
    lc_model *m = load(rel);
    assert_string_equal(lc_model_arch(m), "llama");
    assert_string_equal(lc_model_name(m), "oracle-llama-spm-v512");
    assert_string_equal(lc_model_ftype_name(m), "Q4_K_M");
    assert_int_equal(lc_model_n_vocab(m), 512);
    assert_int_equal(lc_model_n_embd(m), 256);
    assert_int_equal(lc_model_n_ctx_train(m), 512);
    /* 2 layers: 4 256x256-ish attention + 3 256x512 ffn, embeddings, head. */
    uint64_t n = lc_model_n_params(m);
    assert_true(n > 1000000 && n < 2000000);
    uint64_t bytes = lc_model_size_bytes(m);
    assert_true(bytes > 500000 && bytes < 904800);
    lc_model_free(m);
}

/* ------------------------------------------------- damaged model files */

typedef struct file_buf {
    uint8_t *data;
    size_t size;
} file_buf;

static file_buf read_model(const char *rel) {
    file_buf f = {0};
    f.data = (uint8_t *)lc_read_file(lc_shared_path(rel), &f.size);
    assert_non_null(f.data);
    return f;
}

/* Writes data to a private temporary file; returns its path (static). */
static const char *write_tmp(const uint8_t *data, size_t size) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/lc_test_decode_%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, size, fp), size);
    fclose(fp);
    return path;
}

/* Offset of a GGUF string (u64 length + bytes) with this exact text. */
static size_t find_gguf_str(const file_buf *f, const char *s) {
    const size_t n = strlen(s);
    for (size_t off = 8; off + n <= f->size; off++) {
        if (memcmp(f->data + off, s, n) != 0) continue;
        uint64_t len;
        memcpy(&len, f->data + off - 8, 8);
        if (len == n) return off;
    }
    fail_msg("'%s' not found", s);
    return 0;
}

/* Loads the patched buffer and expects an error containing needle. */
static void expect_load_error(const file_buf *f, size_t size,
                              const char *needle) {
    const char *path = write_tmp(f->data, size);
    char err[256] = "";
    lc_model *m = lc_model_load(path, NULL, err, sizeof err);
    unlink(path);
    print_message("-> %s\n", err);
    assert_null(m);
    assert_true(err[0] != '\0');
    assert_non_null(strstr(err, needle));
}

static void test_load_errors(void **state) {
    (void)state;
    const char *rel = "oracle/models/llama-v512-F32.gguf";
    lc_test_skip_without(lc_shared_path(rel));

    /* Unknown architecture: same-length replacement of the name. */
    file_buf f = read_model(rel);
    size_t off = find_gguf_str(&f, "general.architecture");
    off += strlen("general.architecture") + 4 + 8; /* type, length */
    assert_memory_equal(f.data + off, "llama", 5);
    memcpy(f.data + off, "xyzzy", 5);
    expect_load_error(&f, f.size, "unknown architecture 'xyzzy'");
    free(f.data);

    /* A decoder relabelled as an embedding encoder: its hyper-parameters
     * are under another prefix, so loading names the missing key. */
    const char *phi = "oracle/models/phi3-v512-F16.gguf";
    if (lc_file_exists(lc_shared_path(phi))) {
        f = read_model(phi);
        off = find_gguf_str(&f, "general.architecture");
        off += strlen("general.architecture") + 4 + 8;
        memcpy(f.data + off, "bert", 4);
        expect_load_error(&f, f.size,
                          "missing metadata key 'bert.context_length'");
        free(f.data);
    }

    /* Unsupported tensor type: blk.0.attn_q.weight becomes IQ2_XXS (16),
     * whose blocks are smaller, so the data still fits the file. */
    f = read_model(rel);
    off = find_gguf_str(&f, "blk.0.attn_q.weight");
    off += strlen("blk.0.attn_q.weight");
    uint32_t n_dims;
    memcpy(&n_dims, f.data + off, 4);
    assert_int_equal(n_dims, 2);
    uint32_t type = 16;
    memcpy(f.data + off + 4 + 8 * n_dims, &type, 4);
    /* Either the gguf reader refuses the type id, or the model loader
     * ("tensor '...' has type IQ2_XXS, which llamachat does not support");
     * both must name the tensor and its type. */
    expect_load_error(&f, f.size, "tensor 'blk.0.attn_q.weight' has ");
    expect_load_error(&f, f.size, "type");
    free(f.data);

    /* A shape that disagrees with the hyper-parameters: attn_k with half
     * its rows would make the forward pass read past the tensor. */
    f = read_model(rel);
    off = find_gguf_str(&f, "blk.1.attn_k.weight");
    off += strlen("blk.1.attn_k.weight") + 4 + 8; /* n_dims, ne0 */
    uint64_t ne1;
    memcpy(&ne1, f.data + off, 8);
    assert_int_equal(ne1, 128);
    ne1 = 64;
    memcpy(f.data + off, &ne1, 8);
    expect_load_error(&f, f.size, "blk.1.attn_k.weight");
    free(f.data);

    /* Hostile hyper-parameter: 3 heads cannot share 2 kv heads. */
    f = read_model(rel);
    off = find_gguf_str(&f, "llama.attention.head_count");
    off += strlen("llama.attention.head_count") + 4;
    uint32_t heads = 3;
    memcpy(f.data + off, &heads, 4);
    expect_load_error(&f, f.size, "head_count");
    /* ... and 0 heads. */
    heads = 0;
    memcpy(f.data + off, &heads, 4);
    expect_load_error(&f, f.size, "head_count");
    free(f.data);

    /* A truncated file (the gguf reader refuses it). */
    f = read_model(rel);
    expect_load_error(&f, f.size / 2, "");
    expect_load_error(&f, 100, "");
    free(f.data);

    /* No file at all. */
    char err[256] = "";
    assert_null(
        lc_model_load("/nonexistent/model.gguf", NULL, err, sizeof err));
    assert_true(err[0] != '\0');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_by_token),
        cmocka_unit_test(test_two_sequences),
        cmocka_unit_test(test_seq_rm),
        cmocka_unit_test(test_long_batch),
        cmocka_unit_test(test_invalid_batches),
        cmocka_unit_test(test_model_info),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

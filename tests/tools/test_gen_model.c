/*
 * tools/gen_model's bert presets: the file it writes for the test-sized
 * preset loads in the engine as a BERT encoder, its synthetic WordPiece
 * vocabulary tokenizes ASCII text into [CLS] ... [SEP] without [UNK], and
 * lc_embed gives a finite, unit-norm vector. Types it cannot write (rows
 * that are not whole quantization blocks) are refused.
 *
 * The gen_model binary is the one built beside llamachat (LLAMACHAT_BIN's
 * folder), so this runs the tool the benchmarks use.
 */
#include "testutil.h"

#include "llamachat/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_dir[256];
static char gen_model[4096];

/* Runs gen_model with args; its exit status, or -1. */
static int run_gen_model(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s/stderr.txt'", gen_model, args,
             tmp_dir);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Writes the bert-tiny preset as `type` into the temporary folder; the
 * file's path (static buffer). */
static const char *write_tiny(const char *type, const char *seed) {
    static char path[512];
    snprintf(path, sizeof path, "%s/bert-tiny-%s-%s.gguf", tmp_dir, type, seed);
    char args[1024];
    snprintf(args, sizeof args,
             "--preset bert-tiny --type %s --seed %s -o '%s'", type, seed,
             path);
    assert_int_equal(run_gen_model(args), 0);
    return path;
}

static lc_model *load(const char *path) {
    char err[512] = "";
    lc_model *m = lc_model_load(path, NULL, err, sizeof err);
    if (!m) fail_msg("%s: %s", path, err);
    return m;
}

/* The embedding of text: finite and of length 1. */
static void check_embedding(lc_model *m, const char *text) {
    int32_t ids[256];
    int n = lc_tokenize(m, text, strlen(text), true, false, ids, 256);
    assert_true(n > 2 && n <= 256);
    lc_context_params cp = lc_context_default_params();
    cp.n_threads = 1;
    cp.gpu_mode = LC_GPU_OFF;
    char err[512] = "";
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    if (!ctx) fail_msg("context: %s", err);
    const int n_embd = lc_model_n_embd(m);
    float *v = malloc((size_t)n_embd * sizeof *v);
    if (lc_embed(ctx, ids, n, v, err, sizeof err) != 0)
        fail_msg("lc_embed: %s", err);
    double norm = 0, max_abs = 0;
    for (int d = 0; d < n_embd; d++) {
        assert_true(isfinite(v[d]));
        norm += (double)v[d] * v[d];
        if (fabs(v[d]) > max_abs) max_abs = fabs(v[d]);
    }
    assert_true(fabs(sqrt(norm) - 1.0) < 1e-4);
    /* Not a degenerate vector (one component carrying everything). */
    assert_true(max_abs < 0.9);
    free(v);
    lc_context_free(ctx);
}

static void test_bert_tiny_loads_and_embeds(void **state) {
    (void)state;
    const char *types[] = {"f16", "q8_0"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        lc_model *m = load(write_tiny(types[i], "1234"));
        assert_string_equal(lc_model_arch(m), "bert");
        assert_true(lc_model_is_encoder(m));
        assert_int_equal(lc_model_n_embd(m), 64);
        assert_int_equal(lc_model_n_layer(m), 2);
        assert_int_equal(lc_model_n_vocab(m), 512);
        check_embedding(m, "hello world");
        check_embedding(m, "Hello, World! It's 42 degrees; isn't it?");
        lc_model_free(m);
    }
}

/* The synthetic vocabulary: [CLS] first and [SEP] last as a BERT model's,
 * every ASCII word cut into pieces without [UNK]. */
static void test_bert_tiny_vocabulary(void **state) {
    (void)state;
    lc_model *m = load(write_tiny("f16", "1234"));
    const char *special[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    const char *text = "Quick brown foxes, 1984: jumped over ~lazy~ dogs!";
    int32_t ids[256];
    int n = lc_tokenize(m, text, strlen(text), true, false, ids, 256);
    assert_true(n > 10 && n <= 256);
    char first[32], last[32];
    int a = lc_token_to_piece(m, ids[0], true, first, sizeof first - 1);
    int b = lc_token_to_piece(m, ids[n - 1], true, last, sizeof last - 1);
    assert_true(a > 0 && b > 0);
    first[a] = last[b] = '\0';
    assert_string_equal(first, "[CLS]");
    assert_string_equal(last, "[SEP]");
    for (int i = 1; i < n - 1; i++) {
        char piece[32];
        int k = lc_token_to_piece(m, ids[i], true, piece, sizeof piece - 1);
        assert_true(k > 0);
        piece[k] = '\0';
        for (int s = 0; s < 5; s++) assert_string_not_equal(piece, special[s]);
    }
    lc_model_free(m);
}

/* The same seed writes the same bytes; another seed other weights. */
static void test_deterministic(void **state) {
    (void)state;
    size_t na = 0, nb = 0, nc = 0;
    char *a = lc_read_file(write_tiny("q8_0", "7"), &na);
    char *b = lc_read_file(write_tiny("q8_0", "7"), &nb);
    char *c = lc_read_file(write_tiny("q8_0", "8"), &nc);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(na, nb);
    assert_int_equal(na, nc); /* same shapes and types */
    assert_memory_equal(a, b, na);
    assert_true(memcmp(a, c, na) != 0);
    free(a);
    free(b);
    free(c);
}

/* Q4_K blocks hold 256 values; bert-tiny's rows hold 64. */
static void test_refuses_partial_blocks(void **state) {
    (void)state;
    char args[1024];
    snprintf(args, sizeof args,
             "--preset bert-tiny --type q4_k_m -o '%s/partial.gguf'", tmp_dir);
    assert_int_equal(run_gen_model(args), 2);
    char path[512];
    snprintf(path, sizeof path, "%s/partial.gguf", tmp_dir);
    assert_false(lc_file_exists(path));
    snprintf(args, sizeof args, "--preset bert-huge --type f16 -o '%s/x.gguf'",
             tmp_dir);
    assert_int_equal(run_gen_model(args), 2);
}

static int setup(void **state) {
    (void)state;
    const char *bin = getenv("LLAMACHAT_BIN");
    if (!bin) bin = "build/llamachat";
    const char *slash = strrchr(bin, '/');
    int dir_len = slash ? (int)(slash - bin) : 1;
    snprintf(gen_model, sizeof gen_model, "%.*s/gen_model", dir_len,
             slash ? bin : ".");
    if (!lc_file_exists(gen_model)) {
        fprintf(stderr, "%s is absent: build the gen_model target\n",
                gen_model);
        return -1;
    }
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/lc-test-gen-model-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert_tiny_loads_and_embeds),
        cmocka_unit_test(test_bert_tiny_vocabulary),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_refuses_partial_blocks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The CUDA backend: placement and fallback everywhere, and on a machine
 * with a GPU the reference tests of ../shared/oracle run on it.
 *
 * Everywhere (no GPU needed):
 *   - gpu_mode OFF never loads the library;
 *   - a library that is absent, not a library, of another ABI version or
 *     without the entry point: ON fails with a clear error, AUTO runs on
 *     the CPU with the same logits as OFF;
 *   - no device: the same (skipped when a device is present);
 *   - the layer count that auto mode fits into free GPU memory.
 * With a GPU (skipped with "skip: no CUDA device (reason)" otherwise):
 *   - every decoder oracle model with all layers on the GPU: logits within
 *     the CPU's tolerances (test_oracle.c), greedy ids as llama.cpp's;
 *   - the same tokens one at a time agree with the batch;
 *   - half of the layers on the GPU agree with the reference and the CPU;
 *   - two sequences in one batch agree with each alone;
 *   - stories260K: logits within 1e-4 and all greedy tokens exact.
 *
 * The library is found as llamachat finds it, through $LLAMACHAT_CUDA_LIB;
 * when that is unset, the test sets it to libllamachat-cuda.so beside
 * $LLAMACHAT_BIN (the build folder), else beside this program's folder.
 * LC_GPU_TEST_MODELS=name,name limits the oracle models (compute-sanitizer
 * runs take a subset); "stories260K" names the trained model.
 * LC_GPU_REQUIRED=1 makes a missing device a failure instead of a skip.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/gpu_loader.h"
#include "llamachat/engine.h"
#include "testutil.h"

static char lib_path[4096]; /* the real library (may be absent) */

/* Points $LLAMACHAT_CUDA_LIB at the build's library unless it is set. */
static void find_library(void) {
    const char *env = getenv(LC_GPU_LIB_ENV);
    if (env && env[0]) {
        snprintf(lib_path, sizeof lib_path, "%s", env);
        return;
    }
    char dir[4096] = ".";
    const char *bin = getenv("LLAMACHAT_BIN");
    if (bin && bin[0]) {
        snprintf(dir, sizeof dir, "%s", bin);
    } else {
        /* build/tests/engine_test_gpu -> build/ */
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        dir[n > 0 ? n : 0] = '\0';
        char *s = strrchr(dir, '/');
        if (s) *s = '\0';
    }
    char *s = strrchr(dir, '/');
    if (s)
        *s = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if ((size_t)snprintf(lib_path, sizeof lib_path, "%.4000s/%s", dir,
                         LC_GPU_LIB_NAME) >= sizeof lib_path)
        lib_path[0] = '\0';
    setenv(LC_GPU_LIB_ENV, lib_path, 1);
}

static bool wanted(const char *name) {
    const char *list = getenv("LC_GPU_TEST_MODELS");
    if (!list || !list[0]) return true;
    const size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        const size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

static const char *stories_file(void) {
    return lc_shared_path("oracle/models/stories260K.gguf");
}

static lc_model *load(const char *path) {
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) print_message("%s: %s\n", path, err);
    return m;
}

static lc_context *context(lc_model *m, int mode, int n_gpu_layers, int n_seq,
                           char *err, size_t err_len) {
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = 256;
    cp.n_seq_max = n_seq;
    cp.gpu_mode = mode;
    cp.n_gpu_layers = n_gpu_layers;
    return lc_context_new(m, &cp, err, err_len);
}

/* Logits [n][n_vocab] of ids evaluated in one batch, or NULL. */
static float *batch_logits(lc_context *ctx, const int32_t *ids, int n,
                           int n_vocab) {
    lc_kv_seq_rm(ctx, -1, 0, -1);
    if (lc_decode_all(ctx, ids, n, 0)) return NULL;
    float *out = malloc(sizeof(float) * (size_t)n * (size_t)n_vocab);
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * n_vocab, lc_get_logits(ctx, i),
               sizeof(float) * (size_t)n_vocab);
    return out;
}

/* Largest |a - b| over n values (NaN when either holds one). */
static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* ------------------------------------------------------ the GPU probe */

static int probe_state = -1; /* -1 not probed, 0 none, 1 present */
static char probe_why[512];

/* Whether a context with gpu_mode ON can be made (on stories260K). */
static bool gpu_present(void) {
    if (probe_state >= 0) return probe_state == 1;
    probe_state = 0;
    lc_model *m = load(stories_file());
    if (!m) {
        snprintf(probe_why, sizeof probe_why, "%s is absent", stories_file());
        return false;
    }
    lc_context *ctx = context(m, LC_GPU_ON, -1, 1, probe_why, sizeof probe_why);
    if (ctx && lc_context_gpu_active(ctx)) probe_state = 1;
    lc_context_free(ctx);
    lc_model_free(m);
    return probe_state == 1;
}

/* LC_GPU_REQUIRED=1 (scripts/gpu-check.sh) turns the skip into a failure,
 * so that a GPU machine whose device is not found cannot pass. */
#define require_gpu()                                                          \
    do {                                                                       \
        if (!gpu_present()) {                                                  \
            const char *req = getenv("LC_GPU_REQUIRED");                       \
            if (req && strcmp(req, "1") == 0)                                  \
                fail_msg("no CUDA device (%s)", probe_why);                    \
            print_message("skip: no CUDA device (%s)\n", probe_why);           \
            skip();                                                            \
        }                                                                      \
    } while (0)

/* ------------------------------------------------------ everywhere */

/* Must run first: a library once loaded stays mapped (RTLD_NODELETE). */
static void test_off_never_loads(void **state) {
    (void)state;
    lc_test_skip_without(stories_file());
    lc_model *m = load(stories_file());
    assert_non_null(m);
    char err[256] = "x";
    lc_context *ctx = context(m, LC_GPU_OFF, -1, 1, err, sizeof err);
    assert_non_null(ctx);
    assert_false(lc_context_gpu_active(ctx));
    assert_int_equal(lc_context_gpu_layers(ctx), 0);
    assert_int_equal(lc_context_gpu_memory_mb(ctx), 0);
    assert_string_equal(lc_context_backend_name(ctx), "CPU");
    assert_string_equal(lc_context_gpu_reason(ctx), "");
    const int32_t toks[3] = {1, 400, 500};
    assert_int_equal(lc_decode_all(ctx, toks, 3, 0), 0);
    if (lc_file_exists(lib_path)) {
        void *h = dlopen(lib_path, RTLD_LAZY | RTLD_NOLOAD);
        if (h) dlclose(h);
        assert_null(h);
    } else {
        print_message("%s is absent: only the context was checked\n", lib_path);
    }
    lc_context_free(ctx);
    lc_model_free(m);
}

/* AUTO on the CPU gives the logits of OFF, bit for bit (same code). */
static void assert_auto_is_cpu(lc_model *m) {
    char err[256];
    lc_context *off = context(m, LC_GPU_OFF, -1, 1, err, sizeof err);
    lc_context *aut = context(m, LC_GPU_AUTO, -1, 1, err, sizeof err);
    assert_non_null(off);
    assert_non_null(aut);
    assert_false(lc_context_gpu_active(aut));
    assert_string_equal(lc_context_backend_name(aut), "CPU");
    assert_true(strlen(lc_context_gpu_reason(aut)) > 0);
    print_message("auto: %s\n", lc_context_gpu_reason(aut));
    const int32_t toks[5] = {1, 400, 500, 33, 7};
    const int n_vocab = lc_model_n_vocab(m);
    float *a = batch_logits(off, toks, 5, n_vocab);
    float *b = batch_logits(aut, toks, 5, n_vocab);
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, b, sizeof(float) * 5 * (size_t)n_vocab);
    free(a);
    free(b);
    lc_context_free(off);
    lc_context_free(aut);
}

static void test_bad_library(void **state) {
    (void)state;
    lc_test_skip_without(stories_file());
    lc_model *m = load(stories_file());
    assert_non_null(m);
    char bogus[] = "/tmp/lc-test-gpu-XXXXXX";
    int fd = mkstemp(bogus);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a library\n", 14), 14);
    close(fd);

    const char *cases[2][2] = {{bogus, "cannot load"},
                               {"/nonexistent/libllamachat-cuda.so", "absent"}};
    for (int c = 0; c < 2; c++) {
        setenv(LC_GPU_LIB_ENV, cases[c][0], 1);
        char err[512] = "";
        lc_context *ctx = context(m, LC_GPU_ON, -1, 1, err, sizeof err);
        print_message("on: %s\n", err);
        assert_null(ctx);
        /* One line that names the library and what is wrong with it. */
        assert_non_null(strstr(err, cases[c][0]));
        assert_non_null(strstr(err, cases[c][1]));
        assert_null(strchr(err, '\n'));
        assert_auto_is_cpu(m);
    }
    setenv(LC_GPU_LIB_ENV, lib_path, 1);
    unlink(bogus);
    lc_model_free(m);
}

/* A library of another ABI version, and one without the entry point. */
static void test_foreign_library(void **state) {
    (void)state;
    lc_test_skip_without(stories_file());
    char fake[4096];
    ssize_t n = readlink("/proc/self/exe", fake, sizeof fake - 64);
    fake[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(fake, '/');
    snprintf(slash ? slash + 1 : fake, 64, "libllamachat-fake-abi.so");
    lc_test_skip_without(fake);
    /* libm: a real library that lacks the entry point. */
    char libm[4096] = "";
    void *h = dlopen("libm.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *sym = h ? dlsym(h, "cos") : NULL;
    Dl_info info;
    if (sym && dladdr(sym, &info) && info.dli_fname)
        snprintf(libm, sizeof libm, "%s", info.dli_fname);
    if (h) dlclose(h);

    lc_model *m = load(stories_file());
    assert_non_null(m);
    const char *cases[2][2] = {{fake, "ABI version"},
                               {libm, "does not export lc_gpu_get_api"}};
    for (int c = 0; c < 2; c++) {
        if (!cases[c][0][0]) continue;
        setenv(LC_GPU_LIB_ENV, cases[c][0], 1);
        char err[512] = "";
        lc_context *ctx = context(m, LC_GPU_ON, -1, 1, err, sizeof err);
        print_message("on: %s\n", err);
        assert_null(ctx);
        assert_non_null(strstr(err, cases[c][1]));
        assert_auto_is_cpu(m);
    }
    setenv(LC_GPU_LIB_ENV, lib_path, 1);
    lc_model_free(m);
}

static void test_no_device(void **state) {
    (void)state;
    lc_test_skip_without(stories_file());
    if (!lc_file_exists(lib_path)) {
        print_message("skip: %s is absent (built without CUDA)\n", lib_path);
        skip();
    }
    if (gpu_present()) {
        print_message("skip: a CUDA device is present\n");
        skip();
    }
    lc_model *m = load(stories_file());
    assert_non_null(m);
    char err[512] = "";
    lc_context *ctx = context(m, LC_GPU_ON, -1, 1, err, sizeof err);
    print_message("on: %s\n", err);
    assert_null(ctx);
    assert_true(strncmp(err, "GPU: ", 5) == 0);
    assert_true(strlen(err) > 10);
    assert_auto_is_cpu(m);
    /* -ngl 0 is the CPU even in auto mode, and an error with ON. */
    lc_context *z = context(m, LC_GPU_ON, 0, 1, err, sizeof err);
    assert_null(z);
    lc_model_free(m);
}

/* A fake estimate: 100 MiB per layer, 300 MiB more for the embeddings and
 * head when every layer is placed. */
static size_t fake_estimate(void *arg, int n) {
    const int n_layer = *(const int *)arg;
    return ((size_t)n * 100 + (n == n_layer ? 300 : 0)) << 20;
}

static void test_fit_layers(void **state) {
    (void)state;
    int n_layer = 16;
    const size_t gib = (size_t)1 << 30;
    const size_t frees[] = {0, 200u << 20, 1 * gib, 2 * gib, 3 * gib, 80 * gib};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++) {
        int got = lc_gpu_fit_layers(n_layer, frees[i], fake_estimate, &n_layer);
        /* Against a linear search: the largest count that fits with the
         * reserve kept free, and never more than the model has. */
        int want = 0;
        for (int n = 1; n <= n_layer; n++) {
            size_t reserve = ((size_t)256 << 20) + frees[i] / 16;
            if (frees[i] > reserve &&
                fake_estimate(&n_layer, n) <= frees[i] - reserve)
                want = n;
        }
        print_message("free %zu MiB: %d layers\n", frees[i] >> 20, got);
        assert_int_equal(got, want);
        assert_true(got >= 0 && got <= n_layer);
    }
    /* 80 GiB holds the whole 16-layer model; 1 GiB only a part. */
    assert_int_equal(
        lc_gpu_fit_layers(n_layer, 80 * gib, fake_estimate, &n_layer), n_layer);
    int part = lc_gpu_fit_layers(n_layer, 1 * gib, fake_estimate, &n_layer);
    assert_true(part > 0 && part < n_layer);
}

/* ------------------------------------------------------ on the GPU */

typedef struct model_check {
    const char *name, *type, *arch;
    double tol;
    int n_vocab, n_tok;
    const int32_t *toks;
    const float *ref;
} model_check;

/* Logits of a batch within the type's tolerance of the reference (and the
 * cosine bound for quantized files). */
static bool within(const model_check *c, lc_cmp_result r) {
    return r.max_abs <= c->tol &&
           (!lc_oracle_is_quantized(c->type) || r.min_cos >= LC_ORACLE_MIN_COS);
}

/* The n_tok tokens one at a time through the cache must give the logits
 * of the batch (within the type's tolerance). */
static bool token_by_token(lc_context *ctx, const model_check *c,
                           const float *batch, double *diff) {
    lc_kv_seq_rm(ctx, -1, 0, -1);
    *diff = 0;
    for (int i = 0; i < c->n_tok; i++) {
        if (lc_decode_all(ctx, c->toks + i, 1, i)) return false;
        double d = max_diff(lc_get_logits(ctx, 0),
                            batch + (size_t)i * c->n_vocab, (size_t)c->n_vocab);
        if (!(d <= *diff)) *diff = d;
    }
    return *diff <= c->tol;
}

/* Two sequences in one batch: the first half of the tokens as sequence 0
 * and all of them as sequence 1, interleaved; each row must match the
 * logits of the single-sequence batch. */
static bool two_sequences(lc_model *m, const model_check *c, const float *batch,
                          double *diff) {
    char err[256];
    lc_context *ctx = context(m, LC_GPU_ON, -1, 2, err, sizeof err);
    if (!ctx) {
        print_message("%s: two sequences: %s\n", c->name, err);
        return false;
    }
    const int n0 = c->n_tok / 2, n = n0 + c->n_tok;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)n);
    int8_t *lg = malloc((size_t)n);
    int k = 0;
    for (int i = 0; i < c->n_tok; i++) {
        if (i < n0) {
            tok[k] = c->toks[i], pos[k] = i, seq[k] = 0, lg[k] = 1;
            k++;
        }
        tok[k] = c->toks[i], pos[k] = i, seq[k] = 1, lg[k] = 1;
        k++;
    }
    lc_batch b = {n, tok, pos, seq, lg};
    bool ok = lc_decode(ctx, &b, err, sizeof err) == 0;
    if (!ok) print_message("%s: two sequences: %s\n", c->name, err);
    *diff = 0;
    for (int j = 0; ok && j < n; j++) {
        double d =
            max_diff(lc_get_logits(ctx, j), batch + (size_t)pos[j] * c->n_vocab,
                     (size_t)c->n_vocab);
        if (!(d <= *diff)) *diff = d;
    }
    free(tok);
    free(pos);
    free(seq);
    free(lg);
    lc_context_free(ctx);
    return ok && *diff <= c->tol;
}

/* All checks of one oracle model; returns the number of failures. */
static int check_model(lc_model *m, const model_check *c, const json_t *g) {
    char err[256];
    const int n_layer = lc_model_n_layer(m);
    int failures = 0;

    /* Every layer on the GPU. */
    lc_context *ctx = context(m, LC_GPU_ON, -1, 1, err, sizeof err);
    if (!ctx || lc_context_gpu_layers(ctx) != n_layer) {
        print_message("%-22s GPU context: %s\n", c->name,
                      ctx ? "not every layer on the GPU" : err);
        lc_context_free(ctx);
        return 1;
    }
    float *batch = batch_logits(ctx, c->toks, c->n_tok, c->n_vocab);
    lc_cmp_result r = {INFINITY, 0};
    if (batch) r = lc_compare_rows(ctx, c->ref, c->n_tok, c->n_vocab);
    bool ok = batch && within(c, r);
    int n_prompt;
    int32_t *prompt = lc_json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
    int steps = lc_greedy_check(ctx, prompt, n_prompt,
                                json_object_get(g, "generated_ids"),
                                json_object_get(g, "top1_top2_margins"),
                                2 * c->tol, c->n_vocab, c->name);
    free(prompt);
    double d_tok = INFINITY;
    bool ok_tok = batch && token_by_token(ctx, c, batch, &d_tok);
    const int mem = lc_context_gpu_memory_mb(ctx);
    lc_context_free(ctx);

    /* Half of the layers on the GPU, the rest on the CPU: the residual
     * stream crosses over in the middle. Compared with the reference and
     * with the CPU alone. */
    const int half = n_layer / 2 > 0 ? n_layer / 2 : 1;
    double d_part = INFINITY, d_cpu = INFINITY;
    lc_cmp_result rp = {INFINITY, 0};
    lc_context *part = context(m, LC_GPU_ON, half, 1, err, sizeof err);
    lc_context *cpu = context(m, LC_GPU_OFF, -1, 1, err, sizeof err);
    bool ok_part = false;
    if (part && cpu && lc_context_gpu_layers(part) == half) {
        float *pl = batch_logits(part, c->toks, c->n_tok, c->n_vocab);
        if (pl) rp = lc_compare_rows(part, c->ref, c->n_tok, c->n_vocab);
        float *cl = batch_logits(cpu, c->toks, c->n_tok, c->n_vocab);
        if (pl && cl) {
            d_part = rp.max_abs;
            d_cpu = max_diff(pl, cl, (size_t)c->n_tok * c->n_vocab);
            ok_part = within(c, rp) && d_cpu <= c->tol;
        }
        free(pl);
        free(cl);
    }
    lc_context_free(part);
    lc_context_free(cpu);

    double d_seq = INFINITY;
    bool ok_seq = batch && two_sequences(m, c, batch, &d_seq);
    free(batch);

    print_message(
        "%-22s %-6s %9.3g %10.7f %3d %9.3g %9.3g %9.3g %9.3g %5d%s\n", c->name,
        c->type, r.max_abs, r.min_cos, steps, d_tok, d_part, d_cpu, d_seq, mem,
        ok && steps >= 0 && ok_tok && ok_part && ok_seq ? "" : "  FAIL");
    failures += !ok + (steps < 0) + !ok_tok + !ok_part + !ok_seq;
    return failures;
}

static void test_gpu_oracle_decoders(void **state) {
    (void)state;
    require_gpu();
    json_t *man = lc_require_manifest();
    json_t *models = json_object_get(man, "models");
    int failures = 0, tested = 0;
    print_message("%-22s %-6s %9s %10s %3s %9s %9s %9s %9s %5s\n", "model",
                  "type", "max-abs", "min-cos", "gr", "tok-by-tok", "partial",
                  "part-cpu", "two-seq", "MiB");
    for (size_t mi = 0; mi < json_array_size(models); mi++) {
        json_t *e = json_array_get(models, mi);
        if (strcmp(json_string_value(json_object_get(e, "kind")), "decoder"))
            continue;
        model_check c = {0};
        c.name = json_string_value(json_object_get(e, "name"));
        if (!wanted(c.name)) continue;
        c.type = json_string_value(json_object_get(e, "type"));
        c.arch = json_string_value(json_object_get(e, "arch"));
        char path[4096], lpath[4096];
        lc_oracle_path(path, sizeof path, json_object_get(e, "file"));
        lc_oracle_path(lpath, sizeof lpath, json_object_get(e, "logits_file"));
        if (!lc_file_exists(path) || !lc_file_exists(lpath)) {
            print_message("%-22s absent, skipped\n", c.name);
            continue;
        }
        lc_model *m = load(path);
        if (!m) {
            failures++;
            continue;
        }
        c.n_vocab = lc_model_n_vocab(m);
        int32_t *toks = lc_json_ids(json_object_get(e, "tokens"), &c.n_tok);
        float *ref = lc_read_f32(lpath, (size_t)c.n_tok, (size_t)c.n_vocab);
        assert_non_null(ref);
        c.toks = toks;
        c.ref = ref;
        c.tol = lc_oracle_tolerance(c.type, c.arch);
        failures += check_model(m, &c, json_object_get(e, "greedy"));
        tested++;
        free(toks);
        free(ref);
        lc_model_free(m);
    }
    json_decref(man);
    print_message("%d decoders compared on the GPU, %d checks failed\n", tested,
                  failures);
    if (tested == 0 && failures == 0) {
        print_message("skip: no oracle model files are present\n");
        skip();
    }
    assert_int_equal(failures, 0);
}

/* stories260K: a trained model with sharp distributions, so a wrong kernel
 * shows as a changed token within a few steps. */
static void test_gpu_stories260k(void **state) {
    (void)state;
    require_gpu();
    if (!wanted("stories260K")) {
        print_message("skip: stories260K is not in LC_GPU_TEST_MODELS\n");
        skip();
    }
    json_t *man = lc_require_manifest();
    json_t *st = json_object_get(man, "stories260K");
    char path[4096], lpath[4096];
    lc_oracle_path(path, sizeof path, json_object_get(st, "file"));
    lc_oracle_path(lpath, sizeof lpath, json_object_get(st, "logits_file"));
    if (!lc_file_exists(path) || !lc_file_exists(lpath)) {
        json_decref(man);
        print_message("skip: %s is absent\n", path);
        skip();
    }
    lc_model *m = load(path);
    assert_non_null(m);
    const int n_vocab = lc_model_n_vocab(m);
    char err[256];
    lc_context *ctx = context(m, LC_GPU_ON, -1, 1, err, sizeof err);
    if (!ctx) print_message("context: %s\n", err);
    assert_non_null(ctx);
    print_message("stories260K on %s, %d/%d layers, %d MiB\n",
                  lc_context_backend_name(ctx), lc_context_gpu_layers(ctx),
                  lc_model_n_layer(m), lc_context_gpu_memory_mb(ctx));
    assert_true(lc_context_gpu_memory_mb(ctx) > 0);

    int n_tok;
    int32_t *toks = lc_json_ids(json_object_get(st, "logits_tokens"), &n_tok);
    float *ref = lc_read_f32(lpath, (size_t)n_tok, (size_t)n_vocab);
    assert_non_null(ref);
    assert_int_equal(lc_decode_all(ctx, toks, n_tok, 0), 0);
    lc_cmp_result r = lc_compare_rows(ctx, ref, n_tok, n_vocab);
    print_message("stories260K logits: max-abs %.3g, min cos %.7f\n", r.max_abs,
                  r.min_cos);
    assert_true(r.max_abs <= 1e-4);

    json_t *gens = json_object_get(st, "generations");
    for (size_t gi = 0; gi < json_array_size(gens); gi++) {
        json_t *g = json_array_get(gens, gi);
        int n_prompt;
        int32_t *prompt =
            lc_json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
        const json_t *want = json_object_get(g, "generated_ids");
        int steps = lc_greedy_check(ctx, prompt, n_prompt, want, NULL, 0,
                                    n_vocab, "stories260K");
        print_message("stories260K prompt %zu: %d/%zu greedy tokens match\n",
                      gi, steps, json_array_size(want));
        assert_int_equal(steps, json_array_size(want));
        free(prompt);
    }
    free(toks);
    free(ref);
    lc_context_free(ctx);
    lc_model_free(m);
    json_decref(man);
}

int main(void) {
    find_library();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_never_loads), /* first: nothing loaded */
        cmocka_unit_test(test_bad_library),
        cmocka_unit_test(test_foreign_library),
        cmocka_unit_test(test_no_device),
        cmocka_unit_test(test_fit_layers),
        cmocka_unit_test(test_gpu_oracle_decoders),
        cmocka_unit_test(test_gpu_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

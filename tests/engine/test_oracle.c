/*
 * The engine against llama.cpp: for every decoder of the oracle manifest,
 * the logits of 24 tokens evaluated in one batch and a greedy generation,
 * compared with what llama.cpp produced for the same file
 * (../shared/oracle, see its README for the tolerances used here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamachat/engine.h"
#include "testutil.h"

/* Largest logit difference allowed for a file of this type (README). */
static double type_tolerance(const char *type, const char *arch) {
    if (strcmp(type, "F32") == 0)
        return strcmp(arch, "gemma3") == 0 ? 2e-3 : 1e-4;
    if (strcmp(type, "F16") == 0) return 3e-3;
    if (strcmp(type, "BF16") == 0) return 2e-2;
    return 0.08;
}

static bool is_quantized(const char *type) {
    return strcmp(type, "F32") != 0 && strcmp(type, "F16") != 0 &&
           strcmp(type, "BF16") != 0;
}

/* Path of a file named in the manifest (relative to oracle/). */
static void oracle_path(char *out, size_t len, const json_t *rel) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "oracle/%s", json_string_value(rel));
    snprintf(out, len, "%s", lc_shared_path(tmp));
}

/* Reads a [rows][cols] float32 file; NULL when absent or of another size. */
static float *read_f32(const char *path, size_t rows, size_t cols) {
    size_t size = 0;
    char *buf = lc_read_file(path, &size);
    if (!buf) return NULL;
    if (size != rows * cols * sizeof(float)) {
        print_message("%s: %zu bytes, expected %zu\n", path, size,
                      rows * cols * sizeof(float));
        free(buf);
        return NULL;
    }
    float *f = malloc(size);
    memcpy(f, buf, size);
    free(buf);
    return f;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* ties: the lowest id stays */
    return best;
}

static int32_t *json_ids(const json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

/* Evaluates ids in one batch with logits for every token. */
static int decode_all(lc_context *ctx, const int32_t *ids, int n, int pos0) {
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *seq = calloc((size_t)n, sizeof(int32_t));
    int8_t *lg = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        lg[i] = 1;
    }
    lc_batch b = {n, ids, pos, seq, lg};
    char err[256];
    int rc = lc_decode(ctx, &b, err, sizeof err);
    if (rc) print_message("lc_decode: %s\n", err);
    free(pos);
    free(seq);
    free(lg);
    return rc;
}

typedef struct cmp_result {
    double max_abs;
    double min_cos;
} cmp_result;

/* Compares rows logits of the last batch with ref [n][n_vocab]. */
static cmp_result compare_rows(lc_context *ctx, const float *ref, int n,
                               int n_vocab) {
    cmp_result r = {0.0, 1.0};
    for (int i = 0; i < n; i++) {
        const float *got = lc_get_logits(ctx, i);
        assert_non_null(got);
        const float *want = ref + (size_t)i * n_vocab;
        double dot = 0, ng = 0, nw = 0;
        for (int v = 0; v < n_vocab; v++) {
            double d = fabs((double)got[v] - want[v]);
            if (!(d <= r.max_abs)) r.max_abs = d; /* NaN propagates */
            dot += (double)got[v] * want[v];
            ng += (double)got[v] * got[v];
            nw += (double)want[v] * want[v];
        }
        double cos = dot / (sqrt(ng) * sqrt(nw) + 1e-30);
        if (!(cos >= r.min_cos)) r.min_cos = cos;
    }
    return r;
}

/* Greedy generation: prompt in one batch, then steps one token at a time.
 * Compares each step's argmax with the reference while the reference margin
 * is at least min_margin. Returns the number of steps compared, or -1 on a
 * mismatch. */
static int greedy_check(lc_context *ctx, const int32_t *prompt, int n_prompt,
                        const json_t *gen_ids, const json_t *margins,
                        double min_margin, int n_vocab, const char *name) {
    lc_kv_seq_rm(ctx, 0, 0, -1);
    char err[256];
    lc_batch b = {n_prompt, prompt, NULL, NULL, NULL};
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n_prompt);
    int32_t *seq = calloc((size_t)n_prompt, sizeof(int32_t));
    for (int i = 0; i < n_prompt; i++) pos[i] = i;
    b.pos = pos;
    b.seq_id = seq;
    int rc = lc_decode(ctx, &b, err, sizeof err);
    free(pos);
    free(seq);
    if (rc) {
        print_message("%s: prompt decode failed: %s\n", name, err);
        return -1;
    }
    const int n_steps = (int)json_array_size(gen_ids);
    int compared = 0;
    int32_t p = n_prompt, s0 = 0;
    for (int k = 0; k < n_steps; k++) {
        const float *lg = lc_get_logits(ctx, b.n_tokens - 1);
        if (!lg) return -1;
        int32_t tok = argmax(lg, n_vocab);
        if (margins &&
            json_real_value(json_array_get(margins, (size_t)k)) < min_margin)
            break;
        int32_t want =
            (int32_t)json_integer_value(json_array_get(gen_ids, (size_t)k));
        if (tok != want) {
            print_message("%s: greedy step %d: got %d, llama.cpp %d\n", name, k,
                          tok, want);
            return -1;
        }
        compared++;
        lc_batch one = {1, &tok, &p, &s0, NULL};
        if (lc_decode(ctx, &one, err, sizeof err)) {
            print_message("%s: step decode failed: %s\n", name, err);
            return -1;
        }
        b.n_tokens = 1;
        p++;
    }
    return compared;
}

static void test_oracle_decoders(void **state) {
    (void)state;
    json_t *man = lc_load_manifest();
    if (!man) {
        print_message("skip: oracle manifest is absent\n");
        skip();
    }
    json_t *models = json_object_get(man, "models");
    int failures = 0, tested = 0;
    print_message("%-22s %-6s %10s %10s %s\n", "model", "type", "max-abs",
                  "min-cos", "greedy");
    for (size_t mi = 0; mi < json_array_size(models); mi++) {
        json_t *e = json_array_get(models, mi);
        if (strcmp(json_string_value(json_object_get(e, "kind")), "decoder"))
            continue;
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *arch = json_string_value(json_object_get(e, "arch"));
        char path[4096], lpath[4096];
        oracle_path(path, sizeof path, json_object_get(e, "file"));
        oracle_path(lpath, sizeof lpath, json_object_get(e, "logits_file"));
        if (!lc_file_exists(path) || !lc_file_exists(lpath)) {
            print_message("%-22s absent, skipped\n", name);
            continue;
        }
        char err[256];
        lc_model_params mp = lc_model_default_params();
        mp.n_threads = 2;
        lc_model *m = lc_model_load(path, &mp, err, sizeof err);
        if (!m) {
            print_message("%-22s load failed: %s\n", name, err);
            failures++;
            continue;
        }
        const int n_vocab = lc_model_n_vocab(m);
        assert_int_equal(n_vocab,
                         json_integer_value(json_object_get(e, "n_vocab")));
        lc_context_params cp = lc_context_default_params();
        cp.n_ctx = 512;
        lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
        assert_non_null(ctx);

        int n_tok;
        int32_t *toks = json_ids(json_object_get(e, "tokens"), &n_tok);
        float *ref = read_f32(lpath, (size_t)n_tok, (size_t)n_vocab);
        assert_non_null(ref);
        const double tol = type_tolerance(type, arch);
        bool ok = decode_all(ctx, toks, n_tok, 0) == 0;
        cmp_result r = {INFINITY, 0};
        if (ok) {
            r = compare_rows(ctx, ref, n_tok, n_vocab);
            ok = r.max_abs <= tol &&
                 (!is_quantized(type) || r.min_cos >= 0.9995);
        }

        json_t *g = json_object_get(e, "greedy");
        int n_prompt;
        int32_t *prompt = json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
        int steps = greedy_check(
            ctx, prompt, n_prompt, json_object_get(g, "generated_ids"),
            json_object_get(g, "top1_top2_margins"), 2 * tol, n_vocab, name);
        print_message("%-22s %-6s %10.3g %10.7f %d/%zu%s\n", name, type,
                      r.max_abs, r.min_cos, steps,
                      json_array_size(json_object_get(g, "generated_ids")),
                      ok && steps >= 0 ? "" : "  FAIL");
        if (!ok || steps < 0) failures++;
        tested++;
        free(prompt);
        free(toks);
        free(ref);
        lc_context_free(ctx);
        lc_model_free(m);
    }
    json_decref(man);
    print_message("%d decoders compared, %d failed\n", tested, failures);
    if (tested == 0 && failures == 0) {
        print_message("skip: no oracle model files are present\n");
        skip();
    }
    assert_int_equal(failures, 0);
}

/* stories260K: a real trained model with sharp distributions: logits within
 * F32 tolerance and all 100 greedy tokens of each prompt exactly. */
static void test_oracle_stories260k(void **state) {
    (void)state;
    json_t *man = lc_load_manifest();
    if (!man) {
        print_message("skip: oracle manifest is absent\n");
        skip();
    }
    json_t *st = json_object_get(man, "stories260K");
    char path[4096], lpath[4096];
    oracle_path(path, sizeof path, json_object_get(st, "file"));
    oracle_path(lpath, sizeof lpath, json_object_get(st, "logits_file"));
    if (!lc_file_exists(path) || !lc_file_exists(lpath)) {
        json_decref(man);
        print_message("skip: %s is absent\n", path);
        skip();
    }
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) print_message("load: %s\n", err);
    assert_non_null(m);
    const int n_vocab = lc_model_n_vocab(m);
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = 256;
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    assert_non_null(ctx);

    int n_tok;
    int32_t *toks = json_ids(json_object_get(st, "logits_tokens"), &n_tok);
    float *ref = read_f32(lpath, (size_t)n_tok, (size_t)n_vocab);
    assert_non_null(ref);
    assert_int_equal(decode_all(ctx, toks, n_tok, 0), 0);
    cmp_result r = compare_rows(ctx, ref, n_tok, n_vocab);
    print_message("stories260K logits: max-abs %.3g, min cos %.7f\n", r.max_abs,
                  r.min_cos);
    assert_true(r.max_abs <= 1e-4);

    json_t *gens = json_object_get(st, "generations");
    for (size_t gi = 0; gi < json_array_size(gens); gi++) {
        json_t *g = json_array_get(gens, gi);
        const char *text = json_string_value(json_object_get(g, "prompt"));
        int n_prompt;
        int32_t *want = json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
        /* The prompt goes through our tokenizer: end to end, text in. */
        int32_t prompt[64];
        int n = lc_tokenize(m, text, strlen(text), true, false, prompt, 64);
        assert_int_equal(n, n_prompt);
        assert_memory_equal(prompt, want, sizeof(int32_t) * (size_t)n);
        int steps =
            greedy_check(ctx, prompt, n, json_object_get(g, "generated_ids"),
                         NULL, 0, n_vocab, "stories260K");
        print_message("stories260K \"%s\": %d/%zu greedy tokens match\n", text,
                      steps,
                      json_array_size(json_object_get(g, "generated_ids")));
        assert_int_equal(steps,
                         json_array_size(json_object_get(g, "generated_ids")));
        free(want);
    }
    free(toks);
    free(ref);
    lc_context_free(ctx);
    lc_model_free(m);
    json_decref(man);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_decoders),
        cmocka_unit_test(test_oracle_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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

static void test_oracle_decoders(void **state) {
    (void)state;
    json_t *man = lc_require_manifest();
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
        lc_oracle_path(path, sizeof path, json_object_get(e, "file"));
        lc_oracle_path(lpath, sizeof lpath, json_object_get(e, "logits_file"));
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
        cp.gpu_mode = LC_GPU_OFF; /* the CPU engine is under test here */
        cp.n_ctx = 512;
        lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
        assert_non_null(ctx);

        int n_tok;
        int32_t *toks = lc_json_ids(json_object_get(e, "tokens"), &n_tok);
        float *ref = lc_read_f32(lpath, (size_t)n_tok, (size_t)n_vocab);
        assert_non_null(ref);
        const double tol = lc_oracle_tolerance(type, arch);
        bool ok = lc_decode_all(ctx, toks, n_tok, 0) == 0;
        lc_cmp_result r = {INFINITY, 0};
        if (ok) {
            r = lc_compare_rows(ctx, ref, n_tok, n_vocab);
            ok = r.max_abs <= tol && (!lc_oracle_is_quantized(type) ||
                                      r.min_cos >= LC_ORACLE_MIN_COS);
        }

        json_t *g = json_object_get(e, "greedy");
        int n_prompt;
        int32_t *prompt =
            lc_json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
        int steps = lc_greedy_check(
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
    char err[256];
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = 2;
    lc_model *m = lc_model_load(path, &mp, err, sizeof err);
    if (!m) print_message("load: %s\n", err);
    assert_non_null(m);
    const int n_vocab = lc_model_n_vocab(m);
    lc_context_params cp = lc_context_default_params();
    cp.gpu_mode = LC_GPU_OFF; /* the CPU engine is under test here */
    cp.n_ctx = 256;
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    assert_non_null(ctx);

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
        const char *text = json_string_value(json_object_get(g, "prompt"));
        int n_prompt;
        int32_t *want =
            lc_json_ids(json_object_get(g, "prompt_ids"), &n_prompt);
        /* The prompt goes through our tokenizer: end to end, text in. */
        int32_t prompt[64];
        int n = lc_tokenize(m, text, strlen(text), true, false, prompt, 64);
        assert_int_equal(n, n_prompt);
        assert_memory_equal(prompt, want, sizeof(int32_t) * (size_t)n);
        int steps =
            lc_greedy_check(ctx, prompt, n, json_object_get(g, "generated_ids"),
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

/*
 * The embedding service (chat/embedder.h) without a database: synchronous
 * requests give the same vector as lc_embed on its own context, from many
 * threads at once; the prefix rule; a text beyond the context is refused
 * or cut; stored messages are refused without a database; shutting down
 * with work queued is clean.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chat/embedder.h"
#include "llamachat/engine.h"

#define NOMIC "oracle/models/nomic-bert-v512-F16.gguf"
#define BERT "oracle/models/bert-v512-F16.gguf"

static lc_model *load(const char *rel) {
    char err[256];
    lc_model *m = lc_model_load(lc_shared_path(rel), NULL, err, sizeof err);
    if (!m) fail_msg("%s", err);
    return m;
}

/* The reference: lc_embed on a context of its own. */
static void reference(lc_model *m, const char *text, float *out) {
    char err[256];
    lc_context_params cp = lc_context_default_params();
    cp.gpu_mode = LC_GPU_OFF;
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    assert_non_null(ctx);
    int32_t ids[512];
    int n = lc_tokenize(m, text, strlen(text), true, true, ids, 512);
    assert_true(n > 0 && n <= 512);
    assert_int_equal(lc_embed(ctx, ids, n, out, err, sizeof err), 0);
    lc_context_free(ctx);
}

typedef struct worker_arg {
    lc_embedder *e;
    const char *text;
    const float *want;
    int dim;
    int failures;
} worker_arg;

static void *worker(void *p) {
    worker_arg *a = p;
    float *v = malloc((size_t)a->dim * sizeof *v);
    for (int i = 0; i < 8; i++) {
        int dim = 0;
        char err[256];
        if (lc_embedder_embed(a->e, a->text, false, v, &dim, NULL, 60000, err,
                              sizeof err) != 0 ||
            dim != a->dim) {
            a->failures++;
            continue;
        }
        /* thread counts differ from the reference's context: allow for a
         * different order of summation */
        for (int d = 0; d < dim; d++)
            if (fabsf(v[d] - a->want[d]) > 1e-5f) {
                a->failures++;
                break;
            }
    }
    free(v);
    return NULL;
}

static void test_sync_equals_lc_embed(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path(NOMIC));
    lc_model *m = load(NOMIC);
    char err[256];
    lc_embedder_params p = {.name = "nomic-bert-v512-F16", .n_threads = 1};
    lc_embedder *e = lc_embedder_new(m, NULL, &p, err, sizeof err);
    assert_non_null(e);
    const int dim = lc_embedder_dim(e);
    assert_int_equal(dim, lc_model_n_embd(m));
    const char *texts[2] = {"the quick brown fox", "search_query: a dog"};
    float *want = malloc(2 * (size_t)dim * sizeof *want);
    reference(m, texts[0], want);
    reference(m, texts[1], want + dim);
    /* four threads, two texts, eight requests each: every answer is the
     * one for its own text */
    pthread_t th[4];
    worker_arg args[4];
    for (int t = 0; t < 4; t++) {
        args[t] = (worker_arg){e, texts[t % 2], want + (t % 2) * dim, dim, 0};
        pthread_create(&th[t], NULL, worker, &args[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].failures, 0);
    }
    /* unit length */
    double norm = 0;
    for (int d = 0; d < dim; d++) norm += (double)want[d] * want[d];
    assert_true(fabs(norm - 1.0) < 1e-4);
    free(want);
    lc_embedder_free(e);
    lc_model_free(m);
}

static void test_prefix_rule(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path(BERT));
    lc_model *m = load(BERT);
    char err[256];
    /* the name decides: nomic in any case, else no prefix */
    lc_embedder_params p = {.name = "My-NOMIC-embed"};
    lc_embedder *e = lc_embedder_new(m, NULL, &p, err, sizeof err);
    assert_non_null(e);
    assert_string_equal(lc_embedder_prefix(e, true), "search_query: ");
    assert_string_equal(lc_embedder_prefix(e, false), "search_document: ");
    assert_string_equal(lc_embedder_name(e), "My-NOMIC-embed");
    lc_embedder_free(e);
    if (!strstr(lc_model_name(m), "nomic") &&
        !strstr(lc_model_name(m), "Nomic")) {
        p.name = "bert-v512-F16";
        e = lc_embedder_new(m, NULL, &p, err, sizeof err);
        assert_non_null(e);
        assert_string_equal(lc_embedder_prefix(e, true), "");
        assert_string_equal(lc_embedder_prefix(e, false), "");
        lc_embedder_free(e);
    }
    lc_model_free(m);
}

static void test_long_text_and_no_db(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path(BERT));
    lc_model *m = load(BERT);
    char err[256];
    lc_embedder_params p = {.name = "bert", .n_ctx = 32};
    lc_embedder *e = lc_embedder_new(m, NULL, &p, err, sizeof err);
    assert_non_null(e);
    const int dim = lc_embedder_dim(e);
    float *v = malloc((size_t)dim * sizeof *v);
    char text[2048] = "";
    for (int i = 0; i < 100; i++) strcat(text, "word ");
    int got = 0, n_tokens = 0;
    /* refused without truncate (a text error: -1, not busy) */
    assert_int_equal(
        lc_embedder_embed(e, text, false, v, &got, NULL, 0, err, sizeof err),
        -1);
    assert_non_null(strstr(err, "context"));
    /* cut to the context with it */
    assert_int_equal(lc_embedder_embed(e, text, true, v, &got, &n_tokens, 0,
                                       err, sizeof err),
                     0);
    assert_int_equal(got, dim);
    assert_int_equal(n_tokens, 32);
    for (int d = 0; d < dim; d++) assert_true(isfinite(v[d]));
    /* no database: stored messages are refused, never queued */
    assert_false(
        lc_embedder_submit(e, "00000000-0000-0000-0000-000000000000", "hello"));
    free(v);
    lc_embedder_free(e);
    lc_model_free(m);
}

static void test_refuses_a_decoder(void **state) {
    (void)state;
    const char *path = lc_shared_path("models/stories260K.gguf");
    lc_test_skip_without(path);
    char err[256] = "";
    lc_model *m = lc_model_load(path, NULL, err, sizeof err);
    assert_non_null(m);
    assert_null(lc_embedder_new(m, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "not an embedding model"));
    lc_model_free(m);
    lc_embedder_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_equals_lc_embed),
        cmocka_unit_test(test_prefix_rule),
        cmocka_unit_test(test_long_text_and_no_db),
        cmocka_unit_test(test_refuses_a_decoder),
    };
    return cmocka_run_group_tests_name("embedder", tests, NULL, NULL);
}

/*
 * llamachat embed: sentence embeddings of texts with an encoder model
 * (bert, nomic-bert, gemma-embedding). One L2-normalised vector per text,
 * either as a line of space-separated numbers or as one JSON document.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"

/* More texts than this in one call is a usage error, not a silent cut. */
#define MAX_TEXTS 256

/* prefix + text in a malloc'd string. */
static char *join(const char *prefix, const char *text) {
    const size_t a = strlen(prefix), b = strlen(text);
    char *s = malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, prefix, a);
    memcpy(s + a, text, b + 1);
    return s;
}

/* The vector of one text into out [n_embd]. 0, or 1 after printing why. */
static int embed_text(lc_context *ctx, const lc_model *m, const char *prefix,
                      const char *text, float *out) {
    char *full = join(prefix, text);
    if (!full) return cli_fail("out of memory");
    int n = 0;
    /* Special tokens added (CLS/SEP, BOS/EOS) and control tokens in the
     * text recognised, as llama.cpp's embedding example tokenizes. */
    int32_t *ids = cli_tokenize(m, full, true, true, &n);
    free(full);
    if (!ids) return 1;
    char err[512] = "";
    int rc = lc_embed(ctx, ids, n, out, err, sizeof err);
    free(ids);
    if (rc != 0) return cli_fail("%s", err);
    for (int d = 0; d < lc_model_n_embd(m); d++)
        if (!isfinite(out[d]))
            return cli_fail("the model produced a non-finite value");
    return 0;
}

static void print_vector(const float *v, int n, bool json) {
    for (int d = 0; d < n; d++) {
        if (json)
            printf(d ? ", %.9g" : "%.9g", (double)v[d]);
        else
            printf(d ? " %.7g" : "%.7g", (double)v[d]);
    }
}

int cmd_embed(int argc, char **argv) {
    const char *model_path = NULL;
    const char *prefix = "";
    bool json = false;
    int n_threads = 0, n_ctx = 0;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {NULL, "--prefix", CLI_STRING, &prefix, "TEXT",
         "prepended to every text, e.g. \"search_query: \" (nomic)", false,
         NULL},
        {NULL, "--json", CLI_FLAG, &json, NULL,
         "print {\"model\", \"n_embd\", \"embeddings\": [[...], ...]}", false,
         NULL},
        CLI_OPT_THREADS(&n_threads),
        CLI_OPT_CTX(&n_ctx),
    };
    const cli_command cmd = {
        "embed", "-m MODEL [--prefix TEXT] [--json] TEXT...",
        "Prints the embedding of each TEXT: the model's pooling (mean, cls or\n"
        "last) over the final hidden states, L2-normalised, one line of\n"
        "numbers per text in order. MODEL must be an embedding model (bert,\n"
        "nomic-bert, gemma-embedding). Each text is evaluated whole, so it\n"
        "must fit the context (-c).\n"
        "Task prefixes are the caller's: models trained with them expect\n"
        "them, e.g. nomic-embed-text \"search_query: \" for queries and\n"
        "\"search_document: \" for stored texts; pass them with --prefix.",
        opts, CLI_N_OPTIONS(opts)};
    const char *texts[MAX_TEXTS];
    int n_texts = 0;
    int rc = cli_parse(&cmd, argc, argv, texts, MAX_TEXTS, &n_texts);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m MODEL is required");
    if (n_texts == 0) return cli_usage_error(&cmd, "TEXT is required");

    lc_model *m = cli_load_model(model_path, n_threads, false, NULL);
    if (!m) return 1;
    if (!lc_model_is_encoder(m)) {
        cli_fail("'%s' is a '%s' model, not an embedding model (bert, "
                 "nomic-bert, gemma-embedding)",
                 model_path, lc_model_arch(m));
        lc_model_free(m);
        return 1;
    }
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = n_threads;
    cp.gpu_mode = LC_GPU_OFF; /* the GPU backend runs decoders only */
    char err[512] = "";
    lc_context *ctx = lc_context_new(m, &cp, err, sizeof err);
    if (!ctx) {
        cli_fail("%s", err);
        lc_model_free(m);
        return 1;
    }
    const int n_embd = lc_model_n_embd(m);
    float *vecs = calloc((size_t)n_texts * (size_t)n_embd, sizeof(float));
    rc = vecs ? 0 : cli_fail("out of memory");
    /* Every text first, so that a failure prints no partial output. */
    for (int t = 0; t < n_texts && rc == 0; t++)
        rc = embed_text(ctx, m, prefix, texts[t], vecs + (size_t)t * n_embd);
    if (rc == 0 && json) {
        printf("{\"model\": ");
        /* general.name is free text: only plain characters are kept. */
        putchar('"');
        for (const char *c = lc_model_name(m); *c; c++)
            if (*c >= 0x20 && *c != '"' && *c != '\\') putchar(*c);
        printf("\", \"n_embd\": %d, \"embeddings\": [", n_embd);
        for (int t = 0; t < n_texts; t++) {
            printf(t ? ", [" : "[");
            print_vector(vecs + (size_t)t * n_embd, n_embd, true);
            printf("]");
        }
        printf("]}\n");
    } else if (rc == 0) {
        for (int t = 0; t < n_texts; t++) {
            print_vector(vecs + (size_t)t * n_embd, n_embd, false);
            printf("\n");
        }
    }
    free(vecs);
    lc_context_free(ctx);
    lc_model_free(m);
    return rc;
}

/* Shared part of the embedding routes; see routes_embed.h. */
#include "server/routes_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/embedder.h"
#include "server/routes_gen.h"

/* How long a request waits for its turn at the embedding model. */
#define EMBED_TIMEOUT_MS 30000

/* name equals want, or want + ":latest" (Ollama's default tag). */
static bool same_name(const char *name, const char *want) {
    if (!want[0]) return false;
    size_t n = strlen(want);
    return strncmp(name, want, n) == 0 &&
           (name[n] == '\0' || strcmp(name + n, ":latest") == 0);
}

const char *re_model_name(const lc_app *app) {
    if (!atomic_load(&((lc_app *)app)->embedder_ready)) return "";
    return lc_embedder_name(app->embedder);
}

re_model re_model_named(const lc_app *app, const char *name) {
    if (app->embedding_configured) {
        if (!atomic_load(&((lc_app *)app)->embedder_ready)) {
            /* the name is not known until the model is loaded: anything
             * that is not the chat model may be it */
            return rg_model_matches(app, name) ? RE_MODEL_CHAT
                                               : RE_MODEL_LOADING;
        }
        const lc_embedder *e = app->embedder;
        if (same_name(name, lc_embedder_name(e)) ||
            same_name(name, lc_embedder_model_name(e)))
            return RE_MODEL_EMBEDDING;
    }
    return rg_model_matches(app, name) ? RE_MODEL_CHAT : RE_MODEL_UNKNOWN;
}

void re_vectors_clear(re_vectors *r) {
    free(r->v);
    memset(r, 0, sizeof *r);
}

int re_embed_input(lc_app *app, json_t *input, bool truncate, re_vectors *out,
                   char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    const char *one[1];
    const char **texts = one;
    size_t n = 0;
    if (json_is_string(input)) {
        one[0] = json_string_value(input);
        n = 1;
    } else if (json_is_array(input) && json_array_size(input) > 0 &&
               json_array_size(input) <= RE_MAX_INPUTS) {
        n = json_array_size(input);
        texts = malloc(n * sizeof *texts);
        if (!texts) {
            snprintf(err, err_len, "out of memory");
            return 500;
        }
        for (size_t i = 0; i < n; i++) {
            texts[i] = json_string_value(json_array_get(input, i));
            if (!texts[i]) {
                snprintf(err, err_len,
                         "input[%zu] is not a string (token arrays are not "
                         "accepted)",
                         i);
                free(texts);
                return 400;
            }
        }
    } else {
        snprintf(err, err_len,
                 "input must be a string or an array of 1..%d strings",
                 RE_MAX_INPUTS);
        return 400;
    }
    lc_embedder *e = app->embedder;
    const int dim = lc_embedder_dim(e);
    int status = 0;
    out->v = malloc(n * (size_t)dim * sizeof(float));
    if (!out->v) {
        snprintf(err, err_len, "out of memory");
        status = 500;
    }
    for (size_t i = 0; i < n && status == 0; i++) {
        int got = 0, toks = 0;
        char e_msg[256] = "";
        int rc = lc_embedder_embed(e, texts[i], truncate,
                                   out->v + i * (size_t)dim, &got, &toks,
                                   EMBED_TIMEOUT_MS, e_msg, sizeof e_msg);
        if (rc != 0) {
            snprintf(err, err_len, "input %zu: %s", i, e_msg);
            /* a busy or stopping service is worth a retry; a text is not */
            status = rc == -2 ? 503 : 400;
            break;
        }
        out->n_tokens += toks;
    }
    if (texts != one) free(texts);
    if (status != 0) {
        re_vectors_clear(out);
        return status;
    }
    out->n = (int)n;
    out->dim = dim;
    return 0;
}

json_t *re_vector_json(const float *v, int dim) {
    json_t *a = json_array();
    for (int d = 0; a && d < dim; d++)
        json_array_append_new(a, json_real((double)v[d]));
    return a;
}

/*
 * What the embedding routes of the peer APIs share (routes_openai.c:
 * POST /v1/embeddings; routes_ollama.c: POST /api/embed and the legacy
 * POST /api/embeddings): which model a request names, and the embedding of
 * its inputs by the embedding service (chat/embedder.h). Each API shapes
 * its own answer.
 */
#ifndef LC_SERVER_ROUTES_EMBED_H
#define LC_SERVER_ROUTES_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "server/app.h"

/* Texts in one request at most. */
#define RE_MAX_INPUTS 256

typedef enum re_model {
    RE_MODEL_EMBEDDING, /* the embedding model, loaded: go ahead */
    RE_MODEL_LOADING,   /* the embedding model, still loading: 503 */
    RE_MODEL_CHAT,      /* the chat model, which cannot embed: 400 */
    RE_MODEL_UNKNOWN,   /* no such model: 404 */
} re_model;

/* Which model name asks for: the embedding model answers to its file name
 * without ".gguf" and its GGUF general.name, each also with ":latest". */
re_model re_model_named(const lc_app *app, const char *name);

/* The embedding model's name as replies carry it ("" when none). */
const char *re_model_name(const lc_app *app);

typedef struct re_vectors {
    float *v; /* [n][dim], malloc'd */
    int n, dim;
    int n_tokens; /* evaluated, over all inputs */
} re_vectors;

void re_vectors_clear(re_vectors *r);

/* Embeds input: a string or a non-empty array of strings (at most
 * RE_MAX_INPUTS). Returns 0, or the HTTP status to answer (400 bad input
 * or too long a text, 503 busy or shutting down) with err set. */
int re_embed_input(lc_app *app, json_t *input, bool truncate, re_vectors *out,
                   char *err, size_t err_len);

/* A vector as a JSON array of numbers. */
json_t *re_vector_json(const float *v, int dim);

#endif

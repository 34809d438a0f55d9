/*
 * The OpenAI-compatible API (see docs/api-peer.md):
 *
 *   POST /v1/chat/completions  chat.completion, or SSE chat.completion.chunk
 *   POST /v1/completions       text_completion, or SSE of them
 *   GET  /v1/models            the served model under each of its names
 *   POST /v1/embeddings        served by --embedding-model (400 without)
 *
 * Errors are OpenAI's {"error":{message,type,code}}, which is also the
 * native shape (http_respond_error). A stream ends with "data: [DONE]";
 * its last choice chunk carries llama-server's `timings`, and with
 * stream_options.include_usage a usage chunk with "choices": [] precedes
 * [DONE].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "chat/embedder.h"
#include "server/app.h"
#include "server/routes_common.h"
#include "server/routes_embed.h"
#include "server/routes_gen.h"
#include "server/sse.h"

/* A parsed request; strings point into body, which it holds. */
typedef struct oa_request {
    json_t *body;
    bool chat;                 /* /v1/chat/completions, else /v1/completions */
    lc_chat_message *messages; /* [n_messages] */
    int n_messages;
    const char *stops[RG_MAX_STOPS];
    rg_params gen;
    bool stream;
    bool include_usage;
    char user_id[37];
} oa_request;

static void oa_request_clear(oa_request *r) {
    free(r->messages);
    json_decref(r->body);
}

static void respond_error(http_request *req, const rg_error *e) {
    if (e->status == 503) http_response_header(req, "Retry-After", "1");
    http_respond_error(req, e->status, e->code, "%s", e->message);
}

/* Authenticates in OpenAI's shape. false after answering. */
static bool oa_auth(lc_app *app, http_request *req, char user_id[37]) {
    if (rg_auth_missing(app, req)) {
        http_response_header(req, "WWW-Authenticate", "Bearer");
        http_respond_error(req, 401, "invalid_api_key",
                           "missing API key (Authorization: Bearer TOKEN)");
        return false;
    }
    return rg_auth(app, req, user_id) >= 0;
}

/* ------------------------------------------------------------- requests */

/* One message: role and content (a string, or an array of text parts of
 * which only the first is supported here, as one string). */
static bool parse_message(json_t *m, size_t i, lc_chat_message *out,
                          rg_error *e) {
    if (!json_is_object(m))
        return rg_set_error(e, 400, "invalid_value",
                            "messages[%zu] must be an object", i);
    const char *role = json_string_value(json_object_get(m, "role"));
    if (!role)
        return rg_set_error(e, 400, "invalid_value",
                            "messages[%zu].role is required", i);
    /* "developer" is OpenAI's newer name for the system role */
    if (strcmp(role, "developer") == 0) role = "system";
    if (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
        strcmp(role, "assistant") != 0)
        return rg_set_error(e, 400, "invalid_value",
                            "messages[%zu].role must be system, user or "
                            "assistant",
                            i);
    json_t *c = json_object_get(m, "content");
    if (json_is_array(c) && json_array_size(c) == 1)
        c = json_object_get(json_array_get(c, 0), "text");
    if (json_is_null(c) && strcmp(role, "assistant") == 0) {
        *out = (lc_chat_message){role, ""};
        return true;
    }
    if (!json_is_string(c) ||
        strlen(json_string_value(c)) != json_string_length(c))
        return rg_set_error(e, 400, "invalid_value",
                            "messages[%zu].content must be a string", i);
    *out = (lc_chat_message){role, json_string_value(c)};
    return true;
}

static bool parse_messages(json_t *body, oa_request *r, rg_error *e) {
    json_t *ms = json_object_get(body, "messages");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return rg_set_error(e, 400, "invalid_value",
                            "'messages' must be a non-empty array");
    size_t n = json_array_size(ms);
    r->messages = calloc(n, sizeof *r->messages);
    if (!r->messages)
        return rg_set_error(e, 500, "internal_error", "out of memory");
    for (size_t i = 0; i < n; i++)
        if (!parse_message(json_array_get(ms, i), i, &r->messages[i], e))
            return false;
    r->n_messages = (int)n;
    r->gen.messages = r->messages;
    r->gen.n_messages = r->n_messages;
    return true;
}

static bool parse_prompt(json_t *body, oa_request *r, rg_error *e) {
    json_t *p = json_object_get(body, "prompt");
    /* an array of one string is the same prompt; batches are not served */
    if (json_is_array(p) && json_array_size(p) == 1) p = json_array_get(p, 0);
    if (!json_is_string(p) || json_string_length(p) == 0 ||
        strlen(json_string_value(p)) != json_string_length(p))
        return rg_set_error(e, 400, "invalid_value",
                            "'prompt' must be a non-empty string (or an "
                            "array of one)");
    r->gen.prompt = json_string_value(p);
    return true;
}

static bool parse_sampling(json_t *b, oa_request *r, rg_error *e) {
    lc_sampler_params *s = &r->gen.sampling;
    double temp = s->temperature, top_p = s->top_p, min_p = s->min_p;
    double rep = s->repeat_penalty, top_k = s->top_k;
    double pres = s->presence_penalty, freq = s->frequency_penalty;
    double seed = -1, max_tokens = 0, n = 1;
    if (!rg_number(b, "temperature", 0, 2, false, &temp, e) ||
        !rg_number(b, "top_p", 0, 1, false, &top_p, e) ||
        !rg_number(b, "min_p", 0, 1, false, &min_p, e) ||
        !rg_number(b, "repeat_penalty", 0, 10, false, &rep, e) ||
        !rg_number(b, "top_k", 0, 1e6, true, &top_k, e) ||
        !rg_number(b, "presence_penalty", -2, 2, false, &pres, e) ||
        !rg_number(b, "frequency_penalty", -2, 2, false, &freq, e) ||
        !rg_number(b, "seed", -9007199254740991.0, 9007199254740991.0, true,
                   &seed, e) ||
        !rg_number(b, "max_tokens", 1, RG_MAX_TOKENS_LIMIT, true, &max_tokens,
                   e) ||
        !rg_number(b, "max_completion_tokens", 1, RG_MAX_TOKENS_LIMIT, true,
                   &max_tokens, e) ||
        !rg_number(b, "n", 1, 1e9, true, &n, e))
        return false;
    if (n != 1)
        return rg_set_error(e, 400, "invalid_value",
                            "'n' must be 1: one choice per request is "
                            "served");
    json_t *user = json_object_get(b, "user");
    if (user && !json_is_null(user) && !json_is_string(user))
        return rg_set_error(e, 400, "invalid_value", "'user' must be a string");
    s->temperature = (float)temp;
    s->top_p = (float)top_p;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)rep;
    s->top_k = (int)top_k;
    s->presence_penalty = (float)pres;
    s->frequency_penalty = (float)freq;
    /* a negative seed asks for a random one, as in llama-server */
    s->seed = seed >= 0 ? (uint64_t)seed : rg_clock_seed();
    r->gen.max_tokens = (int)max_tokens;
    return rg_stops(json_object_get(b, "stop"), "stop", r->stops,
                    &r->gen.n_stops, e);
}

/* The session a request names: metadata.session_id, or the header. */
static bool parse_session(http_request *req, json_t *b, oa_request *r,
                          rg_error *e) {
    const char *sid = http_request_header(req, "X-Llamachat-Session");
    json_t *md = json_object_get(b, "metadata");
    if (md && !json_is_null(md) && !json_is_object(md))
        return rg_set_error(e, 400, "invalid_value",
                            "'metadata' must be an object");
    json_t *v = json_object_get(md, "session_id");
    if (v && !json_is_string(v))
        return rg_set_error(e, 400, "invalid_value",
                            "'metadata.session_id' must be a string");
    if (v) sid = json_string_value(v);
    if (sid && sid[0]) {
        r->gen.session_id = sid;
        r->gen.user_id = r->user_id;
    }
    return true;
}

/* Parses the request (takes the body reference). false with e set. */
static bool parse_request(lc_app *app, http_request *req, json_t *body,
                          bool chat, oa_request *r, rg_error *e) {
    r->body = body;
    r->chat = chat;
    r->gen.sampling = lc_sampler_default_params();
    r->gen.stops = r->stops;
    json_t *model = json_object_get(body, "model");
    if (!json_is_string(model))
        return rg_set_error(e, 400, "invalid_value",
                            "'model' is required (a string)");
    if (!rg_model_matches(app, json_string_value(model)))
        return rg_set_error(e, 404, "model_not_found",
                            "The model '%s' does not exist (this server "
                            "serves '%s')",
                            json_string_value(model), app->model_name);
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        return rg_set_error(e, 400, "invalid_value",
                            "'stream' must be a boolean");
    r->stream = json_is_true(stream);
    json_t *so = json_object_get(body, "stream_options");
    r->include_usage = json_is_true(json_object_get(so, "include_usage"));
    if (!(chat ? parse_messages(body, r, e) : parse_prompt(body, r, e)))
        return false;
    return parse_sampling(body, r, e) && parse_session(req, body, r, e);
}

/* ------------------------------------------------------------ responses */

/* OpenAI knows "stop" and "length"; a full context is a length, and a
 * cancelled generation (shutdown) ended early: "stop". */
static const char *oa_finish_reason(const char *r) {
    if (strcmp(r, "length") == 0 || strcmp(r, "context") == 0) return "length";
    return "stop";
}

static json_t *usage_json(const lc_job_stats *s) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", s->n_prompt,
                     "completion_tokens", s->n_generated, "total_tokens",
                     s->n_prompt + s->n_generated, "prompt_tokens_details",
                     "cached_tokens", s->n_cached);
}

/* llama-server's timings: prompt_n counts the evaluated (uncached) prompt
 * tokens, cache_n the reused ones. */
static json_t *timings_json(const lc_job_stats *s) {
    int prompt_n = s->n_prompt - s->n_cached;
    double pms = s->prompt_ms, gms = s->gen_ms;
    json_t *j = json_object();
    json_object_set_new(j, "cache_n", json_integer(s->n_cached));
    json_object_set_new(j, "prompt_n", json_integer(prompt_n));
    json_object_set_new(j, "prompt_ms", json_real(pms));
    json_object_set_new(j, "prompt_per_token_ms",
                        json_real(prompt_n > 0 ? pms / prompt_n : 0));
    json_object_set_new(j, "prompt_per_second",
                        json_real(pms > 0 ? 1e3 * prompt_n / pms : 0));
    json_object_set_new(j, "predicted_n", json_integer(s->n_generated));
    json_object_set_new(j, "predicted_ms", json_real(gms));
    json_object_set_new(
        j, "predicted_per_token_ms",
        json_real(s->n_generated > 0 ? gms / s->n_generated : 0));
    json_object_set_new(j, "predicted_per_second",
                        json_real(gms > 0 ? 1e3 * s->n_generated / gms : 0));
    return j;
}

/* The envelope every response and chunk shares. */
static json_t *envelope(const char *id, const char *object, long long created,
                        const char *model) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", id, "object", object,
                     "created", (json_int_t)created, "model", model,
                     "system_fingerprint", "llamachat");
}

/* A generation that failed after it started: OpenAI's error object. */
static json_t *failure_json(const rg_result *res) {
    return http_error_json(500, "generation_failed",
                           res->error[0] ? res->error
                                         : "the generation failed");
}

static void respond_complete(http_request *req, oa_request *r, rg_gen *g,
                             const char *model) {
    char *text = rg_collect(g, req);
    const rg_result *res = rg_result_of(g);
    if (!text || strcmp(res->finish_reason, "error") == 0) {
        free(text);
        json_t *err = failure_json(res);
        http_respond_json(req, 500, err);
        return;
    }
    char id[64];
    rg_make_id(id, sizeof id, r->chat ? "chatcmpl-" : "cmpl-");
    json_t *j = envelope(id, r->chat ? "chat.completion" : "text_completion",
                         rg_unix_now(), model);
    json_t *choice =
        json_pack("{s:i, s:n, s:s}", "index", 0, "logprobs", "finish_reason",
                  oa_finish_reason(res->finish_reason));
    if (r->chat)
        json_object_set_new(
            choice, "message",
            json_pack("{s:s, s:s}", "role", "assistant", "content", text));
    else
        json_object_set_new(choice, "text", json_string(text));
    free(text);
    json_object_set_new(j, "choices", json_pack("[o]", choice));
    json_object_set_new(j, "usage", usage_json(&res->stats));
    json_object_set_new(j, "timings", timings_json(&res->stats));
    http_respond_json(req, 200, j);
}

/* ------------------------------------------------------------ streaming */

typedef struct oa_stream {
    oa_request r;
    rg_gen *gen;
    char id[64];
    long long created;
    const char *model;
    bool role_sent;
} oa_stream;

/* A chunk with one choice: a delta (chat) or a text (completion). */
static json_t *choice_chunk(oa_stream *s, const char *text,
                            const char *finish_reason) {
    oa_request *r = &s->r;
    json_t *j =
        envelope(s->id, r->chat ? "chat.completion.chunk" : "text_completion",
                 s->created, s->model);
    json_t *choice = json_pack("{s:i, s:n}", "index", 0, "logprobs");
    if (r->chat) {
        json_t *delta = json_object();
        if (!s->role_sent) {
            json_object_set_new(delta, "role", json_string("assistant"));
            s->role_sent = true;
        }
        if (text) json_object_set_new(delta, "content", json_string(text));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", json_string(text ? text : ""));
    }
    json_object_set_new(choice, "finish_reason",
                        finish_reason ? json_string(finish_reason)
                                      : json_null());
    json_object_set_new(j, "choices", json_pack("[o]", choice));
    if (r->include_usage) json_object_set_new(j, "usage", json_null());
    return j;
}

/* Appends one "data: {json}" event and frees j. */
static int send_json(sse_buf *out, json_t *j) {
    int rc = j ? sse_event_json(out, NULL, j) : -1;
    json_decref(j);
    return rc;
}

/* The end of the stream: the finish chunk with timings, the usage chunk
 * when asked, [DONE]. A generation that failed sends the error object
 * instead, as llama-server does. */
static int send_end(oa_stream *s, sse_buf *out) {
    const rg_result *res = rg_result_of(s->gen);
    if (strcmp(res->finish_reason, "error") == 0) {
        if (send_json(out, failure_json(res))) return -1;
    } else {
        json_t *fin =
            choice_chunk(s, NULL, oa_finish_reason(res->finish_reason));
        /* llama-server attaches timings to the last choice chunk */
        if (fin) json_object_set_new(fin, "timings", timings_json(&res->stats));
        if (send_json(out, fin)) return -1;
        if (s->r.include_usage) {
            json_t *u = envelope(
                s->id, s->r.chat ? "chat.completion.chunk" : "text_completion",
                s->created, s->model);
            if (u) {
                json_object_set_new(u, "choices", json_array());
                json_object_set_new(u, "usage", usage_json(&res->stats));
            }
            if (send_json(out, u)) return -1;
        }
    }
    return sse_buf_append(out, "data: [DONE]\n\n", 14);
}

static sse_status oa_produce(void *ctx, sse_buf *out) {
    oa_stream *s = ctx;
    if (s->r.chat && !s->role_sent) {
        /* the first chunk names the role, as OpenAI's does */
        json_t *j = choice_chunk(s, "", NULL);
        return send_json(out, j) ? SSE_ERROR : SSE_MORE;
    }
    for (;;) {
        char *text = NULL;
        int rc = rg_next(s->gen, &text, 1000);
        if (rc < 0) return send_end(s, out) ? SSE_ERROR : SSE_END;
        if (rc == 0) /* a long prompt: keep proxies patient */
            return sse_comment(out, "waiting") ? SSE_ERROR : SSE_MORE;
        if (!text[0]) {
            free(text);
            continue;
        }
        json_t *j = choice_chunk(s, text, NULL);
        free(text);
        return send_json(out, j) ? SSE_ERROR : SSE_MORE;
    }
}

static void oa_close(void *ctx, bool completed) {
    (void)completed;
    oa_stream *s = ctx;
    /* a client gone mid-stream: rg_free cancels the job, which the
     * scheduler drops before its next token */
    rg_free(s->gen);
    oa_request_clear(&s->r);
    free(s);
}

/* ------------------------------------------------------------- handlers */

static void handle_completion(http_request *req, lc_app *app, bool chat) {
    oa_request r = {0};
    if (!oa_auth(app, req, r.user_id)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    rg_error e;
    if (!parse_request(app, req, body, chat, &r, &e)) {
        respond_error(req, &e);
        oa_request_clear(&r);
        return;
    }
    rg_gen *g = rg_start(app, &r.gen, &e);
    if (!g) {
        respond_error(req, &e);
        oa_request_clear(&r);
        return;
    }
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!r.stream) {
        respond_complete(req, &r, g, model);
        rg_free(g);
        oa_request_clear(&r);
        return;
    }
    oa_stream *s = calloc(1, sizeof *s);
    if (!s) {
        rg_free(g);
        oa_request_clear(&r);
        http_respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    s->r = r;
    s->gen = g;
    s->model = model;
    s->created = rg_unix_now();
    rg_make_id(s->id, sizeof s->id, chat ? "chatcmpl-" : "cmpl-");
    sse_respond(req, oa_produce, oa_close, s);
}

static void handle_chat_completions(http_request *req, void *ud) {
    handle_completion(req, ud, true);
}

static void handle_completions(http_request *req, void *ud) {
    handle_completion(req, ud, false);
}

static json_t *model_json(const char *id, long long created) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model",
                     "created", (json_int_t)created, "owned_by", "llamachat");
}

static void handle_models(http_request *req, void *ud) {
    lc_app *app = ud;
    char user[37];
    if (!oa_auth(app, req, user)) return;
    long long now = rg_unix_now();
    json_t *data = json_array();
    json_array_append_new(data, model_json(app->model_name, now));
    for (const char *const *a = app->aliases; a && *a; a++)
        json_array_append_new(data, model_json(*a, now));
    const char *gname = app->model ? lc_model_name(app->model) : "";
    if (gname[0] && !rc_model_served(app, gname))
        json_array_append_new(data, model_json(gname, now));
    http_respond_json(req, 200,
                      json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* A vector as OpenAI's base64 form: the little-endian float32 bytes
 * (what the official clients ask for by default and decode). */
static json_t *vector_base64(const float *v, int dim) {
    const size_t bytes = (size_t)dim * sizeof(float);
    uint8_t *raw = malloc(bytes);
    char *text = malloc(BASE64_ENCODE_RAW_LENGTH(bytes) + 1);
    json_t *j = NULL;
    if (raw && text) {
        for (int d = 0; d < dim; d++) {
            uint32_t u;
            memcpy(&u, &v[d], sizeof u);
            for (int b = 0; b < 4; b++)
                raw[(size_t)d * 4 + (size_t)b] = (uint8_t)(u >> (8 * b));
        }
        base64_encode_raw(text, bytes, raw);
        text[BASE64_ENCODE_RAW_LENGTH(bytes)] = '\0';
        j = json_string(text);
    }
    free(raw);
    free(text);
    return j;
}

static void handle_embeddings(http_request *req, void *ud) {
    lc_app *app = ud;
    char user[37];
    if (!oa_auth(app, req, user)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *model = json_string_value(json_object_get(body, "model"));
    const char *format =
        json_string_value(json_object_get(body, "encoding_format"));
    json_t *dims = json_object_get(body, "dimensions");
    re_vectors vecs = {0};
    char err[512];
    if (!model) {
        http_respond_error(req, 400, "invalid_value",
                           "'model' is required (a string)");
        goto done;
    }
    switch (re_model_named(app, model)) {
    case RE_MODEL_EMBEDDING:
        break;
    case RE_MODEL_LOADING:
        http_response_header(req, "Retry-After", "1");
        http_respond_error(req, 503, "model_loading",
                           "the embedding model is still loading");
        goto done;
    case RE_MODEL_CHAT:
        if (app->embedding_configured)
            http_respond_error(req, 400, "model_not_embedding",
                               "'%s' is a generative model: use the embedding "
                               "model '%s'",
                               model, re_model_name(app));
        else
            http_respond_error(req, 400, "model_not_embedding",
                               "'%s' is a generative model: this server has no "
                               "embedding model loaded, so /v1/embeddings is "
                               "not available",
                               model);
        goto done;
    case RE_MODEL_UNKNOWN:
        http_respond_error(req, 404, "model_not_found",
                           "The model '%s' does not exist", model);
        goto done;
    }
    if (format && strcmp(format, "float") != 0 && strcmp(format, "base64")) {
        http_respond_error(req, 400, "invalid_value",
                           "'encoding_format' must be 'float' or 'base64'");
        goto done;
    }
    const int dim = lc_embedder_dim(app->embedder);
    if (dims && !json_is_null(dims) &&
        (!json_is_integer(dims) || json_integer_value(dims) != dim)) {
        /* the model cannot shorten its vectors (no Matryoshka training is
         * known from the GGUF) */
        http_respond_error(req, 400, "invalid_value",
                           "'dimensions' must be %d, this model's size", dim);
        goto done;
    }
    int status = re_embed_input(app, json_object_get(body, "input"), false,
                                &vecs, err, sizeof err);
    if (status != 0) {
        if (status == 503) http_response_header(req, "Retry-After", "1");
        http_respond_error(req, status,
                           status == 400 ? "invalid_value" : "unavailable",
                           "%s", err);
        goto done;
    }
    const bool b64 = format && strcmp(format, "base64") == 0;
    json_t *data = json_array();
    for (int i = 0; i < vecs.n; i++) {
        const float *v = vecs.v + (size_t)i * (size_t)vecs.dim;
        json_array_append_new(data,
                              json_pack("{s:s, s:i, s:o*}", "object",
                                        "embedding", "index", i, "embedding",
                                        b64 ? vector_base64(v, vecs.dim)
                                            : re_vector_json(v, vecs.dim)));
    }
    http_respond_json(req, 200,
                      json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object",
                                "list", "data", data, "model", model, "usage",
                                "prompt_tokens", vecs.n_tokens, "total_tokens",
                                vecs.n_tokens));
done:
    re_vectors_clear(&vecs);
    json_decref(body);
}

int lc_routes_openai(lc_app *app) {
    http_server *s = app->http;
    if (http_server_route(s, "POST", "/v1/chat/completions",
                          handle_chat_completions, app) ||
        http_server_route(s, "POST", "/v1/completions", handle_completions,
                          app) ||
        http_server_route(s, "GET", "/v1/models", handle_models, app) ||
        http_server_route(s, "POST", "/v1/embeddings", handle_embeddings, app))
        return -1;
    return 0;
}

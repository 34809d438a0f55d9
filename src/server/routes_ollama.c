/*
 * The Ollama-compatible API (see docs/api-peer.md):
 *
 *   POST /api/chat      (bodies shaped as Ollama's; routes_chat.c routes
 *                        them here) NDJSON stream, or one object
 *   POST /api/generate  the same with "response" instead of "message"
 *   POST /api/embed, /api/embeddings   served by --embedding-model
 *   GET  /api/tags, POST /api/show, GET /api/ps, GET /api/version
 *   GET  /              "Ollama is running", as Ollama answers (a browser,
 *                       whose Accept names text/html, gets the web UI)
 *
 * Errors are Ollama's {"error":"message"} with the HTTP status; once a
 * stream has started, a failure is a last line {"error":"..."} (the status
 * is long sent). The final line of a generation carries done_reason and the
 * durations in integer nanoseconds, as Ollama's Go time.Duration encodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/app.h"
#include "server/routes_common.h"
#include "server/routes_embed.h"
#include "server/routes_gen.h"
#include "server/routes_static.h"
#include "server/sse.h"

/* The Ollama API version whose shapes this file follows (clients such as
 * Open WebUI check it). */
#define OLLAMA_API_VERSION "0.12.0"

static void ol_error(http_request *req, int status, const char *message) {
    if (status == 503) http_response_header(req, "Retry-After", "1");
    http_respond_json(req, status, json_pack("{s:s}", "error", message));
}

/* Authenticates; false after answering 401. */
static bool ol_auth(lc_app *app, http_request *req, char user_id[37]) {
    if (rg_auth_missing(app, req)) {
        ol_error(req, 401,
                 "unauthorized: send Authorization: Bearer TOKEN (a "
                 "llamachat token)");
        return false;
    }
    return rg_auth(app, req, user_id) >= 0;
}

/* A parsed /api/chat or /api/generate request; strings point into body. */
typedef struct ol_request {
    json_t *body;
    bool chat;
    const char *model;
    lc_chat_message *messages; /* [n_messages] */
    int n_messages;
    const char *stops[RG_MAX_STOPS];
    rg_params gen;
    bool stream;
    char user_id[37];
} ol_request;

static void ol_request_clear(ol_request *r) {
    free(r->messages);
    json_decref(r->body);
}

/* ------------------------------------------------------------- requests */

static bool parse_options(json_t *o, ol_request *r, rg_error *e) {
    if (o && !json_is_null(o) && !json_is_object(o))
        return rg_set_error(e, 400, "invalid_value",
                            "'options' must be an object");
    lc_sampler_params *s = &r->gen.sampling;
    double temp = s->temperature, top_p = s->top_p, min_p = s->min_p;
    double rep = s->repeat_penalty, top_k = s->top_k;
    double last_n = s->repeat_last_n;
    double pres = s->presence_penalty, freq = s->frequency_penalty;
    double seed = -1, num_predict = -1, num_ctx = 0;
    if (!rg_number(o, "temperature", 0, 10, false, &temp, e) ||
        !rg_number(o, "top_p", 0, 1, false, &top_p, e) ||
        !rg_number(o, "min_p", 0, 1, false, &min_p, e) ||
        !rg_number(o, "repeat_penalty", 0, 10, false, &rep, e) ||
        !rg_number(o, "repeat_last_n", -1, 1e6, true, &last_n, e) ||
        !rg_number(o, "top_k", 0, 1e6, true, &top_k, e) ||
        !rg_number(o, "presence_penalty", -2, 2, false, &pres, e) ||
        !rg_number(o, "frequency_penalty", -2, 2, false, &freq, e) ||
        !rg_number(o, "seed", -9007199254740991.0, 9007199254740991.0, true,
                   &seed, e) ||
        /* -1: no limit, -2: until the context is full */
        !rg_number(o, "num_predict", -2, RG_MAX_TOKENS_LIMIT, true,
                   &num_predict, e) ||
        !rg_number(o, "num_ctx", 1, 1e7, true, &num_ctx, e))
        return false;
    s->temperature = (float)temp;
    s->top_p = (float)top_p;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)rep;
    /* Ollama's -1 means the whole context; the sampler looks back at
     * most the tokens it has, so a large number says the same */
    s->repeat_last_n = last_n < 0 ? 1000000 : (int)last_n;
    s->top_k = (int)top_k;
    s->presence_penalty = (float)pres;
    s->frequency_penalty = (float)freq;
    s->seed = seed >= 0 ? (uint64_t)seed : rg_clock_seed();
    r->gen.max_tokens = num_predict > 0 ? (int)num_predict : 0;
    r->gen.num_ctx = (int)num_ctx;
    return rg_stops(json_object_get(o, "stop"), "options.stop", r->stops,
                    &r->gen.n_stops, e);
}

static bool parse_chat_messages(json_t *ms, ol_request *r, rg_error *e) {
    if (ms && !json_is_null(ms) && !json_is_array(ms))
        return rg_set_error(e, 400, "invalid_value",
                            "'messages' must be an array");
    size_t n = json_array_size(ms);
    r->messages = calloc(n ? n : 1, sizeof *r->messages);
    if (!r->messages)
        return rg_set_error(e, 500, "internal_error", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *c = json_object_get(m, "content");
        if (!role ||
            (strcmp(role, "system") != 0 && strcmp(role, "user") != 0 &&
             strcmp(role, "assistant") != 0))
            return rg_set_error(e, 400, "invalid_value",
                                "messages[%zu].role must be system, user or "
                                "assistant",
                                i);
        if (c && !json_is_string(c))
            return rg_set_error(e, 400, "invalid_value",
                                "messages[%zu].content must be a string", i);
        const char *text = c ? json_string_value(c) : "";
        if (c && strlen(text) != json_string_length(c))
            return rg_set_error(e, 400, "invalid_value",
                                "messages[%zu].content holds a NUL", i);
        r->messages[i] = (lc_chat_message){role, text};
    }
    r->n_messages = (int)n;
    r->gen.messages = r->messages;
    r->gen.n_messages = r->n_messages;
    return true;
}

/* /api/generate: the prompt (with "system") goes through the chat
 * template, as Ollama's does, unless "raw" asks for it as is. */
static bool parse_generate_prompt(json_t *b, ol_request *r, rg_error *e) {
    const char *prompt = NULL, *system = NULL;
    json_t *p = json_object_get(b, "prompt"), *s = json_object_get(b, "system");
    if ((p && !json_is_null(p) && !json_is_string(p)) ||
        (s && !json_is_null(s) && !json_is_string(s)))
        return rg_set_error(e, 400, "invalid_value",
                            "'prompt' and 'system' must be strings");
    prompt = json_string_value(p);
    system = json_string_value(s);
    if ((prompt && strlen(prompt) != json_string_length(p)) ||
        (system && strlen(system) != json_string_length(s)))
        return rg_set_error(e, 400, "invalid_value",
                            "'prompt' and 'system' must not hold NUL");
    r->messages = calloc(2, sizeof *r->messages);
    if (!r->messages)
        return rg_set_error(e, 500, "internal_error", "out of memory");
    if (!prompt || !prompt[0]) return true; /* only loads the model */
    if (json_is_true(json_object_get(b, "raw"))) {
        r->gen.prompt = prompt;
        return true;
    }
    int n = 0;
    if (system && system[0])
        r->messages[n++] = (lc_chat_message){"system", system};
    r->messages[n++] = (lc_chat_message){"user", prompt};
    r->n_messages = n;
    r->gen.messages = r->messages;
    r->gen.n_messages = n;
    return true;
}

static bool parse_request(lc_app *app, http_request *req, json_t *body,
                          bool chat, ol_request *r, rg_error *e) {
    r->body = body;
    r->chat = chat;
    r->gen.sampling = lc_sampler_default_params();
    r->gen.stops = r->stops;
    r->model = json_string_value(json_object_get(body, "model"));
    if (!r->model || !r->model[0])
        return rg_set_error(e, 400, "invalid_value", "model is required");
    if (!rg_model_matches(app, r->model))
        return rg_set_error(e, 404, "model_not_found", "model '%s' not found",
                            r->model);
    json_t *stream = json_object_get(body, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        return rg_set_error(e, 400, "invalid_value",
                            "'stream' must be a boolean");
    r->stream = !json_is_false(stream); /* Ollama streams by default */
    if (!parse_options(json_object_get(body, "options"), r, e)) return false;
    bool ok = chat
                  ? parse_chat_messages(json_object_get(body, "messages"), r, e)
                  : parse_generate_prompt(body, r, e);
    if (!ok) return false;
    const char *sid = http_request_header(req, "X-Llamachat-Session");
    if (sid && sid[0]) {
        r->gen.session_id = sid;
        r->gen.user_id = r->user_id;
    }
    return true;
}

/* ---------------------------------------------------------------- lines */

/* The fields every line has; text NULL for the final line of a chat. */
static json_t *line_json(const ol_request *r, const char *text) {
    char now[64];
    rg_rfc3339_now(now, sizeof now);
    json_t *j = json_pack("{s:s, s:s}", "model", r->model, "created_at", now);
    if (r->chat)
        json_object_set_new(j, "message",
                            json_pack("{s:s, s:s}", "role", "assistant",
                                      "content", text ? text : ""));
    else
        json_object_set_new(j, "response", json_string(text ? text : ""));
    json_object_set_new(j, "done", json_false());
    return j;
}

static json_int_t ns(double ms) {
    return (json_int_t)(ms * 1e6);
}

/* The final line: done_reason and the metrics, durations in ns. */
static json_t *final_json(const ol_request *r, const char *text,
                          const char *reason, const lc_job_stats *s) {
    json_t *j = line_json(r, text);
    json_object_set_new(j, "done", json_true());
    json_object_set_new(j, "done_reason", json_string(reason));
    if (!s) return j;
    json_object_set_new(j, "total_duration", json_integer(ns(s->total_ms)));
    /* the model is loaded once at start-up: no load per request */
    json_object_set_new(j, "load_duration", json_integer(0));
    json_object_set_new(j, "prompt_eval_count", json_integer(s->n_prompt));
    json_object_set_new(j, "prompt_eval_duration",
                        json_integer(ns(s->prompt_ms)));
    json_object_set_new(j, "eval_count", json_integer(s->n_generated));
    json_object_set_new(j, "eval_duration", json_integer(ns(s->gen_ms)));
    return j;
}

/* Ollama's done_reason: "stop" or "length". */
static const char *ol_reason(const char *r) {
    if (strcmp(r, "length") == 0 || strcmp(r, "context") == 0) return "length";
    return "stop";
}

static json_t *failure_json(const rg_result *res) {
    return json_pack("{s:s}", "error",
                     res->error[0] ? res->error
                                   : "an error was encountered while "
                                     "running the model");
}

/* ------------------------------------------------------------ streaming */

typedef struct ol_stream {
    ol_request r;
    rg_gen *gen;
} ol_stream;

static int send_line(sse_buf *out, json_t *j) {
    int rc = j ? ndjson_line(out, j) : -1;
    json_decref(j);
    return rc;
}

static sse_status ol_produce(void *ctx, sse_buf *out) {
    ol_stream *s = ctx;
    for (;;) {
        char *text = NULL;
        int rc = rg_next(s->gen, &text, 1000);
        if (rc == 0) continue; /* NDJSON has no keep-alive comment */
        if (rc < 0) {
            const rg_result *res = rg_result_of(s->gen);
            json_t *j =
                strcmp(res->finish_reason, "error") == 0
                    ? failure_json(res)
                    : final_json(&s->r, NULL, ol_reason(res->finish_reason),
                                 &res->stats);
            return send_line(out, j) ? SSE_ERROR : SSE_END;
        }
        if (!text[0]) {
            free(text);
            continue;
        }
        json_t *j = line_json(&s->r, text);
        free(text);
        return send_line(out, j) ? SSE_ERROR : SSE_MORE;
    }
}

static void ol_close(void *ctx, bool completed) {
    (void)completed;
    ol_stream *s = ctx;
    rg_free(s->gen); /* cancels a generation whose client went away */
    ol_request_clear(&s->r);
    free(s);
}

/* --------------------------------------------------------- generations */

static void run_generation(lc_app *app, http_request *req, ol_request *r) {
    /* An empty conversation only loads the model, which is loaded. */
    if (r->gen.n_messages == 0 && !r->gen.prompt) {
        http_respond_json(req, 200, final_json(r, NULL, "load", NULL));
        ol_request_clear(r);
        return;
    }
    rg_error e;
    rg_gen *g = rg_start(app, &r->gen, &e);
    if (!g) {
        ol_error(req, e.status, e.message);
        ol_request_clear(r);
        return;
    }
    if (!r->stream) {
        char *text = rg_collect(g, req);
        const rg_result *res = rg_result_of(g);
        if (!text || strcmp(res->finish_reason, "error") == 0)
            http_respond_json(req, 500, failure_json(res));
        else
            http_respond_json(req, 200,
                              final_json(r, text, ol_reason(res->finish_reason),
                                         &res->stats));
        free(text);
        rg_free(g);
        ol_request_clear(r);
        return;
    }
    ol_stream *s = calloc(1, sizeof *s);
    if (!s) {
        rg_free(g);
        ol_request_clear(r);
        ol_error(req, 500, "out of memory");
        return;
    }
    s->r = *r;
    s->gen = g;
    ndjson_respond(req, ol_produce, ol_close, s);
}

static void handle_generation(lc_app *app, http_request *req, json_t *body,
                              bool chat) {
    ol_request r = {0};
    if (!ol_auth(app, req, r.user_id)) {
        json_decref(body);
        return;
    }
    rg_error e;
    if (!parse_request(app, req, body, chat, &r, &e)) {
        ol_error(req, e.status, e.message);
        ol_request_clear(&r);
        return;
    }
    run_generation(app, req, &r);
}

void lc_ollama_chat(lc_app *app, http_request *req, json_t *body) {
    handle_generation(app, req, body, true);
}

static void handle_generate(http_request *req, void *ud) {
    json_t *body = rc_body_object(req);
    if (body) handle_generation(ud, req, body, false);
}

/* --------------------------------------------------------------- models */

/* "260.0K", "7.6B": Ollama's parameter_size. */
static void param_size(uint64_t n, char *buf, size_t len) {
    if (n >= 1000000000ULL)
        snprintf(buf, len, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ULL)
        snprintf(buf, len, "%.1fM", (double)n / 1e6);
    else
        snprintf(buf, len, "%.1fK", (double)n / 1e3);
}

static json_t *details_json(const lc_model *m) {
    char ps[32];
    param_size(lc_model_n_params(m), ps, sizeof ps);
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "",
                     "format", "gguf", "family", lc_model_arch(m), "families",
                     lc_model_arch(m), "parameter_size", ps,
                     "quantization_level", lc_model_ftype_name(m));
}

/* A name as Ollama lists it: with a tag (":latest" when none). */
static json_t *tagged(const char *name) {
    if (strchr(name, ':')) return json_string(name);
    char buf[512];
    snprintf(buf, sizeof buf, "%s:latest", name);
    return json_string(buf);
}

/* One entry of /api/tags or /api/ps for the served model under name. */
static json_t *model_entry(const lc_app *app, const char *name, bool ps) {
    char now[64];
    rg_rfc3339_now(now, sizeof now);
    json_t *j = json_object();
    json_object_set_new(j, "name", tagged(name));
    json_object_set_new(j, "model", tagged(name));
    json_object_set_new(j, "modified_at", json_string(now));
    json_object_set_new(
        j, "size", json_integer((json_int_t)lc_model_size_bytes(app->model)));
    /* no content digest is computed (it would mean hashing the file) */
    json_object_set_new(j, "digest", json_string(""));
    json_object_set_new(j, "details", details_json(app->model));
    if (ps) {
        /* loaded for the server's lifetime: no expiry; "0001-01-01" is
         * Go's zero time, which Ollama sends for "never" */
        json_object_set_new(j, "expires_at",
                            json_string("0001-01-01T00:00:00Z"));
        json_object_set_new(
            j, "size_vram",
            json_integer(lc_sched_gpu_active(app->sched)
                             ? (json_int_t)lc_model_size_bytes(app->model)
                             : 0));
    }
    return j;
}

static json_t *model_list(const lc_app *app, bool ps) {
    json_t *arr = json_array();
    json_array_append_new(arr, model_entry(app, app->model_name, ps));
    for (const char *const *a = app->aliases; a && *a; a++)
        json_array_append_new(arr, model_entry(app, *a, ps));
    return json_pack("{s:o}", "models", arr);
}

/* The model is needed: false after answering 503 while it loads. */
static bool model_ready(lc_app *app, http_request *req) {
    if (atomic_load(&app->ready)) return true;
    ol_error(req, 503, "the model is still loading; retry shortly");
    return false;
}

static void handle_tags(http_request *req, void *ud) {
    lc_app *app = ud;
    char user[37];
    if (!ol_auth(app, req, user) || !model_ready(app, req)) return;
    http_respond_json(req, 200, model_list(app, false));
}

static void handle_ps(http_request *req, void *ud) {
    lc_app *app = ud;
    char user[37];
    if (!ol_auth(app, req, user) || !model_ready(app, req)) return;
    http_respond_json(req, 200, model_list(app, true));
}

static void handle_show(http_request *req, void *ud) {
    lc_app *app = ud;
    char user[37];
    if (!ol_auth(app, req, user)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *name = json_string_value(json_object_get(body, "model"));
    /* older clients send "name" */
    if (!name) name = json_string_value(json_object_get(body, "name"));
    if (!name) {
        ol_error(req, 400, "model is required");
    } else if (!rg_model_matches(app, name)) {
        char msg[600];
        snprintf(msg, sizeof msg, "model '%s' not found", name);
        ol_error(req, 404, msg);
    } else if (model_ready(app, req)) {
        const lc_model *m = app->model;
        char key[128];
        json_t *info = json_object();
        json_object_set_new(info, "general.architecture",
                            json_string(lc_model_arch(m)));
        json_object_set_new(info, "general.name",
                            json_string(lc_model_name(m)));
        json_object_set_new(info, "general.parameter_count",
                            json_integer((json_int_t)lc_model_n_params(m)));
        snprintf(key, sizeof key, "%s.context_length", lc_model_arch(m));
        json_object_set_new(info, key, json_integer(lc_model_n_ctx_train(m)));
        snprintf(key, sizeof key, "%s.embedding_length", lc_model_arch(m));
        json_object_set_new(info, key, json_integer(lc_model_n_embd(m)));
        snprintf(key, sizeof key, "%s.block_count", lc_model_arch(m));
        json_object_set_new(info, key, json_integer(lc_model_n_layer(m)));
        char now[64];
        rg_rfc3339_now(now, sizeof now);
        json_t *j = json_object();
        json_object_set_new(j, "modelfile", json_string(""));
        json_object_set_new(j, "parameters", json_string(""));
        json_object_set_new(j, "template",
                            json_string(lc_chat_template_name(m)));
        json_object_set_new(j, "details", details_json(m));
        json_object_set_new(j, "model_info", info);
        json_object_set_new(j, "capabilities", json_pack("[s]", "completion"));
        json_object_set_new(j, "modified_at", json_string(now));
        http_respond_json(req, 200, j);
    }
    json_decref(body);
}

static void handle_version(http_request *req, void *ud) {
    (void)ud;
    http_respond_json(req, 200,
                      json_pack("{s:s}", "version", OLLAMA_API_VERSION));
}

static void handle_root(http_request *req, void *ud) {
    (void)ud;
    /* A browser asking for a page gets the web UI (routes_static.c); Ollama
     * clients, which check this text, send no text/html in Accept. */
    if (lc_static_wants_page(req)) {
        lc_static_serve_index(req);
        return;
    }
    static const char text[] = "Ollama is running";
    http_respond(req, 200, "text/plain; charset=utf-8", text, sizeof text - 1);
}

static long long mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* POST /api/embed {model, input, truncate} and the legacy POST
 * /api/embeddings {model, prompt}: the same work, two answer shapes. */
static void embed(http_request *req, lc_app *app, bool legacy) {
    char user[37];
    if (!ol_auth(app, req, user)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    const long long t0 = mono_ns();
    const char *name = json_string_value(json_object_get(body, "model"));
    json_t *trunc = json_object_get(body, "truncate");
    char msg[700];
    re_vectors vecs = {0};
    if (!name) {
        ol_error(req, 400, "model is required");
        goto done;
    }
    switch (re_model_named(app, name)) {
    case RE_MODEL_EMBEDDING:
        break;
    case RE_MODEL_LOADING:
        ol_error(req, 503, "the embedding model is still loading");
        goto done;
    case RE_MODEL_CHAT:
        if (app->embedding_configured)
            snprintf(msg, sizeof msg,
                     "'%s' does not support embeddings: use '%s'", name,
                     re_model_name(app));
        else
            snprintf(msg, sizeof msg,
                     "'%s' does not support embeddings: this server has no "
                     "embedding model loaded",
                     name);
        ol_error(req, 400, msg);
        goto done;
    case RE_MODEL_UNKNOWN:
        snprintf(msg, sizeof msg, "model '%s' not found", name);
        ol_error(req, 404, msg);
        goto done;
    }
    if (trunc && !json_is_boolean(trunc)) {
        ol_error(req, 400, "truncate must be a boolean");
        goto done;
    }
    /* Ollama cuts a text to the context unless truncate is false */
    const bool truncate = !trunc || json_is_true(trunc);
    json_t *input = json_object_get(body, legacy ? "prompt" : "input");
    if (legacy && !json_is_string(input)) {
        ol_error(req, 400, "prompt is required (a string)");
        goto done;
    }
    char err[512];
    int status = re_embed_input(app, input, truncate, &vecs, err, sizeof err);
    if (status != 0) {
        ol_error(req, status, err);
        goto done;
    }
    if (legacy) {
        http_respond_json(
            req, 200,
            json_pack("{s:o}", "embedding", re_vector_json(vecs.v, vecs.dim)));
        goto done;
    }
    json_t *list = json_array();
    for (int i = 0; i < vecs.n; i++)
        json_array_append_new(
            list,
            re_vector_json(vecs.v + (size_t)i * (size_t)vecs.dim, vecs.dim));
    http_respond_json(req, 200,
                      json_pack("{s:s, s:o, s:I, s:i, s:i}", "model", name,
                                "embeddings", list, "total_duration",
                                (json_int_t)(mono_ns() - t0), "load_duration",
                                0, "prompt_eval_count", vecs.n_tokens));
done:
    re_vectors_clear(&vecs);
    json_decref(body);
}

static void handle_embed(http_request *req, void *ud) {
    embed(req, ud, false);
}

static void handle_embeddings_legacy(http_request *req, void *ud) {
    embed(req, ud, true);
}

int lc_routes_ollama(lc_app *app) {
    http_server *s = app->http;
    if (http_server_route(s, "POST", "/api/generate", handle_generate, app) ||
        http_server_route(s, "POST", "/api/embed", handle_embed, app) ||
        http_server_route(s, "POST", "/api/embeddings",
                          handle_embeddings_legacy, app) ||
        http_server_route(s, "GET", "/api/tags", handle_tags, app) ||
        http_server_route(s, "POST", "/api/show", handle_show, app) ||
        http_server_route(s, "GET", "/api/ps", handle_ps, app) ||
        http_server_route(s, "GET", "/api/version", handle_version, app) ||
        http_server_route(s, "GET", "/", handle_root, app))
        return -1;
    return 0;
}

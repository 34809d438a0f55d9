/*
 * Chat: one turn of a session, in three transports, and the history read.
 *
 *   POST /api/chat {session_id, message, user_id, model?}  ChatResponse
 *   GET  /api/chat/stream   WebSocket: ChatRequest in, token frames out,
 *                           {"type":"cancel"} stops the running turn
 *   POST /api/chat/stream-sse {same body}  Server-Sent Events
 *   GET  /api/chat?sessionId=ID            the seed's history read
 *   POST /api/sessions/:id/regenerate {sampling fields?}  ChatResponse
 *                           a new reply replaces the last one (no new
 *                           user message); the WebSocket takes
 *                           {"type":"regenerate","session_id":...}
 *
 * POST /api/chat is also Ollama's chat route: a body with "messages" (or
 * "model" without the seed's fields) is Ollama's, answered by
 * lc_ollama_chat (routes_ollama.c).
 *
 * The turn itself (commit the user message, prompt, generate, commit the
 * reply) is lc_chat_turn's; this file parses requests, moves pieces to the
 * client, turns a cancel (a frame, a route, a client gone, shutdown) into
 * should_cancel, and records metrics. Connection threads never run the
 * model: lc_chat_turn only waits on the scheduler's channel.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/app.h"
#include "util/utf8.h"
#include "server/routes_common.h"
#include "server/routes_gen.h"
#include "server/sse.h"
#include "server/ws.h"
#include "store/messages.h"

/* Pieces an SSE stream may hold for a slow client before its turn waits. */
#define SSE_QUEUE_MAX 64

/* Errors are rg_error (routes_gen.h), kept until a transport can send
 * them. */
static void respond_api_error(http_request *req, const rg_error *e) {
    if (e->status == 503) http_response_header(req, "Retry-After", "1");
    http_respond_error(req, e->status, e->code, "%s", e->message);
}

/* The error shape of http.h plus done:true and the HTTP status, for
 * streams whose HTTP status was sent long ago (or never: WebSocket). */
static json_t *api_error_json(const rg_error *e) {
    json_t *j = http_error_json(e->status, e->code, e->message);
    if (!j) return NULL;
    json_object_set_new(j, "done", json_true());
    json_object_set_new(j, "status", json_integer(e->status));
    return j;
}

/* ------------------------------------------------------------ requests */

/* A parsed ChatRequest; strings point into body, which it holds. */
typedef struct chat_request {
    json_t *body;
    const char *session_id;
    const char *message;
    const char *user_id;
    const char *model;
    bool regenerate; /* no message: replace the last reply */
    lc_sampler_params sampling;
    int max_tokens;
} chat_request;

static bool get_string(json_t *o, const char *field, bool required,
                       const char **out, rg_error *e) {
    json_t *v = json_object_get(o, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return rg_set_error(e, 400, "missing_field",
                                "the field '%s' is required", field);
        return true;
    }
    if (!json_is_string(v) ||
        strlen(json_string_value(v)) != json_string_length(v))
        return rg_set_error(e, 400, "invalid_field",
                            "the field '%s' must be a string (without NUL)",
                            field);
    *out = json_string_value(v);
    return true;
}

/* rg_number (an optional number in [min, max]) with the native API's
 * error code for a bad field. */
static bool get_number(json_t *o, const char *field, double min, double max,
                       bool integer_only, double *out, rg_error *e) {
    if (rg_number(o, field, min, max, integer_only, out, e)) return true;
    e->code = "invalid_field";
    return false;
}

/* A different seed for every turn that does not give one. */
static uint64_t clock_seed(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t x = (uint64_t)t.tv_sec * 1000000007u ^ (uint64_t)t.tv_nsec;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Parses a ChatRequest (takes the body reference). false with e set. A
 * regenerate request has no message, and its user_id is optional (the
 * caller's). */
static bool parse_chat_request(lc_app *app, json_t *body, const char *caller,
                               bool regenerate, chat_request *r, rg_error *e) {
    memset(r, 0, sizeof *r);
    r->body = body;
    r->regenerate = regenerate;
    r->sampling = lc_sampler_default_params();
    r->sampling.seed = clock_seed();
    if (!get_string(body, "session_id", true, &r->session_id, e) ||
        !get_string(body, "message", !regenerate, &r->message, e) ||
        !get_string(body, "user_id", !regenerate, &r->user_id, e) ||
        !get_string(body, "model", false, &r->model, e))
        return false;
    if (!r->user_id) r->user_id = caller;
    if (strcmp(r->user_id, caller) != 0)
        return rg_set_error(e, 403, "forbidden",
                            "user_id does not match the authenticated user");
    if (regenerate) r->message = NULL; /* the stored history is answered */
    if (!regenerate && !r->message[0])
        return rg_set_error(e, 400, "invalid_field",
                            "the field 'message' must not be empty");
    if (r->model && r->model[0] && !rc_model_served(app, r->model))
        return rg_set_error(e, 404, "model_not_found",
                            "model '%s' is not served here (this server serves "
                            "'%s')",
                            r->model, app->model_name);
    if (!lc_store_is_uuid(r->session_id))
        return rg_set_error(e, 404, "session_not_found", "no session %s",
                            r->session_id);
    /* optional sampling fields (an extension of the seed's request) */
    double temp = r->sampling.temperature, top_p = r->sampling.top_p;
    double min_p = r->sampling.min_p, rep = r->sampling.repeat_penalty;
    double top_k = r->sampling.top_k, seed = -1, max_tokens = 0;
    if (!get_number(body, "temperature", 0, 10, false, &temp, e) ||
        !get_number(body, "top_p", 0, 1, false, &top_p, e) ||
        !get_number(body, "min_p", 0, 1, false, &min_p, e) ||
        !get_number(body, "repeat_penalty", 0, 10, false, &rep, e) ||
        !get_number(body, "top_k", 0, 1e6, true, &top_k, e) ||
        !get_number(body, "seed", 0, 9007199254740991.0, true, &seed, e) ||
        !get_number(body, "max_tokens", 1, RG_MAX_TOKENS_LIMIT, true,
                    &max_tokens, e))
        return false;
    r->sampling.temperature = (float)temp;
    r->sampling.top_p = (float)top_p;
    r->sampling.min_p = (float)min_p;
    r->sampling.repeat_penalty = (float)rep;
    r->sampling.top_k = (int)top_k;
    if (seed >= 0) r->sampling.seed = (uint64_t)seed;
    r->max_tokens = (int)max_tokens;
    return true;
}

/* Ollama's /api/chat body: "messages", or "model" without the seed's
 * session_id and message. */
static bool is_ollama_body(json_t *body) {
    if (json_object_get(body, "messages")) return true;
    return json_object_get(body, "model") &&
           !json_object_get(body, "session_id") &&
           !json_object_get(body, "message");
}

/* ---------------------------------------------------------------- turns */

/* One running turn: the transport's callbacks sit on top of it. */
typedef struct turn {
    lc_app *app;
    lc_running_turn reg;
    /* transport hooks; emit returns false when the client is gone */
    bool (*emit)(struct turn *t, const char *text, int index);
    bool (*poll_cancel)(struct turn *t);
    void (*started)(struct turn *t);
    void *transport;
    bool client_gone;
} turn;

static bool on_piece(void *ud, const char *text, int index) {
    turn *t = ud;
    if (!t->emit) return true;
    if (!t->emit(t, text, index)) {
        t->client_gone = true;
        return false;
    }
    return true;
}

static bool should_cancel(void *ud) {
    turn *t = ud;
    if (lc_app_turn_should_stop(t->app, &t->reg)) return true;
    return t->poll_cancel && t->poll_cancel(t);
}

static void on_started(void *ud, const char *user_message_id, int n_prompt,
                       int n_dropped) {
    (void)user_message_id;
    (void)n_prompt;
    (void)n_dropped;
    turn *t = ud;
    if (t->started) t->started(t);
}

/* Runs one turn of r for caller through t's hooks. true with res filled
 * (also for a cancelled turn), false with e set. */
static bool run_turn(turn *t, const char *caller, const chat_request *r,
                     lc_turn_result *res, rg_error *e) {
    lc_app *app = t->app;
    if (!atomic_load(&app->ready))
        return rg_set_error(e, 503, "model_loading",
                            "the model is still loading; retry shortly");
    if (lc_app_draining(app))
        return rg_set_error(e, 503, "shutting_down",
                            "the server is shutting down");
    lc_turn_params p = {
        .user_id = caller,
        .session_id = r->session_id,
        .message = r->message,
        .regenerate = r->regenerate,
        .sampling = r->sampling,
        .max_tokens = r->max_tokens,
    };
    lc_turn_callbacks cb = {
        .ud = t,
        .on_started = on_started,
        .on_piece = on_piece,
        .should_cancel = should_cancel,
    };
    char err[512] = "";
    lc_app_turn_begin(app, &t->reg, caller, r->session_id);
    enum lc_turn_status st =
        lc_chat_turn(app->chat, &p, &cb, res, err, sizeof err);
    lc_app_turn_end(app, &t->reg);
    if (res->finish_reason && res->finish_reason[0])
        rg_record_metrics(app, &res->stats, res->finish_reason);
    switch (st) {
    case LC_TURN_OK:
        return true;
    case LC_TURN_NOT_FOUND:
        return rg_set_error(e, 404, "session_not_found",
                            "no session %s for this user", r->session_id);
    case LC_TURN_TOO_LONG:
        return rg_set_error(e, 400, "prompt_too_long", "%s",
                            err[0] ? err
                                   : "the message does not fit the "
                                     "context window");
    case LC_TURN_BUSY:
        return rg_set_error(e, 503, "queue_full", "%s",
                            err[0] ? err : "the request queue is full");
    case LC_TURN_UNAVAILABLE:
        return rg_set_error(e, 503, "database_unavailable", "%s", err);
    case LC_TURN_INVALID:
        return rg_set_error(e, 400, "invalid_request", "%s", err);
    default:
        return rg_set_error(e, 500, "internal_error", "%s",
                            err[0] ? err : "the turn failed");
    }
}

/* What every transport reports about a finished turn. */
static json_t *turn_summary(const lc_app *app, const chat_request *r,
                            const lc_turn_result *res) {
    json_t *gpu = res->cuda_accelerated ? json_pack("{s:i}", "memory_used_mb",
                                                    res->gpu_memory_used_mb)
                                        : json_null();
    json_t *j = json_object();
    json_object_set_new(j, "message_id",
                        json_string(res->assistant_message_id));
    json_object_set_new(j, "user_message_id",
                        json_string(res->user_message_id));
    json_object_set_new(j, "session_id", json_string(r->session_id));
    json_object_set_new(j, "model", json_string(app->model_name));
    json_object_set_new(j, "response", json_string(res->text ? res->text : ""));
    json_object_set_new(j, "total_tokens",
                        json_integer(res->stats.n_generated));
    json_object_set_new(j, "prompt_tokens", json_integer(res->stats.n_prompt));
    json_object_set_new(j, "cached_tokens", json_integer(res->stats.n_cached));
    json_object_set_new(j, "dropped_turns", json_integer(res->n_dropped_turns));
    json_object_set_new(j, "finish_reason", json_string(res->finish_reason));
    json_object_set_new(j, "processing_time_ms",
                        json_real(res->stats.total_ms));
    json_object_set_new(j, "ttft_ms", json_real(res->stats.ttft_ms));
    json_object_set_new(j, "tokens_per_second",
                        json_real(res->tokens_per_second));
    json_object_set_new(j, "confidence", json_integer(res->confidence));
    json_object_set_new(j, "cuda_accelerated",
                        json_boolean(res->cuda_accelerated));
    json_object_set_new(j, "gpu_metrics", gpu);
    return j;
}

/* --------------------------------------------------- POST /api/chat */

/* A plain POST has no channel back until the reply is complete: the only
 * cancel is the client closing its connection. */
static bool post_poll_cancel(turn *t) {
    return http_request_client_gone(t->transport);
}

/* One turn over a plain POST, answered with a ChatResponse; regenerate:
 * the turn replaces the session's last reply. Consumes body. */
static void post_turn(lc_app *app, http_request *req, const char *caller,
                      json_t *body, bool regenerate) {
    chat_request r;
    rg_error e;
    lc_turn_result res = {0};
    turn t = {.app = app, .poll_cancel = post_poll_cancel, .transport = req};
    if (!parse_chat_request(app, body, caller, regenerate, &r, &e) ||
        !run_turn(&t, caller, &r, &res, &e)) {
        respond_api_error(req, &e);
    } else {
        json_t *j = turn_summary(app, &r, &res);
        json_object_set_new(j, "success", json_true());
        /* the seed's ChatResponse.ProcessingTime is a Go time.Duration,
         * which encodes as integer nanoseconds */
        json_object_set_new(
            j, "processing_time",
            json_integer((json_int_t)(res.stats.total_ms * 1e6)));
        http_respond_json(req, 200, j);
    }
    lc_turn_result_clear(&res);
    json_decref(body);
}

static void handle_chat(http_request *req, void *ud) {
    lc_app *app = ud;
    json_t *body = rc_body_object(req);
    if (!body) return;
    if (is_ollama_body(body)) {
        lc_ollama_chat(app, req, body); /* routes_ollama.c */
        return;
    }
    char caller[37];
    if (!lc_app_auth(app, req, caller)) {
        json_decref(body);
        return;
    }
    post_turn(app, req, caller, body, false);
}

/* ------------------------------ POST /api/sessions/:id/regenerate */

/* A new reply in place of the session's last one: the answer is a
 * ChatResponse like POST /api/chat's. The body is optional and may hold
 * the sampling fields of a ChatRequest; the session is the path's. */
static void handle_regenerate(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    size_t body_len = 0;
    http_request_body(req, &body_len);
    json_t *body = body_len ? rc_body_object(req) : json_object();
    if (!body) return; /* rc_body_object answered the bad body */
    json_object_set_new(body, "session_id",
                        json_string(http_request_param(req, "id")));
    post_turn(app, req, caller, body, true);
}

/* ------------------------------------------ GET /api/chat?sessionId= */

static void handle_history(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *sid = http_request_query(req, "sessionId");
    if (!sid || !*sid) {
        http_respond_error(req, 400, "missing_field",
                           "the query parameter 'sessionId' is required");
        return;
    }
    lc_message *list = NULL;
    size_t n = 0;
    lc_store_error err = {0};
    lc_store_status st =
        lc_messages_list(app->db, caller, sid, 10000, 0, &list, &n, &err);
    if (!rc_session_status_ok(req, st, sid, &err)) return;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, rc_message_json(&list[i]));
    lc_messages_free(list, n);
    http_respond_json(req, 200, json_pack("{s:o}", "messages", arr));
}

/* ------------------------------------------- GET /api/chat/stream (WS) */

typedef struct ws_session {
    lc_app *app;
    char caller[37];
    ws_conn *ws;
    char *pending; /* a message that arrived during a turn */
    bool gone;
} ws_session;

static json_t *token_frame(const char *text, int index) {
    return json_pack("{s:s, s:i, s:b}", "token", text, "position", index,
                     "done", 0);
}

static bool ws_emit(turn *t, const char *text, int index) {
    ws_session *s = t->transport;
    json_t *j = token_frame(text, index);
    int rc = j ? ws_send_json(s->ws, j) : -1;
    json_decref(j);
    return rc == 0;
}

static bool is_cancel_message(const char *msg) {
    json_t *j = json_loads(msg, 0, NULL);
    const char *type = NULL;
    if (j && json_is_object(j))
        type = json_string_value(json_object_get(j, "type"));
    bool cancel = type && strcmp(type, "cancel") == 0;
    json_decref(j);
    return cancel;
}

/* Between pieces: a cancel frame, or the peer gone. */
static bool ws_poll_cancel(turn *t) {
    ws_session *s = t->transport;
    /* While the server stops, ws_recv_text would say goodbye (1001) on an
     * idle socket: the turn gets until the shutdown deadline instead. */
    if (http_server_stopping(http_request_server(ws_request(s->ws))))
        return false;
    const char *msg;
    size_t len;
    /* 1 ms: a zero timeout would not look at the socket at all */
    ws_status st = ws_recv_text(s->ws, 1, &msg, &len);
    if (st == WS_CLOSED) {
        s->gone = true;
        return true;
    }
    if (st != WS_OK) return false;
    if (is_cancel_message(msg)) return true;
    /* one generation at a time per connection: keep the next request */
    if (!s->pending) {
        s->pending = strdup(msg);
    } else {
        /* done stays false: the running turn's frames go on */
        json_t *j = http_error_json(429, "busy",
                                    "one request at a time per connection "
                                    "(one is queued): wait for done");
        if (j) {
            json_object_set_new(j, "done", json_false());
            json_object_set_new(j, "status", json_integer(429));
            ws_send_json(s->ws, j);
        }
        json_decref(j);
    }
    return false;
}

static void ws_send_error(ws_session *s, const rg_error *e) {
    json_t *j = api_error_json(e);
    if (j) ws_send_json(s->ws, j);
    json_decref(j);
}

/* Handles one message of the session. */
static void ws_handle_message(ws_session *s, const char *msg, size_t len) {
    rg_error e;
    json_error_t jerr;
    json_t *body =
        lc_utf8_valid(msg, len, NULL) ? json_loadb(msg, len, 0, &jerr) : NULL;
    if (!body || !json_is_object(body)) {
        rg_set_error(&e, 400, body ? "invalid_request" : "invalid_json",
                     "each message must be a JSON object (a ChatRequest)");
        json_decref(body);
        ws_send_error(s, &e);
        return;
    }
    const char *type = json_string_value(json_object_get(body, "type"));
    if (type && strcmp(type, "cancel") == 0) {
        json_decref(body); /* nothing is running: nothing to cancel */
        return;
    }
    chat_request r;
    lc_turn_result res = {0};
    turn t = {.app = s->app,
              .emit = ws_emit,
              .poll_cancel = ws_poll_cancel,
              .transport = s};
    bool regenerate = type && strcmp(type, "regenerate") == 0;
    if (!parse_chat_request(s->app, body, s->caller, regenerate, &r, &e) ||
        !run_turn(&t, s->caller, &r, &res, &e)) {
        ws_send_error(s, &e);
    } else if (!s->gone) {
        json_t *j = turn_summary(s->app, &r, &res);
        if (j) {
            json_object_set_new(j, "done", json_true());
            ws_send_json(s->ws, j);
        }
        json_decref(j);
    }
    lc_turn_result_clear(&res);
    json_decref(body);
}

static void ws_run(ws_conn *ws, http_request *req, void *ud) {
    (void)req;
    ws_session *s = ud;
    s->ws = ws;
    while (!s->gone) {
        if (s->pending) {
            char *msg = s->pending;
            s->pending = NULL;
            ws_handle_message(s, msg, strlen(msg));
            free(msg);
            continue;
        }
        const char *msg;
        size_t len;
        ws_status st = ws_recv_text(ws, -1, &msg, &len);
        if (st == WS_CLOSED) break;
        if (st != WS_OK) continue;
        ws_handle_message(s, msg, len);
    }
    free(s->pending);
    free(s);
}

static void handle_stream_ws(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    if (!ws_is_upgrade_request(req)) {
        http_response_header(req, "Upgrade", "websocket");
        http_respond_error(req, 426, "upgrade_required",
                           "GET /api/chat/stream is a WebSocket endpoint");
        return;
    }
    ws_session *s = calloc(1, sizeof *s);
    if (!s) {
        http_respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    s->app = app;
    memcpy(s->caller, caller, sizeof caller);
    if (ws_accept(req, 0, ws_run, s) != 0) free(s); /* answered 400/426 */
}

/* --------------------------------------- POST /api/chat/stream-sse (SSE) */

/* The turn runs on a worker thread that only waits on the scheduler's
 * channel (the model runs on the scheduler thread); MHD pulls events from
 * this bounded queue on the connection thread. */
typedef struct sse_stream {
    lc_app *app;
    char caller[37];
    chat_request r;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sse_buf queue; /* events ready to send */
    int queued;    /* events in queue */
    bool started;  /* the user message is committed */
    bool finished; /* the turn is over; res / err hold its outcome */
    bool ok;
    bool closed; /* the client is gone (or the stream ended) */
    bool final_sent;
    lc_turn_result res;
    rg_error err;
} sse_stream;

static bool sse_emit(turn *t, const char *text, int index) {
    sse_stream *s = t->transport;
    json_t *j = token_frame(text, index);
    pthread_mutex_lock(&s->mu);
    /* bounded: a slow reader pauses its own turn, nobody else's */
    while (s->queued >= SSE_QUEUE_MAX && !s->closed)
        pthread_cond_wait(&s->cv, &s->mu);
    bool alive = !s->closed;
    if (alive && j && sse_event_json(&s->queue, NULL, j) == 0) s->queued++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    json_decref(j);
    return alive;
}

static bool sse_poll_cancel(turn *t) {
    sse_stream *s = t->transport;
    pthread_mutex_lock(&s->mu);
    bool closed = s->closed;
    pthread_mutex_unlock(&s->mu);
    return closed;
}

static void sse_started(turn *t) {
    sse_stream *s = t->transport;
    pthread_mutex_lock(&s->mu);
    s->started = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *sse_worker(void *arg) {
    sse_stream *s = arg;
    turn t = {.app = s->app,
              .emit = sse_emit,
              .poll_cancel = sse_poll_cancel,
              .started = sse_started,
              .transport = s};
    lc_turn_result res = {0};
    rg_error e = {0};
    bool ok = run_turn(&t, s->caller, &s->r, &res, &e);
    pthread_mutex_lock(&s->mu);
    s->res = res;
    s->err = e;
    s->ok = ok;
    s->finished = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void sse_stream_free(sse_stream *s) {
    lc_turn_result_clear(&s->res);
    json_decref(s->r.body);
    free(s->queue.data);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* Waits up to ms for the condition variable (CLOCK_REALTIME deadline). */
static void timed_wait(sse_stream *s, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&s->cv, &s->mu, &until);
}

static sse_status sse_produce(void *ctx, sse_buf *out) {
    sse_stream *s = ctx;
    sse_status rc = SSE_MORE;
    pthread_mutex_lock(&s->mu);
    if (s->queued == 0 && !s->finished) timed_wait(s, 1000);
    if (s->queued > 0) {
        if (sse_buf_append(out, s->queue.data, s->queue.len)) rc = SSE_ERROR;
        s->queue.len = 0;
        s->queued = 0;
        pthread_cond_broadcast(&s->cv);
    } else if (s->finished) {
        json_t *j;
        if (s->ok) {
            j = turn_summary(s->app, &s->r, &s->res);
            json_object_set_new(j, "done", json_true());
        } else {
            j = api_error_json(&s->err);
        }
        if (!j || sse_event_json(out, NULL, j)) rc = SSE_ERROR;
        json_decref(j);
        if (rc == SSE_MORE) rc = SSE_END;
    } else {
        /* nothing yet (a long prompt): a comment keeps proxies patient */
        if (sse_comment(out, "waiting")) rc = SSE_ERROR;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sse_close(void *ctx, bool completed) {
    (void)completed;
    sse_stream *s = ctx;
    /* a client gone mid-turn: the worker sees closed at its next piece
     * (or poll) and the turn is stored as cancelled */
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->worker, NULL);
    sse_stream_free(s);
}

static void handle_stream_sse(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    sse_stream *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(body);
        http_respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    s->app = app;
    memcpy(s->caller, caller, sizeof caller);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    rg_error e;
    if (!parse_chat_request(app, body, caller, false, &s->r, &e)) {
        respond_api_error(req, &e);
        s->r.body = body;
        sse_stream_free(s);
        return;
    }
    if (pthread_create(&s->worker, NULL, sse_worker, s) != 0) {
        sse_stream_free(s);
        http_respond_error(req, 500, "internal_error", "cannot start a turn");
        return;
    }
    /* Errors found before generation (unknown session, prompt too long,
     * queue full) get their HTTP status; after that the stream is on. */
    pthread_mutex_lock(&s->mu);
    while (!s->started && !s->finished) pthread_cond_wait(&s->cv, &s->mu);
    bool failed_early = !s->started && !s->ok;
    pthread_mutex_unlock(&s->mu);
    if (failed_early) {
        pthread_join(s->worker, NULL);
        respond_api_error(req, &s->err);
        sse_stream_free(s);
        return;
    }
    sse_respond(req, sse_produce, sse_close, s);
}

int lc_routes_chat(lc_app *app) {
    http_server *s = app->http;
    if (http_server_route(s, "POST", "/api/chat", handle_chat, app) ||
        http_server_route(s, "POST", "/api/sessions/:id/regenerate",
                          handle_regenerate, app) ||
        http_server_route(s, "GET", "/api/chat", handle_history, app) ||
        http_server_route(s, "GET", "/api/chat/stream", handle_stream_ws,
                          app) ||
        http_server_route(s, "POST", "/api/chat/stream-sse", handle_stream_sse,
                          app))
        return -1;
    return 0;
}

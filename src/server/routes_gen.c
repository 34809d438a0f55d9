/*
 * One generation for the peer APIs; see routes_gen.h.
 *
 * The worker thread either reads the events of a stateless scheduler job
 * or runs lc_chat_turn for a named session; both append their pieces to
 * one queue of text that rg_next hands to the transport. The queue is
 * bounded (QUEUE_MAX bytes): a slow reader pauses its own generation.
 */
#include "server/routes_gen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "chat/chat.h"
#include "chat/metrics.h"
#include "server/routes_common.h"

/* Bytes of text waiting for a slow reader before the generation waits. */
#define QUEUE_MAX (64 * 1024)
/* How often a waiting worker looks at the cancel flag. */
#define POLL_MS 100

struct rg_gen {
    lc_app *app;
    pthread_t worker;
    bool worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *queue; /* [cap] text not yet read */
    size_t len, cap;
    bool started;  /* the prompt was accepted */
    bool finished; /* result holds the outcome */
    bool failed;   /* finished before starting: err holds why */
    bool cancel;
    rg_error err;
    rg_result result;
    /* stateless: the job (owned, freed by rg_free) */
    lc_job *job;
    /* session turn: copies of what lc_chat_turn needs */
    lc_turn_params turn;
    char *turn_message;
    char turn_user[37], turn_session[37];
    char *turn_stops[RG_MAX_STOPS];
};

bool rg_set_error(rg_error *e, int status, const char *code, const char *fmt,
                  ...) {
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

/* ------------------------------------------------------------ the queue */

/* Appends text under mu, waiting while the queue is full. false when the
 * generation was cancelled (the reader is gone or asked to stop). */
static bool queue_push(rg_gen *g, const char *text) {
    size_t n = strlen(text);
    pthread_mutex_lock(&g->mu);
    while (g->len >= QUEUE_MAX && !g->cancel) pthread_cond_wait(&g->cv, &g->mu);
    bool alive = !g->cancel;
    if (alive && n > 0) {
        if (g->len + n + 1 > g->cap) {
            size_t cap = (g->len + n + 1) * 2;
            char *q = realloc(g->queue, cap);
            if (!q) {
                pthread_mutex_unlock(&g->mu);
                return false;
            }
            g->queue = q;
            g->cap = cap;
        }
        memcpy(g->queue + g->len, text, n);
        g->len += n;
    }
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return alive;
}

void rg_record_metrics(lc_app *app, const lc_job_stats *s,
                       const char *finish_reason) {
    lc_metrics *m = app->metrics;
    char labels[128];
    lc_metrics_add(m, M_PROMPT_TOKENS, NULL, s->n_prompt);
    lc_metrics_add(m, M_CACHED_TOKENS, NULL, s->n_cached);
    lc_metrics_add(m, M_GENERATED_TOKENS, NULL, s->n_generated);
    if (s->n_generated > 0) {
        lc_metrics_observe(m, M_TTFT_SECONDS, NULL, s->ttft_ms / 1e3);
        lc_metrics_observe(m, M_TOKENS_PER_SECOND, NULL,
                           lc_chat_tokens_per_second(s));
    }
    if (lc_metrics_labels(labels, sizeof labels, 1, "finish_reason",
                          finish_reason) == 0)
        lc_metrics_add(m, M_TURNS, labels, 1);
}

/* Records the outcome (and counts it in the metrics when it ran). */
static void finish(rg_gen *g, const char *reason, const char *error,
                   const lc_job_stats *stats) {
    if (stats) rg_record_metrics(g->app, stats, reason);
    pthread_mutex_lock(&g->mu);
    g->result.finish_reason = reason;
    if (error) snprintf(g->result.error, sizeof g->result.error, "%s", error);
    if (stats) g->result.stats = *stats;
    g->finished = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static bool cancelled(rg_gen *g) {
    pthread_mutex_lock(&g->mu);
    bool c = g->cancel;
    pthread_mutex_unlock(&g->mu);
    return c;
}

/* ------------------------------------------------------- stateless jobs */

/* The finish reasons of the scheduler are static strings; keep ours so. */
static const char *static_reason(const char *r) {
    static const char *const known[] = {"stop", "length", "cancelled",
                                        "context", "error"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (r && strcmp(r, known[i]) == 0) return known[i];
    return "stop";
}

static void *job_worker(void *arg) {
    rg_gen *g = arg;
    lc_event ev;
    bool asked = false;
    for (;;) {
        int rc = lc_job_next(g->job, &ev, POLL_MS);
        if (rc < 0) break;
        if (!asked && cancelled(g)) {
            lc_job_cancel(g->job);
            asked = true;
        }
        if (rc == 0) continue;
        if (ev.type == LC_EVENT_TOKEN) {
            if (!queue_push(g, ev.text ? ev.text : "") && !asked) {
                lc_job_cancel(g->job);
                asked = true;
            }
            continue;
        }
        /* LC_EVENT_DONE: text held back until the end comes with it */
        if (ev.text && ev.text[0]) queue_push(g, ev.text);
        finish(g, static_reason(ev.finish_reason), ev.error, &ev.stats);
        return NULL;
    }
    finish(g, "error", "the generation ended without its final event", NULL);
    return NULL;
}

/* The prompt tokens of p (malloc'd) and their count, or NULL with e. */
static int32_t *prompt_tokens(const lc_model *model, const rg_params *p,
                              int budget, int *n_out, rg_error *e) {
    char err[256] = "";
    char *rendered = NULL;
    const char *text = p->prompt;
    if (p->messages) {
        rendered = lc_chat_render(model, NULL, p->messages, p->n_messages, true,
                                  err, sizeof err);
        if (!rendered) {
            rg_set_error(e, 400, "invalid_request",
                         "the messages cannot be rendered: %s", err);
            return NULL;
        }
        text = rendered;
    }
    /* parse_special only for a rendered template, which writes control
     * tokens as text; a raw prompt is the user's text */
    size_t len = strlen(text);
    /* at most one token per byte, plus BOS and EOS */
    int32_t *toks = malloc((len + 4) * sizeof *toks);
    int n = toks ? lc_tokenize(model, text, len, true, p->messages != NULL,
                               toks, (int)len + 4)
                 : -1;
    free(rendered);
    if (n <= 0 || !toks) {
        free(toks);
        rg_set_error(e, 400, "invalid_request",
                     "the prompt is empty or "
                     "cannot be tokenized");
        return NULL;
    }
    if (n >= budget) {
        free(toks);
        rg_set_error(e, 400, "context_length_exceeded",
                     "the prompt has %d tokens; the context holds %d", n,
                     budget);
        return NULL;
    }
    *n_out = n;
    return toks;
}

static bool start_job(rg_gen *g, const rg_params *p, rg_error *e) {
    lc_app *app = g->app;
    int n_ctx = lc_sched_n_ctx(app->sched);
    /* num_ctx: a smaller window is honoured, a larger one clamped to what
     * this server holds */
    int budget = p->num_ctx > 0 && p->num_ctx < n_ctx ? p->num_ctx : n_ctx;
    int n_prompt = 0;
    int32_t *toks = prompt_tokens(app->model, p, budget, &n_prompt, e);
    if (!toks) return false;
    int room = budget - n_prompt;
    int max_tokens =
        p->max_tokens > 0 && p->max_tokens < room ? p->max_tokens : room;
    lc_job_params jp = {
        .prompt = toks,
        .n_prompt = n_prompt,
        .sampling = p->sampling,
        .max_tokens = max_tokens,
        .stops = p->stops,
        .n_stops = p->n_stops,
    };
    char err[256] = "";
    enum lc_submit_status st =
        lc_sched_submit(app->sched, &jp, &g->job, err, sizeof err);
    free(toks);
    switch (st) {
    case LC_SUBMIT_OK:
        return true;
    case LC_SUBMIT_QUEUE_FULL:
        return rg_set_error(e, 503, "queue_full", "%s",
                            err[0] ? err : "the request queue is full");
    case LC_SUBMIT_TOO_LONG:
        return rg_set_error(e, 400, "context_length_exceeded", "%s",
                            err[0] ? err : "the prompt is too long");
    case LC_SUBMIT_STOPPING:
        return rg_set_error(e, 503, "shutting_down",
                            "the server is shutting down");
    default:
        return rg_set_error(e, 400, "invalid_request", "%s",
                            err[0] ? err : "invalid parameters");
    }
}

/* -------------------------------------------------------- session turns */

static void turn_started(void *ud, const char *id, int n_prompt, int n_drop) {
    (void)id;
    (void)n_prompt;
    (void)n_drop;
    rg_gen *g = ud;
    pthread_mutex_lock(&g->mu);
    g->started = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static bool turn_piece(void *ud, const char *text, int index) {
    (void)index;
    return queue_push(ud, text);
}

static bool turn_should_cancel(void *ud) {
    return cancelled(ud);
}

static void *turn_worker(void *arg) {
    rg_gen *g = arg;
    lc_turn_callbacks cb = {
        .ud = g,
        .on_started = turn_started,
        .on_piece = turn_piece,
        .should_cancel = turn_should_cancel,
    };
    lc_turn_result res = {0};
    char err[512] = "";
    enum lc_turn_status st =
        lc_chat_turn(g->app->chat, &g->turn, &cb, &res, err, sizeof err);
    if (st == LC_TURN_OK) {
        finish(g, static_reason(res.finish_reason), NULL, &res.stats);
        lc_turn_result_clear(&res);
        return NULL;
    }
    lc_turn_result_clear(&res);
    rg_error e;
    switch (st) {
    case LC_TURN_NOT_FOUND:
        rg_set_error(&e, 404, "session_not_found",
                     "no session %s for this user", g->turn.session_id);
        break;
    case LC_TURN_TOO_LONG:
        rg_set_error(&e, 400, "context_length_exceeded", "%s",
                     err[0] ? err : "the message does not fit the context");
        break;
    case LC_TURN_BUSY:
        rg_set_error(&e, 503, "queue_full", "%s",
                     err[0] ? err : "the request queue is full");
        break;
    case LC_TURN_UNAVAILABLE:
        rg_set_error(&e, 503, "database_unavailable", "%s", err);
        break;
    case LC_TURN_INVALID:
        rg_set_error(&e, 400, "invalid_request", "%s", err);
        break;
    default:
        rg_set_error(&e, 500, "internal_error", "%s",
                     err[0] ? err : "the turn failed");
    }
    pthread_mutex_lock(&g->mu);
    g->err = e;
    g->failed = !g->started;
    pthread_mutex_unlock(&g->mu);
    finish(g, "error", e.message, NULL);
    return NULL;
}

/* The message a session turn stores: the last user message. */
static const char *last_user_message(const rg_params *p) {
    if (!p->messages) return p->prompt;
    for (int i = p->n_messages - 1; i >= 0; i--)
        if (strcmp(p->messages[i].role, "user") == 0)
            return p->messages[i].content;
    return NULL;
}

static bool start_turn(rg_gen *g, const rg_params *p, rg_error *e) {
    const char *msg = last_user_message(p);
    if (!msg || !msg[0])
        return rg_set_error(e, 400, "invalid_request",
                            "a session turn needs a non-empty user message");
    if (!p->user_id || !p->user_id[0])
        return rg_set_error(e, 401, "unauthorized",
                            "a session needs a bearer token (anonymous "
                            "requests are stateless)");
    if (!lc_store_is_uuid(p->session_id))
        return rg_set_error(e, 404, "session_not_found", "no session %s",
                            p->session_id);
    /* the worker outlives the request's handler (a stream): copies */
    if (p->n_stops > RG_MAX_STOPS)
        return rg_set_error(e, 400, "invalid_value", "too many stop strings");
    snprintf(g->turn_user, sizeof g->turn_user, "%s", p->user_id);
    snprintf(g->turn_session, sizeof g->turn_session, "%s", p->session_id);
    g->turn_message = strdup(msg);
    bool oom = !g->turn_message;
    for (int i = 0; i < p->n_stops; i++)
        oom |= !(g->turn_stops[i] = strdup(p->stops[i]));
    if (oom) return rg_set_error(e, 500, "internal_error", "out of memory");
    g->turn = (lc_turn_params){
        .user_id = g->turn_user,
        .session_id = g->turn_session,
        .message = g->turn_message,
        .sampling = p->sampling,
        .max_tokens = p->max_tokens,
        .stops = (const char *const *)g->turn_stops,
        .n_stops = p->n_stops,
    };
    return true;
}

/* ------------------------------------------------------------ lifecycle */

rg_gen *rg_start(lc_app *app, const rg_params *p, rg_error *e) {
    if (!atomic_load(&app->ready)) {
        rg_set_error(e, 503, "model_loading",
                     "the model is still loading; retry shortly");
        return NULL;
    }
    if (lc_app_draining(app)) {
        rg_set_error(e, 503, "shutting_down", "the server is shutting down");
        return NULL;
    }
    rg_gen *g = calloc(1, sizeof *g);
    if (!g) {
        rg_set_error(e, 500, "internal_error", "out of memory");
        return NULL;
    }
    g->app = app;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    bool session = p->session_id && p->session_id[0];
    bool ok = session ? start_turn(g, p, e) : start_job(g, p, e);
    if (!ok) {
        rg_free(g);
        return NULL;
    }
    if (!session) g->started = true;
    if (pthread_create(&g->worker, NULL, session ? turn_worker : job_worker,
                       g) != 0) {
        rg_set_error(e, 500, "internal_error", "cannot start a worker");
        rg_free(g);
        return NULL;
    }
    g->worker_started = true;
    /* errors found before generation (unknown session, queue full) keep
     * their HTTP status */
    pthread_mutex_lock(&g->mu);
    while (!g->started && !g->finished) pthread_cond_wait(&g->cv, &g->mu);
    bool failed = g->failed;
    if (failed) *e = g->err;
    pthread_mutex_unlock(&g->mu);
    if (failed) {
        rg_free(g);
        return NULL;
    }
    return g;
}

static void wait_ms(rg_gen *g, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&g->cv, &g->mu, &until);
}

int rg_next(rg_gen *g, char **text, int timeout_ms) {
    *text = NULL;
    pthread_mutex_lock(&g->mu);
    if (g->len == 0 && !g->finished && timeout_ms != 0)
        wait_ms(g, timeout_ms < 0 ? 1000 : timeout_ms);
    int rc = 0;
    if (g->len > 0) {
        char *t = malloc(g->len + 1);
        if (t) {
            memcpy(t, g->queue, g->len);
            t[g->len] = '\0';
            g->len = 0;
            *text = t;
            rc = 1;
        } else {
            g->cancel = true; /* out of memory: stop, report what we have */
        }
        pthread_cond_broadcast(&g->cv);
    } else if (g->finished) {
        rc = -1;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

const rg_result *rg_result_of(const rg_gen *g) {
    return &g->result;
}

void rg_cancel(rg_gen *g) {
    pthread_mutex_lock(&g->mu);
    g->cancel = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    /* the job sees it before its next step; the worker also asks on its
     * next poll, this only saves that wait */
    if (g->job) lc_job_cancel(g->job);
}

void rg_free(rg_gen *g) {
    if (!g) return;
    if (g->worker_started) {
        rg_cancel(g);
        pthread_join(g->worker, NULL);
    }
    if (g->job) lc_job_free(g->job);
    free(g->turn_message);
    for (int i = 0; i < RG_MAX_STOPS; i++) free(g->turn_stops[i]);
    free(g->queue);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

char *rg_collect(rg_gen *g, http_request *req) {
    size_t len = 0, cap = 256;
    char *all = malloc(cap);
    if (!all) return NULL;
    all[0] = '\0';
    for (;;) {
        char *t = NULL;
        int rc = rg_next(g, &t, 200);
        if (rc < 0) break;
        /* a plain POST has no channel back: the only cancel is the client
         * closing its connection (a cheap peek at the socket) */
        if (http_request_client_gone(req)) rg_cancel(g);
        if (rc == 0) continue;
        size_t n = strlen(t);
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *a = realloc(all, cap);
            if (!a) {
                free(t);
                free(all);
                return NULL;
            }
            all = a;
        }
        memcpy(all + len, t, n + 1);
        len += n;
        free(t);
    }
    return all;
}

/* ---------------------------------------------------------------- names */

/* Length of name without Ollama's default tag ":latest". */
static size_t untagged_len(const char *name) {
    size_t n = strlen(name);
    const size_t t = sizeof ":latest" - 1;
    return n > t && strcmp(name + n - t, ":latest") == 0 ? n - t : n;
}

/* name and want are equal up to a ":latest" tag on either. */
static bool same_name(const char *name, const char *want) {
    if (!want || !want[0]) return false;
    size_t a = untagged_len(name), b = untagged_len(want);
    return a == b && strncmp(name, want, a) == 0;
}

bool rg_model_matches(const lc_app *app, const char *name) {
    if (!name) return false;
    if (same_name(name, app->model_name)) return true;
    if (app->model && same_name(name, lc_model_name(app->model))) return true;
    for (const char *const *a = app->aliases; a && *a; a++)
        if (same_name(name, *a)) return true;
    return false;
}

/* ----------------------------------------------------------------- auth */

static bool from_loopback(http_request *req) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        http_request_connection(req), MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return ntohl(in->sin_addr.s_addr) == INADDR_LOOPBACK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
        /* ::ffff:127.0.0.1 on a dual-stack socket */
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
               in6->sin6_addr.s6_addr[12] == 127 &&
               in6->sin6_addr.s6_addr[13] == 0 &&
               in6->sin6_addr.s6_addr[14] == 0 &&
               in6->sin6_addr.s6_addr[15] == 1;
    }
    return false;
}

static bool anonymous_ok(lc_app *app, http_request *req) {
    return app->allow_anonymous_loopback &&
           !http_request_header(req, "Authorization") && from_loopback(req);
}

bool rg_auth_missing(lc_app *app, http_request *req) {
    const char *h = http_request_header(req, "Authorization");
    if (h && h[0]) return false;
    return !anonymous_ok(app, req);
}

int rg_auth(lc_app *app, http_request *req, char user_id[37]) {
    if (anonymous_ok(app, req)) {
        user_id[0] = '\0';
        return 0;
    }
    return lc_app_auth(app, req, user_id) ? 1 : -1;
}

/* ----------------------------------------------------------- parameters */

bool rg_number(json_t *o, const char *field, double min, double max,
               bool integer_only, double *out, rg_error *e) {
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v)) return true;
    bool ok = integer_only ? json_is_integer(v) : json_is_number(v);
    double d = ok ? json_number_value(v) : 0;
    if (!ok || !(d >= min && d <= max))
        return rg_set_error(e, 400, "invalid_value",
                            "'%s' must be %s in %.17g..%.17g", field,
                            integer_only ? "an integer" : "a number", min, max);
    *out = d;
    return true;
}

static bool stop_ok(json_t *s) {
    return json_is_string(s) && json_string_length(s) > 0 &&
           strlen(json_string_value(s)) == json_string_length(s);
}

bool rg_stops(json_t *v, const char *field, const char *stops[RG_MAX_STOPS],
              int *n_stops, rg_error *e) {
    *n_stops = 0;
    if (!v || json_is_null(v)) return true;
    if (json_is_string(v)) {
        if (!stop_ok(v))
            return rg_set_error(e, 400, "invalid_value",
                                "'%s' must be a non-empty string", field);
        stops[(*n_stops)++] = json_string_value(v);
        return true;
    }
    if (!json_is_array(v) || json_array_size(v) > RG_MAX_STOPS)
        return rg_set_error(e, 400, "invalid_value",
                            "'%s' must be a string or an array of at most %d "
                            "strings",
                            field, RG_MAX_STOPS);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!stop_ok(s))
            return rg_set_error(e, 400, "invalid_value",
                                "'%s' must hold non-empty strings", field);
        stops[(*n_stops)++] = json_string_value(s);
    }
    return true;
}

void rg_make_id(char *buf, size_t n, const char *prefix) {
    /* unique enough for ids: the clock in ns, mixed, and the stack
     * address of the caller's buffer (differs between threads) */
    uint64_t a = rg_clock_seed() ^ (uint64_t)(uintptr_t)buf;
    uint64_t b = a * 0x9e3779b97f4a7c15ULL;
    b ^= b >> 29;
    snprintf(buf, n, "%s%016llx%08llx", prefix, (unsigned long long)a,
             (unsigned long long)(b & 0xffffffffULL));
}

/* ---------------------------------------------------------------- clock */

long long rg_unix_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec;
}

void rg_rfc3339_now(char *buf, size_t n) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%09ldZ", date, t.tv_nsec);
}

uint64_t rg_clock_seed(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t x = (uint64_t)t.tv_sec * 1000000007u ^ (uint64_t)t.tv_nsec;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

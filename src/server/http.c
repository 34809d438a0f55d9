/*
 * HTTP server on libmicrohttpd (MHD): start/stop, request lifecycle, body
 * accumulation, dispatch through the router, and plain/JSON responses.
 *
 * How MHD calls us for one request (thread-per-connection mode, all on the
 * connection's thread):
 *   1. on_request with *upload_data_size == 0 once the headers are in: we
 *      allocate the http_request. Answering here is an "early" response,
 *      after which MHD closes the connection, so we do it only to refuse
 *      (413 by Content-Length, 503 while stopping).
 *   2. on_request with body bytes, as many times as needed: we append them.
 *   3. on_request with *upload_data_size == 0 once the body is complete:
 *      we route and call the handler, which answers.
 *   4. on_completed when the response is sent (or the client is gone): we
 *      report to the observer and free the request.
 */
#include "http.h"

#include "http_route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A chunked body that overflows cannot be refused early (MHD accepts a
 * response only before or after the body); we read and drop it, up to this
 * many times the limit, and then cut the connection. */
#define DISCARD_FACTOR 8

/* After the stop deadline, how long WebSocket sessions whose sockets were
 * broken get to notice and return. */
#define WS_BREAK_GRACE_MS 2000

struct http_server {
    http_config cfg;
    char host[64];
    http_router router;
    http_handler fallback; /* GET/HEAD that no route matches, or NULL */
    void *fallback_ud;
    struct MHD_Daemon *daemon;
    uint16_t port;
    atomic_bool stopping;

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signalled when inflight drops */
    int inflight;       /* requests between first call and completion */
    int *ws_fds;        /* [n_ws] sockets of open WebSocket sessions */
    int n_ws, cap_ws;
};

typedef struct resp_header {
    char *name, *value;
} resp_header;

struct http_request {
    http_server *srv;
    struct MHD_Connection *conn;
    char *method, *path;
    http_match match;
    char *body; /* [cap] NUL-terminated */
    size_t len, cap;
    bool too_large;
    size_t discarded;
    bool answered;
    int status;
    resp_header *headers; /* [nheaders] extra headers for the response */
    int nheaders;
    void *user;
    void *attachment;
    void (*attachment_free)(void *);
    struct timespec t0;
};

/* --------------------------------------------------------------- config */

void http_config_default(http_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    cfg->max_body_bytes = 1u << 20;
    cfg->idle_timeout_s = 60;
    cfg->max_connections = 512;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) +
           (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* ------------------------------------------------------------ responses */

const char *http_error_type(int status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    case 503:
        return "unavailable_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json_t *http_error_json(int status, const char *code, const char *message) {
    return json_pack("{s:{s:s, s:s, s:s}}", "error", "message", message, "type",
                     http_error_type(status), "code", code);
}

int http_response_header(http_request *r, const char *name, const char *value) {
    resp_header *h =
        realloc(r->headers, (size_t)(r->nheaders + 1) * sizeof(*h));
    if (!h) return -1;
    r->headers = h;
    h[r->nheaders].name = strdup(name);
    h[r->nheaders].value = strdup(value);
    if (!h[r->nheaders].name || !h[r->nheaders].value) {
        free(h[r->nheaders].name);
        free(h[r->nheaders].value);
        return -1;
    }
    r->nheaders++;
    return 0;
}

int http_request_queue(http_request *r, int status, struct MHD_Response *resp) {
    if (r->answered) return -1;
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    if (MHD_queue_response(r->conn, (unsigned)status, resp) != MHD_YES)
        return -1;
    r->answered = true;
    r->status = status;
    return 0;
}

int http_respond(http_request *r, int status, const char *content_type,
                 const void *body, size_t len) {
    if (r->answered) return -1;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return -1;
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type);
    int rc = http_request_queue(r, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

int http_respond_json(http_request *r, int status, json_t *body) {
    if (!body) return -1;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return -1;
    int rc = http_respond(r, status, "application/json; charset=utf-8", text,
                          strlen(text));
    free(text);
    return rc;
}

int http_respond_error(http_request *r, int status, const char *code,
                       const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return http_respond_json(r, status, http_error_json(status, code, message));
}

/* ------------------------------------------------------------- requests */

http_server *http_request_server(const http_request *r) {
    return r->srv;
}
const char *http_request_method(const http_request *r) {
    return r->method;
}
const char *http_request_path(const http_request *r) {
    return r->path;
}
const char *http_request_route(const http_request *r) {
    return r->match.route ? r->match.route->pattern : NULL;
}
struct MHD_Connection *http_request_connection(const http_request *r) {
    return r->conn;
}
bool http_request_client_gone(const http_request *r) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    /* Thread-per-connection: nobody else reads this socket while the
     * handler runs, so a peek cannot steal bytes. 0 = orderly close. */
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return false;
}
bool http_request_answered(const http_request *r) {
    return r->answered;
}
void http_request_set_user(http_request *r, void *user) {
    r->user = user;
}
void *http_request_user(const http_request *r) {
    return r->user;
}

const char *http_request_param(const http_request *r, const char *name) {
    for (int i = 0; i < r->match.nparams; i++)
        if (strcmp(r->match.params[i].name, name) == 0)
            return r->match.params[i].value;
    return NULL;
}

const char *http_request_query(const http_request *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_request_header(const http_request *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_request_body(const http_request *r, size_t *len) {
    if (len) *len = r->len;
    return r->body ? r->body : "";
}

json_t *http_request_json(http_request *r) {
    json_error_t err;
    size_t len;
    const char *body = http_request_body(r, &len);
    json_t *j = json_loadb(body, len, 0, &err);
    if (!j) {
        http_respond_error(r, 400, "invalid_json",
                           "request body is not valid JSON: %s (line %d, "
                           "column %d)",
                           err.text, err.line, err.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_respond_error(r, 400, "invalid_json",
                           "request body must be a JSON object");
        return NULL;
    }
    return j;
}

static http_request *request_new(http_server *s, struct MHD_Connection *c,
                                 const char *url, const char *method) {
    http_request *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->srv = s;
    r->conn = c;
    r->method = strdup(method);
    r->path = strdup(url);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    if (!r->method || !r->path) {
        free(r->method);
        free(r->path);
        free(r);
        return NULL;
    }
    return r;
}

void http_request_attach(http_request *r, void *p, void (*free_fn)(void *)) {
    if (r->attachment_free) r->attachment_free(r->attachment);
    r->attachment = p;
    r->attachment_free = free_fn;
}

void *http_request_attachment(const http_request *r) {
    return r->attachment;
}

static void request_free(http_request *r) {
    if (r->attachment_free) r->attachment_free(r->attachment);
    http_match_free(&r->match);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r->method);
    free(r->path);
    free(r);
}

/* Appends body bytes, or drops them once the limit is passed. Returns false
 * when the client keeps sending far past the limit. */
static bool body_append(http_request *r, const char *data, size_t n) {
    size_t max = r->srv->cfg.max_body_bytes;
    if (r->too_large || n > max - r->len) {
        r->too_large = true;
        r->discarded += n;
        return r->discarded <= DISCARD_FACTOR * max + (1u << 20);
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->too_large = true;
            return true;
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return true;
}

/* Refuses a request whose declared Content-Length is over the limit before
 * reading any of it. */
static bool declared_too_large(http_request *r) {
    const char *cl = http_request_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(cl, &end, 10);
    return errno == 0 && end != cl && v > r->srv->cfg.max_body_bytes;
}

static void respond_too_large(http_request *r) {
    http_respond_error(r, 413, "body_too_large",
                       "request body exceeds %zu bytes",
                       r->srv->cfg.max_body_bytes);
}

static void dispatch(http_request *r) {
    http_server *s = r->srv;
    int rc = http_router_match(&s->router, r->method, r->path, &r->match);
    if (rc == 404 && s->fallback &&
        (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))) {
        s->fallback(r, s->fallback_ud);
        if (!r->answered)
            http_respond_error(r, 500, "internal_error",
                               "the fallback handler gave no response");
        return;
    }
    if (rc == 404) {
        http_respond_error(r, 404, "route_not_found", "no route for %s %s",
                           r->method, r->path);
        return;
    }
    if (rc == 405) {
        http_response_header(r, MHD_HTTP_HEADER_ALLOW, r->match.allow);
        http_respond_error(r, 405, "method_not_allowed",
                           "%s is not allowed on %s (allowed: %s)", r->method,
                           r->path, r->match.allow);
        return;
    }
    if (rc != 200) {
        http_respond_error(r, 500, "internal_error", "out of memory");
        return;
    }
    r->match.route->handler(r, r->match.route->ud);
    if (!r->answered)
        http_respond_error(r, 500, "internal_error",
                           "the handler for %s gave no response",
                           r->match.route->pattern);
}

static void inflight_add(http_server *s, int d) {
    pthread_mutex_lock(&s->mu);
    s->inflight += d;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
    (void)version;
    http_server *s = cls;
    http_request *r = *req_cls;
    if (!r) {
        r = request_new(s, c, url, method);
        if (!r) return MHD_NO;
        *req_cls = r;
        inflight_add(s, 1);
        if (atomic_load(&s->stopping)) {
            http_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
            http_respond_error(r, 503, "shutting_down",
                               "the server is shutting down");
        } else if (declared_too_large(r)) {
            respond_too_large(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        bool keep = r->answered || body_append(r, upload, *upload_size);
        *upload_size = 0;
        return keep ? MHD_YES : MHD_NO;
    }
    if (r->answered) return MHD_YES;
    if (r->too_large)
        respond_too_large(r);
    else
        dispatch(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    http_server *s = cls;
    http_request *r = *req_cls;
    if (!r) return;
    *req_cls = NULL;
    if (s->cfg.observer)
        s->cfg.observer(s->cfg.observer_ud, r->method, http_request_route(r),
                        r->answered ? r->status : 0, seconds_since(&r->t0));
    request_free(r);
    inflight_add(s, -1);
}

static void on_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* --------------------------------------------------------------- server */

http_server *http_server_new(const http_config *cfg, char *err, size_t errlen) {
    http_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if (strlen(host) >= sizeof(s->host)) {
        snprintf(err, errlen, "host name too long: %s", host);
        free(s);
        return NULL;
    }
    strcpy(s->host, host);
    s->cfg.host = s->host;
    if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = 1u << 20;
    if (!s->cfg.max_connections) s->cfg.max_connections = 512;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

int http_server_route(http_server *s, const char *method, const char *pattern,
                      http_handler handler, void *ud) {
    if (s->daemon) return -1; /* the router is read without a lock */
    return http_router_add(&s->router, method, pattern, handler, ud);
}

int http_server_fallback(http_server *s, http_handler handler, void *ud) {
    if (s->daemon) return -1; /* read without a lock, like the router */
    s->fallback = handler;
    s->fallback_ud = ud;
    return 0;
}

int http_server_start(http_server *s, char *err, size_t errlen) {
    if (s->daemon) {
        snprintf(err, errlen, "server already started");
        return -1;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_ALLOW_UPGRADE | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, s->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(s->cfg.port);
    } else if (inet_pton(AF_INET6, s->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(s->cfg.port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "not a numeric IPv4 or IPv6 address: %s",
                 s->host);
        return -1;
    }
    atomic_store(&s->stopping, false);
    /* The logger option goes first so that MHD's own start-up messages
     * go through it too. */
    // clang-format off
    s->daemon = MHD_start_daemon(
        flags, s->cfg.port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->cfg.idle_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->cfg.max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    // clang-format on
    if (!s->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%u (in use?)", s->host,
                 (unsigned)s->cfg.port);
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return 0;
}

uint16_t http_server_port(const http_server *s) {
    return s->port;
}

bool http_server_stopping(const http_server *s) {
    return atomic_load(&((http_server *)s)->stopping);
}

/* Waits until no request is in flight or the deadline (CLOCK_REALTIME, as
 * pthread_cond_timedwait wants) passes. Returns whether all finished. */
static bool wait_idle(http_server *s, unsigned ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) break;
    bool idle = s->inflight == 0;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

void http_server_stop(http_server *s, unsigned deadline_ms) {
    if (!s->daemon) return;
    atomic_store(&s->stopping, true);
    /* Close the door first: the listening socket stays open (MHD owns it
     * until MHD_stop_daemon) but is no longer polled. */
    MHD_socket listen_fd = MHD_quiesce_daemon(s->daemon);
    if (!wait_idle(s, deadline_ms)) {
        /* Past the deadline: break the sockets of WebSocket sessions so
         * that their blocking reads and writes fail and the handlers
         * return; shutdown() (not close) leaves the descriptor to MHD. */
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < s->n_ws; i++) shutdown(s->ws_fds[i], SHUT_RDWR);
        pthread_mutex_unlock(&s->mu);
        wait_idle(s, WS_BREAK_GRACE_MS);
    }
    MHD_stop_daemon(s->daemon);
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    s->daemon = NULL;
}

void http_server_free(http_server *s) {
    if (!s) return;
    http_server_stop(s, 0);
    http_router_free(&s->router);
    free(s->ws_fds);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void http_server_ws_register(http_server *s, int fd) {
    pthread_mutex_lock(&s->mu);
    if (s->n_ws == s->cap_ws) {
        int cap = s->cap_ws ? s->cap_ws * 2 : 16;
        int *f = realloc(s->ws_fds, (size_t)cap * sizeof(int));
        if (f) {
            s->ws_fds = f;
            s->cap_ws = cap;
        }
    }
    /* Without memory the session is just not breakable at stop time. */
    if (s->n_ws < s->cap_ws) s->ws_fds[s->n_ws++] = fd;
    pthread_mutex_unlock(&s->mu);
}

void http_server_ws_unregister(http_server *s, int fd) {
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n_ws; i++) {
        if (s->ws_fds[i] == fd) {
            s->ws_fds[i] = s->ws_fds[--s->n_ws];
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

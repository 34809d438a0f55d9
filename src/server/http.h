/*
 * HTTP/1.1 server: a thin layer over GNU libmicrohttpd (MHD) in
 * thread-per-connection mode, with a router, request body accumulation under
 * a size limit, JSON responses and graceful shutdown.
 *
 * Threads: every connection has its own thread, and a handler runs on it. A
 * handler may block (a streaming response waits on a bounded channel, a
 * WebSocket session runs to its end), which costs only that connection.
 * Nothing here is global: the http_server is passed everywhere, so several
 * servers can run in one process.
 *
 * Lifecycle: http_server_new -> http_server_route (all routes, before
 * start) -> http_server_start -> ... -> http_server_stop -> http_server_free.
 *
 * Error shape of the native API (every error this layer sends, and the one
 * that handlers should send through http_respond_error):
 *
 *   {"error": {"message": "request body exceeds 1048576 bytes",
 *              "type": "invalid_request_error",
 *              "code": "body_too_large"}}
 *
 *   message  a sentence for people; may change between versions.
 *   type     the class of error, fixed by the HTTP status (http_error_type):
 *            400/404/405/409/413/415/422 invalid_request_error,
 *            401 authentication_error, 403 permission_error,
 *            429 rate_limit_error, 503 unavailable_error, other 5xx
 *            server_error. The names follow OpenAI's so that one client
 *            parser serves both APIs.
 *   code     a stable snake_case identifier for programs, e.g.
 *            route_not_found, method_not_allowed, body_too_large,
 *            invalid_json, shutting_down, internal_error.
 */
#ifndef LC_SERVER_HTTP_H
#define LC_SERVER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct MHD_Connection;
struct MHD_Response;

typedef struct http_server http_server;
typedef struct http_request http_request;

/* A route handler. It must answer the request exactly once (http_respond*,
 * sse_respond, ws_accept, ...); a handler that returns without answering
 * gets a 500 internal_error sent for it. */
typedef void (*http_handler)(http_request *req, void *ud);

/* Called once per finished request (also for 404/405/413 answered by the
 * server itself): for metrics and access logs. route is the matched pattern
 * ("/api/sessions/:user_id"), or NULL when no route matched, so that metric
 * labels stay bounded. status is 0 when no response was sent (the client
 * went away first). Runs on the connection thread. */
typedef void (*http_observer)(void *ud, const char *method, const char *route,
                              int status, double seconds);

typedef struct http_config {
    const char *host;         /* address to bind, default "127.0.0.1" */
    uint16_t port;            /* 0: an ephemeral port (http_server_port) */
    size_t max_body_bytes;    /* larger bodies get 413, default 1 MiB */
    unsigned idle_timeout_s;  /* close a connection idle this long, 60 */
    unsigned max_connections; /* concurrent connections, default 512 */
    http_observer observer;   /* optional */
    void *observer_ud;
} http_config;

void http_config_default(http_config *cfg);

/* NULL on error, with a message in err. */
http_server *http_server_new(const http_config *cfg, char *err, size_t errlen);

/* Adds a route. method is "GET", "POST", ... (HEAD is served by GET routes).
 * pattern is a path whose segments may be ":name" (one segment, captured)
 * or, as the last segment only, "*name" (the rest of the path, possibly
 * empty). Literal segments win over ":" which win over "*", whatever the
 * order of registration. Returns 0, or -1 when the pattern is malformed or
 * the server already started. */
int http_server_route(http_server *s, const char *method, const char *pattern,
                      http_handler handler, void *ud);

/* The handler of GET and HEAD requests whose path no route matches (the
 * web UI's static files, routes_static.c); without one they get 404
 * route_not_found. A path that some route matches for another method still
 * gets 405. Returns 0, or -1 when the server already started. */
int http_server_fallback(http_server *s, http_handler handler, void *ud);

/* Binds and starts accepting. Returns 0, or -1 with a message in err. */
int http_server_start(http_server *s, char *err, size_t errlen);

/* The bound port (useful after asking for port 0). */
uint16_t http_server_port(const http_server *s);

/* True once http_server_stop has begun. Long-running handlers (stream
 * producers, WebSocket sessions) poll this to end their work in time. */
bool http_server_stopping(const http_server *s);

/* Graceful shutdown: stops accepting connections, answers new requests on
 * open keep-alive connections with 503 shutting_down, waits up to
 * deadline_ms for in-flight requests to finish, then breaks the sockets of
 * WebSocket sessions still open and closes everything. A stream producer
 * that blocks must check http_server_stopping() at least every second or so,
 * or stop waits for it. Returns when every connection thread has ended. */
void http_server_stop(http_server *s, unsigned deadline_ms);

/* Stops the server if running, and frees it. */
void http_server_free(http_server *s);

/* ------------------------------------------------------------ requests */

http_server *http_request_server(const http_request *r);
const char *http_request_method(const http_request *r);
/* The decoded path, without the query string. */
const char *http_request_path(const http_request *r);
/* The matched route pattern. */
const char *http_request_route(const http_request *r);
/* A ":name" or "*name" capture of the route; NULL if absent. */
const char *http_request_param(const http_request *r, const char *name);
/* A decoded query-string argument; NULL if absent. */
const char *http_request_query(const http_request *r, const char *name);
/* A request header (case-insensitive name); NULL if absent. */
const char *http_request_header(const http_request *r, const char *name);
/* The body, NUL-terminated (the NUL is not counted in *len). Never NULL. */
const char *http_request_body(const http_request *r, size_t *len);

/* Parses the body as one JSON object. On failure answers 400 (invalid_json,
 * with jansson's line/column) and returns NULL. */
json_t *http_request_json(http_request *r);

/* A slot for the application (e.g. the authenticated user); not freed. */
void http_request_set_user(http_request *r, void *user);
void *http_request_user(const http_request *r);

/* ----------------------------------------------------------- responses */

/* Adds a header to the response that this request will get (e.g.
 * Retry-After, WWW-Authenticate). Call before responding. */
int http_response_header(http_request *r, const char *name, const char *value);

/* Answers with a copy of body. Returns 0, or -1 if already answered or
 * MHD refused. */
int http_respond(http_request *r, int status, const char *content_type,
                 const void *body, size_t len);

/* Answers with compact JSON. Takes the reference to body (also on error). */
int http_respond_json(http_request *r, int status, json_t *body);

/* Answers with the error shape above; message is printf-formatted. */
int http_respond_error(http_request *r, int status, const char *code,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The "type" of the error shape for an HTTP status. */
const char *http_error_type(int status);

/* The error shape as a JSON object, for APIs that embed it elsewhere. */
json_t *http_error_json(int status, const char *code, const char *message);

/* True when the client has closed its end of the connection (or it broke)
 * while its request is being handled. A handler that works for a long time
 * before answering (a non-streaming generation) polls it to stop early.
 * Pipelined bytes of a next request do not count as closed. */
bool http_request_client_gone(const http_request *r);

/* --------------------------------------- for sse.c and ws.c (this layer) */

/* Queues an MHD response (adding the headers set with http_response_header)
 * and marks the request answered. Does not destroy resp. */
int http_request_queue(http_request *r, int status, struct MHD_Response *resp);
struct MHD_Connection *http_request_connection(const http_request *r);
bool http_request_answered(const http_request *r);

/* One slot for this layer's own per-request state (ws.c keeps its
 * handler there): free_fn(p) runs when the request is freed. */
void http_request_attach(http_request *r, void *p, void (*free_fn)(void *));
void *http_request_attachment(const http_request *r);

/* WebSocket sessions register their socket so that a stop past its deadline
 * can break their blocking reads and writes. */
void http_server_ws_register(http_server *s, int fd);
void http_server_ws_unregister(http_server *s, int fd);

#endif

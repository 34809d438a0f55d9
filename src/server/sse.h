/*
 * Streaming responses: HTTP/1.1 chunked bodies whose data comes from a
 * producer callback, for Server-Sent Events ("data: ...\n\n") and NDJSON
 * (one JSON object per line).
 *
 * Pull model. MHD calls the producer on the connection's thread whenever
 * the socket can take more; the producer appends one or more events to the
 * buffer and returns. It may block until it has something (e.g. the next
 * token from a bounded channel): that stalls only this connection. Each
 * call's output goes to the client as its own chunk right away, so events
 * arrive as they are produced.
 *
 * A producer that waits must wake at least every second or so to check
 * http_server_stopping() (and end the stream), so that shutdown completes;
 * it may append an SSE comment (sse_comment) as a keep-alive.
 *
 * The close callback runs exactly once, on the connection thread, when the
 * stream ends: completed is true after the producer returned SSE_END and the
 * response went out, false when the client disconnected, the producer
 * failed, or the server stopped. It frees ctx, and it is how a generation
 * learns that its client is gone.
 */
#ifndef LC_SERVER_SSE_H
#define LC_SERVER_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "http.h"

typedef struct sse_buf {
    char *data; /* [cap] */
    size_t len, cap;
} sse_buf;

typedef enum sse_status {
    SSE_MORE = 0,   /* call me again */
    SSE_END = 1,    /* what I appended is the last; end the response */
    SSE_ERROR = -1, /* abort: the connection is cut without the final chunk */
} sse_status;

typedef sse_status (*sse_produce_fn)(void *ctx, sse_buf *out);
typedef void (*sse_close_fn)(void *ctx, bool completed);

/* Answers req with a streamed body of the given Content-Type. On failure
 * (already answered, no memory) returns -1 and calls close(ctx, false),
 * so ctx is always released by close. */
int sse_respond_stream(http_request *req, int status, const char *content_type,
                       sse_produce_fn produce, sse_close_fn close, void *ctx);

/* text/event-stream, with Cache-Control: no-cache so that proxies do not
 * hold events back. */
int sse_respond(http_request *req, sse_produce_fn produce, sse_close_fn close,
                void *ctx);

/* application/x-ndjson */
int ndjson_respond(http_request *req, sse_produce_fn produce,
                   sse_close_fn close, void *ctx);

/* Appends raw bytes. Returns 0, or -1 when out of memory. */
int sse_buf_append(sse_buf *b, const char *data, size_t len);

/* Appends one SSE event: "event: NAME\n" when name is non-NULL, then each
 * line of data as its own "data: " line (a newline in data cannot be sent
 * otherwise), then the blank line that ends the event. */
int sse_event(sse_buf *b, const char *name, const char *data, size_t len);

/* An SSE event whose data is compact JSON (one line by construction). */
int sse_event_json(sse_buf *b, const char *name, const json_t *j);

/* ": text\n\n", a comment that clients ignore: keeps proxies from timing out
 * an idle stream. */
int sse_comment(sse_buf *b, const char *text);

/* One NDJSON line: compact JSON and "\n". */
int ndjson_line(sse_buf *b, const json_t *j);

#endif

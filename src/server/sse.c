/*
 * Chunked streaming responses over MHD's content-reader callback. MHD asks
 * for at most `max` bytes at a time; the producer's output can be larger,
 * so it is kept in a buffer and handed out in pieces, and the producer is
 * called again only once the buffer is drained.
 */
#include "sse.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* MHD's buffer for one chunk. */
#define STREAM_BLOCK 4096

typedef struct stream {
    sse_produce_fn produce;
    sse_close_fn close;
    void *ctx;
    sse_buf buf;
    size_t sent; /* bytes of buf already given to MHD */
    bool ended;  /* the producer returned SSE_END */
    bool completed;
} stream;

int sse_buf_append(sse_buf *b, const char *data, size_t len) {
    if (len > ((size_t)-1) / 2 - b->len) return -1;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int sse_event(sse_buf *b, const char *name, const char *data, size_t len) {
    int rc = 0;
    if (name) {
        rc |= sse_buf_append(b, "event: ", 7);
        rc |= sse_buf_append(b, name, strlen(name));
        rc |= sse_buf_append(b, "\n", 1);
    }
    /* Split on \n, \r\n and \r: the three line ends of the SSE grammar. */
    size_t i = 0;
    do {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r') j++;
        rc |= sse_buf_append(b, "data: ", 6);
        rc |= sse_buf_append(b, data + i, j - i);
        rc |= sse_buf_append(b, "\n", 1);
        if (j < len && data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    } while (i <= len);
    rc |= sse_buf_append(b, "\n", 1);
    return rc ? -1 : 0;
}

int sse_event_json(sse_buf *b, const char *name, const json_t *j) {
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) return -1;
    int rc = sse_event(b, name, text, strlen(text));
    free(text);
    return rc;
}

int sse_comment(sse_buf *b, const char *text) {
    int rc = sse_buf_append(b, ": ", 2);
    for (const char *p = text; *p; p++)
        if (*p != '\n' && *p != '\r') rc |= sse_buf_append(b, p, 1);
    rc |= sse_buf_append(b, "\n\n", 2);
    return rc ? -1 : 0;
}

int ndjson_line(sse_buf *b, const json_t *j) {
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) return -1;
    int rc = sse_buf_append(b, text, strlen(text));
    free(text);
    rc |= sse_buf_append(b, "\n", 1);
    return rc ? -1 : 0;
}

/* MHD's content reader: fills buf[0..max) with the next bytes. Returning 0
 * would make MHD poll us again at once in this threading mode, so this
 * blocks in the producer until there is at least one byte, or the end. */
static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    while (st->sent == st->buf.len) {
        if (st->ended) {
            st->completed = true;
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        st->buf.len = 0;
        st->sent = 0;
        sse_status rc = st->produce(st->ctx, &st->buf);
        if (rc == SSE_ERROR) return MHD_CONTENT_READER_END_WITH_ERROR;
        if (rc == SSE_END) st->ended = true;
    }
    size_t n = st->buf.len - st->sent;
    if (n > max) n = max;
    memcpy(buf, st->buf.data + st->sent, n);
    st->sent += n;
    return (ssize_t)n;
}

static void free_cb(void *cls) {
    stream *st = cls;
    st->close(st->ctx, st->completed);
    free(st->buf.data);
    free(st);
}

int sse_respond_stream(http_request *req, int status, const char *content_type,
                       sse_produce_fn produce, sse_close_fn close, void *ctx) {
    stream *st = calloc(1, sizeof(*st));
    if (!st || http_request_answered(req)) {
        free(st);
        close(ctx, false);
        return -1;
    }
    st->produce = produce;
    st->close = close;
    st->ctx = ctx;
    /* MHD_SIZE_UNKNOWN makes the body chunked on HTTP/1.1 (and ended by
     * closing the connection on HTTP/1.0). From here MHD owns st: free_cb
     * runs when the response is destroyed. */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, read_cb, st, free_cb);
    if (!resp) {
        free(st);
        close(ctx, false);
        return -1;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    /* nginx buffers proxied responses unless told not to. */
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    int rc = http_request_queue(req, status, resp);
    MHD_destroy_response(resp); /* free_cb runs now if queueing failed */
    return rc;
}

int sse_respond(http_request *req, sse_produce_fn produce, sse_close_fn close,
                void *ctx) {
    return sse_respond_stream(req, 200, "text/event-stream; charset=utf-8",
                              produce, close, ctx);
}

int ndjson_respond(http_request *req, sse_produce_fn produce,
                   sse_close_fn close, void *ctx) {
    return sse_respond_stream(req, 200, "application/x-ndjson", produce, close,
                              ctx);
}

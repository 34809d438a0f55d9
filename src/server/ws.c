/*
 * WebSocket sessions: the opening handshake on an HTTP request, then frame
 * I/O on the socket that MHD hands over after the 101 response. Framing
 * rules live in ws_frame.c; this file does sockets, timeouts and the close
 * handshake.
 */
#include "ws.h"

#include <errno.h>
#include <microhttpd.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* RFC 6455 section 1.3: appended to the client's key before hashing. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* How often a blocked read wakes to check whether the server is stopping. */
#define POLL_SLICE_MS 100
/* A peer that takes no bytes for this long is treated as gone, so that a
 * stalled client cannot hold a sender forever. */
#define SEND_TIMEOUT_MS 30000
/* After our close frame, how long to wait for the peer's. */
#define CLOSE_WAIT_MS 1000
/* Bytes asked of recv() at a time. */
#define READ_BLOCK 4096

typedef struct accept_info {
    ws_handler handler;
    void *ud;
    size_t max_message;
} accept_info;

struct ws_conn {
    http_server *srv;
    http_request *req;
    int fd;
    size_t max_message;

    uint8_t *in; /* [in_cap] received bytes not yet consumed as frames */
    size_t in_len, in_cap;
    ws_assembler assembler;
    char *msg; /* [msg_cap] the last text message, NUL-terminated */
    size_t msg_cap;

    pthread_mutex_t send_mu; /* one frame on the wire at a time */
    bool close_sent;         /* guarded by send_mu */
    bool close_received;
    atomic_bool broken; /* the socket failed; nothing more can be said */
    uint16_t close_code;
};

/* ----------------------------------------------------------- handshake */

/* Whether a comma-separated header value holds token (case-insensitive),
 * e.g. "keep-alive, Upgrade" holds "upgrade". */
static bool has_token(const char *value, const char *token) {
    if (!value) return false;
    size_t tl = strlen(token);
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if ((size_t)(end - start) == tl && strncasecmp(start, token, tl) == 0)
            return true;
    }
    return false;
}

bool ws_is_upgrade_request(const http_request *req) {
    return has_token(http_request_header(req, MHD_HTTP_HEADER_UPGRADE),
                     "websocket");
}

/* The key must be base64 of 16 bytes (RFC 6455 section 4.1). */
static bool key_valid(const char *key) {
    size_t n = strlen(key);
    if (n != 24) return false;
    struct base64_decode_ctx ctx;
    uint8_t out[BASE64_DECODE_LENGTH(24)];
    size_t out_len = sizeof(out);
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &out_len, out, n, key)) return false;
    if (!base64_decode_final(&ctx)) return false;
    return out_len == 16;
}

/* accept = base64(SHA-1(key + GUID)), 28 characters + NUL. */
static void accept_value(const char *key, char out[29]) {
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha);
    sha1_update(&sha, strlen(key), (const uint8_t *)key);
    sha1_update(&sha, strlen(WS_GUID), (const uint8_t *)WS_GUID);
    sha1_digest(&sha, sizeof(digest), digest);
    base64_encode_raw(out, sizeof(digest), digest);
    out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls,
                       const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);

int ws_accept(http_request *req, size_t max_message, ws_handler handler,
              void *ud) {
    const char *key = http_request_header(req, "Sec-WebSocket-Key");
    const char *version = http_request_header(req, "Sec-WebSocket-Version");
    if (strcmp(http_request_method(req), "GET") != 0 ||
        !ws_is_upgrade_request(req) ||
        !has_token(http_request_header(req, MHD_HTTP_HEADER_CONNECTION),
                   "upgrade")) {
        http_respond_error(req, 400, "websocket_handshake",
                           "expected a WebSocket upgrade: GET with "
                           "Connection: Upgrade and Upgrade: websocket");
        return -1;
    }
    if (!version || strcmp(version, "13") != 0) {
        http_response_header(req, "Sec-WebSocket-Version", "13");
        http_respond_error(req, 426, "websocket_version",
                           "only WebSocket version 13 is supported");
        return -1;
    }
    if (!key || !key_valid(key)) {
        http_respond_error(req, 400, "websocket_handshake",
                           "Sec-WebSocket-Key must be base64 of 16 bytes");
        return -1;
    }
    accept_info *info = malloc(sizeof(*info));
    if (!info) {
        http_respond_error(req, 500, "internal_error", "out of memory");
        return -1;
    }
    info->handler = handler;
    info->ud = ud;
    info->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
    /* The request owns info, so it is freed even if the client leaves
     * before the upgrade happens. */
    http_request_attach(req, info, free);

    char accept[29];
    accept_value(key, accept);
    struct MHD_Response *resp =
        MHD_create_response_for_upgrade(on_upgrade, req);
    if (!resp) {
        http_respond_error(req, 500, "internal_error", "out of memory");
        return -1;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    int rc = http_request_queue(req, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (rc != 0)
        http_respond_error(req, 500, "internal_error", "upgrade failed");
    return rc;
}

/* ------------------------------------------------------------- sending */

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes all of buf, waiting for the socket as needed. Called with
 * send_mu held. */
static int send_all(ws_conn *ws, const uint8_t *buf, size_t len) {
    long long deadline = now_ms() + SEND_TIMEOUT_MS;
    while (len > 0) {
        ssize_t n = send(ws->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long long left = deadline - now_ms();
            struct pollfd p = {.fd = ws->fd, .events = POLLOUT};
            if (left > 0 && poll(&p, 1, (int)left) >= 0) continue;
        }
        ws->broken = true;
        return -1;
    }
    return 0;
}

/* One unfragmented frame. A close frame marks the session as closing;
 * nothing is sent after it. */
static int send_frame(ws_conn *ws, uint8_t opcode, const void *payload,
                      size_t len) {
    uint8_t hdr[WS_FRAME_HEADER_MAX];
    size_t hl = ws_frame_header_write(hdr, true, opcode, NULL, len);
    pthread_mutex_lock(&ws->send_mu);
    int rc = -1;
    if (!ws->broken && !ws->close_sent) {
        rc = send_all(ws, hdr, hl);
        if (rc == 0 && len) rc = send_all(ws, payload, len);
        if (opcode == WS_OP_CLOSE) ws->close_sent = true;
    }
    pthread_mutex_unlock(&ws->send_mu);
    return rc;
}

int ws_send_text(ws_conn *ws, const char *text, size_t len) {
    return send_frame(ws, WS_OP_TEXT, text, len);
}

int ws_send_json(ws_conn *ws, const json_t *j) {
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text) return -1;
    int rc = ws_send_text(ws, text, strlen(text));
    free(text);
    return rc;
}

void ws_close(ws_conn *ws, uint16_t code, const char *reason) {
    /* A close payload is the code and a reason within the 125-byte
     * control-frame limit. */
    uint8_t payload[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123) rl = 123;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (rl) memcpy(payload + 2, reason, rl);
    send_frame(ws, WS_OP_CLOSE, payload, 2 + rl);
    pthread_mutex_lock(&ws->send_mu);
    if (!ws->close_code) ws->close_code = code;
    pthread_mutex_unlock(&ws->send_mu);
}

uint16_t ws_close_code(const ws_conn *ws) {
    pthread_mutex_lock(&((ws_conn *)ws)->send_mu);
    uint16_t code = ws->close_code;
    pthread_mutex_unlock(&((ws_conn *)ws)->send_mu);
    return code;
}

http_request *ws_request(const ws_conn *ws) {
    return ws->req;
}

/* ----------------------------------------------------------- receiving */

/* Reads what the socket has, waiting at most wait_ms. Returns 1 when bytes
 * arrived, 0 on timeout, -1 when the connection is gone. */
static int fill(ws_conn *ws, int wait_ms) {
    if (ws->in_cap - ws->in_len < READ_BLOCK) {
        size_t cap = ws->in_cap ? ws->in_cap * 2 : 2 * READ_BLOCK;
        while (cap - ws->in_len < READ_BLOCK) cap *= 2;
        uint8_t *b = realloc(ws->in, cap);
        if (!b) return -1;
        ws->in = b;
        ws->in_cap = cap;
    }
    struct pollfd p = {.fd = ws->fd, .events = POLLIN};
    int pr = poll(&p, 1, wait_ms);
    if (pr < 0) return errno == EINTR ? 0 : -1;
    if (pr == 0) return 0;
    ssize_t n = recv(ws->fd, ws->in + ws->in_len, ws->in_cap - ws->in_len,
                     MSG_DONTWAIT);
    if (n > 0) {
        ws->in_len += (size_t)n;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return -1;
}

static void consume(ws_conn *ws, size_t n) {
    memmove(ws->in, ws->in + n, ws->in_len - n);
    ws->in_len -= n;
}

static void mark_broken(ws_conn *ws) {
    pthread_mutex_lock(&ws->send_mu);
    ws->broken = true;
    if (!ws->close_code) ws->close_code = WS_CLOSE_ABNORMAL;
    pthread_mutex_unlock(&ws->send_mu);
}

/* A violation: tell the peer why, and end the session. */
static ws_status fail(ws_conn *ws, uint16_t code, const char *reason) {
    ws_close(ws, code, reason);
    ws->in_len = 0;
    return WS_CLOSED;
}

static const char *reason_for(uint16_t code) {
    switch (code) {
    case WS_CLOSE_INVALID_DATA:
        return "text message is not valid UTF-8";
    case WS_CLOSE_TOO_BIG:
        return "message too big";
    case WS_CLOSE_UNSUPPORTED:
        return "binary messages are not supported";
    default:
        return "protocol error";
    }
}

static bool closing(ws_conn *ws) {
    pthread_mutex_lock(&ws->send_mu);
    bool c = ws->close_sent;
    pthread_mutex_unlock(&ws->send_mu);
    return c;
}

/* Handles one complete frame at the start of ws->in. Returns WS_OK with
 * *msg set for a text message, WS_CLOSED when the session ended, or
 * WS_TIMEOUT to mean "nothing for the caller yet". */
static ws_status take_frame(ws_conn *ws, const ws_frame_header *h,
                            const char **msg, size_t *len) {
    uint8_t *payload = ws->in + h->header_len;
    size_t plen = (size_t)h->payload_len;
    ws_mask_apply(payload, plen, h->mask, 0);
    ws_event ev;
    ws_assembler_frame(&ws->assembler, h, payload, &ev);
    ws_status rc = WS_TIMEOUT;
    switch (ev.kind) {
    case WS_EV_NONE:
    case WS_EV_PONG:
        break;
    case WS_EV_PING:
        send_frame(ws, WS_OP_PONG, ev.data, ev.len);
        break;
    case WS_EV_BINARY:
        if (!closing(ws)) return fail(ws, WS_CLOSE_UNSUPPORTED, NULL);
        break;
    case WS_EV_TEXT:
        if (closing(ws)) break; /* after our close, data is dropped */
        if (ev.len + 1 > ws->msg_cap) {
            char *m = realloc(ws->msg, ev.len + 1);
            if (!m) return fail(ws, WS_CLOSE_INTERNAL, "out of memory");
            ws->msg = m;
            ws->msg_cap = ev.len + 1;
        }
        memcpy(ws->msg, ev.data, ev.len);
        ws->msg[ev.len] = '\0';
        *msg = ws->msg;
        *len = ev.len;
        rc = WS_OK;
        break;
    case WS_EV_CLOSE:
        ws->close_received = true;
        if (ev.close_code == WS_CLOSE_NO_STATUS)
            send_frame(ws, WS_OP_CLOSE, NULL, 0);
        else
            ws_close(ws, ev.close_code, NULL); /* echo the code */
        pthread_mutex_lock(&ws->send_mu);
        ws->close_code = ev.close_code;
        pthread_mutex_unlock(&ws->send_mu);
        rc = WS_CLOSED;
        break;
    case WS_EV_ERROR:
        return fail(ws, ev.close_code, reason_for(ev.close_code));
    }
    consume(ws, h->header_len + plen);
    return rc;
}

ws_status ws_recv_text(ws_conn *ws, int timeout_ms, const char **msg,
                       size_t *len) {
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        if (ws->close_received || ws->broken) return WS_CLOSED;
        ws_frame_header h;
        int pr = ws_frame_parse_header(ws->in, ws->in_len, true,
                                       ws->max_message, &h);
        if (pr < 0) return fail(ws, (uint16_t)-pr, reason_for((uint16_t)-pr));
        if (pr == 1 && ws->in_len - h.header_len >= h.payload_len) {
            ws_status rc = take_frame(ws, &h, msg, len);
            if (rc != WS_TIMEOUT) return rc;
            continue;
        }
        /* Between messages, a stopping server says goodbye (1001); a
         * half-received message is let finish. */
        if (http_server_stopping(ws->srv) && ws->in_len == 0 &&
            ws->assembler.opcode == 0 && !closing(ws)) {
            ws_close(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
            return WS_CLOSED;
        }
        int wait = POLL_SLICE_MS;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0) return WS_TIMEOUT;
            if (left < wait) wait = (int)left;
        }
        int fr = fill(ws, wait);
        if (fr < 0) {
            mark_broken(ws);
            return WS_CLOSED;
        }
    }
}

/* ------------------------------------------------------------- session */

static void on_upgrade(void *cls, struct MHD_Connection *c, void *req_cls,
                       const char *extra_in, size_t extra_in_size,
                       MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
    (void)c;
    (void)req_cls;
    http_request *req = cls;
    accept_info *info = http_request_attachment(req);
    ws_conn *ws = calloc(1, sizeof(*ws));
    if (!ws) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    ws->srv = http_request_server(req);
    ws->req = req;
    ws->fd = sock;
    ws->max_message = info->max_message;
    ws_assembler_init(&ws->assembler, info->max_message);
    pthread_mutex_init(&ws->send_mu, NULL);
    /* Bytes that came in with the HTTP request, after its headers, are
     * already the first frames. */
    if (extra_in_size) {
        ws->in = malloc(extra_in_size);
        if (ws->in) {
            memcpy(ws->in, extra_in, extra_in_size);
            ws->in_len = ws->in_cap = extra_in_size;
        } else {
            ws->broken = true;
        }
    }
    http_server_ws_register(ws->srv, ws->fd);

    if (!ws->broken) info->handler(ws, req, info->ud);

    /* Closing handshake: say goodbye if the handler did not, then give the
     * peer a moment to answer so that it sees a clean close. */
    if (!closing(ws) && !ws->broken) ws_close(ws, WS_CLOSE_NORMAL, NULL);
    long long deadline = now_ms() + CLOSE_WAIT_MS;
    while (!ws->close_received && !ws->broken) {
        long long left = deadline - now_ms();
        const char *m;
        size_t n;
        if (left <= 0 || ws_recv_text(ws, (int)left, &m, &n) == WS_TIMEOUT)
            break;
    }
    http_server_ws_unregister(ws->srv, ws->fd);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);

    ws_assembler_free(&ws->assembler);
    pthread_mutex_destroy(&ws->send_mu);
    free(ws->in);
    free(ws->msg);
    free(ws);
}

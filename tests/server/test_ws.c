/*
 * WebSocket sessions through real sockets: the opening handshake, echo of
 * masked frames, fragmentation with control frames in between, ping/pong,
 * both closing handshakes, the close codes for invalid UTF-8 (1007), size
 * (1009), binary (1003) and framing errors (1002), and a graceful stop with
 * sessions open. The client here writes and reads frames by hand, without
 * the server's frame code, so the two are checked against each other.
 *
 * Also unit checks of the pure frame layer (ws_frame.h): UTF-8 validation
 * and header encoding limits.
 */
#include "testutil.h"
#include "util/utf8.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"
#include "server/ws.h"
#include "server/ws_frame.h"

#define MAX_MESSAGE 1024

/* ------------------------------------------------------------- server */

typedef struct fixture {
    http_server *srv;
    uint16_t port;
    atomic_int last_close;    /* ws_close_code when the echo handler ended */
    atomic_int handlers_done; /* echo sessions that returned */
} fixture;

/* Echoes every text message; "bye" makes the server close first. */
static void echo_session(ws_conn *ws, http_request *req, void *ud) {
    fixture *f = ud;
    assert_ptr_equal(ws_request(ws), req);
    const char *tag = http_request_param(req, "tag");
    for (;;) {
        const char *msg;
        size_t len;
        ws_status st = ws_recv_text(ws, -1, &msg, &len);
        if (st == WS_CLOSED) break;
        if (st != WS_OK) continue;
        assert_int_equal(strlen(msg), len);
        if (strcmp(msg, "bye") == 0) {
            ws_close(ws, WS_CLOSE_NORMAL, "bye to you");
            break;
        }
        if (strcmp(tag, "json") == 0) {
            json_t *j = json_pack("{s:s%}", "echo", msg, len);
            ws_send_json(ws, j);
            json_decref(j);
        } else {
            ws_send_text(ws, msg, len);
        }
    }
    atomic_store(&f->last_close, ws_close_code(ws));
    atomic_fetch_add(&f->handlers_done, 1);
}

static void h_ws(http_request *req, void *ud) {
    ws_accept(req, MAX_MESSAGE, echo_session, ud);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    http_config cfg;
    http_config_default(&cfg);
    char err[256];
    f->srv = http_server_new(&cfg, err, sizeof(err));
    assert_non_null(f->srv);
    assert_int_equal(http_server_route(f->srv, "GET", "/ws/:tag", h_ws, f), 0);
    if (http_server_start(f->srv, err, sizeof(err)) != 0) fail_msg("%s", err);
    f->port = http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    http_server_free(f->srv);
    free(f);
    return 0;
}

/* ------------------------------------------------------------- client */

typedef struct client {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    uint32_t mask_seed;
} client;

static client *client_connect(uint16_t port) {
    client *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    c->mask_seed = 0x9e3779b9u;
    return c;
}

static void client_close(client *c) {
    close(c->fd);
    free(c);
}

static void send_raw(client *c, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        b += w;
        n -= (size_t)w;
    }
}

static bool more(client *c) {
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n <= 0) return false;
    c->len += (size_t)n;
    return true;
}

static void consume(client *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Sends the opening handshake with the given extra header lines and
 * returns the response head (status line and headers) in head. */
static int handshake_raw(client *c, const char *path, const char *headers,
                         char *head, size_t headlen) {
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", path,
             headers);
    send_raw(c, req, strlen(req));
    for (;;) {
        uint8_t *p = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (p) {
            size_t n = (size_t)(p - c->buf) + 4;
            assert_true(n < headlen);
            memcpy(head, c->buf, n);
            head[n] = '\0';
            consume(c, n);
            break;
        }
        if (!more(c)) return -1;
    }
    int status = 0;
    sscanf(head, "HTTP/1.1 %d", &status);
    return status;
}

/* The RFC 6455 section 1.3 example key and its accept value. */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static client *ws_open(uint16_t port, const char *path) {
    client *c = client_connect(port);
    char head[2048];
    int status = handshake_raw(c, path,
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
                               "Sec-WebSocket-Version: 13\r\n",
                               head, sizeof(head));
    assert_int_equal(status, 101);
    return c;
}

/* Writes one client frame, masked unless masked is false. */
static void send_frame(client *c, bool fin, uint8_t opcode, const void *data,
                       size_t len, bool masked) {
    uint8_t hdr[14];
    size_t hl = 2;
    hdr[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t mbit = masked ? 0x80 : 0;
    if (len < 126) {
        hdr[1] = (uint8_t)(mbit | len);
    } else if (len < 65536) {
        hdr[1] = mbit | 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        hl = 4;
    } else {
        hdr[1] = mbit | 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    uint8_t key[4];
    c->mask_seed = c->mask_seed * 1664525u + 1013904223u;
    memcpy(key, &c->mask_seed, 4);
    if (masked) {
        memcpy(hdr + hl, key, 4);
        hl += 4;
    }
    uint8_t *frame = malloc(hl + len + 1);
    memcpy(frame, hdr, hl);
    const uint8_t *d = data;
    for (size_t i = 0; i < len; i++)
        frame[hl + i] = masked ? (uint8_t)(d[i] ^ key[i & 3]) : d[i];
    send_raw(c, frame, hl + len);
    free(frame);
}

static void send_text(client *c, const char *s) {
    send_frame(c, true, WS_OP_TEXT, s, strlen(s), true);
}

typedef struct frame {
    bool fin;
    int opcode; /* -1: the connection ended */
    uint8_t data[1 << 15];
    size_t len;
} frame;

/* Reads one server frame, parsing it here (servers never mask). */
static void read_frame(client *c, frame *fr) {
    fr->opcode = -1;
    fr->len = 0;
    while (c->len < 2)
        if (!more(c)) return;
    assert_int_equal(c->buf[1] & 0x80, 0); /* unmasked */
    size_t len = c->buf[1] & 0x7F, hl = 2;
    if (len == 126) {
        while (c->len < 4)
            if (!more(c)) return;
        len = ((size_t)c->buf[2] << 8) | c->buf[3];
        hl = 4;
    } else if (len == 127) {
        while (c->len < 10)
            if (!more(c)) return;
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | c->buf[2 + i];
        hl = 10;
    }
    assert_true(len < sizeof(fr->data));
    while (c->len < hl + len)
        if (!more(c)) return;
    fr->fin = (c->buf[0] & 0x80) != 0;
    fr->opcode = c->buf[0] & 0x0F;
    memcpy(fr->data, c->buf + hl, len);
    fr->data[len] = '\0';
    fr->len = len;
    consume(c, hl + len);
}

static int close_code_of(const frame *fr) {
    assert_int_equal(fr->opcode, WS_OP_CLOSE);
    if (fr->len < 2) return 1005;
    return (fr->data[0] << 8) | fr->data[1];
}

static void expect_text(client *c, const char *want) {
    frame *fr = malloc(sizeof(*fr));
    read_frame(c, fr);
    assert_int_equal(fr->opcode, WS_OP_TEXT);
    assert_true(fr->fin);
    assert_int_equal(fr->len, strlen(want));
    assert_memory_equal(fr->data, want, fr->len);
    free(fr);
}

/* Expects a close frame with code, then the end of the connection. */
static void expect_close(client *c, int code) {
    frame *fr = malloc(sizeof(*fr));
    read_frame(c, fr);
    assert_int_equal(close_code_of(fr), code);
    /* Answer it, as a client should; the server then drops the socket. */
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_frame(c, true, WS_OP_CLOSE, payload, 2, true);
    read_frame(c, fr);
    assert_int_equal(fr->opcode, -1);
    free(fr);
}

static void wait_handlers(fixture *f, int n) {
    for (int i = 0; i < 300 && atomic_load(&f->handlers_done) < n; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&f->handlers_done), n);
}

/* --------------------------------------------------------------- tests */

static void test_handshake(void **state) {
    fixture *f = *state;
    client *c = client_connect(f->port);
    char head[2048];
    int status = handshake_raw(c, "/ws/echo",
                               "Upgrade: websocket\r\n"
                               "Connection: keep-alive, Upgrade\r\n"
                               "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"
                               "Sec-WebSocket-Version: 13\r\n",
                               head, sizeof(head));
    assert_int_equal(status, 101);
    assert_non_null(strcasestr(head, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strcasestr(head, "\r\nConnection: Upgrade\r\n"));
    assert_non_null(strstr(head, "Sec-WebSocket-Accept: " SAMPLE_ACCEPT));
    client_close(c);

    struct {
        const char *headers;
        int status;
    } bad[] = {
        /* no Upgrade at all: a plain GET on a WebSocket route */
        {"", 400},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400}, /* no key */
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n",
         400}, /* key of 5 bytes */
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 8\r\n",
         426},
        {"Upgrade: websocket\r\n"
         "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Version: 13\r\n",
         400}, /* no Connection: upgrade */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = client_connect(f->port);
        status =
            handshake_raw(c, "/ws/echo", bad[i].headers, head, sizeof(head));
        assert_int_equal(status, bad[i].status);
        if (status == 426)
            assert_non_null(strstr(head, "Sec-WebSocket-Version: 13"));
        client_close(c);
    }
}

static void test_echo(void **state) {
    fixture *f = *state;
    int done = atomic_load(&f->handlers_done);
    client *c = ws_open(f->port, "/ws/echo");
    send_text(c, "hello");
    expect_text(c, "hello");
    send_text(c, "");
    expect_text(c, "");
    /* 16-bit length form, and UTF-8 text. */
    char big[600];
    for (size_t i = 0; i < sizeof(big) - 1; i++) big[i] = (char)('a' + i % 26);
    big[sizeof(big) - 1] = '\0';
    send_text(c, big);
    expect_text(c, big);
    send_text(c, "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80");
    expect_text(c, "gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80");
    /* Client-initiated close: the server echoes the code. */
    uint8_t payload[] = {0x03, 0xE8, 'o', 'k'}; /* 1000 "ok" */
    send_frame(c, true, WS_OP_CLOSE, payload, sizeof(payload), true);
    frame *fr = malloc(sizeof(*fr));
    read_frame(c, fr);
    assert_int_equal(close_code_of(fr), 1000);
    read_frame(c, fr);
    assert_int_equal(fr->opcode, -1);
    free(fr);
    client_close(c);
    wait_handlers(f, done + 1);
    assert_int_equal(atomic_load(&f->last_close), 1000);

    /* JSON replies, and several messages written at once. */
    c = ws_open(f->port, "/ws/json");
    send_text(c, "a");
    send_text(c, "b\"c");
    expect_text(c, "{\"echo\":\"a\"}");
    expect_text(c, "{\"echo\":\"b\\\"c\"}");
    client_close(c); /* no close frame: the server sees 1006 */
    wait_handlers(f, done + 2);
    assert_int_equal(atomic_load(&f->last_close), WS_CLOSE_ABNORMAL);
}

static void test_fragments_and_ping(void **state) {
    fixture *f = *state;
    client *c = ws_open(f->port, "/ws/echo");
    frame *fr = malloc(sizeof(*fr));
    /* Ping alone: pong with the same payload. */
    send_frame(c, true, WS_OP_PING, "abc", 3, true);
    read_frame(c, fr);
    assert_int_equal(fr->opcode, WS_OP_PONG);
    assert_int_equal(fr->len, 3);
    assert_memory_equal(fr->data, "abc", 3);
    /* An unsolicited pong is ignored. */
    send_frame(c, true, WS_OP_PONG, "x", 1, true);

    /* A message in three fragments with a ping between them; a code point
     * is split across fragments, which must not count as invalid. */
    send_frame(c, false, WS_OP_TEXT, "Hel", 3, true);
    send_frame(c, true, WS_OP_PING, "mid", 3, true);
    send_frame(c, false, WS_OP_CONT, "lo w\xc3", 5, true);
    send_frame(c, true, WS_OP_CONT, "\xa9rld", 4, true);
    read_frame(c, fr);
    assert_int_equal(fr->opcode, WS_OP_PONG); /* answered mid-message */
    assert_memory_equal(fr->data, "mid", 3);
    expect_text(c, "Hello w\xc3\xa9rld");

    /* Server-initiated close. */
    send_text(c, "bye");
    read_frame(c, fr);
    assert_int_equal(close_code_of(fr), 1000);
    assert_memory_equal(fr->data + 2, "bye to you", 10);
    send_frame(c, true, WS_OP_CLOSE, fr->data, 2, true);
    read_frame(c, fr);
    assert_int_equal(fr->opcode, -1);
    free(fr);
    client_close(c);
}

static void test_invalid_utf8(void **state) {
    fixture *f = *state;
    const char *bad[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong "/" */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ok\xe2\x82",       /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int done = atomic_load(&f->handlers_done);
        client *c = ws_open(f->port, "/ws/echo");
        send_text(c, bad[i]);
        expect_close(c, WS_CLOSE_INVALID_DATA);
        client_close(c);
        wait_handlers(f, done + 1);
        assert_int_equal(atomic_load(&f->last_close), WS_CLOSE_INVALID_DATA);
    }
    /* Also when the bad byte arrives in a later fragment. */
    client *c = ws_open(f->port, "/ws/echo");
    send_frame(c, false, WS_OP_TEXT, "fine", 4, true);
    send_frame(c, true, WS_OP_CONT, "\xfe", 1, true);
    expect_close(c, WS_CLOSE_INVALID_DATA);
    client_close(c);
}

static void test_too_big(void **state) {
    fixture *f = *state;
    static char big[MAX_MESSAGE + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    /* One frame over the limit: refused from its header. */
    client *c = ws_open(f->port, "/ws/echo");
    send_text(c, big);
    expect_close(c, WS_CLOSE_TOO_BIG);
    client_close(c);

    /* Fragments that add up to more than the limit. */
    c = ws_open(f->port, "/ws/echo");
    send_frame(c, false, WS_OP_TEXT, big, 600, true);
    send_frame(c, true, WS_OP_CONT, big, 600, true);
    expect_close(c, WS_CLOSE_TOO_BIG);
    client_close(c);

    /* Exactly the limit is fine. */
    c = ws_open(f->port, "/ws/echo");
    big[MAX_MESSAGE] = '\0';
    send_text(c, big);
    expect_text(c, big);
    client_close(c);
}

static void test_protocol_errors(void **state) {
    fixture *f = *state;
    struct {
        bool fin;
        uint8_t op;
        bool masked;
        int code;
    } cases[] = {
        {true, WS_OP_TEXT, false, WS_CLOSE_PROTOCOL}, /* unmasked */
        {true, WS_OP_CONT, true, WS_CLOSE_PROTOCOL},  /* nothing to continue */
        {true, 0x3, true, WS_CLOSE_PROTOCOL},         /* reserved opcode */
        {false, WS_OP_PING, true, WS_CLOSE_PROTOCOL}, /* fragmented control */
        {true, WS_OP_BINARY, true, WS_CLOSE_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        client *c = ws_open(f->port, "/ws/echo");
        send_frame(c, cases[i].fin, cases[i].op, "data", 4, cases[i].masked);
        expect_close(c, cases[i].code);
        client_close(c);
    }
    /* A new message while one is open. */
    client *c = ws_open(f->port, "/ws/echo");
    send_frame(c, false, WS_OP_TEXT, "a", 1, true);
    send_frame(c, true, WS_OP_TEXT, "b", 1, true);
    expect_close(c, WS_CLOSE_PROTOCOL);
    client_close(c);
    /* Reserved bits set. */
    c = ws_open(f->port, "/ws/echo");
    uint8_t rsv[] = {0xC1, 0x80, 0, 0, 0, 0};
    send_raw(c, rsv, sizeof(rsv));
    expect_close(c, WS_CLOSE_PROTOCOL);
    client_close(c);
    /* A close frame with a 1-byte payload, and one with a reserved code. */
    c = ws_open(f->port, "/ws/echo");
    send_frame(c, true, WS_OP_CLOSE, "\x03", 1, true);
    expect_close(c, WS_CLOSE_PROTOCOL);
    client_close(c);
    c = ws_open(f->port, "/ws/echo");
    send_frame(c, true, WS_OP_CLOSE, "\x03\xed", 2, true); /* 1005 */
    expect_close(c, WS_CLOSE_PROTOCOL);
    client_close(c);
}

static void test_frame_unit(void **state) {
    (void)state;
    assert_true(lc_utf8_valid("", 0, NULL));
    assert_true(lc_utf8_valid("\xef\xbf\xbf", 3, NULL));
    assert_true(lc_utf8_valid("\xf4\x8f\xbf\xbf", 4, NULL));
    assert_false(lc_utf8_valid("\xe0\x9f\xbf", 3, NULL));
    assert_false(lc_utf8_valid("\x80", 1, NULL));
    assert_false(lc_utf8_valid("\xf5\x80\x80\x80", 4, NULL));

    /* Round trip of headers at each length form's edges. */
    const uint64_t lens[] = {0, 125, 126, 65535, 65536, 1u << 30};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t buf[WS_FRAME_HEADER_MAX];
        const uint8_t mask[4] = {1, 2, 3, 4};
        size_t n = ws_frame_header_write(buf, true, WS_OP_TEXT, mask, lens[i]);
        ws_frame_header h;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(ws_frame_parse_header(buf, k, true, ~0ull, &h), 0);
        assert_int_equal(ws_frame_parse_header(buf, n, true, ~0ull, &h), 1);
        assert_int_equal(h.header_len, n);
        assert_int_equal(h.payload_len, lens[i]);
        assert_memory_equal(h.mask, mask, 4);
        assert_int_equal(
            ws_frame_parse_header(buf, n, true, lens[i] ? lens[i] - 1 : 0, &h),
            lens[i] ? -WS_CLOSE_TOO_BIG : 1);
    }
    /* Non-minimal length encodings are refused. */
    uint8_t nm[] = {0x81, 0xFE, 0x00, 0x05, 1, 2, 3, 4};
    ws_frame_header h;
    assert_int_equal(ws_frame_parse_header(nm, sizeof(nm), true, 100, &h),
                     -WS_CLOSE_PROTOCOL);
    uint8_t huge[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse_header(huge, sizeof(huge), true, ~0ull, &h),
                     -WS_CLOSE_PROTOCOL);
}

/* ---------------------------------------------------- graceful shutdown */

typedef struct stop_call {
    http_server *srv;
    atomic_bool done;
} stop_call;

static void *stopper(void *arg) {
    stop_call *st = arg;
    http_server_stop(st->srv, 500);
    atomic_store(&st->done, true);
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_stop_with_sessions(void **state) {
    fixture *f = *state;
    /* An idle session, and one stuck in the middle of a message (its
     * handler cannot leave ws_recv_text by itself). */
    client *idle = ws_open(f->port, "/ws/echo");
    client *stuck = ws_open(f->port, "/ws/echo");
    send_text(idle, "ping?");
    expect_text(idle, "ping?");
    send_frame(stuck, false, WS_OP_TEXT, "half", 4, true);

    double t0 = now_s();
    stop_call st = {.srv = f->srv};
    pthread_t t;
    pthread_create(&t, NULL, stopper, &st);
    /* The idle one is told "going away". */
    expect_close(idle, WS_CLOSE_GOING_AWAY);
    /* The stuck one is cut once the 500 ms deadline passes. */
    frame *fr = malloc(sizeof(*fr));
    read_frame(stuck, fr);
    assert_int_equal(fr->opcode, -1);
    free(fr);
    pthread_join(t, NULL);
    double took = now_s() - t0;
    print_message("stop took %.2f s\n", took);
    assert_true(took >= 0.4 && took < 4.0);
    client_close(idle);
    client_close(stuck);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_unit),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_fragments_and_ping),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_stop_with_sessions), /* last: stops the server */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

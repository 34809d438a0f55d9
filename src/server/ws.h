/*
 * WebSocket (RFC 6455) server sessions on MHD's "upgrade" API, with a
 * blocking API for the connection's own thread.
 *
 * A route handler that wants a WebSocket checks the request (auth, path
 * params) and calls ws_accept(). After the 101 response is sent, the
 * ws_handler runs on the same connection thread with the whole session in
 * front of it: it loops on ws_recv_text and answers with ws_send_text.
 * When it returns, the session is closed (close 1000 if nothing else was
 * said) and the socket goes back to MHD.
 *
 * Handshake hash: Sec-WebSocket-Accept is base64(SHA-1(key + GUID)). SHA-1
 * and base64 come from GNU Nettle (Debian nettle-dev), which every Debian
 * system carries as GnuTLS's crypto layer: libsodium, our other crypto
 * library, has no SHA-1, and a hand-written SHA-1 would be more code to
 * review for no gain.
 *
 * Threads: ws_send_text, ws_send_json and ws_close may be called from any
 * thread (sends are serialised by a mutex, so frames never interleave);
 * ws_recv_text only from the handler's thread.
 *
 * Limits and errors, answered with a close frame before returning WS_CLOSED:
 * a text message that is not UTF-8 -> 1007; a message longer than
 * max_message -> 1009; a binary message -> 1003 (this API speaks text);
 * any framing violation (unmasked client frame, bad opcode, reserved bits,
 * interleaved fragments, bad close payload) -> 1002. Pings are answered with
 * pongs inside ws_recv_text.
 */
#ifndef LC_SERVER_WS_H
#define LC_SERVER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "ws_frame.h"

typedef struct ws_conn ws_conn;

/* Runs the session; req stays valid (params, headers, user) until it
 * returns. */
typedef void (*ws_handler)(ws_conn *ws, http_request *req, void *ud);

/* Default largest message accepted from a client. */
#define WS_DEFAULT_MAX_MESSAGE (1u << 20)

/* True when req asks for a WebSocket upgrade (Upgrade: websocket). */
bool ws_is_upgrade_request(const http_request *req);

/* Validates the handshake (GET, Connection: upgrade, Upgrade: websocket,
 * Sec-WebSocket-Version: 13, a 16-byte base64 Sec-WebSocket-Key) and answers
 * 101; handler then runs on this connection. A bad handshake gets 400 (426
 * with Sec-WebSocket-Version: 13 for another version) and -1. max_message
 * 0 means WS_DEFAULT_MAX_MESSAGE. */
int ws_accept(http_request *req, size_t max_message, ws_handler handler,
              void *ud);

typedef enum ws_status {
    WS_OK = 0,      /* a message was received */
    WS_TIMEOUT = 1, /* nothing complete arrived within timeout_ms */
    WS_CLOSED = -1, /* the session is over; see ws_close_code */
} ws_status;

/* Waits for the next text message, up to timeout_ms (-1: no limit). On
 * WS_OK, *msg is NUL-terminated (the NUL not counted in *len) and valid
 * until the next call. Returns WS_CLOSED after the peer closed, on any
 * protocol error (after sending the matching close), on a broken socket,
 * and when the server stops while no message is half-received (close
 * 1001). */
ws_status ws_recv_text(ws_conn *ws, int timeout_ms, const char **msg,
                       size_t *len);

/* Sends one text message (one frame). Returns 0, or -1 when the session is
 * closed or the socket is broken. text must be valid UTF-8. */
int ws_send_text(ws_conn *ws, const char *text, size_t len);

/* Sends compact JSON as a text message. Does not take the reference. */
int ws_send_json(ws_conn *ws, const json_t *j);

/* Sends a close frame (if none was sent yet) with code and reason (<= 123
 * bytes, cut otherwise); later sends fail and ws_recv_text drains to the
 * peer's close. */
void ws_close(ws_conn *ws, uint16_t code, const char *reason);

/* Why the session ended: the code from the peer's close frame, the code we
 * sent for a violation, WS_CLOSE_ABNORMAL (1006) for a dropped connection,
 * or 0 while it is still open. */
uint16_t ws_close_code(const ws_conn *ws);

/* The HTTP request that opened the session. */
http_request *ws_request(const ws_conn *ws);

#endif

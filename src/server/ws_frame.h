/*
 * RFC 6455 WebSocket frames as pure functions over byte buffers: no sockets,
 * no threads. ws.c drives these from a connection; the fuzzer drives them from
 * arbitrary bytes, because every byte of a frame comes from an untrusted peer.
 *
 * Frame layout (RFC 6455 section 5.2), all integers big-endian:
 *   byte 0: FIN(1) RSV1..3(3) opcode(4)
 *   byte 1: MASK(1) len7(7)   len7 126 -> 16-bit length follows,
 *                             len7 127 -> 64-bit length follows (MSB zero)
 *   [2 or 8 bytes extended length] [4 bytes masking key if MASK] payload
 */
#ifndef LC_SERVER_WS_FRAME_H
#define LC_SERVER_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close status codes used here (RFC 6455 section 7.4.1). */
enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: "the peer gave no code" */
    WS_CLOSE_ABNORMAL = 1006,  /* never sent: "the TCP connection dropped" */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* Longest possible frame header: 2 + 8 (length) + 4 (mask). */
#define WS_FRAME_HEADER_MAX 14

typedef struct ws_frame_header {
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len; /* bytes of header before the payload */
} ws_frame_header;

/* Parses the header at buf[0..len). Returns 1 when *h is filled, 0 when more
 * bytes are needed, or minus a close code when the header breaks the
 * protocol: reserved bits (no extension is negotiated), unknown opcodes,
 * fragmented or long (> 125) control frames, a non-minimal or 2^63+ length,
 * an unmasked frame where require_mask (client frames must be masked), or a
 * data payload above max_payload (-WS_CLOSE_TOO_BIG). */
int ws_frame_parse_header(const uint8_t *buf, size_t len, bool require_mask,
                          uint64_t max_payload, ws_frame_header *h);

/* XORs data[0..len) with the masking key; offset is the position of data[0]
 * within the payload, so a payload can be unmasked in pieces. */
void ws_mask_apply(uint8_t *data, size_t len, const uint8_t mask[4],
                   uint64_t offset);

/* Writes a frame header into out (WS_FRAME_HEADER_MAX bytes) and returns its
 * length. mask is NULL for server frames (servers never mask). */
size_t ws_frame_header_write(uint8_t *out, bool fin, uint8_t opcode,
                             const uint8_t *mask, uint64_t payload_len);

/*
 * Message assembly: takes whole, unmasked frames in arrival order and yields
 * messages and control events, applying the fragmentation rules (control
 * frames may come between fragments; a new data frame may not start while a
 * message is open), the message size limit and UTF-8 validation of text.
 */
typedef enum ws_event_kind {
    WS_EV_NONE,   /* a fragment was stored; no event yet */
    WS_EV_TEXT,   /* data/len: a complete, valid UTF-8 text message */
    WS_EV_BINARY, /* data/len: a complete binary message */
    WS_EV_PING,   /* data/len: the ping's payload, to echo in a pong */
    WS_EV_PONG,
    WS_EV_CLOSE, /* close_code (WS_CLOSE_NO_STATUS when the peer sent none),
                    data/len: the UTF-8 reason */
    WS_EV_ERROR, /* close_code: what to send the peer before closing */
} ws_event_kind;

typedef struct ws_event {
    ws_event_kind kind;
    const uint8_t *data; /* valid until the next ws_assembler_* call */
    size_t len;
    uint16_t close_code;
} ws_event;

typedef struct ws_assembler {
    uint8_t *buf; /* [cap] the message being assembled */
    size_t len, cap;
    uint8_t opcode; /* WS_OP_TEXT/BINARY of the open message, 0 if none */
    size_t max_message;
} ws_assembler;

void ws_assembler_init(ws_assembler *a, size_t max_message);
void ws_assembler_free(ws_assembler *a);

/* Feeds one complete frame whose payload (h->payload_len bytes) is already
 * unmasked; fills *ev. After WS_EV_ERROR the connection must be closed. */
void ws_assembler_frame(ws_assembler *a, const ws_frame_header *h,
                        const uint8_t *payload, ws_event *ev);

#endif

/*
 * WebSocket frame parsing, masking, header encoding, UTF-8 validation and
 * message assembly (RFC 6455 sections 5 and 7). See ws_frame.h.
 */
#include "ws_frame.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

int ws_frame_parse_header(const uint8_t *buf, size_t len, bool require_mask,
                          uint64_t max_payload, ws_frame_header *h) {
    if (len < 2) return 0;
    memset(h, 0, sizeof(*h));
    h->fin = (buf[0] & 0x80) != 0;
    h->opcode = buf[0] & 0x0F;
    h->masked = (buf[1] & 0x80) != 0;
    uint8_t len7 = buf[1] & 0x7F;

    /* RSV1..3 carry meaning only for negotiated extensions; we offer none. */
    if (buf[0] & 0x70) return -WS_CLOSE_PROTOCOL;
    bool control = (h->opcode & 0x08) != 0;
    switch (h->opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        break;
    default:
        return -WS_CLOSE_PROTOCOL;
    }
    /* Control frames must fit in one small frame so they can be answered
     * between the fragments of a long message. */
    if (control && (!h->fin || len7 > 125)) return -WS_CLOSE_PROTOCOL;
    if (require_mask && !h->masked) return -WS_CLOSE_PROTOCOL;

    size_t need = 2 +
                  (len7 == 126   ? 2
                   : len7 == 127 ? 8
                                 : 0) +
                  (h->masked ? 4 : 0);
    if (len < need) return 0;

    size_t pos = 2;
    if (len7 == 126) {
        h->payload_len = ((uint64_t)buf[2] << 8) | buf[3];
        pos = 4;
        /* The RFC requires the shortest length encoding. */
        if (h->payload_len < 126) return -WS_CLOSE_PROTOCOL;
    } else if (len7 == 127) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) v = (v << 8) | buf[2 + i];
        pos = 10;
        if (v >> 63) return -WS_CLOSE_PROTOCOL;
        if (v <= 0xFFFF) return -WS_CLOSE_PROTOCOL;
        h->payload_len = v;
    } else {
        h->payload_len = len7;
    }
    if (h->masked) {
        memcpy(h->mask, buf + pos, 4);
        pos += 4;
    }
    h->header_len = pos;
    if (!control && h->payload_len > max_payload) return -WS_CLOSE_TOO_BIG;
    return 1;
}

void ws_mask_apply(uint8_t *data, size_t len, const uint8_t mask[4],
                   uint64_t offset) {
    for (size_t i = 0; i < len; i++) data[i] ^= mask[(offset + i) & 3];
}

size_t ws_frame_header_write(uint8_t *out, bool fin, uint8_t opcode,
                             const uint8_t *mask, uint64_t payload_len) {
    size_t pos = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (payload_len < 126) {
        out[1] = (uint8_t)(mbit | payload_len);
    } else if (payload_len <= 0xFFFF) {
        out[1] = (uint8_t)(mbit | 126);
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        pos = 4;
    } else {
        out[1] = (uint8_t)(mbit | 127);
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        pos = 10;
    }
    if (mask) {
        memcpy(out + pos, mask, 4);
        pos += 4;
    }
    return pos;
}

void ws_assembler_init(ws_assembler *a, size_t max_message) {
    memset(a, 0, sizeof(*a));
    a->max_message = max_message;
}

void ws_assembler_free(ws_assembler *a) {
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

static void set_error(ws_assembler *a, ws_event *ev, uint16_t code) {
    a->opcode = 0;
    a->len = 0;
    ev->kind = WS_EV_ERROR;
    ev->close_code = code;
}

/* Close codes a peer may put on the wire (RFC 6455 7.4 and the IANA
 * registry); 1004-1006 and 1015 are reserved for local use. */
static bool close_code_valid(uint16_t code) {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

static void control_frame(ws_assembler *a, const ws_frame_header *h,
                          const uint8_t *payload, ws_event *ev) {
    size_t n = (size_t)h->payload_len; /* <= 125, checked by the parser */
    ev->data = payload;
    ev->len = n;
    if (h->opcode == WS_OP_PING) {
        ev->kind = WS_EV_PING;
    } else if (h->opcode == WS_OP_PONG) {
        ev->kind = WS_EV_PONG;
    } else {
        ev->kind = WS_EV_CLOSE;
        if (n == 0) {
            ev->close_code = WS_CLOSE_NO_STATUS;
            return;
        }
        if (n == 1) {
            set_error(a, ev, WS_CLOSE_PROTOCOL);
            return;
        }
        uint16_t code = (uint16_t)((payload[0] << 8) | payload[1]);
        if (!close_code_valid(code)) {
            set_error(a, ev, WS_CLOSE_PROTOCOL);
            return;
        }
        if (!lc_utf8_valid((const char *)payload + 2, n - 2, NULL)) {
            set_error(a, ev, WS_CLOSE_INVALID_DATA);
            return;
        }
        ev->close_code = code;
        ev->data = payload + 2;
        ev->len = n - 2;
    }
}

/* Appends a fragment to the open message, growing the buffer geometrically
 * but never past max_message. Returns false when the message is too big or
 * memory runs out. */
static bool append(ws_assembler *a, const uint8_t *p, size_t n) {
    if (n > a->max_message - a->len) return false;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n) cap *= 2;
        if (cap > a->max_message) cap = a->max_message;
        uint8_t *b = realloc(a->buf, cap ? cap : 1);
        if (!b) return false;
        a->buf = b;
        a->cap = cap;
    }
    if (n) memcpy(a->buf + a->len, p, n);
    a->len += n;
    return true;
}

void ws_assembler_frame(ws_assembler *a, const ws_frame_header *h,
                        const uint8_t *payload, ws_event *ev) {
    memset(ev, 0, sizeof(*ev));
    if (h->opcode & 0x08) {
        control_frame(a, h, payload, ev);
        return;
    }

    if (h->opcode == WS_OP_CONT) {
        if (a->opcode == 0) {
            set_error(a, ev, WS_CLOSE_PROTOCOL);
            return;
        }
    } else {
        /* A new TEXT/BINARY frame while fragments are open is an error:
         * messages may not interleave. */
        if (a->opcode != 0) {
            set_error(a, ev, WS_CLOSE_PROTOCOL);
            return;
        }
        a->opcode = h->opcode;
        a->len = 0;
    }
    if (h->payload_len > a->max_message ||
        !append(a, payload, (size_t)h->payload_len)) {
        set_error(a, ev, WS_CLOSE_TOO_BIG);
        return;
    }
    if (!h->fin) {
        ev->kind = WS_EV_NONE;
        return;
    }
    /* Validating the whole message (not each fragment) is what lets a
     * code point be split across fragments. */
    if (a->opcode == WS_OP_TEXT &&
        !lc_utf8_valid((const char *)a->buf, a->len, NULL)) {
        set_error(a, ev, WS_CLOSE_INVALID_DATA);
        return;
    }
    ev->kind = a->opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
    ev->data = a->buf;
    ev->len = a->len;
    a->opcode = 0;
}

/*
 * libFuzzer target for the WebSocket frame layer (src/server/ws_frame.h),
 * which parses bytes straight from untrusted clients. The first input byte
 * picks the message size limit (small, so that the 1009 paths are reached)
 * and whether masking is required; the rest is a stream of frames, fed
 * through the header parser, unmasking and the message assembler exactly
 * as ws.c does, until the stream ends or a close-worthy error comes.
 *
 * Checked on every step, beyond ASan/UBSan's own checks: a parsed header
 * re-encodes to a header that parses the same; delivered messages respect
 * the size limit; text messages are valid UTF-8; close codes are ones a
 * peer may send.
 */
#include "server/ws_frame.h"
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

static void check(int ok) {
    if (!ok) abort();
}

static void check_roundtrip(const ws_frame_header *h) {
    uint8_t buf[WS_FRAME_HEADER_MAX];
    size_t n = ws_frame_header_write(
        buf, h->fin, h->opcode, h->masked ? h->mask : NULL, h->payload_len);
    ws_frame_header h2;
    check(ws_frame_parse_header(buf, n, h->masked, ~0ull, &h2) == 1);
    check(h2.fin == h->fin && h2.opcode == h->opcode &&
          h2.masked == h->masked && h2.payload_len == h->payload_len &&
          h2.header_len == h->header_len);
    if (h->masked) check(memcmp(h2.mask, h->mask, 4) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t max_message = (size_t)(data[0] & 0x7F) * 8;
    bool require_mask = (data[0] & 0x80) != 0;
    data++;
    size--;

    ws_assembler a;
    ws_assembler_init(&a, max_message);
    size_t pos = 0;
    while (pos < size) {
        ws_frame_header h;
        int rc = ws_frame_parse_header(data + pos, size - pos, require_mask,
                                       max_message, &h);
        if (rc <= 0) {
            if (rc < 0) check(-rc == 1002 || -rc == 1009);
            break;
        }
        check(h.header_len >= 2 && h.header_len <= WS_FRAME_HEADER_MAX);
        check_roundtrip(&h);
        if (h.payload_len > size - pos - h.header_len) break;
        size_t plen = (size_t)h.payload_len;
        /* A private copy, as ws.c unmasks in its own buffer. */
        uint8_t *payload = malloc(plen ? plen : 1);
        if (!payload) break;
        memcpy(payload, data + pos + h.header_len, plen);
        if (h.masked) ws_mask_apply(payload, plen, h.mask, 0);
        ws_event ev;
        ws_assembler_frame(&a, &h, payload, &ev);
        bool stop = false;
        switch (ev.kind) {
        case WS_EV_TEXT:
            check(lc_utf8_valid((const char *)ev.data, ev.len, NULL));
            check(ev.len <= max_message);
            break;
        case WS_EV_BINARY:
            check(ev.len <= max_message);
            break;
        case WS_EV_PING:
        case WS_EV_PONG:
            check(ev.len <= 125);
            break;
        case WS_EV_CLOSE:
            check(ev.close_code == 1005 ||
                  (ev.close_code >= 1000 && ev.close_code <= 4999));
            check(lc_utf8_valid((const char *)ev.data, ev.len, NULL));
            stop = true;
            break;
        case WS_EV_ERROR:
            check(ev.close_code == 1002 || ev.close_code == 1007 ||
                  ev.close_code == 1009);
            stop = true;
            break;
        case WS_EV_NONE:
            break;
        }
        free(payload);
        if (stop) break;
        pos += h.header_len + plen;
    }
    ws_assembler_free(&a);
    return 0;
}

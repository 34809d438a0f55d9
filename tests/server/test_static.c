/*
 * The embedded web UI (routes_static.c) through real sockets: content types,
 * gzip chosen by Accept-Encoding, cache headers, the SPA fallback for pages
 * and the JSON 404 for everything else. Asserts against the generated asset
 * table itself, so it holds for any build of web/; skipped when the binary
 * was built with -DLC_WEB=OFF.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/app.h"
#include "server/http.h"
#include "server/routes_static.h"
#include "server/web_assets.h"

typedef struct response {
    int status;
    char headers[4096];
    unsigned char *body; /* malloc'd */
    size_t body_len;
} response;

static void response_free(response *r) {
    free(r->body);
}

/* One request on its own connection ("Connection: close"), read to EOF. */
static response request(uint16_t port, const char *method, const char *path,
                        const char *extra_headers) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n",
                     method, path, extra_headers ? extra_headers : "");
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = recv(fd, buf + len, cap - len, 0);
        assert_true(got >= 0); /* a timeout fails the test */
        if (got == 0) break;
        len += (size_t)got;
    }
    close(fd);
    response r = {0};
    unsigned char *end = memmem(buf, len, "\r\n\r\n", 4);
    assert_non_null(end);
    size_t hlen = (size_t)(end - buf);
    assert_true(hlen < sizeof(r.headers));
    memcpy(r.headers, buf, hlen);
    assert_int_equal(sscanf(r.headers, "HTTP/1.1 %d", &r.status), 1);
    r.body_len = len - hlen - 4;
    r.body = malloc(r.body_len + 1);
    assert_non_null(r.body);
    memcpy(r.body, end + 4, r.body_len);
    r.body[r.body_len] = 0;
    free(buf);
    return r;
}

/* The value of header name (case-insensitive) in a static buffer, or NULL. */
static const char *header(const response *r, const char *name) {
    static char value[512];
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p;
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            size_t vl = strcspn(v, "\r");
            if (vl >= sizeof(value)) vl = sizeof(value) - 1;
            memcpy(value, v, vl);
            value[vl] = 0;
            return value;
        }
    }
    return NULL;
}

static const lc_web_asset *asset(const char *path, int want_immutable) {
    for (size_t i = 0; i < lc_web_asset_count; i++)
        if ((path && !strcmp(lc_web_assets[i].path, path)) ||
            (!path && lc_web_assets[i].immutable == want_immutable &&
             lc_web_assets[i].gz))
            return &lc_web_assets[i];
    return NULL;
}

typedef struct fixture {
    lc_app app;
    uint16_t port;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    http_config cfg;
    http_config_default(&cfg);
    char err[256];
    f->app.http = http_server_new(&cfg, err, sizeof(err));
    if (!f->app.http || lc_routes_static(&f->app) ||
        http_server_start(f->app.http, err, sizeof(err))) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    f->port = http_server_port(f->app.http);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    http_server_free(f->app.http);
    free(f);
    return 0;
}

#define SKIP_WITHOUT_UI()                                                      \
    do {                                                                       \
        if (!asset("/index.html", 0)) {                                        \
            print_message("skip: built with -DLC_WEB=OFF\n");                  \
            skip();                                                            \
        }                                                                      \
    } while (0)

static void test_index_plain_and_gzip(void **state) {
    fixture *f = *state;
    SKIP_WITHOUT_UI();
    const lc_web_asset *idx = asset("/index.html", 0);
    response r = request(f->port, "GET", "/index.html", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(header(&r, "Cache-Control"), "no-cache");
    assert_null(header(&r, "Content-Encoding"));
    assert_int_equal(r.body_len, idx->len);
    assert_memory_equal(r.body, idx->data, idx->len);
    response_free(&r);

    if (idx->gz) {
        r = request(f->port, "GET", "/index.html",
                    "Accept-Encoding: br, gzip;q=0.5\r\n");
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "Content-Encoding"), "gzip");
        assert_int_equal(r.body_len, idx->gz_len);
        assert_int_equal(r.body[0], 0x1f); /* the gzip magic */
        assert_int_equal(r.body[1], 0x8b);
        response_free(&r);
        /* q=0 refuses gzip */
        r = request(f->port, "GET", "/index.html",
                    "Accept-Encoding: gzip;q=0\r\n");
        assert_null(header(&r, "Content-Encoding"));
        assert_int_equal(r.body_len, idx->len);
        response_free(&r);
    }
}

static void test_immutable_asset(void **state) {
    fixture *f = *state;
    SKIP_WITHOUT_UI();
    const lc_web_asset *a = asset(NULL, 1);
    assert_non_null(a); /* the build has hashed, compressible JS or CSS */
    response r = request(f->port, "GET", a->path, "Accept-Encoding: gzip\r\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), a->content_type);
    assert_string_equal(header(&r, "Cache-Control"),
                        "public, max-age=31536000, immutable");
    assert_string_equal(header(&r, "Vary"), "Accept-Encoding");
    assert_string_equal(header(&r, "Content-Encoding"), "gzip");
    assert_int_equal(r.body_len, a->gz_len);
    assert_memory_equal(r.body, a->gz, a->gz_len);
    response_free(&r);
    /* HEAD: the headers, no body */
    r = request(f->port, "HEAD", a->path, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    response_free(&r);
}

static void test_fallback_only_for_pages(void **state) {
    fixture *f = *state;
    SKIP_WITHOUT_UI();
    response r =
        request(f->port, "GET", "/chats/deep/link",
                "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(header(&r, "Vary"), "Accept, Accept-Encoding");
    response_free(&r);

    const char *not_pages[][2] = {
        {"/chats/deep/link", NULL},                /* no text/html */
        {"/api/nothing", "Accept: text/html\r\n"}, /* the API's namespace */
        {"/v1/nothing", "Accept: text/html\r\n"},  /* the OpenAI API's */
        {"/_app/immutable/missing.js", NULL},      /* a missing asset */
        {"/x", "Accept: text/html;q=0\r\n"},       /* refused explicitly */
    };
    for (size_t i = 0; i < sizeof(not_pages) / sizeof(not_pages[0]); i++) {
        r = request(f->port, "GET", not_pages[i][0], not_pages[i][1]);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr((char *)r.body, "\"route_not_found\""));
        response_free(&r);
    }
    /* other methods still get 404, not 405 */
    r = request(f->port, "POST", "/index.html", "Content-Length: 0\r\n");
    assert_int_equal(r.status, 404);
    response_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_plain_and_gzip),
        cmocka_unit_test(test_immutable_asset),
        cmocka_unit_test(test_fallback_only_for_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The web UI's static files (docs/ui.md).
 *
 *   GET /_app/immutable/...  hashed JS/CSS: Cache-Control immutable, 1 year
 *   GET /index.html, other files of the build: Cache-Control no-cache
 *   GET any other path whose Accept names text/html (a page the SPA routes
 *       itself, e.g. a reload on a deep link): index.html
 *   GET / with Accept: text/html: index.html (routes_ollama.c asks here);
 *       without it, Ollama's "Ollama is running"
 *
 * Files are gzipped at build time (tools/gen/embed_web.c); a client whose
 * Accept-Encoding takes gzip gets those bytes with Content-Encoding: gzip,
 * others the plain ones, so nothing is compressed at run time. Paths under
 * /api/ and /v1/ never fall back to the page: an unknown API route stays a
 * JSON 404 route_not_found.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/routes_static.h"
#include "server/web_assets.h"

static int cmp_path(const void *key, const void *elem) {
    return strcmp(key, ((const lc_web_asset *)elem)->path);
}

/* The asset at path, or NULL (the table is sorted by path). */
static const lc_web_asset *find_asset(const char *path) {
    return bsearch(path, lc_web_assets, lc_web_asset_count,
                   sizeof(lc_web_assets[0]), cmp_path);
}

/* True when the comma-separated header value lists token (case-insensitive,
 * parameters after ';' ignored) without q=0. */
static bool header_lists(const char *value, const char *token) {
    size_t tlen = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *semi = memchr(p, ';', n);
        size_t name = semi ? (size_t)(semi - p) : n;
        while (name > 0 && (p[name - 1] == ' ' || p[name - 1] == '\t')) name--;
        if (name == tlen && strncasecmp(p, token, tlen) == 0) {
            /* "gzip;q=0" means "not gzip" */
            const char *q = semi ? strstr(semi, "q=") : NULL;
            if (!q || q >= p + n) return true;
            if (strtod(q + 2, NULL) > 0) return true;
        }
        p = end;
    }
    return false;
}

static void serve_asset(http_request *req, const lc_web_asset *a,
                        bool is_page) {
    const char *ae = http_request_header(req, "Accept-Encoding");
    bool gz = a->gz && ae && header_lists(ae, "gzip");
    http_response_header(req, "Cache-Control",
                         a->immutable ? "public, max-age=31536000, immutable"
                                      : "no-cache");
    http_response_header(req, "X-Content-Type-Options", "nosniff");
    /* The page's answer depends on Accept (GET / is Ollama's otherwise),
     * and every compressed file's on Accept-Encoding: caches must know. */
    if (is_page)
        http_response_header(req, "Vary", "Accept, Accept-Encoding");
    else if (a->gz)
        http_response_header(req, "Vary", "Accept-Encoding");
    if (gz) http_response_header(req, "Content-Encoding", "gzip");
    http_respond(req, 200, a->content_type, gz ? a->gz : a->data,
                 gz ? a->gz_len : a->len);
}

bool lc_static_wants_page(http_request *req) {
    const char *accept = http_request_header(req, "Accept");
    return find_asset("/index.html") && accept &&
           header_lists(accept, "text/html");
}

void lc_static_serve_index(http_request *req) {
    const lc_web_asset *a = find_asset("/index.html");
    if (!a) {
        http_respond_error(req, 404, "route_not_found",
                           "this llamachat was built without its web UI "
                           "(-DLC_WEB=OFF)");
        return;
    }
    serve_asset(req, a, true);
}

static bool is_api_path(const char *path) {
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0 ||
           strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0;
}

static void handle_fallback(http_request *req, void *ud) {
    (void)ud;
    const char *path = http_request_path(req);
    const lc_web_asset *a = is_api_path(path) ? NULL : find_asset(path);
    if (a) {
        serve_asset(req, a, strcmp(path, "/index.html") == 0);
        return;
    }
    /* A page the single-page app routes itself; anything else (a missing
     * asset, an unknown API route) is the ordinary JSON 404. */
    if (!is_api_path(path) && lc_static_wants_page(req)) {
        lc_static_serve_index(req);
        return;
    }
    http_respond_error(req, 404, "route_not_found", "no route for %s %s",
                       http_request_method(req), path);
}

int lc_routes_static(lc_app *app) {
    return http_server_fallback(app->http, handle_fallback, app);
}

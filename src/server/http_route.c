/*
 * Router: patterns split once into segments at registration; a request path
 * is split into segments and compared against every route. Routes are few
 * (tens), so a linear scan is both simplest and fast enough.
 */
#include "http_route.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 32

/* Splits a path or pattern after its leading '/' into at most max segments,
 * recording where each starts in s. "/" has no segment, "/a/" has "a" and
 * "". Returns the count, or -1 if s lacks the leading '/' or has too many
 * segments. */
static int split(const char *s, size_t *start, size_t *len, int max) {
    if (s[0] != '/') return -1;
    if (s[1] == '\0') return 0;
    int n = 0;
    size_t i = 1;
    for (;;) {
        if (n == max) return -1;
        size_t j = i;
        while (s[j] && s[j] != '/') j++;
        start[n] = i;
        len[n] = j - i;
        n++;
        if (!s[j]) return n;
        i = j + 1;
    }
}

int http_router_add(http_router *rt, const char *method, const char *pattern,
                    http_handler handler, void *ud) {
    size_t start[MAX_SEGS], len[MAX_SEGS];
    int n = split(pattern, start, len, MAX_SEGS);
    if (n < 0 || !method || !*method || !handler) return -1;
    int ncap = 0;
    for (int i = 0; i < n; i++) {
        char c = pattern[start[i]];
        if (c == ':' || c == '*') {
            if (len[i] < 2) return -1; /* a capture needs a name */
            if (++ncap > HTTP_MAX_PARAMS) return -1;
        }
        if (c == '*' && i != n - 1) return -1;
    }
    if (rt->n == rt->cap) {
        int cap = rt->cap ? rt->cap * 2 : 16;
        http_route *r = realloc(rt->routes, (size_t)cap * sizeof(*r));
        if (!r) return -1;
        rt->routes = r;
        rt->cap = cap;
    }
    http_route *r = &rt->routes[rt->n];
    memset(r, 0, sizeof(*r));
    r->method = strdup(method);
    r->pattern = strdup(pattern);
    r->segs = calloc((size_t)n + 1, sizeof(char *));
    bool ok = r->method && r->pattern && r->segs;
    for (int i = 0; ok && i < n; i++) {
        r->segs[i] = strndup(pattern + start[i], len[i]);
        ok = r->segs[i] != NULL;
    }
    r->nseg = n;
    r->handler = handler;
    r->ud = ud;
    if (!ok) {
        for (int i = 0; r->segs && i < n; i++) free(r->segs[i]);
        free(r->segs);
        free(r->method);
        free(r->pattern);
        return -1;
    }
    rt->n++;
    return 0;
}

void http_router_free(http_router *rt) {
    for (int k = 0; k < rt->n; k++) {
        http_route *r = &rt->routes[k];
        for (int i = 0; i < r->nseg; i++) free(r->segs[i]);
        free(r->segs);
        free(r->method);
        free(r->pattern);
    }
    free(rt->routes);
    memset(rt, 0, sizeof(*rt));
}

/* Whether route r matches the split path; fills score[0..nseg) with 2 for a
 * literal segment, 1 for ":" and 0 for "*" so that the most specific route
 * can be chosen, ending it with NUL. */
static bool route_matches(const http_route *r, const char *path,
                          const size_t *start, const size_t *len, int n,
                          char *score) {
    for (int i = 0; i < r->nseg; i++) {
        const char *seg = r->segs[i];
        if (seg[0] == '*') {
            score[i] = '0';
            score[i + 1] = '\0';
            return true;
        }
        if (i >= n) return false;
        if (seg[0] == ':') {
            if (len[i] == 0) return false;
            score[i] = '1';
        } else {
            if (strlen(seg) != len[i] ||
                memcmp(seg, path + start[i], len[i]) != 0)
                return false;
            score[i] = '2';
        }
    }
    score[r->nseg] = '\0';
    return n == r->nseg;
}

static bool method_matches(const http_route *r, const char *method) {
    if (strcmp(r->method, method) == 0) return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

static void add_allow(http_match *m, const char *method) {
    /* Each method once, comma-separated, as the Allow header wants. */
    size_t ml = strlen(method), al = strlen(m->allow);
    const char *p = m->allow;
    while ((p = strstr(p, method)) != NULL) {
        bool starts = p == m->allow || p[-1] == ' ';
        bool ends = p[ml] == '\0' || p[ml] == ',';
        if (starts && ends) return;
        p += ml;
    }
    if (al + ml + 3 > sizeof(m->allow)) return;
    if (al) strcat(m->allow, ", ");
    strcat(m->allow, method);
}

static int capture(const http_route *r, const char *path, const size_t *start,
                   const size_t *len, int n, http_match *m) {
    for (int i = 0; i < r->nseg; i++) {
        const char *seg = r->segs[i];
        char *value = NULL;
        if (seg[0] == '*')
            value = strdup(i < n ? path + start[i] : "");
        else if (seg[0] == ':')
            value = strndup(path + start[i], len[i]);
        else
            continue;
        if (!value) return 500;
        m->params[m->nparams].name = seg + 1;
        m->params[m->nparams].value = value;
        m->nparams++;
    }
    return 200;
}

int http_router_match(const http_router *rt, const char *method,
                      const char *path, http_match *m) {
    memset(m, 0, sizeof(*m));
    size_t start[MAX_SEGS], len[MAX_SEGS];
    int n = split(path, start, len, MAX_SEGS);
    if (n < 0) return 404;

    const http_route *best = NULL;
    char best_score[MAX_SEGS + 1] = "", score[MAX_SEGS + 1];
    bool path_known = false;
    for (int k = 0; k < rt->n; k++) {
        const http_route *r = &rt->routes[k];
        if (!route_matches(r, path, start, len, n, score)) continue;
        path_known = true;
        if (!method_matches(r, method)) {
            add_allow(m, r->method);
            continue;
        }
        if (!best || strcmp(score, best_score) > 0) {
            best = r;
            strcpy(best_score, score);
        }
    }
    if (!best) return path_known ? 405 : 404;
    m->route = best;
    return capture(best, path, start, len, n, m);
}

void http_match_free(http_match *m) {
    for (int i = 0; i < m->nparams; i++) free(m->params[i].value);
    m->nparams = 0;
}

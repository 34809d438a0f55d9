/*
 * The router: maps (method, path) to a handler and the path's captures.
 * Patterns are "/"-separated segments: a literal, ":name" (one non-empty
 * segment) or, last only, "*name" (the rest of the path). See
 * http_server_route in http.h for the rules.
 */
#ifndef LC_SERVER_HTTP_ROUTE_H
#define LC_SERVER_HTTP_ROUTE_H

#include "http.h"

#define HTTP_MAX_PARAMS 8

typedef struct http_route {
    char *method;
    char *pattern;
    char **segs; /* [nseg] the pattern's segments, without '/' */
    int nseg;
    http_handler handler;
    void *ud;
} http_route;

typedef struct http_router {
    http_route *routes; /* [n] */
    int n, cap;
} http_router;

typedef struct http_param {
    const char *name; /* points into the route */
    char *value;      /* malloc'd */
} http_param;

typedef struct http_match {
    const http_route *route; /* NULL: no route for this method */
    http_param params[HTTP_MAX_PARAMS];
    int nparams;
    char allow[128]; /* for 405: the methods that the path does accept */
} http_match;

/* Returns 0, or -1 for a malformed pattern or out of memory. */
int http_router_add(http_router *rt, const char *method, const char *pattern,
                    http_handler handler, void *ud);
void http_router_free(http_router *rt);

/* Returns 200 with m->route set, 404 when no pattern matches the path, 405
 * when some do but not for this method (m->allow lists theirs), or 500 when
 * memory runs out. Free m with http_match_free whatever the result. */
int http_router_match(const http_router *rt, const char *method,
                      const char *path, http_match *m);
void http_match_free(http_match *m);

#endif

/*
 * The web UI (routes_static.c): the SvelteKit build of web/, compiled into
 * the binary (server/web_assets.h), served for GET and HEAD requests that no
 * API route matches. See docs/ui.md.
 */
#ifndef LC_SERVER_ROUTES_STATIC_H
#define LC_SERVER_ROUTES_STATIC_H

#include <stdbool.h>

#include "server/app.h"
#include "server/http.h"

/* Installs the UI as the server's fallback handler. Returns 0, or -1. */
int lc_routes_static(lc_app *app);

/* True when the binary carries the UI and the request asks for a page
 * (its Accept header names text/html, as browsers' navigations do). GET /
 * answers the UI then, and Ollama's "Ollama is running" otherwise, which
 * Ollama clients check (routes_ollama.c). */
bool lc_static_wants_page(http_request *req);

/* Answers the UI's index.html (no-cache). */
void lc_static_serve_index(http_request *req);

#endif

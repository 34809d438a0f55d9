/*
 * The running server: what every route handler needs, in one struct that is
 * passed as the handler's user data (no globals).
 *
 * Route groups live in their own files and register themselves here:
 *   routes_auth.c      POST /api/auth/register, /api/auth/login, logout
 *   routes_sessions.c  the seed's session routes and what users need around
 *                      them (list, create, rename, delete, system prompt,
 *                      messages with paging)
 *   routes_chat.c      POST /api/chat (seed shape), GET /api/chat/stream
 *                      (WebSocket), SSE stream, GET /api/chat?sessionId=,
 *                      cancel
 *   routes_health.c    GET /health, GET /metrics
 *   routes_openai.c    the OpenAI-compatible API under /v1
 *   routes_ollama.c    the Ollama-compatible API (/api/generate, /api/tags,
 *                      ..., and Ollama-shaped bodies of POST /api/chat)
 * server.c assembles them: it starts the database, the scheduler and the
 * HTTP server for `llamachat serve`.
 */
#ifndef LC_SERVER_APP_H
#define LC_SERVER_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "llamachat/engine.h"
#include "chat/chat.h"
#include "sched/sched.h"
#include "server/http.h"
#include "server/metrics.h"
#include "store/db.h"

/* A generation running on this server, registered for its duration so that
 * POST /api/sessions/:id/cancel can reach it from another connection. */
typedef struct lc_running_turn {
    char user_id[37];
    char session_id[37];
    atomic_bool cancel;
    struct lc_running_turn *next;
} lc_running_turn;

typedef struct lc_app {
    http_server *http;
    lc_db *db;
    lc_model *model; /* NULL until loaded */
    lc_sched *sched; /* NULL until the model is loaded */
    lc_chat *chat;   /* conversation service */
    lc_metrics *metrics;
    const char *model_name;     /* the name sessions and replies record */
    const char *const *aliases; /* --alias names, NULL-terminated */
    bool registration_open;     /* --no-registration closes it */
    /* --allow-anonymous-loopback: the peer APIs (OpenAI, Ollama) let
     * requests without a token through from 127.0.0.1 / ::1 */
    bool allow_anonymous_loopback;
    atomic_bool ready; /* model loaded: /health answers 200 */
    /* --embedding-model: the embedding service (chat/embedder.h), set
     * before embedder_ready; the routes read it only once that is true.
     * embedding_configured says whether one was asked for (routes answer
     * 503 while it loads, 400 when there is none). */
    struct lc_embedder *embedder;
    atomic_bool embedder_ready;
    bool embedding_configured;
    /* Running turns (see lc_app_turn_begin), under turns_mu. */
    pthread_mutex_t turns_mu;
    lc_running_turn *turns;
    /* Shutdown: monotonic ms after which running turns are cancelled (and
     * stored as such); 0 while serving. */
    atomic_llong turns_deadline_ms;
} lc_app;

/* Initialises the registry fields of app (the rest is the caller's);
 * lc_app_destroy releases them. */
void lc_app_init(lc_app *app);
void lc_app_destroy(lc_app *app);

/* Registers / unregisters a running turn (t is the caller's memory). */
void lc_app_turn_begin(lc_app *app, lc_running_turn *t, const char *user_id,
                       const char *session_id);
void lc_app_turn_end(lc_app *app, lc_running_turn *t);
/* Asks every running turn of the user's session to stop; returns how many
 * were asked. */
int lc_app_cancel_session(lc_app *app, const char *user_id,
                          const char *session_id);
/* True when t was cancelled, or the shutdown deadline has passed. */
bool lc_app_turn_should_stop(lc_app *app, lc_running_turn *t);
/* Shutdown: from now on new turns are refused (503) and running ones are
 * cancelled once grace_ms has passed; returns once none is running, or
 * after grace_ms + slack_ms. */
void lc_app_drain_turns(lc_app *app, unsigned grace_ms, unsigned slack_ms);
/* True once lc_app_drain_turns has begun. */
bool lc_app_draining(lc_app *app);

/* Authenticates the request's "Authorization: Bearer TOKEN". On success
 * copies the caller's user id and returns true; otherwise answers 401 and
 * returns false (the handler just returns). */
bool lc_app_auth(lc_app *app, http_request *req, char user_id[37]);

/* Answers a store error with the matching status (not found 404, invalid
 * 400, conflict 409, unavailable 503, other 500). */
void lc_app_store_error(http_request *req, int status, const char *message);

/* Route registration, one function per group. Return 0, or -1. */
int lc_routes_auth(lc_app *app);
int lc_routes_sessions(lc_app *app);
int lc_routes_chat(lc_app *app);
int lc_routes_health(lc_app *app);
int lc_routes_openai(lc_app *app); /* routes_openai.c: /v1/... */
int lc_routes_ollama(lc_app *app); /* routes_ollama.c: /api/generate, ... */
int lc_routes_search(lc_app *app); /* routes_search.c: GET /api/search */
/* routes_search.c: embeds a search query with the embedding model's query
 * prefix; returns the dimension, or -1 when no model is ready (ud is the
 * lc_app). Also the conversation service's memory hook. */
int lc_app_embed_query(void *ud, const char *text, float *out, int max_dim);
/* Ollama's POST /api/chat (body already parsed; takes its reference), called
 * by routes_chat.c for bodies shaped as Ollama's. */
void lc_ollama_chat(lc_app *app, http_request *req, json_t *body);

#endif

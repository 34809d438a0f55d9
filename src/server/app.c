/*
 * What every route needs from the app: authentication of the caller, the
 * mapping of store errors to HTTP, and the registry of running turns that
 * lets one connection cancel a generation that another one is streaming.
 */
#include "server/app.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/ws.h"
#include "store/tokens.h"
#include "store/users.h"

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void lc_app_init(lc_app *app) {
    pthread_mutex_init(&app->turns_mu, NULL);
    app->turns = NULL;
    atomic_store(&app->turns_deadline_ms, 0);
}

void lc_app_destroy(lc_app *app) {
    pthread_mutex_destroy(&app->turns_mu);
}

/* The token of "Authorization: Bearer TOKEN". Browsers cannot set headers
 * on a WebSocket handshake, so an upgrade request may carry it as the
 * query parameter access_token instead (only there: a token in a URL ends
 * up in logs and histories, so other routes do not accept it). */
static const char *request_token(const http_request *req) {
    const char *h = http_request_header(req, "Authorization");
    if (h) {
        if (strncasecmp(h, "Bearer ", 7) != 0) return NULL;
        h += 7;
        while (*h == ' ') h++;
        return h;
    }
    if (ws_is_upgrade_request(req))
        return http_request_query(req, "access_token");
    return NULL;
}

bool lc_app_auth(lc_app *app, http_request *req, char user_id[37]) {
    const char *token = request_token(req);
    if (!token || !*token) {
        http_response_header(req, "WWW-Authenticate", "Bearer");
        http_respond_error(req, 401, "unauthorized",
                           "missing bearer token (Authorization: Bearer "
                           "TOKEN)");
        return false;
    }
    lc_user user = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_tokens_lookup(app->db, token, &user, &err);
    if (st == LC_STORE_NOT_FOUND) {
        http_response_header(req, "WWW-Authenticate",
                             "Bearer error=\"invalid_token\"");
        http_respond_error(req, 401, "invalid_token",
                           "the bearer token is invalid or was revoked");
        return false;
    }
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return false;
    }
    memcpy(user_id, user.id, 37);
    lc_user_clear(&user);
    return true;
}

void lc_app_store_error(http_request *req, int status, const char *message) {
    const char *msg = message && *message ? message : "database error";
    switch ((lc_store_status)status) {
    case LC_STORE_NOT_FOUND:
        http_respond_error(req, 404, "not_found", "%s", msg);
        break;
    case LC_STORE_INVALID:
        http_respond_error(req, 400, "invalid_field", "%s", msg);
        break;
    case LC_STORE_CONFLICT:
        http_respond_error(req, 409, "conflict", "%s", msg);
        break;
    case LC_STORE_UNAVAILABLE:
        http_response_header(req, "Retry-After", "5");
        http_respond_error(req, 503, "database_unavailable",
                           "the database is unavailable: %s", msg);
        break;
    default:
        http_respond_error(req, 500, "internal_error", "%s", msg);
        break;
    }
}

void lc_app_turn_begin(lc_app *app, lc_running_turn *t, const char *user_id,
                       const char *session_id) {
    memset(t, 0, sizeof(*t));
    strncpy(t->user_id, user_id, sizeof(t->user_id) - 1);
    strncpy(t->session_id, session_id, sizeof(t->session_id) - 1);
    atomic_store(&t->cancel, false);
    pthread_mutex_lock(&app->turns_mu);
    t->next = app->turns;
    app->turns = t;
    pthread_mutex_unlock(&app->turns_mu);
}

void lc_app_turn_end(lc_app *app, lc_running_turn *t) {
    pthread_mutex_lock(&app->turns_mu);
    for (lc_running_turn **p = &app->turns; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&app->turns_mu);
}

int lc_app_cancel_session(lc_app *app, const char *user_id,
                          const char *session_id) {
    int n = 0;
    pthread_mutex_lock(&app->turns_mu);
    for (lc_running_turn *t = app->turns; t; t = t->next) {
        if (strcmp(t->user_id, user_id) == 0 &&
            strcmp(t->session_id, session_id) == 0) {
            atomic_store(&t->cancel, true);
            n++;
        }
    }
    pthread_mutex_unlock(&app->turns_mu);
    return n;
}

bool lc_app_turn_should_stop(lc_app *app, lc_running_turn *t) {
    if (atomic_load(&t->cancel)) return true;
    long long deadline = atomic_load(&app->turns_deadline_ms);
    return deadline > 0 && now_ms() >= deadline;
}

void lc_app_drain_turns(lc_app *app, unsigned grace_ms, unsigned slack_ms) {
    long long start = now_ms();
    atomic_store(&app->turns_deadline_ms, start + (long long)grace_ms);
    /* Polling: a turn ends a few times per second at most, and this runs
     * once per process. */
    struct timespec tick = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
    while (now_ms() < start + (long long)grace_ms + (long long)slack_ms) {
        pthread_mutex_lock(&app->turns_mu);
        bool idle = app->turns == NULL;
        pthread_mutex_unlock(&app->turns_mu);
        if (idle) return;
        nanosleep(&tick, NULL);
    }
}

bool lc_app_draining(lc_app *app) {
    return atomic_load(&app->turns_deadline_ms) > 0;
}

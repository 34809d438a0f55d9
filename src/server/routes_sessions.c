/*
 * Sessions: the seed's two routes and what users need around them.
 *
 *   POST   /api/sessions {user_id?, title?, model?, system_prompt?} -> 201
 *   GET    /api/sessions/:user_id?limit=&offset=  the caller's sessions
 *   GET    /api/sessions/:id/messages?limit=&offset=
 *   PATCH  /api/sessions/:id {title?, system_prompt?, memory?}
 *          memory: {enabled?, top_k?, max_tokens?} (chat/memory.h)
 *   DELETE /api/sessions/:id
 *   POST   /api/sessions/:id/cancel  stop the session's running generation
 *
 * Every query is scoped to the caller by the store: a session of another
 * user is "not found", exactly like one that does not exist. A user_id in
 * a path or body that is not the caller's is 403.
 */
#include <stdlib.h>
#include <string.h>

#include "chat/memory.h"
#include "server/app.h"
#include "server/routes_common.h"
#include "store/messages.h"
#include "store/search.h"
#include "store/sessions.h"

#define DEFAULT_PAGE 100

static void handle_create(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *user_id, *title, *model, *prompt;
    if (rc_string_field(req, body, "user_id", false, &user_id) ||
        rc_string_field(req, body, "title", false, &title) ||
        rc_string_field(req, body, "model", false, &model) ||
        rc_string_field(req, body, "system_prompt", false, &prompt))
        goto out;
    if (!rc_check_user_field(req, user_id, caller)) goto out;
    if (model && *model && !rc_model_served(app, model)) {
        http_respond_error(req, 404, "model_not_found",
                           "model '%s' is not served here (this server "
                           "serves '%s')",
                           model, app->model_name);
        goto out;
    }
    /* A session records the name it was asked for (an alias stays an
     * alias), or the served model's name. */
    if (!model || !*model) model = app->model_name;
    lc_session s = {0};
    lc_store_error err = {0};
    lc_store_status st =
        lc_sessions_create(app->db, caller, title, model, prompt, &s, &err);
    if (st != LC_STORE_OK)
        lc_app_store_error(req, (int)st, err.message);
    else
        http_respond_json(req, 201, rc_session_json(&s));
    lc_session_clear(&s);
out:
    json_decref(body);
}

static void handle_list(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *user_id = http_request_param(req, "user_id");
    if (!rc_check_user_field(req, user_id, caller)) return;
    int limit = DEFAULT_PAGE, offset = 0;
    if (rc_query_int(req, "limit", 1, 1000, &limit) ||
        rc_query_int(req, "offset", 0, 1 << 30, &offset))
        return;
    lc_session *list = NULL;
    size_t n = 0;
    lc_store_error err = {0};
    lc_store_status st =
        lc_sessions_list(app->db, caller, limit, offset, &list, &n, &err);
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, rc_session_json(&list[i]));
    lc_sessions_free(list, n);
    http_respond_json(req, 200,
                      json_pack("{s:o, s:i, s:i}", "sessions", arr, "limit",
                                limit, "offset", offset));
}

static void handle_messages(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *sid = http_request_param(req, "id");
    int limit = DEFAULT_PAGE, offset = 0;
    if (rc_query_int(req, "limit", 1, 10000, &limit) ||
        rc_query_int(req, "offset", 0, 1 << 30, &offset))
        return;
    lc_message *list = NULL;
    size_t n = 0;
    lc_store_error err = {0};
    lc_store_status st =
        lc_messages_list(app->db, caller, sid, limit, offset, &list, &n, &err);
    if (!rc_session_status_ok(req, st, sid, &err)) return;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, rc_message_json(&list[i]));
    lc_messages_free(list, n);
    http_respond_json(req, 200,
                      json_pack("{s:s, s:o, s:i, s:i}", "session_id", sid,
                                "messages", arr, "limit", limit, "offset",
                                offset));
}

/* Checks body.memory over the session's current settings and gives the
 * JSON text to store, or answers 400/404 and returns NULL. */
static char *memory_update(lc_app *app, http_request *req, const char *caller,
                           const char *sid, const json_t *memory) {
    lc_session s = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_sessions_get(app->db, caller, sid, &s, &err);
    if (!rc_session_status_ok(req, st, sid, &err)) return NULL;
    lc_memory_settings base, next;
    lc_memory_settings_from_metadata(s.metadata, &base);
    lc_session_clear(&s);
    char msg[160];
    if (lc_memory_settings_parse(memory, &base, &next, msg, sizeof msg)) {
        http_respond_error(req, 400, "invalid_field", "%s", msg);
        return NULL;
    }
    json_t *j = lc_memory_settings_json(&next);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) http_respond_error(req, 500, "internal", "out of memory");
    return text;
}

/* Answers the session after a change, or the store error. */
static void respond_session(lc_app *app, http_request *req, const char *caller,
                            const char *sid) {
    lc_session s = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_sessions_get(app->db, caller, sid, &s, &err);
    if (rc_session_status_ok(req, st, sid, &err))
        http_respond_json(req, 200, rc_session_json(&s));
    lc_session_clear(&s);
}

static void handle_patch(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *sid = http_request_param(req, "id");
    json_t *body = rc_body_object(req);
    if (!body) return;
    const char *title, *prompt;
    bool has_prompt = json_object_get(body, "system_prompt") != NULL;
    json_t *memory = json_object_get(body, "memory");
    char *memory_text = NULL;
    if (rc_string_field(req, body, "title", false, &title) ||
        rc_string_field(req, body, "system_prompt", false, &prompt))
        goto out;
    if (!title && !has_prompt && !memory) {
        http_respond_error(req, 400, "missing_field",
                           "give 'title', 'system_prompt' and/or 'memory'");
        goto out;
    }
    if (title && !*title) {
        http_respond_error(req, 400, "invalid_field",
                           "the field 'title' must not be empty");
        goto out;
    }
    /* memory is checked before anything is written */
    if (memory && !(memory_text = memory_update(app, req, caller, sid, memory)))
        goto out;
    lc_store_error err = {0};
    lc_store_status st = LC_STORE_OK;
    if (memory_text)
        st = lc_search_set_session_memory(app->db, caller, sid, memory_text,
                                          &err);
    /* Two statements, but each is idempotent: a retry after a failure in
     * between converges on what was asked. */
    if (st == LC_STORE_OK && title)
        st = lc_sessions_rename(app->db, caller, sid, title, &err);
    if (st == LC_STORE_OK && has_prompt)
        st = lc_sessions_set_system_prompt(app->db, caller, sid, prompt, &err);
    if (rc_session_status_ok(req, st, sid, &err))
        respond_session(app, req, caller, sid);
out:
    free(memory_text);
    json_decref(body);
}

static void handle_delete(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *sid = http_request_param(req, "id");
    /* A generation still running would store its reply into a session
     * that is gone; stop it first (its insert then fails harmlessly). */
    lc_app_cancel_session(app, caller, sid);
    lc_store_error err = {0};
    lc_store_status st = lc_sessions_delete(app->db, caller, sid, &err);
    if (rc_session_status_ok(req, st, sid, &err))
        http_respond_json(req, 200,
                          json_pack("{s:b, s:s}", "success", 1, "id", sid));
}

static void handle_cancel(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *sid = http_request_param(req, "id");
    lc_session s = {0};
    lc_store_error err = {0};
    lc_store_status st = lc_sessions_get(app->db, caller, sid, &s, &err);
    lc_session_clear(&s);
    if (!rc_session_status_ok(req, st, sid, &err)) return;
    int n = lc_app_cancel_session(app, caller, sid);
    http_respond_json(req, 200,
                      json_pack("{s:b, s:i}", "success", 1, "cancelled", n));
}

int lc_routes_sessions(lc_app *app) {
    http_server *s = app->http;
    if (http_server_route(s, "POST", "/api/sessions", handle_create, app) ||
        http_server_route(s, "GET", "/api/sessions/:user_id", handle_list,
                          app) ||
        http_server_route(s, "GET", "/api/sessions/:id/messages",
                          handle_messages, app) ||
        http_server_route(s, "PATCH", "/api/sessions/:id", handle_patch, app) ||
        http_server_route(s, "DELETE", "/api/sessions/:id", handle_delete,
                          app) ||
        http_server_route(s, "POST", "/api/sessions/:id/cancel", handle_cancel,
                          app))
        return -1;
    return 0;
}

/*
 * Request parsing and response shapes shared by the route files.
 */
#include "server/routes_common.h"
#include "util/utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

json_t *rc_body_object(http_request *req) {
    size_t len;
    const char *body = http_request_body(req, &len);
    /* jansson would refuse bad UTF-8 too, but as "invalid JSON"; a client
     * that sent Latin-1 deserves to be told what is wrong. */
    if (!lc_utf8_valid(body, len, NULL)) {
        http_respond_error(req, 400, "invalid_utf8",
                           "the request body is not valid UTF-8");
        return NULL;
    }
    json_t *j = http_request_json(req);
    if (!j) return NULL; /* answered */
    if (!json_is_object(j)) {
        json_decref(j);
        http_respond_error(req, 400, "invalid_request",
                           "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

int rc_string_field(http_request *req, json_t *obj, const char *field,
                    bool required, const char **out) {
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required) return 0;
        http_respond_error(req, 400, "missing_field",
                           "the field '%s' is required", field);
        return -1;
    }
    if (!json_is_string(v)) {
        http_respond_error(req, 400, "invalid_field",
                           "the field '%s' must be a string", field);
        return -1;
    }
    /* JSON can carry "\u0000", which C strings (and PostgreSQL text)
     * cannot hold. */
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_respond_error(req, 400, "invalid_field",
                           "the field '%s' must not contain NUL characters",
                           field);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int rc_query_int(http_request *req, const char *name, int min, int max,
                 int *out) {
    const char *s = http_request_query(req, name);
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        http_respond_error(req, 400, "invalid_query",
                           "the query parameter '%s' must be an integer in "
                           "%d..%d",
                           name, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

bool rc_model_served(const lc_app *app, const char *name) {
    if (app->model_name && strcmp(name, app->model_name) == 0) return true;
    for (const char *const *a = app->aliases; a && *a; a++)
        if (strcmp(name, *a) == 0) return true;
    return false;
}

bool rc_check_user_field(http_request *req, const char *field_value,
                         const char *caller) {
    if (!field_value || strcmp(field_value, caller) == 0) return true;
    http_respond_error(req, 403, "forbidden",
                       "user_id does not match the authenticated user");
    return false;
}

/* A JSON object stored as text (metadata columns); {} when unparsable,
 * which the store's checks make impossible in practice. */
static json_t *json_from_text(const char *text) {
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_object();
}

/* An integer column that is -1 for SQL NULL becomes null. */
static json_t *int_or_null(int v) {
    return v < 0 ? json_null() : json_integer(v);
}

json_t *rc_session_json(const lc_session *s) {
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:b, s:o}", "id", s->id,
        "user_id", s->user_id, "title", s->title ? s->title : "", "model",
        s->model ? s->model : "", "system_prompt", s->system_prompt,
        "created_at", s->created_at, "updated_at", s->updated_at, "is_active",
        s->is_active, "metadata", json_from_text(s->metadata));
}

json_t *rc_message_json(const lc_message *m) {
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:o}", "id", m->id,
                  "session_id", m->session_id, "role", m->role, "content",
                  m->content ? m->content : "", "model", m->model, "created_at",
                  m->created_at, "metadata", json_from_text(m->metadata));
    if (!j) return NULL;
    json_object_set_new(j, "tokens", int_or_null(m->tokens));
    json_object_set_new(j, "processing_time_ms",
                        int_or_null(m->processing_time_ms));
    json_object_set_new(j, "tokens_per_second",
                        int_or_null(m->tokens_per_second));
    json_object_set_new(j, "confidence", int_or_null(m->confidence));
    json_object_set_new(j, "cuda_accelerated",
                        json_boolean(m->cuda_accelerated));
    json_object_set_new(j, "gpu_memory_used_mb",
                        int_or_null(m->gpu_memory_used_mb));
    return j;
}

bool rc_session_status_ok(http_request *req, lc_store_status st,
                          const char *sid, const lc_store_error *err) {
    if (st == LC_STORE_NOT_FOUND)
        http_respond_error(req, 404, "session_not_found",
                           "no session %s for this user", sid);
    else if (st != LC_STORE_OK)
        lc_app_store_error(req, (int)st, err->message);
    return st == LC_STORE_OK;
}

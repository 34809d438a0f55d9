/*
 * What the route files share: reading a JSON body and its fields with one
 * clear 400 per problem, query parameters, and the JSON shapes of sessions and
 * messages. Every helper that can refuse a request answers it itself and tells
 * the caller to return.
 */
#ifndef LC_SERVER_ROUTES_COMMON_H
#define LC_SERVER_ROUTES_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "server/app.h"
#include "server/http.h"
#include "store/messages.h"
#include "store/sessions.h"

/* The body as one JSON object. Answers 400 invalid_utf8 when the bytes are
 * not UTF-8, 400 invalid_json when they are not JSON, 400 invalid_request
 * when the JSON is not an object; returns NULL then. */
json_t *rc_body_object(http_request *req);

/* A string field. Absent or null: *out = NULL, and when required answers
 * 400 missing_field naming it. Another type: 400 invalid_field. Returns 0,
 * or -1 after answering. */
int rc_string_field(http_request *req, json_t *obj, const char *field,
                    bool required, const char **out);

/* An optional integer query parameter within [min, max]. 0, or -1 after
 * answering 400 invalid_query. */
int rc_query_int(http_request *req, const char *name, int min, int max,
                 int *out);

/* True when name is the served model's name or one of its aliases. */
bool rc_model_served(const lc_app *app, const char *name);

/* The outcome of a store call on the caller's session sid: true when st is
 * LC_STORE_OK; otherwise answers 404 session_not_found (NOT_FOUND: absent,
 * or another user's) or the store error, and returns false. */
bool rc_session_status_ok(http_request *req, lc_store_status st,
                          const char *sid, const lc_store_error *err);

/* Answers 403 forbidden unless the seed-style user_id field equals the
 * caller. Returns true when it does. */
bool rc_check_user_field(http_request *req, const char *field_value,
                         const char *caller);

json_t *rc_session_json(const lc_session *s);
json_t *rc_message_json(const lc_message *m);

/* The metric families (registered by lc_routes_health, which every server
 * calls before it starts; labels in brackets). */
#define M_REQUESTS "llamachat_http_requests_total" /* method,route,status */
#define M_REQUEST_SECONDS                                                      \
    "llamachat_http_request_duration_seconds" /* route                         \
                                               */
#define M_TTFT_SECONDS "llamachat_time_to_first_token_seconds"
#define M_PROMPT_TOKENS "llamachat_prompt_tokens_total"
#define M_CACHED_TOKENS "llamachat_prompt_tokens_cached_total"
#define M_GENERATED_TOKENS "llamachat_generated_tokens_total"
#define M_TOKENS_PER_SECOND "llamachat_generation_tokens_per_second"
#define M_TURNS "llamachat_turns_total" /* finish_reason */
#define M_QUEUE_DEPTH "llamachat_queue_depth"
#define M_RUNNING "llamachat_generations_running"
#define M_GPU_MEMORY "llamachat_gpu_memory_bytes"
#define M_MODEL_LOADED "llamachat_model_loaded"
/* message embeddings written by the embedding service (chat/embedder.h) */
#define M_EMBEDDINGS "llamachat_embeddings_total"

/* The http_observer of the server: counts requests by route and status
 * and records their duration. ud is the lc_app. */
void rc_observe_request(void *ud, const char *method, const char *route,
                        int status, double seconds);

#endif

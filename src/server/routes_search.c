/*
 * Search over the caller's own messages (store/search.h for the ranking):
 *
 *   GET /api/search?q=...[&session_id=...][&limit=1..100, default 20]
 *   -> {"mode": "hybrid" | "full_text", "embedding_model": name | null,
 *       "results": [{message_id, session_id, session_title, role, snippet,
 *                    score, similarity, created_at}]}
 *
 * "hybrid" when an embedding model is loaded and the query was embedded
 * (with the model's query prefix, chat/embedder.h); "full_text" otherwise,
 * so a client can tell that meaning did not count. A session_id that is not
 * the caller's is 404, as everywhere.
 *
 * lc_app_embed_query is also the conversation service's memory hook.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/embedder.h"
#include "server/app.h"
#include "server/routes_common.h"
#include "store/search.h"
#include "store/sessions.h"

#define DEFAULT_LIMIT 20
/* How long a query waits for the embedding model before search goes on
 * with full-text alone. */
#define EMBED_WAIT_MS 10000

int lc_app_embed_query(void *ud, const char *text, float *out, int max_dim) {
    lc_app *app = ud;
    if (!app || !atomic_load(&app->embedder_ready)) return -1;
    lc_embedder *e = app->embedder;
    if (lc_embedder_dim(e) > max_dim) return -1;
    const char *prefix = lc_embedder_prefix(e, true);
    size_t len = strlen(prefix) + strlen(text) + 1;
    char *full = malloc(len);
    if (!full) return -1;
    snprintf(full, len, "%s%s", prefix, text);
    int dim = 0;
    char err[256];
    /* truncate: a query longer than the model's context is still a query */
    int rc = lc_embedder_embed(e, full, true, out, &dim, NULL, EMBED_WAIT_MS,
                               err, sizeof err);
    free(full);
    return rc == 0 ? dim : -1;
}

static json_t *hit_json(const lc_search_hit *h) {
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:f, s:o, s:s}", "message_id", h->message_id,
        "session_id", h->session_id, "session_title", h->session_title, "role",
        h->role, "snippet", h->snippet, "score", h->score, "similarity",
        isnan(h->similarity) ? json_null() : json_real(h->similarity),
        "created_at", h->created_at);
}

static void handle_search(http_request *req, void *ud) {
    lc_app *app = ud;
    char caller[37];
    if (!lc_app_auth(app, req, caller)) return;
    const char *q = http_request_query(req, "q");
    if (!q || !q[0]) {
        http_respond_error(req, 400, "missing_field",
                           "give the words to search for as ?q=");
        return;
    }
    if (strlen(q) > LC_SEARCH_QUERY_MAX) {
        http_respond_error(req, 400, "invalid_field",
                           "the query is longer than %d bytes",
                           LC_SEARCH_QUERY_MAX);
        return;
    }
    int limit = DEFAULT_LIMIT;
    if (rc_query_int(req, "limit", 1, LC_SEARCH_MAX_LIMIT, &limit)) return;
    const char *sid = http_request_query(req, "session_id");
    if (sid && !sid[0]) sid = NULL;
    lc_store_error err = {0};
    if (sid) {
        lc_session s = {0};
        lc_store_status st = lc_sessions_get(app->db, caller, sid, &s, &err);
        lc_session_clear(&s);
        if (!rc_session_status_ok(req, st, sid, &err)) return;
    }
    /* the query's embedding, when a model is loaded */
    float *qvec = NULL;
    int dim = -1;
    if (atomic_load(&app->embedder_ready)) {
        int want = lc_embedder_dim(app->embedder);
        qvec = want > 0 ? malloc((size_t)want * sizeof *qvec) : NULL;
        if (qvec) dim = lc_app_embed_query(app, q, qvec, want);
    }
    lc_search_query sq = {
        .user_id = caller,
        .text = q,
        .qvec = dim > 0 ? qvec : NULL,
        .dim = dim,
        .session_id = sid,
        .limit = limit,
    };
    lc_search_hit *hits = NULL;
    size_t n = 0;
    bool hybrid = false;
    lc_store_status st = lc_search_run(app->db, &sq, &hits, &n, &hybrid, &err);
    free(qvec);
    if (st != LC_STORE_OK) {
        lc_app_store_error(req, (int)st, err.message);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, hit_json(&hits[i]));
    lc_search_hits_free(hits, n);
    json_t *model = atomic_load(&app->embedder_ready)
                        ? json_string(lc_embedder_name(app->embedder))
                        : json_null();
    http_respond_json(req, 200,
                      json_pack("{s:s, s:o, s:o}", "mode",
                                hybrid ? "hybrid" : "full_text",
                                "embedding_model", model, "results", arr));
}

int lc_routes_search(lc_app *app) {
    return http_server_route(app->http, "GET", "/api/search", handle_search,
                             app)
               ? -1
               : 0;
}

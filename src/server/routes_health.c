/*
 * Operations: readiness and metrics.
 *
 *   GET /health   503 {status:"loading"} until the model is loaded, then
 *                 200 {status:"ok", model, aliases, ...}
 *   GET /metrics  Prometheus text: requests by route and status, request
 *                 durations, prompt and generated tokens, tokens/s,
 *                 time to first token, queue depth.
 *
 * Neither needs a token: a load balancer and a Prometheus scraper have none,
 * and neither route tells anything about users.
 */
#include <stdio.h>
#include <stdlib.h>

#include "server/app.h"
#include "server/routes_common.h"

/* Seconds: from a few milliseconds (tiny models, cached prompts) to a
 * minute (long replies of large models on a CPU). */
static const double seconds_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
static const double tps_buckets[] = {1,   2,   5,   10,   20,   50,
                                     100, 200, 500, 1000, 2000, 5000};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int register_families(lc_metrics *m) {
    int rc = 0;
    rc |= lc_metrics_register(m, M_REQUESTS, LC_METRIC_COUNTER,
                              "HTTP requests by method, route pattern and "
                              "status (status 0: the client left first)",
                              NULL, 0);
    rc |= lc_metrics_register(m, M_REQUEST_SECONDS, LC_METRIC_HISTOGRAM,
                              "HTTP request duration by route pattern "
                              "(WebSocket: the whole session)",
                              seconds_buckets, N_OF(seconds_buckets));
    rc |= lc_metrics_register(m, M_TTFT_SECONDS, LC_METRIC_HISTOGRAM,
                              "time from a turn's submission to its first "
                              "generated token",
                              seconds_buckets, N_OF(seconds_buckets));
    rc |= lc_metrics_register(m, M_PROMPT_TOKENS, LC_METRIC_COUNTER,
                              "prompt tokens of chat turns", NULL, 0);
    rc |=
        lc_metrics_register(m, M_CACHED_TOKENS, LC_METRIC_COUNTER,
                            "prompt tokens reused from the KV cache", NULL, 0);
    rc |= lc_metrics_register(m, M_GENERATED_TOKENS, LC_METRIC_COUNTER,
                              "tokens generated", NULL, 0);
    rc |= lc_metrics_register(m, M_TOKENS_PER_SECOND, LC_METRIC_HISTOGRAM,
                              "generation speed of each turn (generated "
                              "tokens / generation seconds)",
                              tps_buckets, N_OF(tps_buckets));
    rc |= lc_metrics_register(m, M_TURNS, LC_METRIC_COUNTER,
                              "chat turns by finish reason", NULL, 0);
    rc |= lc_metrics_register(m, M_QUEUE_DEPTH, LC_METRIC_GAUGE,
                              "generations waiting for a scheduler slot", NULL,
                              0);
    rc |= lc_metrics_register(m, M_RUNNING, LC_METRIC_GAUGE,
                              "generations running now", NULL, 0);
    rc |= lc_metrics_register(m, M_MODEL_LOADED, LC_METRIC_GAUGE,
                              "1 once the model is loaded", NULL, 0);
    rc |= lc_metrics_register(m, M_EMBEDDINGS, LC_METRIC_COUNTER,
                              "message embeddings stored (new messages and "
                              "the backfill)",
                              NULL, 0);
    rc |= lc_metrics_register(m, M_GPU_MEMORY, LC_METRIC_GAUGE,
                              "GPU memory held by the engine (0 on the CPU)",
                              NULL, 0);
    return rc ? -1 : 0;
}

void rc_observe_request(void *ud, const char *method, const char *route,
                        int status, double seconds) {
    lc_app *app = ud;
    char code[16], labels[384];
    snprintf(code, sizeof code, "%d", status);
    /* unmatched paths share one label so that scanners cannot grow the
     * number of series */
    if (!route) route = "unmatched";
    if (lc_metrics_labels(labels, sizeof labels, 3, "method", method, "route",
                          route, "status", code) == 0)
        lc_metrics_add(app->metrics, M_REQUESTS, labels, 1);
    if (lc_metrics_labels(labels, sizeof labels, 1, "route", route) == 0)
        lc_metrics_observe(app->metrics, M_REQUEST_SECONDS, labels, seconds);
}

static void handle_health(http_request *req, void *ud) {
    lc_app *app = ud;
    json_t *aliases = json_array();
    for (const char *const *a = app->aliases; a && *a; a++)
        json_array_append_new(aliases, json_string(*a));
    if (!atomic_load(&app->ready)) {
        http_response_header(req, "Retry-After", "2");
        http_respond_json(req, 503,
                          json_pack("{s:s, s:s, s:o}", "status", "loading",
                                    "model", app->model_name, "aliases",
                                    aliases));
        return;
    }
    int waiting = 0, running = 0;
    lc_sched_load(app->sched, &waiting, &running);
    http_respond_json(req, 200,
                      json_pack("{s:s, s:s, s:o, s:s, s:i, s:i, s:i}", "status",
                                "ok", "model", app->model_name, "aliases",
                                aliases, "arch", lc_model_arch(app->model),
                                "n_ctx", lc_sched_n_ctx(app->sched),
                                "queue_depth", waiting, "running", running));
}

static void handle_metrics(http_request *req, void *ud) {
    lc_app *app = ud;
    /* Gauges of state are read now rather than tracked on every change. */
    bool ready = atomic_load(&app->ready);
    int waiting = 0, running = 0;
    if (ready) lc_sched_load(app->sched, &waiting, &running);
    lc_metrics_set(app->metrics, M_QUEUE_DEPTH, NULL, waiting);
    lc_metrics_set(app->metrics, M_RUNNING, NULL, running);
    lc_metrics_set(app->metrics, M_MODEL_LOADED, NULL, ready ? 1 : 0);
    lc_metrics_set(app->metrics, M_GPU_MEMORY, NULL,
                   ready ? lc_sched_gpu_memory_mb(app->sched) * 1048576.0 : 0);
    size_t len;
    char *text = lc_metrics_render(app->metrics, &len);
    if (!text) {
        http_respond_error(req, 500, "internal_error", "out of memory");
        return;
    }
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                 len);
    free(text);
}

int lc_routes_health(lc_app *app) {
    if (register_families(app->metrics)) return -1;
    if (http_server_route(app->http, "GET", "/health", handle_health, app) ||
        http_server_route(app->http, "GET", "/metrics", handle_metrics, app))
        return -1;
    return 0;
}

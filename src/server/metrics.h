/*
 * Metrics in the Prometheus text exposition format (version 0.0.4):
 * counters, gauges and histograms, each a family of series told apart by
 * labels. Thread-safe: every connection thread records into the same
 * registry under one mutex (recording is a few additions, so the lock is
 * held for nanoseconds).
 *
 * A family is registered once, before use, with its type, help line and
 * (histograms) bucket bounds. A series is created the first time a label
 * set is recorded. Label sets are preformatted strings built with
 * lc_metrics_labels(), which escapes values as the format requires; callers
 * must keep label values bounded (route patterns, not paths) so that the
 * number of series stays small.
 *
 *     lc_metrics *m = lc_metrics_new();
 *     lc_metrics_register(m, "lc_requests_total", LC_METRIC_COUNTER,
 *                         "HTTP requests by route and status", NULL, 0);
 *     char l[256];
 *     lc_metrics_labels(l, sizeof l, 2, "route", "/health", "status", "200");
 *     lc_metrics_add(m, "lc_requests_total", l, 1);
 *     char *text = lc_metrics_render(m, NULL);
 */
#ifndef LC_SERVER_METRICS_H
#define LC_SERVER_METRICS_H

#include <stddef.h>

typedef struct lc_metrics lc_metrics;

typedef enum lc_metric_type {
    LC_METRIC_COUNTER,
    LC_METRIC_GAUGE,
    LC_METRIC_HISTOGRAM,
} lc_metric_type;

#define LC_METRICS_MAX_BUCKETS 24

lc_metrics *lc_metrics_new(void);
void lc_metrics_free(lc_metrics *m);

/* Declares a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*; buckets
 * (histograms only) are the finite upper bounds in increasing order, at
 * most LC_METRICS_MAX_BUCKETS (+Inf is implied). Returns 0, or -1 for a bad
 * name, bad buckets, a name already registered, or out of memory. */
int lc_metrics_register(lc_metrics *m, const char *name, lc_metric_type type,
                        const char *help, const double *buckets, int n_buckets);

/* Counter: adds v (>= 0). Gauge: adds v (may be negative). Unknown names
 * and wrong types are ignored (a metric must never break a request). */
void lc_metrics_add(lc_metrics *m, const char *name, const char *labels,
                    double v);
/* Gauge: sets the value. */
void lc_metrics_set(lc_metrics *m, const char *name, const char *labels,
                    double v);
/* Histogram: records one observation. */
void lc_metrics_observe(lc_metrics *m, const char *name, const char *labels,
                        double v);

/* Formats n_pairs key/value pairs (const char * each, 2 * n_pairs
 * arguments) as `k1="v1",k2="v2"`, escaping backslash, double quote and
 * newline in values. A NULL value is written as "". Returns 0, or -1 when
 * the result does not fit (buf then holds "" ). */
int lc_metrics_labels(char *buf, size_t size, int n_pairs, ...);

/* The whole registry as exposition text (malloc'd, NUL-terminated; *len
 * when non-NULL gets its length). NULL when out of memory. */
char *lc_metrics_render(lc_metrics *m, size_t *len);

#endif

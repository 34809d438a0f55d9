/*
 * The metrics registry: families in registration order, each with its
 * series in creation order, all behind one mutex. Lookups are linear: a
 * server has a few dozen series, and a scan of them costs less than the
 * hashing that a table would need.
 */
#include "server/metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct series {
    char *labels;    /* preformatted, "" for none */
    double value;    /* counter / gauge */
    double sum;      /* histogram: sum of observations */
    double count;    /* histogram: number of observations */
    double *buckets; /* histogram: [n_buckets + 1] non-cumulative counts,
                        the last one for +Inf */
} series;

typedef struct family {
    char *name;
    char *help;
    lc_metric_type type;
    double bounds[LC_METRICS_MAX_BUCKETS]; /* [n_bounds] */
    int n_bounds;
    series *series; /* [n] */
    int n, cap;
} family;

struct lc_metrics {
    pthread_mutex_t mu;
    family *families; /* [n] */
    int n, cap;
};

lc_metrics *lc_metrics_new(void) {
    lc_metrics *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void lc_metrics_free(lc_metrics *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        family *f = &m->families[i];
        for (int j = 0; j < f->n; j++) {
            free(f->series[j].labels);
            free(f->series[j].buckets);
        }
        free(f->series);
        free(f->name);
        free(f->help);
    }
    free(m->families);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool valid_name(const char *s) {
    if (!s || !*s || isdigit((unsigned char)*s)) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != ':') return false;
    return true;
}

static family *find_family(lc_metrics *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->families[i].name, name) == 0) return &m->families[i];
    return NULL;
}

int lc_metrics_register(lc_metrics *m, const char *name, lc_metric_type type,
                        const char *help, const double *buckets,
                        int n_buckets) {
    if (!m || !valid_name(name)) return -1;
    if (type == LC_METRIC_HISTOGRAM) {
        if (n_buckets < 1 || n_buckets > LC_METRICS_MAX_BUCKETS || !buckets)
            return -1;
        for (int i = 0; i < n_buckets; i++) {
            if (!isfinite(buckets[i])) return -1;
            if (i > 0 && buckets[i] <= buckets[i - 1]) return -1;
        }
    } else if (n_buckets != 0) {
        return -1;
    }
    int rc = -1;
    pthread_mutex_lock(&m->mu);
    if (find_family(m, name)) goto out;
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 16;
        family *fs = realloc(m->families, (size_t)cap * sizeof(*fs));
        if (!fs) goto out;
        m->families = fs;
        m->cap = cap;
    }
    family *f = &m->families[m->n];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        free(f->name);
        free(f->help);
        goto out;
    }
    f->type = type;
    f->n_bounds = type == LC_METRIC_HISTOGRAM ? n_buckets : 0;
    for (int i = 0; i < f->n_bounds; i++) f->bounds[i] = buckets[i];
    m->n++;
    rc = 0;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* The series of f with these labels, created when new. Caller holds mu. */
static series *get_series(family *f, const char *labels) {
    if (!labels) labels = "";
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->series[i].labels, labels) == 0) return &f->series[i];
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        series *ss = realloc(f->series, (size_t)cap * sizeof(*ss));
        if (!ss) return NULL;
        f->series = ss;
        f->cap = cap;
    }
    series *s = &f->series[f->n];
    memset(s, 0, sizeof(*s));
    s->labels = strdup(labels);
    if (!s->labels) return NULL;
    if (f->type == LC_METRIC_HISTOGRAM) {
        s->buckets = calloc((size_t)f->n_bounds + 1, sizeof(double));
        if (!s->buckets) {
            free(s->labels);
            return NULL;
        }
    }
    f->n++;
    return s;
}

/* Finds the family and series for a record of `type`; NULL when the name
 * is unknown, the type differs, or memory ran out. Caller holds mu. */
static series *lookup(lc_metrics *m, const char *name, lc_metric_type type,
                      const char *labels, family **fam) {
    family *f = find_family(m, name);
    if (!f || f->type != type) return NULL;
    *fam = f;
    return get_series(f, labels);
}

void lc_metrics_add(lc_metrics *m, const char *name, const char *labels,
                    double v) {
    if (!m || !name || !isfinite(v)) return;
    pthread_mutex_lock(&m->mu);
    family *f = find_family(m, name);
    if (f && (f->type == LC_METRIC_GAUGE ||
              (f->type == LC_METRIC_COUNTER && v >= 0))) {
        series *s = get_series(f, labels);
        if (s) s->value += v;
    }
    pthread_mutex_unlock(&m->mu);
}

void lc_metrics_set(lc_metrics *m, const char *name, const char *labels,
                    double v) {
    if (!m || !name || !isfinite(v)) return;
    pthread_mutex_lock(&m->mu);
    family *f;
    series *s = lookup(m, name, LC_METRIC_GAUGE, labels, &f);
    if (s) s->value = v;
    pthread_mutex_unlock(&m->mu);
}

void lc_metrics_observe(lc_metrics *m, const char *name, const char *labels,
                        double v) {
    if (!m || !name || isnan(v)) return;
    pthread_mutex_lock(&m->mu);
    family *f;
    series *s = lookup(m, name, LC_METRIC_HISTOGRAM, labels, &f);
    if (s) {
        /* Counts are stored per bucket and summed when rendered, so an
         * observation touches one slot. */
        int b = 0;
        while (b < f->n_bounds && v > f->bounds[b]) b++;
        s->buckets[b] += 1;
        s->sum += v;
        s->count += 1;
    }
    pthread_mutex_unlock(&m->mu);
}

int lc_metrics_labels(char *buf, size_t size, int n_pairs, ...) {
    if (!buf || size == 0) return -1;
    va_list ap;
    va_start(ap, n_pairs);
    size_t o = 0;
    bool ok = true;
    for (int i = 0; i < n_pairs && ok; i++) {
        const char *k = va_arg(ap, const char *);
        const char *v = va_arg(ap, const char *);
        if (!v) v = "";
        int w = snprintf(buf + o, size - o, "%s%s=\"", i ? "," : "", k);
        if (w < 0 || (size_t)w >= size - o) {
            ok = false;
            break;
        }
        o += (size_t)w;
        for (const char *p = v; *p && ok; p++) {
            const char *esc = NULL;
            if (*p == '\\') esc = "\\\\";
            if (*p == '"') esc = "\\\"";
            if (*p == '\n') esc = "\\n";
            size_t need = esc ? 2 : 1;
            if (o + need >= size) {
                ok = false;
                break;
            }
            if (esc) {
                memcpy(buf + o, esc, 2);
            } else {
                buf[o] = *p;
            }
            o += need;
        }
        if (ok && o + 1 < size) {
            buf[o++] = '"';
        } else {
            ok = false;
        }
    }
    va_end(ap);
    if (!ok) {
        buf[0] = '\0';
        return -1;
    }
    buf[o] = '\0';
    return 0;
}

/* ---------------------------------------------------------- rendering */

typedef struct text {
    char *p;
    size_t len, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (w < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)w < t->cap - t->len) {
            t->len += (size_t)w;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)w;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

/* A sample value: integers without a fraction (counts are exact), others
 * with enough digits to round-trip. */
static void put_value(text *t, double v) {
    if (isinf(v)) {
        put(t, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        put(t, "%.0f", v);
    } else {
        put(t, "%.17g", v);
    }
}

/* Help text escapes only backslash and newline. */
static void put_help(text *t, const char *help) {
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            put(t, "\\\\");
        else if (*p == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *p);
    }
}

static void render_histogram(text *t, const family *f, const series *s) {
    const char *sep = s->labels[0] ? "," : "";
    double cum = 0;
    for (int b = 0; b <= f->n_bounds; b++) {
        cum += s->buckets[b];
        put(t, "%s_bucket{%s%sle=\"", f->name, s->labels, sep);
        if (b < f->n_bounds)
            put(t, "%g", f->bounds[b]);
        else
            put(t, "+Inf");
        put(t, "\"} ");
        put_value(t, cum);
        put(t, "\n");
    }
    const char *open = s->labels[0] ? "{" : "";
    const char *close = s->labels[0] ? "}" : "";
    put(t, "%s_sum%s%s%s ", f->name, open, s->labels, close);
    put_value(t, s->sum);
    put(t, "\n%s_count%s%s%s ", f->name, open, s->labels, close);
    put_value(t, s->count);
    put(t, "\n");
}

char *lc_metrics_render(lc_metrics *m, size_t *len) {
    text t = {.cap = 4096};
    t.p = malloc(t.cap);
    if (!t.p) return NULL;
    t.p[0] = '\0';
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n; i++) {
        const family *f = &m->families[i];
        put(&t, "# HELP %s ", f->name);
        put_help(&t, f->help);
        put(&t, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
        for (int j = 0; j < f->n; j++) {
            const series *s = &f->series[j];
            if (f->type == LC_METRIC_HISTOGRAM) {
                render_histogram(&t, f, s);
                continue;
            }
            if (s->labels[0])
                put(&t, "%s{%s} ", f->name, s->labels);
            else
                put(&t, "%s ", f->name);
            put_value(&t, s->value);
            put(&t, "\n");
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    if (len) *len = t.len;
    return t.p;
}

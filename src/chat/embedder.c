/*
 * The embedding service; see embedder.h. One worker thread owns the
 * lc_context; everything else talks to it through two queues under one
 * mutex: synchronous requests (on their callers' stacks) and stored
 * messages (heap copies, bounded).
 */
#include "chat/embedder.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/embeddings.h"

#define DEFAULT_QUEUE_MAX 1024
#define DEFAULT_BACKFILL_MS 60000
#define DEFAULT_BACKFILL_BATCH 32
#define DEFAULT_TIMEOUT_MS 30000

/* A synchronous request: lives on the caller's stack until done. */
typedef struct sync_req {
    const char *text;
    bool truncate;
    float *out;
    int n_tokens;
    int rc;
    char err[256];
    bool stopped; /* never run: the service stopped */
    bool running; /* taken by the worker: the caller must wait for done */
    bool done;
    struct sync_req *next;
} sync_req;

/* A stored message waiting for its embedding. */
typedef struct msg_req {
    char id[37];
    char *content;
    struct msg_req *next;
} msg_req;

struct lc_embedder {
    lc_model *model;
    lc_context *ctx;
    lc_db *db;
    char name[256];
    int dim;
    int n_ctx;
    bool nomic; /* the prefix rule of embedder.h */
    int queue_max;
    int backfill_ms;
    int backfill_batch;
    void (*on_stored)(void *ud);
    void *on_stored_ud;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* the worker: new work or stop */
    pthread_cond_t done; /* synchronous callers: a request finished */
    bool stop;
    sync_req *sync_head, *sync_tail;
    msg_req *msg_head, *msg_tail;
    int n_msgs;
    atomic_llong n_stored;

    /* Backfill state, the worker's alone. */
    lc_embedding_todo *todo;
    size_t n_todo, i_todo;
    long long cursor;          /* seq of the last row fetched in this pass */
    bool pass_running;         /* the last batch was full: fetch more */
    struct timespec next_pass; /* CLOCK_MONOTONIC */
    float *scratch;            /* [dim] for stored messages */
};

/* ---------------------------------------------------------------- time */

static struct timespec mono_after_ms(int ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool mono_passed(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec ||
           (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* --------------------------------------------------------- computation */

/* True when s contains "nomic" in any case. */
static bool says_nomic(const char *s) {
    for (; s && *s; s++) {
        const char *w = "nomic";
        size_t k = 0;
        while (w[k] && s[k] && tolower((unsigned char)s[k]) == w[k]) k++;
        if (!w[k]) return true;
    }
    return false;
}

/* Tokens of text (special tokens added and recognised, as `llamachat
 * embed` does), malloc'd; NULL with err set. */
static int32_t *tokenize(const lc_model *m, const char *text, int *n_out,
                         char *err, size_t err_len) {
    size_t len = strlen(text);
    int cap = (int)(len < 1 << 26 ? len : 1 << 26) + 8;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *ids = malloc((size_t)cap * sizeof *ids);
        if (!ids) {
            snprintf(err, err_len, "out of memory");
            return NULL;
        }
        int n = lc_tokenize(m, text, len, true, true, ids, cap);
        if (n < 0) break;
        if (n <= cap) {
            *n_out = n;
            return ids;
        }
        free(ids);
        cap = n; /* the tokenizer said how many it needs */
    }
    snprintf(err, err_len, "cannot tokenize the text");
    return NULL;
}

/* The worker's computation: text -> out [dim]. 0, or -1 with err. */
static int embed_now(lc_embedder *e, const char *prefix, const char *text,
                     bool truncate, float *out, int *n_tokens, char *err,
                     size_t err_len) {
    char *full = NULL;
    if (prefix[0]) {
        size_t a = strlen(prefix), b = strlen(text);
        full = malloc(a + b + 1);
        if (!full) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        memcpy(full, prefix, a);
        memcpy(full + a, text, b + 1);
        text = full;
    }
    int n = 0;
    int32_t *ids = tokenize(e->model, text, &n, err, err_len);
    free(full);
    if (!ids) return -1;
    if (n > e->n_ctx) {
        if (!truncate) {
            snprintf(err, err_len,
                     "the text is %d tokens: more than the embedding "
                     "model's context (%d)",
                     n, e->n_ctx);
            free(ids);
            return -1;
        }
        /* keep the start and the end-of-text marker (SEP/EOS) */
        ids[e->n_ctx - 1] = ids[n - 1];
        n = e->n_ctx;
    }
    int rc = lc_embed(e->ctx, ids, n, out, err, err_len);
    free(ids);
    if (rc == 0 && n_tokens) *n_tokens = n;
    return rc;
}

/* Embeds one stored message with the document prefix and writes it. */
static void store_one(lc_embedder *e, const char *id, const char *content) {
    char err[256];
    if (embed_now(e, lc_embedder_prefix(e, false), content, true, e->scratch,
                  NULL, err, sizeof err) != 0) {
        fprintf(stderr, "llamachat: embedding of message %s: %s\n", id, err);
        return;
    }
    lc_store_error serr = {0};
    lc_store_status st =
        lc_embeddings_set(e->db, id, e->scratch, e->dim, &serr);
    if (st == LC_STORE_OK) {
        atomic_fetch_add(&e->n_stored, 1);
        if (e->on_stored) e->on_stored(e->on_stored_ud);
    } else if (st != LC_STORE_NOT_FOUND) /* deleted meanwhile: nothing to do */
        fprintf(stderr, "llamachat: storing the embedding of %s: %s\n", id,
                serr.message);
}

/* Fetches the backfill's next batch (outside the lock). */
static void backfill_fetch(lc_embedder *e) {
    lc_embedding_todos_free(e->todo, e->n_todo);
    e->todo = NULL;
    e->n_todo = e->i_todo = 0;
    lc_store_error serr = {0};
    if (lc_embeddings_missing(e->db, e->cursor, e->backfill_batch, &e->todo,
                              &e->n_todo, &serr) != LC_STORE_OK) {
        fprintf(stderr, "llamachat: embedding backfill: %s\n", serr.message);
        e->pass_running = false; /* try again at the next pass */
        return;
    }
    if (e->n_todo > 0) e->cursor = e->todo[e->n_todo - 1].seq;
    e->pass_running = e->n_todo == (size_t)e->backfill_batch;
}

/* ---------------------------------------------------------------- worker */

static void *worker(void *arg) {
    lc_embedder *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        if (e->stop) break;
        /* 1. synchronous requests first */
        sync_req *r = e->sync_head;
        if (r) {
            e->sync_head = r->next;
            if (!e->sync_head) e->sync_tail = NULL;
            r->running = true;
            pthread_mutex_unlock(&e->mu);
            r->rc = embed_now(e, "", r->text, r->truncate, r->out, &r->n_tokens,
                              r->err, sizeof r->err);
            pthread_mutex_lock(&e->mu);
            r->done = true;
            pthread_cond_broadcast(&e->done);
            continue;
        }
        /* 2. stored messages */
        msg_req *m = e->msg_head;
        if (m) {
            e->msg_head = m->next;
            if (!e->msg_head) e->msg_tail = NULL;
            e->n_msgs--;
            pthread_mutex_unlock(&e->mu);
            store_one(e, m->id, m->content);
            free(m->content);
            free(m);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        /* 3. the backfill, one message per round */
        if (e->db && e->i_todo < e->n_todo) {
            lc_embedding_todo *t = &e->todo[e->i_todo++];
            pthread_mutex_unlock(&e->mu);
            store_one(e, t->id, t->content);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        if (e->db && (e->pass_running || mono_passed(&e->next_pass))) {
            if (!e->pass_running) {
                e->cursor = 0; /* a new pass */
                e->next_pass = mono_after_ms(e->backfill_ms);
            }
            pthread_mutex_unlock(&e->mu);
            backfill_fetch(e);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        if (e->db)
            pthread_cond_timedwait(&e->wake, &e->mu, &e->next_pass);
        else
            pthread_cond_wait(&e->wake, &e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ------------------------------------------------------------ public API */

lc_embedder *lc_embedder_new(lc_model *model, lc_db *db,
                             const lc_embedder_params *params, char *err,
                             size_t err_len) {
    if (!model || !lc_model_is_encoder(model)) {
        snprintf(err, err_len,
                 "'%s' is not an embedding model (bert, "
                 "nomic-bert, gemma-embedding)",
                 model ? lc_model_arch(model) : "(none)");
        return NULL;
    }
    lc_embedder_params p = {0};
    if (params) p = *params;
    lc_embedder *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    e->model = model;
    e->db = db;
    snprintf(e->name, sizeof e->name, "%s", p.name ? p.name : "");
    e->nomic = says_nomic(e->name) || says_nomic(lc_model_name(model));
    e->dim = lc_model_n_embd(model);
    e->queue_max = p.queue_max > 0 ? p.queue_max : DEFAULT_QUEUE_MAX;
    e->backfill_ms = p.backfill_interval_ms > 0 ? p.backfill_interval_ms
                                                : DEFAULT_BACKFILL_MS;
    e->backfill_batch = p.backfill_batch > 0 && p.backfill_batch <= 1000
                            ? p.backfill_batch
                            : DEFAULT_BACKFILL_BATCH;
    atomic_init(&e->n_stored, 0);
    e->on_stored = p.on_stored;
    e->on_stored_ud = p.on_stored_ud;
    e->next_pass = mono_after_ms(0); /* the first pass at once */
    lc_context_params cp = lc_context_default_params();
    cp.n_ctx = p.n_ctx;
    cp.n_threads = p.n_threads;
    cp.gpu_mode = LC_GPU_OFF; /* the GPU backend runs decoders only */
    e->scratch = malloc((size_t)e->dim * sizeof(float));
    e->ctx = e->scratch ? lc_context_new(model, &cp, err, err_len) : NULL;
    if (!e->ctx) {
        if (!e->scratch) snprintf(err, err_len, "out of memory");
        free(e->scratch);
        free(e);
        return NULL;
    }
    e->n_ctx = lc_context_n_ctx(e->ctx);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->wake, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&e->wake);
    pthread_cond_init(&e->wake, &ca);
    pthread_cond_init(&e->done, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&e->thread, NULL, worker, e) != 0) {
        snprintf(err, err_len, "cannot start the embedding thread");
        pthread_cond_destroy(&e->wake);
        pthread_cond_destroy(&e->done);
        pthread_mutex_destroy(&e->mu);
        lc_context_free(e->ctx);
        free(e->scratch);
        free(e);
        return NULL;
    }
    return e;
}

void lc_embedder_free(lc_embedder *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    /* the worker is gone: waiting callers are told, messages dropped */
    pthread_mutex_lock(&e->mu);
    for (sync_req *r = e->sync_head; r; r = r->next) {
        r->rc = -1;
        r->stopped = true;
        snprintf(r->err, sizeof r->err, "the server is shutting down");
        r->done = true;
    }
    e->sync_head = e->sync_tail = NULL;
    pthread_cond_broadcast(&e->done);
    pthread_mutex_unlock(&e->mu);
    for (msg_req *m = e->msg_head, *next; m; m = next) {
        next = m->next;
        free(m->content);
        free(m);
    }
    lc_embedding_todos_free(e->todo, e->n_todo);
    lc_context_free(e->ctx);
    /* a caller woken above may still hold the mutex for a moment: the
     * server frees the service only after HTTP has stopped, so none is */
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->done);
    pthread_mutex_destroy(&e->mu);
    free(e->scratch);
    free(e);
}

int lc_embedder_dim(const lc_embedder *e) {
    return e->dim;
}

const char *lc_embedder_name(const lc_embedder *e) {
    return e->name;
}

const char *lc_embedder_model_name(const lc_embedder *e) {
    return lc_model_name(e->model);
}

const char *lc_embedder_prefix(const lc_embedder *e, bool query) {
    if (!e->nomic) return "";
    return query ? "search_query: " : "search_document: ";
}

long long lc_embedder_n_stored(const lc_embedder *e) {
    return atomic_load(&e->n_stored);
}

int lc_embedder_embed(lc_embedder *e, const char *text, bool truncate,
                      float *out, int *dim, int *n_tokens, int timeout_ms,
                      char *err, size_t err_len) {
    if (dim) *dim = e->dim;
    if (!text || !out) {
        snprintf(err, err_len, "no text");
        return -1;
    }
    sync_req r = {.text = text, .truncate = truncate, .out = out};
    struct timespec deadline =
        mono_after_ms(timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
    pthread_mutex_lock(&e->mu);
    if (e->stop) {
        pthread_mutex_unlock(&e->mu);
        snprintf(err, err_len, "the server is shutting down");
        return -2;
    }
    if (e->sync_tail)
        e->sync_tail->next = &r;
    else
        e->sync_head = &r;
    e->sync_tail = &r;
    pthread_cond_signal(&e->wake);
    while (!r.done) {
        int w = r.running ? pthread_cond_wait(&e->done, &e->mu)
                          : pthread_cond_timedwait(&e->done, &e->mu, &deadline);
        if (w == ETIMEDOUT && !r.running && !r.done) {
            /* still queued: take it out, nobody else points to it then */
            sync_req **pp = &e->sync_head;
            sync_req *prev = NULL;
            while (*pp && *pp != &r) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            if (*pp) *pp = r.next;
            if (e->sync_tail == &r) e->sync_tail = prev;
            pthread_mutex_unlock(&e->mu);
            snprintf(err, err_len,
                     "the embedding model is busy: no turn within %d ms",
                     timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
            return -2;
        }
    }
    pthread_mutex_unlock(&e->mu);
    if (r.rc != 0) {
        snprintf(err, err_len, "%s", r.err);
        return r.stopped ? -2 : -1;
    }
    if (n_tokens) *n_tokens = r.n_tokens;
    return 0;
}

bool lc_embedder_submit(lc_embedder *e, const char *message_id,
                        const char *content) {
    if (!e || !e->db || !message_id || !content) return false;
    msg_req *m = calloc(1, sizeof *m);
    if (!m) return false;
    snprintf(m->id, sizeof m->id, "%s", message_id);
    m->content = strdup(content);
    if (!m->content) {
        free(m);
        return false;
    }
    pthread_mutex_lock(&e->mu);
    if (e->stop || e->n_msgs >= e->queue_max) {
        pthread_mutex_unlock(&e->mu);
        free(m->content);
        free(m);
        return false;
    }
    if (e->msg_tail)
        e->msg_tail->next = m;
    else
        e->msg_head = m;
    e->msg_tail = m;
    e->n_msgs++;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    return true;
}

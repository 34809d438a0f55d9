/*
 * lc_serve: assembles the database, the HTTP server with its routes, and
 * the model (loaded in the background), and takes them down in reverse
 * order on SIGINT/SIGTERM. See server.h for the order and why.
 */
#include "server/server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chat/chat.h"
#include "chat/embedder.h"
#include "sched/sched.h"
#include "server/app.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/routes_common.h"
#include "server/routes_static.h"
#include "store/cluster.h"
#include "store/db.h"
#include "store/embeddings.h"
#include "store/migrate.h"

#define DB_CONNECTIONS 16
#define DEFAULT_GRACE_MS 5000
/* After the grace period, cancelled turns still need to store their reply
 * and send their last frame. */
#define STOP_SLACK_MS 5000

enum { LOADING = 0, LOADED = 1, LOAD_FAILED = -1 };

typedef struct serve_state {
    const lc_serve_options *opt;
    lc_app app;
    char model_name[256];
    atomic_int load_state;
    char load_err[512];
    pthread_t loader;
    bool loader_started;
    /* --embedding-model: loaded by its own thread, like the chat model */
    char embed_name[256];
    lc_model *embed_model;
    atomic_int embed_state;
    char embed_err[512];
    pthread_t embed_loader;
    bool embed_loader_started;
} serve_state;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("llamachat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

char *lc_serve_default_data_dir(void) {
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char buf[4096];
    if (xdg && xdg[0] == '/')
        snprintf(buf, sizeof buf, "%s/llamachat", xdg);
    else if (home && *home)
        snprintf(buf, sizeof buf, "%s/.local/share/llamachat", home);
    else
        return NULL;
    return strdup(buf);
}

/* mkdir -p with mode 0700 for what it creates. 0, or -1 with errno. */
static int make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* The name sessions record: the file name without directory and ".gguf". */
static void model_name_from_path(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    size_t len = strlen(out);
    if (len > 5 && strcmp(out + len - 5, ".gguf") == 0) out[len - 5] = '\0';
}

/* ---------------------------------------------------------------- model */

/* The conversation service's hook: a committed message goes to the
 * embedding queue (never blocks; a full queue leaves it to the backfill). */
static void on_message_stored(void *ud, const char *message_id,
                              const char *content) {
    lc_app *app = ud;
    if (atomic_load(&app->embedder_ready))
        lc_embedder_submit(app->embedder, message_id, content);
}

/* The embedding service's hook: one more embedding stored. */
static void on_embedding_stored(void *ud) {
    lc_app *app = ud;
    lc_metrics_add(app->metrics, M_EMBEDDINGS, NULL, 1);
}

/* pgvector's column is vector(768) (migration 0001). */
#define PGVECTOR_DIM 768

static void *load_embedding_model(void *arg) {
    serve_state *st = arg;
    const lc_serve_options *opt = st->opt;
    double t0 = now_s();
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = opt->n_threads;
    lc_model *model = lc_model_load(opt->embedding_model_path, &mp,
                                    st->embed_err, sizeof st->embed_err);
    if (!model) goto failed;
    st->embed_model = model; /* freed at shutdown */
    if (!lc_model_is_encoder(model)) {
        snprintf(st->embed_err, sizeof st->embed_err,
                 "'%s' is a '%s' model, not an embedding model (bert, "
                 "nomic-bert, gemma-embedding)",
                 opt->embedding_model_path, lc_model_arch(model));
        goto failed;
    }
    /* pgvector stores exactly 768 values; the real[] fallback any size */
    char backend[16] = "";
    lc_store_error serr = {0};
    if (lc_embeddings_backend(st->app.db, backend, &serr) != LC_STORE_OK) {
        snprintf(st->embed_err, sizeof st->embed_err, "%s", serr.message);
        goto failed;
    }
    const int dim = lc_model_n_embd(model);
    if (strcmp(backend, "pgvector") == 0 && dim != PGVECTOR_DIM) {
        snprintf(st->embed_err, sizeof st->embed_err,
                 "the embedding model makes %d-dimension vectors, but this "
                 "database stores pgvector's vector(%d): use a %d-dimension "
                 "model (see docs/api.md, \"Embeddings\")",
                 dim, PGVECTOR_DIM, PGVECTOR_DIM);
        goto failed;
    }
    lc_embedder_params ep = {.name = st->embed_name,
                             .n_threads = opt->n_threads,
                             .backfill_interval_ms = opt->backfill_interval_ms,
                             .on_stored = on_embedding_stored,
                             .on_stored_ud = &st->app};
    lc_embedder *e = lc_embedder_new(model, st->app.db, &ep, st->embed_err,
                                     sizeof st->embed_err);
    if (!e) goto failed;
    st->app.embedder = e;
    atomic_store(&st->app.embedder_ready, true);
    atomic_store(&st->embed_state, LOADED);
    /* where the real[] fallback's cosine runs: 'c' when the
     * llamachat_vector extension is installed (docs/decisions/0005) */
    char cosine[16] = "";
    if (strcmp(backend, "array") == 0 &&
        lc_store_vector_cosine(st->app.db, cosine, &serr) != LC_STORE_OK)
        snprintf(cosine, sizeof cosine, "?");
    fprintf(stderr,
            "llamachat: embedding model %s loaded in %.2f s (%s, %d "
            "dimensions, %s vectors%s%s)\n",
            st->embed_name, now_s() - t0, lc_model_arch(model), dim, backend,
            cosine[0] ? ", cosine in " : "",
            strcmp(cosine, "c") == 0 ? "C" : cosine);
    return NULL;
failed:
    atomic_store(&st->embed_state, LOAD_FAILED);
    return NULL;
}

static void *load_model(void *arg) {
    serve_state *st = arg;
    const lc_serve_options *opt = st->opt;
    double t0 = now_s();
    lc_model_params mp = lc_model_default_params();
    mp.n_threads = opt->n_threads;
    lc_model *model =
        lc_model_load(opt->model_path, &mp, st->load_err, sizeof st->load_err);
    if (!model) goto failed;
    lc_sched_params sp = lc_sched_default_params();
    sp.n_ctx = opt->n_ctx;
    if (opt->n_slots > 0) sp.n_slots = opt->n_slots;
    if (opt->queue_max >= 0) sp.queue_max = opt->queue_max;
    sp.n_threads = opt->n_threads;
    sp.gpu_mode = opt->gpu_mode;
    sp.n_gpu_layers = opt->n_gpu_layers;
    lc_sched *sched =
        lc_sched_new(model, &sp, st->load_err, sizeof st->load_err);
    if (!sched) {
        lc_model_free(model);
        goto failed;
    }
    lc_chat *chat = lc_chat_new(st->app.db, sched, model, st->model_name);
    if (!chat) {
        snprintf(st->load_err, sizeof st->load_err,
                 "cannot start the conversation service");
        lc_sched_free(sched);
        lc_model_free(model);
        goto failed;
    }
    lc_chat_on_stored(chat, on_message_stored, &st->app);
    lc_chat_set_memory_embed(chat, lc_app_embed_query, &st->app);
    st->app.model = model;
    st->app.sched = sched;
    st->app.chat = chat;
    /* the stores above happen before this one (seq_cst): a route that sees
     * ready sees them */
    atomic_store(&st->app.ready, true);
    atomic_store(&st->load_state, LOADED);
    fprintf(stderr,
            "llamachat: model %s loaded in %.2f s (%s, context %d, %d "
            "slots, %s)\n",
            st->model_name, now_s() - t0, lc_model_arch(model),
            lc_sched_n_ctx(sched), sp.n_slots, lc_sched_backend_name(sched));
    return NULL;
failed:
    atomic_store(&st->load_state, LOAD_FAILED);
    return NULL;
}

/* ------------------------------------------------------------- start-up */

static int start_http(serve_state *st, const char *host, int port) {
    lc_app *app = &st->app;
    http_config cfg;
    http_config_default(&cfg);
    cfg.host = host;
    cfg.port = (uint16_t)port;
    cfg.observer = rc_observe_request;
    cfg.observer_ud = app;
    char err[256];
    app->http = http_server_new(&cfg, err, sizeof err);
    if (!app->http) return fail("%s", err);
    if (lc_routes_health(app) || lc_routes_auth(app) ||
        lc_routes_sessions(app) || lc_routes_chat(app) ||
        lc_routes_openai(app) || lc_routes_ollama(app) ||
        lc_routes_search(app) || lc_routes_static(app))
        return fail("cannot register the routes");
    if (http_server_start(app->http, err, sizeof err)) return fail("%s", err);
    return 0;
}

/* Waits for SIGINT/SIGTERM (blocked in every thread) or a failed model
 * load. Returns 0 for a signal, 1 for the failure. */
static int wait_for_stop(serve_state *st) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec slice = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &slice);
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "llamachat: %s received, shutting down\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            return 0;
        }
        if (atomic_load(&st->load_state) == LOAD_FAILED) {
            fail("cannot load the model: %s", st->load_err);
            return 1;
        }
        if (atomic_load(&st->embed_state) == LOAD_FAILED) {
            fail("cannot load the embedding model: %s", st->embed_err);
            return 1;
        }
    }
}

int lc_serve(const lc_serve_options *opt) {
    serve_state *st = calloc(1, sizeof *st);
    if (!st) return fail("out of memory");
    st->opt = opt;
    lc_app *app = &st->app;
    lc_app_init(app);
    atomic_store(&app->ready, false);
    atomic_store(&st->load_state, LOADING);
    model_name_from_path(opt->model_path, st->model_name,
                         sizeof st->model_name);
    atomic_store(&st->embed_state, LOADING);
    if (opt->embedding_model_path)
        model_name_from_path(opt->embedding_model_path, st->embed_name,
                             sizeof st->embed_name);
    app->embedding_configured = opt->embedding_model_path != NULL;
    app->model_name = st->model_name;
    app->aliases = opt->aliases;
    app->registration_open = opt->registration_open;
    app->allow_anonymous_loopback = opt->allow_anonymous_loopback;
    int rc = 1;
    lc_cluster *cluster = NULL;
    char *data_dir = NULL;
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);

    struct stat sb;
    if (stat(opt->model_path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail("model file %s: %s", opt->model_path,
             errno ? strerror(errno) : "not a regular file");
        goto out;
    }
    if (opt->embedding_model_path &&
        (stat(opt->embedding_model_path, &sb) != 0 || !S_ISREG(sb.st_mode))) {
        fail("embedding model file %s: %s", opt->embedding_model_path,
             errno ? strerror(errno) : "not a regular file");
        goto out;
    }

    /* 1. the database */
    lc_store_error serr = {0};
    const char *url = opt->database_url;
    if (!url) {
        data_dir =
            opt->data_dir ? strdup(opt->data_dir) : lc_serve_default_data_dir();
        if (!data_dir) {
            fail("no data directory: set --data-dir, XDG_DATA_HOME or HOME");
            goto out;
        }
        if (make_dirs(data_dir)) {
            fail("cannot create %s: %s", data_dir, strerror(errno));
            goto out;
        }
        lc_cluster_options co = {.data_dir = data_dir};
        cluster = lc_cluster_start(&co, &serr);
        if (!cluster) {
            fail("private database: %s", serr.message);
            goto out;
        }
        url = lc_cluster_url(cluster);
        /* the URL holds no secret (trust on a private socket) and lets a
         * second server share this database (--database-url) */
        fprintf(stderr, "llamachat: private PostgreSQL cluster in %s: %s\n",
                lc_cluster_dir(cluster), url);
    }

    /* 2. from here on, threads are created: they all inherit the mask, and
     * only sigtimedwait in this thread receives the stop signals */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error code */

    /* 3. pool and migrations */
    app->db = lc_db_open(url, DB_CONNECTIONS, &serr);
    if (!app->db) {
        fail("database: %s", serr.message);
        goto out;
    }
    int applied = 0;
    const char *want_vectors = opt->vector_backend;
    lc_migrate_options mo = {
        .force_array_vectors = want_vectors && !strcmp(want_vectors, "array")};
    if (lc_migrate(app->db, &mo, &applied, &serr) != LC_STORE_OK) {
        fail("database migrations: %s", serr.message);
        goto out;
    }
    /* the storage is chosen once, when the database is created: asking
     * for the other one later is a mistake to report, not to ignore */
    char have_vectors[16] = "";
    if (want_vectors &&
        (lc_store_vector_backend(app->db, have_vectors, &serr) ||
         strcmp(have_vectors, want_vectors) != 0)) {
        fail("--vector-backend %s: this database stores embeddings as "
             "'%s'%s (see docs/api.md, \"Embeddings\", to move it)",
             want_vectors, have_vectors[0] ? have_vectors : serr.message,
             strcmp(want_vectors, "pgvector") == 0
                 ? " (is pgvector installed on this PostgreSQL?)"
                 : "");
        goto out;
    }
    if (applied > 0)
        fprintf(stderr, "llamachat: applied %d database migration(s)\n",
                applied);

    /* 4. HTTP, answering /health with 503 while the model loads */
    app->metrics = lc_metrics_new();
    if (!app->metrics) {
        fail("out of memory");
        goto out;
    }
    const char *host = opt->host ? opt->host : "127.0.0.1";
    if (start_http(st, host, opt->port)) goto out;
    bool v6 = strchr(host, ':') != NULL;
    printf("llamachat: serving %s on http://%s%s%s:%u\n", st->model_name,
           v6 ? "[" : "", host, v6 ? "]" : "",
           (unsigned)http_server_port(app->http));
    fflush(stdout);

    /* 5. the model, in the background */
    if (pthread_create(&st->loader, NULL, load_model, st) != 0) {
        fail("cannot start the model loader");
        goto out;
    }
    st->loader_started = true;
    if (opt->embedding_model_path) {
        if (pthread_create(&st->embed_loader, NULL, load_embedding_model, st) !=
            0) {
            fail("cannot start the embedding model loader");
            goto out;
        }
        st->embed_loader_started = true;
    }
    rc = wait_for_stop(st);

out:
    if (app->http) {
        /* Running turns may finish for grace_ms, then are cancelled and
         * store their partial reply; only then does HTTP stop, so that a
         * stream still gets its last frame before its connection closes. */
        unsigned grace =
            opt->shutdown_grace_ms ? opt->shutdown_grace_ms : DEFAULT_GRACE_MS;
        lc_app_drain_turns(app, grace, STOP_SLACK_MS);
        http_server_stop(app->http, STOP_SLACK_MS);
    }
    if (st->loader_started) pthread_join(st->loader, NULL);
    if (st->embed_loader_started) pthread_join(st->embed_loader, NULL);
    lc_chat_free(app->chat);
    /* after HTTP and the chat service: nobody submits or waits any more */
    atomic_store(&app->embedder_ready, false);
    lc_embedder_free(app->embedder);
    if (st->embed_model) lc_model_free(st->embed_model);
    if (app->sched) lc_sched_free(app->sched);
    if (app->model) lc_model_free(app->model);
    http_server_free(app->http);
    lc_db_close(app->db);
    if (cluster) {
        fprintf(stderr, "llamachat: stopping the private database\n");
        lc_cluster_stop(cluster);
    }
    lc_metrics_free(app->metrics);
    lc_app_destroy(app);
    free(data_dir);
    free(st);
    /* The signal mask stays: a second signal during shutdown must not kill
     * the process half-way, and the process ends right after this. */
    if (rc == 0) fprintf(stderr, "llamachat: stopped\n");
    return rc;
}

/*
 * `llamachat serve`: the whole server in one call.
 *
 * Start-up, in this order:
 *   1. the database: the URL given, or a private PostgreSQL cluster in the
 *      data directory (store/cluster.h), started before anything else so
 *      that its processes inherit no blocked signals;
 *   2. SIGINT and SIGTERM are blocked in every thread and waited for by
 *      the main thread (sigwait: no handler, no global flag);
 *   3. migrations (store/migrate.h), under their advisory lock;
 *   4. the HTTP server, at once: /health answers 503 while
 *   5. a background thread loads the model, starts the scheduler and the
 *      conversation service, then marks the app ready; with
 *      --embedding-model, a second one loads the encoder and starts the
 *      embedding service (chat/embedder.h), whose backfill then embeds
 *      the stored messages that have no embedding yet.
 * The URL is printed on stdout ("llamachat: serving MODEL on URL") once
 * the HTTP server listens.
 *
 * Shutdown on SIGINT/SIGTERM: the HTTP server stops accepting and waits
 * for in-flight requests; running generations get a grace period to end on
 * their own, then are cancelled, so every turn is stored (partial replies
 * with finish reason "cancelled"); then the scheduler, the model, the
 * database pool and the private cluster stop.
 */
#ifndef LC_SERVER_SERVER_H
#define LC_SERVER_SERVER_H

#include <stdbool.h>

typedef struct lc_serve_options {
    const char *model_path;     /* required */
    const char *host;           /* NULL: 127.0.0.1 */
    int port;                   /* 0: an ephemeral port */
    const char *database_url;   /* NULL: private cluster in data_dir */
    const char *data_dir;       /* NULL: $XDG_DATA_HOME/llamachat or
                                   ~/.local/share/llamachat */
    const char *const *aliases; /* extra model names, NULL-terminated */
    bool registration_open;
    bool allow_anonymous_loopback; /* peer APIs without a token on loopback */
    int n_ctx;                     /* 0: min(model's, 4096) */
    int n_slots;                   /* 0: the scheduler's default */
    int n_threads;                 /* 0: all cores */
    int gpu_mode;                  /* LC_GPU_AUTO (0), LC_GPU_ON, LC_GPU_OFF */
    int n_gpu_layers;              /* -1: as many as fit */
    int queue_max; /* requests waiting for a slot; < 0: the scheduler's
                      default */
    const char *embedding_model_path; /* NULL: no embeddings */
    /* how a database migrated for the first time stores embeddings:
     * "pgvector", "array" (the real[] fallback) or NULL (pgvector when the
     * server has it); a database that has the other one is an error */
    const char *vector_backend;
    int backfill_interval_ms;   /* embedding backfill period; 0: 60000 */
    unsigned shutdown_grace_ms; /* generations may run this long after a
                                   stop signal before being cancelled
                                   (0: 5000) */
} lc_serve_options;

/* The default data directory (malloc'd), or NULL when neither
 * XDG_DATA_HOME nor HOME is set. */
char *lc_serve_default_data_dir(void);

/* Runs the server until SIGINT or SIGTERM. Returns the exit status: 0
 * after a clean shutdown, 1 when start-up failed (one line on stderr). */
int lc_serve(const lc_serve_options *opt);

#endif

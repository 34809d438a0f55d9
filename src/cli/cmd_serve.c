/*
 * llamachat serve: the chat server (HTTP, WebSocket, SSE) with its
 * database. Parsing only; src/server/server.c does the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "common.h"
#include "commands.h"
#include "server/server.h"

#define MAX_ALIASES 16

/* Splits "a,b,c" into names (in place); empty names are an error. */
static int split_aliases(char *list, const char **names, int max) {
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        if (n == max) return -1;
        names[n++] = tok;
    }
    names[n] = NULL;
    return n;
}

int cmd_serve(int argc, char **argv) {
    const char *model_path = NULL, *host = "127.0.0.1", *db_url = NULL;
    const char *data_dir = NULL, *alias = NULL, *embedding_model = NULL;
    const char *vector_backend = "auto";
    int backfill_s = 60;
    int port = 8086, n_ctx = 0, n_slots = 4, n_threads = 0, queue_max = 64;
    cli_gpu gpu = CLI_GPU_DEFAULT;
    bool no_registration = false, anonymous_loopback = false;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {NULL, "--host", CLI_STRING, &host, "ADDR",
         "numeric IPv4 or IPv6 address to listen on", true, NULL},
        {NULL, "--port", CLI_INT, &port, "N",
         "TCP port (0 = any free port; the URL is printed)", true, NULL},
        {NULL, "--database-url", CLI_STRING, &db_url, "URL",
         "PostgreSQL URL or conninfo (default: a private cluster in the "
         "data directory)",
         false, NULL},
        {NULL, "--data-dir", CLI_STRING, &data_dir, "DIR",
         "data directory (default $XDG_DATA_HOME/llamachat or "
         "~/.local/share/llamachat)",
         false, NULL},
        {NULL, "--alias", CLI_STRING, &alias, "NAMES",
         "other names the model answers to, comma-separated (e.g. "
         "gemma3-legal:latest)",
         false, NULL},
        {NULL, "--no-registration", CLI_FLAG, &no_registration, NULL,
         "refuse new accounts (POST /api/auth/register answers 403)", false,
         NULL},
        {NULL, "--allow-anonymous-loopback", CLI_FLAG, &anonymous_loopback,
         NULL,
         "let requests from 127.0.0.1/::1 without a token use the OpenAI "
         "and Ollama APIs (statelessly)",
         false, NULL},
        {NULL, "--embedding-model", CLI_STRING, &embedding_model, "PATH",
         "an embedding model (bert, nomic-bert, gemma-embedding): every "
         "stored message gets its embedding, and /v1/embeddings and "
         "/api/embed are served",
         false, NULL},
        {NULL, "--vector-backend", CLI_STRING, &vector_backend,
         "auto|pgvector|array",
         "how a new database stores embeddings: pgvector's vector(768), or "
         "real[] of any size; auto: pgvector when PostgreSQL has it. An "
         "existing database keeps its own",
         true, NULL},
        {NULL, "--embedding-backfill", CLI_INT, &backfill_s, "SECONDS",
         "how often messages without an embedding are looked for (also at "
         "start-up)",
         true, NULL},
        {"-c", "--ctx", CLI_INT, &n_ctx, "N",
         "context size per session in tokens (0 = the model's, at most 4096)",
         true, NULL},
        {NULL, "--slots", CLI_INT, &n_slots, "N",
         "sessions generated together (each holds its own KV cache)", true,
         NULL},
        {NULL, "--queue", CLI_INT, &queue_max, "N",
         "requests waiting for a slot before 503 Retry-After", true, NULL},
        CLI_OPT_THREADS(&n_threads),
        CLI_OPTS_GPU(&gpu.mode, &gpu.n_gpu_layers),
    };
    const cli_command cmd = {
        "serve", "-m MODEL [options]",
        "Serves the native chat API (HTTP, WebSocket, SSE) for MODEL, keeping\n"
        "users, sessions and messages in PostgreSQL. Without --database-url\n"
        "it runs a private PostgreSQL cluster in the data directory. Stops\n"
        "cleanly on SIGINT/SIGTERM. The routes are documented in "
        "docs/api.md;\nthe OpenAI- and Ollama-compatible APIs in "
        "docs/api-peer.md.",
        opts, CLI_N_OPTIONS(opts)};
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, &n_pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m MODEL is required");
    if (port < 0 || port > 65535)
        return cli_usage_error(&cmd, "--port must be in 0..65535");
    if (n_ctx < 0 || n_slots < 1 || n_slots > 256 || n_threads < 0 ||
        queue_max < 0)
        return cli_usage_error(&cmd, "--ctx, --slots, --queue and -t must "
                                     "be positive");
    if (backfill_s < 1 || backfill_s > 86400)
        return cli_usage_error(&cmd,
                               "--embedding-backfill must be in 1..86400");
    if (strcmp(vector_backend, "auto") != 0 &&
        strcmp(vector_backend, "pgvector") != 0 &&
        strcmp(vector_backend, "array") != 0)
        return cli_usage_error(&cmd,
                               "--vector-backend must be auto, pgvector or "
                               "array");
    const int gpu_mode = cli_gpu_mode(&gpu);
    if (gpu_mode < 0)
        return cli_usage_error(&cmd, "--gpu must be auto, on or off");
    char *alias_copy = alias ? strdup(alias) : NULL;
    const char *aliases[MAX_ALIASES + 1] = {NULL};
    if (alias_copy && split_aliases(alias_copy, aliases, MAX_ALIASES) < 0) {
        free(alias_copy);
        return cli_usage_error(&cmd, "at most %d aliases", MAX_ALIASES);
    }
    lc_serve_options so = {
        .model_path = model_path,
        .host = host,
        .port = port,
        .database_url = db_url,
        .data_dir = data_dir,
        .aliases = aliases,
        .registration_open = !no_registration,
        .allow_anonymous_loopback = anonymous_loopback,
        .n_ctx = n_ctx,
        .n_slots = n_slots,
        .n_threads = n_threads,
        .gpu_mode = gpu_mode,
        .n_gpu_layers = gpu.n_gpu_layers,
        .queue_max = queue_max,
        .embedding_model_path = embedding_model,
        .backfill_interval_ms = backfill_s * 1000,
        .vector_backend =
            strcmp(vector_backend, "auto") == 0 ? NULL : vector_backend,
    };
    rc = lc_serve(&so);
    free(alias_copy);
    return rc;
}

/*
 * llamachat bench: prompt processing and token generation speed, with
 * llama-bench's definitions so the numbers compare side by side:
 *
 *   pp<P>: one batch of P random tokens into an empty cache; t/s = P / time
 *   tg<N>: N tokens decoded one at a time into an empty cache; t/s = N / time
 *
 * Each test runs once to warm up (page in the weights, fill caches), then
 * -r times with the cache cleared between runs; the table gives the mean
 * and the sample standard deviation of t/s over the runs.
 *
 * The backend column says where the layers ran ("CUDA" or "CPU", with the
 * GPU layer count in the ngl column), and a line under the table gives the
 * device and the GPU memory the process held after the runs, measured by
 * the driver.
 *
 * An embedding model (bert, nomic-bert, gemma-embedding) has no pp/tg: it
 * gets one test instead,
 *
 *   embd<P>: --texts texts of P random tokens each, embedded one after the
 *            other with one lc_embed call per text, as the server's
 *            embedder does (lc_embed takes one text); t/s = texts * P /
 *            time, texts/s = texts / time
 *
 * Each text is one non-causal pass over its P tokens, which is what
 * llama-bench's pp<P> measures on an encoder with -embd 1, so t/s compares
 * with that and texts/s = t/s / P. The default P is 128, a chat message
 * rather than pp512's long prompt.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"

typedef struct bench_result {
    char test[32]; /* "pp512" */
    int n_prompt;  /* tokens in the one batch (pp), or per text (embd) */
    int n_gen;     /* tokens decoded one by one (tg) */
    int n_texts;   /* texts embedded per run (embd), else 0 */
    double *ts;    /* [reps] tokens per second of each run */
    double *ns;    /* [reps] nanoseconds of each run */
    double mean_ts;
    double sd_ts;
} bench_result;

/* Random token ids: the speed of a forward pass does not depend on which
 * tokens it sees, only on how many. splitmix64 keeps this self-contained. */
static void random_tokens(int32_t *ids, int n, int n_vocab, uint64_t *state) {
    for (int i = 0; i < n; i++) {
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        ids[i] = (int32_t)(z % (uint64_t)n_vocab);
    }
}

/* Tokens one run of the test evaluates. */
static int run_tokens(const bench_result *r) {
    if (r->n_texts > 0) return r->n_texts * r->n_prompt;
    return r->n_prompt > 0 ? r->n_prompt : r->n_gen;
}

/* One timed embd run: r->n_texts texts of r->n_prompt tokens (drawn before
 * the clock starts), one lc_embed each. Seconds, or -1 after printing the
 * error. */
static double bench_embed_once(cli_engine *e, const bench_result *r,
                               uint64_t *rng) {
    const int n_embd = lc_model_n_embd(e->model);
    int32_t *ids = malloc((size_t)run_tokens(r) * sizeof *ids);
    float *vec = malloc((size_t)n_embd * sizeof *vec);
    if (!ids || !vec) {
        free(ids);
        free(vec);
        cli_fail("out of memory");
        return -1;
    }
    random_tokens(ids, run_tokens(r), lc_model_n_vocab(e->model), rng);
    char err[512] = "";
    int rc = 0;
    double t0 = cli_now();
    for (int i = 0; i < r->n_texts && rc == 0; i++)
        rc = lc_embed(e->ctx, ids + (size_t)i * r->n_prompt, r->n_prompt, vec,
                      err, sizeof err);
    double dt = cli_now() - t0;
    /* A speed measured on garbage would be no measurement. */
    for (int d = 0; d < n_embd && rc == 0; d++)
        if (!isfinite(vec[d])) {
            snprintf(err, sizeof err, "the model produced a non-finite value");
            rc = -1;
        }
    free(ids);
    free(vec);
    if (rc != 0) {
        cli_fail("%s", err);
        return -1;
    }
    return dt;
}

/* One timed run: embd when r->n_texts > 0, pp when r->n_prompt > 0, else tg
 * of r->n_gen tokens. Returns seconds, or -1 after printing the error. */
static double bench_once(cli_engine *e, const bench_result *r, uint64_t *rng) {
    if (r->n_texts > 0) return bench_embed_once(e, r, rng);
    const int n_prompt = r->n_prompt, n_gen = r->n_gen;
    int n = run_tokens(r);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) {
        cli_fail("out of memory");
        return -1;
    }
    random_tokens(ids, n, lc_model_n_vocab(e->model), rng);
    lc_kv_seq_rm(e->ctx, 0, 0, -1); /* an empty cache for every run */
    double t0 = cli_now();
    int rc = 0;
    if (n_prompt > 0) {
        rc = cli_decode(e, ids, n_prompt, 0, NULL);
    } else {
        for (int i = 0; i < n_gen && rc == 0; i++)
            rc = cli_decode(e, &ids[i], 1, i, NULL);
    }
    double dt = cli_now() - t0;
    free(ids);
    return rc == 0 ? dt : -1;
}

/* Runs one test (n_texts > 0: embd; else pp or tg) into r. */
static int bench_test(cli_engine *e, int n_prompt, int n_gen, int n_texts,
                      int reps, bench_result *r) {
    memset(r, 0, sizeof *r);
    if (n_texts > 0)
        snprintf(r->test, sizeof r->test, "embd%d", n_prompt);
    else
        snprintf(r->test, sizeof r->test, n_prompt > 0 ? "pp%d" : "tg%d",
                 n_prompt > 0 ? n_prompt : n_gen);
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->n_texts = n_texts;
    r->ts = calloc((size_t)reps, sizeof *r->ts);
    r->ns = calloc((size_t)reps, sizeof *r->ns);
    if (!r->ts || !r->ns) return cli_fail("out of memory");
    uint64_t rng = 42;
    if (bench_once(e, r, &rng) < 0) return 1; /* warm-up */
    int n = run_tokens(r);
    double sum = 0;
    for (int i = 0; i < reps; i++) {
        double dt = bench_once(e, r, &rng);
        if (dt < 0) return 1;
        r->ns[i] = dt * 1e9;
        r->ts[i] = dt > 0 ? n / dt : 0;
        sum += r->ts[i];
    }
    r->mean_ts = sum / reps;
    double var = 0;
    for (int i = 0; i < reps; i++)
        var += (r->ts[i] - r->mean_ts) * (r->ts[i] - r->mean_ts);
    r->sd_ts = reps > 1 ? sqrt(var / (reps - 1)) : 0;
    return 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Sizes and counts in the units llama-bench prints (GiB, B), falling back
 * to smaller units for tiny models so the column says something. */
static void format_size(uint64_t bytes, char *buf, size_t len) {
    double gib = (double)bytes / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 0.01)
        snprintf(buf, len, "%.2f GiB", gib);
    else
        snprintf(buf, len, "%.2f MiB", (double)bytes / (1024.0 * 1024.0));
}

static void format_params(uint64_t n, char *buf, size_t len) {
    if (n >= 10000000ULL)
        snprintf(buf, len, "%.2f B", (double)n / 1e9);
    else if (n >= 10000ULL)
        snprintf(buf, len, "%.2f M", (double)n / 1e6);
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
}

/* "CUDA" or "CPU": the short name llama-bench prints in its column. */
static const char *backend_short(const cli_engine *e) {
    return lc_context_gpu_active(e->ctx) ? "CUDA" : "CPU";
}

/* The embd table: the decoder table's columns without ngl (encoders run on
 * the CPU), with texts/s before t/s, and a line saying what a run was. */
static void print_markdown_embed(const cli_engine *e, const char *name,
                                 const char *size, const char *params,
                                 int threads, const bench_result *res,
                                 int n_res) {
    int wm = (int)strlen(name) > 5 ? (int)strlen(name) : 5;
    printf("| %-*s | %10s | %10s | %-7s | %7s | %10s | %16s | %20s |\n", wm,
           "model", "size", "params", "backend", "threads", "test", "texts/s",
           "t/s");
    printf("| ");
    for (int i = 0; i < wm; i++) putchar('-');
    printf(" | ---------: | ---------: | ------- | ------: | ---------: | "
           "---------------: | -------------------: |\n");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        char ts[64], texts[64];
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->mean_ts, r->sd_ts);
        /* texts/s of each run is its t/s / P: mean and sd scale alike. */
        snprintf(texts, sizeof texts, "%.2f ± %.2f", r->mean_ts / r->n_prompt,
                 r->sd_ts / r->n_prompt);
        /* "±" is two bytes but one column: pad by one more. */
        printf("| %-*s | %10s | %10s | %-7s | %7d | %10s | %17s | %21s |\n", wm,
               name, size, params, backend_short(e), threads, r->test, texts,
               ts);
    }
    if (n_res > 0)
        printf("\n%s: %d texts of %d tokens per run, one lc_embed call "
               "each\nbackend: CPU\n",
               res[0].test, res[0].n_texts, res[0].n_prompt);
}

static void print_markdown(const cli_engine *e, const char *model_path,
                           int threads, const bench_result *res, int n_res,
                           int gpu_mb) {
    char size[32], params[32];
    format_size(lc_model_size_bytes(e->model), size, sizeof size);
    format_params(lc_model_n_params(e->model), params, sizeof params);
    const char *name = base_name(model_path);
    if (n_res > 0 && res[0].n_texts > 0) {
        print_markdown_embed(e, name, size, params, threads, res, n_res);
        return;
    }
    int wm = (int)strlen(name) > 5 ? (int)strlen(name) : 5;
    printf("| %-*s | %10s | %10s | %-7s | %3s | %7s | %10s | %20s |\n", wm,
           "model", "size", "params", "backend", "ngl", "threads", "test",
           "t/s");
    printf("| ");
    for (int i = 0; i < wm; i++) putchar('-');
    printf(
        " | ---------: | ---------: | ------- | --: | ------: | ---------: | "
        "-------------------: |\n");
    for (int i = 0; i < n_res; i++) {
        char ts[64];
        snprintf(ts, sizeof ts, "%.2f ± %.2f", res[i].mean_ts, res[i].sd_ts);
        /* "±" is two bytes but one column: pad by one more. */
        printf("| %-*s | %10s | %10s | %-7s | %3d | %7d | %10s | %21s |\n", wm,
               name, size, params, backend_short(e),
               lc_context_gpu_layers(e->ctx), threads, res[i].test, ts);
    }
    if (lc_context_gpu_active(e->ctx))
        printf("\nbackend: %s, %d/%d layers on the GPU, GPU memory %d MiB\n",
               lc_context_backend_name(e->ctx), lc_context_gpu_layers(e->ctx),
               lc_model_n_layer(e->model), gpu_mb);
    else
        printf("\nbackend: CPU\n");
}

/* A JSON string literal (the file name may hold quotes or backslashes). */
static void print_json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const cli_engine *e, const char *model_path, int threads,
                       int reps, const bench_result *res, int n_res,
                       int gpu_mb) {
    printf("[\n");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        printf("  {\"model_filename\": ");
        print_json_string(base_name(model_path));
        printf(", \"model_type\": ");
        char type[128];
        snprintf(type, sizeof type, "%s %s", lc_model_arch(e->model),
                 lc_model_ftype_name(e->model));
        print_json_string(type);
        printf(", \"model_size\": %llu, \"model_n_params\": %llu, "
               "\"backend\": \"%s\", \"device\": ",
               (unsigned long long)lc_model_size_bytes(e->model),
               (unsigned long long)lc_model_n_params(e->model),
               backend_short(e));
        print_json_string(lc_context_backend_name(e->ctx));
        printf(", \"n_gpu_layers\": %d, \"gpu_memory_mb\": %d, "
               "\"n_threads\": %d, \"test\": \"%s\", "
               "\"n_prompt\": %d, \"n_gen\": %d, \"repetitions\": %d, "
               "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ts\": [",
               lc_context_gpu_layers(e->ctx), gpu_mb, threads, r->test,
               r->n_prompt, r->n_gen, reps, r->mean_ts, r->sd_ts);
        for (int k = 0; k < reps; k++)
            printf("%s%.6f", k ? ", " : "", r->ts[k]);
        printf("], \"samples_ns\": [");
        for (int k = 0; k < reps; k++)
            printf("%s%.0f", k ? ", " : "", r->ns[k]);
        printf("]");
        if (r->n_texts > 0)
            printf(", \"n_texts\": %d, \"avg_texts_per_s\": %.6f, "
                   "\"stddev_texts_per_s\": %.6f",
                   r->n_texts, r->mean_ts / r->n_prompt,
                   r->sd_ts / r->n_prompt);
        printf("}%s\n", i + 1 < n_res ? "," : "");
    }
    printf("]\n");
}

/* The default -p of a decoder (pp512) and of an embedding model (tokens
 * per text), spelled into the help text by STR. */
#define PP_DEFAULT_TOKENS 512
#define EMBD_DEFAULT_TOKENS 128
#define STR_(x) #x
#define STR(x) STR_(x)
/* (clang-format would split STR(...) across lines) */
/* clang-format off */
static const char P_HELP[] =
    "tokens in the pp batch (default " STR(PP_DEFAULT_TOKENS) "; 0 = skip "
    "pp), or per text for an embedding model (default "
    STR(EMBD_DEFAULT_TOKENS) ")";
/* clang-format on */

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *output = "md";
    int n_prompt = PP_DEFAULT_TOKENS, n_gen = 128, n_texts = 8, reps = 5,
        n_threads = 0;
    bool seen_p = false, seen_n = false, seen_texts = false;
    cli_gpu gpu = CLI_GPU_DEFAULT;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {"-p", "--n-prompt", CLI_INT, &n_prompt, "N", P_HELP, false, &seen_p},
        {"-n", "--n-gen", CLI_INT, &n_gen, "N",
         "tokens generated one by one (0 = skip the tg test)", true, &seen_n},
        {NULL, "--texts", CLI_INT, &n_texts, "N",
         "embedding model: texts embedded per run", true, &seen_texts},
        {"-r", "--repetitions", CLI_INT, &reps, "N",
         "timed runs of each test, after one warm-up run", true, NULL},
        CLI_OPT_THREADS(&n_threads),
        CLI_OPTS_GPU(&gpu.mode, &gpu.n_gpu_layers),
        {"-o", "--output", CLI_STRING, &output, "md|json",
         "output format: a markdown table or JSON", true, NULL},
    };
    const cli_command cmd = {
        "bench", "-m FILE [options]",
        "Measures prompt processing (pp: one batch of -p random tokens into\n"
        "an empty cache) and token generation (tg: -n tokens decoded one at\n"
        "a time into an empty cache) in tokens per second, as llama-bench\n"
        "defines them: mean ± standard deviation over -r runs.\n"
        "An embedding model (bert, nomic-bert, gemma-embedding) gets the\n"
        "embd test instead: --texts texts of -p random tokens, embedded one\n"
        "at a time as the server does, in texts/s and tokens/s (the tokens/s\n"
        "of llama-bench -embd 1 -p P -n 0 on the same model).",
        opts, CLI_N_OPTIONS(opts)};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m FILE is required");
    if (n_prompt < 0 || n_gen < 0 || n_prompt + n_gen == 0)
        return cli_usage_error(&cmd, "-p and -n must be >= 0, one of them "
                                     "> 0");
    if (n_texts < 1) return cli_usage_error(&cmd, "--texts must be at least 1");
    if (reps < 1) return cli_usage_error(&cmd, "-r must be at least 1");
    bool json = strcmp(output, "json") == 0;
    if (!json && strcmp(output, "md") != 0)
        return cli_usage_error(&cmd, "-o must be md or json, not '%s'", output);
    if (cli_gpu_mode(&gpu) < 0)
        return cli_usage_error(&cmd, "--gpu must be auto, on or off, not '%s'",
                               gpu.mode);

    cli_engine e;
    int n_ctx = n_prompt + n_gen;
    if (cli_engine_open_gpu(&e, model_path, n_threads, n_ctx,
                            n_prompt > 0 ? n_prompt : 1, &gpu) != 0)
        return 1;
    /* Whether the model is an encoder is known only now; the context above
     * holds n_prompt + n_gen positions, at least the tokens of one text. */
    const bool embed = lc_model_is_encoder(e.model);
    rc = 0;
    if (embed && seen_n)
        rc = cli_usage_error(&cmd,
                             "'%s' is an embedding model: it has no "
                             "token generation (-n); see --texts",
                             lc_model_arch(e.model));
    else if (!embed && seen_texts)
        rc = cli_usage_error(&cmd,
                             "--texts is for embedding models; '%s' "
                             "is a '%s' model",
                             model_path, lc_model_arch(e.model));
    else if (embed && seen_p && n_prompt == 0)
        rc = cli_usage_error(&cmd, "-p must be > 0 for an embedding model");
    if (rc != 0) {
        cli_engine_close(&e);
        return rc;
    }
    bench_result res[2];
    int n_res = 0;
    if (embed)
        rc = bench_test(&e, seen_p ? n_prompt : EMBD_DEFAULT_TOKENS, 0, n_texts,
                        reps, &res[n_res++]);
    if (!embed && n_prompt > 0 && rc == 0)
        rc = bench_test(&e, n_prompt, 0, 0, reps, &res[n_res++]);
    if (!embed && n_gen > 0 && rc == 0)
        rc = bench_test(&e, 0, n_gen, 0, reps, &res[n_res++]);
    if (rc == 0) {
        int threads = cli_threads(n_threads);
        /* After the runs: the most the caches and scratch have grown to. */
        int gpu_mb = lc_context_gpu_memory_mb(e.ctx);
        if (json)
            print_json(&e, model_path, threads, reps, res, n_res, gpu_mb);
        else
            print_markdown(&e, model_path, threads, res, n_res, gpu_mb);
    }
    for (int i = 0; i < n_res; i++) {
        free(res[i].ts);
        free(res[i].ns);
    }
    cli_engine_close(&e);
    return rc;
}

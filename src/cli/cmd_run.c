/*
 * llamachat run: continue a prompt.
 *
 * Only the continuation goes to stdout, streamed token by token; timings go
 * to stderr, so `llamachat run ... > out.txt` captures the text alone.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "generate.h"

static void print_timings(const cli_engine *e, int n_prompt, double prompt_s,
                          const cli_gen *g) {
    fprintf(stderr, "load:       %8.2f ms\n", e->load_s * 1e3);
    fprintf(stderr, "prompt:     %5d tokens %9.2f ms %10.2f t/s\n", n_prompt,
            prompt_s * 1e3, prompt_s > 0 ? n_prompt / prompt_s : 0.0);
    fprintf(stderr, "generation: %5d tokens %9.2f ms %10.2f t/s\n", g->n_gen,
            g->gen_s * 1e3, g->gen_s > 0 ? g->n_gen / g->gen_s : 0.0);
}

int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL;
    int n_predict = 128, n_threads = 0, n_ctx = 0;
    cli_gpu gpu = CLI_GPU_DEFAULT;
    bool print_ids = false, seed_seen = false;
    lc_sampler_params sp = lc_sampler_default_params();
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {"-p", "--prompt", CLI_STRING, &prompt, "TEXT",
         "the text to continue (required)", false, NULL},
        {"-n", "--n-predict", CLI_INT, &n_predict, "N",
         "tokens to generate at most (-1 = until the context is full)", true,
         NULL},
        CLI_OPTS_SAMPLING(&sp, &seed_seen),
        CLI_OPT_THREADS(&n_threads),
        CLI_OPTS_GPU(&gpu.mode, &gpu.n_gpu_layers),
        CLI_OPT_CTX(&n_ctx),
        {NULL, "--print-ids", CLI_FLAG, &print_ids, NULL,
         "print the generated token ids instead of text", false, NULL},
    };
    const cli_command cmd = {
        "run", "-m FILE -p TEXT [options]",
        "Generates a continuation of TEXT and prints it (only it) to stdout\n"
        "as it is generated. BOS is added as the model asks. Stops at an\n"
        "end-of-generation token or after -n tokens. Timings go to stderr.",
        opts, CLI_N_OPTIONS(opts)};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m FILE is required");
    if (!prompt) return cli_usage_error(&cmd, "-p TEXT is required");
    if (cli_gpu_mode(&gpu) < 0)
        return cli_usage_error(&cmd, "--gpu must be auto, on or off, not '%s'",
                               gpu.mode);
    if (!seed_seen) sp.seed = cli_clock_seed();

    cli_engine e;
    if (cli_engine_open_gpu(&e, model_path, n_threads, n_ctx, 0, &gpu) != 0)
        return 1;
    int n_prompt = 0;
    int32_t *ids = cli_tokenize(e.model, prompt, true, true, &n_prompt);
    lc_sampler *s = lc_sampler_new(&sp, lc_model_n_vocab(e.model));
    cli_tokens cache = {0};
    cli_gen g = {0};
    rc = 1;
    if (!ids || !s) {
        if (!s) cli_fail("cannot create the sampler");
        goto done;
    }
    if (n_prompt == 0) {
        cli_fail("the prompt is empty (and the model adds no BOS)");
        goto done;
    }
    if (n_prompt > e.n_ctx) {
        cli_fail("the prompt is %d tokens, more than the context of %d "
                 "(see -c)",
                 n_prompt, e.n_ctx);
        goto done;
    }
    if (!seed_seen && sp.temperature > 0)
        fprintf(stderr, "seed: %" PRIu64 "\n", sp.seed);

    /* The prompt: evaluated in one go, remembered for the penalties, and
     * fed to the detokeniser so the continuation's first piece keeps its
     * leading space (it is not the start of the text). */
    lc_detok d;
    lc_detok_init(&d, e.model, false);
    for (int i = 0; i < n_prompt; i++) {
        char sink[1024]; /* the prompt's text is not printed */
        lc_sampler_accept(s, ids[i]);
        lc_detok_push(&d, ids[i], sink, sizeof sink);
        if (cli_tokens_push(&cache, ids[i]) != 0) {
            cli_fail("out of memory");
            goto done;
        }
    }
    double t0 = cli_now();
    int last = 0;
    if (cli_decode(&e, ids, n_prompt, 0, &last) != 0) goto done;
    double prompt_s = cli_now() - t0;

    g.max_tokens = n_predict;
    g.print_ids = print_ids;
    g.out = stdout;
    if (cli_generate(&e, s, &cache, last, &d, &g) != 0) goto done;
    if (isatty(STDOUT_FILENO) && !print_ids) fputc('\n', stdout);
    if (g.ctx_full)
        fprintf(stderr,
                "llamachat: stopped: the context of %d tokens is "
                "full\n",
                e.n_ctx);
    print_timings(&e, n_prompt, prompt_s, &g);
    rc = 0;
done:
    free(g.text);
    cli_tokens_free(&cache);
    lc_sampler_free(s);
    free(ids);
    cli_engine_close(&e);
    return rc;
}

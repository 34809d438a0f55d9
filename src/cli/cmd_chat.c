/*
 * llamachat chat: an interactive conversation on stdin/stdout.
 *
 * Each turn renders the WHOLE conversation with the model's chat template
 * and tokenizes it, but evaluates only what the KV cache lacks: the tokens
 * of the rendered prompt that match the cache's tokens from the start are
 * kept, the rest of the cache is dropped and the remainder evaluated. So a
 * turn costs the new message, not the history, even when the template
 * writes the previous reply slightly differently from how it was sampled.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "generate.h"

typedef struct conversation {
    lc_chat_message *msgs; /* [cap]; contents malloc'd (roles are static) */
    int n;
    int cap;
    int n_keep; /* leading messages a reset keeps (the system message) */
} conversation;

static int conv_add(conversation *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 16;
        lc_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return -1;
    c->msgs[c->n].role = role;
    c->msgs[c->n].content = copy;
    c->n++;
    return 0;
}

/* Drops messages from index `from` on. */
static void conv_truncate(conversation *c, int from) {
    for (int i = from; i < c->n; i++) free((char *)c->msgs[i].content);
    if (from < c->n) c->n = from;
}

/* Renders and tokenizes the conversation with the generation prompt.
 * NULL after printing the error. */
static int32_t *render_tokens(const lc_model *m, const char *tmpl,
                              const conversation *c, int *n) {
    char err[512] = "";
    char *text = lc_chat_render(m, tmpl, c->msgs, c->n, true, err, sizeof err);
    if (!text) {
        cli_fail("%s", err[0] ? err : "cannot render the chat template");
        return NULL;
    }
    /* add_special: BOS as the model asks (the renderer left the template's
     * BOS text out for this); parse_special: the template's control tokens
     * such as <|im_start|> must become their token ids. */
    int32_t *ids = cli_tokenize(m, text, true, true, n);
    free(text);
    return ids;
}

/* Forgets everything in the KV cache. */
static void clear_cache(cli_engine *e, cli_tokens *cache) {
    lc_kv_seq_rm(e->ctx, 0, 0, -1);
    cache->n = 0;
}

/* Makes the cache hold ids[0..n) with logits for the last one, reusing the
 * longest common prefix already there. 0, or -1 after printing the error. */
static int sync_cache(cli_engine *e, lc_sampler *s, cli_tokens *cache,
                      const int32_t *ids, int n, int *last_index,
                      int *n_reused) {
    int keep = 0;
    while (keep < cache->n && keep < n && cache->ids[keep] == ids[keep]) keep++;
    /* The last token must be evaluated again to get fresh logits. */
    if (keep == n) keep = n - 1;
    lc_kv_seq_rm(e->ctx, 0, keep, -1);
    cache->n = keep;
    *n_reused = keep;
    if (cli_decode(e, ids + keep, n - keep, keep, last_index) != 0) return -1;
    for (int i = keep; i < n; i++) {
        lc_sampler_accept(s, ids[i]);
        if (cli_tokens_push(cache, ids[i]) != 0) {
            cli_fail("out of memory");
            return -1;
        }
    }
    return 0;
}

/* One turn: the user's line is already in the conversation. Returns 0
 * (also when the turn was dropped with a message) or -1 on a hard error. */
static int chat_turn(cli_engine *e, lc_sampler *s, cli_tokens *cache,
                     conversation *c, const char *tmpl, int n_predict,
                     bool timings) {
    int n = 0;
    int32_t *ids = render_tokens(e->model, tmpl, c, &n);
    if (!ids) return -1;
    if (n >= e->n_ctx && c->n > c->n_keep + 1) {
        /* The history no longer fits: start over from the system message
         * and this last user message. */
        fprintf(stderr,
                "llamachat: the context of %d tokens is full; "
                "starting a new conversation\n",
                e->n_ctx);
        lc_chat_message last = c->msgs[c->n - 1];
        c->n--; /* detach the last message so truncation leaves it alone */
        conv_truncate(c, c->n_keep);
        c->msgs[c->n++] = last;
        clear_cache(e, cache);
        free(ids);
        ids = render_tokens(e->model, tmpl, c, &n);
        if (!ids) return -1;
    }
    if (n >= e->n_ctx || n == 0) {
        fprintf(stderr,
                "llamachat: the message does not fit in the "
                "context of %d tokens (see -c)\n",
                e->n_ctx);
        conv_truncate(c, c->n - 1);
        free(ids);
        return 0;
    }
    int last = 0, n_reused = 0;
    double t0 = cli_now();
    int rc = sync_cache(e, s, cache, ids, n, &last, &n_reused);
    double prompt_s = cli_now() - t0;
    free(ids);
    if (rc != 0) return -1;

    lc_detok d;
    lc_detok_init(&d, e->model, false);
    cli_gen g = {0};
    g.max_tokens = n_predict;
    g.out = stdout;
    g.collect = true;
    if (cli_generate(e, s, cache, last, &d, &g) != 0) {
        free(g.text);
        return -1;
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (timings)
        fprintf(stderr,
                "[prompt: %d tokens, %d reused from the cache, %d evaluated "
                "in %.2f ms; reply: %d tokens, %.2f t/s]\n",
                n, n_reused, n - n_reused, prompt_s * 1e3, g.n_gen,
                g.gen_s > 0 ? g.n_gen / g.gen_s : 0.0);
    rc = conv_add(c, "assistant", g.text ? g.text : "");
    free(g.text);
    if (rc != 0) {
        cli_fail("out of memory");
        return -1;
    }
    if (g.ctx_full) {
        fprintf(stderr,
                "llamachat: the context of %d tokens is full; "
                "starting a new conversation\n",
                e->n_ctx);
        conv_truncate(c, c->n_keep);
        clear_cache(e, cache);
    }
    return 0;
}

int cmd_chat(int argc, char **argv) {
    const char *model_path = NULL, *system = NULL, *tmpl = NULL;
    int n_predict = -1, n_threads = 0, n_ctx = 0;
    cli_gpu gpu = CLI_GPU_DEFAULT;
    bool seed_seen = false, timings = false;
    lc_sampler_params sp = lc_sampler_default_params();
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {NULL, "--system", CLI_STRING, &system, "TEXT",
         "system message that opens the conversation", false, NULL},
        {NULL, "--chat-template", CLI_STRING, &tmpl, "NAME|JINJA",
         "template family name (chatml, llama3, ...) or Jinja text to use "
         "instead of the model's",
         false, NULL},
        {"-n", "--n-predict", CLI_INT, &n_predict, "N",
         "tokens per reply at most (-1 = until the end token)", true, NULL},
        CLI_OPTS_SAMPLING(&sp, &seed_seen),
        CLI_OPT_THREADS(&n_threads),
        CLI_OPTS_GPU(&gpu.mode, &gpu.n_gpu_layers),
        CLI_OPT_CTX(&n_ctx),
        {NULL, "--timings", CLI_FLAG, &timings, NULL,
         "after each reply, print token counts (prompt tokens reused from "
         "the cache, evaluated, generated) and speed on stderr",
         false, NULL},
    };
    const cli_command cmd = {
        "chat", "-m FILE [options]",
        "Chats with the model: each line on stdin is a user message, the\n"
        "reply streams to stdout. '/exit' or end of input ends the chat.\n"
        "The KV cache is kept between turns; when the context is full the\n"
        "conversation starts over (the system message stays).",
        opts, CLI_N_OPTIONS(opts)};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m FILE is required");
    if (cli_gpu_mode(&gpu) < 0)
        return cli_usage_error(&cmd, "--gpu must be auto, on or off, not '%s'",
                               gpu.mode);
    if (!seed_seen) sp.seed = cli_clock_seed();

    cli_engine e;
    if (cli_engine_open_gpu(&e, model_path, n_threads, n_ctx, 0, &gpu) != 0)
        return 1;
    lc_sampler *s = lc_sampler_new(&sp, lc_model_n_vocab(e.model));
    conversation c = {0};
    cli_tokens cache = {0};
    char *line = NULL;
    size_t line_cap = 0;
    rc = 1;
    if (!s) {
        cli_fail("cannot create the sampler");
        goto done;
    }
    if (system && conv_add(&c, "system", system) != 0) {
        cli_fail("out of memory");
        goto done;
    }
    c.n_keep = c.n;
    /* Fail now, not after the first message, when there is no template:
     * render the system message (if any) and a sample user message. */
    if (conv_add(&c, "user", "hello") != 0) {
        cli_fail("out of memory");
        goto done;
    }
    char err[512] = "";
    char *probe =
        lc_chat_render(e.model, tmpl, c.msgs, c.n, true, err, sizeof err);
    conv_truncate(&c, c.n_keep);
    if (!probe) {
        cli_fail("%s", err[0] ? err : "cannot render the chat template");
        goto done;
    }
    free(probe);
    bool interactive = isatty(STDIN_FILENO);
    if (interactive)
        fprintf(stderr, "chat with %s (template %s); /exit or Ctrl-D ends\n",
                lc_model_name(e.model)[0] ? lc_model_name(e.model) : model_path,
                tmpl ? "from --chat-template" : lc_chat_template_name(e.model));
    for (;;) {
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t len = getline(&line, &line_cap, stdin);
        if (len < 0) break;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (strcmp(line, "/exit") == 0) break;
        if (len == 0) continue;
        if (conv_add(&c, "user", line) != 0) {
            cli_fail("out of memory");
            goto done;
        }
        if (chat_turn(&e, s, &cache, &c, tmpl, n_predict, timings) != 0)
            goto done;
    }
    rc = 0;
done:
    free(line);
    conv_truncate(&c, 0);
    free(c.msgs);
    cli_tokens_free(&cache);
    lc_sampler_free(s);
    cli_engine_close(&e);
    return rc;
}

/*
 * llamachat eval: evaluate a list of token ids in ONE batch, with logits for
 * every token, and write them as float32 little-endian [n_tokens][n_vocab]
 * (the layout of the reference logits, so the two files compare directly).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"

/* Parses "ID ID ..." (spaces, tabs, newlines or commas between) into a
 * malloc'd array. NULL after printing the error. */
static int32_t *parse_ids(const char *text, int *n_out) {
    size_t cap = strlen(text) / 2 + 1; /* each id takes 2 bytes with a gap */
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        cli_fail("out of memory");
        return NULL;
    }
    int n = 0;
    const char *p = text;
    for (;;) {
        while (*p && (isspace((unsigned char)*p) || *p == ',')) p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno ||
            (*end && !isspace((unsigned char)*end) && *end != ',')) {
            cli_fail("--tokens: '%.20s' is not a token id", p);
            free(ids);
            return NULL;
        }
        if (v < 0 || v > INT32_MAX) {
            cli_fail("--tokens: %ld is not a token id", v);
            free(ids);
            return NULL;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        cli_fail("--tokens: no token ids given");
        free(ids);
        return NULL;
    }
    *n_out = n;
    return ids;
}

/* Writes floats as little-endian bytes whatever the host's order. */
static int write_f32_le(FILE *f, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                              (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) return -1;
    }
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *tokens = NULL, *out_path = NULL;
    int n_threads = 0, n_ctx = 0;
    cli_gpu gpu = CLI_GPU_DEFAULT;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {NULL, "--tokens", CLI_STRING, &tokens, "\"ID ID ...\"",
         "token ids to evaluate (required)", false, NULL},
        {NULL, "--logits", CLI_STRING, &out_path, "FILE",
         "where to write float32 [n_tokens][n_vocab] (required)", false, NULL},
        CLI_OPT_THREADS(&n_threads),
        CLI_OPTS_GPU(&gpu.mode, &gpu.n_gpu_layers),
        {"-c", "--ctx-size", CLI_INT, &n_ctx, "N",
         "context size (0 = the number of tokens)", true, NULL},
    };
    const cli_command cmd = {
        "eval", "-m FILE --tokens \"ID ID ...\" --logits OUT.f32 [options]",
        "Evaluates the token ids in one batch at positions 0.. and writes\n"
        "the logits of every token, float32 little-endian, row i = the\n"
        "prediction after token i.",
        opts, CLI_N_OPTIONS(opts)};
    int rc = cli_parse(&cmd, argc, argv, NULL, 0, NULL);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m FILE is required");
    if (!tokens) return cli_usage_error(&cmd, "--tokens is required");
    if (!out_path) return cli_usage_error(&cmd, "--logits FILE is required");
    if (cli_gpu_mode(&gpu) < 0)
        return cli_usage_error(&cmd, "--gpu must be auto, on or off, not '%s'",
                               gpu.mode);

    int n = 0;
    int32_t *ids = parse_ids(tokens, &n);
    if (!ids) return 1;
    if (n_ctx > 0 && n > n_ctx) {
        free(ids);
        return cli_fail("%d tokens do not fit in a context of %d", n, n_ctx);
    }

    cli_engine e;
    if (cli_engine_open_gpu(&e, model_path, n_threads, n_ctx > 0 ? n_ctx : n, n,
                            &gpu) != 0) {
        free(ids);
        return 1;
    }
    int n_vocab = lc_model_n_vocab(e.model);
    int32_t *pos = malloc((size_t)n * sizeof *pos);
    int32_t *seq = calloc((size_t)n, sizeof *seq);
    int8_t *want = malloc((size_t)n);
    FILE *f = NULL;
    rc = 1;
    if (!pos || !seq || !want) {
        cli_fail("out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (ids[i] >= n_vocab) {
            cli_fail("--tokens: token id %d is outside the vocabulary "
                     "(0..%d)",
                     (int)ids[i], n_vocab - 1);
            goto done;
        }
        pos[i] = i;
        want[i] = 1;
    }
    lc_batch b = {n, ids, pos, seq, want};
    char err[512] = "";
    if (lc_decode(e.ctx, &b, err, sizeof err) != 0) {
        cli_fail("%s", err[0] ? err : "decode failed");
        goto done;
    }
    f = fopen(out_path, "wb");
    if (!f) {
        cli_fail("cannot write %s: %s", out_path, strerror(errno));
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const float *row = lc_get_logits(e.ctx, i); /* [n_vocab] */
        if (!row) {
            cli_fail("no logits for token %d", i);
            goto done;
        }
        if (write_f32_le(f, row, (size_t)n_vocab) != 0) {
            cli_fail("cannot write %s: %s", out_path, strerror(errno));
            goto done;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        cli_fail("cannot write %s: %s", out_path, strerror(errno));
        goto done;
    }
    f = NULL;
    rc = 0;
done:
    if (f) fclose(f);
    free(pos);
    free(seq);
    free(want);
    free(ids);
    cli_engine_close(&e);
    return rc;
}

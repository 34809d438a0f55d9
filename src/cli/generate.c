/*
 * The generation loop: see generate.h.
 */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

/* Appends bytes to g->text. 0, or -1 out of memory. */
static int collect_text(cli_gen *g, const char *s, size_t n) {
    size_t need = g->text_len + n + 1;
    char *t = realloc(g->text, need);
    if (!t) return -1;
    memcpy(t + g->text_len, s, n);
    g->text = t;
    g->text_len += n;
    t[g->text_len] = '\0';
    return 0;
}

/* Writes text to the stream at once (the user sees tokens as they come)
 * and keeps it when asked. */
static int emit_text(cli_gen *g, const char *s, size_t n) {
    if (n == 0) return 0;
    fwrite(s, 1, n, g->out);
    fflush(g->out);
    if (g->collect && collect_text(g, s, n) != 0) {
        cli_fail("out of memory");
        return -1;
    }
    return 0;
}

/* Runs a detokeniser step (push when token >= 0, else flush) into a small
 * buffer, or a large one when the engine asks for more room. */
static int emit_detok(cli_gen *g, lc_detok *d, int32_t token) {
    char small[128];
    int n = token >= 0 ? lc_detok_push(d, token, small, sizeof small)
                       : lc_detok_flush(d, small, sizeof small);
    if (n >= 0) return emit_text(g, small, (size_t)n);
    size_t need = (size_t)(-n) + 1;
    char *big = malloc(need);
    if (!big) {
        cli_fail("out of memory");
        return -1;
    }
    n = token >= 0 ? lc_detok_push(d, token, big, (int)need)
                   : lc_detok_flush(d, big, (int)need);
    int rc = n >= 0 ? emit_text(g, big, (size_t)n) : -1;
    if (n < 0) cli_fail("cannot render token %d", (int)token);
    free(big);
    return rc;
}

int cli_generate(cli_engine *e, lc_sampler *s, cli_tokens *cache,
                 int logits_index, lc_detok *d, cli_gen *g) {
    g->n_gen = 0;
    g->eog = g->ctx_full = false;
    double t0 = cli_now();
    int rc = 0;
    for (;;) {
        if (g->max_tokens >= 0 && g->n_gen >= g->max_tokens) break;
        const float *logits = lc_get_logits(e->ctx, logits_index);
        if (!logits) {
            cli_fail("no logits to sample from");
            rc = -1;
            break;
        }
        int32_t t = lc_sampler_sample(s, logits, NULL); /* [n_vocab] */
        lc_sampler_accept(s, t);
        if (lc_token_is_eog(e->model, t)) {
            g->eog = true;
            break;
        }
        g->n_gen++;
        if (g->print_ids) {
            fprintf(g->out, g->n_gen > 1 ? " %d" : "%d", (int)t);
            fflush(g->out);
        } else if (emit_detok(g, d, t) != 0) {
            rc = -1;
            break;
        }
        /* The last token needs no evaluation: nothing samples after it. */
        if (g->max_tokens >= 0 && g->n_gen >= g->max_tokens) break;
        if (cache->n >= e->n_ctx) {
            g->ctx_full = true;
            break;
        }
        if (cli_decode(e, &t, 1, cache->n, &logits_index) != 0) {
            rc = -1;
            break;
        }
        if (cli_tokens_push(cache, t) != 0) {
            cli_fail("out of memory");
            rc = -1;
            break;
        }
    }
    if (rc == 0 && !g->print_ids && emit_detok(g, d, -1) != 0) rc = -1;
    if (g->print_ids && g->n_gen > 0) fputc('\n', g->out);
    g->gen_s = cli_now() - t0;
    return rc;
}

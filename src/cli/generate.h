/*
 * The generation loop that run and chat share: sample a token, stream its
 * text, evaluate it, until an end-of-generation token, a token budget or a
 * full context.
 */
#ifndef LC_CLI_GENERATE_H
#define LC_CLI_GENERATE_H

#include <stdbool.h>
#include <stdio.h>

#include "common.h"

typedef struct cli_gen {
    /* inputs */
    int max_tokens; /* < 0: no limit but the context */
    bool print_ids; /* write token ids instead of text */
    FILE *out;      /* where the text streams; flushed per piece */
    bool collect;   /* also keep the text in `text` */
    /* outputs */
    char *text; /* malloc'd, NUL-terminated, when collect */
    size_t text_len;
    int n_gen;     /* tokens generated (an end token not counted) */
    double gen_s;  /* seconds spent generating */
    bool eog;      /* stopped at an end-of-generation token */
    bool ctx_full; /* stopped because the context was full */
} cli_gen;

/* Generates after the tokens in `cache` (the ids held in the KV cache of
 * sequence 0, whose last evaluated batch left logits at logits_index).
 * Every generated token that is evaluated is appended to `cache` and
 * accepted by the sampler. The detokeniser `d` carries the stream's state
 * (so a reply continues the text before it). 0, or -1 after printing the
 * error. */
int cli_generate(cli_engine *e, lc_sampler *s, cli_tokens *cache,
                 int logits_index, lc_detok *d, cli_gen *g);

#endif

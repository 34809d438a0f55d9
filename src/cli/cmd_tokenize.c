/*
 * llamachat tokenize: print the token ids of a text, space-separated on one
 * line (the form `eval --tokens` reads).
 */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "common.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL;
    bool no_bos = false, special = false;
    const cli_option opts[] = {
        CLI_OPT_MODEL(&model_path),
        {NULL, "--no-bos", CLI_FLAG, &no_bos, NULL,
         "do not add BOS/EOS even when the model asks for them", false, NULL},
        {NULL, "--special", CLI_FLAG, &special, NULL,
         "recognise control tokens such as <|im_start|> in TEXT", false, NULL},
    };
    const cli_command cmd = {
        "tokenize", "-m FILE [options] TEXT",
        "Prints the token ids of TEXT, space-separated, on one line.", opts,
        CLI_N_OPTIONS(opts)};
    const char *text = NULL;
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, &text, 1, &n_pos);
    if (rc != CLI_OK) return rc == CLI_HELP ? 0 : 2;
    if (!model_path) return cli_usage_error(&cmd, "-m FILE is required");
    if (n_pos != 1) return cli_usage_error(&cmd, "TEXT is required");

    /* No progress: tokenizing reads the vocabulary, not the weights. */
    lc_model *m = cli_load_model(model_path, 0, false, NULL);
    if (!m) return 1;
    int n = 0;
    int32_t *ids = cli_tokenize(m, text, !no_bos, special, &n);
    if (ids) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
    }
    free(ids);
    lc_model_free(m);
    return ids ? 0 : 1;
}

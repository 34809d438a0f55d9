/*
 * The one option parser of the command-line interface.
 *
 * Every command describes its flags as a table of cli_option; cli_parse()
 * fills the variables the table points at, and cli_print_help() documents
 * the same table, so a flag is parsed and documented one way everywhere.
 * Defaults are the values the variables hold before parsing, and the help
 * shows them.
 *
 * Accepted forms: "-m FILE", "--model FILE", "--model=FILE"; "--" ends the
 * options; everything else is a positional argument.
 */
#ifndef LC_CLI_ARGS_H
#define LC_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "llamachat/engine.h"

typedef enum cli_kind {
    CLI_FLAG,   /* bool: set to true when present, takes no value */
    CLI_INT,    /* int */
    CLI_FLOAT,  /* float (finite) */
    CLI_STRING, /* const char * (points into argv) */
    CLI_U64,    /* uint64_t */
} cli_kind;

typedef struct cli_option {
    const char *short_name; /* "-m", or NULL */
    const char *long_name;  /* "--model" */
    cli_kind kind;
    void *value;         /* bool*, int*, float*, const char**, uint64_t* */
    const char *metavar; /* "FILE" in the help; NULL for flags */
    const char *help;    /* one line */
    bool show_default;   /* print the variable's initial value in help */
    bool *seen;          /* optional: set to true when given */
} cli_option;

typedef struct cli_command {
    const char *name;     /* "run" */
    const char *synopsis; /* "-m MODEL -p PROMPT [options]" */
    const char *summary;  /* what the command does, one or more lines */
    const cli_option *options;
    int n_options;
} cli_command;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_ERROR = 2 };

/* Parses argv[0..argc) (the arguments after the command name). Positional
 * arguments go to positional[0..max_positional); more of them is an error.
 * Returns CLI_OK; CLI_HELP after printing the help to stdout for -h/--help;
 * CLI_ERROR after printing one error line to stderr. */
int cli_parse(const cli_command *cmd, int argc, char **argv,
              const char **positional, int max_positional, int *n_positional);

void cli_print_help(const cli_command *cmd, FILE *out);

/* Prints "llamachat: CMD: <message> (see 'llamachat CMD --help')" to stderr
 * and returns the usage-error exit status, 2. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Options shared by several commands, so each is spelled one way. */
#define CLI_OPT_MODEL(var)                                                     \
    {                                                                          \
        "-m", "--model", CLI_STRING, (var), "FILE",                            \
            "GGUF model file (required)", false, NULL                          \
    }
#define CLI_OPT_THREADS(var)                                                   \
    {                                                                          \
        "-t", "--threads", CLI_INT, (var), "N",                                \
            "threads for matrix work (0 = all cores)", true, NULL              \
    }
#define CLI_OPT_CTX(var)                                                       \
    {                                                                          \
        "-c", "--ctx-size", CLI_INT, (var), "N",                               \
            "context size in tokens (0 = the model's, at most 4096)", true,    \
            NULL                                                               \
    }

/* Where the model runs: `mode` a const char * ("auto", "on", "off"),
 * `ngl` an int (layers on the GPU, -1 = as many as fit). */
#define CLI_OPTS_GPU(mode, ngl)                                                \
    {NULL,                                                                     \
     "--gpu",                                                                  \
     CLI_STRING,                                                               \
     (mode),                                                                   \
     "auto|on|off",                                                            \
     "run layers on the GPU: auto (when usable), on (or fail), off",           \
     true,                                                                     \
     NULL},                                                                    \
    {                                                                          \
        "-ngl", "--n-gpu-layers", CLI_INT, (ngl), "N",                         \
            "layers on the GPU, the rest on the CPU (-1 = as many as fit)",    \
            true, NULL                                                         \
    }

/* The sampling flags of run and chat; `p` is an lc_sampler_params *, `seen`
 * a bool * set when --seed is given. */
#define CLI_OPTS_SAMPLING(p, seed_seen)                                          \
    {NULL,      "--temp",                                                        \
     CLI_FLOAT, &(p)->temperature,                                               \
     "T",       "temperature; 0 = greedy (exact argmax)",                        \
     true,      NULL},                                                           \
        {NULL,        "--top-k", CLI_INT,                                        \
         &(p)->top_k, "K",       "keep the K most likely tokens (0 = off)",      \
         true,        NULL},                                                     \
        {NULL,      "--top-p",                                                   \
         CLI_FLOAT, &(p)->top_p,                                                 \
         "P",       "keep the most likely tokens up to probability P (1 = off)", \
         true,      NULL},                                                       \
        {NULL,      "--min-p",                                                   \
         CLI_FLOAT, &(p)->min_p,                                                 \
         "P",       "drop tokens less likely than P times the best (0 = off)",   \
         true,      NULL},                                                       \
        {NULL,                                                                   \
         "--repeat-penalty",                                                     \
         CLI_FLOAT,                                                              \
         &(p)->repeat_penalty,                                                   \
         "X",                                                                    \
         "penalise tokens seen in the last --repeat-last-n (1 = off)",           \
         true,                                                                   \
         NULL},                                                                  \
        {NULL,    "--repeat-last-n",                                             \
         CLI_INT, &(p)->repeat_last_n,                                           \
         "N",     "tokens looked back for the penalties",                        \
         true,    NULL},                                                         \
        {NULL,      "--presence-penalty",                                        \
         CLI_FLOAT, &(p)->presence_penalty,                                      \
         "X",       "subtract X from tokens seen (0 = off)",                     \
         true,      NULL},                                                       \
        {NULL,      "--frequency-penalty",                                       \
         CLI_FLOAT, &(p)->frequency_penalty,                                     \
         "X",       "subtract X per occurrence of a token seen (0 = off)",       \
         true,      NULL},                                                       \
    {                                                                            \
        NULL, "--seed", CLI_U64, &(p)->seed, "S",                                \
            "random seed (default: from the clock; printed on stderr)", false,   \
            (seed_seen)                                                          \
    }

#define CLI_N_OPTIONS(table) ((int)(sizeof(table) / sizeof((table)[0])))

#endif

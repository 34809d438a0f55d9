/*
 * llamachat: the command-line entry point. It only dispatches: each command
 * lives in its own cmd_*.c file and parses its own flags with args.c.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"run", cmd_run, "generate a continuation of a prompt"},
    {"chat", cmd_chat, "chat with a model on stdin/stdout"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"eval", cmd_eval, "evaluate token ids and write their logits"},
    {"bench", cmd_bench, "measure prompt processing and generation speed"},
    {"serve", cmd_serve, "serve the chat API (HTTP, WebSocket, SSE)"},
    {"embed", cmd_embed, "print the embedding vectors of texts"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_usage(FILE *out) {
    fprintf(out, "usage: llamachat <command> [options]\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'llamachat <command> --help' for its options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "llamachat: no command given (see 'llamachat "
                        "--help')\n");
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 ||
        strcmp(name, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr,
            "llamachat: unknown command '%s' (see 'llamachat --help')\n", name);
    return 2;
}

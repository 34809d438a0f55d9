/*
 * The commands of the llamachat binary. Each takes the arguments after its
 * name and returns the process exit status: 0 success, 1 failure (one line
 * "llamachat: <why>" on stderr), 2 usage error.
 */
#ifndef LC_CLI_COMMANDS_H
#define LC_CLI_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_embed(int argc, char **argv);

#endif

/*
 * Table-driven option parsing: see args.h.
 */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const cli_command *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "llamachat: %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'llamachat %s --help')\n", cmd->name);
    va_end(ap);
    return CLI_ERROR;
}

/* The option whose name matches `name` (length len), or NULL. */
static const cli_option *find_option(const cli_command *cmd, const char *name,
                                     size_t len) {
    for (int i = 0; i < cmd->n_options; i++) {
        const cli_option *o = &cmd->options[i];
        if (o->long_name && strlen(o->long_name) == len &&
            memcmp(o->long_name, name, len) == 0)
            return o;
        if (o->short_name && strlen(o->short_name) == len &&
            memcmp(o->short_name, name, len) == 0)
            return o;
    }
    return NULL;
}

/* Stores the text `v` into the option's variable; 0, or -1 when `v` is not
 * a valid value of the option's kind (the caller reports it). */
static int store_value(const cli_option *o, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case CLI_FLAG:
        return -1; /* flags take no value */
    case CLI_STRING:
        *(const char **)o->value = v;
        return 0;
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (end == v || *end || errno || x < INT_MIN || x > INT_MAX) return -1;
        *(int *)o->value = (int)x;
        return 0;
    }
    case CLI_FLOAT: {
        float x = strtof(v, &end);
        if (end == v || *end || errno || !isfinite(x)) return -1;
        *(float *)o->value = x;
        return 0;
    }
    case CLI_U64: {
        /* strtoull accepts "-1" and wraps it: refuse a sign explicitly. */
        if (v[0] == '-' || v[0] == '+') return -1;
        unsigned long long x = strtoull(v, &end, 0);
        if (end == v || *end || errno) return -1;
        *(uint64_t *)o->value = (uint64_t)x;
        return 0;
    }
    }
    return -1;
}

static const char *kind_noun(cli_kind k) {
    switch (k) {
    case CLI_INT:
        return "an integer";
    case CLI_FLOAT:
        return "a number";
    case CLI_U64:
        return "a non-negative integer";
    default:
        return "a value";
    }
}

int cli_parse(const cli_command *cmd, int argc, char **argv,
              const char **positional, int max_positional, int *n_positional) {
    int n_pos = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool is_option = !options_done && a[0] == '-' && a[1] != '\0';
        if (is_option && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!is_option) {
            if (n_pos >= max_positional)
                return cli_usage_error(cmd, "unexpected argument '%s'", a);
            positional[n_pos++] = a;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_help(cmd, stdout);
            return CLI_HELP;
        }
        /* "--name=value" carries its value inline. */
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const cli_option *o = find_option(cmd, a, name_len);
        if (!o)
            return cli_usage_error(cmd, "unknown option '%.*s'", (int)name_len,
                                   a);
        if (o->seen) *o->seen = true;
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "option '%.*s' takes no value",
                                       (int)name_len, a);
            *(bool *)o->value = true;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option '%s' needs a value (%s)", a,
                                       o->metavar ? o->metavar : "?");
            v = argv[++i];
        }
        if (store_value(o, v) != 0)
            return cli_usage_error(cmd, "option '%.*s' expects %s, not '%s'",
                                   (int)name_len, a, kind_noun(o->kind), v);
    }
    if (n_positional) *n_positional = n_pos;
    return CLI_OK;
}

/* The initial value of an option's variable, as text for the help. */
static void format_default(const cli_option *o, char *buf, size_t len) {
    buf[0] = '\0';
    switch (o->kind) {
    case CLI_INT:
        snprintf(buf, len, "%d", *(int *)o->value);
        break;
    case CLI_FLOAT:
        snprintf(buf, len, "%g", *(float *)o->value);
        break;
    case CLI_U64:
        snprintf(buf, len, "%" PRIu64, *(uint64_t *)o->value);
        break;
    case CLI_STRING: {
        const char *s = *(const char **)o->value;
        if (s) snprintf(buf, len, "%s", s);
        break;
    }
    case CLI_FLAG:
        break;
    }
}

void cli_print_help(const cli_command *cmd, FILE *out) {
    fprintf(out, "usage: llamachat %s %s\n\n%s\n\noptions:\n", cmd->name,
            cmd->synopsis, cmd->summary);
    for (int i = 0; i < cmd->n_options; i++) {
        const cli_option *o = &cmd->options[i];
        char names[96];
        snprintf(names, sizeof names, "%s%s%s%s%s",
                 o->short_name ? o->short_name : "",
                 o->short_name ? ", " : "    ", o->long_name,
                 o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "  %-28s %s", names, o->help);
        char def[64];
        format_default(o, def, sizeof def);
        if (o->show_default && def[0]) fprintf(out, " (default: %s)", def);
        fputc('\n', out);
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
}

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

const char *lc_shared_path(const char *rel) {
    static char path[4096];
    const char *dir = getenv("LC_SHARED_DIR");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "../shared", rel);
    return path;
}

bool lc_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *lc_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    buf[n] = '\0';
    if (size) *size = n;
    return buf;
}

json_t *lc_load_manifest(void) {
    json_error_t jerr;
    const char *p = lc_shared_path("oracle/manifest.json");
    if (!lc_file_exists(p)) return NULL;
    json_t *j = json_load_file(p, 0, &jerr);
    if (!j) fprintf(stderr, "manifest: %s line %d\n", jerr.text, jerr.line);
    return j;
}

int lc_run_cli(const char *args, char **out, const char *stderr_path) {
    const char *bin = getenv("LLAMACHAT_BIN");
    if (!bin) bin = "build/llamachat";
    size_t cmd_len = strlen(bin) + strlen(args) + 4096;
    char *cmd = malloc(cmd_len);
    snprintf(cmd, cmd_len, "'%s' %s 2>%s", bin, args,
             stderr_path ? stderr_path : "/dev/null");
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return -1;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, p);
        n += got;
        if (got == 0) break;
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * embed_web: turns the web UI's static build (web/build/...) into a C file
 * of byte arrays that is linked into llamachat, so that the binary serves
 * its UI with no file next to it.
 *
 *   embed_web BUILD_DIR OUT.c
 *
 * Every regular file under BUILD_DIR becomes one lc_web_asset (see
 * src/server/web_assets.h): its URL path, its Content-Type, its bytes, and
 * its gzip (level 9, made here at build time with zlib) when that is at
 * least 10% smaller, so that the server never compresses at run time.
 * Files under _app/immutable/ have content hashes in their names and are
 * marked immutable (cached for a year by browsers). Files are sorted by
 * path so that the output is the same for the same input.
 *
 * A build tool, not part of the server: it runs on the build machine only.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

typedef struct file_entry {
    char *rel; /* path relative to the build dir, "/"-separated */
} file_entry;

typedef struct file_list {
    file_entry *v; /* [n] */
    size_t n, cap;
} file_list;

static void die(const char *what, const char *detail) {
    fprintf(stderr, "embed_web: %s: %s\n", what, detail);
    exit(1);
}

static void list_add(file_list *l, const char *rel) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (!l->v) die("out of memory", rel);
    }
    l->v[l->n].rel = strdup(rel);
    if (!l->v[l->n].rel) die("out of memory", rel);
    l->n++;
}

/* Walks root/rel recursively, adding every regular file. */
static void walk(const char *root, const char *rel, file_list *out) {
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) die(dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char child[4096], full[8192];
        snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "",
                 e->d_name);
        snprintf(full, sizeof(full), "%s/%s", root, child);
        struct stat st;
        if (stat(full, &st) != 0) die(full, strerror(errno));
        if (S_ISDIR(st.st_mode))
            walk(root, child, out);
        else if (S_ISREG(st.st_mode))
            list_add(out, child);
    }
    closedir(d);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const file_entry *)a)->rel, ((const file_entry *)b)->rel);
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) die("out of memory", path);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) die("out of memory", path);
        }
    }
    if (ferror(f)) die(path, "read error");
    fclose(f);
    *len = n;
    return buf;
}

/* gzip of data[len] at level 9 (windowBits 15 + 16 asks zlib for the gzip
 * wrapper, with no file name or time in its header, so builds repeat). */
static unsigned char *gzip_bytes(const unsigned char *data, size_t len,
                                 size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        die("zlib", "deflateInit2 failed");
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    unsigned char *out = malloc(cap);
    if (!out) die("out of memory", "gzip");
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("zlib", "deflate failed");
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

static const char *ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix) ? s + a - b : NULL;
}

/* The Content-Type of a file, by its extension. */
static const char *content_type(const char *rel) {
    static const char *const map[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (ends_with(rel, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

/* Already-compressed formats gain nothing from gzip. */
static int compressible(const char *type) {
    return strncmp(type, "text/", 5) == 0 || strstr(type, "json") ||
           strstr(type, "svg");
}

static void write_array(FILE *out, const char *name, const unsigned char *b,
                        size_t n) {
    fprintf(out, "static const unsigned char %s[%zu] = {", name, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s%u,", i % 24 ? "" : "\n", b[i]);
    if (n == 0) fputs("0", out);
    fputs("\n};\n", out);
}

/* Writes s as a C string literal (paths and types are plain ASCII; anything
 * else is escaped in octal). */
static void write_cstr(FILE *out, const char *s) {
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\%03o", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: embed_web BUILD_DIR OUT.c\n");
        return 2;
    }
    const char *root = argv[1];
    file_list files = {0};
    walk(root, "", &files);
    qsort(files.v, files.n, sizeof(*files.v), cmp_entry);

    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
    FILE *out = fopen(tmp, "w");
    if (!out) die(tmp, strerror(errno));
    fprintf(out, "/* generated by tools/gen/embed_web.c from the web UI's "
                 "build: do not edit */\n#include \"server/web_assets.h\"\n");
    size_t *gz_len = calloc(files.n + 1, sizeof(*gz_len));
    if (!gz_len) die("out of memory", "sizes");
    size_t *raw_len = calloc(files.n + 1, sizeof(*raw_len));
    if (!raw_len) die("out of memory", "sizes");
    for (size_t i = 0; i < files.n; i++) {
        char full[8192], name[32];
        snprintf(full, sizeof(full), "%s/%s", root, files.v[i].rel);
        unsigned char *data = read_file(full, &raw_len[i]);
        snprintf(name, sizeof(name), "raw%zu", i);
        write_array(out, name, data, raw_len[i]);
        if (compressible(content_type(files.v[i].rel)) && raw_len[i] > 256) {
            size_t n;
            unsigned char *gz = gzip_bytes(data, raw_len[i], &n);
            if (n * 10 <= raw_len[i] * 9) {
                snprintf(name, sizeof(name), "gz%zu", i);
                write_array(out, name, gz, n);
                gz_len[i] = n;
            }
            free(gz);
        }
        free(data);
    }
    fprintf(out, "const lc_web_asset lc_web_assets[] = {\n");
    for (size_t i = 0; i < files.n; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "/%s", files.v[i].rel);
        fputs("    {", out);
        write_cstr(out, path);
        fputs(", ", out);
        write_cstr(out, content_type(files.v[i].rel));
        fprintf(out, ", raw%zu, %zu, ", i, raw_len[i]);
        if (gz_len[i])
            fprintf(out, "gz%zu, %zu, ", i, gz_len[i]);
        else
            fputs("0, 0, ", out);
        fprintf(out, "%d},\n",
                strncmp(files.v[i].rel, "_app/immutable/", 15) == 0);
    }
    fprintf(out, "    {0, 0, 0, 0, 0, 0, 0}\n};\n");
    fprintf(out, "const size_t lc_web_asset_count = %zu;\n", files.n);
    if (fclose(out) != 0) die(tmp, strerror(errno));
    if (rename(tmp, argv[2]) != 0) die(argv[2], strerror(errno));
    for (size_t i = 0; i < files.n; i++) free(files.v[i].rel);
    free(files.v);
    free(gz_len);
    free(raw_len);
    return 0;
}

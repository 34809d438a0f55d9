#include "testutil.h"

#include <stddef.h>

#include "engine/quant.h"

#include <math.h>
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

json_t *lc_require_manifest(void) {
    json_t *man = lc_load_manifest();
    if (!man) {
        print_message("skip: oracle manifest is absent\n");
        skip();
    }
    return man;
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
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------- oracle comparisons */

double lc_oracle_tolerance(const char *type, const char *arch) {
    if (strcmp(type, "F32") == 0)
        return strcmp(arch, "gemma3") == 0 ? 2e-3 : 1e-4;
    if (strcmp(type, "F16") == 0) return 3e-3;
    if (strcmp(type, "BF16") == 0) return 2e-2;
    return 0.08;
}

bool lc_oracle_is_quantized(const char *type) {
    return strcmp(type, "F32") != 0 && strcmp(type, "F16") != 0 &&
           strcmp(type, "BF16") != 0;
}

void lc_oracle_path(char *out, size_t len, const json_t *rel) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "oracle/%s", json_string_value(rel));
    snprintf(out, len, "%s", lc_shared_path(tmp));
}

float *lc_read_f32(const char *path, size_t rows, size_t cols) {
    size_t size = 0;
    char *buf = lc_read_file(path, &size);
    if (!buf) return NULL;
    if (size != rows * cols * sizeof(float)) {
        print_message("%s: %zu bytes, expected %zu\n", path, size,
                      rows * cols * sizeof(float));
        free(buf);
        return NULL;
    }
    float *f = malloc(size);
    if (f) memcpy(f, buf, size);
    free(buf);
    return f;
}

int lc_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i; /* ties: the lowest id stays */
    return best;
}

int32_t *lc_json_ids(const json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

int lc_decode_all(lc_context *ctx, const int32_t *ids, int n, int pos0) {
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *seq = calloc((size_t)n, sizeof(int32_t));
    int8_t *lg = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        pos[i] = pos0 + i;
        lg[i] = 1;
    }
    lc_batch b = {n, ids, pos, seq, lg};
    char err[256];
    int rc = lc_decode(ctx, &b, err, sizeof err);
    if (rc) print_message("lc_decode: %s\n", err);
    free(pos);
    free(seq);
    free(lg);
    return rc;
}

lc_cmp_result lc_compare_rows(lc_context *ctx, const float *ref, int n,
                              int n_vocab) {
    lc_cmp_result r = {0.0, 1.0};
    for (int i = 0; i < n; i++) {
        const float *got = lc_get_logits(ctx, i);
        assert_non_null(got);
        const float *want = ref + (size_t)i * n_vocab;
        double dot = 0, ng = 0, nw = 0;
        for (int v = 0; v < n_vocab; v++) {
            double d = fabs((double)got[v] - want[v]);
            if (!(d <= r.max_abs)) r.max_abs = d; /* NaN propagates */
            dot += (double)got[v] * want[v];
            ng += (double)got[v] * got[v];
            nw += (double)want[v] * want[v];
        }
        double cos = dot / (sqrt(ng) * sqrt(nw) + 1e-30);
        if (!(cos >= r.min_cos)) r.min_cos = cos;
    }
    return r;
}

int lc_greedy_check(lc_context *ctx, const int32_t *prompt, int n_prompt,
                    const json_t *gen_ids, const json_t *margins,
                    double min_margin, int n_vocab, const char *name) {
    lc_kv_seq_rm(ctx, 0, 0, -1);
    char err[256];
    lc_batch b = {n_prompt, prompt, NULL, NULL, NULL};
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n_prompt);
    int32_t *seq = calloc((size_t)n_prompt, sizeof(int32_t));
    for (int i = 0; i < n_prompt; i++) pos[i] = i;
    b.pos = pos;
    b.seq_id = seq;
    int rc = lc_decode(ctx, &b, err, sizeof err);
    free(pos);
    free(seq);
    if (rc) {
        print_message("%s: prompt decode failed: %s\n", name, err);
        return -1;
    }
    const int n_steps = (int)json_array_size(gen_ids);
    int compared = 0;
    int32_t p = n_prompt, s0 = 0;
    for (int k = 0; k < n_steps; k++) {
        const float *lg = lc_get_logits(ctx, b.n_tokens - 1);
        if (!lg) return -1;
        int32_t tok = lc_argmax(lg, n_vocab);
        if (margins &&
            json_real_value(json_array_get(margins, (size_t)k)) < min_margin)
            break;
        int32_t want =
            (int32_t)json_integer_value(json_array_get(gen_ids, (size_t)k));
        if (tok != want) {
            print_message("%s: greedy step %d: got %d, llama.cpp %d\n", name, k,
                          tok, want);
            return -1;
        }
        compared++;
        lc_batch one = {1, &tok, &p, &s0, NULL};
        if (lc_decode(ctx, &one, err, sizeof err)) {
            print_message("%s: step decode failed: %s\n", name, err);
            return -1;
        }
        b.n_tokens = 1;
        p++;
    }
    return compared;
}

int lc_test_scale_offsets(enum ggml_type t, size_t off[2]) {
    switch (t) {
    case GGML_TYPE_Q4_0:
        off[0] = offsetof(block_q4_0, d);
        return 1;
    case GGML_TYPE_Q5_0:
        off[0] = offsetof(block_q5_0, d);
        return 1;
    case GGML_TYPE_Q8_0:
        off[0] = offsetof(block_q8_0, d);
        return 1;
    case GGML_TYPE_Q4_1:
        off[0] = offsetof(block_q4_1, d), off[1] = offsetof(block_q4_1, m);
        return 2;
    case GGML_TYPE_Q5_1:
        off[0] = offsetof(block_q5_1, d), off[1] = offsetof(block_q5_1, m);
        return 2;
    case GGML_TYPE_Q2_K:
        off[0] = offsetof(block_q2_K, d), off[1] = offsetof(block_q2_K, dmin);
        return 2;
    case GGML_TYPE_Q3_K:
        off[0] = offsetof(block_q3_K, d);
        return 1;
    case GGML_TYPE_Q4_K:
        off[0] = offsetof(block_q4_K, d), off[1] = offsetof(block_q4_K, dmin);
        return 2;
    case GGML_TYPE_Q5_K:
        off[0] = offsetof(block_q5_K, d), off[1] = offsetof(block_q5_K, dmin);
        return 2;
    case GGML_TYPE_Q6_K:
        off[0] = offsetof(block_q6_K, d);
        return 1;
    default:
        return 0;
    }
}

uint64_t lc_test_rng(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

float lc_test_uniform(uint64_t *state, float lo, float hi) {
    return lo +
           (hi - lo) * (float)((lc_test_rng(state) >> 40) * (1.0 / 16777216.0));
}

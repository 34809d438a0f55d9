/*
 * The llamachat binary, run as a user runs it: help and usage errors,
 * greedy generation against llama.cpp's stories260K continuations, token
 * ids and logits against the oracle, one clear error line for broken model
 * files, seeded sampling, chat with KV-cache reuse, and bench output.
 */
#include "testutil.h"

#include "llamachat/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static char tmp_dir[256];

/* A path inside this run's temporary directory (static buffer). */
static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

/* Single-quotes text for the shell that lc_run_cli uses. */
static char *shell_quote(const char *s) {
    size_t n = strlen(s);
    char *q = malloc(4 * n + 3), *o = q;
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *s;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return q;
}

/* Runs the CLI; returns its status, stdout in *out (may be NULL) and the
 * number of lines of stderr in *err_lines, whose text goes to err_text. */
static int run_cli(const char *args, char **out, int *err_lines,
                   char **err_text) {
    char err_path[512]; /* not tmp_path(): callers may hold its buffer */
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmp_dir);
    int rc = lc_run_cli(args, out, err_path);
    size_t n = 0;
    char *e = lc_read_file(err_path, &n);
    if (!e) e = calloc(1, 1);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += e[i] == '\n';
    if (n > 0 && e[n - 1] != '\n') lines++;
    if (err_lines) *err_lines = lines;
    if (err_text)
        *err_text = e;
    else
        free(e);
    return rc;
}

/* Lines of stderr text that are error messages ("llamachat: ..."); a
 * model that loaded has also written its "loading model" line. */
static int error_lines(const char *err) {
    int n = 0;
    for (const char *p = err; p && *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, "llamachat: ", 11) == 0;
    return n;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static bool write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The text of token ids: each id's piece, concatenated. This is the
 * engine's token table read directly, not the CLI's streaming path. */
static char *pieces_text(const lc_model *m, const json_t *ids) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        char buf[256];
        int len = lc_token_to_piece(m, (int32_t)json_integer_value(v), false,
                                    buf, sizeof buf);
        assert_true(len >= 0);
        if (n + (size_t)len + 1 > cap) s = realloc(s, cap *= 2);
        memcpy(s + n, buf, (size_t)len);
        n += (size_t)len;
    }
    s[n] = '\0';
    return s;
}

static json_t *manifest_model(json_t *manifest, const char *name) {
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(manifest, "models"), i, m) {
        if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
            return m;
    }
    return NULL;
}

static const char *stories_path(void) {
    static char p[4096];
    snprintf(p, sizeof p, "%s", lc_shared_path("models/stories260K.gguf"));
    return p;
}

/* --------------------------------------------------------- help, usage */

static void test_help(void **state) {
    (void)state;
    char *out = NULL;
    assert_int_equal(run_cli("--help", &out, NULL, NULL), 0);
    const char *cmds[] = {"run", "chat", "tokenize", "eval", "bench"};
    for (int i = 0; i < 5; i++) assert_non_null(strstr(out, cmds[i]));
    free(out);

    /* Every command documents every one of its flags. */
    const char *flags[5][12] = {
        {"--model", "--prompt", "--n-predict", "--temp", "--top-k", "--top-p",
         "--min-p", "--repeat-penalty", "--seed", "--threads", "--ctx-size",
         NULL},
        {"--model", "--system", "--temp", "--top-k", "--top-p", "--min-p",
         "--seed", "--ctx-size", NULL},
        {"--model", "--no-bos", "--special", NULL},
        {"--model", "--tokens", "--logits", NULL},
        {"--model", "--n-prompt", "--n-gen", "--repetitions", "--threads",
         "--output", NULL},
    };
    for (int c = 0; c < 5; c++) {
        char *args = format("%s --help", cmds[c]);
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        for (int f = 0; flags[c][f]; f++) {
            if (!strstr(out, flags[c][f]))
                fail_msg("'%s' does not document %s", args, flags[c][f]);
        }
        free(args);
        free(out);
    }
}

static void test_usage_errors(void **state) {
    (void)state;
    const char *cases[] = {
        "",                              /* no command */
        "frobnicate",                    /* unknown command */
        "run -m x.gguf -p hi --bogus",   /* unknown flag */
        "run -m x.gguf -p",              /* missing value */
        "run -p hi",                     /* missing -m */
        "run -m x.gguf -p hi -n ten",    /* not a number */
        "bench -m x.gguf -o xml",        /* bad choice */
        "tokenize -m x.gguf",            /* missing TEXT */
        "eval -m x.gguf --tokens '1 2'", /* missing --logits */
        "chat -m x.gguf --seed -4",      /* negative seed */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int lines = 0;
        char *err = NULL;
        int rc = run_cli(cases[i], NULL, &lines, &err);
        if (rc != 2 || lines != 1 || strncmp(err, "llamachat", 9) != 0)
            fail_msg("'%s': exit %d, %d stderr lines: %s", cases[i], rc, lines,
                     err);
        free(err);
    }
}

/* ------------------------------------------------- generation vs oracle */

static void test_stories_greedy(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    json_t *manifest = lc_require_manifest();
    json_t *gens = json_object_get(json_object_get(manifest, "stories260K"),
                                   "generations");
    assert_true(json_array_size(gens) > 0);
    char err[256];
    lc_model *m = lc_model_load(stories_path(), NULL, err, sizeof err);
    assert_non_null(m);

    size_t i;
    json_t *g;
    json_array_foreach(gens, i, g) {
        const char *prompt = json_string_value(json_object_get(g, "prompt"));
        json_t *ids = json_object_get(g, "generated_ids");
        assert_int_equal(json_array_size(ids), 100);
        char *q = shell_quote(prompt);
        char *qm = shell_quote(stories_path());

        /* The text: exactly the expected ids' pieces, nothing else. */
        char *args = format("run -m %s -p %s -n 100 --temp 0", qm, q);
        char *out = NULL;
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        char *expect = pieces_text(m, ids);
        if (strcmp(out, expect) != 0)
            fail_msg("prompt '%s':\n got: '%s'\nwant: '%s'", prompt, out,
                     expect);
        free(expect);
        free(out);
        free(args);

        /* The ids themselves. */
        args = format("run -m %s -p %s -n 100 --temp 0 --print-ids", qm, q);
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        char *p = out;
        size_t k;
        json_t *v;
        json_array_foreach(ids, k, v) {
            char *end;
            long got = strtol(p, &end, 10);
            assert_true(end != p);
            if (got != json_integer_value(v))
                fail_msg("prompt '%s' step %zu: id %ld, want %lld", prompt, k,
                         got, (long long)json_integer_value(v));
            p = end;
        }
        assert_string_equal(p, "\n");
        free(out);
        free(args);
        free(q);
        free(qm);
    }
    lc_model_free(m);
    json_decref(manifest);
}

static void test_prompt_too_long(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    char *qm = shell_quote(stories_path());
    char *args = format("run -m %s -c 8 -n 4 -p 'Once upon a time there was "
                        "a little girl who lived in a village near the "
                        "forest.'",
                        qm);
    int lines = 0;
    char *err = NULL;
    int rc = run_cli(args, NULL, &lines, &err);
    if (rc != 1 || error_lines(err) != 1 || !strstr(err, "context"))
        fail_msg("exit %d, %d lines: %s", rc, lines, err);
    free(err);
    free(args);
    free(qm);
}

static void test_seeded_sampling(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    char *qm = shell_quote(stories_path());
    char *first = NULL;
    int differs = 0;
    for (int seed = 5; seed <= 8; seed++) {
        for (int rep = 0; rep < (seed == 5 ? 2 : 1); rep++) {
            char *args = format("run -m %s -p 'Once upon a time' -n 40 "
                                "--temp 1.0 --seed %d --print-ids",
                                qm, seed);
            char *out = NULL;
            assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
            assert_true(strlen(out) > 1);
            if (!first)
                first = out;
            else if (seed == 5) {
                assert_string_equal(out, first); /* same seed, same ids */
                free(out);
            } else {
                differs += strcmp(out, first) != 0;
                free(out);
            }
            free(args);
        }
    }
    assert_true(differs > 0); /* the seed does change the draw */
    free(first);
    free(qm);
}

/* ---------------------------------------------------- tokenize and eval */

static void test_tokenize(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    json_t *manifest = lc_require_manifest();
    char *qm = shell_quote(stories_path());
    json_t *gens = json_object_get(json_object_get(manifest, "stories260K"),
                                   "generations");
    size_t i;
    json_t *g;
    json_array_foreach(gens, i, g) {
        char *q = shell_quote(json_string_value(json_object_get(g, "prompt")));
        char *args = format("tokenize -m %s %s", qm, q);
        char *out = NULL;
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        /* llama.cpp's ids, from the manifest: "1 403 407 ..." */
        char want[4096] = "";
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(g, "prompt_ids"), k, v) {
            size_t n = strlen(want);
            snprintf(want + n, sizeof want - n, k ? " %lld" : "%lld",
                     (long long)json_integer_value(v));
        }
        strcat(want, "\n");
        assert_string_equal(out, want);
        free(out);
        free(args);

        /* --no-bos: the same without the leading BOS (id 1). */
        args = format("tokenize -m %s --no-bos %s", qm, q);
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        assert_string_equal(out, strchr(want, ' ') + 1);
        free(out);
        free(args);
        free(q);
    }
    free(qm);
    json_decref(manifest);
}

static void test_eval_logits(void **state) {
    (void)state;
    const char *model = "oracle/models/llama-v512-F32.gguf";
    char model_path[4096];
    snprintf(model_path, sizeof model_path, "%s", lc_shared_path(model));
    lc_test_skip_without(model_path);
    json_t *manifest = lc_require_manifest();
    json_t *entry = manifest_model(manifest, "llama-v512-F32");
    assert_non_null(entry);
    json_t *tokens = json_object_get(entry, "tokens");
    int n = (int)json_array_size(tokens);
    char ids[4096] = "";
    size_t k;
    json_t *v;
    json_array_foreach(tokens, k, v) {
        size_t len = strlen(ids);
        snprintf(ids + len, sizeof ids - len, k ? " %lld" : "%lld",
                 (long long)json_integer_value(v));
    }

    /* tokenize reproduces llama.cpp's 24 ids of the prompt text. */
    char *qm = shell_quote(model_path);
    char *qt = shell_quote(
        json_string_value(json_object_get(manifest, "prompt_text")));
    char *args = format("tokenize -m %s %s", qm, qt);
    char *out = NULL;
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    assert_true(strncmp(out, ids, strlen(ids)) == 0);
    free(out);
    free(args);

    /* eval writes the logits llama.cpp computed. */
    char out_path[512]; /* a copy: tmp_path's buffer is reused */
    snprintf(out_path, sizeof out_path, "%s", tmp_path("logits.f32"));
    args = format("eval -m %s --tokens '%s' --logits %s", qm, ids, out_path);
    assert_int_equal(run_cli(args, NULL, NULL, NULL), 0);
    free(args);
    size_t got_n = 0, want_n = 0;
    char *got = lc_read_file(out_path, &got_n);
    char logits_rel[256];
    snprintf(logits_rel, sizeof logits_rel, "oracle/%s",
             json_string_value(json_object_get(entry, "logits_file")));
    char *want = lc_read_file(lc_shared_path(logits_rel), &want_n);
    assert_non_null(got);
    assert_non_null(want);
    int n_vocab = (int)json_integer_value(json_object_get(entry, "n_vocab"));
    assert_int_equal(got_n, (size_t)n * (size_t)n_vocab * 4);
    assert_int_equal(got_n, want_n);
    float max_diff = 0;
    for (size_t i = 0; i < got_n / 4; i++) {
        float a, b;
        memcpy(&a, got + 4 * i, 4);
        memcpy(&b, want + 4 * i, 4);
        float d = fabsf(a - b);
        if (!(d <= max_diff)) max_diff = isnan(d) ? INFINITY : d;
    }
    if (max_diff > 1e-4f) fail_msg("max |logit diff| = %g", max_diff);
    free(got);
    free(want);

    /* A token id outside the vocabulary: one clear line, exit 1. */
    args = format("eval -m %s --tokens '1 99999' --logits %s", qm, out_path);
    int lines = 0;
    char *err = NULL;
    int rc = run_cli(args, NULL, &lines, &err);
    if (rc != 1 || error_lines(err) != 1)
        fail_msg("exit %d, %d lines: %s", rc, lines, err);
    free(err);
    free(args);
    free(qm);
    free(qt);
    json_decref(manifest);
}

/* ------------------------------------------------------ broken models */

/* Offset of the first occurrence of needle in hay, or -1. */
static long find_bytes(const char *hay, size_t n, const char *needle,
                       size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return (long)i;
    return -1;
}

/* Expects `run` on the file to fail with exit 1 and one line on stderr
 * (a sanitizer report would add lines and change the exit status). */
static void expect_clean_failure(const char *path, const char *what) {
    char *qm = shell_quote(path);
    char *args = format("run -m %s -p 'Once upon a time' -n 4", qm);
    int lines = 0;
    char *err = NULL;
    int rc = run_cli(args, NULL, &lines, &err);
    if (rc != 1 || lines != 1 || strncmp(err, "llamachat: ", 11) != 0)
        fail_msg("%s: exit %d, %d stderr lines:\n%s", what, rc, lines, err);
    free(err);
    free(args);
    free(qm);
}

static void test_broken_models(void **state) {
    (void)state;
    char src[4096];
    snprintf(src, sizeof src, "%s",
             lc_shared_path("oracle/models/llama-v512-F32.gguf"));
    lc_test_skip_without(src);
    size_t n = 0;
    char *data = lc_read_file(src, &n);
    assert_non_null(data);

    expect_clean_failure(tmp_path("does-not-exist.gguf"), "missing file");

    assert_true(write_file(tmp_path("empty.gguf"), data, 0));
    expect_clean_failure(tmp_path("empty.gguf"), "empty file");

    /* Truncated: in the header, and in the tensor data. */
    assert_true(write_file(tmp_path("trunc-header.gguf"), data, 200));
    expect_clean_failure(tmp_path("trunc-header.gguf"), "truncated header");
    assert_true(write_file(tmp_path("trunc-data.gguf"), data, n / 2));
    expect_clean_failure(tmp_path("trunc-data.gguf"), "truncated data");

    /* Random bytes (fixed seed), with and without the GGUF magic. */
    char *noise = malloc(65536);
    unsigned x = 2463534242u;
    for (int i = 0; i < 65536; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = (char)x;
    }
    assert_true(write_file(tmp_path("noise.gguf"), noise, 65536));
    expect_clean_failure(tmp_path("noise.gguf"), "random bytes");
    memcpy(noise, "GGUF\3\0\0\0", 8);
    assert_true(write_file(tmp_path("noise-magic.gguf"), noise, 65536));
    expect_clean_failure(tmp_path("noise-magic.gguf"), "random after magic");
    free(noise);

    /* Unknown architecture: general.architecture's value "llama" becomes
     * "zzzzz" (same length, so every offset stays valid). */
    char *copy = malloc(n);
    memcpy(copy, data, n);
    const char *key = "general.architecture";
    long at = find_bytes(copy, n, key, strlen(key));
    assert_true(at > 0);
    /* key, then u32 value type (8 = string), u64 length, bytes */
    char *val = copy + at + strlen(key) + 4 + 8;
    assert_memory_equal(val, "llama", 5);
    memcpy(val, "zzzzz", 5);
    assert_true(write_file(tmp_path("arch.gguf"), copy, n));
    expect_clean_failure(tmp_path("arch.gguf"), "unknown architecture");

    /* Tensor types: token_embd.weight's type id set to one that no GGUF
     * type has (99) and to a real type the engine does not support
     * (16 = IQ2_XXS). Tensor info: u64 name length, name, u32 n_dims,
     * u64 dims[n_dims], u32 type. */
    const char *name = "\x11\0\0\0\0\0\0\0token_embd.weight";
    long t = find_bytes(data, n, name, 8 + 17);
    assert_true(t > 0);
    uint32_t n_dims;
    memcpy(&n_dims, data + t + 8 + 17, 4);
    assert_true(n_dims >= 1 && n_dims <= 4);
    size_t type_at = (size_t)t + 8 + 17 + 4 + 8 * n_dims;
    uint32_t types[2] = {99, 16};
    for (int i = 0; i < 2; i++) {
        memcpy(copy, data, n);
        memcpy(copy + type_at, &types[i], 4);
        char fname[64];
        snprintf(fname, sizeof fname, "type%u.gguf", types[i]);
        assert_true(write_file(tmp_path(fname), copy, n));
        expect_clean_failure(tmp_path(fname), fname);
    }
    free(copy);
    free(data);
}

/* --------------------------------------------------------------- chat */

/* The greedy continuation of a prompt through `run` (no KV reuse). */
static char *run_greedy(const char *model, const char *prompt, int n) {
    char *qm = shell_quote(model), *qp = shell_quote(prompt);
    char *args = format("run -m %s -p %s -n %d --temp 0", qm, qp, n);
    char *out = NULL;
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    free(args);
    free(qm);
    free(qp);
    return out;
}

static void test_chat_reuses_cache(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    char err[256];
    lc_model *m = lc_model_load(stories_path(), NULL, err, sizeof err);
    assert_non_null(m);
    const char *input = "Hello there.\n\nTell me a story.\n/exit\n";
    assert_true(write_file(tmp_path("chat-in.txt"), input, strlen(input)));
    char *qm = shell_quote(stories_path());
    char *args = format("chat -m %s --chat-template chatml --temp 0 -n 12 "
                        "--system 'You are kind.' < %s",
                        qm, tmp_path("chat-in.txt"));
    char *out = NULL;
    int lines = 0;
    char *errtext = NULL;
    int rc = run_cli(args, &out, &lines, &errtext);
    if (rc != 0) fail_msg("chat: exit %d: %s", rc, errtext);
    free(errtext);

    /* Two replies, one per line (12 tokens of stories260K rarely hold a
     * newline; if one does, the comparison below reports it). */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    char *reply1 = strndup(out, (size_t)(nl - out));
    char *reply2 = strdup(nl + 1);
    size_t l2 = strlen(reply2);
    assert_true(l2 > 0 && reply2[l2 - 1] == '\n');
    reply2[l2 - 1] = '\0';

    /* Each reply must equal `run` on the whole rendered conversation,
     * which evaluates everything from scratch: the chat's reuse of the
     * cached prefix changes nothing. The chat's first piece has no
     * leading space (it starts the reply), run's keeps it. */
    lc_chat_message msgs[4] = {{"system", "You are kind."},
                               {"user", "Hello there."},
                               {"assistant", reply1},
                               {"user", "Tell me a story."}};
    const char *replies[2] = {reply1, reply2};
    for (int turn = 0; turn < 2; turn++) {
        char *prompt = lc_chat_render(m, "chatml", msgs, turn == 0 ? 2 : 4,
                                      true, err, sizeof err);
        assert_non_null(prompt);
        char *want = run_greedy(stories_path(), prompt, 12);
        const char *w = want[0] == ' ' ? want + 1 : want;
        if (strcmp(replies[turn], w) != 0)
            fail_msg("turn %d: chat '%s', run '%s'", turn + 1, replies[turn],
                     w);
        free(want);
        free(prompt);
    }
    free(reply1);
    free(reply2);
    free(out);
    free(args);
    free(qm);
    lc_model_free(m);
}

/* Token ids of a rendered prompt, as the chat tokenizes it. */
static int32_t *chat_tokens(const lc_model *m, const char *text, int *n) {
    int cap = (int)strlen(text) + 8;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    *n = lc_tokenize(m, text, strlen(text), true, true, ids, cap);
    assert_true(*n > 0 && *n <= cap);
    return ids;
}

/* With sampling, a reply's tokens need not be how its text tokenizes
 * (e.g. "a"+"b" where "ab" is a token), so the next turn's prompt leaves
 * the cache part-way through the reply. The chat must reuse exactly the
 * common prefix: this checks the count it reports against one computed
 * here from the same pieces. */
static void test_chat_prefix_diverges(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    char err[256];
    lc_model *m = lc_model_load(stories_path(), NULL, err, sizeof err);
    assert_non_null(m);
    char *qm = shell_quote(stories_path());
    const int n_gen = 12;
    /* A hot, unfiltered distribution: tokens nearly at random, so replies
     * that do not tokenize back to themselves are common. */
    const char *sampling = "--temp 3 --top-k 0 --top-p 1 --min-p 0";
    int diverged = 0;
    for (int seed = 1; seed <= 6; seed++) {
        /* Turn 1's tokens: the chat's sampler starts like run's (same
         * seed, same prompt), so run --print-ids gives them. */
        lc_chat_message msgs[3] = {{"user", "Tell me a story."},
                                   {"assistant", NULL},
                                   {"user", "And then?"}};
        char *p1 = lc_chat_render(m, "chatml", msgs, 1, true, err, sizeof err);
        assert_non_null(p1);
        char *qp = shell_quote(p1);
        char *args = format("run -m %s -p %s -n %d %s --seed %d --print-ids",
                            qm, qp, n_gen, sampling, seed);
        char *out = NULL;
        assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
        int32_t gen[64];
        int n_ids = 0;
        for (char *q = out, *end;; q = end) {
            long v = strtol(q, &end, 10);
            if (end == q) break;
            gen[n_ids++] = (int32_t)v;
        }
        free(out);
        free(args);
        free(qp);
        if (n_ids < n_gen) { /* stopped at an end token: not this case */
            free(p1);
            continue;
        }
        /* The reply text as the chat stores it: the engine's detokeniser
         * from the start of a reply. */
        lc_detok d;
        lc_detok_init(&d, m, false);
        char reply[1024] = "";
        for (int i = 0; i <= n_ids; i++) {
            size_t len = strlen(reply);
            int w = i < n_ids ? lc_detok_push(&d, gen[i], reply + len,
                                              (int)(sizeof reply - len))
                              : lc_detok_flush(&d, reply + len,
                                               (int)(sizeof reply - len));
            assert_true(w >= 0);
        }
        msgs[1].content = reply;
        char *p2 = lc_chat_render(m, "chatml", msgs, 3, true, err, sizeof err);
        assert_non_null(p2);

        /* The cache after turn 1: prompt 1 and the reply's tokens but the
         * last (nothing was sampled after it, so it was not evaluated). */
        int n1 = 0, n2 = 0;
        int32_t *t1 = chat_tokens(m, p1, &n1);
        int32_t *t2 = chat_tokens(m, p2, &n2);
        int32_t *cache = malloc((size_t)(n1 + n_ids) * sizeof *cache);
        memcpy(cache, t1, (size_t)n1 * sizeof *cache);
        memcpy(cache + n1, gen, (size_t)(n_ids - 1) * sizeof *cache);
        int n_cache = n1 + n_ids - 1, want = 0;
        while (want < n_cache && want < n2 && cache[want] == t2[want]) want++;
        if (want == n2) want--;
        diverged += want < n_cache;

        const char *input = "Tell me a story.\nAnd then?\n";
        assert_true(write_file(tmp_path("chat-in2.txt"), input, strlen(input)));
        args = format("chat -m %s --chat-template chatml %s --seed %d -n %d "
                      "--timings < %s",
                      qm, sampling, seed, n_gen, tmp_path("chat-in2.txt"));
        char *errtext = NULL;
        assert_int_equal(run_cli(args, &out, NULL, &errtext), 0);
        /* The first reply is the one computed above. */
        assert_true(strncmp(out, reply, strlen(reply)) == 0);
        assert_int_equal(out[strlen(reply)], '\n');
        /* Turn 2's report: "[prompt: N tokens, R reused ..." */
        char *first = strstr(errtext, "[prompt:");
        assert_non_null(first);
        char *second = strstr(first + 1, "[prompt:");
        assert_non_null(second);
        int got_n = -1, got_reused = -1;
        assert_int_equal(sscanf(second, "[prompt: %d tokens, %d reused", &got_n,
                                &got_reused),
                         2);
        assert_int_equal(got_n, n2);
        if (got_reused != want)
            fail_msg("seed %d: reused %d tokens, the common prefix is %d "
                     "(cache %d)",
                     seed, got_reused, want, n_cache);
        free(errtext);
        free(out);
        free(args);
        free(cache);
        free(t1);
        free(t2);
        free(p1);
        free(p2);
    }
    /* The scenario must exercise a reply that tokenizes differently;
     * otherwise this test proves nothing, so say so. */
    if (diverged == 0) fail_msg("no seed made the prefix diverge");
    free(qm);
    lc_model_free(m);
}

/* -------------------------------------------------------------- bench */

static void test_bench(void **state) {
    (void)state;
    lc_test_skip_without(stories_path());
    char *qm = shell_quote(stories_path());
    char *args = format("bench -m %s -p 32 -n 8 -r 2 -t 1", qm);
    char *out = NULL;
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, " pp32 "));
    assert_non_null(strstr(out, " tg8 "));
    assert_non_null(strstr(out, "stories260K.gguf"));
    assert_non_null(strstr(out, " CPU "));
    assert_non_null(strstr(out, "±"));
    free(out);
    free(args);

    args = format("bench -m %s -p 16 -n 4 -r 3 -o json", qm);
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) fail_msg("bench json: %s: %s", jerr.text, out);
    assert_int_equal(json_array_size(j), 2);
    const char *tests[2] = {"pp16", "tg4"};
    for (size_t i = 0; i < 2; i++) {
        json_t *r = json_array_get(j, i);
        assert_string_equal(json_string_value(json_object_get(r, "test")),
                            tests[i]);
        assert_true(json_real_value(json_object_get(r, "avg_ts")) > 0);
        assert_int_equal(json_array_size(json_object_get(r, "samples_ts")), 3);
    }
    json_decref(j);
    free(out);
    free(args);
    free(qm);
}

/* The embd test of an embedding model: -r 1 on the oracle's tiny bert.
 * The markdown row's texts/s and t/s are positive and agree (t/s = texts/s
 * x tokens per text), the JSON says the same, and -n, which an encoder
 * does not have, is a usage error. */
static void test_bench_embed(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/models/bert-v512-F16.gguf");
    lc_test_skip_without(path);
    char *qm = shell_quote(path);
    char *args = format("bench -m %s -p 24 --texts 3 -r 1 -t 1", qm);
    char *out = NULL;
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    const char *row = strstr(out, "| bert-v512-F16.gguf ");
    if (!row) fail_msg("no result row: %s", out);
    /* | model | size | params | backend | threads | test | texts/s | t/s | */
    const char *cell[8];
    const char *c = row;
    for (int i = 0; i < 8; i++) {
        cell[i] = c + 1;
        c = strchr(c + 1, '|');
        assert_non_null(c);
    }
    char test[32] = "";
    double texts_s = 0, tok_s = 0;
    assert_int_equal(sscanf(cell[5], " %31s", test), 1);
    assert_string_equal(test, "embd24");
    assert_int_equal(sscanf(cell[6], " %lf", &texts_s), 1);
    assert_int_equal(sscanf(cell[7], " %lf", &tok_s), 1);
    assert_true(texts_s > 0 && tok_s > 0);
    /* Both are printed with two decimals. */
    assert_true(fabs(tok_s - 24 * texts_s) <= 24 * 0.005 + 0.005);
    assert_non_null(strstr(out, "3 texts of 24 tokens per run"));
    free(out);
    free(args);

    args = format("bench -m %s -p 8 --texts 2 -r 2 -o json", qm);
    assert_int_equal(run_cli(args, &out, NULL, NULL), 0);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j) fail_msg("bench json: %s: %s", jerr.text, out);
    assert_int_equal(json_array_size(j), 1);
    json_t *r = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(r, "test")), "embd8");
    assert_int_equal(json_integer_value(json_object_get(r, "n_prompt")), 8);
    assert_int_equal(json_integer_value(json_object_get(r, "n_texts")), 2);
    double avg = json_real_value(json_object_get(r, "avg_ts"));
    double avg_texts = json_real_value(json_object_get(r, "avg_texts_per_s"));
    assert_true(avg > 0 && avg_texts > 0);
    assert_true(fabs(avg - 8 * avg_texts) <= 1e-6 * avg);
    json_t *samples = json_object_get(r, "samples_ns");
    assert_int_equal(json_array_size(samples), 2);
    for (size_t i = 0; i < 2; i++)
        assert_true(json_number_value(json_array_get(samples, i)) > 0);
    json_decref(j);
    free(out);
    free(args);

    int err_lines = 0;
    char *err_text = NULL;
    args = format("bench -m %s -n 16 -r 1", qm);
    assert_int_equal(run_cli(args, &out, &err_lines, &err_text), 2);
    assert_int_equal(error_lines(err_text), 1);
    assert_non_null(strstr(err_text, "embedding model"));
    free(err_text);
    free(out);
    free(args);
    free(qm);
}

/* ---------------------------------------------------------------- main */

static int setup(void **state) {
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/lc-test-cli-XXXXXX");
    if (!mkdtemp(tmp_dir)) return -1;
    /* A sanitizer report in the child must not look like a clean exit 1:
     * abort (status 134) instead of ASan's default exit code 1. */
    const char *names[2] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};
    for (int i = 0; i < 2; i++) {
        const char *old = getenv(names[i]);
        char *v = format("%s%sabort_on_error=1:halt_on_error=1", old ? old : "",
                         old && old[0] ? ":" : "");
        setenv(names[i], v, 1);
        free(v);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char *cmd = format("rm -rf '%s'", tmp_dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_stories_greedy),
        cmocka_unit_test(test_prompt_too_long),
        cmocka_unit_test(test_seeded_sampling),
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_eval_logits),
        cmocka_unit_test(test_broken_models),
        cmocka_unit_test(test_chat_reuses_cache),
        cmocka_unit_test(test_chat_prefix_diverges),
        cmocka_unit_test(test_bench),
        cmocka_unit_test(test_bench_embed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Tokenizers against llama.cpp's reference vectors in ../shared/vocab:
 * every NAME.inp / NAME.out pair whose vocabulary file is present is
 * tokenized (no BOS/EOS, special tokens not parsed) and compared id by id.
 * Then round trips, special tokens, BOS/EOS/CLS/SEP and bad input.
 */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/tokenizer_impl.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

typedef struct vocab_file {
    gguf_file *gguf;
    lc_vocab *vocab;
} vocab_file;

static bool open_vocab(const char *name, vocab_file *vf) {
    char rel[256], err[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = lc_shared_path(rel);
    if (!lc_file_exists(path)) return false;
    vf->gguf = gguf_open(path, err, sizeof err);
    if (!vf->gguf) fail_msg("%s: %s", path, err);
    vf->vocab = lc_vocab_load(vf->gguf, err, sizeof err);
    if (!vf->vocab) fail_msg("%s: %s", path, err);
    return true;
}

static void close_vocab(vocab_file *vf) {
    lc_vocab_free(vf->vocab);
    gguf_close(vf->gguf);
}

static int tokenize(const lc_vocab *v, const char *s, size_t len,
                    bool add_special, bool parse_special, int32_t **ids) {
    int cap = (int)len + 8;
    *ids = malloc((size_t)cap * sizeof **ids);
    assert_non_null(*ids);
    int n = lc_vocab_tokenize(v, s, len, add_special, parse_special, *ids, cap);
    assert_true(n >= 0);
    if (n > cap) {
        *ids = realloc(*ids, (size_t)n * sizeof **ids);
        assert_non_null(*ids);
        assert_int_equal(
            lc_vocab_tokenize(v, s, len, add_special, parse_special, *ids, n),
            n);
    }
    return n;
}

/* Decodes ids to text (special tokens rendered), malloc'd. */
static char *detokenize(const lc_vocab *v, const int32_t *ids, int n,
                        size_t *out_len) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (int i = 0; i < n; i++) {
        int k = lc_vocab_piece(v, ids[i], true, s + len, (int)(cap - len));
        if (k < 0) {
            while (cap - len < (size_t)-k) cap *= 2;
            s = realloc(s, cap);
            assert_non_null(s);
            k = lc_vocab_piece(v, ids[i], true, s + len, (int)(cap - len));
        }
        assert_true(k >= 0);
        len += (size_t)k;
    }
    *out_len = len;
    return s;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    print_message("      %s:", label);
    for (int i = 0; i < n; i++) print_message(" %d", ids[i]);
    print_message("\n");
}

/* Compares one .inp/.out pair; returns the number of mismatching strings
 * and adds the number of strings to *n_strings. */
static int check_pair(const char *inp_path, const char *out_path,
                      const lc_vocab *v, int *n_strings) {
    size_t inp_len, out_len;
    char *inp = lc_read_file(inp_path, &inp_len);
    char *out = lc_read_file(out_path, &out_len);
    assert_non_null(inp);
    assert_non_null(out);

    int mismatches = 0, count = 0;
    char *p = inp, *line = out;
    while (p < inp + inp_len) {
        char *end = strstr(p, SEP);
        size_t len = end ? (size_t)(end - p) : (size_t)(inp + inp_len - p);
        /* the expected ids: one line of out */
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        int32_t want[4096];
        int n_want = 0;
        for (char *q = line; *q;) {
            char *next;
            long id = strtol(q, &next, 10);
            if (next == q) break;
            assert_true(n_want < 4096);
            want[n_want++] = (int32_t)id;
            q = next;
        }
        line = eol + 1;

        int32_t *got;
        int n_got = tokenize(v, p, len, false, false, &got);
        bool same = n_got == n_want &&
                    memcmp(got, want, (size_t)n_got * sizeof *got) == 0;
        if (!same) {
            if (mismatches < 3) {
                print_message("    mismatch on string %d: '%.*s'\n", count,
                              (int)len, p);
                print_ids("want", want, n_want);
                print_ids("got ", got, n_got);
            }
            mismatches++;
        }
        free(got);
        count++;
        if (!end) break;
        p = end + strlen(SEP);
    }
    free(inp);
    free(out);
    *n_strings += count;
    return mismatches;
}

/* ggml-vocab-NAME.gguf.inp -> NAME; ggml-vocab-NAME.extra.inp -> NAME */
static bool vocab_name_of(const char *file, char *name, size_t size) {
    const char *prefix = "ggml-vocab-";
    size_t n = strlen(file);
    if (strncmp(file, prefix, strlen(prefix)) != 0 || n < 5 ||
        strcmp(file + n - 4, ".inp") != 0)
        return false;
    const char *start = file + strlen(prefix);
    const char *suffixes[] = {".gguf.inp", ".extra.inp", ".pieces.inp"};
    for (int i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);
        if (n - strlen(prefix) > sl &&
            strcmp(file + n - sl, suffixes[i]) == 0) {
            snprintf(name, size, "%.*s", (int)(n - strlen(prefix) - sl), start);
            return true;
        }
    }
    return false;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_reference_vectors(void **state) {
    (void)state;
    const char *dir_path = lc_shared_path("vocab");
    lc_test_skip_without(dir_path);
    char dir_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir_path);
    DIR *dir = opendir(dir_copy);
    assert_non_null(dir);
    char *files[256];
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n_files < 256) {
        char name[128];
        if (vocab_name_of(e->d_name, name, sizeof name))
            files[n_files++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(files, (size_t)n_files, sizeof *files, cmp_str);

    int total_bad = 0, n_pairs = 0;
    for (int i = 0; i < n_files; i++) {
        char name[128], inp[8192], out[8192];
        vocab_name_of(files[i], name, sizeof name);
        if (strlen(dir_copy) + strlen(files[i]) + 2 > 4096) continue;
        snprintf(inp, sizeof inp, "%s/%s", dir_copy, files[i]);
        size_t stem = strlen(inp) - 4; /* without ".inp" */
        memcpy(out, inp, stem);
        memcpy(out + stem, ".out", 5);
        vocab_file vf;
        if (!open_vocab(name, &vf)) {
            print_message("  %-32s skipped: ggml-vocab-%s.gguf is absent\n",
                          files[i], name);
            free(files[i]);
            continue;
        }
        int n_strings = 0;
        clock_t t0 = clock();
        int bad = check_pair(inp, out, vf.vocab, &n_strings);
        double ms = 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC;
        print_message("  %-32s %-5s %4d strings, %d mismatches (%.0f ms)\n",
                      files[i], lc_vocab_type_name(vf.vocab), n_strings, bad,
                      ms);
        total_bad += bad;
        n_pairs++;
        close_vocab(&vf);
        free(files[i]);
    }
    print_message("  %d pairs checked, %d mismatching strings\n", n_pairs,
                  total_bad);
    assert_true(n_pairs > 0);
    assert_int_equal(total_bad, 0);
}

/* decode(tokenize(s)) == s for every fixture string of the SPM and BPE
 * vocabularies whose tokenizers keep all text (no normalisation). */
static void roundtrip_file(const char *vocab_name, const char *inp_name,
                           int *n_checked) {
    vocab_file vf;
    if (!open_vocab(vocab_name, &vf)) return;
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/%s", inp_name);
    size_t inp_len;
    char *inp = lc_read_file(lc_shared_path(rel), &inp_len);
    assert_non_null(inp);
    int bad = 0;
    for (char *p = inp; p < inp + inp_len;) {
        char *end = strstr(p, SEP);
        size_t len = end ? (size_t)(end - p) : (size_t)(inp + inp_len - p);
        /* SPM writes spaces as U+2581, so that character cannot come
         * back as itself. */
        if (vf.vocab->kind == LC_VOCAB_SPM &&
            memmem(p, len, "\xe2\x96\x81", 3)) {
            if (!end) break;
            p = end + strlen(SEP);
            continue;
        }
        int32_t *ids;
        int n = tokenize(vf.vocab, p, len, false, false, &ids);
        size_t dl;
        char *dec = detokenize(vf.vocab, ids, n, &dl);
        /* SPM adds one space in front of the text. */
        const char *d = dec;
        if (vf.vocab->add_space_prefix && dl > 0 && d[0] == ' ') {
            d++;
            dl--;
        }
        if (dl != len || memcmp(d, p, len) != 0) {
            if (bad < 3)
                print_message("    %s: '%.*s' came back as '%.*s'\n",
                              vocab_name, (int)len, p, (int)dl, d);
            bad++;
        }
        (*n_checked)++;
        free(dec);
        free(ids);
        if (!end) break;
        p = end + strlen(SEP);
    }
    free(inp);
    close_vocab(&vf);
    assert_int_equal(bad, 0);
}

static void test_roundtrip(void **state) {
    (void)state;
    lc_test_skip_without(lc_shared_path("vocab"));
    int n = 0;
    roundtrip_file("llama-spm", "ggml-vocab-llama-spm.gguf.inp", &n);
    roundtrip_file("gemma3", "ggml-vocab-gemma3.extra.inp", &n);
    roundtrip_file("llama3", "ggml-vocab-llama3.extra.inp", &n);
    roundtrip_file("qwen3", "ggml-vocab-qwen3.extra.inp", &n);
    roundtrip_file("gpt-2", "ggml-vocab-gpt-2.gguf.inp", &n);
    roundtrip_file("falcon", "ggml-vocab-falcon.gguf.inp", &n);
    roundtrip_file("starcoder", "ggml-vocab-starcoder.gguf.inp", &n);
    roundtrip_file("deepseek-coder", "ggml-vocab-deepseek-coder.gguf.inp", &n);
    print_message("  %d strings round-tripped\n", n);
    assert_true(n > 0);
}

static int32_t id_of(const lc_vocab *v, const char *text) {
    return lc_vocab_find(v, text, strlen(text));
}

static void test_special_tokens(void **state) {
    (void)state;
    vocab_file vf;
    if (!open_vocab("llama3", &vf)) skip();
    const lc_vocab *v = vf.vocab;
    int32_t bot = id_of(v, "<|begin_of_text|>");
    int32_t eot = id_of(v, "<|eot_id|>");
    assert_true(bot >= 0 && eot >= 0);
    const char *s = "<|begin_of_text|>Hello<|eot_id|>";
    int32_t *ids;
    int n = tokenize(v, s, strlen(s), false, true, &ids);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], bot);
    assert_int_equal(ids[2], eot);
    assert_string_equal(lc_vocab_text(v, ids[1]), "Hello");
    free(ids);
    /* Without parse_special the markers are plain text. */
    n = tokenize(v, s, strlen(s), false, false, &ids);
    assert_true(n > 3);
    for (int i = 0; i < n; i++) assert_true(ids[i] != bot && ids[i] != eot);
    free(ids);
    /* add_special: llama3 asks for BOS and no EOS. */
    n = tokenize(v, "Hi", 2, true, false, &ids);
    assert_int_equal(ids[0], lc_vocab_bos(v));
    assert_int_equal(ids[0], bot);
    assert_true(lc_vocab_add_bos(v));
    free(ids);
    /* End of generation: EOS and the turn end. */
    assert_true(lc_vocab_is_eog(v, eot));
    assert_true(lc_vocab_is_eog(v, lc_vocab_eos(v)));
    assert_false(lc_vocab_is_eog(v, bot));
    assert_false(lc_vocab_is_eog(v, -5));
    /* Pieces: control tokens only when asked for. */
    char buf[64];
    assert_int_equal(lc_vocab_piece(v, eot, false, buf, sizeof buf), 0);
    assert_int_equal(lc_vocab_piece(v, eot, true, buf, sizeof buf), 10);
    assert_memory_equal(buf, "<|eot_id|>", 10);
    assert_int_equal(lc_vocab_piece(v, eot, true, buf, 4), -10);
    close_vocab(&vf);
}

static void test_add_special_per_type(void **state) {
    (void)state;
    int32_t *ids;
    int n;
    vocab_file vf;
    if (open_vocab("llama-spm", &vf)) {
        n = tokenize(vf.vocab, "Hello", 5, true, false, &ids);
        assert_true(n >= 2);
        assert_int_equal(ids[0], lc_vocab_bos(vf.vocab));
        assert_string_equal(lc_vocab_text(vf.vocab, ids[0]), "<s>");
        free(ids);
        /* Byte fallback: a newline is <0x0A>, rendered as the byte. */
        n = tokenize(vf.vocab, "\n", 1, false, false, &ids);
        char buf[8];
        assert_int_equal(lc_vocab_piece(vf.vocab, ids[n - 1], false, buf, 8),
                         1);
        assert_int_equal(buf[0], '\n');
        free(ids);
        close_vocab(&vf);
    }
    if (open_vocab("qwen3", &vf)) {
        n = tokenize(vf.vocab, "Hello", 5, true, false, &ids);
        assert_int_equal(n, 1); /* qwen: no BOS */
        assert_false(lc_vocab_add_bos(vf.vocab));
        free(ids);
        assert_true(lc_vocab_is_eog(vf.vocab, id_of(vf.vocab, "<|im_end|>")));
        assert_true(
            lc_vocab_is_eog(vf.vocab, id_of(vf.vocab, "<|endoftext|>")));
        close_vocab(&vf);
    }
    if (open_vocab("bert-bge", &vf)) {
        n = tokenize(vf.vocab, "hello world", 11, true, false, &ids);
        assert_true(n >= 3);
        assert_string_equal(lc_vocab_text(vf.vocab, ids[0]), "[CLS]");
        assert_string_equal(lc_vocab_text(vf.vocab, ids[n - 1]), "[SEP]");
        free(ids);
        close_vocab(&vf);
    }
    if (open_vocab("gemma3", &vf)) {
        assert_true(
            lc_vocab_is_eog(vf.vocab, id_of(vf.vocab, "<end_of_turn>")));
        n = tokenize(vf.vocab, "x", 1, true, false, &ids);
        assert_string_equal(lc_vocab_text(vf.vocab, ids[0]), "<bos>");
        free(ids);
        close_vocab(&vf);
    }
}

/* Phi-3: whitespace after a special token is dropped (RSTRIP). */
static void test_phi3_rstrip(void **state) {
    (void)state;
    vocab_file vf;
    if (!open_vocab("phi-3", &vf)) skip();
    int32_t *a, *b;
    const char *sa = "<|user|>\n  Hi", *sb = "<|user|>Hi";
    int na = tokenize(vf.vocab, sa, strlen(sa), false, true, &a);
    int nb = tokenize(vf.vocab, sb, strlen(sb), false, true, &b);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof *a);
    assert_string_equal(lc_vocab_text(vf.vocab, a[0]), "<|user|>");
    free(a);
    free(b);
    close_vocab(&vf);
}

static uint32_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* Random bytes (invalid UTF-8 included) through every tokenizer type:
 * no crash, no sanitizer report, ids in range, short buffers honoured. */
static void test_bad_input(void **state) {
    (void)state;
    assert_int_equal(lc_vocab_tokenize(NULL, "a", 1, false, false, NULL, 0),
                     -1);
    const char *names[] = {"llama-spm", "llama3", "bert-bge", "deepseek-llm",
                           "falcon"};
    uint64_t seed = 12345;
    for (int k = 0; k < 5; k++) {
        vocab_file vf;
        if (!open_vocab(names[k], &vf)) continue;
        const lc_vocab *v = vf.vocab;
        assert_int_equal(lc_vocab_tokenize(v, NULL, 3, false, false, NULL, 0),
                         -1);
        assert_int_equal(lc_vocab_tokenize(v, "", 0, false, false, NULL, 0), 0);
        char buf[8];
        assert_int_equal(lc_vocab_piece(v, -1, true, buf, 8), 0);
        assert_int_equal(lc_vocab_piece(v, lc_vocab_n_tokens(v), true, buf, 8),
                         0);
        for (int iter = 0; iter < 200; iter++) {
            char text[64];
            int len = (int)(rng_next(&seed) % sizeof text);
            for (int i = 0; i < len; i++) text[i] = (char)rng_next(&seed);
            int32_t *ids;
            int n = tokenize(v, text, (size_t)len, true, true, &ids);
            for (int i = 0; i < n; i++)
                assert_true(ids[i] >= 0 && ids[i] < lc_vocab_n_tokens(v));
            /* A short buffer gets a prefix and the full count. */
            int32_t two[2];
            if (n > 2) {
                assert_int_equal(
                    lc_vocab_tokenize(v, text, (size_t)len, true, true, two, 2),
                    n);
                assert_memory_equal(two, ids, sizeof two);
            }
            free(ids);
        }
        close_vocab(&vf);
    }
}

/* A GGUF holding only tokenizer metadata, built in memory. */
typedef struct gbuf {
    unsigned char data[4096];
    size_t n;
} gbuf;

static void put(gbuf *b, const void *p, size_t n) {
    assert_true(b->n + n <= sizeof b->data);
    memcpy(b->data + b->n, p, n);
    b->n += n;
}

static void put_u32(gbuf *b, uint32_t x) {
    put(b, &x, 4);
}

static void put_u64(gbuf *b, uint64_t x) {
    put(b, &x, 8);
}

static void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void put_kv_str(gbuf *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, 8);
    put_str(b, v);
}

static void put_kv_strs(gbuf *b, const char *k, const char **v, int n) {
    put_str(b, k);
    put_u32(b, 9);
    put_u32(b, 8);
    put_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) put_str(b, v[i]);
}

static lc_vocab *load_built(const char *model, const char *pre,
                            const char **tokens, int n_tokens, char *err,
                            size_t err_len) {
    gbuf b = {.n = 0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0); /* tensors */
    int n_kv = 2 + (pre != NULL) + (strcmp(model, "gpt2") == 0);
    put_u64(&b, (uint64_t)n_kv);
    put_kv_str(&b, "tokenizer.ggml.model", model);
    if (pre) put_kv_str(&b, "tokenizer.ggml.pre", pre);
    put_kv_strs(&b, "tokenizer.ggml.tokens", tokens, n_tokens);
    if (strcmp(model, "gpt2") == 0) {
        const char *merges[] = {"a b"};
        put_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    }
    gguf_file *f = gguf_open_buffer(b.data, b.n, err, err_len);
    assert_non_null(f);
    lc_vocab *v = lc_vocab_load(f, err, err_len);
    gguf_close(f);
    return v;
}

static void test_bad_metadata(void **state) {
    (void)state;
    char err[256];
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
    /* A well-formed vocabulary loads, and outlives its file. */
    lc_vocab *v = load_built("gpt2", "gpt-2", toks, 6, err, sizeof err);
    assert_non_null(v);
    int32_t ids[4];
    assert_int_equal(lc_vocab_tokenize(v, "ab", 2, false, false, ids, 4), 1);
    assert_int_equal(ids[0], 5);
    lc_vocab_free(v);
    /* llama.cpp refuses pre-tokenizers it does not know. */
    assert_null(load_built("gpt2", "no-such-pre", toks, 6, err, sizeof err));
    assert_non_null(strstr(err, "no-such-pre"));
    assert_null(load_built("sentencepiece-x", NULL, toks, 6, err, sizeof err));
    assert_non_null(strstr(err, "sentencepiece-x"));
    const char *dup[] = {"<unk>", "<s>", "</s>", "a", "a"};
    assert_null(load_built("llama", NULL, dup, 5, err, sizeof err));
    assert_non_null(strstr(err, "duplicate"));
    /* SPM adds BOS by default: id 1 must exist. */
    const char *one[] = {"<unk>"};
    assert_null(load_built("llama", NULL, one, 1, err, sizeof err));
    assert_non_null(strstr(err, "BOS"));
    assert_null(lc_vocab_load(NULL, err, sizeof err));
}

/* Rendered chat prompts (special tokens written as text) against the ids
 * llama.cpp gives with add_special=false, parse_special=true. */
static void test_chat_prompts(void **state) {
    (void)state;
    const char *path = lc_shared_path("oracle/chat-templates.json");
    lc_test_skip_without(path);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *cases = json_object_get(root, "cases");
    assert_true(json_is_array(cases));
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(cases, i, c) {
        json_t *agree = json_object_get(json_object_get(c, "checks"),
                                        "token_ids_llama_cpp_agree");
        if (!json_is_true(agree)) continue;
        const char *name = json_string_value(json_object_get(c, "template"));
        const char *text = json_string_value(json_object_get(c, "rendered"));
        json_t *want = json_object_get(c, "token_ids");
        assert_non_null(name);
        assert_non_null(text);
        vocab_file vf;
        if (!open_vocab(name, &vf)) continue;
        int32_t *ids;
        int n = tokenize(vf.vocab, text, strlen(text), false, true, &ids);
        assert_int_equal((size_t)n, json_array_size(want));
        for (int k = 0; k < n; k++)
            assert_int_equal(ids[k],
                             json_integer_value(json_array_get(want, k)));
        free(ids);
        close_vocab(&vf);
        checked++;
    }
    print_message("  %d chat prompts match\n", checked);
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_chat_prompts),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_add_special_per_type),
        cmocka_unit_test(test_phi3_rstrip),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

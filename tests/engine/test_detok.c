/*
 * Streaming detokenisation: pieces come out as whole UTF-8 characters,
 * the SentencePiece leading space is dropped only at the start, and short
 * buffers and unfinished characters are handled.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"

/* A model with only a vocabulary is enough for the tokenizer API. */
typedef struct vocab_model {
    gguf_file *gguf;
    lc_model model;
} vocab_model;

static bool open_model(const char *name, vocab_model *vm) {
    char rel[256], err[256];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    const char *path = lc_shared_path(rel);
    if (!lc_file_exists(path)) return false;
    memset(vm, 0, sizeof *vm);
    vm->gguf = gguf_open(path, err, sizeof err);
    if (!vm->gguf) fail_msg("%s: %s", path, err);
    vm->model.vocab = lc_vocab_load(vm->gguf, err, sizeof err);
    if (!vm->model.vocab) fail_msg("%s: %s", path, err);
    return true;
}

static void close_model(vocab_model *vm) {
    lc_vocab_free(vm->model.vocab);
    gguf_close(vm->gguf);
}

/* Strict UTF-8 validity of one chunk. */
static bool valid_utf8(const char *s, int n) {
    const unsigned char *u = (const unsigned char *)s;
    for (int i = 0; i < n;) {
        int len = u[i] < 0x80 ? 1 : u[i] >= 0xF0 ? 4 : u[i] >= 0xE0 ? 3 : 2;
        if (u[i] >= 0x80 && u[i] < 0xC2) return false;
        if (u[i] > 0xF4 || i + len > n) return false;
        for (int k = 1; k < len; k++)
            if ((u[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

/* Tokenizes text, streams the ids through a detokenizer and checks that
 * every chunk is valid UTF-8; returns the concatenation (malloc'd). */
static char *stream(const lc_model *m, const char *text, bool at_start,
                    int *n_tokens, int *n_split) {
    int32_t ids[512];
    int n = lc_tokenize(m, text, strlen(text), false, false, ids, 512);
    assert_true(n >= 0 && n <= 512);
    lc_detok d;
    lc_detok_init(&d, m, false);
    d.at_start = at_start;
    char *all = calloc(4096, 1);
    assert_non_null(all);
    size_t len = 0;
    *n_split = 0;
    for (int i = 0; i < n; i++) {
        char out[64];
        int k = lc_detok_push(&d, ids[i], out, sizeof out);
        assert_true(k >= 0);
        assert_int_equal((int)strlen(out), k);
        assert_true(valid_utf8(out, k));
        /* A token whose piece is not whole characters held bytes back. */
        if (d.n_pending > 0) (*n_split)++;
        assert_true(len + (size_t)k < 4096);
        memcpy(all + len, out, (size_t)k);
        len += (size_t)k;
    }
    char out[16];
    int k = lc_detok_flush(&d, out, sizeof out);
    assert_int_equal(k, 0); /* nothing left over from valid text */
    *n_tokens = n;
    return all;
}

static const char TEXT[] =
    "Hello world! \xf0\x9f\xa6\x99 llamas \xe2\x80\x94 caf\xc3\xa9, "
    "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80\xf0\x9f\x8e\x89 done";

static void check_vocab(const char *name, bool expect_split) {
    vocab_model vm;
    if (!open_model(name, &vm)) {
        print_message("skip: %s is absent\n", name);
        return;
    }
    int n, split;
    char *all = stream(&vm.model, TEXT, true, &n, &split);
    assert_string_equal(all, TEXT);
    print_message("  %s: %d tokens, %d ending inside a character\n", name, n,
                  split);
    if (expect_split) assert_true(split > 0);
    free(all);
    close_model(&vm);
}

static void test_stream_spm(void **state) {
    (void)state;
    /* llama's vocabulary has no emoji: byte-fallback tokens, one byte
     * per token, must be held back until the character is complete. */
    check_vocab("llama-spm", true);
    check_vocab("gemma3", false);
}

static void test_stream_bpe(void **state) {
    (void)state;
    check_vocab("gpt-2", true);
    check_vocab("llama3", false);
    check_vocab("qwen3", false);
}

static void test_leading_space(void **state) {
    (void)state;
    vocab_model vm;
    if (!open_model("llama-spm", &vm)) skip();
    int n, split;
    char *a = stream(&vm.model, "Hello", true, &n, &split);
    assert_string_equal(a, "Hello");
    free(a);
    /* After a prompt the space between words is real. */
    a = stream(&vm.model, "Hello", false, &n, &split);
    assert_string_equal(a, " Hello");
    free(a);
    /* BOS renders as nothing and does not end the start. */
    lc_detok d;
    lc_detok_init(&d, &vm.model, false);
    char out[32];
    assert_int_equal(lc_detok_push(&d, lc_token_bos(&vm.model), out, 32), 0);
    assert_true(d.at_start);
    int32_t ids[8];
    assert_int_equal(lc_tokenize(&vm.model, "Hi", 2, false, false, ids, 8), 1);
    assert_int_equal(lc_detok_push(&d, ids[0], out, 32), 2);
    assert_string_equal(out, "Hi");
    /* With special on, BOS shows its text. */
    lc_detok_init(&d, &vm.model, true);
    assert_int_equal(lc_detok_push(&d, lc_token_bos(&vm.model), out, 32), 3);
    assert_string_equal(out, "<s>");
    close_model(&vm);
}

static void test_partial_and_small_buffers(void **state) {
    (void)state;
    vocab_model vm;
    if (!open_model("llama-spm", &vm)) skip();
    const lc_vocab *v = vm.model.vocab;
    int32_t f0 = -1, x9f = -1, xff = -1;
    for (int i = 0; i < lc_vocab_n_tokens(v); i++) {
        if (!strcmp(lc_vocab_text(v, i), "<0xF0>")) f0 = i;
        if (!strcmp(lc_vocab_text(v, i), "<0x9F>")) x9f = i;
        if (!strcmp(lc_vocab_text(v, i), "<0xFF>")) xff = i;
    }
    assert_true(f0 >= 0 && x9f >= 0 && xff >= 0);

    lc_detok d;
    lc_detok_init(&d, &vm.model, false);
    char out[32];
    /* Two bytes of a four-byte character: nothing yet. */
    assert_int_equal(lc_detok_push(&d, f0, out, 32), 0);
    assert_int_equal(lc_detok_push(&d, x9f, out, 32), 0);
    assert_int_equal(d.n_pending, 2);
    /* End of stream: the unfinished character becomes U+FFFD. */
    assert_int_equal(lc_detok_flush(&d, out, 2), -4);
    assert_int_equal(lc_detok_flush(&d, out, 32), 3);
    assert_string_equal(out, "\xef\xbf\xbd");
    assert_int_equal(d.n_pending, 0);
    /* A byte that starts no character is replaced at once. */
    assert_int_equal(lc_detok_push(&d, xff, out, 32), 3);
    assert_string_equal(out, "\xef\xbf\xbd");
    /* A lead byte followed by a non-continuation: U+FFFD, then the text. */
    assert_int_equal(lc_detok_push(&d, f0, out, 32), 0);
    int32_t ids[8];
    assert_int_equal(lc_tokenize(&vm.model, "a", 1, false, false, ids, 8), 1);
    int k = lc_detok_push(&d, ids[0], out, 32);
    assert_int_equal(k, 5);
    assert_memory_equal(out, "\xef\xbf\xbd a", 5);
    /* Too small a buffer: the needed size, and nothing consumed. */
    d.at_start = false;
    assert_int_equal(lc_detok_push(&d, ids[0], out, 2), -3);
    assert_int_equal(lc_detok_push(&d, ids[0], out, 3), 2);
    assert_string_equal(out, " a");
    /* Bad token ids and a missing model give nothing, not a crash. */
    assert_int_equal(lc_detok_push(&d, -1, out, 32), 0);
    assert_int_equal(lc_detok_push(&d, 1 << 30, out, 32), 0);
    lc_detok_init(&d, NULL, false);
    assert_int_equal(lc_detok_push(&d, 5, out, 32), 0);
    close_model(&vm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_spm),
        cmocka_unit_test(test_stream_bpe),
        cmocka_unit_test(test_leading_space),
        cmocka_unit_test(test_partial_and_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

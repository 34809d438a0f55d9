/*
 * Helpers shared by the test programs: where the shared fixtures are, reading
 * files, and running the llamachat binary.
 *
 * Every test program is a cmocka group. A test whose fixture is absent calls
 * lc_test_skip_without() and is reported as skipped with the reason.
 */
#ifndef LC_TESTS_TESTUTIL_H
#define LC_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cmocka.h>
#include <jansson.h>

#include "engine/quant.h"

/* Path of a file under ../shared (LC_SHARED_DIR), in a static buffer that
 * the next call overwrites. */
const char *lc_shared_path(const char *rel);

/* Skips the current test with a message unless path exists. */
#define lc_test_skip_without(path)                                             \
    do {                                                                       \
        if (!lc_file_exists(path)) {                                           \
            print_message("skip: %s is absent\n", (path));                     \
            skip();                                                            \
        }                                                                      \
    } while (0)

bool lc_file_exists(const char *path);
/* Whole file in a malloc'd buffer (NUL-terminated); NULL when unreadable. */
char *lc_read_file(const char *path, size_t *size);
/* ../shared/oracle/manifest.json, parsed once per call; NULL when absent. */
json_t *lc_load_manifest(void);
/* lc_load_manifest, or the calling test is skipped with a message when the
 * manifest is absent. */
json_t *lc_require_manifest(void);

/* Runs the llamachat binary (LLAMACHAT_BIN) with a shell argument string;
 * captures stdout (malloc'd, NUL-terminated) and returns the exit status.
 * stderr goes to the file stderr_path when non-NULL, else is discarded. */
int lc_run_cli(const char *args, char **out, const char *stderr_path);

/* ------------------------------------------------- oracle comparisons
 * Shared by the reference tests of the CPU (engine/test_oracle.c) and the
 * GPU (engine/test_gpu.c), so both hold the engine to the same bounds. */

#include "llamachat/engine.h"

/* Largest logit difference allowed for a file of this tensor type
 * (../shared/oracle/README.md, "Suggested test tolerances"). */
double lc_oracle_tolerance(const char *type, const char *arch);
/* Quantized types are also held to a cosine of at least 0.9995. */
bool lc_oracle_is_quantized(const char *type);
#define LC_ORACLE_MIN_COS 0.9995

/* Path of a file named in the manifest (relative to oracle/). */
void lc_oracle_path(char *out, size_t len, const json_t *rel);

/* Reads a [rows][cols] float32 file; NULL when absent or of another size. */
float *lc_read_f32(const char *path, size_t rows, size_t cols);

/* Index of the largest value; ties: the lowest index. */
int lc_argmax(const float *x, int n);

/* A JSON array of integers as a malloc'd int32 array of *n ids. */
int32_t *lc_json_ids(const json_t *arr, int *n);

/* Evaluates ids in one batch (sequence 0, positions pos0..) with logits for
 * every token. 0, or the lc_decode error (printed). */
int lc_decode_all(lc_context *ctx, const int32_t *ids, int n, int pos0);

typedef struct lc_cmp_result {
    double max_abs; /* NaN when any logit is NaN */
    double min_cos;
} lc_cmp_result;

/* Compares rows 0..n-1 of the logits of the last batch with ref
 * [n][n_vocab]. */
lc_cmp_result lc_compare_rows(lc_context *ctx, const float *ref, int n,
                              int n_vocab);

/* Greedy generation: prompt in one batch, then steps one token at a time.
 * Compares each step's argmax with gen_ids while the reference margin
 * (margins, or none) is at least min_margin. Returns the number of steps
 * compared, or -1 on a mismatch or a failed decode. */
int lc_greedy_check(lc_context *ctx, const int32_t *prompt, int n_prompt,
                    const json_t *gen_ids, const json_t *margins,
                    double min_margin, int n_vocab, const char *name);

/* splitmix64: a deterministic stream of test data; *state is the seed and
 * advances with every call. */
uint64_t lc_test_rng(uint64_t *state);
/* A float uniform in [lo, hi) (24 bits of the stream). */
float lc_test_uniform(uint64_t *state, float lo, float hi);

/* Offsets of the fp16 scale fields in one block of a quantized type (tests
 * fill blocks with random bytes, where a scale could be inf or NaN, and
 * then give these fields sane values). Returns how many (0..2). */
int lc_test_scale_offsets(enum ggml_type t, size_t off[2]);

#endif

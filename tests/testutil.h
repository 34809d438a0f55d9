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

/* Path of a file under ../shared (LC_SHARED_DIR), in a static buffer that
 * the next call overwrites. */
const char *lc_shared_path(const char *rel);

/* Skips the current test with a message unless path exists. */
#define lc_test_skip_without(path)                                          \
    do {                                                                    \
        if (!lc_file_exists(path)) {                                        \
            print_message("skip: %s is absent\n", (path));                  \
            skip();                                                         \
        }                                                                   \
    } while (0)

bool lc_file_exists(const char *path);
/* Whole file in a malloc'd buffer (NUL-terminated); NULL when unreadable. */
char *lc_read_file(const char *path, size_t *size);
/* ../shared/oracle/manifest.json, parsed once per call; NULL when absent. */
json_t *lc_load_manifest(void);

/* Runs the llamachat binary (LLAMACHAT_BIN) with a shell argument string;
 * captures stdout (malloc'd, NUL-terminated) and returns the exit status.
 * stderr goes to the file stderr_path when non-NULL, else is discarded. */
int lc_run_cli(const char *args, char **out, const char *stderr_path);

#endif

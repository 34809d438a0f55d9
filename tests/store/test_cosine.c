/*
 * The cosine of the real[] vector fallback (migration 0004, migrate.c's
 * choose_cosine, src/store/pgext/llamachat_vector.c): the C function of the
 * llamachat_vector extension agrees with the SQL definition and with a
 * cosine computed here, on random vectors and on every edge case of their
 * contract; lc_cosine wraps the implementation start-up chose and is
 * inlined; a start-up with sql_cosine switches back and forth.
 *
 * Without the extension installed on this PostgreSQL (`make pgext-install`,
 * which `make test` runs where it may), the C checks are skipped with a
 * message and the SQL definition is still checked.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static lc_test_db T;
static bool have_ext; /* llamachat_vector installed on this server */

/* The first value of a one-row query; NULL for SQL NULL. Caller frees. */
static char *scalar(const char *sql, int n, const char *const *params) {
    lc_store_error err = {0};
    PGconn *c = lc_db_acquire(T.db, &err);
    assert_non_null(c);
    PGresult *r = lc_db_query(c, sql, n, params, &err);
    if (!r) fail_msg("%s: %s", sql, err.message);
    assert_int_equal(PQntuples(r), 1);
    char *v = PQgetisnull(r, 0, 0) ? NULL : strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    lc_db_release(T.db, c);
    return v;
}

static void expect_setting(const char *want) {
    char got[16];
    lc_store_error err = {0};
    assert_int_equal(lc_store_vector_cosine(T.db, got, &err), LC_STORE_OK);
    assert_string_equal(got, want);
}

static int setup(void **state) {
    (void)state;
    lc_migrate_options mo = {.force_array_vectors = true};
    if (lc_test_db_start(&T, 2) || lc_test_db_migrate(&T, &mo)) return -1;
    have_ext = lc_test_db_has_extension(&T, "llamachat_vector");
    if (!have_ext)
        fprintf(stderr, "llamachat_vector is not installed on this "
                        "PostgreSQL (make pgext-install): checking the SQL "
                        "cosine only\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lc_test_db_stop(&T);
    return 0;
}

/* '{v0,v1,...}' with every float bit kept (%.9g). Caller frees. */
static char *literal(const float *v, int n) {
    char *s = malloc((size_t)n * 18 + 3);
    assert_non_null(s);
    size_t len = 0;
    s[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%s%.9g", i ? "," : "", (double)v[i]);
    s[len++] = '}';
    s[len] = '\0';
    return s;
}

/* fn(a, b) as text, NULL for SQL NULL. */
static char *call(const char *fn, const char *a, const char *b) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT %s($1::real[], $2::real[])", fn);
    const char *p[] = {a, b};
    return scalar(sql, 2, p);
}

/* Both implementations give NULL, or both give want (within tol). */
static void expect_both(const char *a, const char *b, bool null, double want,
                        double tol) {
    const char *fns[] = {"lc_cosine_sql", "lc_vector_cosine", "lc_cosine"};
    for (int f = 0; f < 3; f++) {
        if (f == 1 && !have_ext) continue;
        char *got = call(fns[f], a, b);
        if (null) {
            if (got) fail_msg("%s(%s, %s) = %s, want NULL", fns[f], a, b, got);
        } else {
            if (!got) fail_msg("%s(%.40s, %.40s) is NULL", fns[f], a, b);
            double g = strtod(got, NULL);
            if (fabs(g - want) > tol)
                fail_msg("%s = %.17g, want %.17g", fns[f], g, want);
        }
        free(got);
    }
}

static void test_start_up_choice(void **state) {
    (void)state;
    expect_setting(have_ext ? "c" : "sql");
    /* the wrapper is inlined: the plan's Output line names the function
     * it wraps */
    lc_store_error err = {0};
    PGconn *c = lc_db_acquire(T.db, &err);
    assert_non_null(c);
    PGresult *r = lc_db_query(c,
                              "EXPLAIN (VERBOSE, COSTS OFF) SELECT"
                              " lc_cosine(x, x) FROM (SELECT '{1,2}'::real[]"
                              " || i::real AS x FROM generate_series(1, 2) i)"
                              " t",
                              0, NULL, &err);
    assert_non_null(r);
    bool saw = false;
    const char *want = have_ext ? "lc_vector_cosine(" : "lc_cosine_sql(";
    for (int i = 0; i < PQntuples(r); i++)
        if (strstr(PQgetvalue(r, i, 0), want)) saw = true;
    PQclear(r);
    lc_db_release(T.db, c);
    if (!saw) fail_msg("lc_cosine is not inlined to %s", want);
}

static void test_random_vectors(void **state) {
    (void)state;
    const int dims[] = {1, 3, 384, 768, 1024};
    unsigned seed = 12345;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int n = dims[d];
        float *x = malloc((size_t)n * sizeof *x);
        float *y = malloc((size_t)n * sizeof *y);
        for (int rep = 0; rep < 4; rep++) {
            for (int i = 0; i < n; i++) {
                x[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
                /* the third pair is nearly parallel: cosine near 1 */
                y[i] = rep == 2 ? x[i] * 3 + 1e-3f * ((float)(i % 7) - 3)
                                : (float)rand_r(&seed) / RAND_MAX - 0.5f;
            }
            double xy = 0, xx = 0, yy = 0;
            for (int i = 0; i < n; i++) {
                xy += (double)x[i] * y[i];
                xx += (double)x[i] * x[i];
                yy += (double)y[i] * y[i];
            }
            char *a = literal(x, n), *b = literal(y, n);
            expect_both(a, b, false, xy / sqrt(xx * yy), 1e-12);
            expect_both(a, a, false, 1.0, 1e-12);
            free(a), free(b);
        }
        free(x), free(y);
    }
}

static void test_edge_cases(void **state) {
    (void)state;
    /* lengths differ: not comparable */
    expect_both("{1,2,3}", "{1,2}", true, 0, 0);
    /* a zero vector, and two empty ones */
    expect_both("{0,0,0}", "{1,2,3}", false, 0, 0);
    expect_both("{}", "{}", false, 0, 0);
    expect_both("{1,0}", "{-1,0}", false, -1, 0);
    /* a NULL element, and a two-dimensional array */
    expect_both("{1,NULL,3}", "{1,2,3}", true, 0, 0);
    expect_both("{{1,2},{3,4}}", "{1,2,3,4}", true, 0, 0);
    /* NULL argument: STRICT */
    const char *p[] = {"{1,2}", NULL};
    char *v = scalar("SELECT lc_cosine($1::real[], $2::real[])", 2, p);
    assert_null(v);
}

static void test_sql_cosine_option_switches(void **state) {
    (void)state;
    lc_store_error err = {0};
    lc_migrate_options sql = {.sql_cosine = true};
    assert_int_equal(lc_migrate(T.db, &sql, NULL, &err), LC_STORE_OK);
    expect_setting("sql");
    expect_both("{3,4}", "{4,3}", false, 24.0 / 25, 1e-15);
    assert_int_equal(lc_migrate(T.db, NULL, NULL, &err), LC_STORE_OK);
    expect_setting(have_ext ? "c" : "sql");
    expect_both("{3,4}", "{4,3}", false, 24.0 / 25, 1e-15);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_up_choice),
        cmocka_unit_test(test_random_vectors),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_sql_cosine_option_switches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

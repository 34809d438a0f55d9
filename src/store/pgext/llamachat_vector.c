/*
 * llamachat_vector: a PostgreSQL extension with the one function the real[]
 * fallback of vector search needs in C, the cosine similarity of two real[]
 * vectors. It is loaded into the PostgreSQL server, not into llamachat: it
 * includes the server's headers and is built without sanitizers
 * (CMakeLists.txt, "pgext"). docs/decisions/0005-vector-search-fallback.md
 * says why it exists; the SQL definition it replaces is lc_cosine_sql
 * (migration 0004), and the two must agree (tests/store/test_search.c).
 *
 * Semantics, the same as lc_cosine_sql's:
 *   - NULL when either argument is NULL (the function is STRICT), when the
 *     lengths differ (vectors of two models are not comparable), or when
 *     either array is not one-dimensional or holds a NULL element;
 *   - 0 when either vector has no elements or a norm of zero;
 *   - otherwise a.b / (|a| |b|), summed in double precision.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

PG_MODULE_MAGIC;

/* The number of elements of a real[] that is usable as a vector, or -1.
 * An empty array has no dimensions at all in PostgreSQL ('{}' is ndim 0). */
static int vector_length(ArrayType *a) {
    if (ARR_ELEMTYPE(a) != FLOAT4OID)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("lc_vector_cosine: arguments must be real[]")));
    if (ARR_NDIM(a) == 0) return 0;
    if (ARR_NDIM(a) != 1 || ARR_HASNULL(a)) return -1;
    return ARR_DIMS(a)[0];
}

/* The three sums of a cosine over n floats: x.y, x.x, y.y, in double.
 *
 * The sums run in LANES independent partial sums, which the compiler turns
 * into SIMD lanes (CMakeLists.txt gives this file -fassociative-math so it
 * may), and target_clones builds an AVX-512, an AVX2 and a baseline copy, one
 * of which the loader picks for the CPU. A plain loop of three dependent
 * double additions was measured at about 1.8 us per 768-dim row, more than
 * reading the row itself. The order of additions differs from a sequential
 * sum only by double rounding (~1e-16 relative). */
#define LANES 8
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
cosine_sums(const float4 *x, const float4 *y, int n, double out[3]) {
    double xy[LANES] = {0}, xx[LANES] = {0}, yy[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double a = x[i + l], b = y[i + l];
            xy[l] += a * b;
            xx[l] += a * a;
            yy[l] += b * b;
        }
    for (; i < n; i++) {
        double a = x[i], b = y[i];
        xy[0] += a * b;
        xx[0] += a * a;
        yy[0] += b * b;
    }
    out[0] = out[1] = out[2] = 0;
    for (int l = 0; l < LANES; l++) {
        out[0] += xy[l];
        out[1] += xx[l];
        out[2] += yy[l];
    }
}

PG_FUNCTION_INFO_V1(lc_vector_cosine);

/* lc_vector_cosine(a real[], b real[]) RETURNS double precision */
Datum lc_vector_cosine(PG_FUNCTION_ARGS) {
    ArrayType *a = PG_GETARG_ARRAYTYPE_P(0);
    ArrayType *b = PG_GETARG_ARRAYTYPE_P(1);
    int n = vector_length(a);
    if (n < 0 || n != vector_length(b)) PG_RETURN_NULL();
    if (n == 0) PG_RETURN_FLOAT8(0.0);
    /* x, y: [n] */
    const float4 *x = (const float4 *)ARR_DATA_PTR(a);
    const float4 *y = (const float4 *)ARR_DATA_PTR(b);
    double s[3]; /* x.y, x.x, y.y */
    cosine_sums(x, y, n, s);
    if (s[1] == 0 || s[2] == 0) PG_RETURN_FLOAT8(0.0);
    PG_RETURN_FLOAT8(s[0] / sqrt(s[1] * s[2]));
}

-- 0004: exact vector search over one user's messages, made faster in two
-- ways (measurements: docs/benchmarks.md, "Search latency").
--
-- 1. Embeddings are kept in the row. A 768-dim vector is about 3 KB, over
-- the 2 KB at which PostgreSQL moves a value out of line into the TOAST
-- table, and reading it back then costs an index lookup and several page
-- reads per row: most of a search's time. STORAGE MAIN keeps it in the row
-- (two rows per 8 KB page) unless the row cannot fit a page at all. It
-- applies to vectors written from now on; vectors stored before keep their
-- out-of-line copy (correct, only slower) until the table is rewritten:
-- `VACUUM FULL chat_messages` moves them in (docs/api.md, "Vector storage").
ALTER TABLE chat_messages ALTER COLUMN content_embedding SET STORAGE MAIN;

-- 2. The cosine of the real[] fallback can be computed in C.
--
-- lc_cosine_sql is 0003's lc_cosine under a new name: the portable
-- definition, about 0.1 ms per 768-dim row. When the project's PostgreSQL
-- extension llamachat_vector (src/store/pgext) is installed on the server,
-- lc_vector_cosine computes the same value in C, 50 times faster or more.
-- lc_cosine, which search.c calls, stays a one-line SQL wrapper around one
-- of the two; PostgreSQL inlines such a wrapper, so it costs nothing.
-- Which one it wraps is decided at every start-up, not here
-- (src/store/migrate.c, choose_cosine): installing or removing the
-- extension later takes effect on the next start without a migration.
CREATE FUNCTION lc_cosine_sql(a real[], b real[])
    RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    -- CASE tests its branches in order (OR does not promise one), and
    -- array_position needs a one-dimensional array
    SELECT CASE
        WHEN coalesce(array_ndims(a), 1) <> 1
             OR coalesce(array_ndims(b), 1) <> 1 THEN NULL
        WHEN array_position(a, NULL) IS NOT NULL
             OR array_position(b, NULL) IS NOT NULL
             OR cardinality(a) <> cardinality(b) THEN NULL
        WHEN cardinality(a) = 0 THEN 0
        WHEN sum(x::float8 * x) = 0 OR sum(y::float8 * y) = 0 THEN 0
        ELSE sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y))
    END
    FROM unnest(a, b) AS t(x, y)
$$;

CREATE OR REPLACE FUNCTION lc_cosine(a real[], b real[])
    RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT lc_cosine_sql(a, b) $$;

INSERT INTO llamachat_settings (key, value) VALUES ('vector_cosine', 'sql');

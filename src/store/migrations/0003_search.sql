-- 0003: what search needs on the array fallback (src/store/search.c).
--
-- lc_cosine(a, b): cosine similarity of two real[] vectors, computed in
-- double precision. NULL when the lengths differ (a vector of another
-- model's size is not comparable) or either is NULL (STRICT); 0 when either
-- has zero length. Search calls it only on the caller's rows, after the
-- owner filter, and ranks exactly: the fallback gives the same results
-- pgvector's exact distance would. It exists on pgvector databases too
-- (unused there), so a database can move between the two without a new
-- migration.
CREATE OR REPLACE FUNCTION lc_cosine(a real[], b real[])
    RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN array_length(a, 1) IS DISTINCT FROM array_length(b, 1) THEN NULL
        WHEN sum(x::float8 * x) = 0 OR sum(y::float8 * y) = 0 THEN 0
        ELSE sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y))
    END
    FROM unnest(a, b) AS t(x, y)
$$;

-- lc_tsquery_or(q): OR of many tsqueries (|| is tsquery_or). Memory
-- retrieval asks for messages sharing any word with the new message, not
-- all of them: plainto_tsquery ANDs its words, so search.c builds one
-- query per word (each properly quoted by plainto_tsquery) and ORs them.
CREATE AGGREGATE lc_tsquery_or(tsquery) (
    SFUNC = tsquery_or,
    STYPE = tsquery
);

-- llamachat_vector 1.0 (src/store/pgext/llamachat_vector.c)
\echo Use "CREATE EXTENSION llamachat_vector" to load this file. \quit

CREATE FUNCTION lc_vector_cosine(a real[], b real[])
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'lc_vector_cosine'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

/* The tokens repository; see tokens.h. */
#include "store/tokens.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/repo.h"

/* A bytea parameter in PostgreSQL's hex text form: "\x" + 64 hex digits
 * of SHA-256(token). Hashing the token's text keeps lookup a single
 * equality on a unique index. */
static void token_hash_param(const char *token, char out[2 + 64 + 1]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 65, digest, sizeof digest);
}

static bool well_formed(const char *token) {
    if (!token || strlen(token) != LC_TOKEN_CHARS) return false;
    for (const char *p = token; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

lc_store_status lc_tokens_create(lc_db *db, const char *user_id,
                                 char token[LC_TOKEN_CHARS + 1],
                                 lc_store_error *err) {
    token[0] = '\0';
    if (!lc_store_is_uuid(user_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    if (sodium_init() < 0)
        return lc_store_fail(err, LC_STORE_ERROR, "libsodium failed to start");
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, LC_TOKEN_CHARS + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    char hash[2 + 64 + 1];
    token_hash_param(token, hash);

    PGconn *conn = lc_db_acquire(db, err);
    lc_store_status st = LC_STORE_OK;
    if (!conn) {
        st = err ? err->status : LC_STORE_UNAVAILABLE;
    } else {
        const char *params[] = {user_id, hash};
        /* an unknown user is a foreign-key violation: LC_STORE_NOT_FOUND */
        st = lc_db_exec(conn,
                        "INSERT INTO api_tokens (user_id, token_hash)"
                        " VALUES ($1, $2::bytea)",
                        2, params, err);
        lc_db_release(db, conn);
    }
    if (st) sodium_memzero(token, LC_TOKEN_CHARS + 1);
    return st;
}

lc_store_status lc_tokens_lookup(lc_db *db, const char *token, lc_user *out,
                                 lc_store_error *err) {
    if (!well_formed(token))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "unknown token");
    if (sodium_init() < 0)
        return lc_store_fail(err, LC_STORE_ERROR, "libsodium failed to start");
    char hash[2 + 64 + 1];
    token_hash_param(token, hash);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {hash};
    PGresult *r = lc_db_query(
        conn,
        "WITH t AS (UPDATE api_tokens SET last_used = now()"
        "           WHERE token_hash = $1::bytea RETURNING user_id),"
        " u AS (UPDATE users SET last_active = now()"
        "       WHERE id = (SELECT user_id FROM t)"
        "       RETURNING id, username, email, is_admin, created_at)"
        " SELECT id, username, email, is_admin, " LC_SQL_TS(
            "created_at") " FROM u",
        1, params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "unknown token");
    if (!st && out) {
        bool oom = false;
        memset(out, 0, sizeof *out);
        lc_repo_copy(r, 0, 0, out->id, sizeof out->id);
        out->username = lc_repo_dup(r, 0, 1, &oom);
        out->email = lc_repo_dup(r, 0, 2, &oom);
        out->is_admin = lc_repo_bool(r, 0, 3);
        lc_repo_copy(r, 0, 4, out->created_at, sizeof out->created_at);
        if (oom) {
            lc_user_clear(out);
            st = lc_store_fail(err, LC_STORE_ERROR, "out of memory");
        }
    }
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_tokens_revoke(lc_db *db, const char *user_id,
                                 const char *token, lc_store_error *err) {
    if (!lc_store_is_uuid(user_id) || !well_formed(token))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "unknown token");
    if (sodium_init() < 0)
        return lc_store_fail(err, LC_STORE_ERROR, "libsodium failed to start");
    char hash[2 + 64 + 1];
    token_hash_param(token, hash);
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {user_id, hash};
    PGresult *r = lc_db_query(conn,
                              "DELETE FROM api_tokens"
                              " WHERE user_id = $1 AND token_hash = $2::bytea",
                              2, params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && atoi(PQcmdTuples(r)) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "unknown token");
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

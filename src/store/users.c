/* The users repository; see users.h. */
#include "store/users.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/repo.h"

#define USER_COLUMNS "id, username, email, is_admin, " LC_SQL_TS("created_at")

void lc_user_clear(lc_user *user) {
    if (!user) return;
    free(user->username);
    free(user->email);
    memset(user, 0, sizeof *user);
}

/* Fills out from a row of USER_COLUMNS. */
static lc_store_status read_user(const PGresult *r, int row, lc_user *out,
                                 lc_store_error *err) {
    if (!out) return LC_STORE_OK;
    bool oom = false;
    memset(out, 0, sizeof *out);
    lc_repo_copy(r, row, 0, out->id, sizeof out->id);
    out->username = lc_repo_dup(r, row, 1, &oom);
    out->email = lc_repo_dup(r, row, 2, &oom);
    out->is_admin = lc_repo_bool(r, row, 3);
    lc_repo_copy(r, row, 4, out->created_at, sizeof out->created_at);
    if (oom) {
        lc_user_clear(out);
        return lc_store_fail(err, LC_STORE_ERROR, "out of memory");
    }
    return LC_STORE_OK;
}

static lc_store_status check_username(const char *username,
                                      lc_store_error *err) {
    lc_store_status st =
        lc_repo_check_text("username", username, LC_USERNAME_MAX, err);
    if (st) return st;
    if (!*username)
        return lc_store_fail(err, LC_STORE_INVALID, "username is empty");
    for (const unsigned char *p = (const unsigned char *)username; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return lc_store_fail(err, LC_STORE_INVALID,
                                 "username holds a control character");
    return LC_STORE_OK;
}

lc_store_status lc_users_create(lc_db *db, const char *username,
                                const char *password, const char *email,
                                lc_user *out, lc_store_error *err) {
    lc_store_status st = check_username(username, err);
    if (st) return st;
    if (!password || !*password)
        return lc_store_fail(err, LC_STORE_INVALID, "password is empty");
    if (strlen(password) > LC_PASSWORD_MAX)
        return lc_store_fail(err, LC_STORE_INVALID,
                             "password is longer than %d bytes",
                             LC_PASSWORD_MAX);
    if (email && (st = lc_repo_check_text("email", email, LC_EMAIL_MAX, err)))
        return st;
    if (sodium_init() < 0)
        return lc_store_fail(err, LC_STORE_ERROR, "libsodium failed to start");

    /* argon2id with libsodium's "interactive" cost: 64 MiB, 2 passes */
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, strlen(password),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return lc_store_fail(err, LC_STORE_ERROR,
                             "password hashing ran out of memory");

    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    /* "first user is admin" must hold when two register at once: the
     * advisory lock serialises the check and the insert. */
    st = lc_db_exec(conn, "BEGIN", 0, NULL, err);
    if (!st)
        st = lc_db_exec(conn,
                        "SELECT pg_advisory_xact_lock(7228434473418146913)", 0,
                        NULL, err);
    PGresult *r = NULL;
    if (!st) {
        const char *params[] = {username, email, hash};
        r = lc_db_query(conn,
                        "INSERT INTO users (username, email, password_hash,"
                        " is_admin)"
                        " SELECT $1, $2, $3, NOT EXISTS (SELECT 1 FROM users)"
                        " RETURNING " USER_COLUMNS,
                        3, params, err);
        if (!r) st = err ? err->status : LC_STORE_ERROR;
    }
    if (!st) st = lc_db_exec(conn, "COMMIT", 0, NULL, err);
    if (!st) st = read_user(r, 0, out, err);
    if (st == LC_STORE_CONFLICT)
        lc_store_fail(err, LC_STORE_CONFLICT,
                      "username or email is already taken");
    PQclear(r);
    lc_db_release(db, conn);
    sodium_memzero(hash, sizeof hash);
    return st;
}

lc_store_status lc_users_verify(lc_db *db, const char *username,
                                const char *password, lc_user *out,
                                lc_store_error *err) {
    if (check_username(username, NULL) || !password || !*password ||
        strlen(password) > LC_PASSWORD_MAX)
        return lc_store_fail(err, LC_STORE_NOT_FOUND,
                             "wrong username or password");
    if (sodium_init() < 0)
        return lc_store_fail(err, LC_STORE_ERROR, "libsodium failed to start");
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {username};
    PGresult *r = lc_db_query(conn,
                              "SELECT " USER_COLUMNS ", password_hash"
                              " FROM users WHERE username = $1",
                              1, params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && (PQntuples(r) == 0 || PQgetisnull(r, 0, 5) ||
                crypto_pwhash_str_verify(PQgetvalue(r, 0, 5), password,
                                         strlen(password)) != 0))
        st = lc_store_fail(err, LC_STORE_NOT_FOUND,
                           "wrong username or password");
    if (!st) {
        const char *id[] = {PQgetvalue(r, 0, 0)};
        st = lc_db_exec(conn,
                        "UPDATE users SET last_active = now() WHERE id = $1", 1,
                        id, err);
    }
    if (!st) st = read_user(r, 0, out, err);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

lc_store_status lc_users_find(lc_db *db, const char *user_id, lc_user *out,
                              lc_store_error *err) {
    if (!lc_store_is_uuid(user_id))
        return lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    PGconn *conn = lc_db_acquire(db, err);
    if (!conn) return err ? err->status : LC_STORE_UNAVAILABLE;
    const char *params[] = {user_id};
    PGresult *r =
        lc_db_query(conn, "SELECT " USER_COLUMNS " FROM users WHERE id = $1", 1,
                    params, err);
    lc_store_status st = r ? LC_STORE_OK : (err ? err->status : LC_STORE_ERROR);
    if (!st && PQntuples(r) == 0)
        st = lc_store_fail(err, LC_STORE_NOT_FOUND, "no such user");
    if (!st) st = read_user(r, 0, out, err);
    PQclear(r);
    lc_db_release(db, conn);
    return st;
}

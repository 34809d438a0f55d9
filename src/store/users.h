/*
 * Users: accounts with argon2id password hashes (libsodium's
 * crypto_pwhash_str format, which carries its own salt and parameters).
 * The first user ever created is the administrator.
 */
#ifndef LC_STORE_USERS_H
#define LC_STORE_USERS_H

#include <stdbool.h>

#include "store/db.h"

#define LC_USERNAME_MAX 64   /* bytes */
#define LC_PASSWORD_MAX 1024 /* bytes */
#define LC_EMAIL_MAX 254     /* bytes */

typedef struct lc_user {
    char id[37];
    char *username;
    char *email; /* NULL when none was given */
    bool is_admin;
    char created_at[40]; /* RFC 3339, UTC */
} lc_user;

/* Frees the strings and zeroes *user. */
void lc_user_clear(lc_user *user);

/* Creates a user (email may be NULL). A taken username or email is
 * LC_STORE_CONFLICT; an empty, over-long, or not UTF-8 value is
 * LC_STORE_INVALID. out (may be NULL) gets the new user. */
lc_store_status lc_users_create(lc_db *db, const char *username,
                                const char *password, const char *email,
                                lc_user *out, lc_store_error *err);

/* Checks a password. An unknown user and a wrong password are both
 * LC_STORE_NOT_FOUND, so a caller cannot tell which (nor can its clients).
 * On success out (may be NULL) gets the user and last_active is updated. */
lc_store_status lc_users_verify(lc_db *db, const char *username,
                                const char *password, lc_user *out,
                                lc_store_error *err);

/* The user with this id; LC_STORE_NOT_FOUND when there is none. */
lc_store_status lc_users_find(lc_db *db, const char *user_id, lc_user *out,
                              lc_store_error *err);

#endif

/*
 * Bearer tokens: 32 random bytes shown to the client once as 64 hex
 * characters. The database keeps only their SHA-256, so reading the
 * database does not give anyone a way in.
 */
#ifndef LC_STORE_TOKENS_H
#define LC_STORE_TOKENS_H

#include "store/db.h"
#include "store/users.h"

#define LC_TOKEN_CHARS 64 /* hex characters; buffers need one more */

/* A new token for the user, written to token (NUL-terminated). */
lc_store_status lc_tokens_create(lc_db *db, const char *user_id,
                                 char token[LC_TOKEN_CHARS + 1],
                                 lc_store_error *err);

/* The user a token belongs to, recording its use (api_tokens.last_used,
 * users.last_active). A malformed or unknown token is LC_STORE_NOT_FOUND. */
lc_store_status lc_tokens_lookup(lc_db *db, const char *token, lc_user *out,
                                 lc_store_error *err);

/* Deletes one of the user's tokens (log out); LC_STORE_NOT_FOUND when the
 * user has no such token. */
lc_store_status lc_tokens_revoke(lc_db *db, const char *user_id,
                                 const char *token, lc_store_error *err);

#endif

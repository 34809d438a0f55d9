/*
 * What the repositories (users.c, tokens.c, sessions.c, messages.c) share:
 * copying values out of a result and the timestamp format. Internal to
 * src/store.
 */
#ifndef LC_STORE_REPO_H
#define LC_STORE_REPO_H

#include <stdbool.h>

#include "store/db.h"

/* Timestamps leave the database as RFC 3339 text in UTC (each connection
 * runs with TIME ZONE 'UTC', see db.c), e.g. 2025-05-20T10:11:12.123456Z. */
#define LC_SQL_TS(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A malloc'd copy of a value; NULL for SQL NULL (and when out of memory,
 * which *oom then records). */
char *lc_repo_dup(const PGresult *r, int row, int col, bool *oom);
/* Copies a value into a fixed buffer ("" for SQL NULL). */
void lc_repo_copy(const PGresult *r, int row, int col, char *out,
                  size_t out_len);
/* An integer column; fallback for SQL NULL. */
int lc_repo_int(const PGresult *r, int row, int col, int fallback);
/* A boolean column ('t' / 'f'); false for SQL NULL. */
bool lc_repo_bool(const PGresult *r, int row, int col);

/* Checks that s is valid UTF-8 without NUL bytes and at most max_bytes
 * long. Fills err (LC_STORE_INVALID naming field) when it is not. */
lc_store_status lc_repo_check_text(const char *field, const char *s,
                                   size_t max_bytes, lc_store_error *err);

#endif

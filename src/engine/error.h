/*
 * Error reporting inside the engine: a function that can fail writes one
 * human-readable line into the caller's buffer, when the caller gave one.
 */
#ifndef LC_ENGINE_ERROR_H
#define LC_ENGINE_ERROR_H

#include <stddef.h>

/* printf-style into err[0..err_len); does nothing when err is NULL. */
void lc_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

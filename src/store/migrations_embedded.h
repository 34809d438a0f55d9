/*
 * The SQL migrations, compiled into the program. The build turns every
 * src/store/migrations/NNNN_name.sql into a C array (see the "store" block
 * of CMakeLists.txt), so no file is looked up at run time.
 */
#ifndef LC_STORE_MIGRATIONS_EMBEDDED_H
#define LC_STORE_MIGRATIONS_EMBEDDED_H

#include <stddef.h>

typedef struct lc_migration {
    int version;      /* NNNN from the file name */
    const char *name; /* the file name, e.g. "0001_init.sql" */
    const char *sql;  /* the file's text, NUL-terminated */
} lc_migration;

/* Sorted by version. */
extern const lc_migration lc_migrations[];
extern const size_t lc_migration_count;

#endif

/*
 * The web UI's static files, compiled into the binary (see docs/ui.md).
 * The table is generated at build time by tools/gen/embed_web.c from the
 * SvelteKit build of web/, or is empty when CMake ran with -DLC_WEB=OFF.
 */
#ifndef LC_SERVER_WEB_ASSETS_H
#define LC_SERVER_WEB_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lc_web_asset {
    const char *path;         /* URL path, e.g. "/index.html" */
    const char *content_type; /* e.g. "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip of data (level 9), or NULL */
    size_t gz_len;
    int immutable; /* a content-hashed name: cache it forever */
} lc_web_asset;

/* [lc_web_asset_count], sorted by path, then one all-zero entry. */
extern const lc_web_asset lc_web_assets[];
extern const size_t lc_web_asset_count;

#endif

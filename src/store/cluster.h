/*
 * A private PostgreSQL cluster inside llamachat's data directory, for the
 * zero set-up default (no --database-url): the first start runs initdb,
 * every start runs the server with pg_ctl and waits until it accepts
 * connections, and lc_cluster_stop shuts it down.
 *
 * Layout, all under <data_dir>/postgres/ (mode 0700):
 *     data/               the cluster (PGDATA)
 *     .s.PGSQL.<port>     the Unix socket: the server listens on no TCP port
 *                         (listen_addresses = ''), so the port number only
 *                         names the socket file
 *     server.log          the server's log; initdb.log, pg_ctl.log
 * Authentication is "trust" on the Unix socket, whose directory only the
 * cluster's owner (and root) can enter; TCP connections are rejected.
 *
 * PostgreSQL refuses to run as root. When llamachat runs as root (CI does),
 * the cluster belongs to the system user "llamachat" (created with useradd
 * when missing) and initdb / pg_ctl run with that user's uid and gid. If
 * that user cannot reach <data_dir> (it lies under /root, say), the cluster
 * is kept in /var/lib/llamachat/clusters/<hash of data_dir> and
 * <data_dir>/postgres is a symbolic link to it.
 *
 * A server left running by a llamachat that crashed is adopted; a
 * postmaster.pid left by a server that crashed is removed when its process
 * is gone or is not a postgres process.
 *
 * initdb and pg_ctl are looked up in PATH, then in the newest
 * /usr/lib/postgresql/<version>/bin (Debian's layout).
 */
#ifndef LC_STORE_CLUSTER_H
#define LC_STORE_CLUSTER_H

#include "store/db.h"

typedef struct lc_cluster_options {
    const char *data_dir; /* required; created when missing */
    const char *bin_dir;  /* where initdb and pg_ctl are; NULL = search */
    int port;             /* 0 = LC_CLUSTER_DEFAULT_PORT */
    const char *database; /* NULL = "llamachat" */
} lc_cluster_options;

#define LC_CLUSTER_DEFAULT_PORT 54329

typedef struct lc_cluster lc_cluster;

/* Initialises (first time), starts and waits for the cluster, and creates
 * the database. NULL on failure with a clear message (PostgreSQL not
 * installed, directory not writable, server failed to start: the message
 * then ends with the last line of its log). */
lc_cluster *lc_cluster_start(const lc_cluster_options *opt,
                             lc_store_error *err);

/* A libpq URL for the cluster's database, e.g.
 * "postgresql:///llamachat?host=/data/postgres&port=54329&user=llamachat". */
const char *lc_cluster_url(const lc_cluster *cluster);

/* The cluster's directory (<data_dir>/postgres, or where its link points). */
const char *lc_cluster_dir(const lc_cluster *cluster);

/* pg_ctl stop -m fast: sessions are disconnected, the server shuts down
 * cleanly. Frees the handle; NULL is ignored. */
void lc_cluster_stop(lc_cluster *cluster);

#endif

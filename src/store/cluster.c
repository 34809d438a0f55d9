/*
 * The private cluster launcher. Everything PostgreSQL does here goes
 * through its own programs (initdb, pg_ctl), run as child processes with an
 * argument vector (no shell), so paths with spaces or quotes are safe.
 */
#include "store/cluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LC_CLUSTER_USER "llamachat"
#define LC_CLUSTER_ROOT_HOME "/var/lib/llamachat/clusters"
#define LC_CLUSTER_START_TIMEOUT_S "60"
/* room for a path under the cluster folder */
#define SUB_PATH (PATH_MAX + 64)

extern char **environ;

struct lc_cluster {
    char bin_dir[PATH_MAX];
    char dir[PATH_MAX];        /* <data_dir>/postgres, links resolved */
    char pgdata[PATH_MAX + 8]; /* dir/data */
    char url[3 * PATH_MAX];    /* libpq URL of the database */
    uid_t uid;                 /* who runs the server */
    gid_t gid;
    bool switch_user; /* we are root: children drop to uid/gid */
};

/* ------------------------------------------------------------ programs */

static bool is_executable(const char *dir, const char *name) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           access(path, X_OK) == 0;
}

static bool has_server_programs(const char *dir) {
    return is_executable(dir, "initdb") && is_executable(dir, "pg_ctl");
}

/* "15" -> 15, "9.6" -> 9006: orders Debian's version folder names. */
static long version_rank(const char *name) {
    char *end;
    long major = strtol(name, &end, 10);
    if (end == name) return -1;
    long minor = *end == '.' ? strtol(end + 1, NULL, 10) : 0;
    return major * 1000 + minor;
}

/* Finds a folder holding both initdb and pg_ctl: PATH first (a user's own
 * build wins), then the newest /usr/lib/postgresql/<version>/bin. */
static bool find_bin_dir(const char *wanted, char *out, size_t out_len,
                         lc_store_error *err) {
    if (wanted) {
        if (!has_server_programs(wanted)) {
            lc_store_fail(err, LC_STORE_UNAVAILABLE,
                          "PostgreSQL server programs (initdb, pg_ctl) are "
                          "not in %s",
                          wanted);
            return false;
        }
        snprintf(out, out_len, "%s", wanted);
        return true;
    }
    const char *path = getenv("PATH");
    if (path) {
        char *copy = strdup(path), *save = NULL;
        for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
             d = strtok_r(NULL, ":", &save)) {
            if (*d && has_server_programs(d)) {
                snprintf(out, out_len, "%s", d);
                free(copy);
                return true;
            }
        }
        free(copy);
    }
    long best = -1;
    DIR *dir = opendir("/usr/lib/postgresql");
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            long rank = version_rank(e->d_name);
            char bin[PATH_MAX];
            snprintf(bin, sizeof bin, "/usr/lib/postgresql/%.64s/bin",
                     e->d_name);
            if (rank > best && has_server_programs(bin)) {
                best = rank;
                snprintf(out, out_len, "%s", bin);
            }
        }
        closedir(dir);
    }
    if (best >= 0) return true;
    lc_store_fail(err, LC_STORE_UNAVAILABLE,
                  "PostgreSQL is not installed: initdb and pg_ctl are "
                  "neither in PATH nor in /usr/lib/postgresql/*/bin; install "
                  "it (Debian: apt-get install postgresql) or give a "
                  "database URL");
    return false;
}

/* Last non-empty line of a log file, for error messages. */
static void log_tail(const char *path, char *out, size_t out_len) {
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[1024];
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    char *line = strrchr(buf, '\n');
    /* copy by hand: the log line may be longer than out and is cut */
    const char *src = line ? line + 1 : buf;
    size_t len = strlen(src);
    if (len >= out_len) len = out_len - 1;
    memcpy(out, src, len);
    out[len] = '\0';
}

/* Runs argv[0] (a full path) and returns its exit status (-1 when it could
 * not be run). As root the child first becomes the cluster's user. Output
 * goes to log_path. Only async-signal-safe calls happen in the child. */
static int run_program(const lc_cluster *c, char *const argv[],
                       const char *log_path) {
    int log_fd =
        open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        return -1;
    }
    if (pid == 0) {
        if (c->switch_user) {
            if (setgroups(0, NULL) != 0 || setgid(c->gid) != 0 ||
                setuid(c->uid) != 0)
                _exit(126);
        }
        /* the cluster's user may not be allowed into our working folder */
        if (chdir(c->dir) != 0) _exit(126);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(log_fd, 1) < 0 ||
            dup2(log_fd, 2) < 0)
            _exit(126);
        /* the server must not inherit our sockets and files */
        close_range(3, ~0U, 0);
        execve(argv[0], argv, environ);
        _exit(127);
    }
    close(log_fd);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ------------------------------------------------------ the cluster user */

static bool lookup_user(const char *name, uid_t *uid, gid_t *gid) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res) return false;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return true;
}

/* The unprivileged system user that owns the cluster when we are root. */
static bool ensure_user(lc_cluster *c, lc_store_error *err) {
    if (lookup_user(LC_CLUSTER_USER, &c->uid, &c->gid)) return true;
    pid_t pid = fork();
    if (pid < 0) {
        lc_store_fail(err, LC_STORE_ERROR, "fork: %s", strerror(errno));
        return false;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        char *argv[] = {"useradd",       "--system",
                        "--user-group",  "--no-create-home",
                        "--home-dir",    "/nonexistent",
                        "--shell",       "/usr/sbin/nologin",
                        LC_CLUSTER_USER, NULL};
        execv("/usr/sbin/useradd", argv); /* PATH may lack /usr/sbin */
        execvp("useradd", argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    /* another process may have created it at the same moment: look again */
    if (lookup_user(LC_CLUSTER_USER, &c->uid, &c->gid)) return true;
    lc_store_fail(err, LC_STORE_ERROR,
                  "running as root, PostgreSQL needs an unprivileged user, "
                  "but 'useradd %s' failed; create that user by hand",
                  LC_CLUSTER_USER);
    return false;
}

/* Can the cluster's user enter path? Tested in a child that takes its uid,
 * since access() as root would say yes to everything. */
static bool user_can_enter(const lc_cluster *c, const char *path) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(c->gid) != 0 ||
            setuid(c->uid) != 0)
            _exit(1);
        _exit(access(path, X_OK) == 0 ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ------------------------------------------------------------ the folder */

static bool make_dirs(const char *path, mode_t mode) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return false;
    }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(tmp, mode) == 0 || errno == EEXIST;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Decides where the cluster lives and makes that folder, owned by the
 * cluster's user with mode 0700. */
static bool prepare_dir(lc_cluster *c, const char *data_dir,
                        lc_store_error *err) {
    if (!make_dirs(data_dir, 0700)) {
        lc_store_fail(err, LC_STORE_ERROR, "cannot create %s: %s", data_dir,
                      strerror(errno));
        return false;
    }
    char real_data[PATH_MAX];
    if (!realpath(data_dir, real_data)) {
        lc_store_fail(err, LC_STORE_ERROR, "%s: %s", data_dir, strerror(errno));
        return false;
    }
    char link[PATH_MAX];
    if (snprintf(link, sizeof link, "%s/postgres", real_data) >=
        (int)sizeof link) {
        lc_store_fail(err, LC_STORE_INVALID, "data directory path too long");
        return false;
    }
    struct stat st;
    if (lstat(link, &st) != 0) {
        if (c->switch_user && !user_can_enter(c, real_data)) {
            /* e.g. /root/.local/share/llamachat: /root is closed to other
             * users, so the cluster lives under /var/lib with a link. */
            char far[PATH_MAX];
            snprintf(far, sizeof far, "%s/%016llx", LC_CLUSTER_ROOT_HOME,
                     (unsigned long long)fnv1a(real_data));
            if (!make_dirs(far, 0700) || symlink(far, link) != 0) {
                lc_store_fail(err, LC_STORE_ERROR,
                              "cannot create the cluster folder %s: %s", far,
                              strerror(errno));
                return false;
            }
            chmod("/var/lib/llamachat", 0755);
            chmod(LC_CLUSTER_ROOT_HOME, 0755);
        } else if (mkdir(link, 0700) != 0) {
            lc_store_fail(err, LC_STORE_ERROR, "cannot create %s: %s", link,
                          strerror(errno));
            return false;
        }
    }
    if (!realpath(link, c->dir)) {
        lc_store_fail(err, LC_STORE_ERROR, "%s: %s", link, strerror(errno));
        return false;
    }
    if (c->switch_user && chown(c->dir, c->uid, c->gid) != 0) {
        lc_store_fail(err, LC_STORE_ERROR, "cannot give %s to user %s: %s",
                      c->dir, LC_CLUSTER_USER, strerror(errno));
        return false;
    }
    chmod(c->dir, 0700);
    if (c->switch_user && !user_can_enter(c, c->dir)) {
        lc_store_fail(err, LC_STORE_ERROR,
                      "user %s cannot enter %s: make the folders above it "
                      "searchable (chmod o+x) or choose another data "
                      "directory",
                      LC_CLUSTER_USER, c->dir);
        return false;
    }
    snprintf(c->pgdata, sizeof c->pgdata, "%s/data", c->dir);
    return true;
}

/* shared_buffers for the private cluster, in MB: an eighth of the
 * machine's memory, at least PostgreSQL's default of 128 MB and at most
 * 2 GB. Search ranks every stored vector of the caller (3 kB each; decision
 * 0005), and with the default 128 MB a history of 100,000 messages is read
 * through the OS cache on every search: measured, 1.8 times slower than
 * from 2 GB of buffers. The memory is reserved, not used, until pages are
 * read; the model needs the rest. ALTER SYSTEM overrides it. */
static long shared_buffers_mb(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long mb = pages > 0 && page > 0 ? (long)((double)pages * page / 8 / 1048576)
                                    : 128;
    return mb < 128 ? 128 : mb > 2048 ? 2048 : mb;
}

/* Writes the settings that depend on where the cluster is now: they are
 * rewritten at every start, so a moved data directory still works.
 * postgresql.conf includes this file (see init_cluster). */
static bool write_settings(const lc_cluster *c, int port, lc_store_error *err) {
    char path[SUB_PATH];
    snprintf(path, sizeof path, "%s/llamachat.conf", c->pgdata);
    FILE *f = fopen(path, "w");
    if (!f) {
        lc_store_fail(err, LC_STORE_ERROR, "cannot write %s: %s", path,
                      strerror(errno));
        return false;
    }
    fprintf(f,
            "# written by llamachat at every start; edits are lost\n"
            "listen_addresses = ''\nport = %d\nunix_socket_directories = '",
            port);
    for (const char *p = c->dir; *p; p++) {
        if (*p == '\'') fputc('\'', f); /* a quote is doubled in a value */
        fputc(*p, f);
    }
    fputs("'\n", f);
    fprintf(f, "shared_buffers = %ldMB\n", shared_buffers_mb());
    bool ok = fclose(f) == 0;
    if (ok && c->switch_user) ok = chown(path, c->uid, c->gid) == 0;
    if (!ok)
        lc_store_fail(err, LC_STORE_ERROR, "cannot write %s: %s", path,
                      strerror(errno));
    return ok;
}

static bool init_cluster(const lc_cluster *c, lc_store_error *err) {
    char initdb[SUB_PATH], log[SUB_PATH], conf[SUB_PATH];
    snprintf(initdb, sizeof initdb, "%s/initdb", c->bin_dir);
    snprintf(log, sizeof log, "%s/initdb.log", c->dir);
    char pgdata[SUB_PATH];
    snprintf(pgdata, sizeof pgdata, "%s", c->pgdata);
    char *argv[] = {initdb,
                    "-D",
                    pgdata,
                    "-U",
                    LC_CLUSTER_USER,
                    "--encoding=UTF8",
                    "--locale=C",
                    "--auth-local=trust",
                    "--auth-host=reject",
                    NULL};
    int rc = run_program(c, argv, log);
    if (rc != 0) {
        char tail[256];
        log_tail(log, tail, sizeof tail);
        lc_store_fail(err, LC_STORE_ERROR,
                      "initdb failed (exit %d, log %s): %s", rc, log, tail);
        return false;
    }
    snprintf(conf, sizeof conf, "%s/postgresql.conf", c->pgdata);
    FILE *f = fopen(conf, "a");
    if (!f || fputs("\ninclude_if_exists = 'llamachat.conf'\n", f) < 0 ||
        fclose(f) != 0) {
        lc_store_fail(err, LC_STORE_ERROR, "cannot write %s", conf);
        return false;
    }
    return true;
}

/* A postmaster.pid names the server that owns the cluster. After a crash it
 * stays behind; if its pid was reused by another process of the same user,
 * the server would refuse to start. Returns 1 when a live postgres owns
 * the cluster, 0 when no server runs (a stale file was removed). */
static int check_pid_file(const lc_cluster *c) {
    char path[SUB_PATH];
    snprintf(path, sizeof path, "%s/postmaster.pid", c->pgdata);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got == 1 && pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
        char comm_path[64], comm[64] = "";
        snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
        FILE *cf = fopen(comm_path, "r");
        if (cf) {
            if (!fgets(comm, sizeof comm, cf)) comm[0] = '\0';
            fclose(cf);
        }
        if (strncmp(comm, "postgres", 8) == 0) return 1;
    }
    fprintf(stderr,
            "llamachat: removing stale %s (pid %ld is not a running server)\n",
            path, pid);
    unlink(path);
    return 0;
}

static void percent_encode(const char *s, char *out, size_t out_len) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < out_len; s++) {
        unsigned char ch = (unsigned char)*s;
        bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || strchr("/-._~", ch);
        if (plain) {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n] = '\0';
}

/* Waits until the server answers on its socket (a server that was already
 * running may still be recovering). */
static bool wait_ready(const char *url, int seconds) {
    for (int i = 0; i < seconds * 10; i++) {
        if (PQping(url) == PQPING_OK) return true;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

static bool create_database(const lc_cluster *c, const char *admin_url,
                            const char *name, lc_store_error *err) {
    PGconn *conn = PQconnectdb(admin_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        lc_store_fail(err, LC_STORE_UNAVAILABLE,
                      "cannot connect to the private cluster in %s: %s", c->dir,
                      PQerrorMessage(conn));
        PQfinish(conn);
        return false;
    }
    const char *params[] = {name};
    PGresult *r =
        PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1,
                     NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    bool exists = ok && PQntuples(r) > 0;
    PQclear(r);
    if (ok && !exists) {
        /* an identifier cannot be a parameter: quote it properly */
        char *ident = PQescapeIdentifier(conn, name, strlen(name));
        char sql[256];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", ident ? ident : "");
        PQfreemem(ident);
        r = PQexec(conn, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        /* two launchers racing on one cluster: the other one won */
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (!ok && state && strcmp(state, "42P04") == 0) ok = true;
        PQclear(r);
    }
    if (!ok)
        lc_store_fail(err, LC_STORE_ERROR, "cannot create database %s: %s",
                      name, PQerrorMessage(conn));
    PQfinish(conn);
    return ok;
}

static bool valid_db_name(const char *s) {
    if (!*s || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool pg_ctl(const lc_cluster *c, const char *action,
                   lc_store_error *err) {
    char prog[SUB_PATH], log[SUB_PATH], server_log[SUB_PATH];
    char pgdata[SUB_PATH];
    snprintf(prog, sizeof prog, "%s/pg_ctl", c->bin_dir);
    snprintf(log, sizeof log, "%s/pg_ctl.log", c->dir);
    snprintf(server_log, sizeof server_log, "%s/server.log", c->dir);
    snprintf(pgdata, sizeof pgdata, "%s", c->pgdata);
    char act[16];
    snprintf(act, sizeof act, "%s", action);
    char *start[] = {
        prog, "start", "-w", "-t",       LC_CLUSTER_START_TIMEOUT_S,
        "-D", pgdata,  "-l", server_log, NULL};
    char *stop[] = {prog, "stop", "-w", "-m", "fast", "-D", pgdata, NULL};
    int rc = run_program(c, strcmp(act, "start") == 0 ? start : stop, log);
    if (rc == 0) return true;
    char tail[256];
    log_tail(strcmp(act, "start") == 0 ? server_log : log, tail, sizeof tail);
    lc_store_fail(err, LC_STORE_UNAVAILABLE,
                  "pg_ctl %s failed (exit %d) for %s: %s", act, rc, c->pgdata,
                  tail);
    return false;
}

lc_cluster *lc_cluster_start(const lc_cluster_options *opt,
                             lc_store_error *err) {
    if (!opt || !opt->data_dir || !*opt->data_dir) {
        lc_store_fail(err, LC_STORE_INVALID, "cluster: no data directory");
        return NULL;
    }
    const char *dbname = opt->database ? opt->database : "llamachat";
    if (!valid_db_name(dbname)) {
        lc_store_fail(err, LC_STORE_INVALID,
                      "cluster: database name '%s' must be 1-63 of a-z 0-9 _",
                      dbname);
        return NULL;
    }
    int port = opt->port ? opt->port : LC_CLUSTER_DEFAULT_PORT;
    if (port < 1 || port > 65535) {
        lc_store_fail(err, LC_STORE_INVALID, "cluster: bad port %d", port);
        return NULL;
    }
    lc_cluster *c = calloc(1, sizeof *c);
    if (!c) {
        lc_store_fail(err, LC_STORE_ERROR, "out of memory");
        return NULL;
    }
    if (!find_bin_dir(opt->bin_dir, c->bin_dir, sizeof c->bin_dir, err))
        goto fail;
    c->uid = getuid();
    c->gid = getgid();
    c->switch_user = geteuid() == 0;
    if (c->switch_user && !ensure_user(c, err)) goto fail;
    if (!prepare_dir(c, opt->data_dir, err)) goto fail;

    /* a Unix socket path holds at most 107 bytes */
    if (strlen(c->dir) + sizeof "/.s.PGSQL.65535" > 107) {
        lc_store_fail(err, LC_STORE_INVALID,
                      "the socket path under %s would be longer than a Unix "
                      "socket allows (107 bytes): choose a shorter data "
                      "directory",
                      c->dir);
        goto fail;
    }

    char probe[SUB_PATH];
    snprintf(probe, sizeof probe, "%s/PG_VERSION", c->pgdata);
    if (access(probe, F_OK) != 0) {
        /* no cluster yet (or initdb died half-way: start it afresh) */
        if (access(c->pgdata, F_OK) == 0) {
            lc_store_fail(err, LC_STORE_ERROR,
                          "%s exists but holds no cluster (an interrupted "
                          "initdb?): remove it and start again",
                          c->pgdata);
            goto fail;
        }
        if (!init_cluster(c, err)) goto fail;
    }
    if (!write_settings(c, port, err)) goto fail;

    char enc_dir[3 * PATH_MAX / 2];
    percent_encode(c->dir, enc_dir, sizeof enc_dir);
    char admin_url[sizeof c->url];
    snprintf(admin_url, sizeof admin_url,
             "postgresql:///postgres?host=%s&port=%d&user=%s", enc_dir, port,
             LC_CLUSTER_USER);
    snprintf(c->url, sizeof c->url, "postgresql:///%s?host=%s&port=%d&user=%s",
             dbname, enc_dir, port, LC_CLUSTER_USER);

    if (check_pid_file(c) == 0) {
        if (!pg_ctl(c, "start", err)) goto fail;
    } else {
        fprintf(stderr,
                "llamachat: adopting the PostgreSQL server already "
                "running in %s\n",
                c->pgdata);
    }
    if (!wait_ready(admin_url, 60)) {
        lc_store_fail(err, LC_STORE_UNAVAILABLE,
                      "the private cluster in %s does not accept "
                      "connections on %s",
                      c->dir, admin_url);
        goto fail;
    }
    if (!create_database(c, admin_url, dbname, err)) {
        lc_cluster_stop(c);
        return NULL;
    }
    return c;
fail:
    free(c);
    return NULL;
}

const char *lc_cluster_url(const lc_cluster *cluster) {
    return cluster->url;
}

const char *lc_cluster_dir(const lc_cluster *cluster) {
    return cluster->dir;
}

void lc_cluster_stop(lc_cluster *cluster) {
    if (!cluster) return;
    lc_store_error err;
    /* nothing to stop when the server already died (or another handle
     * stopped it) */
    if (check_pid_file(cluster) == 1 && !pg_ctl(cluster, "stop", &err))
        fprintf(stderr, "llamachat: %s\n", err.message);
    free(cluster);
}

/* db_conn.c — one SQLite connection per module file, and the policy every
 * module statement goes through.
 *
 * The policy (an authorizer, plus limits set at open):
 *   - no ATTACH / DETACH (also VACUUM INTO, which attaches its target), and
 *     SQLITE_LIMIT_ATTACHED is 0: a module reaches its own file only;
 *   - no load_extension (extension loading stays disabled as well);
 *   - no BEGIN / COMMIT / ROLLBACK / SAVEPOINT: the connection is shared by
 *     every thread and version of the module, so a transaction left open by
 *     one call would swallow the statements of others; batch is the way;
 *   - PRAGMAs: the schema-reading ones and user_version / application_id
 *     freely, a few settings read-only (journal_mode, synchronous,
 *     foreign_keys, ...), everything else refused (changing the journal,
 *     the locking mode, temp directories, writable_schema, ...);
 *   - defensive mode (no direct writes to the schema tables), untrusted
 *     schema (no SQL functions with side effects in views and triggers).
 * The starter's own statements (BEGIN IMMEDIATE of a batch, user_version
 * for migrate) run with f->trusted set, under the file's lock.
 */
#include "db_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* PRAGMAs a module may use: "any" with or without a value, "read" only
 * without one (reading a setting). */
typedef struct pragma_rule {
    const char *name;
    int any;
} pragma_rule;

static const pragma_rule pragma_rules[] = {
    {"table_info", 1}, {"table_xinfo", 1}, {"table_list", 1}, {"index_list", 1},
    {"index_info", 1}, {"index_xinfo", 1}, {"foreign_key_list", 1}, {"foreign_key_check", 1},
    {"integrity_check", 1}, {"quick_check", 1}, {"user_version", 1}, {"application_id", 1},
    {"collation_list", 1}, {"optimize", 1},
    {"journal_mode", 0}, {"synchronous", 0}, {"foreign_keys", 0}, {"busy_timeout", 0},
    {"page_size", 0}, {"page_count", 0}, {"freelist_count", 0}, {"data_version", 0},
    {"schema_version", 0}, {"encoding", 0}, {"auto_vacuum", 0}, {"cache_size", 0},
    {"max_page_count", 0}, {"compile_options", 0}, {"database_list", 0},
};

/* Records why (with the version of the code that decided: after an
 * upgrade that shows the new code's authorizer is the one installed). */
static int deny(db_file *f, const char *fmt, const char *what)
{
    char why[DB_DENY_MAX - 24];
    snprintf(why, sizeof why, fmt, what ? what : "?");
    snprintf(f->deny_reason, sizeof f->deny_reason, "%s (db %s policy)", why, db_code_version());
    return SQLITE_DENY;
}

static int db_authorize(void *user, int action, const char *a, const char *b, const char *dbname,
                        const char *trigger)
{
    db_file *f = user;
    if (f->trusted > 0)
        return SQLITE_OK;
    switch (action) {
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return deny(f, "%s is not allowed: a module has exactly one database file",
                    action == SQLITE_ATTACH ? "ATTACH (or VACUUM INTO)" : "DETACH");
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        return deny(f, "%s is not allowed: use the batch slot for a transaction",
                    action == SQLITE_SAVEPOINT ? "SAVEPOINT/RELEASE" : a);
    case SQLITE_FUNCTION:
        if (b && strcasecmp(b, "load_extension") == 0)
            return deny(f, "%s() is not allowed", "load_extension");
        return SQLITE_OK;
    case SQLITE_PRAGMA:
        for (size_t i = 0; a && i < sizeof pragma_rules / sizeof pragma_rules[0]; i++) {
            if (strcasecmp(a, pragma_rules[i].name) != 0)
                continue;
            if (pragma_rules[i].any || b == NULL)
                return SQLITE_OK;
            return deny(f, "PRAGMA %s may be read, not set", a);
        }
        return deny(f, "PRAGMA %s is not allowed", a);
    default:
        return SQLITE_OK;
    }
}

void db_conn_guard(db_file *f, sqlite3 *conn)
{
    sqlite3_set_authorizer(conn, db_authorize, f);
}

keel_status db_conn_status(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return KEEL_OK;
    case SQLITE_CONSTRAINT: return KEEL_ERR_STATE;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return KEEL_ERR_BUSY;
    case SQLITE_AUTH: return KEEL_ERR_DENIED;
    case SQLITE_NOMEM: return KEEL_ERR_NOMEM;
    case SQLITE_FULL:
    case SQLITE_TOOBIG: return KEEL_ERR_LIMIT;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL: return KEEL_ERR_IO;
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE: return KEEL_ERR_INVALID;
    default: return KEEL_ERR_INTERNAL;
    }
}

keel_status db_conn_exec_trusted(db_file *f, sqlite3 *conn, const char *sql,
                                 keel_starter_error *err)
{
    f->trusted++;
    char *msg = NULL;
    int rc = sqlite3_exec(conn, sql, NULL, NULL, &msg);
    f->trusted--;
    if (rc != SQLITE_OK) {
        keel_starter_error_set(err, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return db_conn_status(rc);
    }
    return KEEL_OK;
}

/* Reads a one-value PRAGMA answer as text into buf. */
static keel_status conn_pragma(db_file *f, sqlite3 *conn, const char *sql, char *buf, size_t size,
                               keel_starter_error *err)
{
    sqlite3_stmt *st = NULL;
    f->trusted++;
    int rc = sqlite3_prepare_v2(conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    f->trusted--;
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, size, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        buf[0] = '\0';
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        keel_starter_error_set(err, "db: %s on %s: %s", sql, f->path, sqlite3_errmsg(conn));
    sqlite3_finalize(st);
    return db_conn_status(rc);
}

keel_status db_conn_open(db_file *f, const db_config *cfg, keel_starter_error *err)
{
    if (f->conn)
        return KEEL_OK;
    sqlite3 *conn = NULL;
    int rc = sqlite3_open_v2(f->path, &conn,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        keel_starter_error_set(err, "db: cannot open %s: %s", f->path,
                               conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
        sqlite3_close(conn);
        return db_conn_status(rc) == KEEL_ERR_NOMEM ? KEEL_ERR_NOMEM : KEEL_ERR_IO;
    }
    sqlite3_db_config(conn, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
    sqlite3_db_config(conn, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    sqlite3_db_config(conn, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
    sqlite3_limit(conn, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_busy_timeout(conn, (int)cfg->busy_timeout_ms);
    db_conn_guard(f, conn);

    char mode[32], sync_sql[64];
    snprintf(sync_sql, sizeof sync_sql, "PRAGMA synchronous=%s", db_config_sync_name(cfg->synchronous));
    keel_status st = conn_pragma(f, conn, "PRAGMA journal_mode=WAL", mode, sizeof mode, err);
    if (st == KEEL_OK && strcasecmp(mode, "wal") != 0) {
        keel_starter_error_set(err, "db: %s cannot use a WAL journal (journal_mode is %s)", f->path, mode);
        st = KEEL_ERR_IO;
    }
    if (st == KEEL_OK)
        st = db_conn_exec_trusted(f, conn, sync_sql, err);
    if (st == KEEL_OK)
        st = db_conn_exec_trusted(f, conn, "PRAGMA foreign_keys=ON", err);
    if (st != KEEL_OK) {
        if (err && strncmp(err->message, "db: ", 4) != 0) {
            keel_starter_error e2;
            snprintf(e2.message, sizeof e2.message, "db: opening %.200s: %.280s", f->path, err->message);
            *err = e2;
        }
        sqlite3_close(conn);
        return st;
    }
    f->conn = conn;
    return KEEL_OK;
}

void db_conn_close(db_file *f)
{
    if (!f->conn)
        return;
    if (sqlite3_close(f->conn) != SQLITE_OK)
        sqlite3_close_v2(f->conn); /* cannot happen: every statement is finalized */
    f->conn = NULL;
}

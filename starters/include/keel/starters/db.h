/*
 * keel/starters/db.h — the "db" starter: an embedded SQLite database per
 * module, seen from a module.
 *
 * Each module gets one database file, <starter work dir>/<module>.sqlite,
 * keyed by the module's NAME: every version of the module (two run side by
 * side during a switch) and every restart of the base finds the same data.
 * All bindings of one module share one connection; statements of one module
 * run one at a time (a mutex per module), statements of different modules
 * run in parallel (separate files). WAL journal, foreign keys on.
 *
 * Binding (module-api 3, manifest "requires": {"db": "^1.0"}):
 *     const keel_db_api *db;
 *     void *client;
 *     if (api->starter_get(ctx, "db", NULL, (const void **)&db, &client) == KEEL_OK)
 *         db->exec((keel_db *)client, "CREATE TABLE IF NOT EXISTS t(x)", NULL, NULL);
 *
 * Parameters: `params_json` is a JSON array bound positionally to the
 * statement's parameters (?, ?NNN, :name in order of first appearance), or
 * NULL for none. Its length must equal the statement's parameter count.
 *     null                     NULL
 *     true / false             INTEGER 1 / 0
 *     a whole number           INTEGER (exact within +-2^53)
 *     any other number         REAL
 *     "text"                   TEXT
 *     {"blob_base64": "..."}   BLOB (standard base64, padded)
 *     {"i64": "-12345"}        INTEGER, exact over the whole int64 range
 * Parameters are always data: they are never parsed as SQL.
 *
 * Results are compact JSON texts written by the starter:
 *   - a statement that returns rows (SELECT, ... RETURNING, a PRAGMA that
 *     answers): an array of row objects [{"col":value,...},...] with
 *     INTEGER as exact JSON integers, REAL as numbers (+-infinity as
 *     +-1e999), TEXT as strings, BLOB as {"blob_base64":"..."}, NULL as
 *     null. Duplicate column names: the last one wins for JSON readers.
 *   - any other statement: exactly {"changes":N,"last_insert_rowid":M}
 *     (this key order, no spaces), so a module may read N without a JSON
 *     parser. N counts the rows the statement itself changed (0 for DDL);
 *     M is SQLite's sqlite3_last_insert_rowid() of the module's connection
 *     (not reset by a rollback).
 *
 * Error statuses shared by every slot (details: last_error):
 *   KEEL_ERR_INVALID    bad SQL (SQLite's message), bad params_json, a
 *                       parameter count mismatch, more than one statement
 *                       where one is expected ("use batch"), a runtime
 *                       type error
 *   KEEL_ERR_STATE      a constraint was violated (UNIQUE, CHECK, NOT NULL,
 *                       FOREIGN KEY); nothing of that statement applied
 *   KEEL_ERR_DENIED     refused by the starter's policy: ATTACH/DETACH,
 *                       VACUUM INTO, load_extension, BEGIN/COMMIT/SAVEPOINT
 *                       outside batch, PRAGMAs other than read-only ones and
 *                       user_version/application_id
 *   KEEL_ERR_BUSY       another process held the file locked longer than the
 *                       configured busy_timeout_ms
 *   KEEL_ERR_LIMIT      the result would exceed the configured
 *                       max_result_bytes, or the disk is full
 *   KEEL_ERR_IO         the file could not be read or written
 *   KEEL_ERR_NOMEM      out of memory
 * A failed statement changes nothing (SQLite's statement atomicity).
 *
 * Threads: every slot may be called from any thread; calls of one module
 * are serialised by the starter. The table and client pointer stay valid
 * across upgrades of the starter until the module's stop hook returns.
 */
#ifndef KEEL_STARTERS_DB_H
#define KEEL_STARTERS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A module's client: opaque, owned by the starter, from starter_get until
 * the module's stop hook returns. A NULL client makes every slot return
 * KEEL_ERR_INVALID. */
typedef struct keel_db keel_db;

/* keel_db_api.version values. */
#define KEEL_DB_TABLE_1_0 1u   /* exec .. free (6 slots) */
#define KEEL_DB_TABLE_1_1 2u   /* + user_version, migrate (8 slots) */

/* True when the table the module got has `slot` (a starter 1.0.0 table is
 * shorter than this header's struct). */
#define KEEL_DB_HAS(table, slot) \
    ((table)->size >= offsetof(keel_db_api, slot) + sizeof(((keel_db_api *)0)->slot))

typedef struct keel_db_api {
    uint32_t version;   /* KEEL_DB_TABLE_* */
    uint32_t size;      /* sizeof as the running starter was built */

    /* --- since 1.0.0 ------------------------------------------------------ */

    /* Runs ONE statement `sql` (borrowed; trailing ';', spaces and comments
     * allowed) with `params_json` (borrowed, may be NULL). On KEEL_OK, when
     * `result_json` is not NULL, *result_json is the result (see above),
     * malloc'd, freed with this table's `free`; on error it is NULL.
     * `result_json` may be NULL when the caller does not want the result.
     * Two statements: KEEL_ERR_INVALID ("use batch"). Errors: see above.
     * Any thread. */
    keel_status (*exec)(keel_db *db, const char *sql, const char *params_json,
                        char **result_json);

    /* Runs `statements_json` (borrowed), a JSON array whose items are
     * {"sql": "...", "params": [...]} ("params" optional) or plain SQL
     * strings, in ONE transaction (BEGIN IMMEDIATE .. COMMIT): all or none.
     * Each item is one statement. On KEEL_OK, when `results_json` is not
     * NULL, *results_json is a JSON array with one result per item (each as
     * exec's), malloc'd, freed with `free`. On error everything is rolled
     * back, *results_json is NULL and last_error names the item, e.g.
     * "statement 2 of 3: UNIQUE constraint failed: t.id"; the status is the
     * failing statement's. An empty array is KEEL_ERR_INVALID. Inside a
     * batch, changes() and last_insert_rowid() of SQL see the previous
     * item, so an item can depend on the one before it. Any thread; other
     * calls of the module wait while a batch runs. */
    keel_status (*batch)(keel_db *db, const char *statements_json, char **results_json);

    /* Runs one statement and stores the first column of its first row in
     * *out (caller-owned). That value must be an INTEGER (or a REAL with a
     * whole value in range): else KEEL_ERR_INVALID. No row, or a NULL
     * value: KEEL_ERR_NOT_FOUND and *out is left alone. A statement with
     * RETURNING is run to its end (its changes apply). Any thread. */
    keel_status (*query_i64)(keel_db *db, const char *sql, const char *params_json,
                             int64_t *out);

    /* As query_i64, for the first column's text: *out is a malloc'd
     * NUL-terminated copy (freed with `free`) of the value as SQLite
     * renders it as text (handy with SQLite's json_object() / json_group_*
     * functions); NULL value or no row: KEEL_ERR_NOT_FOUND, *out NULL.
     * Longer than max_result_bytes: KEEL_ERR_LIMIT. Any thread. */
    keel_status (*query_text)(keel_db *db, const char *sql, const char *params_json,
                              char **out);

    /* Copies into `buf` (caller-owned, `size` bytes, always NUL-terminated
     * when size > 0, cut short if needed) the message of the last failed
     * call of THIS thread on THIS client. Success does not clear it, so
     * read it right after a call failed. KEEL_OK when there is one,
     * KEEL_ERR_NOT_FOUND (buf "") when this thread has no failure recorded
     * (a client remembers the last 32 threads that failed).
     * KEEL_ERR_INVALID when buf is NULL or size is 0. Any thread (that is
     * the point: each thread reads its own). */
    keel_status (*last_error)(keel_db *db, char *buf, size_t size);

    /* Frees memory a slot handed out (NULL-safe). Any thread. */
    void (*free)(void *ptr);

    /* --- since 1.1.0 (KEEL_DB_HAS(table, user_version)) ------------------- */

    /* The database's PRAGMA user_version (the schema version a module keeps
     * there) into *out (caller-owned; NULL is KEEL_ERR_INVALID). Any
     * thread. */
    keel_status (*user_version)(keel_db *db, int64_t *out);

    /* Schema migration, idempotent: in ONE transaction, when user_version
     * is below `target_version` (> 0), runs `statements_json` (borrowed,
     * batch's format, may be "[]") and sets user_version to the target;
     * when it is already >= target, runs nothing and returns KEEL_OK. On
     * KEEL_OK *from_version (caller-owned, may be NULL) is the user_version
     * found before, so from < target means "migrated now". Any failure
     * rolls everything back (user_version unchanged); statuses as batch,
     * KEEL_ERR_INVALID for a target outside 1..INT32_MAX. Any thread; two
     * versions of a module starting at once migrate once (the transaction
     * re-reads user_version under the write lock). */
    keel_status (*migrate)(keel_db *db, int64_t target_version, const char *statements_json,
                           int64_t *from_version);
} keel_db_api;

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTERS_DB_H */

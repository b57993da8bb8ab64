/*
 * db_internal.h — the db starter's state (state_format 1), shared by every
 * file of the starter. Both versions (1.0.0 and 1.1.0) are built from this
 * one layout: during an upgrade the code of both runs on the same state.
 *
 *   db_state   one per enabled starter: configuration, the list of module
 *              files, a lock for that list and the binding counts
 *   db_file    one per module NAME ever seen: path, the shared connection
 *              (open while the module has a binding), its mutex, counters
 *   keel_db    one per binding (the module's client): its file and the
 *              last error of each thread that used it
 *
 * Lock order: state->lock, then file->lock. Slot calls take only
 * file->lock (their client pins the file) and client->err_lock.
 */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <sqlite3.h>

#include <keel/starter.h>
#include <keel/starters/db.h>

#define DB_STATE_FORMAT 1u
#define DB_MODULE_MAX 64          /* module names: [a-z][a-z0-9_-]{0,63} */
#define DB_THREAD_ERRORS 32       /* threads whose last error a client keeps */
#define DB_ERROR_MAX KEEL_STARTER_ERROR_SIZE /* bytes of one remembered message */
#define DB_DENY_MAX 160

/* synchronous setting */
typedef enum db_sync { DB_SYNC_OFF = 0, DB_SYNC_NORMAL = 1, DB_SYNC_FULL = 2 } db_sync;

typedef struct db_config {
    char *dir;                  /* absolute directory of the files (malloc'd) */
    int64_t busy_timeout_ms;    /* 0..600000, default 5000 */
    db_sync synchronous;        /* default normal */
    int64_t max_result_bytes;   /* 256..1 GiB, default 4 MiB */
} db_config;

typedef struct db_file db_file;
struct db_file {
    db_file *next;
    char module[DB_MODULE_MAX + 1];
    char *path;                 /* malloc'd: <dir>/<module>.sqlite */

    pthread_mutex_t lock;       /* every use of conn, and the fields below it */
    sqlite3 *conn;              /* NULL while no binding is open */
    int trusted;                /* > 0 while the starter runs its own SQL */
    char deny_reason[DB_DENY_MAX]; /* why the authorizer refused, last time */

    unsigned bindings;          /* open bindings (state->lock) */
    uint64_t opens;             /* times the connection was opened (state->lock) */
    atomic_uint_fast64_t statements; /* module statements run */
    atomic_uint_fast64_t errors;     /* failed slot calls */
    atomic_uint_fast64_t denied;     /* statements refused by the policy */
};

typedef struct db_thread_error {
    pid_t tid;                  /* 0: free */
    uint64_t used;              /* client->err_clock when written */
    char message[DB_ERROR_MAX];
} db_thread_error;

typedef struct db_state db_state;

struct keel_db {
    db_state *state;
    db_file *file;
    char instance[DB_MODULE_MAX + 80];
    pthread_mutex_t err_lock;
    uint64_t err_clock;
    db_thread_error errors[DB_THREAD_ERRORS];
};

struct db_state {
    const keel_starter_host *host; /* refreshed by every resume */
    db_config cfg;
    pthread_mutex_t lock;       /* files list, bindings, opens */
    db_file *files;
    atomic_uint_fast64_t binds_total;
};

/* --- db_config.c ------------------------------------------------------- */

/* Parses `json` (borrowed, NULL means "{}") into *cfg, resolving "dir"
 * against `work_dir` (borrowed). On error `err` gets one line naming the
 * field and *cfg is left empty. */
keel_status db_config_parse(const char *json, const char *work_dir, db_config *cfg,
                            keel_starter_error *err);
/* Frees what db_config_parse allocated (NULL-safe). */
void db_config_clear(db_config *cfg);
/* "off" | "normal" | "full" (static string). */
const char *db_config_sync_name(db_sync s);

/* --- db_conn.c: connections and the policy ----------------------------- */

/* Opens f->conn (f->lock held): creates the file, WAL, synchronous, busy
 * timeout, foreign keys, no extensions, no ATTACH, the authorizer. */
keel_status db_conn_open(db_file *f, const db_config *cfg, keel_starter_error *err);
/* Closes f->conn if open (f->lock held). */
void db_conn_close(db_file *f);
/* (Re)installs this code's authorizer on `conn` for file `f` (f->lock
 * held). Resume calls it so no connection calls into unloaded code. */
void db_conn_guard(db_file *f, sqlite3 *conn);
/* Maps an SQLite result code to a keel status. */
keel_status db_conn_status(int rc);
/* Runs one trusted statement of the starter's own (f->lock held), e.g.
 * BEGIN IMMEDIATE. */
keel_status db_conn_exec_trusted(db_file *f, sqlite3 *conn, const char *sql,
                                 keel_starter_error *err);

/* --- db_run.c: statements, parameters, results ------------------------- */

typedef struct db_buf {
    char *data;                 /* malloc'd, NUL-terminated when non-NULL */
    size_t len, cap, max;       /* max: the result size limit */
} db_buf;

keel_status db_buf_append(db_buf *b, const char *s, size_t n);
keel_status db_buf_puts(db_buf *b, const char *s);
/* Hands over b->data (malloc'd; "" if empty); the buffer is left empty. */
char *db_buf_take(db_buf *b);
void db_buf_clear(db_buf *b);

/* Parses `params_json` (borrowed, NULL: no parameters) into *out (a cJSON
 * array or NULL; cJSON_Delete it). */
struct cJSON;
keel_status db_run_parse_params(const char *params_json, struct cJSON **out,
                                keel_starter_error *err);

/* The error `rc` of the last SQLite call on f->conn as a status, with
 * its message (policy refusals say why). */
keel_status db_run_fail(db_file *f, int rc, keel_starter_error *err);
/* Prepares exactly one statement of `sql` (f->lock held). */
keel_status db_run_prepare(db_file *f, const char *sql, sqlite3_stmt **out,
                           keel_starter_error *err);
/* Binds `params` (a cJSON array or NULL) to every parameter of `stmt`. */
keel_status db_run_bind(sqlite3_stmt *stmt, const struct cJSON *params, keel_starter_error *err);
/* Steps `stmt` to its end, appending its JSON result to `out` (NULL: no
 * result kept). f->lock held. */
keel_status db_run_step(db_file *f, sqlite3_stmt *stmt, db_buf *out, keel_starter_error *err);
/* prepare + bind + step + finalize of one module statement; counts it. */
keel_status db_run_one(db_file *f, const char *sql, const struct cJSON *params, db_buf *out,
                       keel_starter_error *err);
/* Checks a batch document: a non-empty array of {"sql","params"} objects
 * or strings. Parsed into *out (cJSON_Delete it). */
keel_status db_run_parse_batch(const char *statements_json, int allow_empty, struct cJSON **out,
                               keel_starter_error *err);
/* Runs checked batch items inside the current transaction, results into
 * `out` as a JSON array (NULL: none). Names the failing item. */
keel_status db_run_items(db_file *f, const struct cJSON *items, db_buf *out,
                         keel_starter_error *err);
/* Ends a transaction: COMMIT when st is KEEL_OK (a failed commit rolls
 * back and becomes the status), else ROLLBACK. */
keel_status db_run_finish(db_file *f, keel_status st, keel_starter_error *err);
/* PRAGMA user_version of f->conn (trusted, f->lock held). */
keel_status db_run_user_version(db_file *f, int64_t *out, keel_starter_error *err);

/* --- db_json.c --------------------------------------------------------- */

/* Appends `s` (n bytes) as a JSON string literal. */
keel_status db_json_string(db_buf *b, const char *s, size_t n);
/* Appends base64 of `data` (n bytes). */
keel_status db_json_base64(db_buf *b, const unsigned char *data, size_t n);
/* Decodes padded standard base64 `text` into a malloc'd *out (*n bytes;
 * *out may be NULL when *n is 0). KEEL_ERR_INVALID for bad text. */
keel_status db_json_base64_decode(const char *text, unsigned char **out, size_t *n);

/* --- db_admin.c -------------------------------------------------------- */

keel_status db_admin(void *state, const char *op, const char *args_json, char **result_json,
                     keel_starter_error *err);

/* --- db_slots.c: the module-facing slots (see keel/starters/db.h) ------- */

keel_status db_slot_exec(keel_db *db, const char *sql, const char *params_json, char **result_json);
keel_status db_slot_batch(keel_db *db, const char *statements_json, char **results_json);
keel_status db_slot_query_i64(keel_db *db, const char *sql, const char *params_json, int64_t *out);
keel_status db_slot_query_text(keel_db *db, const char *sql, const char *params_json, char **out);
keel_status db_slot_last_error(keel_db *db, char *buf, size_t size);
void db_slot_free(void *ptr);
keel_status db_slot_user_version(keel_db *db, int64_t *out);
keel_status db_slot_migrate(keel_db *db, int64_t target_version, const char *statements_json,
                            int64_t *from_version);

/* --- db_starter.c ------------------------------------------------------ */

/* Non-zero for a valid module name ([a-z][a-z0-9_-]{0,63}): it becomes a
 * file name. */
int db_module_name_ok(const char *name);
/* The file entry of `module`, or NULL (state->lock held). */
db_file *db_state_find(db_state *s, const char *module);
/* <dir>/<module>.sqlite, malloc'd, or NULL when out of memory. */
char *db_state_path(const db_state *s, const char *module);

/* The version of the running code ("1.0.0" / "1.1.0") and its slot count. */
const char *db_code_version(void);
size_t db_code_slots(void);

#endif /* DB_INTERNAL_H */

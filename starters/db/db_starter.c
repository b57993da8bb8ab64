/* db_starter.c — the db starter's definition and lifecycle: an embedded
 * SQLite database per module (contract for modules: keel/starters/db.h).
 *
 * Built twice from these sources:
 *   1.0.0  exec, batch, query_i64, query_text, last_error, free
 *   1.1.0  (-DDB_STARTER_MINOR=1) + user_version, migrate; "info" also
 *          reports each open database's user_version and page counts
 * Same state_format: an upgrade keeps every connection and client.
 *
 * Connections: one per module NAME, opened by the first binding, shared by
 * every binding of that module (two versions during a switch), closed when
 * the last binding goes. Closing then (rather than at destroy) checkpoints
 * the WAL into the main file and releases the file, so an uninstalled
 * module's database is a single self-contained file an operator can copy,
 * and a base with many short-lived modules does not hold their handles.
 * Reopening on the next bind costs well under a millisecond.
 *
 * No background threads: resume only re-installs this code's authorizer on
 * the open connections (the old code's is about to be unloaded).
 */
#include "db_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef DB_STARTER_MINOR
#define DB_STARTER_MINOR 0
#endif

#if DB_STARTER_MINOR >= 1
#define DB_VERSION "1.1.0"
#define DB_SLOTS 8
#else
#define DB_VERSION "1.0.0"
#define DB_SLOTS 6
#endif

const char *db_code_version(void) { return DB_VERSION; }
size_t db_code_slots(void) { return DB_SLOTS; }

int db_module_name_ok(const char *name)
{
    if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
        return 0;
    size_t n = 1;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n <= DB_MODULE_MAX;
}

db_file *db_state_find(db_state *s, const char *module)
{
    for (db_file *f = s->files; f; f = f->next)
        if (strcmp(f->module, module) == 0)
            return f;
    return NULL;
}

char *db_state_path(const db_state *s, const char *module)
{
    size_t n = strlen(s->cfg.dir) + strlen(module) + sizeof "/.sqlite";
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s.sqlite", s->cfg.dir, module);
    return path;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return ENOMEM;
    int rc = 0;
    for (char *q = p + 1; rc == 0; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = errno;
        *q = c;
        if (c == '\0')
            break;
    }
    free(p);
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = ENOTDIR;
    return rc;
}

static keel_status db_create(const keel_starter_host *host, const char *config_json, void **state,
                             keel_starter_error *err)
{
    *state = NULL;
    if (!sqlite3_threadsafe()) {
        keel_starter_error_set(err, "db: the SQLite library was built without thread support");
        return KEEL_ERR_LOAD;
    }
    db_state *s = calloc(1, sizeof *s);
    if (!s) {
        keel_starter_error_set(err, "db: out of memory");
        return KEEL_ERR_NOMEM;
    }
    keel_status st = db_config_parse(config_json, host->work_dir, &s->cfg, err);
    if (st != KEEL_OK) {
        free(s);
        return st;
    }
    int rc = make_dirs(s->cfg.dir);
    if (rc != 0) {
        keel_starter_error_set(err, "db: cannot use directory %s: %s", s->cfg.dir, strerror(rc));
        db_config_clear(&s->cfg);
        free(s);
        return KEEL_ERR_IO;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->host = host;
    host->log(host, KEEL_LOG_INFO, "db %s: databases in %s (SQLite %s, synchronous=%s, busy_timeout_ms=%lld, "
              "max_result_bytes=%lld)", DB_VERSION, s->cfg.dir, sqlite3_libversion(),
              db_config_sync_name(s->cfg.synchronous), (long long)s->cfg.busy_timeout_ms,
              (long long)s->cfg.max_result_bytes);
    *state = s;
    return KEEL_OK;
}

static keel_status db_resume(void *state, const keel_starter_host *host, keel_starter_error *err)
{
    db_state *s = state;
    pthread_mutex_lock(&s->lock);
    for (db_file *f = s->files; f; f = f->next) {
        pthread_mutex_lock(&f->lock);
        if (f->conn)
            db_conn_guard(f, f->conn);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return KEEL_OK;
}

static void db_destroy(void *state)
{
    db_state *s = state;
    if (!s)
        return;
    for (db_file *f = s->files, *next; f; f = next) {
        next = f->next;
        db_conn_close(f);
        pthread_mutex_destroy(&f->lock);
        free(f->path);
        free(f);
    }
    pthread_mutex_destroy(&s->lock);
    db_config_clear(&s->cfg);
    free(s);
}

static db_file *file_new(db_state *s, const char *module)
{
    db_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->path = db_state_path(s, module);
    if (!f->path) {
        free(f);
        return NULL;
    }
    snprintf(f->module, sizeof f->module, "%s", module);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

static keel_status db_bind(void *state, const keel_starter_binding *who, void **client,
                           keel_starter_error *err)
{
    db_state *s = state;
    *client = NULL;
    if (!who || !db_module_name_ok(who->module)) {
        keel_starter_error_set(err, "db: cannot bind module \"%.80s\": a module name is [a-z][a-z0-9_-]{0,63}",
                               who && who->module ? who->module : "(null)");
        return KEEL_ERR_INVALID;
    }
    keel_db *c = calloc(1, sizeof *c);
    if (!c) {
        keel_starter_error_set(err, "db: out of memory");
        return KEEL_ERR_NOMEM;
    }
    snprintf(c->instance, sizeof c->instance, "%s", who->instance ? who->instance : who->module);
    pthread_mutex_init(&c->err_lock, NULL);
    c->state = s;

    pthread_mutex_lock(&s->lock);
    db_file *f = db_state_find(s, who->module);
    int fresh = f == NULL;
    if (fresh && !(f = file_new(s, who->module))) {
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&c->err_lock);
        free(c);
        keel_starter_error_set(err, "db: out of memory");
        return KEEL_ERR_NOMEM;
    }
    pthread_mutex_lock(&f->lock);
    keel_status st = db_conn_open(f, &s->cfg, err);
    pthread_mutex_unlock(&f->lock);
    if (st != KEEL_OK) {
        if (fresh) {
            pthread_mutex_destroy(&f->lock);
            free(f->path);
            free(f);
        }
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_destroy(&c->err_lock);
        free(c);
        return st;
    }
    if (fresh) {
        f->next = s->files;
        s->files = f;
    }
    if (f->bindings++ == 0)
        f->opens++;
    unsigned bindings = f->bindings;
    pthread_mutex_unlock(&s->lock);
    c->file = f;
    atomic_fetch_add(&s->binds_total, 1);
    s->host->log(s->host, KEEL_LOG_INFO, "%s bound to %s (%u binding%s)", c->instance, f->path, bindings,
                 bindings == 1 ? "" : "s");
    *client = c;
    return KEEL_OK;
}

static void db_unbind(void *state, void *client)
{
    db_state *s = state;
    keel_db *c = client;
    if (!c)
        return;
    db_file *f = c->file;
    pthread_mutex_lock(&s->lock);
    unsigned left = --f->bindings;
    if (left == 0) {
        pthread_mutex_lock(&f->lock);
        db_conn_close(f);
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&s->lock);
    s->host->log(s->host, KEEL_LOG_INFO, "%s unbound from %s (%u binding%s left%s)", c->instance, f->module,
                 left, left == 1 ? "" : "s", left == 0 ? ", database closed" : "");
    pthread_mutex_destroy(&c->err_lock);
    free(c);
}

static const keel_db_api db_table = {
#if DB_STARTER_MINOR >= 1
    .version = KEEL_DB_TABLE_1_1,
    .size = sizeof(keel_db_api),
    .user_version = db_slot_user_version,
    .migrate = db_slot_migrate,
#else
    .version = KEEL_DB_TABLE_1_0,
    .size = offsetof(keel_db_api, user_version),
#endif
    .exec = db_slot_exec,
    .batch = db_slot_batch,
    .query_i64 = db_slot_query_i64,
    .query_text = db_slot_query_text,
    .last_error = db_slot_last_error,
    .free = db_slot_free,
};

static const char *const db_signatures[] = {
    "i32(ptr,ptr,ptr,ptr)", /* exec */
    "i32(ptr,ptr,ptr)",     /* batch */
    "i32(ptr,ptr,ptr,ptr)", /* query_i64 */
    "i32(ptr,ptr,ptr,ptr)", /* query_text */
    "i32(ptr,ptr,u64)",     /* last_error */
    "void(ptr)",            /* free */
    "i32(ptr,ptr)",         /* user_version (1.1.0) */
    "i32(ptr,i64,ptr,ptr)", /* migrate (1.1.0) */
};

static const keel_starter_def db_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "db",
    .version = DB_VERSION,
    .state_format = DB_STATE_FORMAT,
    .table = &db_table,
    .slot_signatures = db_signatures,
    .slot_count = DB_SLOTS,
    .create = db_create,
    .resume = db_resume,
    .suspend = NULL,
    .destroy = db_destroy,
    .bind = db_bind,
    .unbind = db_unbind,
    .admin = db_admin,
};

KEEL_STARTER(db_def)

/* db_admin.c — operator commands of the db starter:
 *   info                          per module database: file, size, open or
 *                                 not, bindings, statements, errors, denied
 *                                 statements (1.1.0: user_version, pages)
 *   query {"module": "account", "sql": "SELECT ...", "params": [...]}
 *                                 one read-only statement on that module's
 *                                 database; rows as exec returns them
 */
#include "db_internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef DB_STARTER_MINOR
#define DB_STARTER_MINOR 0
#endif

static double file_size(const char *path, const char *suffix)
{
    char p[4200];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat sb;
    return stat(p, &sb) == 0 ? (double)sb.st_size : 0;
}

#if DB_STARTER_MINOR >= 1
/* 1.1.0: what the schema version and the page counts of an open
 * database are (f->lock held). */
static void info_schema(db_file *f, cJSON *m)
{
    static const char *const pragmas[][2] = {{"user_version", "PRAGMA user_version"},
                                             {"page_count", "PRAGMA page_count"},
                                             {"freelist_count", "PRAGMA freelist_count"}};
    for (size_t i = 0; i < 3; i++) {
        sqlite3_stmt *st = NULL;
        f->trusted++;
        if (sqlite3_prepare_v2(f->conn, pragmas[i][1], -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddNumberToObject(m, pragmas[i][0], (double)sqlite3_column_int64(st, 0));
        f->trusted--;
        sqlite3_finalize(st);
    }
}
#endif

static cJSON *info_module(db_file *f)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "module", f->module);
    cJSON_AddStringToObject(m, "file", f->path);
    cJSON_AddNumberToObject(m, "size_bytes", file_size(f->path, ""));
    cJSON_AddNumberToObject(m, "wal_bytes", file_size(f->path, "-wal"));
    pthread_mutex_lock(&f->lock);
    cJSON_AddBoolToObject(m, "open", f->conn != NULL);
#if DB_STARTER_MINOR >= 1
    if (f->conn)
        info_schema(f, m);
#endif
    pthread_mutex_unlock(&f->lock);
    cJSON_AddNumberToObject(m, "bindings", f->bindings);
    cJSON_AddNumberToObject(m, "opens", (double)f->opens);
    cJSON_AddNumberToObject(m, "statements", (double)atomic_load(&f->statements));
    cJSON_AddNumberToObject(m, "errors", (double)atomic_load(&f->errors));
    cJSON_AddNumberToObject(m, "denied", (double)atomic_load(&f->denied));
    return m;
}

/* Database files in the directory that no module has bound since the
 * starter was created (left by an earlier run of the base). */
static void info_unbound(db_state *s, cJSON *modules)
{
    DIR *d = opendir(s->cfg.dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 7 || n - 7 > DB_MODULE_MAX || strcmp(e->d_name + n - 7, ".sqlite") != 0)
            continue;
        char module[DB_MODULE_MAX + 1];
        snprintf(module, sizeof module, "%.*s", (int)(n - 7), e->d_name);
        if (!db_module_name_ok(module) || db_state_find(s, module))
            continue;
        char *path = db_state_path(s, module);
        if (!path)
            continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "module", module);
        cJSON_AddStringToObject(m, "file", path);
        cJSON_AddNumberToObject(m, "size_bytes", file_size(path, ""));
        cJSON_AddNumberToObject(m, "wal_bytes", file_size(path, "-wal"));
        cJSON_AddBoolToObject(m, "open", 0);
        cJSON_AddNumberToObject(m, "bindings", 0);
        cJSON_AddBoolToObject(m, "bound_since_start", 0);
        cJSON_AddItemToArray(modules, m);
        free(path);
    }
    closedir(d);
}

static keel_status admin_info(db_state *s, char **result_json, keel_starter_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "starter", "db");
    cJSON_AddStringToObject(root, "version", db_code_version());
    cJSON_AddStringToObject(root, "sqlite", sqlite3_libversion());
    cJSON_AddStringToObject(root, "dir", s->cfg.dir);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "busy_timeout_ms", (double)s->cfg.busy_timeout_ms);
    cJSON_AddStringToObject(cfg, "synchronous", db_config_sync_name(s->cfg.synchronous));
    cJSON_AddNumberToObject(cfg, "max_result_bytes", (double)s->cfg.max_result_bytes);
    cJSON_AddNumberToObject(root, "slots", (double)db_code_slots());
    cJSON_AddNumberToObject(root, "binds_total", (double)atomic_load(&s->binds_total));
    cJSON *modules = cJSON_AddArrayToObject(root, "modules");
    double open = 0, bindings = 0, statements = 0, errors = 0, denied = 0;
    pthread_mutex_lock(&s->lock);
    for (db_file *f = s->files; f; f = f->next) {
        cJSON *m = info_module(f);
        open += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "open"));
        bindings += f->bindings;
        statements += (double)atomic_load(&f->statements);
        errors += (double)atomic_load(&f->errors);
        denied += (double)atomic_load(&f->denied);
        cJSON_AddItemToArray(modules, m);
    }
    info_unbound(s, modules);
    pthread_mutex_unlock(&s->lock);
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(totals, "modules", cJSON_GetArraySize(modules));
    cJSON_AddNumberToObject(totals, "open", open);
    cJSON_AddNumberToObject(totals, "bindings", bindings);
    cJSON_AddNumberToObject(totals, "statements", statements);
    cJSON_AddNumberToObject(totals, "errors", errors);
    cJSON_AddNumberToObject(totals, "denied", denied);
    *result_json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!*result_json) {
        keel_starter_error_set(err, "db: out of memory");
        return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

/* Runs the read-only statement on f (f->lock held, f->conn open). */
static keel_status query_run(db_state *s, db_file *f, const char *sql, const cJSON *params,
                             char **result_json, keel_starter_error *err)
{
    sqlite3_stmt *stmt = NULL;
    keel_starter_error e = {{0}};
    keel_status st = db_run_prepare(f, sql, &stmt, &e);
    if (st == KEEL_OK && !sqlite3_stmt_readonly(stmt)) {
        keel_starter_error_set(&e, "only read-only statements are allowed here (this one writes)");
        st = KEEL_ERR_DENIED;
    }
    if (st == KEEL_OK)
        st = db_run_bind(stmt, params, &e);
    db_buf out = {.max = (size_t)s->cfg.max_result_bytes};
    if (st == KEEL_OK)
        st = db_run_step(f, stmt, &out, &e);
    sqlite3_finalize(stmt);
    if (st == KEEL_OK && !(*result_json = db_buf_take(&out)))
        st = KEEL_ERR_NOMEM;
    db_buf_clear(&out);
    if (st != KEEL_OK)
        keel_starter_error_set(err, "db: query on %s: %s", f->module, e.message[0] ? e.message : "out of memory");
    return st;
}

/* A module that has no open connection: a short-lived one, query_only. */
static keel_status query_closed(db_state *s, const char *module, const char *sql, const cJSON *params,
                                char **result_json, keel_starter_error *err)
{
    db_file tmp = {0};
    snprintf(tmp.module, sizeof tmp.module, "%s", module);
    tmp.path = db_state_path(s, module);
    if (!tmp.path)
        return KEEL_ERR_NOMEM;
    struct stat sb;
    if (stat(tmp.path, &sb) != 0) {
        keel_starter_error_set(err, "db: module \"%s\" has no database (no %s)", module, tmp.path);
        free(tmp.path);
        return KEEL_ERR_NOT_FOUND;
    }
    keel_status st = KEEL_ERR_IO;
    int rc = sqlite3_open_v2(tmp.path, &tmp.conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_db_config(tmp.conn, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
        sqlite3_limit(tmp.conn, SQLITE_LIMIT_ATTACHED, 0);
        sqlite3_busy_timeout(tmp.conn, (int)s->cfg.busy_timeout_ms);
        st = db_conn_exec_trusted(&tmp, tmp.conn, "PRAGMA query_only=1", err);
        db_conn_guard(&tmp, tmp.conn);
        if (st == KEEL_OK)
            st = query_run(s, &tmp, sql, params, result_json, err);
    } else {
        keel_starter_error_set(err, "db: cannot open %s: %s", tmp.path, sqlite3_errstr(rc));
    }
    sqlite3_close(tmp.conn);
    free(tmp.path);
    return st;
}

static keel_status admin_query(db_state *s, const char *args_json, char **result_json,
                               keel_starter_error *err)
{
    cJSON *args = args_json ? cJSON_Parse(args_json) : NULL;
    const cJSON *module = cJSON_GetObjectItemCaseSensitive(args, "module");
    const cJSON *sql = cJSON_GetObjectItemCaseSensitive(args, "sql");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(args, "params");
    if (!cJSON_IsObject(args) || !cJSON_IsString(module) || !cJSON_IsString(sql) ||
        (params && !cJSON_IsArray(params) && !cJSON_IsNull(params))) {
        keel_starter_error_set(err, "db: query expects {\"module\": \"NAME\", \"sql\": \"SELECT ...\", "
                                    "\"params\": [...] (optional)}");
        cJSON_Delete(args);
        return KEEL_ERR_INVALID;
    }
    if (cJSON_IsNull(params))
        params = NULL;
    if (!db_module_name_ok(module->valuestring)) {
        keel_starter_error_set(err, "db: query: \"%.80s\" is not a module name", module->valuestring);
        cJSON_Delete(args);
        return KEEL_ERR_INVALID;
    }
    pthread_mutex_lock(&s->lock);
    db_file *f = db_state_find(s, module->valuestring);
    pthread_mutex_unlock(&s->lock);
    keel_status st = KEEL_ERR_NOT_FOUND;
    int done = 0;
    if (f) {
        pthread_mutex_lock(&f->lock);
        if (f->conn) {
            st = query_run(s, f, sql->valuestring, params, result_json, err);
            done = 1;
        }
        pthread_mutex_unlock(&f->lock);
    }
    if (!done)
        st = query_closed(s, module->valuestring, sql->valuestring, params, result_json, err);
    cJSON_Delete(args);
    return st;
}

keel_status db_admin(void *state, const char *op, const char *args_json, char **result_json,
                     keel_starter_error *err)
{
    db_state *s = state;
    *result_json = NULL;
    if (op && strcmp(op, "info") == 0)
        return admin_info(s, result_json, err);
    if (op && strcmp(op, "query") == 0)
        return admin_query(s, args_json, result_json, err);
    keel_starter_error_set(err, "db: unknown admin op \"%.60s\" (known: info, query)", op ? op : "");
    return KEEL_ERR_NOT_FOUND;
}

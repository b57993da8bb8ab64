/* db_run.c — runs module statements on a file's connection: exactly one
 * statement per text, parameters bound from JSON, results written as JSON,
 * batch items inside one transaction. Every function here expects the
 * file's lock to be held and f->conn open. */
#include "db_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

keel_status db_run_fail(db_file *f, int rc, keel_starter_error *err)
{
    keel_status st = db_conn_status(rc);
    /* The authorizer said why; SQLite reports some refusals (functions)
     * as plain errors. */
    if (f->deny_reason[0] && (st == KEEL_ERR_DENIED || st == KEEL_ERR_INVALID))
        st = KEEL_ERR_DENIED;
    if (st == KEEL_ERR_DENIED) {
        atomic_fetch_add(&f->denied, 1);
        keel_starter_error_set(err, "denied: %s",
                               f->deny_reason[0] ? f->deny_reason : sqlite3_errmsg(f->conn));
    } else if (st == KEEL_ERR_BUSY) {
        keel_starter_error_set(err, "%s (another process held the database longer than "
                                    "busy_timeout_ms)", sqlite3_errmsg(f->conn));
    } else {
        keel_starter_error_set(err, "%s", sqlite3_errmsg(f->conn));
    }
    return st;
}

keel_status db_run_parse_params(const char *params_json, cJSON **out, keel_starter_error *err)
{
    *out = NULL;
    if (!params_json)
        return KEEL_OK;
    cJSON *doc = cJSON_Parse(params_json);
    if (!cJSON_IsArray(doc)) {
        keel_starter_error_set(err, "params_json: expected a JSON array of parameters, got %s",
                               doc ? "another JSON value" : "text that is not JSON");
        cJSON_Delete(doc);
        return KEEL_ERR_INVALID;
    }
    *out = doc;
    return KEEL_OK;
}

keel_status db_run_prepare(db_file *f, const char *sql, sqlite3_stmt **out, keel_starter_error *err)
{
    *out = NULL;
    if (!sql) {
        keel_starter_error_set(err, "no SQL given");
        return KEEL_ERR_INVALID;
    }
    f->deny_reason[0] = '\0';
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(f->conn, sql, -1, out, &tail);
    if (rc != SQLITE_OK)
        return db_run_fail(f, rc, err);
    if (!*out) {
        keel_starter_error_set(err, "the SQL text holds no statement");
        return KEEL_ERR_INVALID;
    }
    /* Only spaces, comments and ';' may follow: another statement is a
     * batch's job (its items run in one transaction, exec's do not). */
    while (tail && *tail) {
        sqlite3_stmt *next = NULL;
        const char *after = NULL;
        rc = sqlite3_prepare_v2(f->conn, tail, -1, &next, &after);
        sqlite3_finalize(next);
        if (rc != SQLITE_OK || next != NULL) {
            sqlite3_finalize(*out);
            *out = NULL;
            keel_starter_error_set(err, "more than one statement in one call (use batch)");
            return KEEL_ERR_INVALID;
        }
        if (after == tail)
            break;
        tail = after;
    }
    return KEEL_OK;
}

static keel_status bind_object(sqlite3_stmt *stmt, int i, const cJSON *v, keel_starter_error *err)
{
    const cJSON *only = v->child;
    if (only && !only->next && cJSON_IsString(only) && strcmp(only->string, "blob_base64") == 0) {
        unsigned char *data = NULL;
        size_t n = 0;
        keel_status st = db_json_base64_decode(only->valuestring, &data, &n);
        if (st != KEEL_OK) {
            keel_starter_error_set(err, "parameter %d: \"blob_base64\" is not padded standard base64", i);
            return st;
        }
        int rc = n == 0 ? sqlite3_bind_zeroblob(stmt, i, 0)
                        : sqlite3_bind_blob64(stmt, i, data, n, SQLITE_TRANSIENT);
        free(data);
        if (rc != SQLITE_OK)
            keel_starter_error_set(err, "parameter %d: %s", i, sqlite3_errstr(rc));
        return db_conn_status(rc);
    }
    if (only && !only->next && cJSON_IsString(only) && strcmp(only->string, "i64") == 0) {
        const char *s = only->valuestring;
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s || *end != '\0' || errno == ERANGE || s[0] == ' ' || s[0] == '+') {
            keel_starter_error_set(err, "parameter %d: \"i64\" must be a decimal integer in the int64 range", i);
            return KEEL_ERR_INVALID;
        }
        return db_conn_status(sqlite3_bind_int64(stmt, i, (sqlite3_int64)x));
    }
    keel_starter_error_set(err, "parameter %d: an object parameter is {\"blob_base64\": \"...\"} or "
                                "{\"i64\": \"...\"}", i);
    return KEEL_ERR_INVALID;
}

keel_status db_run_bind(sqlite3_stmt *stmt, const cJSON *params, keel_starter_error *err)
{
    int want = sqlite3_bind_parameter_count(stmt);
    int have = params ? cJSON_GetArraySize(params) : 0;
    if (want != have) {
        keel_starter_error_set(err, "the statement has %d parameter%s, params_json gives %d", want,
                               want == 1 ? "" : "s", have);
        return KEEL_ERR_INVALID;
    }
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, params) {
        i++;
        int rc;
        if (cJSON_IsNull(v)) {
            rc = sqlite3_bind_null(stmt, i);
        } else if (cJSON_IsBool(v)) {
            rc = sqlite3_bind_int64(stmt, i, cJSON_IsTrue(v) ? 1 : 0);
        } else if (cJSON_IsNumber(v)) {
            double d = v->valuedouble;
            if (isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0)
                rc = sqlite3_bind_int64(stmt, i, (sqlite3_int64)d);
            else
                rc = sqlite3_bind_double(stmt, i, d);
        } else if (cJSON_IsString(v)) {
            rc = sqlite3_bind_text64(stmt, i, v->valuestring, strlen(v->valuestring),
                                     SQLITE_TRANSIENT, SQLITE_UTF8);
        } else if (cJSON_IsObject(v)) {
            keel_status st = bind_object(stmt, i, v, err);
            if (st != KEEL_OK)
                return st;
            continue;
        } else {
            keel_starter_error_set(err, "parameter %d: expected null, a boolean, a number, a string, "
                                        "{\"blob_base64\": ...} or {\"i64\": ...}", i);
            return KEEL_ERR_INVALID;
        }
        if (rc != SQLITE_OK) {
            keel_starter_error_set(err, "parameter %d: %s", i, sqlite3_errstr(rc));
            return db_conn_status(rc);
        }
    }
    return KEEL_OK;
}

/* Appends one row object. */
static keel_status row_json(db_buf *out, sqlite3_stmt *stmt, int cols, int first)
{
    keel_status st = db_buf_puts(out, first ? "{" : ",{");
    for (int c = 0; c < cols && st == KEEL_OK; c++) {
        const char *name = sqlite3_column_name(stmt, c);
        if (c > 0)
            st = db_buf_puts(out, ",");
        if (st == KEEL_OK)
            st = db_json_string(out, name ? name : "", name ? strlen(name) : 0);
        if (st == KEEL_OK)
            st = db_buf_puts(out, ":");
        if (st != KEEL_OK)
            break;
        char num[40];
        switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
            snprintf(num, sizeof num, "%lld", (long long)sqlite3_column_int64(stmt, c));
            st = db_buf_puts(out, num);
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_column_double(stmt, c);
            if (isinf(d))
                snprintf(num, sizeof num, "%s", d > 0 ? "1e999" : "-1e999");
            else if (isnan(d))
                snprintf(num, sizeof num, "null");
            else
                snprintf(num, sizeof num, "%.17g", d);
            st = db_buf_puts(out, num);
            break;
        }
        case SQLITE_TEXT: {
            const unsigned char *t = sqlite3_column_text(stmt, c);
            int n = sqlite3_column_bytes(stmt, c);
            st = t ? db_json_string(out, (const char *)t, (size_t)n) : KEEL_ERR_NOMEM;
            break;
        }
        case SQLITE_BLOB: {
            const void *b = sqlite3_column_blob(stmt, c);
            int n = sqlite3_column_bytes(stmt, c);
            st = db_buf_puts(out, "{\"blob_base64\":\"");
            if (st == KEEL_OK)
                st = db_json_base64(out, b, (size_t)n);
            if (st == KEEL_OK)
                st = db_buf_puts(out, "\"}");
            break;
        }
        default:
            st = db_buf_puts(out, "null");
            break;
        }
    }
    if (st == KEEL_OK)
        st = db_buf_puts(out, "}");
    return st;
}

static keel_status out_fail(keel_status st, const db_buf *out, keel_starter_error *err)
{
    if (st == KEEL_ERR_LIMIT)
        keel_starter_error_set(err, "the result is larger than max_result_bytes (%zu bytes)", out->max);
    else
        keel_starter_error_set(err, "out of memory writing the result");
    return st;
}

keel_status db_run_step(db_file *f, sqlite3_stmt *stmt, db_buf *out, keel_starter_error *err)
{
    int cols = sqlite3_column_count(stmt);
    sqlite3_int64 before = sqlite3_total_changes64(f->conn);
    keel_status st = KEEL_OK;
    if (out && cols > 0 && (st = db_buf_puts(out, "[")) != KEEL_OK)
        return out_fail(st, out, err);
    for (int rows = 0;; rows++) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return db_run_fail(f, rc, err);
        if (out && cols > 0 && (st = row_json(out, stmt, cols, rows == 0)) != KEEL_OK)
            return out_fail(st, out, err);
    }
    if (!out)
        return KEEL_OK;
    if (cols > 0) {
        st = db_buf_puts(out, "]");
    } else {
        /* sqlite3_changes64 keeps the count of the last INSERT/UPDATE/DELETE;
         * a statement that changed nothing (CREATE, a no-op UPDATE) is 0. */
        sqlite3_int64 changes = sqlite3_total_changes64(f->conn) == before ? 0 : sqlite3_changes64(f->conn);
        char text[96];
        snprintf(text, sizeof text, "{\"changes\":%lld,\"last_insert_rowid\":%lld}", (long long)changes,
                 (long long)sqlite3_last_insert_rowid(f->conn));
        st = db_buf_puts(out, text);
    }
    return st == KEEL_OK ? KEEL_OK : out_fail(st, out, err);
}

keel_status db_run_finish(db_file *f, keel_status st, keel_starter_error *err)
{
    if (sqlite3_get_autocommit(f->conn))
        return st; /* nothing open (SQLite rolls back by itself after some errors) */
    if (st == KEEL_OK) {
        keel_starter_error e;
        st = db_conn_exec_trusted(f, f->conn, "COMMIT", &e);
        if (st == KEEL_OK)
            return KEEL_OK;
        keel_starter_error_set(err, "commit failed: %s", e.message);
    }
    if (!sqlite3_get_autocommit(f->conn)) {
        keel_starter_error ignored;
        db_conn_exec_trusted(f, f->conn, "ROLLBACK", &ignored);
    }
    return st;
}

keel_status db_run_one(db_file *f, const char *sql, const cJSON *params, db_buf *out,
                       keel_starter_error *err)
{
    sqlite3_stmt *stmt = NULL;
    keel_status st = db_run_prepare(f, sql, &stmt, err);
    if (st == KEEL_OK)
        st = db_run_bind(stmt, params, err);
    if (st != KEEL_OK) {
        sqlite3_finalize(stmt);
        return st;
    }
    atomic_fetch_add(&f->statements, 1);
    /* A writing statement that returns rows (... RETURNING) makes its
     * changes before its rows are read: when the result then turns out too
     * large, only a transaction of its own can take the changes back. */
    int wrap = out && sqlite3_get_autocommit(f->conn) && sqlite3_column_count(stmt) > 0 &&
               !sqlite3_stmt_readonly(stmt);
    if (wrap)
        st = db_conn_exec_trusted(f, f->conn, "BEGIN IMMEDIATE", err);
    if (st == KEEL_OK)
        st = db_run_step(f, stmt, out, err);
    sqlite3_finalize(stmt);
    if (wrap)
        st = db_run_finish(f, st, err);
    return st;
}

/* The SQL and params of a checked batch item. */
static void item_parts(const cJSON *item, const char **sql, const cJSON **params)
{
    if (cJSON_IsString(item)) {
        *sql = item->valuestring;
        *params = NULL;
        return;
    }
    *sql = cJSON_GetObjectItemCaseSensitive(item, "sql")->valuestring;
    *params = cJSON_GetObjectItemCaseSensitive(item, "params");
    if (cJSON_IsNull(*params))
        *params = NULL;
}

keel_status db_run_parse_batch(const char *statements_json, int allow_empty, cJSON **out,
                               keel_starter_error *err)
{
    *out = NULL;
    cJSON *doc = statements_json ? cJSON_Parse(statements_json) : NULL;
    if (!cJSON_IsArray(doc) || (!allow_empty && cJSON_GetArraySize(doc) == 0)) {
        keel_starter_error_set(err, "statements_json: expected a %sJSON array of {\"sql\": \"...\", "
                                    "\"params\": [...]} objects or SQL strings",
                               allow_empty ? "" : "non-empty ");
        cJSON_Delete(doc);
        return KEEL_ERR_INVALID;
    }
    int n = cJSON_GetArraySize(doc), i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, doc) {
        i++;
        if (cJSON_IsString(item))
            continue;
        int ok = cJSON_IsObject(item);
        const cJSON *m;
        int has_sql = 0;
        const cJSON *members = ok ? item : NULL; /* the macro wants a plain name */
        cJSON_ArrayForEach(m, members) {
            if (strcmp(m->string, "sql") == 0 && cJSON_IsString(m))
                has_sql = 1;
            else if (!(strcmp(m->string, "params") == 0 && (cJSON_IsArray(m) || cJSON_IsNull(m))))
                ok = 0;
        }
        if (!ok || !has_sql) {
            keel_starter_error_set(err, "statement %d of %d: expected {\"sql\": \"...\", \"params\": "
                                        "[...]} (params optional) or an SQL string", i, n);
            cJSON_Delete(doc);
            return KEEL_ERR_INVALID;
        }
    }
    *out = doc;
    return KEEL_OK;
}

keel_status db_run_items(db_file *f, const cJSON *items, db_buf *out, keel_starter_error *err)
{
    int n = cJSON_GetArraySize(items), i = 0;
    keel_status st = out ? db_buf_puts(out, "[") : KEEL_OK;
    if (st != KEEL_OK)
        return out_fail(st, out, err);
    const cJSON *item;
    cJSON_ArrayForEach(item, items) {
        i++;
        const char *sql;
        const cJSON *params;
        item_parts(item, &sql, &params);
        keel_starter_error e = {{0}};
        if (out && i > 1 && (st = db_buf_puts(out, ",")) != KEEL_OK)
            st = out_fail(st, out, &e);
        if (st == KEEL_OK)
            st = db_run_one(f, sql, params, out, &e);
        if (st != KEEL_OK) {
            keel_starter_error_set(err, "statement %d of %d: %.460s", i, n, e.message);
            return st;
        }
    }
    if (out && (st = db_buf_puts(out, "]")) != KEEL_OK) {
        keel_starter_error e;
        out_fail(st, out, &e);
        keel_starter_error_set(err, "statement %d of %d: %.460s", n, n, e.message);
    }
    return st;
}

keel_status db_run_user_version(db_file *f, int64_t *out, keel_starter_error *err)
{
    sqlite3_stmt *stmt = NULL;
    f->trusted++;
    int rc = sqlite3_prepare_v2(f->conn, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    f->trusted--;
    keel_status st = KEEL_OK;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(stmt, 0);
    else
        st = db_run_fail(f, rc, err);
    sqlite3_finalize(stmt);
    return st;
}

/* db_slots.c — the slots of keel_db_api (contract: keel/starters/db.h).
 *
 * Every slot: check arguments, parse JSON outside the lock, run under the
 * module file's lock, and on failure count it and remember the message for
 * the calling thread (last_error). */
#include "db_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DB_STARTER_MINOR
#define DB_STARTER_MINOR 0
#endif

/* Remembers `message` as this thread's last error on client c: the
 * thread's own slot, else a free one, else the least recently written. */
static void client_remember(keel_db *c, const char *message)
{
    pid_t tid = gettid();
    pthread_mutex_lock(&c->err_lock);
    db_thread_error *slot = NULL, *oldest = &c->errors[0];
    for (size_t i = 0; i < DB_THREAD_ERRORS && !slot; i++) {
        if (c->errors[i].tid == tid)
            slot = &c->errors[i];
        else if (c->errors[i].used < oldest->used)
            oldest = &c->errors[i];
    }
    if (!slot)
        slot = oldest; /* a free slot has used == 0, so it is the oldest */
    slot->tid = tid;
    slot->used = ++c->err_clock;
    snprintf(slot->message, sizeof slot->message, "%s", message);
    pthread_mutex_unlock(&c->err_lock);
}

static keel_status call_end(keel_db *c, keel_status st, const keel_starter_error *e)
{
    if (st == KEEL_OK)
        return st;
    atomic_fetch_add(&c->file->errors, 1);
    client_remember(c, e->message[0] ? e->message : "failed");
    if (st == KEEL_ERR_DENIED)
        c->state->host->log(c->state->host, KEEL_LOG_WARN, "%s: %s", c->instance, e->message);
    return st;
}

static keel_status no_client(keel_starter_error *e)
{
    keel_starter_error_set(e, "no client (NULL)");
    return KEEL_ERR_INVALID;
}

/* Hands the finished buffer to *out (which may be NULL: not wanted). */
static keel_status give(db_buf *b, char **out, keel_starter_error *e)
{
    if (!out)
        return KEEL_OK;
    *out = db_buf_take(b);
    if (*out)
        return KEEL_OK;
    keel_starter_error_set(e, "out of memory");
    return KEEL_ERR_NOMEM;
}

keel_status db_slot_exec(keel_db *c, const char *sql, const char *params_json, char **result_json)
{
    if (result_json)
        *result_json = NULL;
    keel_starter_error e = {{0}};
    if (!c)
        return no_client(&e);
    cJSON *params = NULL;
    keel_status st = db_run_parse_params(params_json, &params, &e);
    db_buf out = {.max = (size_t)c->state->cfg.max_result_bytes};
    if (st == KEEL_OK) {
        db_file *f = c->file;
        pthread_mutex_lock(&f->lock);
        st = db_run_one(f, sql, params, result_json ? &out : NULL, &e);
        pthread_mutex_unlock(&f->lock);
    }
    if (st == KEEL_OK)
        st = give(&out, result_json, &e);
    db_buf_clear(&out);
    cJSON_Delete(params);
    return call_end(c, st, &e);
}

keel_status db_slot_batch(keel_db *c, const char *statements_json, char **results_json)
{
    if (results_json)
        *results_json = NULL;
    keel_starter_error e = {{0}};
    if (!c)
        return no_client(&e);
    cJSON *items = NULL;
    keel_status st = db_run_parse_batch(statements_json, 0, &items, &e);
    db_buf out = {.max = (size_t)c->state->cfg.max_result_bytes};
    if (st == KEEL_OK) {
        db_file *f = c->file;
        pthread_mutex_lock(&f->lock);
        st = db_conn_exec_trusted(f, f->conn, "BEGIN IMMEDIATE", &e);
        if (st == KEEL_OK)
            st = db_run_items(f, items, results_json ? &out : NULL, &e);
        st = db_run_finish(f, st, &e);
        pthread_mutex_unlock(&f->lock);
    }
    if (st == KEEL_OK)
        st = give(&out, results_json, &e);
    db_buf_clear(&out);
    cJSON_Delete(items);
    return call_end(c, st, &e);
}

/* Reads column 0 of the current row into *iout or a malloc'd *tout. */
static keel_status first_value(sqlite3_stmt *stmt, int64_t max, int64_t *iout, char **tout,
                               keel_starter_error *e)
{
    int type = sqlite3_column_type(stmt, 0);
    if (type == SQLITE_NULL) {
        keel_starter_error_set(e, "the first column is NULL");
        return KEEL_ERR_NOT_FOUND;
    }
    if (tout) {
        const unsigned char *t = sqlite3_column_text(stmt, 0);
        size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
        if (!t) {
            keel_starter_error_set(e, "out of memory");
            return KEEL_ERR_NOMEM;
        }
        if (n > (size_t)max) {
            keel_starter_error_set(e, "the value is larger than max_result_bytes (%lld bytes)", (long long)max);
            return KEEL_ERR_LIMIT;
        }
        *tout = malloc(n + 1);
        if (!*tout) {
            keel_starter_error_set(e, "out of memory");
            return KEEL_ERR_NOMEM;
        }
        memcpy(*tout, t, n);
        (*tout)[n] = '\0';
        return KEEL_OK;
    }
    if (type == SQLITE_INTEGER) {
        *iout = sqlite3_column_int64(stmt, 0);
        return KEEL_OK;
    }
    double d = sqlite3_column_double(stmt, 0);
    if (type == SQLITE_FLOAT && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
        *iout = (int64_t)d;
        return KEEL_OK;
    }
    keel_starter_error_set(e, "the first column is %s, not an integer",
                           type == SQLITE_FLOAT ? "a fractional REAL" : type == SQLITE_TEXT ? "TEXT" : "a BLOB");
    return KEEL_ERR_INVALID;
}

static keel_status query_first(db_file *f, const char *sql, const cJSON *params, int64_t max,
                               int64_t *iout, char **tout, keel_starter_error *e)
{
    sqlite3_stmt *stmt = NULL;
    keel_status st = db_run_prepare(f, sql, &stmt, e);
    if (st == KEEL_OK)
        st = db_run_bind(stmt, params, e);
    if (st != KEEL_OK) {
        sqlite3_finalize(stmt);
        return st;
    }
    atomic_fetch_add(&f->statements, 1);
    /* A writing statement runs to its end; in a transaction of its own so
     * that a value we refuse (type, size) takes its changes back. */
    int writes = !sqlite3_stmt_readonly(stmt);
    int wrap = writes && sqlite3_get_autocommit(f->conn);
    if (wrap)
        st = db_conn_exec_trusted(f, f->conn, "BEGIN IMMEDIATE", e);
    int rc = st == KEEL_OK ? sqlite3_step(stmt) : SQLITE_OK;
    if (rc == SQLITE_ROW) {
        st = first_value(stmt, max, iout, tout, e);
        while (writes && (st == KEEL_OK || st == KEEL_ERR_NOT_FOUND) && rc == SQLITE_ROW)
            rc = sqlite3_step(stmt);
    } else if (rc == SQLITE_DONE) {
        keel_starter_error_set(e, "the query returned no row");
        st = KEEL_ERR_NOT_FOUND;
    }
    if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = db_run_fail(f, rc, e);
    }
    sqlite3_finalize(stmt);
    if (wrap) {
        /* "no row" is an answer, not a failure: what ran stays applied */
        keel_status end = db_run_finish(f, st == KEEL_ERR_NOT_FOUND ? KEEL_OK : st, e);
        if (end != KEEL_OK)
            st = end;
    }
    if (st != KEEL_OK && tout) {
        free(*tout);
        *tout = NULL;
    }
    return st;
}

static keel_status query_slot(keel_db *c, const char *sql, const char *params_json, int64_t *iout,
                              char **tout)
{
    keel_starter_error e = {{0}};
    if (!c)
        return no_client(&e);
    if (!iout && !tout) {
        keel_starter_error_set(&e, "no output pointer");
        return call_end(c, KEEL_ERR_INVALID, &e);
    }
    cJSON *params = NULL;
    keel_status st = db_run_parse_params(params_json, &params, &e);
    int64_t value = 0;
    char *text = NULL;
    if (st == KEEL_OK) {
        db_file *f = c->file;
        pthread_mutex_lock(&f->lock);
        st = query_first(f, sql, params, c->state->cfg.max_result_bytes, &value, tout ? &text : NULL, &e);
        pthread_mutex_unlock(&f->lock);
    }
    cJSON_Delete(params);
    if (st == KEEL_OK) {
        if (tout)
            *tout = text;
        else
            *iout = value;
    }
    return call_end(c, st, &e);
}

keel_status db_slot_query_i64(keel_db *c, const char *sql, const char *params_json, int64_t *out)
{
    return query_slot(c, sql, params_json, out, NULL);
}

keel_status db_slot_query_text(keel_db *c, const char *sql, const char *params_json, char **out)
{
    if (out)
        *out = NULL;
    return query_slot(c, sql, params_json, NULL, out);
}

keel_status db_slot_last_error(keel_db *c, char *buf, size_t size)
{
    if (!buf || size == 0)
        return KEEL_ERR_INVALID;
    buf[0] = '\0';
    if (!c)
        return KEEL_ERR_INVALID;
    pid_t tid = gettid();
    keel_status st = KEEL_ERR_NOT_FOUND;
    pthread_mutex_lock(&c->err_lock);
    for (size_t i = 0; i < DB_THREAD_ERRORS; i++) {
        if (c->errors[i].tid == tid) {
            snprintf(buf, size, "%s", c->errors[i].message);
            st = KEEL_OK;
            break;
        }
    }
    pthread_mutex_unlock(&c->err_lock);
    return st;
}

void db_slot_free(void *ptr)
{
    free(ptr);
}

#if DB_STARTER_MINOR >= 1

keel_status db_slot_user_version(keel_db *c, int64_t *out)
{
    keel_starter_error e = {{0}};
    if (!c)
        return no_client(&e);
    if (!out) {
        keel_starter_error_set(&e, "no output pointer");
        return call_end(c, KEEL_ERR_INVALID, &e);
    }
    db_file *f = c->file;
    pthread_mutex_lock(&f->lock);
    keel_status st = db_run_user_version(f, out, &e);
    pthread_mutex_unlock(&f->lock);
    return call_end(c, st, &e);
}

keel_status db_slot_migrate(keel_db *c, int64_t target_version, const char *statements_json,
                            int64_t *from_version)
{
    keel_starter_error e = {{0}};
    if (!c)
        return no_client(&e);
    if (target_version <= 0 || target_version > INT32_MAX) {
        keel_starter_error_set(&e, "migrate: target_version must be 1..%d, got %lld", INT32_MAX,
                               (long long)target_version);
        return call_end(c, KEEL_ERR_INVALID, &e);
    }
    cJSON *items = NULL;
    keel_status st = db_run_parse_batch(statements_json, 1, &items, &e);
    int64_t from = 0;
    if (st == KEEL_OK) {
        db_file *f = c->file;
        pthread_mutex_lock(&f->lock);
        st = db_conn_exec_trusted(f, f->conn, "BEGIN IMMEDIATE", &e);
        if (st == KEEL_OK)
            st = db_run_user_version(f, &from, &e);
        if (st == KEEL_OK && from < target_version) {
            st = db_run_items(f, items, NULL, &e);
            char sql[64];
            snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)target_version);
            if (st == KEEL_OK)
                st = db_conn_exec_trusted(f, f->conn, sql, &e);
        }
        st = db_run_finish(f, st, &e);
        pthread_mutex_unlock(&f->lock);
    }
    cJSON_Delete(items);
    if (st == KEEL_OK && from < target_version)
        c->state->host->log(c->state->host, KEEL_LOG_INFO, "%s: schema of %s migrated from version %lld to %lld",
                            c->instance, c->file->module, (long long)from, (long long)target_version);
    if (st == KEEL_OK && from_version)
        *from_version = from;
    if (st != KEEL_OK) {
        keel_starter_error m;
        snprintf(m.message, sizeof m.message, "migrate to %lld: %.460s", (long long)target_version, e.message);
        e = m;
    }
    return call_end(c, st, &e);
}

#endif

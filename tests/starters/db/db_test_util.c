/* db_test_util.c — see db_test_util.h. */
#include "db_test_util.h"

#include <check.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *db_test_mkdtemp(void)
{
    char tmpl[] = "/tmp/keel-db-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void db_test_remove(char *dir)
{
    if (!dir)
        return;
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *db_test_path(const char *base, const char *name)
{
    size_t n = strlen(base) + strlen(name) + 2;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    snprintf(p, n, "%s/%s", base, name);
    return p;
}

starter_harness *db_test_open(const char *so, const char *work, const char *config)
{
    char *dir = db_test_path(work, "db");
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(so, dir, config, NULL, NULL, NULL, &h, &err);
    ck_assert_msg(st == KEEL_OK, "open %s: status %d: %s", so, (int)st, err.message);
    free(dir);
    return h;
}

const keel_db_api *db_test_api(starter_harness *h)
{
    return starter_harness_table(h);
}

keel_db *db_test_bind(starter_harness *h, const char *module)
{
    void *client = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_bind(h, module, NULL, &client, &err);
    ck_assert_msg(st == KEEL_OK, "bind %s: status %d: %s", module, (int)st, err.message);
    ck_assert_ptr_nonnull(client);
    return client;
}

const char *db_test_last_error(starter_harness *h, keel_db *c)
{
    static _Thread_local char buf[KEEL_STARTER_ERROR_SIZE];
    db_test_api(h)->last_error(c, buf, sizeof buf);
    return buf;
}

char *db_test_exec(starter_harness *h, keel_db *c, const char *sql, const char *params)
{
    char *out = NULL;
    keel_status st = db_test_api(h)->exec(c, sql, params, &out);
    ck_assert_msg(st == KEEL_OK, "exec %s: status %d: %s", sql, (int)st, db_test_last_error(h, c));
    ck_assert_ptr_nonnull(out);
    return out;
}

void db_test_exec_eq(starter_harness *h, keel_db *c, const char *sql, const char *params,
                     const char *expect)
{
    char *out = db_test_exec(h, c, sql, params);
    ck_assert_msg(strcmp(out, expect) == 0, "%s gave\n  %s\nexpected\n  %s", sql, out, expect);
    db_test_api(h)->free(out);
}

void db_test_exec_fails(starter_harness *h, keel_db *c, const char *sql, const char *params,
                        keel_status status, const char *needle)
{
    char *out = (char *)"untouched";
    keel_status st = db_test_api(h)->exec(c, sql, params, &out);
    const char *msg = db_test_last_error(h, c);
    ck_assert_msg(st == status, "exec %s: status %d, expected %d (%s)", sql ? sql : "(null)", (int)st,
                  (int)status, msg);
    ck_assert_ptr_null(out);
    ck_assert_msg(!needle || strstr(msg, needle), "exec %s: error \"%s\" lacks \"%s\"", sql ? sql : "(null)",
                  msg, needle);
    ck_assert_msg(strchr(msg, '\n') == NULL, "error is not one line: %s", msg);
}

int64_t db_test_i64(starter_harness *h, keel_db *c, const char *sql, const char *params)
{
    int64_t v = 0;
    keel_status st = db_test_api(h)->query_i64(c, sql, params, &v);
    ck_assert_msg(st == KEEL_OK, "query_i64 %s: status %d: %s", sql, (int)st, db_test_last_error(h, c));
    return v;
}

char *db_test_admin(starter_harness *h, const char *op, const char *args)
{
    char *out = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_admin(h, op, args, &out, &err);
    ck_assert_msg(st == KEEL_OK, "admin %s: status %d: %s", op, (int)st, err.message);
    ck_assert_ptr_nonnull(out);
    return out;
}

int64_t db_test_direct_count(const char *file, const char *table)
{
    sqlite3 *db = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", table);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return n;
}

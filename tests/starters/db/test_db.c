/*
 * The db starter through the harness, against real SQLite files: one file
 * per module shared by its bindings, isolation between modules, data that
 * survives a base restart and a starter upgrade, batch atomicity, every
 * parameter type, the policy (ATTACH, extensions, PRAGMAs, transactions),
 * result limits, errors, configuration, admin ops and migrations.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_test_util.h"

#define CHANGES(n, id) "{\"changes\":" #n ",\"last_insert_rowid\":" #id "}"

static int exists(const char *work, const char *rel)
{
    char *p = db_test_path(work, rel);
    int ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

/* --- files ------------------------------------------------------------ */

START_TEST(one_file_per_module_shared_by_its_bindings)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    const keel_db_api *api = db_test_api(h);
    ck_assert_uint_eq(api->version, KEEL_DB_TABLE_1_0);
    keel_db *a = db_test_bind(h, "account");
    keel_db *b = db_test_bind(h, "account"); /* v1 and v2 during a switch */
    ck_assert_ptr_ne(a, b);
    ck_assert(exists(work, "db/account.sqlite"));

    db_test_exec_eq(h, a, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL)", NULL, CHANGES(0, 0));
    db_test_exec_eq(h, a, "INSERT INTO t(name) VALUES (?), (?)", "[\"alice\",\"bob\"]", CHANGES(2, 2));
    db_test_exec_eq(h, b, "SELECT id, name FROM t ORDER BY id;", NULL,
                    "[{\"id\":1,\"name\":\"alice\"},{\"id\":2,\"name\":\"bob\"}]");
    db_test_exec_eq(h, b, "SELECT * FROM t WHERE id > 5", NULL, "[]");
    ck_assert_int_eq(api->exec(b, "UPDATE t SET name = upper(name)", NULL, NULL), KEEL_OK);
    db_test_exec_eq(h, a, "UPDATE t SET name = name WHERE id = 42", NULL, CHANGES(0, 2));

    /* The settings every connection gets. */
    db_test_exec_eq(h, a, "PRAGMA journal_mode", NULL, "[{\"journal_mode\":\"wal\"}]");
    db_test_exec_eq(h, a, "PRAGMA foreign_keys", NULL, "[{\"foreign_keys\":1}]");
    db_test_exec_eq(h, a, "PRAGMA synchronous", NULL, "[{\"synchronous\":1}]");

    /* The rows really are in the file: the sqlite3 library reads them. */
    char *file = db_test_path(work, "db/account.sqlite");
    char *wal = db_test_path(work, "db/account.sqlite-wal");
    ck_assert_int_eq(db_test_direct_count(file, "t"), 2);

    /* One binding goes (the old version stopped): the other keeps the
     * shared connection. The last one closes it, which folds the WAL into
     * the file. */
    starter_harness_unbind(h, a);
    db_test_exec_eq(h, b, "SELECT name FROM t WHERE id = 1", NULL, "[{\"name\":\"ALICE\"}]");
    starter_harness_unbind(h, b);
    ck_assert_int_ne(access(wal, F_OK), 0);
    ck_assert_int_eq(db_test_direct_count(file, "t"), 2);
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"open\":false") && strstr(info, "\"bindings\":0") && strstr(info, "\"opens\":1"),
                  "%s", info);
    free(info);
    starter_harness_close(h);
    free(file);
    free(wal);
    db_test_remove(work);
}
END_TEST

START_TEST(modules_do_not_see_each_other)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *a = db_test_bind(h, "account");
    keel_db *o = db_test_bind(h, "other");
    free(db_test_exec(h, a, "CREATE TABLE t(x)", NULL));
    free(db_test_exec(h, a, "INSERT INTO t VALUES (1)", NULL));
    db_test_exec_fails(h, o, "SELECT x FROM t", NULL, KEEL_ERR_INVALID, "no such table: t");
    free(db_test_exec(h, o, "CREATE TABLE t(x)", NULL));
    free(db_test_exec(h, o, "INSERT INTO t VALUES (2), (3)", NULL));
    ck_assert_int_eq(db_test_i64(h, a, "SELECT count(*) FROM t", NULL), 1);
    ck_assert_int_eq(db_test_i64(h, o, "SELECT count(*) FROM t", NULL), 2);
    ck_assert(exists(work, "db/account.sqlite") && exists(work, "db/other.sqlite"));
    char *fa = db_test_path(work, "db/account.sqlite"), *fo = db_test_path(work, "db/other.sqlite");
    ck_assert_int_eq(db_test_direct_count(fa, "t"), 1);
    ck_assert_int_eq(db_test_direct_count(fo, "t"), 2);
    free(fa);
    free(fo);

    /* A module name is a file name: nothing else is accepted. */
    void *c = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_bind(h, "../evil", NULL, &c, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.message, "module name"));
    ck_assert_int_eq(starter_harness_bind(h, "Upper", NULL, &c, &err), KEEL_ERR_INVALID);
    ck_assert(!exists(work, "evil.sqlite") && !exists(work, "db/Upper.sqlite"));

    /* A file that is not a database: the bind fails with one line and
     * leaves nothing bound. */
    char *broken = db_test_path(work, "db/broken.sqlite");
    FILE *bf = fopen(broken, "w");
    ck_assert_ptr_nonnull(bf);
    fputs("this is not an SQLite database, just some text that is long enough to have a header...\n", bf);
    fclose(bf);
    ck_assert_int_eq(starter_harness_bind(h, "broken", NULL, &c, &err), KEEL_ERR_IO);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.message, "db: ") && strstr(err.message, "broken.sqlite") &&
                  strstr(err.message, "not a database"), "%s", err.message);
    free(broken);
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"totals\":{\"modules\":3,\"open\":2,\"bindings\":2"), "%s", info);
    free(info);

    starter_harness_unbind(h, a);
    starter_harness_unbind(h, o);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

START_TEST(data_survives_a_base_restart)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *a = db_test_bind(h, "account");
    free(db_test_exec(h, a, "CREATE TABLE t(x INTEGER)", NULL));
    free(db_test_exec(h, a, "INSERT INTO t VALUES (1), (2), (3)", NULL));
    starter_harness_unbind(h, a);
    starter_harness_close(h);

    /* The base restarts: a new state on the same work directory. */
    h = db_test_open(DB_SO_10, work, NULL);
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"module\":\"account\"") && strstr(info, "\"bound_since_start\":false"), "%s", info);
    free(info);
    /* The operator can read it before any module binds. */
    char *rows = db_test_admin(h, "query", "{\"module\":\"account\",\"sql\":\"SELECT sum(x) AS s FROM t\"}");
    ck_assert_str_eq(rows, "[{\"s\":6}]");
    free(rows);
    a = db_test_bind(h, "account");
    ck_assert_int_eq(db_test_i64(h, a, "SELECT sum(x) FROM t", NULL), 6);
    free(db_test_exec(h, a, "INSERT INTO t VALUES (4)", NULL));
    starter_harness_unbind(h, a);
    starter_harness_close(h);
    char *file = db_test_path(work, "db/account.sqlite");
    ck_assert_int_eq(db_test_direct_count(file, "t"), 4);
    free(file);
    db_test_remove(work);
}
END_TEST

START_TEST(data_and_clients_survive_an_upgrade)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    const keel_db_api *v10 = db_test_api(h);
    ck_assert(!KEEL_DB_HAS(v10, user_version));
    ck_assert_uint_eq(starter_harness_def(h)->slot_count, 6);
    keel_db *c = db_test_bind(h, "account");
    keel_db *other = db_test_bind(h, "other");
    free(db_test_exec(h, c, "CREATE TABLE t(x INTEGER)", NULL));
    free(db_test_exec(h, c, "INSERT INTO t VALUES (10), (20)", NULL));

    db_test_exec_fails(h, other, "ATTACH DATABASE ':memory:' AS m", NULL, KEEL_ERR_DENIED, "db 1.0.0 policy");

    /* The harness points host->name into the running def, which the
     * upgrade unloads; keep 1.0.0 mapped so the starter's log lines after
     * the upgrade stay printable. The policy messages below still prove
     * 1.1.0's authorizer is the one installed. */
    void *pin = dlopen(DB_SO_10, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    ck_assert_ptr_nonnull(pin);
    keel_starter_error err = {{0}};
    ck_assert_msg(starter_harness_upgrade(h, DB_SO_11, &err) == KEEL_OK, "%s", err.message);
    const keel_db_api *v11 = db_test_api(h);
    ck_assert_str_eq(starter_harness_def(h)->version, "1.1.0");
    ck_assert_uint_eq(starter_harness_def(h)->slot_count, 8);
    ck_assert_uint_eq(v11->version, KEEL_DB_TABLE_1_1);
    ck_assert(KEEL_DB_HAS(v11, migrate));

    /* The same client, through the new code, on the same connection. */
    ck_assert_int_eq(db_test_i64(h, c, "SELECT sum(x) FROM t", NULL), 30);
    free(db_test_exec(h, c, "INSERT INTO t VALUES (30)", NULL));
    /* The policy is the new code's. */
    db_test_exec_fails(h, other, "ATTACH DATABASE ':memory:' AS m", NULL, KEEL_ERR_DENIED, "db 1.1.0 policy");
    db_test_exec_fails(h, c, "PRAGMA journal_mode=DELETE", NULL, KEEL_ERR_DENIED, "db 1.1.0 policy");
    char *q = db_test_admin(h, "query", "{\"module\":\"account\",\"sql\":\"SELECT count(*) AS n FROM t\"}");
    ck_assert_str_eq(q, "[{\"n\":3}]");
    free(q);
    int64_t uv = -1, from = -1;
    ck_assert_int_eq(v11->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 0);
    ck_assert_int_eq(v11->migrate(c, 1, "[\"CREATE INDEX t_x ON t(x)\"]", &from), KEEL_OK);
    ck_assert_int_eq(from, 0);
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"version\":\"1.1.0\"") && strstr(info, "\"user_version\":1"), "%s", info);
    free(info);
    starter_harness_unbind(h, c);
    starter_harness_unbind(h, other);
    starter_harness_close(h);
    dlclose(pin);

    h = db_test_open(DB_SO_11, work, NULL);
    c = db_test_bind(h, "account");
    ck_assert_int_eq(db_test_i64(h, c, "SELECT sum(x) FROM t", NULL), 60);
    ck_assert_int_eq(db_test_api(h)->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 1);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

/* --- batch ------------------------------------------------------------ */

static keel_status batch(starter_harness *h, keel_db *c, const char *json, char **out)
{
    return db_test_api(h)->batch(c, json, out);
}

START_TEST(a_batch_is_all_or_nothing)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)", NULL));

    char *out = (char *)"untouched";
    ck_assert_int_eq(batch(h, c, "[{\"sql\":\"INSERT INTO t VALUES (1, 'a')\"},"
                                 "{\"sql\":\"INSERT INTO t VALUES (1, 'b')\"}]", &out), KEEL_ERR_STATE);
    ck_assert_ptr_null(out);
    const char *msg = db_test_last_error(h, c);
    ck_assert_msg(strstr(msg, "statement 2 of 2") && strstr(msg, "UNIQUE constraint failed: t.id"), "%s", msg);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 0);

    ck_assert_int_eq(batch(h, c, "[\"INSERT INTO t VALUES (1, 'a')\","
                                 "{\"sql\":\"INSERT INTO t VALUES (?, ?)\",\"params\":[2,\"b\"]},"
                                 "{\"sql\":\"SELECT count(*) AS n FROM t\",\"params\":null}]", &out), KEEL_OK);
    ck_assert_str_eq(out, "[" CHANGES(1, 1) "," CHANGES(1, 2) ",[{\"n\":2}]]");
    db_test_api(h)->free(out);

    /* An item sees the one before it: changes() gates the second. */
    ck_assert_int_eq(batch(h, c, "[\"UPDATE t SET v = 'x' WHERE id = 99\","
                                 "\"INSERT INTO t SELECT 3, 'c' WHERE changes() = 1\"]", NULL), KEEL_OK);
    ck_assert_int_eq(batch(h, c, "[\"UPDATE t SET v = 'y' WHERE id = 2\","
                                 "\"INSERT INTO t SELECT 4, 'd' WHERE changes() = 1\"]", NULL), KEEL_OK);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 3);

    /* Any failure, anywhere, undoes the earlier items. */
    ck_assert_int_eq(batch(h, c, "[\"DELETE FROM t\", \"INSERT INTO t VALUES (9, 'z')\", \"INSERT INTO t VALU\"]",
                           &out), KEEL_ERR_INVALID);
    msg = db_test_last_error(h, c);
    ck_assert_msg(strstr(msg, "statement 3 of 3") && strstr(msg, "syntax error"), "%s", msg);
    ck_assert_int_eq(batch(h, c, "[\"DELETE FROM t\", \"COMMIT\"]", NULL), KEEL_ERR_DENIED);
    ck_assert_int_eq(batch(h, c, "[\"DELETE FROM t\", \"SELECT 1; DELETE FROM t\"]", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 3);

    /* Malformed documents change nothing and say which item. */
    ck_assert_int_eq(batch(h, c, "[]", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(batch(h, c, "not json", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(batch(h, c, NULL, NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(batch(h, c, "[\"DELETE FROM t\", {\"sql\": 5}]", NULL), KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(db_test_last_error(h, c), "statement 2 of 2"));
    ck_assert_int_eq(batch(h, c, "[{\"sql\":\"DELETE FROM t\",\"extra\":1}]", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(batch(h, c, "[{\"sql\":\"DELETE FROM t\",\"params\":{}}]", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 3);
    /* And the connection is not left inside a transaction (last_insert_rowid
     * is SQLite's: a rolled-back insert still set it). */
    char *r = db_test_exec(h, c, "DELETE FROM t WHERE id = 4", NULL);
    ck_assert_msg(strncmp(r, "{\"changes\":1,", 13) == 0, "%s", r);
    free(r);
    /* Another process can take the write lock at once: nothing is held. */
    char *file = db_test_path(work, "db/account.sqlite");
    sqlite3 *other = NULL;
    ck_assert_int_eq(sqlite3_open(file, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE; ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    free(file);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

/* --- parameters ------------------------------------------------------- */

START_TEST(parameters_of_every_type_round_trip)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE v(n, i, big, neg, r, s, b, t, f, e, huge, whole)", NULL));
    db_test_exec_eq(h, c, "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    "[null, 42, {\"i64\":\"9223372036854775807\"}, {\"i64\":\"-9223372036854775808\"}, 3.25,"
                    " \"he said \\\"hi\\\" \\u2713\\n\\ttab\", {\"blob_base64\":\"AAEC/f7/\"}, true, false,"
                    " {\"blob_base64\":\"\"}, 1e300, -9007199254740992]",
                    CHANGES(1, 1));
    db_test_exec_eq(h, c, "SELECT typeof(n) n, typeof(i) i, typeof(big) big, typeof(neg) neg, typeof(r) r,"
                          " typeof(s) s, typeof(b) b, typeof(t) t, typeof(e) e, length(e) el, typeof(huge) huge,"
                          " typeof(whole) whole FROM v", NULL,
                    "[{\"n\":\"null\",\"i\":\"integer\",\"big\":\"integer\",\"neg\":\"integer\",\"r\":\"real\","
                    "\"s\":\"text\",\"b\":\"blob\",\"t\":\"integer\",\"e\":\"blob\",\"el\":0,\"huge\":\"real\","
                    "\"whole\":\"integer\"}]");
    db_test_exec_eq(h, c, "SELECT n, i, big, neg, r, s, b, t, f, e FROM v", NULL,
                    "[{\"n\":null,\"i\":42,\"big\":9223372036854775807,\"neg\":-9223372036854775808,\"r\":3.25,"
                    "\"s\":\"he said \\\"hi\\\" \xe2\x9c\x93\\n\\ttab\",\"b\":{\"blob_base64\":\"AAEC/f7/\"},"
                    "\"t\":1,\"f\":0,\"e\":{\"blob_base64\":\"\"}}]");
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM v WHERE b = ? AND big = ? AND i = ?",
                                 "[{\"blob_base64\":\"AAEC/f7/\"}, {\"i64\":\"9223372036854775807\"}, 42]"), 1);
    db_test_exec_eq(h, c, "SELECT :a + :b AS s, ?3 AS third", "[1, 2, \"x\"]", "[{\"s\":3,\"third\":\"x\"}]");

    /* A random blob out through the encoder and back in through the
     * decoder, compared by SQLite. Lengths 1000, 1001, 1002 cover every
     * padding. */
    free(db_test_exec(h, c, "CREATE TABLE blobs(b BLOB)", NULL));
    free(db_test_exec(h, c, "INSERT INTO blobs VALUES (randomblob(1000)), (randomblob(1001)), (randomblob(1002))",
                      NULL));
    char *rows = db_test_exec(h, c, "SELECT b FROM blobs", NULL);
    cJSON *doc = cJSON_Parse(rows);
    ck_assert_int_eq(cJSON_GetArraySize(doc), 3);
    const cJSON *row;
    cJSON_ArrayForEach(row, doc) {
        cJSON *params = cJSON_CreateArray();
        cJSON_AddItemToArray(params, cJSON_Duplicate(cJSON_GetObjectItem(row, "b"), 1));
        char *p = cJSON_PrintUnformatted(params);
        ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM blobs WHERE b = ?", p), 1);
        free(p);
        cJSON_Delete(params);
    }
    cJSON_Delete(doc);
    db_test_api(h)->free(rows);

    /* Bad parameters: one clear line, nothing written. */
    const char *sql = "INSERT INTO v(n) VALUES (?)";
    db_test_exec_fails(h, c, sql, "[{\"blob_base64\":\"abc\"}]", KEEL_ERR_INVALID, "base64");
    db_test_exec_fails(h, c, sql, "[{\"blob_base64\":\"A===\"}]", KEEL_ERR_INVALID, "base64");
    db_test_exec_fails(h, c, sql, "[{\"i64\":\"12x\"}]", KEEL_ERR_INVALID, "i64");
    db_test_exec_fails(h, c, sql, "[{\"i64\":\"99999999999999999999\"}]", KEEL_ERR_INVALID, "i64");
    db_test_exec_fails(h, c, sql, "[[1]]", KEEL_ERR_INVALID, "parameter 1");
    db_test_exec_fails(h, c, sql, "[{\"other\":1}]", KEEL_ERR_INVALID, "parameter 1");
    db_test_exec_fails(h, c, sql, "[1, 2]", KEEL_ERR_INVALID, "1 parameter");
    db_test_exec_fails(h, c, sql, NULL, KEEL_ERR_INVALID, "1 parameter");
    db_test_exec_fails(h, c, sql, "{}", KEEL_ERR_INVALID, "params_json");
    db_test_exec_fails(h, c, sql, "[1,", KEEL_ERR_INVALID, "params_json");
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM v", NULL), 1);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

START_TEST(sql_in_parameters_stays_data)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE users(name TEXT)", NULL));
    db_test_exec_eq(h, c, "INSERT INTO users(name) VALUES (?)", "[\"x'); DROP TABLE users; --\"]", CHANGES(1, 1));
    db_test_exec_eq(h, c, "SELECT name FROM users", NULL, "[{\"name\":\"x'); DROP TABLE users; --\"}]");
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM users WHERE name = ?", "[\"' OR '1'='1\"]"), 0);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM sqlite_master WHERE name = 'users'", NULL), 1);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

/* --- policy ----------------------------------------------------------- */

START_TEST(the_policy_keeps_a_module_in_its_file)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE t(x)", NULL));
    char *stolen = db_test_path(work, "stolen.sqlite");
    char sql[512];
    unsigned warns = starter_harness_log_count(h, KEEL_LOG_WARN);

    snprintf(sql, sizeof sql, "ATTACH DATABASE '%s' AS x", stolen);
    db_test_exec_fails(h, c, sql, NULL, KEEL_ERR_DENIED, "ATTACH");
    db_test_exec_fails(h, c, "ATTACH DATABASE ? AS x", "[\":memory:\"]", KEEL_ERR_DENIED, "ATTACH");
    db_test_exec_fails(h, c, "DETACH DATABASE x", NULL, KEEL_ERR_DENIED, "DETACH");
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", stolen);
    db_test_exec_fails(h, c, sql, NULL, KEEL_ERR_DENIED, NULL);
    ck_assert_int_ne(access(stolen, F_OK), 0);
    db_test_exec_fails(h, c, "SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')", NULL,
                       KEEL_ERR_DENIED, "load_extension");
    db_test_exec_fails(h, c, "PRAGMA journal_mode=DELETE", NULL, KEEL_ERR_DENIED, "journal_mode");
    db_test_exec_fails(h, c, "PRAGMA main.journal_mode=MEMORY", NULL, KEEL_ERR_DENIED, "journal_mode");
    db_test_exec_fails(h, c, "PRAGMA locking_mode=EXCLUSIVE", NULL, KEEL_ERR_DENIED, "locking_mode");
    db_test_exec_fails(h, c, "PRAGMA writable_schema=ON", NULL, KEEL_ERR_DENIED, "writable_schema");
    db_test_exec_fails(h, c, "PRAGMA temp_store_directory='/tmp'", NULL, KEEL_ERR_DENIED, NULL);
    db_test_exec_fails(h, c, "PRAGMA foreign_keys=OFF", NULL, KEEL_ERR_DENIED, "foreign_keys");
    db_test_exec_fails(h, c, "PRAGMA synchronous=OFF", NULL, KEEL_ERR_DENIED, "synchronous");
    db_test_exec_fails(h, c, "BEGIN", NULL, KEEL_ERR_DENIED, "batch");
    db_test_exec_fails(h, c, "SAVEPOINT s", NULL, KEEL_ERR_DENIED, "batch");
    db_test_exec_fails(h, c, "UPDATE sqlite_master SET sql = 'x'", NULL, KEEL_ERR_INVALID, NULL);
    ck_assert_uint_ge(starter_harness_log_count(h, KEEL_LOG_WARN), warns + 14);

    /* What stays allowed. */
    db_test_exec_eq(h, c, "PRAGMA journal_mode", NULL, "[{\"journal_mode\":\"wal\"}]");
    db_test_exec_eq(h, c, "PRAGMA foreign_keys", NULL, "[{\"foreign_keys\":1}]");
    free(db_test_exec(h, c, "PRAGMA user_version = 7", NULL));
    db_test_exec_eq(h, c, "PRAGMA user_version", NULL, "[{\"user_version\":7}]");
    char *r = db_test_exec(h, c, "PRAGMA table_info(t)", NULL);
    ck_assert_ptr_nonnull(strstr(r, "\"name\":\"x\""));
    free(r);
    db_test_exec_eq(h, c, "SELECT name FROM pragma_table_info('t')", NULL, "[{\"name\":\"x\"}]");
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM pragma_database_list", NULL), 1);

    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"denied\":14"), "%s", info);
    free(info);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    free(stolen);
    db_test_remove(work);
}
END_TEST

/* --- limits and errors ------------------------------------------------ */

START_TEST(results_larger_than_the_limit_are_refused)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, "{\"max_result_bytes\": 1024}");
    const keel_db_api *api = db_test_api(h);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE big(s TEXT)", NULL));
    db_test_exec_eq(h, c, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
                          "INSERT INTO big SELECT printf('%030d', i) FROM n", NULL, CHANGES(100, 100));
    db_test_exec_fails(h, c, "SELECT s FROM big", NULL, KEEL_ERR_LIMIT, "max_result_bytes (1024 bytes)");
    char *r = db_test_exec(h, c, "SELECT s FROM big LIMIT 5", NULL);
    ck_assert_uint_lt(strlen(r), 1024);
    free(r);
    ck_assert_int_eq(api->exec(c, "SELECT s FROM big", NULL, NULL), KEEL_OK); /* no result wanted */

    char *text = (char *)"untouched";
    ck_assert_int_eq(api->query_text(c, "SELECT group_concat(s) FROM big", NULL, &text), KEEL_ERR_LIMIT);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(api->query_text(c, "SELECT s FROM big WHERE rowid = 1", NULL, &text), KEEL_OK);
    ck_assert_str_eq(text, "000000000000000000000000000001");
    api->free(text);

    /* A write whose returned rows are too large is taken back whole. */
    db_test_exec_fails(h, c, "INSERT INTO big SELECT s FROM big RETURNING s", NULL, KEEL_ERR_LIMIT, NULL);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM big", NULL), 100);
    ck_assert_int_eq(api->batch(c, "[\"DELETE FROM big WHERE rowid > 50\", \"SELECT * FROM big\"]", NULL),
                     KEEL_OK);
    char *out = NULL;
    ck_assert_int_eq(api->batch(c, "[\"DELETE FROM big WHERE rowid > 40\", \"SELECT * FROM big\"]", &out),
                     KEEL_ERR_LIMIT);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM big", NULL), 50);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

typedef struct thread_case {
    starter_harness *h;
    keel_db *c;
    const char *sql;       /* NULL: make no call */
    keel_status status;
    keel_status last_status;
    char last[KEEL_STARTER_ERROR_SIZE];
} thread_case;

static void *thread_error(void *arg)
{
    thread_case *t = arg;
    if (t->sql)
        t->status = db_test_api(t->h)->exec(t->c, t->sql, NULL, NULL);
    t->last_status = db_test_api(t->h)->last_error(t->c, t->last, sizeof t->last);
    return NULL;
}

START_TEST(bad_statements_fail_with_one_clear_line)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    const keel_db_api *api = db_test_api(h);
    keel_db *c = db_test_bind(h, "account");
    db_test_exec_fails(h, c, "SELEC 1", NULL, KEEL_ERR_INVALID, "syntax error");
    db_test_exec_fails(h, c, "SELECT 1; SELECT 2", NULL, KEEL_ERR_INVALID, "use batch");
    db_test_exec_fails(h, c, "SELECT 1; bogus", NULL, KEEL_ERR_INVALID, "use batch");
    db_test_exec_eq(h, c, "SELECT 1 AS one; -- done\n ;  ", NULL, "[{\"one\":1}]");
    db_test_exec_fails(h, c, "", NULL, KEEL_ERR_INVALID, "no statement");
    db_test_exec_fails(h, c, "  -- only a comment", NULL, KEEL_ERR_INVALID, "no statement");
    db_test_exec_fails(h, c, NULL, NULL, KEEL_ERR_INVALID, "no SQL");
    ck_assert_int_eq(api->exec(NULL, "SELECT 1", NULL, NULL), KEEL_ERR_INVALID);

    /* Constraints: KEEL_ERR_STATE. */
    free(db_test_exec(h, c, "CREATE TABLE p(id INTEGER PRIMARY KEY)", NULL));
    free(db_test_exec(h, c, "CREATE TABLE ch(pid INTEGER NOT NULL REFERENCES p(id), v INTEGER CHECK (v > 0))",
                      NULL));
    db_test_exec_fails(h, c, "INSERT INTO ch VALUES (1, 1)", NULL, KEEL_ERR_STATE, "FOREIGN KEY");
    free(db_test_exec(h, c, "INSERT INTO p VALUES (1)", NULL));
    db_test_exec_fails(h, c, "INSERT INTO ch VALUES (1, 0)", NULL, KEEL_ERR_STATE, "CHECK");
    db_test_exec_fails(h, c, "INSERT INTO ch VALUES (NULL, 1)", NULL, KEEL_ERR_STATE, "NOT NULL");
    db_test_exec_fails(h, c, "INSERT INTO p VALUES (1)", NULL, KEEL_ERR_STATE, "UNIQUE");

    /* query_i64 / query_text. */
    int64_t v = 99;
    ck_assert_int_eq(db_test_i64(h, c, "SELECT 7", NULL), 7);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT 2.0", NULL), 2);
    ck_assert_int_eq(api->query_i64(c, "SELECT id FROM p WHERE id = 99", NULL, &v), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->query_i64(c, "SELECT NULL", NULL, &v), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->query_i64(c, "SELECT 'x'", NULL, &v), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->query_i64(c, "SELECT 2.5", NULL, &v), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->query_i64(c, "SELECT 1", NULL, NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(v, 99);
    ck_assert_int_eq(db_test_i64(h, c, "INSERT INTO p(id) VALUES (5) RETURNING id", NULL), 5);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM p", NULL), 2);
    char *text = NULL;
    ck_assert_int_eq(api->query_text(c, "SELECT json_object('a', 1, 'b', ?)", "[\"x\"]", &text), KEEL_OK);
    ck_assert_str_eq(text, "{\"a\":1,\"b\":\"x\"}");
    api->free(text);
    text = (char *)"untouched";
    ck_assert_int_eq(api->query_text(c, "SELECT NULL", NULL, &text), KEEL_ERR_NOT_FOUND);
    ck_assert_ptr_null(text);

    /* last_error is per thread: each thread reads its own failure, a
     * thread that never failed reads none. */
    db_test_exec_fails(h, c, "SELEC 2", NULL, KEEL_ERR_INVALID, "syntax error");
    thread_case t1 = {h, c, "SELECT * FROM nope", KEEL_OK, KEEL_OK, ""};
    thread_case t2 = {h, c, "INSERT INTO p VALUES (1)", KEEL_OK, KEEL_OK, ""};
    thread_case t3 = {h, c, NULL, KEEL_OK, KEEL_OK, ""};
    pthread_t th[3];
    pthread_create(&th[0], NULL, thread_error, &t1);
    pthread_join(th[0], NULL);
    pthread_create(&th[1], NULL, thread_error, &t2);
    pthread_create(&th[2], NULL, thread_error, &t3);
    pthread_join(th[1], NULL);
    pthread_join(th[2], NULL);
    ck_assert_int_eq(t1.status, KEEL_ERR_INVALID);
    ck_assert_int_eq(t1.last_status, KEEL_OK);
    ck_assert_ptr_nonnull(strstr(t1.last, "no such table: nope"));
    ck_assert_int_eq(t2.status, KEEL_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(t2.last, "UNIQUE"));
    ck_assert_int_eq(t3.last_status, KEEL_ERR_NOT_FOUND);
    ck_assert_str_eq(t3.last, "");
    ck_assert_ptr_nonnull(strstr(db_test_last_error(h, c), "syntax error"));
    char small[8];
    ck_assert_int_eq(api->last_error(c, small, sizeof small), KEEL_OK);
    ck_assert_uint_eq(strlen(small), 7);
    ck_assert_int_eq(api->last_error(c, NULL, 8), KEEL_ERR_INVALID);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

/* --- configuration ---------------------------------------------------- */

START_TEST(malformed_configurations_are_one_clear_line)
{
    static const struct {
        const char *config;
        const char *needle;
    } bad[] = {
        {"not json", "db: config: expected a JSON object"},
        {"[1]", "db: config: expected a JSON object"},
        {"{\"busy_timeout_ms\":\"abc\"}",
         "db: config field \"busy_timeout_ms\": expected an integer 0..600000, got \"abc\""},
        {"{\"busy_timeout_ms\":-1}", "db: config field \"busy_timeout_ms\": expected an integer 0..600000, got -1"},
        {"{\"busy_timeout_ms\":1.5}", "got 1.5"},
        {"{\"synchronous\":\"sometimes\"}",
         "db: config field \"synchronous\": expected one of \"off\", \"normal\", \"full\", got \"sometimes\""},
        {"{\"synchronous\":1}", "db: config field \"synchronous\""},
        {"{\"max_result_bytes\":10}", "db: config field \"max_result_bytes\": expected an integer 256..1073741824"},
        {"{\"dir\":5}", "db: config field \"dir\": expected a directory path"},
        {"{\"colour\":\"blue\"}", "db: config field \"colour\": unknown (known: dir,"},
    };
    char *work = db_test_mkdtemp();
    char *dir = db_test_path(work, "db");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        starter_harness *h = NULL;
        keel_starter_error err = {{0}};
        keel_status st = starter_harness_open(DB_SO_10, dir, bad[i].config, NULL, NULL, NULL, &h, &err);
        ck_assert_msg(st == KEEL_ERR_INVALID, "%s: status %d", bad[i].config, (int)st);
        ck_assert_ptr_null(h);
        ck_assert_msg(strstr(err.message, bad[i].needle), "%s: \"%s\" lacks \"%s\"", bad[i].config, err.message,
                      bad[i].needle);
        ck_assert(strchr(err.message, '\n') == NULL);
    }
    /* "dir" naming a file: the directory cannot be used. */
    char *afile = db_test_path(work, "afile");
    FILE *f = fopen(afile, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    free(afile);
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_open(DB_SO_10, dir, "{\"dir\":\"../afile/x\"}", NULL, NULL, NULL, &h, &err),
                     KEEL_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "db: cannot use directory"));

    /* A good one: every field applied. */
    h = db_test_open(DB_SO_10, work,
                     "{\"dir\":\"data/inner\",\"synchronous\":\"full\",\"busy_timeout_ms\":100,"
                     "\"max_result_bytes\":4096}");
    keel_db *c = db_test_bind(h, "account");
    ck_assert(exists(work, "db/data/inner/account.sqlite"));
    db_test_exec_eq(h, c, "PRAGMA synchronous", NULL, "[{\"synchronous\":2}]");
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"busy_timeout_ms\":100") && strstr(info, "\"max_result_bytes\":4096"), "%s", info);
    free(info);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    h = db_test_open(DB_SO_10, work, "{\"synchronous\":\"off\"}");
    c = db_test_bind(h, "account");
    db_test_exec_eq(h, c, "PRAGMA synchronous", NULL, "[{\"synchronous\":0}]");
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    free(dir);
    db_test_remove(work);
}
END_TEST

/* --- admin ------------------------------------------------------------ */

START_TEST(admin_info_and_read_only_query)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE t(x)", NULL));
    free(db_test_exec(h, c, "INSERT INTO t VALUES (1), (2)", NULL));
    db_test_exec_fails(h, c, "SELEC", NULL, KEEL_ERR_INVALID, NULL);

    char *text = db_test_admin(h, "info", NULL);
    cJSON *info = cJSON_Parse(text);
    ck_assert_msg(cJSON_IsObject(info), "%s", text);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "version")->valuestring, "1.0.0");
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(info, "modules"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(m, "module")->valuestring, "account");
    const char *file = cJSON_GetObjectItem(m, "file")->valuestring;
    ck_assert_str_eq(file + strlen(file) - strlen("/db/account.sqlite"), "/db/account.sqlite");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(m, "open")));
    ck_assert_int_eq(cJSON_GetObjectItem(m, "bindings")->valueint, 1);
    ck_assert_int_eq(cJSON_GetObjectItem(m, "statements")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(m, "errors")->valueint, 1);
    ck_assert_int_gt(cJSON_GetObjectItem(m, "size_bytes")->valueint + cJSON_GetObjectItem(m, "wal_bytes")->valueint, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(info, "totals"), "bindings")->valueint, 1);
    cJSON_Delete(info);
    free(text);

    text = db_test_admin(h, "query", "{\"module\":\"account\",\"sql\":\"SELECT count(*) AS n FROM t\"}");
    ck_assert_str_eq(text, "[{\"n\":2}]");
    free(text);
    text = db_test_admin(h, "query", "{\"module\":\"account\",\"sql\":\"SELECT ? + 1 AS x\",\"params\":[41]}");
    ck_assert_str_eq(text, "[{\"x\":42}]");
    free(text);

    static const struct {
        const char *op, *args;
        keel_status status;
        const char *needle;
    } bad[] = {
        {"query", "{\"module\":\"account\",\"sql\":\"DELETE FROM t\"}", KEEL_ERR_DENIED, "read-only"},
        {"query", "{\"module\":\"account\",\"sql\":\"PRAGMA user_version = 3\"}", KEEL_ERR_DENIED, "read-only"},
        {"query", "{\"module\":\"account\",\"sql\":\"ATTACH ':memory:' AS m\"}", KEEL_ERR_DENIED, "ATTACH"},
        {"query", "{\"module\":\"account\",\"sql\":\"SELECT 1; DELETE FROM t\"}", KEEL_ERR_INVALID, "use batch"},
        {"query", "{\"module\":\"ghost\",\"sql\":\"SELECT 1\"}", KEEL_ERR_NOT_FOUND, "no database"},
        {"query", "{\"module\":\"../x\",\"sql\":\"SELECT 1\"}", KEEL_ERR_INVALID, "not a module name"},
        {"query", "{\"module\":\"account\"}", KEEL_ERR_INVALID, "query expects"},
        {"query", "not json", KEEL_ERR_INVALID, "query expects"},
        {"query", NULL, KEEL_ERR_INVALID, "query expects"},
        {"vacuum", NULL, KEEL_ERR_NOT_FOUND, "known: info, query"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        keel_starter_error err = {{0}};
        keel_status st = starter_harness_admin(h, bad[i].op, bad[i].args, &out, &err);
        ck_assert_msg(st == bad[i].status, "%s %s: status %d (%s)", bad[i].op, bad[i].args ? bad[i].args : "",
                      (int)st, err.message);
        ck_assert_ptr_null(out);
        ck_assert_msg(strstr(err.message, bad[i].needle), "%s: \"%s\" lacks \"%s\"", bad[i].op, err.message,
                      bad[i].needle);
    }
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 2);
    /* A closed database is queried through a short-lived connection. */
    starter_harness_unbind(h, c);
    text = db_test_admin(h, "query", "{\"module\":\"account\",\"sql\":\"SELECT sum(x) AS s FROM t\"}");
    ck_assert_str_eq(text, "[{\"s\":3}]");
    free(text);
    char *out = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_admin(h, "query", "{\"module\":\"account\",\"sql\":\"DELETE FROM t\"}", &out,
                                           &err), KEEL_ERR_DENIED);
    starter_harness_close(h);
    char *path = db_test_path(work, "db/account.sqlite");
    ck_assert_int_eq(db_test_direct_count(path, "t"), 2);
    free(path);
    db_test_remove(work);
}
END_TEST

/* --- migrations (1.1.0) ----------------------------------------------- */

START_TEST(migrations_run_once_and_roll_back_whole)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_11, work, NULL);
    const keel_db_api *api = db_test_api(h);
    keel_db *c = db_test_bind(h, "account");
    int64_t uv = -1, from = -1;
    ck_assert_int_eq(api->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 0);
    const char *v2 = "[\"CREATE TABLE m(x)\", {\"sql\":\"INSERT INTO m VALUES (?)\",\"params\":[1]}]";
    ck_assert_int_eq(api->migrate(c, 2, v2, &from), KEEL_OK);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(api->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 2);
    ck_assert_int_eq(api->migrate(c, 2, v2, &from), KEEL_OK); /* a second start */
    ck_assert_int_eq(from, 2);
    ck_assert_int_eq(api->migrate(c, 1, "[\"DROP TABLE m\"]", &from), KEEL_OK); /* already newer */
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM m", NULL), 1);

    from = -1;
    ck_assert_int_eq(api->migrate(c, 3, "[\"INSERT INTO m VALUES (2)\", \"CREATE TABLE broken(\"]", &from),
                     KEEL_ERR_INVALID);
    ck_assert_int_eq(from, -1);
    const char *msg = db_test_last_error(h, c);
    ck_assert_msg(strstr(msg, "migrate to 3") && strstr(msg, "statement 2 of 2"), "%s", msg);
    ck_assert_int_eq(api->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 2);
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM m", NULL), 1);
    ck_assert_int_eq(api->migrate(c, 4, "[\"BEGIN\"]", NULL), KEEL_ERR_DENIED);
    ck_assert_int_eq(api->migrate(c, 0, "[]", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->migrate(c, 3, "{}", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->migrate(c, 3, "[]", NULL), KEEL_OK);
    ck_assert_int_eq(api->user_version(c, &uv), KEEL_OK);
    ck_assert_int_eq(uv, 3);
    ck_assert_int_eq(api->user_version(c, NULL), KEEL_ERR_INVALID);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("starter_db");
    TCase *t = tcase_create("db");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, one_file_per_module_shared_by_its_bindings);
    tcase_add_test(t, modules_do_not_see_each_other);
    tcase_add_test(t, data_survives_a_base_restart);
    tcase_add_test(t, data_and_clients_survive_an_upgrade);
    tcase_add_test(t, a_batch_is_all_or_nothing);
    tcase_add_test(t, parameters_of_every_type_round_trip);
    tcase_add_test(t, sql_in_parameters_stays_data);
    tcase_add_test(t, the_policy_keeps_a_module_in_its_file);
    tcase_add_test(t, results_larger_than_the_limit_are_refused);
    tcase_add_test(t, bad_statements_fail_with_one_clear_line);
    tcase_add_test(t, malformed_configurations_are_one_clear_line);
    tcase_add_test(t, admin_info_and_read_only_query);
    tcase_add_test(t, migrations_run_once_and_roll_back_whole);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(db_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

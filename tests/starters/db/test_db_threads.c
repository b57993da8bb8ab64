/*
 * The db starter under concurrency: four writer threads on two bindings of
 * one module (exact counts afterwards, checked through the sqlite3 library
 * too), bindings coming and going while others write, and a lock held by
 * another process (KEEL_ERR_BUSY after busy_timeout_ms).
 */
#include <check.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_test_util.h"

#define WRITERS 4
#define ROUNDS 250

typedef struct writer {
    starter_harness *h;
    keel_db *c;
    int id;
    atomic_int *failures;
    char first[KEEL_STARTER_ERROR_SIZE];
} writer;

static void note(writer *w, keel_status st, const char *what)
{
    if (st == KEEL_OK)
        return;
    if (atomic_fetch_add(w->failures, 1) == 0)
        snprintf(w->first, sizeof w->first, "writer %d: %s: status %d: %s", w->id, what, (int)st,
                 db_test_last_error(w->h, w->c));
}

static void *write_rows(void *arg)
{
    writer *w = arg;
    const keel_db_api *api = db_test_api(w->h);
    for (int i = 0; i < ROUNDS; i++) {
        char params[64];
        snprintf(params, sizeof params, "[%d, %d]", w->id, i);
        note(w, api->exec(w->c, "INSERT INTO log(thread, i) VALUES (?, ?)", params, NULL), "insert");
        note(w, api->exec(w->c, "UPDATE counter SET n = n + 1", NULL, NULL), "update");
        if (i % 10 == 0) {
            char items[256];
            snprintf(items, sizeof items,
                     "[{\"sql\":\"INSERT INTO log(thread, i) VALUES (?, ?)\",\"params\":[%d,%d]},"
                     "\"UPDATE counter SET n = n + 1\"]", w->id, 100000 + i);
            note(w, api->batch(w->c, items, NULL), "batch");
        }
        if (i % 25 == 0) {
            int64_t n = 0;
            note(w, api->query_i64(w->c, "SELECT n FROM counter", NULL, &n), "read");
        }
    }
    return NULL;
}

START_TEST(four_writers_lose_nothing)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *a = db_test_bind(h, "account");
    keel_db *b = db_test_bind(h, "account");
    free(db_test_exec(h, a, "CREATE TABLE log(thread INTEGER, i INTEGER, UNIQUE (thread, i))", NULL));
    free(db_test_exec(h, a, "CREATE TABLE counter(n INTEGER NOT NULL)", NULL));
    free(db_test_exec(h, a, "INSERT INTO counter VALUES (0)", NULL));

    atomic_int failures = 0;
    writer w[WRITERS];
    pthread_t th[WRITERS];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){h, i % 2 ? b : a, i, &failures, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, write_rows, &w[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < WRITERS; i++)
        ck_assert_msg(w[i].first[0] == '\0', "%s", w[i].first);
    ck_assert_int_eq(atomic_load(&failures), 0);

    const int64_t per_thread = ROUNDS + ROUNDS / 10;
    char *info = db_test_admin(h, "info", NULL);
    char expect[64];
    /* 3 setup statements, then per round: 2, + 2 per batch, + 1 read */
    snprintf(expect, sizeof expect, "\"statements\":%d", 3 + WRITERS * (2 * ROUNDS + 2 * (ROUNDS / 10) + ROUNDS / 25));
    ck_assert_msg(strstr(info, expect), "%s lacks %s", info, expect);
    free(info);
    ck_assert_int_eq(db_test_i64(h, b, "SELECT count(*) FROM log", NULL), WRITERS * per_thread);
    ck_assert_int_eq(db_test_i64(h, a, "SELECT n FROM counter", NULL), WRITERS * per_thread);
    for (int i = 0; i < WRITERS; i++) {
        char p[32];
        snprintf(p, sizeof p, "[%d]", i);
        ck_assert_int_eq(db_test_i64(h, a, "SELECT count(*) FROM log WHERE thread = ?", p), per_thread);
    }
    char *file = db_test_path(work, "db/account.sqlite");
    ck_assert_int_eq(db_test_direct_count(file, "log"), WRITERS * per_thread);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "db: %d writers, %d statements in %.0f ms (%.1f us per statement)\n", WRITERS,
            WRITERS * (2 * ROUNDS + 2 * (ROUNDS / 10) + ROUNDS / 25), ms,
            ms * 1e3 / (WRITERS * (2 * ROUNDS + 2 * (ROUNDS / 10) + ROUNDS / 25)));
    starter_harness_unbind(h, a);
    starter_harness_unbind(h, b);
    starter_harness_close(h);
    ck_assert_int_eq(db_test_direct_count(file, "log"), WRITERS * per_thread);
    free(file);
    db_test_remove(work);
}
END_TEST

typedef struct churn {
    starter_harness *h;
    atomic_int stop;
    int binds;
} churn;

static void *bind_churn(void *arg)
{
    churn *ch = arg;
    while (!atomic_load(&ch->stop) && ch->binds < 200) {
        keel_db *c = db_test_bind(ch->h, "account");
        int64_t n = -1;
        db_test_api(ch->h)->query_i64(c, "SELECT count(*) FROM log", NULL, &n);
        starter_harness_unbind(ch->h, c);
        ch->binds++;
    }
    return NULL;
}

START_TEST(bindings_come_and_go_while_others_write)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, NULL);
    keel_db *a = db_test_bind(h, "account");
    free(db_test_exec(h, a, "CREATE TABLE log(thread INTEGER, i INTEGER)", NULL));
    free(db_test_exec(h, a, "CREATE TABLE counter(n INTEGER NOT NULL)", NULL));
    free(db_test_exec(h, a, "INSERT INTO counter VALUES (0)", NULL));
    churn ch = {h, 0, 0};
    pthread_t binder;
    ck_assert_int_eq(pthread_create(&binder, NULL, bind_churn, &ch), 0);
    atomic_int failures = 0;
    writer w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (writer){h, a, i, &failures, ""};
        ck_assert_int_eq(pthread_create(&th[i], NULL, write_rows, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    atomic_store(&ch.stop, 1);
    pthread_join(binder, NULL);
    ck_assert_msg(atomic_load(&failures) == 0, "%s%s", w[0].first, w[1].first);
    ck_assert_int_gt(ch.binds, 0);
    ck_assert_int_eq(db_test_i64(h, a, "SELECT n FROM counter", NULL), 2 * (ROUNDS + ROUNDS / 10));
    char *info = db_test_admin(h, "info", NULL);
    ck_assert_msg(strstr(info, "\"bindings\":1") && strstr(info, "\"opens\":1"), "%s", info);
    free(info);
    starter_harness_unbind(h, a);
    starter_harness_close(h);
    db_test_remove(work);
}
END_TEST

START_TEST(a_lock_held_elsewhere_is_busy_after_the_timeout)
{
    char *work = db_test_mkdtemp();
    starter_harness *h = db_test_open(DB_SO_10, work, "{\"busy_timeout_ms\": 150}");
    const keel_db_api *api = db_test_api(h);
    keel_db *c = db_test_bind(h, "account");
    free(db_test_exec(h, c, "CREATE TABLE t(x)", NULL));

    char *file = db_test_path(work, "db/account.sqlite");
    sqlite3 *other = NULL;
    ck_assert_int_eq(sqlite3_open(file, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO t VALUES (99)", NULL, NULL, NULL), SQLITE_OK);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    db_test_exec_fails(h, c, "INSERT INTO t VALUES (1)", NULL, KEEL_ERR_BUSY, "busy_timeout_ms");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms >= 100, "gave up after %.0f ms", ms);
    ck_assert_int_eq(api->batch(c, "[\"INSERT INTO t VALUES (2)\"]", NULL), KEEL_ERR_BUSY);
    /* WAL: readers are not blocked by the writer, and see what was committed. */
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 0);

    ck_assert_int_eq(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    free(db_test_exec(h, c, "INSERT INTO t VALUES (1)", NULL));
    ck_assert_int_eq(db_test_i64(h, c, "SELECT count(*) FROM t", NULL), 1);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    free(file);
    db_test_remove(work);
}
END_TEST

static Suite *threads_suite(void)
{
    Suite *s = suite_create("starter_db_threads");
    TCase *t = tcase_create("threads");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, four_writers_lose_nothing);
    tcase_add_test(t, bindings_come_and_go_while_others_write);
    tcase_add_test(t, a_lock_held_elsewhere_is_busy_after_the_timeout);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(threads_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

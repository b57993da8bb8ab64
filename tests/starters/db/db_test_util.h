/* db_test_util.h — shared helpers of the db starter's tests: a temporary
 * work directory, the starter through the harness, and slot calls that
 * assert (with the starter's last_error in the failure message). */
#ifndef DB_TEST_UTIL_H
#define DB_TEST_UTIL_H

#include <stdint.h>
#include <keel/starters/db.h>
#include "starter_harness.h"

#define DB_SO_10 KEEL_STARTERS_DIR "/db/keel-starter-db-1.0.0.so"
#define DB_SO_11 KEEL_STARTERS_DIR "/db/keel-starter-db-1.1.0.so"

/* A fresh directory under /tmp (malloc'd); remove with db_test_remove. */
char *db_test_mkdtemp(void);
/* rm -rf `dir`, then free(dir). NULL-safe. */
void db_test_remove(char *dir);
/* "<base>/<name>", malloc'd. */
char *db_test_path(const char *base, const char *name);

/* Opens the starter .so `so` with its work dir <work>/db and `config`
 * (NULL: "{}"); asserts success. */
starter_harness *db_test_open(const char *so, const char *work, const char *config);
/* The running version's table. */
const keel_db_api *db_test_api(starter_harness *h);
/* Binds module `module`; asserts success. */
keel_db *db_test_bind(starter_harness *h, const char *module);

/* exec that must succeed; returns the result (free with free()). */
char *db_test_exec(starter_harness *h, keel_db *c, const char *sql, const char *params);
/* exec that must succeed; asserts the result text equals `expect`. */
void db_test_exec_eq(starter_harness *h, keel_db *c, const char *sql, const char *params,
                     const char *expect);
/* exec that must fail with `status`, and whose last_error contains
 * `needle` (NULL: anything). */
void db_test_exec_fails(starter_harness *h, keel_db *c, const char *sql, const char *params,
                        keel_status status, const char *needle);
/* query_i64 that must succeed. */
int64_t db_test_i64(starter_harness *h, keel_db *c, const char *sql, const char *params);
/* The calling thread's last error on c (static buffer of the caller's
 * thread). */
const char *db_test_last_error(starter_harness *h, keel_db *c);

/* Admin op that must succeed; returns the result (free()). */
char *db_test_admin(starter_harness *h, const char *op, const char *args);

/* SELECT count(*) FROM `table` through the sqlite3 library directly on
 * `file` (read-only), or -1 when that fails. */
int64_t db_test_direct_count(const char *file, const char *table);

#endif

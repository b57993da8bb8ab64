/* config_test_util.h — helpers shared by the config starter's tests: a
 * fresh work directory, opening the starter through the harness, admin
 * calls that must succeed, reading files. */
#ifndef CONFIG_TEST_UTIL_H
#define CONFIG_TEST_UTIL_H

#include <check.h>
#include <cjson/cJSON.h>
#include <keel/starter.h>
#include <keel/starters/config.h>

#include "starter_harness.h"

#define CONFIG_SO_V1 KEEL_STARTERS_DIR "/config/keel-starter-config-1.0.0.so"
#define CONFIG_SO_V2 KEEL_STARTERS_DIR "/config/keel-starter-config-1.1.0.so"

/* The defaults of the brief, plus a few typed values. */
#define NOTIFY_DEFAULTS                                                                  \
    "{\"defaults\": {\"notify\": {\"*\": {\"channel\": \"email\", \"retries\": 5, "        \
    "\"muted\": false, \"ratio\": 1.5}, \"retail\": {\"channel\": \"sms\"}}}}"

/* A fresh directory under /tmp (malloc'd path); test_rmtree removes it. */
char *test_mkwork(void);
void test_rmtree(char *dir);   /* also frees `dir` */

/* Opens `so` on `work` with `config`; fails the test on error. */
starter_harness *test_open(const char *so, const char *work, const char *config);
/* Opens and returns the status, the message in `err`. */
keel_status test_try_open(const char *so, const char *work, const char *config, keel_starter_error *err);

const keel_config_api *test_api(starter_harness *h);
keel_config *test_bind(starter_harness *h, const char *module, const char *scene);

/* admin op that must succeed: the parsed result (cJSON_Delete it). */
cJSON *test_admin(starter_harness *h, const char *op, const char *args);
/* admin op that must fail with `expect`; the error message must contain
 * `needle` (may be NULL). */
void test_admin_fails(starter_harness *h, const char *op, const char *args, keel_status expect,
                      const char *needle);
/* A number field of the info op. */
double test_info_number(starter_harness *h, const char *field);

/* The effective value through the slot, or NULL (with *st). Free with free(). */
char *test_get(starter_harness *h, keel_config *cfg, const char *scene, const char *key, keel_status *st);

/* The whole file (malloc'd) or NULL when it does not exist. */
char *test_read_file(const char *path);
/* work/name as a malloc'd path. */
char *test_path(const char *work, const char *name);

#endif

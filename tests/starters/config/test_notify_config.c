/*
 * The sample notify module (samples/notify) on the real config starter,
 * without a base: the test plays the base with a small keel_api of its own
 * (log, subscribe, service_register, starter_get), loads notify with
 * dlopen, delivers transfer.done messages to its handlers and calls its
 * services directly. Checks that operator changes (admin set/delete) reach
 * notify at run time, per scene, and change what it records per message.
 */
#include "config_test_util.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- a tiny base ------------------------------------------------------------- */

typedef struct fake_base {
    starter_harness *h;
    keel_config *client;
    int binds;
    atomic_int warnings;
    struct {
        char scene[32];
        keel_message_fn fn;
        void *user;
    } subs[8];
    int sub_count;
    struct {
        char name[32];
        keel_fn fn;
    } services[8];
    int service_count;
} fake_base;

static fake_base base;

static void fake_logv(keel_ctx *ctx, keel_log_level level, const char *fmt, va_list ap)
{
    if (level >= KEEL_LOG_WARN)
        atomic_fetch_add(&base.warnings, 1);
    fprintf(stderr, "[notify %s] ", level >= KEEL_LOG_WARN ? "warn" : "info");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void fake_log(keel_ctx *ctx, keel_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fake_logv(ctx, level, fmt, ap);
    va_end(ap);
}

static keel_status fake_subscribe(keel_ctx *ctx, const char *scene, const char *topic, keel_message_fn fn,
                                  void *user)
{
    ck_assert_str_eq(topic, "transfer.done");
    ck_assert_int_lt(base.sub_count, 8);
    snprintf(base.subs[base.sub_count].scene, sizeof base.subs[0].scene, "%s", scene);
    base.subs[base.sub_count].fn = fn;
    base.subs[base.sub_count].user = user;
    base.sub_count++;
    return KEEL_OK;
}

static keel_status fake_register(keel_ctx *ctx, const char *scene, const char *name, const char *signature,
                                 keel_fn fn)
{
    ck_assert_str_eq(scene, "notify");
    ck_assert_int_lt(base.service_count, 8);
    snprintf(base.services[base.service_count].name, sizeof base.services[0].name, "%s", name);
    base.services[base.service_count].fn = fn;
    base.service_count++;
    return KEEL_OK;
}

static keel_status fake_starter_get(keel_ctx *ctx, const char *name, const char *range, const void **table,
                                    void **client)
{
    if (strcmp(name, "config") != 0)
        return KEEL_ERR_DENIED;
    if (base.client == NULL) {
        base.client = test_bind(base.h, "notify", "notify");
        base.binds++;
    }
    *table = starter_harness_table(base.h);
    *client = base.client;
    return KEEL_OK;
}

static const keel_api fake_api = {
    .version = 3,
    .size = sizeof(keel_api),
    .log = fake_log,
    .logv = fake_logv,
    .subscribe = fake_subscribe,
    .service_register = fake_register,
    .starter_get = fake_starter_get,
};

static keel_fn service(const char *name)
{
    for (int i = 0; i < base.service_count; i++)
        if (strcmp(base.services[i].name, name) == 0)
            return base.services[i].fn;
    ck_abort_msg("notify did not register %s", name);
    return NULL;
}

/* Delivers a transfer.done payload in `scene` as the router would. */
static void deliver(const char *scene, const char *payload)
{
    for (int i = 0; i < base.sub_count; i++) {
        if (strcmp(base.subs[i].scene, scene) == 0) {
            keel_message msg = {scene, "transfer.done", payload, strlen(payload)};
            base.subs[i].fn(NULL, &msg, base.subs[i].user);
            return;
        }
    }
    ck_abort_msg("notify does not listen in %s", scene);
}

/* settings(scene) parsed (cJSON_Delete it). */
static cJSON *settings(const char *scene)
{
    const char *text = ((const char *(*)(const char *))service("settings"))(scene);
    cJSON *r = cJSON_Parse(text);
    ck_assert_msg(r != NULL, "settings(%s) gave invalid JSON: %s", scene ? scene : "NULL", text);
    return r;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

static void expect_setting(const char *scene, const char *key, const char *want)
{
    cJSON *r = settings(scene);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, key);
    char *text = cJSON_PrintUnformatted(v);
    ck_assert_msg(text != NULL && strcmp(text, want) == 0, "%s.%s is %s, wanted %s", scene, key,
                  text ? text : "absent", want);
    free(text);
    cJSON_Delete(r);
}

static int notified(cJSON *r)
{
    int n = cJSON_GetObjectItemCaseSensitive(r, "notified")->valueint;
    cJSON_Delete(r);
    return n;
}

static const char retail_payload[] =
    "{\"ok\":true,\"scene\":\"retail\",\"from\":\"alice\",\"to\":\"bob\",\"amount\":1000,\"fee\":0,\"version\":\"1.0.0\"}";
static const char corporate_payload[] =
    "{\"ok\":true,\"scene\":\"corporate\",\"from\":\"ca\\\"rol\",\"to\":\"alice\",\"amount\":599500,\"fee\":500,"
    "\"version\":\"1.0.0\"}";

/* The sample base configuration's defaults for notify. */
#define SAMPLE_DEFAULTS                                                                                     \
    "{\"defaults\": {\"notify\": {\"*\": {\"channel\": \"email\", \"muted\": false}, \"retail\": {\"channel\": " \
    "\"sms\"}}}}"

START_TEST(notify_applies_operator_changes_at_run_time)
{
    char *work = test_mkwork();
    memset(&base, 0, sizeof base);
    base.h = test_open(CONFIG_SO_V1, work, SAMPLE_DEFAULTS);
    void *so = dlopen(KEEL_NOTIFY_SO, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(so != NULL, "%s", dlerror());
    keel_module_entry_fn entry = (keel_module_entry_fn)dlsym(so, KEEL_MODULE_ENTRY_SYMBOL);
    ck_assert_ptr_nonnull(entry);
    const keel_module_def *def = entry();
    ck_assert_str_eq(def->name, "notify");
    ck_assert_int_eq(def->start(NULL, &fake_api), KEEL_OK);
    ck_assert_int_eq(base.binds, 1);
    ck_assert_int_eq(base.sub_count, 2);
    ck_assert_int_eq(test_info_number(base.h, "watchers"), 2);

    /* The configured values, per scene. */
    expect_setting("retail", "channel", "\"sms\"");
    expect_setting("corporate", "channel", "\"email\"");
    expect_setting("retail", "muted", "false");
    expect_setting("retail", "template", "\"{from} sent {amount} cents to {to} ({scene})\"");
    expect_setting("retail", "changes", "0");
    expect_setting("retail", "last_notice", "null");
    ck_assert_str_eq(((const char *(*)(const char *))service("settings"))("vip"), "null");

    /* A message is heard and noticed through the scene's channel. */
    deliver("retail", retail_payload);
    ck_assert_int_eq(((int64_t(*)(const char *))service("count"))("retail"), 1);
    expect_setting("retail", "last_notice", "\"[sms] alice sent 1000 cents to bob (retail)\"");
    expect_setting("retail", "sent", "1");

    /* A module-wide change reaches corporate; retail keeps its own sms. */
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"key\":\"channel\",\"value\":\"push\"}")), 1);
    expect_setting("corporate", "channel", "\"push\"");
    expect_setting("corporate", "changes", "1");
    expect_setting("retail", "channel", "\"sms\"");

    /* Muting retail: heard and counted, not sent. */
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"muted\",\"value\":true}")), 1);
    deliver("retail", retail_payload);
    ck_assert_int_eq(((int64_t(*)(const char *))service("count"))("retail"), 2);
    cJSON *r = settings("retail");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "muted")));
    ck_assert_double_eq(num_of(r, "sent"), 1);
    ck_assert_double_eq(num_of(r, "suppressed"), 1);
    cJSON_Delete(r);

    /* A template for everyone; the corporate notice uses it. */
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"key\":\"template\","
                                         "\"value\":\"{channel}: {from} -> {to}, {amount} (+{fee}) {nope}\"}")), 2);
    deliver("corporate", corporate_payload);
    r = settings("corporate");
    ck_assert_str_eq(str_of(r, "last_notice"), "[push] push: ca\"rol -> alice, 599500 (+500) {nope}");
    cJSON_Delete(r);

    /* A value of the wrong kind is refused with a warning; nothing changes. */
    int warnings = atomic_load(&base.warnings);
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"scene\":\"corporate\",\"key\":\"channel\",\"value\":42}")), 1);
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"scene\":\"corporate\",\"key\":\"muted\",\"value\":\"yes\"}")), 1);
    ck_assert_int_eq(atomic_load(&base.warnings), warnings + 2);
    expect_setting("corporate", "channel", "\"push\"");
    expect_setting("corporate", "muted", "false");

    /* Deleting values: back to the module-wide value, then to the
     * built-in default when none is left. */
    ck_assert_int_eq(notified(test_admin(base.h, "delete", "{\"module\":\"notify\",\"scene\":\"corporate\",\"key\":\"channel\"}")), 1);
    expect_setting("corporate", "channel", "\"push\"");
    ck_assert_int_eq(notified(test_admin(base.h, "delete", "{\"module\":\"notify\",\"key\":\"channel\"}")), 1);
    expect_setting("corporate", "channel", "\"email\"");
    expect_setting("retail", "channel", "\"sms\"");

    /* An unrelated key is ignored. */
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"key\":\"colour\",\"value\":\"red\"}")), 2);

    /* Stop: notify unwatches; the base then unbinds. */
    def->stop(NULL, &fake_api);
    ck_assert_int_eq(test_info_number(base.h, "watchers"), 0);
    ck_assert_int_eq(notified(test_admin(base.h, "set", "{\"module\":\"notify\",\"key\":\"muted\",\"value\":true}")), 0);
    starter_harness_unbind(base.h, base.client);
    dlclose(so);
    starter_harness_close(base.h);
    test_rmtree(work);
}
END_TEST

START_TEST(notify_reads_operator_changes_made_before_it_started)
{
    char *work = test_mkwork();
    memset(&base, 0, sizeof base);
    base.h = test_open(CONFIG_SO_V1, work, SAMPLE_DEFAULTS);
    cJSON_Delete(test_admin(base.h, "set", "{\"module\":\"notify\",\"scene\":\"corporate\",\"key\":\"muted\",\"value\":true}"));
    cJSON_Delete(test_admin(base.h, "set", "{\"module\":\"notify\",\"key\":\"template\",\"value\":\"{to} got {amount}\"}"));
    void *so = dlopen(KEEL_NOTIFY_SO, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(so != NULL, "%s", dlerror());
    const keel_module_def *def = ((keel_module_entry_fn)dlsym(so, KEEL_MODULE_ENTRY_SYMBOL))();
    ck_assert_int_eq(def->start(NULL, &fake_api), KEEL_OK);
    expect_setting("corporate", "muted", "true");
    expect_setting("retail", "muted", "false");
    deliver("retail", retail_payload);
    expect_setting("retail", "last_notice", "\"[sms] bob got 1000\"");
    def->stop(NULL, &fake_api);
    starter_harness_unbind(base.h, base.client);
    dlclose(so);
    starter_harness_close(base.h);
    test_rmtree(work);
}
END_TEST

static keel_status refuse_starter(keel_ctx *ctx, const char *name, const char *range, const void **table,
                                  void **client)
{
    return KEEL_ERR_NOT_FOUND;
}

START_TEST(notify_refuses_to_start_without_the_config_starter)
{
    memset(&base, 0, sizeof base);
    void *so = dlopen(KEEL_NOTIFY_SO, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(so != NULL, "%s", dlerror());
    const keel_module_def *def = ((keel_module_entry_fn)dlsym(so, KEEL_MODULE_ENTRY_SYMBOL))();
    keel_api no_config = fake_api;
    no_config.starter_get = refuse_starter;
    ck_assert_int_eq(def->start(NULL, &no_config), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(base.sub_count, 0);
    ck_assert_int_ge(atomic_load(&base.warnings), 1); /* the error line */
    keel_api v2 = fake_api;
    v2.version = 2;
    v2.size = offsetof(keel_api, starter_get);
    ck_assert_int_eq(def->start(NULL, &v2), KEEL_ERR_API);
    dlclose(so);
}
END_TEST

static Suite *notify_suite(void)
{
    Suite *s = suite_create("notify_config");
    TCase *tc = tcase_create("notify");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, notify_applies_operator_changes_at_run_time);
    tcase_add_test(tc, notify_reads_operator_changes_made_before_it_started);
    tcase_add_test(tc, notify_refuses_to_start_without_the_config_starter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(notify_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

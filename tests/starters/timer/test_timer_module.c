/*
 * What modules and operators see: the table of each version, schedule /
 * cancel / next_run / free, namespacing, removal at unbind, max_jobs, and
 * the admin ops (info, jobs, run, preview, unknown ops).
 */
#include <check.h>
#include <keel/starters/timer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timer_fake.h"
#include "timer_tests.h"

START_TEST(test_tables_of_both_versions)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer("1.0.0", dir, NULL, f);
    const keel_starter_def *def = starter_harness_def(h);
    const keel_timer_api *api = starter_harness_table(h);
    ck_assert_str_eq(def->name, "timer");
    ck_assert_uint_eq(def->slot_count, 3);
    ck_assert_str_eq(def->slot_signatures[0], "i32(ptr,ptr,ptr,ptr)");
    ck_assert_str_eq(def->slot_signatures[1], "i32(ptr,ptr)");
    ck_assert_str_eq(def->slot_signatures[2], "void(ptr)");
    ck_assert_uint_eq(api->version, KEEL_TIMER_TABLE_VERSION_1);
    ck_assert_uint_eq(api->size, 8 + 3 * sizeof(void *));
    ck_assert(!KEEL_TIMER_HAS(api, next_run));
    uint32_t format = def->state_format;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_upgrade(h, timer_so("1.1.0"), &err), KEEL_OK);
    def = starter_harness_def(h);
    api = starter_harness_table(h);
    ck_assert_uint_eq(def->state_format, format);
    ck_assert_uint_eq(def->slot_count, 4);
    ck_assert_str_eq(def->slot_signatures[3], "i32(ptr,ptr,ptr)");
    ck_assert_uint_eq(api->version, KEEL_TIMER_TABLE_VERSION_2);
    ck_assert_uint_eq(api->size, sizeof(keel_timer_api));
    ck_assert(KEEL_TIMER_HAS(api, next_run));
    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "version")->valuestring, "1.1.0");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(info, "slots")), 4);
    cJSON_Delete(info);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

/* schedule through the table, expecting `want`; returns the error text
 * (static copy, "" when none) after freeing it with the table's free. */
static const char *schedule(const keel_timer_api *api, void *client, const char *name,
                            const char *spec, keel_status want)
{
    static char text[512];
    char *error = (char *)"unset";
    keel_status st = api->schedule(client, name, spec, &error);
    ck_assert_msg(st == want, "schedule %s %s: %d (%s), expected %d", name, spec, st,
                  error ? error : "", want);
    snprintf(text, sizeof text, "%s", error ? error : "");
    if (want == KEEL_OK)
        ck_assert_ptr_null(error);
    else
        ck_assert_msg(error && !strchr(error, '\n'), "no one-line error");
    api->free(error);
    return text;
}

static size_t job_count(starter_harness *h)
{
    cJSON *o = admin_ok(h, "jobs", NULL);
    size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(o, "jobs"));
    cJSON_Delete(o);
    return n;
}

START_TEST(test_module_schedule_cancel_unbind)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer("1.1.0", dir, NULL, f);
    const keel_timer_api *api = starter_harness_table(h);
    void *acc = NULL, *bill = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_bind(h, "account", "funds", &acc, &err), KEEL_OK);
    ck_assert_int_eq(starter_harness_bind(h, "billing", NULL, &bill, &err), KEEL_OK);

    schedule(api, acc, "tick", "{\"service\":\"ping\",\"every\":\"50ms\",\"args\":[\"${job}\"]}",
             KEEL_OK);
    schedule(api, bill, "tick", "{\"service\":\"bill\",\"every\":\"50ms\"}", KEEL_OK);
    ck_assert(fake_wait(f, "ping", 3, 3000));
    ck_assert(fake_wait(f, "bill", 3, 3000));
    fake_call c;
    fake_calls(f, "ping", &c, 1);
    ck_assert_str_eq(c.scene, "funds");       /* the module's scene */
    ck_assert_str_eq(c.arg0, "account/tick"); /* namespaced */
    fake_calls(f, "bill", &c, 1);
    ck_assert_str_eq(c.scene, "default");

    int64_t next = 0;
    ck_assert_int_eq(api->next_run(acc, "tick", &next), KEEL_OK);
    ck_assert_int_eq(next % 50, 0);
    ck_assert_int_gt(next, now_ms() - 100);
    ck_assert_int_eq(api->next_run(acc, "nope", &next), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->next_run(acc, "tick", NULL), KEEL_ERR_INVALID);

    cJSON *job = job_info(h, "account/tick");
    ck_assert_str_eq(cJSON_GetObjectItem(job, "origin")->valuestring, "module");
    ck_assert_str_eq(cJSON_GetObjectItem(job, "module")->valuestring, "account");
    cJSON_Delete(job);
    ck_assert_uint_eq(job_count(h), 2);

    /* the same name again replaces it: still one job, ticks go on */
    schedule(api, acc, "tick",
             "{\"service\":\"ping\",\"every\":\"50ms\",\"args\":[\"${job}\"],\"scene\":\"funds\"}",
             KEEL_OK);
    ck_assert_uint_eq(job_count(h), 2);

    /* bad specs: one line naming the job, the field, the position */
    const char *e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"cron\":\"0 25 * * *\"}",
                             KEEL_ERR_INVALID);
    ck_assert_str_eq(e, "timer: job \"account/bad\": field \"cron\": at position 3 (hour field): "
                        "25 is out of range 0-23");
    e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"every\":\"5 minutes\"}",
                 KEEL_ERR_INVALID);
    ck_assert_str_eq(e, "timer: job \"account/bad\": field \"every\": at position 2: unknown unit "
                        "\" minutes\" (expected ms, s, m, h or d)");
    e = schedule(api, acc, "bad", "{\"service\":\"ping\"}", KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e, "exactly one of \"every\" and \"cron\""));
    e = schedule(api, acc, "bad", "{\"every\":\"1s\"}", KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e, "field \"service\": required"));
    e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"every\":\"1s\",\"name\":\"x\"}",
                 KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e, "field \"name\": unknown field"));
    e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"every\":\"1s\",\"args\":{}}",
                 KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e, "field \"args\": expected a JSON array"));
    e = schedule(api, acc, "bad", "{\"service\": \"ping\", \"every\" 1}", KEEL_ERR_INVALID);
    ck_assert_str_eq(e, "timer: job \"account/bad\": spec: malformed JSON at position 29");
    e = schedule(api, acc, "a/b", "{\"service\":\"ping\",\"every\":\"1s\"}", KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e, "field \"name\""));
    e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"every\":\"1s\",\"scene\":\"other\"}",
                 KEEL_ERR_DENIED);
    ck_assert_str_eq(e, "timer: job \"account/bad\": field \"scene\": \"other\" is not one of the "
                        "module's scenes (funds)");
    e = schedule(api, acc, "bad", "{\"service\":\"ping\",\"every\":\"1s\",\"module\":\"billing\"}",
                 KEEL_ERR_DENIED);
    ck_assert_ptr_nonnull(strstr(e, "field \"module\": a module schedules only its own jobs"));
    ck_assert_uint_eq(job_count(h), 2); /* nothing changed */
    ck_assert_int_eq(api->schedule(acc, "bad", "{", NULL), KEEL_ERR_INVALID); /* error NULL */

    /* cancel: no tick starts afterwards */
    ck_assert_int_eq(api->cancel(acc, "tick"), KEEL_OK);
    sleep_ms(100); /* a run that started before cancel ends */
    size_t after_cancel = fake_count(f, "ping");
    sleep_ms(200);
    ck_assert_uint_eq(fake_count(f, "ping"), after_cancel);
    ck_assert_int_eq(api->cancel(acc, "tick"), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->next_run(acc, "tick", &next), KEEL_ERR_NOT_FOUND);
    ck_assert_uint_eq(job_count(h), 1);

    /* unbind removes the module's jobs, not the others' */
    schedule(api, acc, "t2", "{\"service\":\"ping\",\"every\":\"50ms\"}", KEEL_OK);
    ck_assert(fake_wait(f, "ping", after_cancel + 2, 3000));
    starter_harness_unbind(h, acc);
    sleep_ms(100); /* a run that started before unbind ends */
    size_t after_unbind = fake_count(f, "ping");
    size_t bills = fake_count(f, "bill");
    sleep_ms(200);
    ck_assert_uint_eq(fake_count(f, "ping"), after_unbind);
    ck_assert_uint_gt(fake_count(f, "bill"), bills);
    ck_assert_uint_eq(job_count(h), 1);
    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_int_eq(num(info, "clients"), 1);
    ck_assert_int_eq(num(info, "module_jobs"), 1);
    cJSON_Delete(info);
    starter_harness_unbind(h, bill);
    ck_assert_uint_eq(job_count(h), 0);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_next_version_of_module_takes_over_job)
{
    /* a module switch: v2 binds and schedules the same job before v1
     * unbinds; the job carries over and no tick runs twice */
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer("1.1.0", dir, NULL, f);
    const keel_timer_api *api = starter_harness_table(h);
    const char *spec = "{\"service\":\"ping\",\"every\":\"20ms\",\"args\":[\"${tick}\"]}";
    void *v1 = NULL, *v2 = NULL;
    keel_starter_error err;
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &v1, &err), KEEL_OK);
    schedule(api, v1, "j", spec, KEEL_OK);
    ck_assert(fake_wait(f, "ping", 3, 3000));
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &v2, &err), KEEL_OK);
    schedule(api, v2, "j", spec, KEEL_OK);
    starter_harness_unbind(h, v1);
    size_t n = fake_count(f, "ping");
    ck_assert(fake_wait(f, "ping", n + 3, 3000)); /* still running, owned by v2 */
    static fake_call calls[512];
    size_t m = fake_calls(f, "ping", calls, 512);
    for (size_t i = 1; i < m; i++)
        ck_assert_int_gt(calls[i].tick, calls[i - 1].tick);
    starter_harness_unbind(h, v2);
    ck_assert_uint_eq(job_count(h), 0);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_max_jobs)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer(
        "1.0.0", dir,
        "{\"max_jobs\":2,\"jobs\":[{\"name\":\"c\",\"module\":\"account\",\"service\":\"ping\","
        "\"every\":\"1d\"}]}",
        f);
    const keel_timer_api *api = starter_harness_table(h);
    void *acc = NULL;
    keel_starter_error err;
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &acc, &err), KEEL_OK);
    schedule(api, acc, "a", "{\"service\":\"ping\",\"every\":\"1d\"}", KEEL_OK);
    const char *e = schedule(api, acc, "b", "{\"service\":\"ping\",\"every\":\"1d\"}",
                             KEEL_ERR_LIMIT);
    ck_assert_str_eq(e, "timer: job \"account/b\": max_jobs (2) reached");
    schedule(api, acc, "a", "{\"service\":\"ping\",\"every\":\"2d\"}", KEEL_OK); /* replace */
    starter_harness_unbind(h, acc);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_admin_ops)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer(
        "1.0.0", dir,
        "{\"jobs\":[{\"name\":\"nightly-reconcile\",\"module\":\"account\",\"scene\":\"funds\","
        "\"service\":\"ping\",\"args\":[\"${tick}\"],\"cron\":\"0 2 * * *\"},"
        "{\"name\":\"broken\",\"module\":\"account\",\"service\":\"bad\",\"every\":\"1d\"}]}",
        f);
    char *out = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_admin(h, "explode", NULL, &out, &err), KEEL_ERR_NOT_FOUND);
    ck_assert_str_eq(err.message,
                     "timer: unknown admin op \"explode\" (known: info, jobs, run, preview)");
    ck_assert_ptr_null(out);

    /* run now: counted apart, tick bookkeeping untouched */
    int64_t before = now_ms();
    cJSON *r = admin_ok(h, "run", "{\"job\":\"nightly-reconcile\"}");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "ok")));
    cJSON_Delete(r);
    ck_assert_uint_eq(fake_count(f, "ping"), 1);
    fake_call c;
    fake_calls(f, "ping", &c, 1);
    ck_assert_int_ge(c.tick, before);
    ck_assert_str_eq(c.scene, "funds");
    cJSON *job = job_info(h, "nightly-reconcile");
    ck_assert_int_eq(num(job, "manual_runs"), 1);
    ck_assert_int_eq(num(job, "runs"), 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(job, "last_started_ms")));
    double next = num(job, "next_due_ms");
    ck_assert_int_eq((int64_t)next % 86400000, 2 * 3600000);
    ck_assert_str_eq(cJSON_GetObjectItem(job, "cron")->valuestring, "0 2 * * *");
    ck_assert_str_eq(cJSON_GetObjectItem(job, "timezone")->valuestring, "UTC");
    const char *iso = cJSON_GetObjectItem(job, "next_due")->valuestring;
    ck_assert_ptr_nonnull(strstr(iso, "T02:00:00.000Z"));
    cJSON_Delete(job);

    ck_assert_int_eq(starter_harness_admin(h, "run", "{\"job\":\"broken\"}", &out, &err),
                     KEEL_ERR_INTERNAL);
    ck_assert_ptr_nonnull(strstr(err.message, "reconcile exploded"));
    ck_assert_int_eq(starter_harness_admin(h, "run", "{\"job\":\"nope\"}", &out, &err),
                     KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(starter_harness_admin(h, "run", NULL, &out, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(starter_harness_admin(h, "run", "[1]", &out, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(starter_harness_admin(h, "jobs", "{\"job\":\"nope\"}", &out, &err),
                     KEEL_ERR_NOT_FOUND);

    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "starter")->valuestring, "timer");
    ck_assert_int_eq(num(info, "manual_runs"), 2);
    ck_assert_int_eq(num(info, "manual_failures"), 1);
    ck_assert_int_eq(num(info, "runs"), 0);
    ck_assert_int_eq(num(info, "config_jobs"), 2);
    ck_assert_int_eq(num(info, "workers"), 2);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(info, "running")));
    ck_assert_str_eq(cJSON_GetObjectItem(info, "catch_up")->valuestring, "once");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(info, "jobs")), 2);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(info, "jobs"), 0), "name")
            ->valuestring,
        "nightly-reconcile");
    cJSON_Delete(info);

    /* preview: next fire times of a spec, or where it is wrong */
    cJSON *p = admin_ok(h, "preview",
                        "{\"cron\":\"0 0 29 2 *\",\"from\":1704067200000,\"count\":3}");
    cJSON *nx = cJSON_GetObjectItem(p, "next");
    ck_assert_int_eq(cJSON_GetArraySize(nx), 3);
    ck_assert_str_eq(cJSON_GetArrayItem(nx, 0)->valuestring, "2024-02-29T00:00:00.000Z");
    ck_assert_str_eq(cJSON_GetArrayItem(nx, 1)->valuestring, "2028-02-29T00:00:00.000Z");
    cJSON_Delete(p);
    ck_assert_int_eq(starter_harness_admin(h, "preview", "{\"cron\":\"0 0 * * 8\"}", &out, &err),
                     KEEL_ERR_INVALID);
    ck_assert_str_eq(err.message, "timer: preview: field \"cron\": at position 9 (day-of-week "
                                  "field): 8 is out of range 0-7");
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

void timer_module_tests(Suite *s)
{
    TCase *tc = tcase_create("module");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tables_of_both_versions);
    tcase_add_test(tc, test_module_schedule_cancel_unbind);
    tcase_add_test(tc, test_next_version_of_module_takes_over_job);
    tcase_add_test(tc, test_max_jobs);
    tcase_add_test(tc, test_admin_ops);
    suite_add_tcase(s, tc);
}

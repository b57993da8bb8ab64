/*
 * Malformed configurations: create refuses each with one line naming the
 * field (and the job, and the position in a spec), and leaves nothing
 * behind. Defaults apply to an empty configuration.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timer_fake.h"
#include "timer_tests.h"

#define JOB(FIELDS) "{\"jobs\":[{\"name\":\"n1\",\"module\":\"m\",\"service\":\"s\"" FIELDS "}]}"

typedef struct bad_config {
    const char *config;
    const char *message;  /* the whole expected message */
} bad_config;

static const bad_config bad_configs[] = {
    {"[1,2]", "timer: config: expected a JSON object, got [1,2]"},
    {"{\"jobs\": [", "timer: config: malformed JSON near position 11"},
    {"{\"max_jobs\": \"abc\"}",
     "timer: config field \"max_jobs\": expected an integer 1..100000, got \"abc\""},
    {"{\"max_jobs\": 0}", "timer: config field \"max_jobs\": expected an integer 1..100000, got 0"},
    {"{\"max_jobs\": 2.5}",
     "timer: config field \"max_jobs\": expected an integer 1..100000, got 2.5"},
    {"{\"workers\": 1}", "timer: config field \"workers\": expected an integer 2..64, got 1"},
    {"{\"catch_up\": \"twice\"}",
     "timer: config field \"catch_up\": expected \"once\" or \"skip\", got \"twice\""},
    {"{\"state_file\": \"\"}",
     "timer: config field \"state_file\": expected a file path (1-1024 bytes, relative to the "
     "starter's work directory), got \"\""},
    {"{\"state_file\": 7}",
     "timer: config field \"state_file\": expected a file path (1-1024 bytes, relative to the "
     "starter's work directory), got 7"},
    {"{\"bogus\": 1}", "timer: config field \"bogus\": unknown (known: state_file, max_jobs, "
                      "catch_up, workers, jobs)"},
    {"{\"jobs\": {}}",
     "timer: config field \"jobs\": expected an array of job objects, got {}"},
    {"{\"jobs\": [3]}", "timer: config field \"jobs[0]\": expected a JSON object"},
    {JOB(""), "timer: config field \"jobs[0].every\" (job \"n1\"): give exactly one of "
              "\"every\" and \"cron\""},
    {JOB(",\"every\":\"1s\",\"cron\":\"* * * * *\""),
     "timer: config field \"jobs[0].cron\" (job \"n1\"): give exactly one of \"every\" and "
     "\"cron\""},
    {JOB(",\"cron\":\"0 25 * * *\""),
     "timer: config field \"jobs[0].cron\" (job \"n1\"): at position 3 (hour field): 25 is out of "
     "range 0-23"},
    {JOB(",\"cron\":\"0 0 31 2 *\""),
     "timer: config field \"jobs[0].cron\" (job \"n1\"): at position 5 (day-of-month field): no "
     "chosen day exists in the chosen months, the expression never fires"},
    {JOB(",\"every\":\"5q\""),
     "timer: config field \"jobs[0].every\" (job \"n1\"): at position 2: unknown unit \"q\" "
     "(expected ms, s, m, h or d)"},
    {JOB(",\"every\":30"),
     "timer: config field \"jobs[0].every\" (job \"n1\"): expected a non-empty string of at most "
     "32 bytes"},
    {JOB(",\"every\":\"1s\",\"timezone\":\"Mars\""),
     "timer: config field \"jobs[0].timezone\" (job \"n1\"): expected \"UTC\" or \"local\", got "
     "\"Mars\""},
    {JOB(",\"every\":\"1s\",\"args\":\"x\""),
     "timer: config field \"jobs[0].args\" (job \"n1\"): expected a JSON array of the service's "
     "arguments"},
    {JOB(",\"every\":\"1s\",\"color\":\"red\""),
     "timer: config field \"jobs[0].color\" (job \"n1\"): unknown field (known: name, module, "
     "scene, service, args, every, cron, timezone)"},
    {"{\"jobs\":[{\"name\":\"a/b\",\"module\":\"m\",\"service\":\"s\",\"every\":\"1s\"}]}",
     "timer: config field \"jobs[0].name\": expected a job name of 1-64 characters "
     "[A-Za-z0-9_.-]"},
    {"{\"jobs\":[{\"name\":\"a\",\"service\":\"s\",\"every\":\"1s\"}]}",
     "timer: config field \"jobs[0].module\" (job \"a\"): required: the module whose switching "
     "pauses the job"},
    {"{\"jobs\":[{\"name\":\"a\",\"module\":\"m\",\"every\":\"1s\"}]}",
     "timer: config field \"jobs[0].service\" (job \"a\"): required: the service to call"},
    {"{\"jobs\":[{\"name\":\"a\",\"module\":\"m\",\"service\":\"s\",\"every\":\"1s\"},"
     "{\"name\":\"a\",\"module\":\"m\",\"service\":\"s\",\"every\":\"2s\"}]}",
     "timer: config field \"jobs[1].name\": duplicate job name \"a\" (also jobs[0])"},
    {"{\"max_jobs\":1,\"jobs\":[{\"name\":\"a\",\"module\":\"m\",\"service\":\"s\",\"every\":"
     "\"1s\"},{\"name\":\"b\",\"module\":\"m\",\"service\":\"s\",\"every\":\"2s\"}]}",
     "timer: config field \"jobs\": 2 jobs exceed max_jobs 1"},
};

START_TEST(test_malformed_configs)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof bad_configs / sizeof bad_configs[0]; i++) {
        starter_harness *h = NULL;
        keel_starter_error err = {{0}};
        keel_status st = starter_harness_open(timer_so("1.0.0"), dir, bad_configs[i].config, NULL,
                                              NULL, NULL, &h, &err);
        ck_assert_msg(st == KEEL_ERR_INVALID, "%s: status %d", bad_configs[i].config, st);
        ck_assert_ptr_null(h);
        ck_assert_msg(strcmp(err.message, bad_configs[i].message) == 0,
                      "%s:\n  got      %s\n  expected %s", bad_configs[i].config, err.message,
                      bad_configs[i].message);
    }
    /* nothing left behind */
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)))
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    ck_assert_int_eq(entries, 0);
    remove_tree(dir);
}
END_TEST

START_TEST(test_defaults_and_state_file_path)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "m");
    starter_harness *h = open_timer("1.0.0", dir, "{}", f);
    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_int_eq(num(info, "max_jobs"), 1000);
    ck_assert_int_eq(num(info, "workers"), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "catch_up")->valuestring, "once");
    char want[128];
    snprintf(want, sizeof want, "%s/timer.json", dir);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "state_file")->valuestring, want);
    ck_assert_int_eq(num(info, "jobs_total"), 0);
    cJSON_Delete(info);
    starter_harness_close(h);
    h = open_timer("1.0.0", dir,
                   "{\"state_file\":\"sub.json\",\"workers\":3,\"catch_up\":\"skip\",\"jobs\":[]}",
                   f);
    info = admin_ok(h, "info", NULL);
    snprintf(want, sizeof want, "%s/sub.json", dir);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "state_file")->valuestring, want);
    ck_assert_int_eq(num(info, "workers"), 3);
    cJSON_Delete(info);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

void timer_config_tests(Suite *s)
{
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_malformed_configs);
    tcase_add_test(tc, test_defaults_and_state_file_path);
    suite_add_tcase(s, tc);
}

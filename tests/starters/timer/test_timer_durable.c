/*
 * Never twice for one tick: upgrades in place (1.0.0 <-> 1.1.0) in a loop
 * under a 20 ms job, and restarts (close + reopen on the same work dir)
 * with the state file: the last started tick is not run again; missed
 * ticks run once (catch_up "once") or are skipped ("skip"). A corrupt
 * state file is refused.
 */
#include <check.h>
#include <keel/starters/timer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timer_fake.h"
#include "timer_tests.h"

#define JOB20 \
    "{\"jobs\":[{\"name\":\"j\",\"module\":\"account\",\"service\":\"ping\"," \
    "\"args\":[\"${tick}\"],\"every\":\"20ms\"}]}"

START_TEST(test_upgrades_never_run_a_tick_twice)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer("1.0.0", dir, JOB20, f);
    ck_assert(fake_wait(f, "ping", 1, 3000));
    unsigned seed = 12345;
    for (int i = 0; i < 80; i++) {
        sleep_ms((int)(rand_r(&seed) % 13));
        const char *to = i % 2 == 0 ? "1.1.0" : "1.0.0";
        keel_starter_error err = {{0}};
        keel_status st = starter_harness_upgrade(h, timer_so(to), &err);
        ck_assert_msg(st == KEEL_OK, "upgrade %d to %s: %s", i, to, err.message);
        ck_assert_str_eq(starter_harness_def(h)->version, to);
    }
    sleep_ms(100);
    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "version")->valuestring, "1.0.0");
    ck_assert_int_eq(num(info, "resumes"), 81);
    cJSON_Delete(info);
    fake_set_status(f, KEEL_STARTER_MODULE_ABSENT); /* no new ticks */
    sleep_ms(80);
    cJSON *job = job_info(h, "j");
    starter_harness_close(h);

    static fake_call calls[FAKE_MAX_CALLS];
    size_t n = fake_calls(f, "ping", calls, FAKE_MAX_CALLS);
    uint64_t missing = 0;
    for (size_t i = 1; i < n; i++) {
        ck_assert_msg(calls[i].tick > calls[i - 1].tick, "tick %lld ran after tick %lld",
                      (long long)calls[i].tick, (long long)calls[i - 1].tick);
        ck_assert_int_eq((calls[i].tick - calls[i - 1].tick) % 20, 0);
        missing += (uint64_t)((calls[i].tick - calls[i - 1].tick) / 20 - 1);
    }
    /* every call is one started tick, and every tick not run is accounted */
    ck_assert_msg((double)n == num(job, "runs"), "%zu calls, runs %g", n, num(job, "runs"));
    double accounted = num(job, "coalesced") + num(job, "overlaps") + num(job, "skipped");
    ck_assert_msg((double)missing <= accounted, "%llu ticks missing, %g accounted",
                  (unsigned long long)missing, accounted);
    ck_assert_msg(n >= 15, "only %zu runs", n);
    cJSON_Delete(job);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

/* last_started of job `name` in dir/timer.json, -1 if none. */
static int64_t file_tick(const char *dir, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/timer.json", dir);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "no state file %s", path);
    static char buf[65536];
    size_t len = fread(buf, 1, sizeof buf - 1, fp);
    buf[len] = 0;
    fclose(fp);
    snprintf(path, sizeof path, "%s/timer.json.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    cJSON *root = cJSON_Parse(buf);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(num(root, "format"), 1);
    int64_t tick = -1;
    cJSON *j;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(root, "jobs"))
        if (strcmp(cJSON_GetObjectItem(j, "name")->valuestring, name) == 0)
            tick = (int64_t)num(j, "last_started");
    cJSON_Delete(root);
    return tick;
}

/* The last call's tick of service "ping". */
static int64_t last_tick(fake *f, size_t *count)
{
    static fake_call calls[FAKE_MAX_CALLS];
    size_t n = fake_calls(f, "ping", calls, FAKE_MAX_CALLS);
    ck_assert_uint_gt(n, 0);
    *count = n;
    return calls[n - 1].tick;
}

#define JOB300(EXTRA) \
    "{" EXTRA "\"jobs\":[{\"name\":\"j\",\"module\":\"account\",\"service\":\"ping\"," \
    "\"args\":[\"${tick}\"],\"every\":\"300ms\"}]}"
/* 1 s ticks for the catch-up tests: down 2.2 s misses two ticks, and the
 * third is far enough not to be reached by a slow reopen */
#define JOB1S(EXTRA) \
    "{" EXTRA "\"jobs\":[{\"name\":\"j\",\"module\":\"account\",\"service\":\"ping\"," \
    "\"args\":[\"${tick}\"],\"every\":\"1s\"}]}"

START_TEST(test_restart_does_not_rerun_last_tick)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h = open_timer("1.0.0", dir, JOB300(""), f);
    ck_assert(fake_wait(f, "ping", 1, 3000));
    starter_harness_close(h);
    size_t n;
    int64_t t = last_tick(f, &n);
    ck_assert_int_eq(file_tick(dir, "j"), t);

    h = open_timer("1.1.0", dir, JOB300(""), f);
    cJSON *job = job_info(h, "j");
    /* The next tick may already have started if the (sanitized) open was
     * slow; never an earlier one. */
    ck_assert_int_ge(num(job, "last_started_ms"), t);
    cJSON_Delete(job);
    ck_assert(fake_wait(f, "ping", n + 1, 3000));
    static fake_call calls[16];
    size_t m = fake_calls(f, "ping", calls, 16);
    ck_assert_msg(calls[n].tick > t, "tick %lld ran again after the restart", (long long)t);
    ck_assert_int_eq(calls[n].tick % 300, 0);
    for (size_t i = 1; i < m; i++)
        ck_assert_int_gt(calls[i].tick, calls[i - 1].tick);
    starter_harness_close(h);
    ck_assert_int_ge(file_tick(dir, "j"), calls[n].tick);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

/* Runs one tick, closes, waits `down_ms`, reopens with `config`: returns
 * the last tick before the restart; *reopened_at the reopen time. */
static int64_t reopen_started;  /* when the last restart_after began reopening */
static size_t calls_before_reopen; /* calls recorded before it reopened */

static int64_t restart_after(fake *f, const char *dir, const char *config, int down_ms,
                             starter_harness **h, int64_t *reopened_at)
{
    *h = open_timer("1.0.0", dir, config, f);
    ck_assert(fake_wait(f, "ping", 1, 3000));
    starter_harness_close(*h);
    size_t n;
    int64_t t = last_tick(f, &n);
    calls_before_reopen = n;
    sleep_ms(down_ms);
    reopen_started = now_ms();
    *h = open_timer("1.0.0", dir, config, f);
    /* After the open: the catch-up tick is the latest one due when the
     * scheduler resumed, which may fall while a slow (sanitized) open ran. */
    *reopened_at = now_ms();
    return t;
}

START_TEST(test_restart_catch_up_once)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h;
    int64_t reopened;
    int64_t t = restart_after(f, dir, JOB1S("\"catch_up\":\"once\","), 2200, &h, &reopened);
    /* The catch-up call may already have run inside the reopen. */
    size_t before = calls_before_reopen;
    ck_assert(fake_wait(f, "ping", before + 2, 3000));
    cJSON *job = job_info(h, "j");
    starter_harness_close(h);
    static fake_call calls[32];
    size_t n = fake_calls(f, "ping", calls, 32);
    size_t missed_runs = 0;
    for (size_t i = before; i < n; i++)
        if (calls[i].tick > t && calls[i].tick <= reopened) {
            missed_runs++;
            ck_assert_msg(calls[i].at_ms - reopened < 700, "catch-up ran %lld ms after reopen",
                          (long long)(calls[i].at_ms - reopened));
        }
    if (missed_runs != 1) {
        char seen[512] = "";
        for (size_t i = 0, used = 0; i < n && used < sizeof seen - 32; i++)
            used += (size_t)snprintf(seen + used, sizeof seen - used, " %lld@%lld",
                                     (long long)calls[i].tick, (long long)calls[i].at_ms);
        ck_abort_msg("%zu runs for the ticks missed while down (last before %lld, reopened %lld, "
                     "first call after at index %zu; calls tick@at:%s)", missed_runs, (long long)t,
                     (long long)reopened, before, seen);
    }
    ck_assert_int_ge(num(job, "coalesced"), 1);
    ck_assert_int_eq(num(job, "skipped"), 0);
    cJSON_Delete(job);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_restart_catch_up_skip)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    starter_harness *h;
    int64_t reopened;
    int64_t t = restart_after(f, dir, JOB1S("\"catch_up\":\"skip\","), 2200, &h, &reopened);
    size_t before;
    last_tick(f, &before);
    cJSON *job = job_info(h, "j");
    ck_assert_int_ge(num(job, "skipped"), 2);
    cJSON_Delete(job);
    ck_assert(fake_wait(f, "ping", before + 1, 3000));
    starter_harness_close(h);
    static fake_call calls[32];
    size_t n = fake_calls(f, "ping", calls, 32);
    for (size_t i = before; i < n; i++)
        ck_assert_msg(calls[i].tick > reopen_started, "tick %lld missed while down (after %lld) ran",
                      (long long)calls[i].tick, (long long)t);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

/* schedule through the 1.1.0 table, asserting success. */
static void schedule_ok(starter_harness *h, void *client, const char *name, const char *spec)
{
    const keel_timer_api *api = starter_harness_table(h);
    ck_assert_int_eq(api->schedule(client, name, spec, NULL), KEEL_OK);
}

START_TEST(test_module_job_ticks_survive_rebind_and_restart)
{
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    const char *spec = "{\"service\":\"ping\",\"every\":\"300ms\",\"args\":[\"${tick}\"]}";
    starter_harness *h = open_timer("1.1.0", dir, NULL, f);
    void *c = NULL;
    keel_starter_error err;
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &c, &err), KEEL_OK);
    schedule_ok(h, c, "j", spec);
    ck_assert(fake_wait(f, "ping", 1, 3000));
    starter_harness_unbind(h, c);
    size_t n;
    int64_t t = last_tick(f, &n);
    cJSON *info = admin_ok(h, "info", NULL);
    ck_assert_int_eq(num(info, "remembered_ticks"), 1);
    ck_assert_int_eq(num(info, "jobs_total"), 0);
    cJSON_Delete(info);

    /* the module comes back (a new instance): its job keeps its last tick */
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &c, &err), KEEL_OK);
    schedule_ok(h, c, "j", spec);
    cJSON *job = job_info(h, "account/j");
    ck_assert_int_eq(num(job, "last_started_ms"), t);
    cJSON_Delete(job);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    ck_assert_int_eq(file_tick(dir, "account/j"), t);

    /* and across a restart of the base */
    h = open_timer("1.1.0", dir, NULL, f);
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &c, &err), KEEL_OK);
    schedule_ok(h, c, "j", spec);
    job = job_info(h, "account/j");
    ck_assert_int_eq(num(job, "last_started_ms"), t);
    cJSON_Delete(job);
    last_tick(f, &n);
    ck_assert(fake_wait(f, "ping", n + 1, 3000));
    static fake_call calls[16];
    fake_calls(f, "ping", calls, 16);
    ck_assert_int_gt(calls[n].tick, t);
    /* another schedule is another job: the tick is not carried over */
    schedule_ok(h, c, "j", "{\"service\":\"ping\",\"every\":\"1d\"}");
    starter_harness_unbind(h, c);
    ck_assert_int_eq(starter_harness_bind(h, "account", NULL, &c, &err), KEEL_OK);
    schedule_ok(h, c, "j", "{\"service\":\"ping\",\"every\":\"2d\"}");
    job = job_info(h, "account/j");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(job, "last_started_ms")));
    cJSON_Delete(job);
    starter_harness_unbind(h, c);
    starter_harness_close(h);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_queued_tick_not_started_runs_after_restart)
{
    /* two workers busy with slow calls when the base stops: the third
     * job's tick was queued, never started; after the restart it runs
     * (catch_up "once") and the started ones do not run again */
    char dir[64];
    make_workdir(dir, sizeof dir);
    fake *f = calloc(1, sizeof *f);
    fake_init(f, "account");
    const char *cfg =
        "{\"workers\":2,\"jobs\":["
        "{\"name\":\"c\",\"module\":\"account\",\"service\":\"ping\",\"args\":[\"${tick}\"],"
        "\"every\":\"1s\"},"
        "{\"name\":\"a\",\"module\":\"account\",\"service\":\"slow\",\"args\":[\"${tick}\"],"
        "\"every\":\"1s\"},"
        "{\"name\":\"b\",\"module\":\"account\",\"service\":\"slow\",\"args\":[\"${tick}\"],"
        "\"every\":\"1s\"}]}";
    pthread_mutex_lock(&f->lock);
    f->slow_ms = 1; /* a first round where every job runs */
    pthread_mutex_unlock(&f->lock);
    starter_harness *h = open_timer("1.0.0", dir, cfg, f);
    ck_assert(fake_wait(f, "ping", 1, 3000));
    ck_assert(fake_wait(f, "slow", 2, 3000));
    pthread_mutex_lock(&f->lock);
    f->slow_ms = 300;
    pthread_mutex_unlock(&f->lock);
    ck_assert(fake_wait(f, "slow", 4, 3000));
    ck_assert_uint_eq(fake_count(f, "ping"), 1); /* c waits for a worker */
    starter_harness_close(h);
    ck_assert_uint_eq(fake_count(f, "ping"), 1);
    fake_call slow[4];
    ck_assert_uint_eq(fake_calls(f, "slow", slow, 4), 4);
    ck_assert_int_eq(slow[2].tick, slow[3].tick);
    int64_t t = slow[2].tick;
    ck_assert_int_eq(file_tick(dir, "a"), t);
    ck_assert_int_eq(file_tick(dir, "c"), slow[0].tick); /* given back: not started */

    h = open_timer("1.0.0", dir, cfg, f);
    ck_assert(fake_wait(f, "ping", 2, 3000));
    fake_call ping[2];
    fake_calls(f, "ping", ping, 2);
    ck_assert_int_eq(ping[1].tick, t);
    sleep_ms(50);
    starter_harness_close(h);
    static fake_call calls[16];
    size_t n = fake_calls(f, "slow", calls, 16);
    for (size_t i = 4; i < n; i++)
        ck_assert_int_gt(calls[i].tick, t);
    fake_destroy(f);
    free(f);
    remove_tree(dir);
}
END_TEST

START_TEST(test_corrupt_state_file_refused)
{
    char dir[64], path[128];
    make_workdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/timer.json", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"format\": 1, \"jobs\": [{\"name\": \"j\"}]}", fp);
    fclose(fp);
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(timer_so("1.0.0"), dir, JOB20, NULL, NULL, NULL, &h,
                                          &err);
    ck_assert_int_eq(st, KEEL_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "timer: state file \"") && strstr(err.message, path) &&
                      strstr(err.message, "jobs[0]"),
                  "message: %s", err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
    fp = fopen(path, "w");
    fputs("not json", fp);
    fclose(fp);
    st = starter_harness_open(timer_so("1.0.0"), dir, JOB20, NULL, NULL, NULL, &h, &err);
    ck_assert_int_eq(st, KEEL_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "not a timer state"), "message: %s", err.message);
    remove_tree(dir);
}
END_TEST

void timer_durable_tests(Suite *s)
{
    TCase *tc = tcase_create("durable");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_upgrades_never_run_a_tick_twice);
    tcase_add_test(tc, test_restart_does_not_rerun_last_tick);
    tcase_add_test(tc, test_restart_catch_up_once);
    tcase_add_test(tc, test_restart_catch_up_skip);
    tcase_add_test(tc, test_module_job_ticks_survive_rebind_and_restart);
    tcase_add_test(tc, test_queued_tick_not_started_runs_after_restart);
    tcase_add_test(tc, test_corrupt_state_file_refused);
    suite_add_tcase(s, tc);
}

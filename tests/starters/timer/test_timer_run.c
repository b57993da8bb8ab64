/*
 * Ticks as they run: interval jobs in a window, the pause while the module
 * switches (catch_up "once" and "skip"), an absent module, overlapping
 * runs of a slow service, a failing service. Timing assertions are ranges:
 * machines (and sanitizers) are noisy.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timer_fake.h"
#include "timer_tests.h"

/* The fixture of one test: a work dir, the fake base, the starter. */
typedef struct fixture {
    char dir[64];
    fake *f;
    starter_harness *h;
} fixture;

static void fixture_open(fixture *x, const char *config)
{
    make_workdir(x->dir, sizeof x->dir);
    x->f = calloc(1, sizeof *x->f);
    ck_assert_ptr_nonnull(x->f);
    fake_init(x->f, "account");
    x->h = open_timer("1.0.0", x->dir, config, x->f);
}

static void fixture_close(fixture *x)
{
    starter_harness_close(x->h);
    x->h = NULL;
    fake_destroy(x->f);
    free(x->f);
    remove_tree(x->dir);
}

/* A config with one job of module "account" calling `service` with the
 * tick as its first argument. */
static const char *one_job(char *buf, size_t size, const char *service, const char *every,
                           const char *extra)
{
    snprintf(buf, size,
             "{%s\"jobs\":[{\"name\":\"j\",\"module\":\"account\",\"scene\":\"funds\","
             "\"service\":\"%s\",\"args\":[\"${tick}\",\"${job}\"],\"every\":\"%s\"}]}",
             extra, service, every);
    return buf;
}

START_TEST(test_interval_runs_in_window)
{
    fixture x;
    char cfg[512];
    fixture_open(&x, one_job(cfg, sizeof cfg, "ping", "50ms", ""));
    int64_t t0 = now_ms();
    sleep_ms(1000);
    int64_t t1 = now_ms();
    cJSON *job = job_info(x.h, "j");
    fake_set_status(x.f, KEEL_STARTER_MODULE_ABSENT); /* no new ticks */
    sleep_ms(60);
    double runs = num(job, "runs");
    static fake_call calls[512];
    size_t n = fake_calls(x.f, "ping", calls, 512);
    size_t in_window = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(calls[i].tick % 50, 0);
        ck_assert_msg(calls[i].at_ms >= calls[i].tick, "tick %lld ran early at %lld",
                      (long long)calls[i].tick, (long long)calls[i].at_ms);
        ck_assert_str_eq(calls[i].scene, "funds");
        if (i > 0)
            ck_assert_int_gt(calls[i].tick, calls[i - 1].tick);
        in_window += calls[i].tick > t0 && calls[i].tick <= t1;
    }
    /* 20 ticks fall in the window: all ran, save a few on a slow machine */
    ck_assert_msg(in_window >= 12 && in_window <= 21, "%zu runs in 1 s of a 50ms job", in_window);
    ck_assert_msg(runs >= (double)in_window - 1 && runs <= (double)n, "runs %g, calls %zu", runs,
                  n);
    ck_assert_str_eq(cJSON_GetObjectItem(job, "every")->valuestring, "50ms");
    ck_assert_str_eq(cJSON_GetObjectItem(job, "origin")->valuestring, "config");
    double next = num(job, "next_due_ms"), last = num(job, "last_started_ms");
    ck_assert(next > last);
    const char *iso = cJSON_GetObjectItem(job, "next_due")->valuestring;
    ck_assert_msg(strlen(iso) == 24 && iso[10] == 'T' && iso[23] == 'Z', "iso %s", iso);
    cJSON_Delete(job);
    fixture_close(&x);
}
END_TEST

/* The first call of service "switch" turns the module SWITCHING; the test
 * ends the switch 300 ms later. Returns the first tick; *served_at. */
static int64_t run_pause(fixture *x, int64_t *served_at)
{
    ck_assert(fake_wait(x->f, "switch", 1, 3000));
    fake_call first;
    fake_calls(x->f, "switch", &first, 1);
    pthread_mutex_lock(&x->f->lock);
    int64_t switched_at = x->f->switched_at;
    pthread_mutex_unlock(&x->f->lock);
    int64_t left = switched_at + 300 - now_ms();
    if (left > 0)
        sleep_ms((int)left);
    *served_at = now_ms();
    fake_set_status(x->f, KEEL_STARTER_MODULE_SERVING);
    ck_assert(fake_wait(x->f, "switch", 3, 3000));
    sleep_ms(50);
    return first.tick;
}

START_TEST(test_pause_runs_held_tick_once)
{
    fixture x;
    char cfg[512];
    fixture_open(&x, one_job(cfg, sizeof cfg, "switch", "200ms", "\"catch_up\":\"once\","));
    int64_t served_at;
    int64_t t1 = run_pause(&x, &served_at);
    cJSON *job = job_info(x.h, "j");
    static fake_call calls[64];
    size_t n = fake_calls(x.f, "switch", calls, 64);
    size_t held = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(!calls[i].while_switching, "tick %lld called while switching",
                      (long long)calls[i].tick);
        if (calls[i].tick > t1 && calls[i].tick <= served_at) {
            held++;
            ck_assert_int_ge(calls[i].at_ms, served_at);
            ck_assert_msg(calls[i].at_ms - served_at < 500, "held tick ran %lld ms late",
                          (long long)(calls[i].at_ms - served_at));
        }
        if (i > 0)
            ck_assert_int_gt(calls[i].tick, calls[i - 1].tick);
    }
    ck_assert_msg(held == 1, "%zu calls for the ticks held during the switch", held);
    ck_assert_int_ge(num(job, "paused_waits"), 1);
    ck_assert_int_eq(num(job, "skipped"), 0);
    cJSON_Delete(job);
    fixture_close(&x);
}
END_TEST

START_TEST(test_pause_skip_mode_skips_held_tick)
{
    fixture x;
    char cfg[512];
    fixture_open(&x, one_job(cfg, sizeof cfg, "switch", "200ms", "\"catch_up\":\"skip\","));
    int64_t served_at;
    int64_t t1 = run_pause(&x, &served_at);
    cJSON *job = job_info(x.h, "j");
    static fake_call calls[64];
    size_t n = fake_calls(x.f, "switch", calls, 64);
    for (size_t i = 0; i < n; i++) {
        ck_assert(!calls[i].while_switching);
        ck_assert_msg(calls[i].tick <= t1 || calls[i].tick > served_at,
                      "tick %lld missed during the switch ran", (long long)calls[i].tick);
    }
    ck_assert_int_ge(num(job, "paused_waits"), 1);
    ck_assert_int_ge(num(job, "skipped"), 1);
    cJSON_Delete(job);
    fixture_close(&x);
}
END_TEST

START_TEST(test_absent_module_skips_ticks)
{
    fixture x;
    char cfg[512];
    make_workdir(x.dir, sizeof x.dir);
    x.f = calloc(1, sizeof *x.f);
    fake_init(x.f, "account");
    fake_set_status(x.f, KEEL_STARTER_MODULE_ABSENT);
    x.h = open_timer("1.0.0", x.dir, one_job(cfg, sizeof cfg, "ping", "50ms", ""), x.f);
    sleep_ms(400);
    ck_assert_int_eq(fake_count(x.f, "ping"), 0);
    cJSON *job = job_info(x.h, "j");
    ck_assert_int_ge(num(job, "skipped"), 4);
    ck_assert_int_eq(num(job, "runs"), 0);
    cJSON_Delete(job);
    fake_set_status(x.f, KEEL_STARTER_MODULE_SERVING);
    ck_assert(fake_wait(x.f, "ping", 3, 2000));
    fixture_close(&x);
}
END_TEST

START_TEST(test_slow_job_never_overlaps_nor_delays_others)
{
    fixture x;
    fixture_open(&x, "{\"workers\":2,\"jobs\":["
                     "{\"name\":\"slow\",\"module\":\"account\",\"service\":\"slow\","
                     "\"args\":[\"${tick}\"],\"every\":\"50ms\"},"
                     "{\"name\":\"fast\",\"module\":\"account\",\"service\":\"fast\","
                     "\"args\":[\"${tick}\"],\"every\":\"50ms\"}]}");
    int64_t t0 = now_ms();
    sleep_ms(1000);
    int64_t t1 = now_ms();
    cJSON *slow = job_info(x.h, "slow");
    static fake_call calls[128];
    size_t n = fake_calls(x.f, "fast", calls, 128);
    size_t fast = 0;
    for (size_t i = 0; i < n; i++)
        fast += calls[i].tick > t0 && calls[i].tick <= t1;
    pthread_mutex_lock(&x.f->lock);
    int max_in_flight = x.f->max_in_flight_slow;
    pthread_mutex_unlock(&x.f->lock);
    ck_assert_int_eq(max_in_flight, 1);
    ck_assert_msg(num(slow, "overlaps") >= 6, "overlaps %g", num(slow, "overlaps"));
    ck_assert_msg(num(slow, "runs") >= 3 && num(slow, "runs") <= 8, "slow runs %g",
                  num(slow, "runs"));
    /* the 150 ms service holds one worker; the fast job keeps its pace */
    ck_assert_msg(fast >= 12, "fast job ran %zu of 20 ticks", fast);
    cJSON_Delete(slow);
    fixture_close(&x);
}
END_TEST

START_TEST(test_failing_service_keeps_schedule)
{
    fixture x;
    char cfg[512];
    fixture_open(&x, one_job(cfg, sizeof cfg, "bad", "50ms", ""));
    ck_assert(fake_wait(x.f, "bad", 5, 3000));
    sleep_ms(20);
    cJSON *job = job_info(x.h, "j");
    ck_assert_int_ge(num(job, "failures"), 4);
    ck_assert_int_ge(num(job, "runs"), num(job, "failures"));
    const cJSON *err = cJSON_GetObjectItem(job, "last_error");
    ck_assert_msg(cJSON_IsString(err) && strstr(err->valuestring, "reconcile exploded"),
                  "last_error missing");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(job, "failing")));
    cJSON_Delete(job);
    size_t before = fake_count(x.f, "bad");
    ck_assert(fake_wait(x.f, "bad", before + 3, 2000)); /* the schedule goes on */
    /* one log line when it started failing, not one per tick */
    ck_assert_uint_eq(starter_harness_log_count(x.h, KEEL_LOG_WARN), 1);
    cJSON *info = admin_ok(x.h, "info", NULL);
    ck_assert_int_ge(num(info, "failures"), 7);
    cJSON_Delete(info);
    fixture_close(&x);
}
END_TEST

void timer_run_tests(Suite *s)
{
    TCase *tc = tcase_create("run");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_interval_runs_in_window);
    tcase_add_test(tc, test_pause_runs_held_tick_once);
    tcase_add_test(tc, test_pause_skip_mode_skips_held_tick);
    tcase_add_test(tc, test_absent_module_skips_ticks);
    tcase_add_test(tc, test_slow_job_never_overlaps_nor_delays_others);
    tcase_add_test(tc, test_failing_service_keeps_schedule);
    suite_add_tcase(s, tc);
}

/*
 * Cron expressions and intervals (starters/timer/cron.c, spec.c): a table
 * of expressions with the next fire times from fixed starts (month ends,
 * the leap day, the day-of-month / day-of-week OR rule, names, steps, the
 * local time zone), and invalid expressions with their messages.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "spec.h"
#include "timer_tests.h"

/* "2024-01-15T10:20" or "2024-01-15T10:20:30" (UTC) as unix ms. */
static int64_t utc(const char *iso)
{
    struct tm tm = {0};
    int s = 0;
    int n = sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &s);
    ck_assert_msg(n >= 5, "bad time %s", iso);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm) * 1000;
}

static void iso(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M", &tm);
}

typedef struct cron_case {
    const char *expr;
    const char *from;
    const char *next[5];   /* UTC, NULL-terminated when fewer */
} cron_case;

static const cron_case utc_cases[] = {
    {"* * * * *", "2024-01-15T10:20:30",
     {"2024-01-15T10:21", "2024-01-15T10:22", "2024-01-15T10:23"}},
    {"*/15 * * * *", "2024-01-15T10:20:30",
     {"2024-01-15T10:30", "2024-01-15T10:45", "2024-01-15T11:00", "2024-01-15T11:15"}},
    /* strictly after: a start on a fire time is not a fire time */
    {"*/15 * * * *", "2024-01-15T10:30:00", {"2024-01-15T10:45", "2024-01-15T11:00"}},
    {"10-40/10 * * * *", "2024-01-15T10:20:30",
     {"2024-01-15T10:30", "2024-01-15T10:40", "2024-01-15T11:10", "2024-01-15T11:20"}},
    {"5/20 * * * *", "2024-01-15T10:20:30",
     {"2024-01-15T10:25", "2024-01-15T10:45", "2024-01-15T11:05"}},
    {"0 2 * * *", "2024-01-15T10:20:30",
     {"2024-01-16T02:00", "2024-01-17T02:00", "2024-01-18T02:00"}},
    {"1,5 7 * * *", "2024-01-15T10:20:30",
     {"2024-01-16T07:01", "2024-01-16T07:05", "2024-01-17T07:01"}},
    /* month ends */
    {"0 0 31 * *", "2024-01-15T10:20:30",
     {"2024-01-31T00:00", "2024-03-31T00:00", "2024-05-31T00:00", "2024-07-31T00:00",
      "2024-08-31T00:00"}},
    {"0 0 30 * *", "2024-01-15T10:20:30",
     {"2024-01-30T00:00", "2024-03-30T00:00", "2024-04-30T00:00"}},
    {"59 23 31 12 *", "2024-01-15T10:20:30", {"2024-12-31T23:59", "2025-12-31T23:59"}},
    {"0 0 1 1 *", "2024-12-31T23:59:30", {"2025-01-01T00:00", "2026-01-01T00:00"}},
    /* the leap day, and 2100 is no leap year */
    {"0 0 29 2 *", "2024-01-15T10:20:30",
     {"2024-02-29T00:00", "2028-02-29T00:00", "2032-02-29T00:00"}},
    {"0 0 29 2 *", "2096-03-01T00:00", {"2104-02-29T00:00"}},
    /* both restricted: the 13th or a Friday */
    {"0 0 13 * 5", "2024-01-15T10:20:30",
     {"2024-01-19T00:00", "2024-01-26T00:00", "2024-02-02T00:00", "2024-02-09T00:00",
      "2024-02-13T00:00"}},
    {"0 12 1 * MON", "2024-01-15T10:20:30",
     {"2024-01-15T12:00", "2024-01-22T12:00", "2024-01-29T12:00", "2024-02-01T12:00",
      "2024-02-05T12:00"}},
    /* day-of-month starts with '*': both must match (odd days that are Mondays) */
    {"0 0 */2 * 1", "2024-01-15T10:20:30",
     {"2024-01-29T00:00", "2024-02-05T00:00", "2024-02-19T00:00", "2024-03-11T00:00"}},
    /* names, any case, ranges of names */
    {"30 9 * JAN,jul MON-FRI", "2024-01-15T10:20:30",
     {"2024-01-16T09:30", "2024-01-17T09:30", "2024-01-18T09:30", "2024-01-19T09:30",
      "2024-01-22T09:30"}},
    {"30 9 * JAN,jul MON-FRI", "2024-01-31T10:00", {"2024-07-01T09:30", "2024-07-02T09:30"}},
    /* Sunday is 0, 7 and SUN; 5-7 is Friday to Sunday */
    {"0 0 * * 7", "2024-01-15T10:20:30", {"2024-01-21T00:00", "2024-01-28T00:00"}},
    {"0 0 * * 0", "2024-01-15T10:20:30", {"2024-01-21T00:00", "2024-01-28T00:00"}},
    {"0 0 * * sun", "2024-01-15T10:20:30", {"2024-01-21T00:00", "2024-01-28T00:00"}},
    {"0 0 * * 5-7", "2024-01-15T10:20:30",
     {"2024-01-19T00:00", "2024-01-20T00:00", "2024-01-21T00:00", "2024-01-26T00:00"}},
    {"0 0 * * */2", "2024-01-15T10:20:30",
     {"2024-01-16T00:00", "2024-01-18T00:00", "2024-01-20T00:00", "2024-01-21T00:00"}},
    /* extra blanks */
    {"  0   2 *\t* *  ", "2024-01-15T10:20:30", {"2024-01-16T02:00"}},
};

static void check_case(const cron_case *c, bool local)
{
    keel_timer_cron cron;
    char msg[256] = "";
    ck_assert_msg(keel_timer_cron_parse(c->expr, &cron, msg, sizeof msg), "%s: %s", c->expr,
                  msg);
    int64_t t = utc(c->from);
    for (int i = 0; i < 5 && c->next[i]; i++) {
        t = keel_timer_cron_next(&cron, local, t);
        char got[32] = "none";
        if (t >= 0)
            iso(t, got, sizeof got);
        ck_assert_msg(strcmp(got, c->next[i]) == 0, "\"%s\" from %s: fire %d is %s, expected %s",
                      c->expr, c->from, i + 1, got, c->next[i]);
        ck_assert_int_eq(t % 60000, 0);
    }
}

START_TEST(test_cron_next_utc)
{
    for (size_t i = 0; i < sizeof utc_cases / sizeof utc_cases[0]; i++)
        check_case(&utc_cases[i], false);
}
END_TEST

START_TEST(test_cron_next_local)
{
    /* US Eastern without tzdata: EST (UTC-5), EDT (UTC-4) from the 2nd
     * Sunday of March 02:00 to the 1st Sunday of November 02:00. */
    setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
    tzset();
    static const cron_case local_cases[] = {
        {"0 12 * * *", "2024-01-15T00:00", {"2024-01-15T17:00", "2024-01-16T17:00"}},
        {"0 12 * * *", "2024-07-01T00:00", {"2024-07-01T16:00", "2024-07-02T16:00"}},
        /* across the spring change: 12:00 local moves from 17:00Z to 16:00Z */
        {"0 12 * * *", "2024-03-09T18:00", {"2024-03-10T16:00", "2024-03-11T16:00"}},
        /* local midnight on the 1st */
        {"0 0 1 * *", "2024-01-15T00:00", {"2024-02-01T05:00", "2024-03-01T05:00",
                                           "2024-04-01T04:00"}},
        /* 02:30 does not exist on 2024-03-10 (02:00 -> 03:00): that day is skipped */
        {"30 2 * * *", "2024-03-09T12:00", {"2024-03-11T06:30"}},
    };
    for (size_t i = 0; i < sizeof local_cases / sizeof local_cases[0]; i++)
        check_case(&local_cases[i], true);
    /* the same expression in UTC is not shifted */
    check_case(&(cron_case){"0 12 * * *", "2024-01-15T00:00", {"2024-01-15T12:00"}}, false);
}
END_TEST

typedef struct bad_case {
    const char *expr;
    const char *message;   /* the whole expected message */
} bad_case;

START_TEST(test_cron_invalid)
{
    static const bad_case cases[] = {
        {"", "at position 1: 0 fields, expected 5 (minute hour day-of-month month day-of-week)"},
        {"* * * *", "at position 8: 4 fields, expected 5 (minute hour day-of-month month "
                    "day-of-week)"},
        {"* * * * * *", "at position 11: more than 5 fields (expected minute hour day-of-month "
                        "month day-of-week)"},
        {"60 * * * *", "at position 1 (minute field): 60 is out of range 0-59"},
        {"0 24 * * *", "at position 3 (hour field): 24 is out of range 0-23"},
        {"0 0 0 * *", "at position 5 (day-of-month field): 0 is out of range 1-31"},
        {"0 0 32 * *", "at position 5 (day-of-month field): 32 is out of range 1-31"},
        {"0 0 * 13 *", "at position 7 (month field): 13 is out of range 1-12"},
        {"0 0 * * 8", "at position 9 (day-of-week field): 8 is out of range 0-7"},
        {"0 0 * FOO *", "at position 7 (month field): unknown name \"FOO\""},
        {"0 0 * * MON-FOO", "at position 13 (day-of-week field): unknown name \"FOO\""},
        {"0 0 * * JAN", "at position 9 (day-of-week field): unknown name \"JAN\""},
        {"MON * * * *", "at position 1 (minute field): \"MON\" is not a number (names only in "
                        "month and day-of-week)"},
        {"*/0 * * * *", "at position 3 (minute field): step 0 is out of range 1-59"},
        {"*/ * * * *", "at position 3 (minute field): a step needs a number"},
        {"5-1 * * * *", "at position 3 (minute field): range end 1 is below its start 5"},
        {"0 0 * * FRI-MON", "at position 13 (day-of-week field): range end 1 is below its start 5"},
        {"1,,2 * * * *", "at position 3 (minute field): empty list item"},
        {"1, * * * *", "at position 3 (minute field): empty list item"},
        {"1-5x * * * *", "at position 4 (minute field): unexpected character 'x'"},
        {"0 0 ? * *", "at position 5 (day-of-month field): unexpected character '?'"},
        {"0 0 L * *", "at position 5 (day-of-month field): \"L\" is not a number (names only in "
                      "month and day-of-week)"},
        {"0 0 31 2 *", "at position 5 (day-of-month field): no chosen day exists in the chosen "
                       "months, the expression never fires"},
        {"0 0 30,31 2 *", "at position 5 (day-of-month field): no chosen day exists in the "
                          "chosen months, the expression never fires"},
        {"0 0 31 4,6,9,11 *", "at position 5 (day-of-month field): no chosen day exists in the "
                              "chosen months, the expression never fires"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        keel_timer_cron cron;
        char msg[256] = "";
        ck_assert_msg(!keel_timer_cron_parse(cases[i].expr, &cron, msg, sizeof msg),
                      "\"%s\" accepted", cases[i].expr);
        ck_assert_msg(strcmp(msg, cases[i].message) == 0, "\"%s\":\n  got      %s\n  expected %s",
                      cases[i].expr, msg, cases[i].message);
    }
    /* restricted day-of-week widens an impossible day-of-month (OR rule) */
    keel_timer_cron cron;
    char msg[256];
    ck_assert(keel_timer_cron_parse("0 0 31 2 MON", &cron, msg, sizeof msg));
    int64_t t = keel_timer_cron_next(&cron, false, utc("2024-01-15T10:20"));
    char got[32];
    iso(t, got, sizeof got);
    ck_assert_str_eq(got, "2024-02-05T00:00");
}
END_TEST

START_TEST(test_every)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"500ms", 500}, {"10ms", 10}, {"30s", 30000}, {"5m", 300000},
                {"2h", 7200000}, {"1d", 86400000}, {"366d", INT64_C(366) * 86400000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = 0;
        char msg[256] = "";
        ck_assert_msg(keel_timer_every_parse(good[i].text, &ms, msg, sizeof msg), "%s: %s",
                      good[i].text, msg);
        ck_assert_int_eq(ms, good[i].ms);
    }
    static const struct {
        const char *text;
        const char *message;
    } bad[] = {
        {"", "at position 1: expected a positive number and a unit (ms, s, m, h, d), e.g. \"30s\""},
        {"ms", "at position 1: expected a positive number and a unit (ms, s, m, h, d), e.g. "
               "\"30s\""},
        {"-5s", "at position 1: expected a positive number and a unit (ms, s, m, h, d), e.g. "
                "\"30s\""},
        {"10", "at position 3: missing unit (ms, s, m, h or d)"},
        {"5x", "at position 2: unknown unit \"x\" (expected ms, s, m, h or d)"},
        {"5 s", "at position 2: unknown unit \" s\" (expected ms, s, m, h or d)"},
        {"1m30s", "at position 2: unknown unit \"m30s\" (expected ms, s, m, h or d)"},
        {"9ms", "at position 1: interval too short (at least 10ms)"},
        {"0s", "at position 1: interval too short (at least 10ms)"},
        {"367d", "at position 1: interval too long (at most 366d)"},
        {"99999999999999999999h", "at position 1: interval too long (at most 366d)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        char msg[256] = "";
        ck_assert_msg(!keel_timer_every_parse(bad[i].text, &ms, msg, sizeof msg), "\"%s\" accepted",
                      bad[i].text);
        ck_assert_msg(strcmp(msg, bad[i].message) == 0, "\"%s\":\n  got      %s\n  expected %s",
                      bad[i].text, msg, bad[i].message);
    }
    /* interval ticks are multiples of the interval since the epoch */
    keel_timer_spec spec;
    const char *field;
    char msg[256];
    ck_assert(keel_timer_spec_make("50ms", NULL, NULL, &spec, &field, msg, sizeof msg));
    ck_assert_int_eq(keel_timer_spec_next(&spec, 1000), 1050);
    ck_assert_int_eq(keel_timer_spec_next(&spec, 1049), 1050);
    ck_assert_int_eq(keel_timer_spec_next(&spec, 1050), 1100);
    ck_assert_str_eq(spec.text, "every 50ms");
    /* exactly one of every / cron; timezone UTC or local */
    ck_assert(!keel_timer_spec_make(NULL, NULL, NULL, &spec, &field, msg, sizeof msg));
    ck_assert_str_eq(msg, "give exactly one of \"every\" and \"cron\"");
    ck_assert(!keel_timer_spec_make("1s", "* * * * *", NULL, &spec, &field, msg, sizeof msg));
    ck_assert(!keel_timer_spec_make("1s", NULL, "Europe/Paris", &spec, &field, msg, sizeof msg));
    ck_assert_str_eq(field, "timezone");
    ck_assert(keel_timer_spec_make(NULL, " 0  2 * * *", "local", &spec, &field, msg, sizeof msg));
    ck_assert_str_eq(spec.text, "cron 0 2 * * * local");
}
END_TEST

void timer_cron_tests(Suite *s)
{
    TCase *tc = tcase_create("cron");
    tcase_add_test(tc, test_cron_next_utc);
    tcase_add_test(tc, test_cron_next_local);
    tcase_add_test(tc, test_cron_invalid);
    tcase_add_test(tc, test_every);
    suite_add_tcase(s, tc);
}

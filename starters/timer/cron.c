/* cron.c — see cron.h. */
#include "cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct cron_field_def {
    const char *label;          /* for messages */
    int min, max;               /* accepted values */
    int star_max;               /* upper end of `*` (day-of-week: 6, not 7) */
    const char *const *names;   /* names[i] is value names_base + i, or NULL */
    int names_base;
} cron_field_def;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const cron_field_def cron_fields[5] = {
    {"minute", 0, 59, 59, NULL, 0},
    {"hour", 0, 23, 23, NULL, 0},
    {"day-of-month", 1, 31, 31, NULL, 0},
    {"month", 1, 12, 12, month_names, 1},
    {"day-of-week", 0, 7, 6, day_names, 0},
};

/* Parsing context: the whole text (for positions) and the message. */
typedef struct cron_parser {
    const char *text;
    char *msg;
    size_t size;
} cron_parser;

static bool cron_fail(cron_parser *p, const char *at, int field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool cron_fail(cron_parser *p, const char *at, int field, const char *fmt, ...)
{
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(p->msg, p->size, "at position %d (%s field): %s", (int)(at - p->text) + 1,
             cron_fields[field].label, detail);
    return false;
}

/* Reads a number or a name at *s; advances *s. */
static bool cron_value(cron_parser *p, const char **s, const char *end, int field, int *out)
{
    const cron_field_def *def = &cron_fields[field];
    const char *start = *s;
    if (*s < end && isdigit((unsigned char)**s)) {
        long v = 0;
        while (*s < end && isdigit((unsigned char)**s)) {
            v = v * 10 + (**s - '0');
            if (v > 1000)
                v = 1000;
            (*s)++;
        }
        if (v < def->min || v > def->max)
            return cron_fail(p, start, field, "%s%ld is out of range %d-%d",
                             v >= 1000 ? ">=" : "", v, def->min, def->max);
        *out = (int)v;
        return true;
    }
    if (*s < end && isalpha((unsigned char)**s)) {
        char word[8] = {0};
        size_t n = 0;
        while (*s < end && isalpha((unsigned char)**s)) {
            if (n < sizeof word - 1)
                word[n] = **s;
            n++;
            (*s)++;
        }
        if (def->names && n == 3)
            for (int i = 0; def->names[i]; i++)
                if (strcasecmp(word, def->names[i]) == 0) {
                    *out = def->names_base + i;
                    return true;
                }
        char shown[16];
        snprintf(shown, sizeof shown, "%.*s", (int)(n < 12 ? n : 12), start);
        if (def->names)
            return cron_fail(p, start, field, "unknown name \"%s\"", shown);
        return cron_fail(p, start, field,
                         "\"%s\" is not a number (names only in month and day-of-week)", shown);
    }
    if (*s >= end || **s == ',')
        return cron_fail(p, start, field, "missing value");
    return cron_fail(p, start, field, "unexpected character '%c'", **s);
}

/* One comma-separated item [start, end) of field `field` into *bits. */
static bool cron_item(cron_parser *p, const char *s, const char *end, int field, uint64_t *bits)
{
    const cron_field_def *def = &cron_fields[field];
    int lo, hi, step = 1;
    bool ranged = false;
    if (s == end)
        return cron_fail(p, s, field, "empty list item");
    if (*s == '*') {
        lo = def->min;
        hi = def->star_max;
        s++;
        ranged = true;
    } else {
        if (!cron_value(p, &s, end, field, &lo))
            return false;
        hi = lo;
        if (s < end && *s == '-') {
            const char *second = ++s;
            if (!cron_value(p, &s, end, field, &hi))
                return false;
            if (hi < lo)
                return cron_fail(p, second, field, "range end %d is below its start %d", hi,
                                 lo);
            ranged = true;
        }
    }
    if (s < end && *s == '/') {
        const char *at = ++s;
        if (s == end || !isdigit((unsigned char)*s))
            return cron_fail(p, at, field, "a step needs a number");
        long v = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            v = v * 10 + (*s - '0');
            if (v > 1000)
                v = 1000;
            s++;
        }
        if (v < 1 || v > def->max)
            return cron_fail(p, at, field, "step %s%ld is out of range 1-%d",
                             v >= 1000 ? ">=" : "", v, def->max);
        step = (int)v;
        if (!ranged)
            hi = def->max == 7 ? 6 : def->max; /* `a/n` = a-max/n (day-of-week: to Saturday) */
        if (hi < lo)
            hi = lo;
    }
    if (s != end)
        return cron_fail(p, s, field, "unexpected character '%c'", *s);
    for (int v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << (field == 4 && v == 7 ? 0 : v);
    return true;
}

/* The whole field [s, end): items separated by commas. */
static bool cron_field(cron_parser *p, const char *s, const char *end, int field, uint64_t *bits)
{
    *bits = 0;
    for (;;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        if (!cron_item(p, s, item_end, field, bits))
            return false;
        if (!comma)
            return true;
        s = comma + 1;
    }
}

static int cron_days_in_month(int month, int year_or_leap)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2)
        return year_or_leap ? 29 : 28;
    return days[month - 1];
}

bool keel_timer_cron_parse(const char *text, keel_timer_cron *out, char *msg, size_t size)
{
    cron_parser p = {text, msg, size};
    const char *starts[6];
    const char *ends[6];
    int n = 0;
    const char *s = text;
    memset(out, 0, sizeof *out);
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        if (n == 5) {
            snprintf(msg, size,
                     "at position %d: more than 5 fields (expected minute hour day-of-month "
                     "month day-of-week)",
                     (int)(s - text) + 1);
            return false;
        }
        starts[n] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        ends[n++] = s;
    }
    if (n < 5) {
        snprintf(msg, size,
                 "at position %d: %d field%s, expected 5 (minute hour day-of-month month "
                 "day-of-week)",
                 (int)(s - text) + 1, n, n == 1 ? "" : "s");
        return false;
    }
    uint64_t bits[5];
    for (int f = 0; f < 5; f++)
        if (!cron_field(&p, starts[f], ends[f], f, &bits[f]))
            return false;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint32_t)bits[3];
    out->weekdays = (uint32_t)bits[4];
    out->dom_star = *starts[2] == '*';
    out->dow_star = *starts[4] == '*';
    /* When day-of-week does not widen the days (both must match), some
     * chosen day of month must exist in some chosen month. */
    if (out->dom_star || out->dow_star) {
        bool possible = false;
        for (int m = 1; m <= 12 && !possible; m++)
            if (out->months >> m & 1)
                for (int d = 1; d <= cron_days_in_month(m, 1); d++)
                    if (out->days >> d & 1) {
                        possible = true;
                        break;
                    }
        if (!possible) {
            snprintf(msg, size,
                     "at position %d (day-of-month field): no chosen day exists in the chosen "
                     "months, the expression never fires",
                     (int)(starts[2] - text) + 1);
            return false;
        }
    }
    return true;
}

/* ---- next fire time ------------------------------------------------------- */

static void cron_to_tm(time_t t, bool local, struct tm *tm)
{
    if (local)
        localtime_r(&t, tm);
    else
        gmtime_r(&t, tm);
}

static time_t cron_from_tm(struct tm *tm, bool local)
{
    if (local) {
        tm->tm_isdst = -1;
        return mktime(tm);
    }
    return timegm(tm);
}

static bool cron_day_matches(const keel_timer_cron *c, const struct tm *tm)
{
    bool dom = c->days >> tm->tm_mday & 1;
    bool dow = c->weekdays >> tm->tm_wday & 1;
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

static int64_t cron_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t keel_timer_cron_next(const keel_timer_cron *c, bool local, int64_t after_ms)
{
    int64_t minute = cron_floor_div(after_ms, 60000) + 1;
    time_t t = (time_t)(minute * 60);
    struct tm tm;
    cron_to_tm(t, local, &tm);
    int last_year = tm.tm_year + 10;
    for (int i = 0; i < 100000 && tm.tm_year <= last_year; i++) {
        if (!(c->months >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = 0;
            tm.tm_min = 0;
        } else if (!cron_day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = 0;
            tm.tm_min = 0;
        } else if (!(c->hours >> tm.tm_hour & 1)) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(c->minutes >> tm.tm_min & 1)) {
            tm.tm_min++;
        } else {
            struct tm copy = tm;
            t = cron_from_tm(&copy, local);
            if ((int64_t)t * 1000 > after_ms)
                return (int64_t)t * 1000;
            tm.tm_min++;
        }
        tm.tm_sec = 0;
        time_t before = t;
        t = cron_from_tm(&tm, local);
        if (t <= before) /* a local time made ambiguous by a clock change: move on */
            t = before + 60;
        cron_to_tm(t, local, &tm);
    }
    return -1;
}

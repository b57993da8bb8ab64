/* spec.c — see spec.h. */
#include "spec.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool keel_timer_every_parse(const char *text, int64_t *ms, char *msg, size_t size)
{
    const char *s = text;
    if (!isdigit((unsigned char)*s)) {
        snprintf(msg, size, "at position 1: expected a positive number and a unit (ms, s, m, h, d), "
                 "e.g. \"30s\"");
        return false;
    }
    int64_t n = 0;
    while (isdigit((unsigned char)*s)) {
        n = n * 10 + (*s - '0');
        if (n > KEEL_TIMER_EVERY_MAX_MS)
            n = KEEL_TIMER_EVERY_MAX_MS + 1;
        s++;
    }
    int pos = (int)(s - text) + 1;
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    int64_t scale = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(s, units[i].unit) == 0)
            scale = units[i].ms;
    if (!scale) {
        if (!*s)
            snprintf(msg, size, "at position %d: missing unit (ms, s, m, h or d)", pos);
        else
            snprintf(msg, size, "at position %d: unknown unit \"%.16s\" (expected ms, s, m, h or d)",
                     pos, s);
        return false;
    }
    if (n > KEEL_TIMER_EVERY_MAX_MS / scale) {
        snprintf(msg, size, "at position 1: interval too long (at most 366d)");
        return false;
    }
    if (n * scale < KEEL_TIMER_EVERY_MIN_MS) {
        snprintf(msg, size, "at position 1: interval too short (at least 10ms)");
        return false;
    }
    *ms = n * scale;
    return true;
}

bool keel_timer_spec_make(const char *every, const char *cron, const char *timezone,
                          keel_timer_spec *out, const char **field, char *msg, size_t size)
{
    memset(out, 0, sizeof *out);
    if (!every == !cron) {
        *field = every ? "cron" : "every";
        snprintf(msg, size, "give exactly one of \"every\" and \"cron\"");
        return false;
    }
    if (timezone && strcmp(timezone, "UTC") != 0 && strcmp(timezone, "local") != 0) {
        *field = "timezone";
        snprintf(msg, size, "expected \"UTC\" or \"local\", got \"%.40s\"", timezone);
        return false;
    }
    out->local = timezone && strcmp(timezone, "local") == 0;
    if (every) {
        *field = "every";
        if (!keel_timer_every_parse(every, &out->every_ms, msg, size))
            return false;
        out->kind = KEEL_TIMER_EVERY;
        snprintf(out->text, sizeof out->text, "every %lldms", (long long)out->every_ms);
        return true;
    }
    *field = "cron";
    if (strlen(cron) > 100) {
        snprintf(msg, size, "at position 101: expression longer than 100 characters");
        return false;
    }
    if (!keel_timer_cron_parse(cron, &out->cron, msg, size))
        return false;
    out->kind = KEEL_TIMER_CRON;
    /* canonical: fields separated by one space */
    char norm[128];
    size_t n = 0;
    for (const char *s = cron; *s && n < sizeof norm - 1; s++) {
        bool blank = *s == ' ' || *s == '\t';
        if (blank && (n == 0 || norm[n - 1] == ' '))
            continue;
        norm[n++] = blank ? ' ' : *s;
    }
    while (n > 0 && norm[n - 1] == ' ')
        n--;
    norm[n] = 0;
    snprintf(out->text, sizeof out->text, "cron %s %s", norm, out->local ? "local" : "UTC");
    return true;
}

int64_t keel_timer_spec_next(const keel_timer_spec *spec, int64_t after_ms)
{
    if (spec->kind == KEEL_TIMER_EVERY) {
        int64_t iv = spec->every_ms;
        int64_t q = after_ms / iv;
        if (after_ms < 0 && after_ms % iv != 0)
            q--;
        return (q + 1) * iv;
    }
    return keel_timer_cron_next(&spec->cron, spec->local, after_ms);
}

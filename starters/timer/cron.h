/*
 * cron.h — 5-field cron expressions: parsing and the next fire time.
 *
 * Fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or
 * JAN..DEC) day-of-week (0-7 or SUN..SAT, 0 and 7 are Sunday). Items: `*`,
 * a value, a range `a-b`, each with an optional step `/n`; `a/n` means
 * `a-max/n`; items are joined by commas. When day-of-month and day-of-week
 * are both restricted (neither field starts with `*`) a day matching either
 * one matches; otherwise both must match (Vixie cron).
 */
#ifndef KEEL_TIMER_CRON_H
#define KEEL_TIMER_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A parsed expression: one bit per allowed value. Plain data. */
typedef struct keel_timer_cron {
    uint64_t minutes;   /* bits 0..59 */
    uint32_t hours;     /* bits 0..23 */
    uint32_t days;      /* bits 1..31 */
    uint32_t months;    /* bits 1..12 */
    uint32_t weekdays;  /* bits 0..6, Sunday = 0 */
    bool dom_star;      /* day-of-month field starts with `*` */
    bool dow_star;      /* day-of-week field starts with `*` */
} keel_timer_cron;

/* Parses `text` (borrowed) into *out (caller-owned). On failure returns
 * false, leaves *out unspecified and writes into `msg` (caller-owned, `size`
 * bytes) one line "at position P (FIELD field): WHAT", P being the 1-based
 * character column in `text`. */
bool keel_timer_cron_parse(const char *text, keel_timer_cron *out, char *msg, size_t size);

/* The first fire time (unix ms, a whole minute) strictly after `after_ms`,
 * reading the fields in UTC or, when `local`, in the process's local time
 * zone. -1 when there is none within 10 years. Thread-safe. */
int64_t keel_timer_cron_next(const keel_timer_cron *cron, bool local, int64_t after_ms);

#endif

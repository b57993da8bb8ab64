/*
 * spec.h — when a job fires: an interval ("every") or a cron expression,
 * and the time zone cron fields are read in.
 */
#ifndef KEEL_TIMER_SPEC_H
#define KEEL_TIMER_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cron.h"

/* The shortest and longest interval accepted. */
#define KEEL_TIMER_EVERY_MIN_MS INT64_C(10)
#define KEEL_TIMER_EVERY_MAX_MS (INT64_C(366) * 86400000)

typedef enum keel_timer_spec_kind { KEEL_TIMER_EVERY = 1, KEEL_TIMER_CRON = 2 } keel_timer_spec_kind;

/* Plain data (no pointers): copied freely. */
typedef struct keel_timer_spec {
    keel_timer_spec_kind kind;
    int64_t every_ms;       /* KEEL_TIMER_EVERY */
    keel_timer_cron cron;   /* KEEL_TIMER_CRON */
    bool local;             /* cron fields in local time (else UTC) */
    char text[160];         /* canonical text, e.g. "every 50ms", "cron 0 2 * * * UTC";
                             * equal texts mean equal schedules */
} keel_timer_spec;

/* Parses interval text `text` ("500ms", "30s", "5m", "2h", "1d"; borrowed)
 * into *ms. On failure returns false and writes "at position P: WHAT" into
 * `msg` (caller-owned, `size` bytes). */
bool keel_timer_every_parse(const char *text, int64_t *ms, char *msg, size_t size);

/* Builds *out from exactly one of `every` and `cron` (the other NULL) and
 * `timezone` (NULL, "UTC" or "local"); strings borrowed. On failure returns
 * false, names the faulty field in *field ("every", "cron", "timezone") and
 * writes the detail into `msg`. */
bool keel_timer_spec_make(const char *every, const char *cron, const char *timezone,
                          keel_timer_spec *out, const char **field, char *msg, size_t size);

/* The first tick strictly after `after_ms` (unix ms): for intervals the next
 * multiple of the interval since the Unix epoch. -1 when a cron expression
 * has none within 10 years. */
int64_t keel_timer_spec_next(const keel_timer_spec *spec, int64_t after_ms);

#endif

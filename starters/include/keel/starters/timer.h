/*
 * keel/starters/timer.h — the timer starter as a module sees it.
 *
 * The timer starter calls services on a schedule: every N (interval) or by
 * a 5-field cron expression. A module binds it with
 *     const void *t; void *client;
 *     api->starter_get(ctx, "timer", ">=1.0.0", &t, &client);
 *     const keel_timer_api *timer = t;
 * and then schedules calls of its own services:
 *     char *error = NULL;
 *     if (timer->schedule(client, "flush", "{\"service\":\"flush\",\"every\":\"30s\"}",
 *                         &error) != KEEL_OK) {
 *         api->log(ctx, KEEL_LOG_ERROR, "%s", error);
 *         timer->free(error);
 *     }
 *
 * Job spec (a JSON object, the `spec_json` of schedule):
 *   "service"   required: the service to call (one of the module's own)
 *   "scene"     one of the module's scenes (default: its first scene)
 *   "args"      a JSON array passed to the service (default []); an element
 *               that is exactly the string "${tick}" is replaced by the
 *               tick's scheduled time (unix ms, an integer) and "${job}" by
 *               the job's full name: a service can use them as an
 *               idempotency key
 *   "every"     an interval: a positive integer and a unit, one of ms s m h d
 *               ("500ms", "30s", "5m", "2h", "1d"); at least 10ms. Ticks are
 *               the multiples of the interval since the Unix epoch.
 *   "cron"      5 fields "minute hour day-of-month month day-of-week" with
 *               `*`, lists `1,5`, ranges `1-5`, steps `*\/15` (a star, a slash, 15)
 *               `10-40/10` `5/15` (= 5-max/15), names JAN..DEC and SUN..SAT, day-of-week
 *               0-7 (7 = Sunday). When day-of-month and day-of-week are both
 *               restricted (neither starts with `*`) a day matching either
 *               matches (Vixie cron rule).
 *   "timezone"  "UTC" (default) or "local": the zone cron fields are read in
 *   exactly one of "every" and "cron".
 *
 * Jobs of a module are named "MODULE/NAME". They are called through the
 * base (as the base itself), paused while the module is being switched, and
 * removed when the module instance that scheduled them unbinds (its stop
 * hook has returned). Scheduling a name that exists replaces its spec and
 * keeps its tick bookkeeping, so the next version of a module re-scheduling
 * its jobs in its start hook never runs a tick twice.
 *
 * Threads: every slot may be called from any thread at any time between
 * starter_get and the module's stop hook returning.
 */
#ifndef KEEL_STARTERS_TIMER_H
#define KEEL_STARTERS_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A module's handle on the starter: opaque, base-owned, valid until the
 * module's stop hook returns. */
typedef struct keel_timer keel_timer;

/* The table versions: 1 (starter 1.0.0: schedule, cancel, free),
 * 2 (starter 1.1.0: + next_run). */
#define KEEL_TIMER_TABLE_VERSION_1 1u
#define KEEL_TIMER_TABLE_VERSION_2 2u

typedef struct keel_timer_api {
    uint32_t version;   /* table version, see above */
    uint32_t size;      /* sizeof as the running starter was built */

    /* Schedules (or re-schedules) job `name` of the calling module.
     * `name` ([A-Za-z0-9_.-]{1,64}) and `spec_json` (see the top of this
     * file) are borrowed. `error` may be NULL; otherwise *error is set to
     * NULL on KEEL_OK, and on failure to a one-line message naming the job,
     * the field and the position, allocated by the starter: free it with
     * the table's `free`. Scheduling an existing name replaces its spec; with
     * the same spec the job keeps its next due tick.
     * KEEL_ERR_INVALID  bad name, malformed JSON, bad field, bad every/cron
     * KEEL_ERR_DENIED   "scene" is not one of the module's scenes, or
     *                   "module" names another module
     * KEEL_ERR_LIMIT    the starter's max_jobs is reached
     * KEEL_ERR_NOMEM    out of memory
     * Thread-safe. */
    keel_status (*schedule)(keel_timer *timer, const char *name, const char *spec_json,
                            char **error);

    /* Removes job `name` (borrowed) of the calling module. A run in
     * progress finishes; no tick starts after this returns.
     * KEEL_ERR_NOT_FOUND: the module has no such job. Thread-safe. */
    keel_status (*cancel)(keel_timer *timer, const char *name);

    /* Frees memory the starter handed out (error messages). NULL-safe. */
    void (*free)(void *ptr);

    /* --- since table version 2 (starter 1.1.0) ---------------------------
     * Writes to *unix_ms (caller-owned) the scheduled time of the next tick
     * of job `name` (borrowed) of the calling module that is not started
     * yet: a tick held because the module is switching counts as next (it
     * may be in the past); a tick handed to a worker counts as started.
     * KEEL_ERR_NOT_FOUND: no such job; KEEL_ERR_INVALID: NULL unix_ms.
     * Thread-safe. Check KEEL_TIMER_HAS(api, next_run) first. */
    keel_status (*next_run)(keel_timer *timer, const char *name, int64_t *unix_ms);
} keel_timer_api;

/* True when the running starter's table has slot `field`. */
#define KEEL_TIMER_HAS(api, field) \
    ((api)->size >= offsetof(keel_timer_api, field) + sizeof(((keel_timer_api *)0)->field))

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTERS_TIMER_H */

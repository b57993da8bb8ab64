/*
 * scheduler.h — the background work of one code version: one scheduler
 * thread that decides which tick of which job runs, and a pool of
 * st->workers worker threads that call the services.
 *
 * The scheduler sleeps on sched_cv until the earliest next due tick (at
 * most 1 s, so wall-clock jumps are noticed), woken early by schedule,
 * cancel and suspend. For each job whose tick is due it asks the host for
 * the module's status (without holding the lock):
 *   SWITCHING  the tick is held and re-checked every KEEL_TIMER_RECHECK_MS
 *   ABSENT     the due ticks are skipped and counted
 *   SERVING    the latest due tick is queued (earlier missed ones are
 *              counted as coalesced); a held tick under catch_up "skip" is
 *              skipped instead
 * A job whose previous tick is queued or running when its next tick comes
 * does not overlap: that tick is counted in "overlaps" and not run.
 *
 * The ticks a pass queues are first recorded as the jobs' last started
 * ticks, in the state and then on disk (one state file write for the whole
 * pass), and only then queued: no tick is called before it is recorded. A
 * worker takes the queue's first job and calls host->call_json. Queued
 * ticks stay in the state across suspend/resume; destroy gives the ones
 * never started back (their record returns to the previous tick) so that
 * the next run catches them up.
 */
#ifndef KEEL_TIMER_SCHEDULER_H
#define KEEL_TIMER_SCHEDULER_H

#include "timer_state.h"

/* Starts the scheduler and the workers. On error nothing runs. */
keel_status keel_timer_threads_start(keel_timer_state *st, keel_starter_error *err);

/* Stops and joins them (a call in progress finishes first). No-op when
 * not running. */
void keel_timer_threads_stop(keel_timer_state *st);

/* Calls `job` once now for the admin op "run": counted in manual_runs /
 * manual_failures, no effect on ticks. Call without the lock; the caller
 * holds a reference on `job`. *result_json as host->call_json. */
keel_status keel_timer_run_manual(keel_timer_state *st, keel_timer_job *job, char **result_json,
                                  keel_starter_error *err);

#endif

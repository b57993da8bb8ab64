/*
 * job.h — one scheduled job: creation, reference counting, the arguments
 * of a tick, and its description for the admin ops.
 */
#ifndef KEEL_TIMER_JOB_H
#define KEEL_TIMER_JOB_H

#include <cjson/cJSON.h>

#include "timer_state.h"

/* A new job (refs 1, IDLE, never started) taking the strings of *def
 * (zeroed on success). NULL when out of memory (*def untouched). */
keel_timer_job *keel_timer_job_new(keel_timer_jobspec *def, keel_timer *owner);

/* Drops one reference; frees the job at zero. Under the state lock (or with
 * no thread running). NULL-safe. */
void keel_timer_job_unref(keel_timer_job *job);

/* The arguments of a call of `def` (borrowed) for tick `tick`: def's
 * args_json with every element "${tick}" replaced by the tick (unix ms)
 * and "${job}" by the job name. malloc'd (caller frees), NULL when out of
 * memory. */
char *keel_timer_job_args(const keel_timer_jobspec *def, int64_t tick);

/* The job as the admin ops show it (caller deletes). Under the state lock.
 * NULL when out of memory. */
cJSON *keel_timer_job_describe(const keel_timer_job *job);

/* Adds the job's counters into *sum. */
void keel_timer_counters_add(keel_timer_counters *sum, const keel_timer_counters *c);

#endif

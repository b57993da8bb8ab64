/*
 * registry.h — the state's jobs and remembered ticks. Every function here
 * runs under the state lock (or before any thread exists).
 */
#ifndef KEEL_TIMER_REGISTRY_H
#define KEEL_TIMER_REGISTRY_H

#include "timer_state.h"

/* The first tick of `spec` strictly after `after_ms`; KEEL_TIMER_NEVER when
 * there is none. */
int64_t keel_timer_next(const keel_timer_spec *spec, int64_t after_ms);

/* The latest tick <= now, starting from tick `first` (<= now); *extra is
 * the number of ticks after `first` up to it. */
int64_t keel_timer_latest_due(const keel_timer_spec *spec, int64_t first, int64_t now,
                              uint64_t *extra);

/* The listed (not removed) job named `name` (borrowed), or NULL. */
keel_timer_job *keel_timer_registry_find(keel_timer_state *st, const char *name);

/* Lists a new job (its reference moves to the list): restores its last
 * started tick from the memo when the schedule is the same, and places its
 * next due tick (after a restart: a missed tick is due now with catch_up
 * "once", skipped and counted with "skip"). */
void keel_timer_registry_add(keel_timer_state *st, keel_timer_job *job, int64_t now);

/* Gives listed job `job` the call and schedule of *def (its strings move
 * into the job; name and module stay) and the owner `owner`. Keeps the
 * tick bookkeeping; a changed schedule gets its next tick after now (and
 * after the last started tick). */
void keel_timer_registry_replace(keel_timer_state *st, keel_timer_job *job,
                                 keel_timer_jobspec *def, keel_timer *owner, int64_t now);

/* Unlists `job`: no tick of it starts any more; a run in progress ends
 * normally. With `remember`, its last started tick goes to the memo. */
void keel_timer_registry_remove(keel_timer_state *st, keel_timer_job *job, bool remember);

/* Remembers (name, spec text, tick); evicts the oldest entry beyond
 * 2 * max_jobs. False when out of memory. */
bool keel_timer_memo_put(keel_timer_state *st, const char *name, const char *spec_text,
                         int64_t last_started);

/* Frees every memo entry. */
void keel_timer_memo_clear(keel_timer_state *st);

#endif

/*
 * timer_state.h — the timer starter's state: jobs, module clients, the run
 * queue, the threads of the running code version, and persistence.
 *
 * One mutex (`lock`) guards everything in the state except what the
 * persist_lock section says. Two code versions may run on one state during
 * an upgrade (their threads never at once: suspend joins them), so the
 * state holds no pointer into code.
 */
#ifndef KEEL_TIMER_STATE_H
#define KEEL_TIMER_STATE_H

#include <keel/starter.h>
#include <keel/starters/timer.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec.h"

#define KEEL_TIMER_STATE_FORMAT 1u
#define KEEL_TIMER_TEXT 256         /* error texts kept per job */
#define KEEL_TIMER_RECHECK_MS 5     /* a held tick re-checks the module this often */
#define KEEL_TIMER_NEVER INT64_MAX  /* a next due time that never comes */

typedef enum keel_timer_catch_up {
    KEEL_TIMER_CATCH_UP_ONCE = 0,  /* ticks missed while paused or down: run once */
    KEEL_TIMER_CATCH_UP_SKIP = 1   /* ... skip them, wait for the next one */
} keel_timer_catch_up;

typedef enum keel_timer_phase {
    KEEL_TIMER_IDLE = 0,     /* waiting for next_due */
    KEEL_TIMER_HELD = 1,     /* tick pending_tick is due, module switching */
    KEEL_TIMER_QUEUED = 2,   /* tick pending_tick waits for a worker */
    KEEL_TIMER_RUNNING = 3   /* tick pending_tick (= last_started) is being called */
} keel_timer_phase;

typedef struct keel_timer_counters {
    uint64_t runs;             /* ticks started */
    uint64_t failures;         /* ticks whose call failed */
    uint64_t manual_runs;      /* admin "run" calls */
    uint64_t manual_failures;
    uint64_t paused_waits;     /* ticks held because the module was switching */
    uint64_t skipped;          /* ticks not run: module absent, or catch_up "skip" */
    uint64_t overlaps;         /* ticks not run: the previous run was in progress */
    uint64_t coalesced;        /* missed ticks folded into one run (catch_up "once") */
} keel_timer_counters;

/* What a job is: from the configuration or a module's schedule. All
 * strings owned (malloc'd). */
typedef struct keel_timer_jobspec {
    char *name;       /* full name ("nightly" or "module/name") */
    char *module;     /* module whose switching pauses it */
    char *scene;
    char *service;
    char *args_json;  /* compact JSON array */
    char *every;      /* as given; NULL for cron */
    char *cron;       /* as given; NULL for every */
    keel_timer_spec spec;
} keel_timer_jobspec;

typedef struct keel_timer_state keel_timer_state;

/* A module's client (the opaque keel_timer of the public header). */
struct keel_timer {
    keel_timer_state *state;
    char *module;
    char **scenes;          /* NULL-terminated copies */
    struct keel_timer *next;
};

typedef struct keel_timer_job {
    struct keel_timer_job *next;        /* state->jobs */
    struct keel_timer_job *queue_next;  /* state->queue_head.. */
    keel_timer_jobspec def;
    keel_timer *owner;        /* scheduling client; NULL for configuration jobs */
    unsigned refs;            /* the list, the queue, a worker, a scheduler pass */
    bool removed;             /* cancelled or unbound: no tick starts any more */
    unsigned epoch;           /* bumped when def changes */
    keel_timer_phase phase;
    int64_t next_due;         /* first tick not yet handled (unix ms) */
    int64_t pending_tick;     /* the tick held / queued / running */
    int64_t last_started;     /* last tick started (claimed: recorded when queued, on
                               * disk before its call), -1 if none */
    int64_t prev_started;     /* last_started before the queued tick's claim */
    int64_t recheck_at;       /* HELD: when to ask the module's status again */
    int64_t last_duration_ms;
    bool failing;             /* the last tick's call failed */
    keel_timer_counters c;
    char last_error[KEEL_TIMER_TEXT];
    char last_manual_error[KEEL_TIMER_TEXT];
} keel_timer_job;

/* A last started tick kept for a job that is not there (read from the state
 * file before its job exists, or of a module job whose module unbound). */
typedef struct keel_timer_memo {
    char *name;
    char spec_text[sizeof(((keel_timer_spec *)0)->text)];
    int64_t last_started;
} keel_timer_memo;

struct keel_timer_state {
    const keel_starter_host *host;
    /* configuration (read-only after create) */
    char *state_path;
    size_t max_jobs;
    keel_timer_catch_up catch_up;
    unsigned workers;

    pthread_mutex_t lock;
    pthread_cond_t sched_cv;   /* the scheduler's wait: schedule, cancel, suspend */
    pthread_cond_t work_cv;    /* workers' wait: queue, suspend */
    keel_timer_job *jobs;
    size_t job_count;
    keel_timer_job *queue_head, *queue_tail;
    keel_timer *clients;
    keel_timer_memo *memo;
    size_t memo_count;
    keel_timer_counters retired;  /* counters of removed jobs */
    unsigned in_progress;         /* ticks being called */

    /* threads of the running code version */
    bool stop;
    bool running;
    pthread_t scheduler;
    pthread_t *threads;
    unsigned thread_count;
    uint64_t resumes;

    /* persistence: gen counts changes of last started ticks (under lock);
     * persist_lock serialises writers, persisted_gen is under it. */
    pthread_mutex_t persist_lock;
    uint64_t gen;
    uint64_t persisted_gen;
    uint64_t persist_writes;      /* under lock */
    uint64_t persist_failures;    /* under lock */
    char persist_error[KEEL_TIMER_TEXT];  /* under lock */
};

#endif

/*
 * timer.c — the timer starter: scheduled calls of module services by
 * interval and by cron expression (see keel/starters/timer.h for modules,
 * scheduler.h for how ticks run, persist.h for the state file).
 */
#include <keel/starter.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "clock.h"
#include "config.h"
#include "job.h"
#include "persist.h"
#include "registry.h"
#include "scheduler.h"
#include "slots.h"
#include "timer_state.h"

static void starter_destroy(void *state);

static keel_status starter_create(const keel_starter_host *host, const char *config_json,
                                void **state, keel_starter_error *err)
{
    *state = NULL;
    keel_timer_config cfg;
    keel_status status = keel_timer_config_read(config_json, host->work_dir, &cfg, err);
    if (status != KEEL_OK)
        return status;
    keel_timer_state *st = calloc(1, sizeof *st);
    if (!st) {
        keel_timer_config_clear(&cfg);
        keel_starter_error_set(err, "timer: out of memory");
        return KEEL_ERR_NOMEM;
    }
    st->host = host;
    st->state_path = cfg.state_path;
    cfg.state_path = NULL;
    st->max_jobs = cfg.max_jobs;
    st->catch_up = cfg.catch_up;
    st->workers = cfg.workers;
    pthread_mutex_init(&st->lock, NULL);
    pthread_mutex_init(&st->persist_lock, NULL);
    pthread_cond_init(&st->sched_cv, NULL);
    pthread_cond_init(&st->work_cv, NULL);
    status = keel_timer_persist_load(st, err);
    int64_t now = keel_timer_now_ms();
    for (size_t i = 0; status == KEEL_OK && i < cfg.job_count; i++) {
        keel_timer_job *job = keel_timer_job_new(&cfg.jobs[i], NULL);
        if (!job) {
            keel_starter_error_set(err, "timer: out of memory");
            status = KEEL_ERR_NOMEM;
            break;
        }
        keel_timer_registry_add(st, job, now);
    }
    keel_timer_config_clear(&cfg);
    if (status != KEEL_OK) {
        starter_destroy(st);
        return status;
    }
    *state = st;
    return KEEL_OK;
}

static keel_status starter_resume(void *state, const keel_starter_host *host,
                                keel_starter_error *err)
{
    keel_timer_state *st = state;
    pthread_mutex_lock(&st->lock);
    st->host = host;
    pthread_mutex_unlock(&st->lock);
    return keel_timer_threads_start(st, err);
}

static void starter_suspend(void *state)
{
    keel_timer_threads_stop(state);
}

static void starter_destroy(void *state)
{
    keel_timer_state *st = state;
    if (!st)
        return;
    keel_timer_threads_stop(st);
    /* Ticks queued but never started are not "started": give them back so
     * that the next run of the base catches them up (catch_up "once"). */
    bool given_back = false;
    for (keel_timer_job *q = st->queue_head; q; q = q->queue_next)
        if (!q->removed && q->last_started == q->pending_tick) {
            q->last_started = q->prev_started;
            given_back = true;
        }
    if (given_back && st->host)
        keel_timer_persist_sync(st, ++st->gen);
    keel_timer_job *job;
    while ((job = st->queue_head)) {
        st->queue_head = job->queue_next;
        keel_timer_job_unref(job);
    }
    while ((job = st->jobs)) {
        st->jobs = job->next;
        keel_timer_job_unref(job);
    }
    keel_timer_clients_free(st);
    keel_timer_memo_clear(st);
    pthread_cond_destroy(&st->sched_cv);
    pthread_cond_destroy(&st->work_cv);
    pthread_mutex_destroy(&st->persist_lock);
    pthread_mutex_destroy(&st->lock);
    free(st->state_path);
    free(st);
}

static const keel_starter_def timer_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "timer",
    .version = TIMER_VERSION,
    .state_format = KEEL_TIMER_STATE_FORMAT,
    .table = &keel_timer_table,
    .slot_signatures = keel_timer_slot_signatures,
    .slot_count = TIMER_TABLE_VERSION >= 2 ? 4 : 3,
    .create = starter_create,
    .resume = starter_resume,
    .suspend = starter_suspend,
    .destroy = starter_destroy,
    .bind = keel_timer_bind,
    .unbind = keel_timer_unbind,
    .admin = keel_timer_admin,
};

KEEL_STARTER(timer_def);

/* scheduler.c — see scheduler.h. */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "persist.h"
#include "registry.h"

/* A due job the scheduler asks the host about. */
typedef struct due_job {
    keel_timer_job *job;
    unsigned epoch;
    keel_starter_module_status status;
} due_job;

static void queue_push(keel_timer_state *st, keel_timer_job *job)
{
    job->refs++;
    job->queue_next = NULL;
    if (st->queue_tail)
        st->queue_tail->queue_next = job;
    else
        st->queue_head = job;
    st->queue_tail = job;
    pthread_cond_signal(&st->work_cv);
}

static keel_timer_job *queue_pop(keel_timer_state *st)
{
    keel_timer_job *job = st->queue_head;
    if (job) {
        st->queue_head = job->queue_next;
        if (!st->queue_head)
            st->queue_tail = NULL;
        job->queue_next = NULL;
    }
    return job;
}

/* A due tick of a job whose previous tick is still queued or running. */
static void count_overlaps(keel_timer_job *job, int64_t now)
{
    uint64_t extra;
    int64_t latest = keel_timer_latest_due(&job->def.spec, job->next_due, now, &extra);
    job->c.overlaps += 1 + extra;
    job->next_due = keel_timer_next(&job->def.spec, latest);
}

/* Decides what happens with the due tick(s) of `d->job` now that its
 * module's status is known. Under the lock. True when a tick is claimed:
 * recorded as the job's last started tick, to be queued once on disk. */
static bool decide(keel_timer_state *st, const due_job *d, int64_t now)
{
    keel_timer_job *job = d->job;
    if (job->removed || job->epoch != d->epoch)
        return false;
    bool held = job->phase == KEEL_TIMER_HELD;
    if (!held && (job->phase != KEEL_TIMER_IDLE || job->next_due > now))
        return false;
    const keel_timer_spec *spec = &job->def.spec;
    uint64_t extra;
    int64_t latest = keel_timer_latest_due(spec, job->next_due, now, &extra);
    if (d->status == KEEL_STARTER_MODULE_SWITCHING) {
        if (!held) {
            job->c.paused_waits++;
            job->phase = KEEL_TIMER_HELD;
            job->pending_tick = job->next_due;
        }
        job->recheck_at = now + KEEL_TIMER_RECHECK_MS;
        return false;
    }
    if (d->status != KEEL_STARTER_MODULE_SERVING ||
        (held && st->catch_up == KEEL_TIMER_CATCH_UP_SKIP)) {
        job->c.skipped += 1 + extra;
        job->phase = KEEL_TIMER_IDLE;
        job->next_due = keel_timer_next(spec, latest);
        return false;
    }
    job->c.coalesced += extra;
    job->phase = KEEL_TIMER_QUEUED;
    job->pending_tick = latest;
    job->prev_started = job->last_started;
    job->last_started = latest;
    job->next_due = keel_timer_next(spec, latest);
    return true;
}

/* Queues the claimed jobs claimed[0..n) once their ticks are on disk: one
 * write for all the ticks of a pass. Called and returns with the lock. */
static void dispatch(keel_timer_state *st, keel_timer_job **claimed, size_t n)
{
    uint64_t gen = ++st->gen;
    pthread_mutex_unlock(&st->lock);
    keel_timer_persist_sync(st, gen); /* recorded before any of them is called */
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < n; i++) {
        keel_timer_job *job = claimed[i];
        if (job->removed)
            job->phase = KEEL_TIMER_IDLE;
        else
            queue_push(st, job);
        keel_timer_job_unref(job);
    }
}

static void *scheduler_main(void *arg)
{
    keel_timer_state *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->stop) {
        int64_t now = keel_timer_now_ms();
        int64_t wake = now + 1000;
        /* room for every job: the due ones, then those claimed among them */
        due_job *due = st->job_count ? malloc(st->job_count * sizeof *due) : NULL;
        keel_timer_job **claimed = st->job_count ? malloc(st->job_count * sizeof *claimed) : NULL;
        if (!claimed) {
            free(due);
            due = NULL;
        }
        size_t n = 0;
        for (keel_timer_job *j = st->jobs; j; j = j->next) {
            int64_t at;
            switch (j->phase) {
            case KEEL_TIMER_HELD:
                at = j->recheck_at;
                break;
            case KEEL_TIMER_IDLE:
                at = j->next_due;
                break;
            default:
                if (j->next_due <= now)
                    count_overlaps(j, now);
                at = j->next_due;
                if (at < wake)
                    wake = at;
                continue;
            }
            if (at > now) {
                if (at < wake)
                    wake = at;
            } else if (due) {
                j->refs++;
                due[n++] = (due_job){j, j->epoch, KEEL_STARTER_MODULE_ABSENT};
            } else {
                wake = now + 10; /* out of memory: try again soon */
            }
        }
        if (n > 0) {
            const keel_starter_host *host = st->host;
            pthread_mutex_unlock(&st->lock);
            for (size_t i = 0; i < n; i++)
                due[i].status = host->module_status(host, due[i].job->def.module);
            pthread_mutex_lock(&st->lock);
            now = keel_timer_now_ms();
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                keel_timer_job *job = due[i].job;
                if (decide(st, &due[i], now))
                    claimed[k++] = job; /* keeps the pass's reference */
                else
                    keel_timer_job_unref(job);
            }
            if (k > 0)
                dispatch(st, claimed, k);
            free(due);
            free(claimed);
            continue;
        }
        free(due);
        free(claimed);
        struct timespec ts = keel_timer_deadline(wake);
        pthread_cond_timedwait(&st->sched_cv, &st->lock, &ts);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* One call of `job`: copies what the call needs under the lock, calls
 * without it. Returns the status; `err` says why on failure. */
typedef struct call_copy {
    char *scene, *service, *args;
} call_copy;

static bool call_copy_make(call_copy *c, const keel_timer_job *job, int64_t tick)
{
    c->scene = strdup(job->def.scene);
    c->service = strdup(job->def.service);
    c->args = keel_timer_job_args(&job->def, tick);
    return c->scene && c->service && c->args;
}

static void call_copy_free(call_copy *c)
{
    free(c->scene);
    free(c->service);
    free(c->args);
}

static keel_status call_do(const keel_starter_host *host, const call_copy *c, bool copied,
                           char **result_json, keel_starter_error *err)
{
    *result_json = NULL;
    if (!copied) {
        keel_starter_error_set(err, "out of memory preparing the call");
        return KEEL_ERR_NOMEM;
    }
    err->message[0] = 0;
    keel_status st = host->call_json(host, c->scene, c->service, c->args, result_json, err);
    if (st != KEEL_OK) {
        free(*result_json);
        *result_json = NULL;
        if (!err->message[0])
            keel_starter_error_set(err, "service \"%s\" in scene \"%s\" failed", c->service,
                                   c->scene);
    }
    return st;
}

/* Runs the queued tick of `job` (already recorded as started, on disk).
 * Called and returns with the lock held. */
static void run_tick(keel_timer_state *st, keel_timer_job *job)
{
    int64_t tick = job->pending_tick;
    job->phase = KEEL_TIMER_RUNNING;
    job->c.runs++;
    st->in_progress++;
    call_copy c;
    bool copied = call_copy_make(&c, job, tick);
    const keel_starter_host *host = st->host;
    pthread_mutex_unlock(&st->lock);

    int64_t t0 = keel_timer_mono_ms();
    char *result = NULL;
    keel_starter_error err;
    keel_status status = call_do(host, &c, copied, &result, &err);
    free(result);
    call_copy_free(&c);
    int64_t took = keel_timer_mono_ms() - t0;

    pthread_mutex_lock(&st->lock);
    st->in_progress--;
    job->phase = KEEL_TIMER_IDLE;
    job->last_duration_ms = took;
    bool was_failing = job->failing;
    job->failing = status != KEEL_OK;
    if (!job->failing && was_failing)
        host->log(host, KEEL_LOG_INFO, "timer: job \"%s\": tick %lld succeeded again",
                  job->def.name, (long long)tick);
    if (status != KEEL_OK) {
        job->c.failures++;
        if (job->removed)
            st->retired.failures++;
        snprintf(job->last_error, sizeof job->last_error, "tick %lld: %.200s (status %d)",
                 (long long)tick, err.message, (int)status);
        if (!was_failing) /* one line when a job starts failing, not one per tick */
            host->log(host, KEEL_LOG_WARN, "timer: job \"%s\": %s", job->def.name,
                      job->last_error);
    }
}

static void *worker_main(void *arg)
{
    keel_timer_state *st = arg;
    pthread_mutex_lock(&st->lock);
    while (!st->stop) {
        keel_timer_job *job = queue_pop(st);
        if (!job) {
            pthread_cond_wait(&st->work_cv, &st->lock);
            continue;
        }
        if (job->removed)
            job->phase = KEEL_TIMER_IDLE;
        else
            run_tick(st, job);
        keel_timer_job_unref(job);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

keel_status keel_timer_run_manual(keel_timer_state *st, keel_timer_job *job, char **result_json,
                                  keel_starter_error *err)
{
    pthread_mutex_lock(&st->lock);
    call_copy c;
    bool copied = call_copy_make(&c, job, keel_timer_now_ms());
    const keel_starter_host *host = st->host;
    pthread_mutex_unlock(&st->lock);

    keel_status status = call_do(host, &c, copied, result_json, err);
    call_copy_free(&c);

    pthread_mutex_lock(&st->lock);
    keel_timer_counters *counters = job->removed ? &st->retired : &job->c;
    counters->manual_runs++;
    if (status != KEEL_OK) {
        counters->manual_failures++;
        snprintf(job->last_manual_error, sizeof job->last_manual_error, "%.220s (status %d)",
                 err->message, (int)status);
    }
    pthread_mutex_unlock(&st->lock);
    return status;
}

keel_status keel_timer_threads_start(keel_timer_state *st, keel_starter_error *err)
{
    if (st->running)
        return KEEL_OK;
    st->threads = calloc(st->workers, sizeof *st->threads);
    if (!st->threads) {
        keel_starter_error_set(err, "timer: out of memory starting the workers");
        return KEEL_ERR_NOMEM;
    }
    pthread_mutex_lock(&st->lock);
    st->stop = false;
    pthread_mutex_unlock(&st->lock);
    int rc = pthread_create(&st->scheduler, NULL, scheduler_main, st);
    bool scheduler_started = rc == 0;
    unsigned started = 0;
    if (rc == 0)
        for (; started < st->workers; started++)
            if ((rc = pthread_create(&st->threads[started], NULL, worker_main, st)) != 0)
                break;
    if (rc != 0) {
        keel_starter_error_set(err, "timer: cannot start its threads: %s", strerror(rc));
        pthread_mutex_lock(&st->lock);
        st->stop = true;
        pthread_cond_broadcast(&st->sched_cv);
        pthread_cond_broadcast(&st->work_cv);
        pthread_mutex_unlock(&st->lock);
        if (scheduler_started)
            pthread_join(st->scheduler, NULL);
        for (unsigned i = 0; i < started; i++)
            pthread_join(st->threads[i], NULL);
        free(st->threads);
        st->threads = NULL;
        pthread_mutex_lock(&st->lock);
        st->stop = false;
        pthread_mutex_unlock(&st->lock);
        return KEEL_ERR_LIMIT;
    }
    pthread_mutex_lock(&st->lock);
    st->thread_count = started;
    st->running = true;
    st->resumes++;
    pthread_mutex_unlock(&st->lock);
    return KEEL_OK;
}

void keel_timer_threads_stop(keel_timer_state *st)
{
    if (!st->running)
        return;
    pthread_mutex_lock(&st->lock);
    st->stop = true;
    pthread_cond_broadcast(&st->sched_cv);
    pthread_cond_broadcast(&st->work_cv);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->scheduler, NULL);
    for (unsigned i = 0; i < st->thread_count; i++)
        pthread_join(st->threads[i], NULL);
    free(st->threads);
    st->threads = NULL;
    pthread_mutex_lock(&st->lock);
    st->thread_count = 0;
    st->stop = false;
    st->running = false;
    pthread_mutex_unlock(&st->lock);
}

/* http_calls.c — service calls off the server threads: a queue of parked
 * requests served by worker threads, and a watchdog that answers a request
 * as timed out when its call is not back by its deadline (the call itself
 * cannot be interrupted; its late result is dropped).
 *
 * Every request in the queue or running is also in the "live" list, which
 * is ordered by deadline because every request gets the same timeout. The
 * one who moves a request out of QUEUED/RUNNING (a worker with the result,
 * or the watchdog) resumes its connection, exactly once. */
#include "http_internal.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void http_calls_init(http_calls *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->work, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->watch, &attr);
    pthread_condattr_destroy(&attr);
}

void http_calls_destroy(http_calls *c)
{
    pthread_cond_destroy(&c->watch);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->lock);
}

static void live_remove(http_calls *c, http_req *r)
{
    if (r->live_prev)
        r->live_prev->live_next = r->live_next;
    else
        c->live_head = r->live_next;
    if (r->live_next)
        r->live_next->live_prev = r->live_prev;
    else
        c->live_tail = r->live_prev;
    r->live_prev = r->live_next = NULL;
}

static void queue_remove(http_calls *c, http_req *r)
{
    http_req *prev = NULL;
    for (http_req *q = c->queue_head; q; prev = q, q = q->queue_next) {
        if (q != r)
            continue;
        if (prev)
            prev->queue_next = q->queue_next;
        else
            c->queue_head = q->queue_next;
        if (c->queue_tail == q)
            c->queue_tail = prev;
        q->queue_next = NULL;
        return;
    }
}

/* Hands the connection back to libmicrohttpd (called without the lock). */
static void resume(http_state *st, http_req *req)
{
    MHD_resume_connection(req->conn);
    atomic_fetch_sub(&st->parked, 1);
}

/* Calls the service; fills the result fields (no lock: the caller owns
 * them until it publishes the phase). */
static void call_service(http_state *st, http_req *req, keel_status *status, char **result,
                         char *error, size_t error_size)
{
    keel_starter_error e;
    e.message[0] = '\0';
    *result = NULL;
    const keel_starter_host *host = http_host(st);
    *status = host->call_json(host, req->scene, req->route->service,
                              req->body ? req->body : "[]", result, &e);
    if (*status != KEEL_OK) {
        free(*result);
        *result = NULL;
    }
    snprintf(error, error_size, "%s", e.message);
}

void http_calls_run_inline(http_state *st, http_req *req)
{
    keel_status s;
    char *result;
    char error[HTTP_ERROR_MAX];
    double t0 = http_now_ns();
    call_service(st, req, &s, &result, error, sizeof error);
    /* It cannot be interrupted, but a result later than timeout_ms is
     * treated like one the watchdog gave up on. */
    bool late = http_now_ns() - t0 > (double)st->cfg.timeout_ms * 1e6;
    pthread_mutex_lock(&st->calls.lock);
    if (late) {
        req->phase = HTTP_PHASE_TIMED_OUT;
        pthread_mutex_unlock(&st->calls.lock);
        free(result);
        return;
    }
    req->phase = HTTP_PHASE_DONE;
    req->call_status = s;
    req->result = result;
    memcpy(req->call_error, error, sizeof error);
    pthread_mutex_unlock(&st->calls.lock);
}

static void *worker_main(void *arg)
{
    http_state *st = arg;
    http_calls *c = &st->calls;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->queue_head && !c->stopping)
            pthread_cond_wait(&c->work, &c->lock);
        http_req *req = c->queue_head;
        if (!req)
            break;   /* stopping and nothing queued */
        c->queue_head = req->queue_next;
        if (!c->queue_head)
            c->queue_tail = NULL;
        req->queue_next = NULL;
        req->phase = HTTP_PHASE_RUNNING;
        pthread_mutex_unlock(&c->lock);

        keel_status s;
        char *result;
        char error[HTTP_ERROR_MAX];
        call_service(st, req, &s, &result, error, sizeof error);

        pthread_mutex_lock(&c->lock);
        bool mine = req->phase == HTTP_PHASE_RUNNING;
        if (mine) {
            req->phase = HTTP_PHASE_DONE;
            req->call_status = s;
            req->result = result;
            memcpy(req->call_error, error, sizeof error);
            live_remove(c, req);
        }
        pthread_mutex_unlock(&c->lock);
        if (mine)
            resume(st, req);
        else
            free(result);   /* the watchdog answered already */
        http_req_unref(req);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Marks req timed out (lock held). Returns true when the caller must also
 * drop the queue's reference (it was still queued). */
static bool time_out(http_calls *c, http_req *req)
{
    bool queued = req->phase == HTTP_PHASE_QUEUED;
    if (queued)
        queue_remove(c, req);
    req->phase = HTTP_PHASE_TIMED_OUT;
    live_remove(c, req);
    return queued;
}

static void *watchdog_main(void *arg)
{
    http_state *st = arg;
    http_calls *c = &st->calls;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        http_req *head = c->live_head;
        double now = http_now_ns();
        /* Nobody wakes the watchdog for a new request (that would cost a
         * wake-up per request): with nothing live it sleeps one timeout,
         * and a request submitted meanwhile expires after it wakes. */
        double until = head ? head->deadline_ns : now + (double)st->cfg.timeout_ms * 1e6;
        if (!head || head->deadline_ns > now) {
            struct timespec ts;
            ts.tv_sec = (time_t)(until / 1e9);
            ts.tv_nsec = (long)(until - (double)ts.tv_sec * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            } else if (ts.tv_nsec < 0) {
                ts.tv_nsec = 0;
            }
            pthread_cond_timedwait(&c->watch, &c->lock, &ts);
            continue;
        }
        bool queued = time_out(c, head);
        pthread_mutex_unlock(&c->lock);
        resume(st, head);
        if (queued)
            http_req_unref(head);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void http_calls_submit(http_state *st, http_req *req)
{
    http_calls *c = &st->calls;
    atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
    pthread_mutex_lock(&c->lock);
    req->phase = HTTP_PHASE_QUEUED;
    req->deadline_ns = http_now_ns() + (double)st->cfg.timeout_ms * 1e6;
    req->queue_next = NULL;
    if (c->queue_tail)
        c->queue_tail->queue_next = req;
    else
        c->queue_head = req;
    c->queue_tail = req;
    req->live_next = NULL;
    req->live_prev = c->live_tail;
    if (c->live_tail)
        c->live_tail->live_next = req;
    else
        c->live_head = req;
    c->live_tail = req;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->lock);
}

keel_status http_calls_start(http_state *st, unsigned workers, keel_starter_error *err)
{
    http_calls *c = &st->calls;
    if (workers == 0)
        return KEEL_OK;   /* calls run inline on the server threads */
    c->threads = calloc(workers, sizeof *c->threads);
    if (!c->threads) {
        keel_starter_error_set(err, "http: out of memory starting %u call workers", workers);
        return KEEL_ERR_NOMEM;
    }
    c->stopping = false;
    c->thread_count = 0;
    int rc = 0;
    for (unsigned i = 0; i < workers && rc == 0; i++)
        if ((rc = pthread_create(&c->threads[i], NULL, worker_main, st)) == 0)
            c->thread_count++;
    if (rc == 0 && (rc = pthread_create(&c->watchdog, NULL, watchdog_main, st)) == 0)
        c->watchdog_running = true;
    c->running = true;
    if (rc != 0) {
        http_calls_stop(st);
        keel_starter_error_set(err, "http: cannot start call threads: %s", strerror(rc));
        return KEEL_ERR_LIMIT;
    }
    return KEEL_OK;
}

void http_calls_stop(http_state *st)
{
    http_calls *c = &st->calls;
    if (!c->running)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    /* Nothing should be queued once the server is stopped; answer any
     * leftovers so that no connection stays suspended. */
    while (c->queue_head) {
        http_req *req = c->queue_head;
        time_out(c, req);
        pthread_mutex_unlock(&c->lock);
        resume(st, req);
        http_req_unref(req);
        pthread_mutex_lock(&c->lock);
    }
    pthread_cond_broadcast(&c->work);
    pthread_cond_broadcast(&c->watch);
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < c->thread_count; i++)
        pthread_join(c->threads[i], NULL);
    if (c->watchdog_running)
        pthread_join(c->watchdog, NULL);
    free(c->threads);
    c->threads = NULL;
    c->thread_count = 0;
    c->watchdog_running = false;
    pthread_mutex_lock(&c->lock);
    c->stopping = false;
    pthread_mutex_unlock(&c->lock);
    c->running = false;
}

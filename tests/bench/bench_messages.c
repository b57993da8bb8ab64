/*
 * bench_messages: messages between modules through the router's mailboxes.
 *
 *   bench_messages [--quick]
 *
 * Uses the router API directly: subscriber "modules" are router versions
 * whose handlers are functions of this program, so what is measured is the
 * router (publish, mailbox, bus workers, delivery to the primary version)
 * and nothing of the loader. Rows, group "messages":
 *   - delivered messages per second, 1 subscriber and 4 subscribers
 *     (delivered = subscribers x published), one publisher thread, the
 *     router's 2 bus workers;
 *   - latency publish -> handler start at a paced, moderate rate.
 * The baseline of each row is a plain mutex + condition-variable queue
 * handing the same messages from one thread to another, measured the same
 * way in the same run.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <keel/router.h>
#include "bench_common.h"

#define SCENE "bench"
#define SUBSCRIBERS 4
#define WORKERS 2
#define QUEUE_CAPACITY 65536
#define PACE_PER_S 100000.0   /* latency runs: far below saturation */
#define GOAL_RATE 2e6

/* What every message carries. */
typedef struct payload {
    uint64_t seq;
    double sent_ns;       /* latency runs: when publish was called */
} payload;

typedef struct counts {
    unsigned runs;           /* rate runs per row */
    size_t published_one;    /* per run, 1 subscriber */
    size_t published_four;   /* per run, 4 subscribers */
    size_t latency;          /* paced messages */
    double loadavg;          /* of the machine when the run started */
} counts;

typedef struct rate {
    double p50, p99;         /* messages/s: median run, slow tail of runs */
} rate;

/* One subscriber's tally; each on its own cache line, since different
 * workers deliver to different subscribers at once. */
typedef struct tally {
    alignas(64) atomic_size_t delivered;
    size_t expect;
    _Atomic double done_ns;   /* when `expect` was reached */
    double *latency_ns;       /* latency runs: per sequence number */
} tally;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_messages: %s: %s\n", what, detail);
    exit(1);
}

static void die_keel(const char *what, keel_status st, const keel_error *err)
{
    fprintf(stderr, "bench_messages: %s: %s: %s\n", what, keel_status_name(st),
            err != NULL && err->message[0] ? err->message : "(no message)");
    exit(1);
}

static void tally_reset(tally *t, size_t expect, double *latency_ns)
{
    atomic_store(&t->delivered, 0);
    t->expect = expect;
    atomic_store(&t->done_ns, 0.0);
    t->latency_ns = latency_ns;
}

/* Counts a delivery; the one that completes the run stamps the end. */
static void tally_count(tally *t)
{
    size_t n = atomic_fetch_add_explicit(&t->delivered, 1, memory_order_relaxed) + 1;
    if (n == t->expect)
        atomic_store(&t->done_ns, bench_now_ns());
}

/* Waits (politely) until every tally is complete; returns the last end. */
static double tallies_done(tally *const *ts, size_t n)
{
    double last = 0;
    for (size_t i = 0; i < n; i++) {
        double d;
        while ((d = atomic_load(&ts[i]->done_ns)) == 0.0)
            usleep(100);
        last = d > last ? d : last;
    }
    return last;
}

/* Rate: median and 1st percentile (the slow tail) of per-run rates. */
static rate rate_of(double *per_run, unsigned runs)
{
    double p50 = bench_percentile(per_run, runs, 50);
    return (rate){p50, bench_percentile(per_run, runs, 1)};
}

/* --- the baseline: a plain mutex + condvar queue between two threads ----- */

typedef struct plain_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    payload **ring;
    size_t head, count;
    unsigned consumer_waiting, producer_waiting;
    int stop;
    tally *tally;
    pthread_t consumer;
} plain_queue;

static void handle(tally *t, const payload *p)
{
    if (t->latency_ns != NULL)
        t->latency_ns[p->seq] = bench_now_ns() - p->sent_ns;
    tally_count(t);
}

/* Takes one message (NULL once stopped and empty). */
static payload *plain_take(plain_queue *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->stop) {
        q->consumer_waiting++;
        pthread_cond_wait(&q->nonempty, &q->lock);
        q->consumer_waiting--;
    }
    payload *p = NULL;
    if (q->count > 0) {
        p = q->ring[q->head];
        q->head = (q->head + 1) % QUEUE_CAPACITY;
        q->count--;
        if (q->producer_waiting > 0)
            pthread_cond_signal(&q->nonfull);
    }
    pthread_mutex_unlock(&q->lock);
    return p;
}

static void *plain_consumer(void *arg)
{
    plain_queue *q = arg;
    payload *p;
    while ((p = plain_take(q)) != NULL) {
        handle(q->tally, p);
        free(p);
    }
    return NULL;
}

/* Copies the message (as the router does) and queues it. */
static void plain_post(plain_queue *q, const payload *msg)
{
    payload *p = malloc(sizeof *p);
    if (p == NULL)
        die("malloc", "out of memory");
    *p = *msg;
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_CAPACITY) {
        q->producer_waiting++;
        pthread_cond_wait(&q->nonfull, &q->lock);
        q->producer_waiting--;
    }
    q->ring[(q->head + q->count) % QUEUE_CAPACITY] = p;
    q->count++;
    if (q->consumer_waiting > 0)
        pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}

static void plain_start(plain_queue *q, tally *t)
{
    *q = (plain_queue){.tally = t, .ring = malloc(QUEUE_CAPACITY * sizeof(payload *))};
    if (q->ring == NULL)
        die("malloc", "out of memory");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    pthread_cond_init(&q->nonfull, NULL);
    if (pthread_create(&q->consumer, NULL, plain_consumer, q) != 0)
        die("pthread_create", "cannot start the baseline consumer");
}

static void plain_stop(plain_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->consumer, NULL);
    pthread_cond_destroy(&q->nonfull);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
}

/* --- the router and its subscribers ----------------------------------------- */

typedef struct bench_router {
    keel_router *router;
    keel_router_version *publisher;
    keel_router_version *subs[SUBSCRIBERS];
    tally tallies[SUBSCRIBERS];
} bench_router;

static void on_message(keel_ctx *ctx, const keel_message *msg, void *user)
{
    (void)ctx;
    if (msg->size != sizeof(payload))
        die("handler", "unexpected payload size");
    handle(user, msg->data);
}

static keel_router_version *version_new(keel_router *r, const char *module)
{
    static const char *const scenes[] = {SCENE};
    keel_router_identity id = {.module = module, .version = "1.0.0", .scenes = scenes,
                               .scene_count = 1};
    keel_router_version *v = NULL;
    keel_error err = {0};
    keel_status st = keel_router_version_add(r, &id, NULL, &v, &err);
    if (st == KEEL_OK)
        st = keel_router_activate(r, v, &err);
    if (st != KEEL_OK)
        die_keel(module, st, &err);
    return v;
}

static void subscribe(keel_router_version *v, const char *topic, tally *t)
{
    keel_error err = {0};
    keel_status st = keel_router_subscribe(v, SCENE, topic, on_message, t, &err);
    if (st != KEEL_OK)
        die_keel(topic, st, &err);
}

/* Subscriber 0 takes "one" and "latency"; all four take "four". Each
 * subscriber is a module of its own, so each has its own mailbox. */
static void bench_router_open(bench_router *b)
{
    /* BLOCK: a saturating publisher waits for room instead of failing. */
    keel_router_options opts = {.message_workers = WORKERS, .queue_capacity = QUEUE_CAPACITY,
                                .overflow = KEEL_OVERFLOW_BLOCK, .publish_timeout_ms = 30000};
    keel_error err = {0};
    keel_status st = keel_router_create(&opts, &b->router, &err);
    if (st != KEEL_OK)
        die_keel("keel_router_create", st, &err);
    b->publisher = version_new(b->router, "publisher");
    for (int i = 0; i < SUBSCRIBERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "subscriber-%d", i);
        b->subs[i] = version_new(b->router, name);
        subscribe(b->subs[i], "four", &b->tallies[i]);
    }
    subscribe(b->subs[0], "one", &b->tallies[0]);
    subscribe(b->subs[0], "latency", &b->tallies[0]);
}

static void version_remove(keel_router *r, keel_router_version *v)
{
    keel_error err = {0};
    keel_status st = keel_router_version_remove(r, v, 5000, &err);
    if (st != KEEL_OK)
        die_keel("keel_router_version_remove", st, &err);
}

static void bench_router_close(bench_router *b)
{
    for (int i = 0; i < SUBSCRIBERS; i++)
        version_remove(b->router, b->subs[i]);
    version_remove(b->router, b->publisher);
    keel_router_destroy(b->router);
}

static void publish(bench_router *b, const char *topic, const payload *p, size_t receivers)
{
    keel_error err = {0};
    size_t got = 0;
    keel_status st = keel_router_publish(b->router, b->publisher, SCENE, topic, p, sizeof *p, 0,
                                         &got, &err);
    if (st != KEEL_OK)
        die_keel("keel_router_publish", st, &err);
    if (got != receivers)
        die("keel_router_publish", "unexpected number of receivers");
}

/* --- rate: publish as fast as possible, time until the last delivery ---------- */

/* One run through the router: messages/s delivered. */
static double router_rate_run(bench_router *b, const char *topic, size_t subs, size_t n)
{
    tally *ts[SUBSCRIBERS];
    for (size_t i = 0; i < subs; i++) {
        ts[i] = &b->tallies[i];
        tally_reset(ts[i], n, NULL);
    }
    double t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        publish(b, topic, &(payload){i, 0}, subs);
    double end = tallies_done(ts, subs);
    return (double)(subs * n) / ((end - t0) / 1e9);
}

/* One run through the plain queue: messages/s handed over. */
static double plain_rate_run(size_t n)
{
    tally t;
    plain_queue q;
    tally_reset(&t, n, NULL);
    plain_start(&q, &t);
    tally *ts[1] = {&t};
    double t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++)
        plain_post(&q, &(payload){i, 0});
    double end = tallies_done(ts, 1);
    plain_stop(&q);
    return (double)n / ((end - t0) / 1e9);
}

/* A warm-up run first (rings grow, pages fault in), then `runs` timed. */
static rate router_rate(bench_router *b, const char *topic, size_t subs, size_t n, unsigned runs)
{
    double per_run[64];
    router_rate_run(b, topic, subs, n / 4 + 1);
    for (unsigned i = 0; i < runs; i++)
        per_run[i] = router_rate_run(b, topic, subs, n);
    return rate_of(per_run, runs);
}

static rate plain_rate(size_t n, unsigned runs)
{
    double per_run[64];
    plain_rate_run(n / 4 + 1);
    for (unsigned i = 0; i < runs; i++)
        per_run[i] = plain_rate_run(n);
    return rate_of(per_run, runs);
}

/* --- latency: paced publishing, stamp in the payload --------------------------- */

/* Spins until `at` (ns): sleeping would add the scheduler's wake-up slop
 * to the pacing, and the pace must not depend on it. */
static double wait_until(double at)
{
    double now;
    while ((now = bench_now_ns()) < at)
        ;
    return now;
}

typedef void (*post_fn)(void *target, const payload *p);

static void post_router(void *target, const payload *p)
{
    publish(target, "latency", p, 1);
}

static void post_plain(void *target, const payload *p)
{
    plain_post(target, p);
}

/* Sends n messages at PACE_PER_S and waits for the last; the handler fills
 * t->latency_ns. */
static void paced_send(post_fn post, void *target, tally *t, size_t n)
{
    double interval = 1e9 / PACE_PER_S, start = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        double now = wait_until(start + (double)i * interval);
        post(target, &(payload){i, now});
    }
    tally *ts[1] = {t};
    tallies_done(ts, 1);
}

typedef struct latency {
    double p50, p99;   /* us */
} latency;

static latency latency_of(double *ns, size_t n)
{
    return (latency){bench_percentile(ns, n, 50) / 1e3, bench_percentile(ns, n, 99) / 1e3};
}

static latency router_latency(bench_router *b, size_t n)
{
    double *ns = calloc(n, sizeof *ns);
    if (ns == NULL)
        die("calloc", "out of memory");
    tally_reset(&b->tallies[0], n / 10 + 1, ns);   /* warm-up */
    paced_send(post_router, b, &b->tallies[0], n / 10 + 1);
    tally_reset(&b->tallies[0], n, ns);
    paced_send(post_router, b, &b->tallies[0], n);
    tally_reset(&b->tallies[0], 0, NULL);
    latency l = latency_of(ns, n);
    free(ns);
    return l;
}

static latency plain_latency(size_t n)
{
    double *ns = calloc(n, sizeof *ns);
    if (ns == NULL)
        die("calloc", "out of memory");
    tally t;
    plain_queue q;
    tally_reset(&t, n / 10 + 1, ns);
    plain_start(&q, &t);
    paced_send(post_plain, &q, &t, n / 10 + 1);   /* warm-up */
    tally_reset(&t, n, ns);
    paced_send(post_plain, &q, &t, n);
    plain_stop(&q);
    latency l = latency_of(ns, n);
    free(ns);
    return l;
}

/* The 1-minute load average: on these small VMs, other load changes
 * cross-thread wake-up costs a lot (an idle vCPU must be woken), so the
 * reader of a row needs to know how busy the machine was. */
static double loadavg_1m(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* --- output -------------------------------------------------------------------- */

static const char *const BASELINE = "plain mutex+condvar queue, one thread to another";

static void print_rate(const char *name, rate r, rate base, size_t subs, size_t published,
                       const counts *n)
{
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"subscribers\": %zu, \"published_per_run\": %zu, \"delivered_per_run\": %zu, "
             "\"runs\": %u, \"p50_is\": \"median run rate\", \"p99_is\": \"1st percentile of "
             "run rates (the slow tail)\", \"workers\": %d, \"publishers\": 1, \"cores\": %ld, "
             "\"payload_bytes\": %zu, \"baseline_p99\": %.6g, \"loadavg_1m\": %.2f",
             subs, published, subs * published, n->runs, WORKERS, sysconf(_SC_NPROCESSORS_ONLN),
             sizeof(payload), base.p99, n->loadavg);
    bench_row("messages", name, "msg/s", r.p50, r.p99, BASELINE, base.p50,
              ">= 2 M/s delivered on 2 cores", r.p50 >= GOAL_RATE, extra);
}

static void print_latency(latency l, latency base, const counts *n)
{
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"messages\": %zu, \"paced_per_s\": %.0f, \"subscribers\": 1, "
             "\"baseline_p99\": %.6g, \"ratio_p99\": %.4g, \"loadavg_1m\": %.2f",
             n->latency, PACE_PER_S, base.p99, l.p99 / base.p99, n->loadavg);
    bench_row("messages", "latency publish -> handler start", "us", l.p50, l.p99, BASELINE,
              base.p50, NULL, -1, extra);
}

int main(int argc, char **argv)
{
    int quick = bench_quick(argc, argv);
    counts n = quick ? (counts){5, 20000, 10000, 10000, 0} : (counts){10, 400000, 200000, 200000, 0};
    n.loadavg = loadavg_1m();
    bench_router b = {0};
    bench_router_open(&b);

    rate base_rate = plain_rate(n.published_one, n.runs);
    rate one = router_rate(&b, "one", 1, n.published_one, n.runs);
    rate four = router_rate(&b, "four", SUBSCRIBERS, n.published_four, n.runs);
    latency base_lat = plain_latency(n.latency);
    latency lat = router_latency(&b, n.latency);

    print_rate("delivered messages/s, 1 subscriber", one, base_rate, 1, n.published_one, &n);
    print_rate("delivered messages/s, 4 subscribers", four, base_rate, SUBSCRIBERS,
               n.published_four, &n);
    print_latency(lat, base_lat, &n);
    bench_router_close(&b);
    return 0;
}

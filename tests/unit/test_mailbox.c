/*
 * Unit tests of keel/mailbox.h: FIFO delivery with one and several posters,
 * one worker per mailbox at a time while mailboxes run in parallel, sync
 * posts, the three overflow policies, flush, destroy (draining, dropping,
 * refusing posts), counters, payload integrity, a million-message run and a
 * create/destroy stress loop (meant for ASan and TSan builds).
 *
 * Blocking situations are made deterministic with a "gate" the deliver
 * function waits on: a test waits until the deliver function has entered
 * before it posts what must queue behind it.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keel/mailbox.h>

/* A bound for waits that should end quickly; only reached when broken. */
#define LONG_MS 10000u
#define MAX_POSTERS 4
#define MAX_VALUES 64

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A gate a deliver function waits at until the test opens it. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int entered;
} gate;

static void gate_init(gate *g)
{
    ck_assert_int_eq(pthread_mutex_init(&g->lock, NULL), 0);
    ck_assert_int_eq(pthread_cond_init(&g->cond, NULL), 0);
    g->open = false;
    g->entered = 0;
}

static void gate_destroy(gate *g)
{
    ck_assert_int_eq(pthread_cond_destroy(&g->cond), 0);
    ck_assert_int_eq(pthread_mutex_destroy(&g->lock), 0);
}

/* Deliver side: announces arrival, then waits for the gate to open. */
static void gate_pass(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* Waits (polling, bounded) until `n` deliver calls have reached the gate. */
static void gate_wait_entered(gate *g, int n)
{
    uint64_t end = now_ms() + LONG_MS;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        int entered = g->entered;
        pthread_mutex_unlock(&g->lock);
        if (entered >= n)
            return;
        ck_assert_msg(now_ms() < end, "deliver never reached the gate (%d of %d)", entered, n);
        sleep_ms(1);
    }
}

/* Opens a gate from another thread after a delay. */
typedef struct delayed_open {
    gate *gate;
    unsigned after_ms;
    pthread_t thread;
} delayed_open;

static void *delayed_open_main(void *arg)
{
    delayed_open *d = arg;
    sleep_ms(d->after_ms);
    gate_open(d->gate);
    return NULL;
}

static void delayed_open_start(delayed_open *d, gate *g, unsigned after_ms)
{
    d->gate = g;
    d->after_ms = after_ms;
    ck_assert_int_eq(pthread_create(&d->thread, NULL, delayed_open_main, d), 0);
}

static void delayed_open_join(delayed_open *d)
{
    ck_assert_int_eq(pthread_join(d->thread, NULL), 0);
}

/* The payload most tests post: who posted it and its index in that
 * poster's sequence. */
typedef struct payload {
    uint32_t poster;
    uint32_t spare;
    uint64_t index;
} payload;

static uint64_t payload_weight(uint32_t poster, uint64_t index)
{
    return index * 7u + poster * 1000003u + 1u;
}

/* What a deliver function saw. Written by the (single) worker delivering
 * the mailbox; read by the test after flush or destroy, which synchronise
 * with the worker through the mailbox lock. `inside` is atomic because it
 * is the very thing checked for concurrent entry. */
typedef struct recorder {
    gate *gate;              /* every deliver call waits here, when set */
    uint64_t gate_only_seq;  /* ... or only the call for this sequence, when non-zero */
    unsigned spin;           /* busy work per call, to widen race windows */
    atomic_int *rendezvous;  /* the first call waits until this reaches 2 */
    bool met;                /* the rendezvous happened */

    atomic_int inside;
    atomic_int overlaps;     /* calls that found another call inside */
    atomic_uint_fast64_t last_value;   /* index of the last payload, for sync posts */

    uint64_t count;
    uint64_t sum;
    uint64_t last_seq;
    uint64_t seq_errors;
    uint64_t order_errors;
    uint64_t next_index[MAX_POSTERS];
    uint64_t values[MAX_VALUES];
    size_t nvalues;
} recorder;

static void recorder_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    atomic_init(&r->inside, 0);
    atomic_init(&r->overlaps, 0);
    atomic_init(&r->last_value, 0);
}

static void spin_work(unsigned n)
{
    volatile unsigned sink = 0;
    for (unsigned i = 0; i < n; i++)
        sink = sink + i;
}

/* Waits (bounded) until the other mailbox's deliver function is running
 * too: proves two mailboxes are delivered at the same time. */
static bool meet(atomic_int *rendezvous)
{
    atomic_fetch_add(rendezvous, 1);
    uint64_t end = now_ms() + 5000;
    while (atomic_load(rendezvous) < 2) {
        if (now_ms() > end)
            return false;
        sleep_ms(1);
    }
    return true;
}

static void deliver_record(void *owner, const keel_mail *mail)
{
    recorder *r = owner;
    if (atomic_exchange(&r->inside, 1) != 0)
        atomic_fetch_add(&r->overlaps, 1);
    if (r->rendezvous != NULL && r->count == 0)
        r->met = meet(r->rendezvous);
    if (r->gate != NULL && (r->gate_only_seq == 0 || r->gate_only_seq == mail->sequence))
        gate_pass(r->gate);
    spin_work(r->spin);

    if (mail->sequence <= r->last_seq)
        r->seq_errors++;
    r->last_seq = mail->sequence;
    if (mail->size == sizeof(payload)) {
        payload p;
        memcpy(&p, mail->data, sizeof p);
        if (p.poster < MAX_POSTERS) {
            if (p.index != r->next_index[p.poster])
                r->order_errors++;
            r->next_index[p.poster] = p.index + 1;
        }
        r->sum += payload_weight(p.poster, p.index);
        if (r->nvalues < MAX_VALUES)
            r->values[r->nvalues++] = p.index;
        atomic_store(&r->last_value, p.index);
    }
    r->count++;
    atomic_store(&r->inside, 0);
}

static keel_bus *bus_new(unsigned workers)
{
    keel_bus *bus = NULL;
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_bus_create(workers, &bus, &err);
    ck_assert_msg(s == KEEL_OK, "bus: %d %s", s, err.message);
    ck_assert_ptr_nonnull(bus);
    return bus;
}

static keel_mailbox *mailbox_new(keel_bus *bus, size_t capacity, keel_overflow policy,
                                 recorder *r)
{
    keel_mailbox *mb = NULL;
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_mailbox_create(bus, capacity, policy, deliver_record, r, &mb, &err);
    ck_assert_msg(s == KEEL_OK, "mailbox: %d %s", s, err.message);
    ck_assert_ptr_nonnull(mb);
    return mb;
}

static keel_status post_value(keel_mailbox *mb, uint32_t poster, uint64_t index, int sync,
                              unsigned timeout_ms)
{
    payload p = {poster, 0, index};
    return keel_mailbox_post(mb, "default", "orders", &p, sizeof p, sync, timeout_ms);
}

static keel_mailbox_stats stats_of(const keel_mailbox *mb)
{
    keel_mailbox_stats st;
    keel_mailbox_stats_get(mb, &st);
    return st;
}

/* A thread posting `count` payloads numbered 0..count-1. */
typedef struct poster {
    keel_mailbox *mb;
    uint32_t id;
    uint64_t count;
    unsigned timeout_ms;
    uint64_t ok;
    uint64_t limited;
    uint64_t failed;   /* any other status */
    pthread_t thread;
} poster;

static void *poster_main(void *arg)
{
    poster *p = arg;
    for (uint64_t i = 0; i < p->count; i++) {
        keel_status s = post_value(p->mb, p->id, i, 0, p->timeout_ms);
        if (s == KEEL_OK)
            p->ok++;
        else if (s == KEEL_ERR_LIMIT)
            p->limited++;
        else
            p->failed++;
    }
    return NULL;
}

static void posters_run(poster *ps, size_t n, keel_mailbox *mb, uint64_t count,
                        unsigned timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        ps[i] = (poster){.mb = mb, .id = (uint32_t)i, .count = count, .timeout_ms = timeout_ms};
        ck_assert_int_eq(pthread_create(&ps[i].thread, NULL, poster_main, &ps[i]), 0);
    }
}

static void posters_join(poster *ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(pthread_join(ps[i].thread, NULL), 0);
}

static uint64_t expected_sum(size_t posters, uint64_t count)
{
    uint64_t sum = 0;
    for (size_t p = 0; p < posters; p++)
        for (uint64_t i = 0; i < count; i++)
            sum += payload_weight((uint32_t)p, i);
    return sum;
}

/* Checks that `posters` posters of `count` messages each arrived exactly
 * once and in order. */
static void assert_all_in_order(const recorder *r, size_t posters, uint64_t count)
{
    ck_assert_uint_eq(r->count, posters * count);
    ck_assert_uint_eq(r->order_errors, 0);
    ck_assert_uint_eq(r->seq_errors, 0);
    ck_assert_int_eq(atomic_load(&r->overlaps), 0);
    for (size_t p = 0; p < posters; p++)
        ck_assert_uint_eq(r->next_index[p], count);
    ck_assert_uint_eq(r->sum, expected_sum(posters, count));
}

static void mailbox_done(keel_mailbox *mb, size_t expect_dropped)
{
    size_t dropped = 12345;
    keel_mailbox_destroy(mb, LONG_MS, &dropped);
    ck_assert_uint_eq(dropped, expect_dropped);
}

/* ---- FIFO ---------------------------------------------------------------------- */

START_TEST(test_fifo_one_poster)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_BLOCK, &r);
    const uint64_t n = 20000;
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, LONG_MS), KEEL_OK);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    assert_all_in_order(&r, 1, n);
    ck_assert_uint_eq(r.last_seq, n);   /* sequences run 1..n */
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.posted, n);
    ck_assert_uint_eq(st.delivered, n);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.dropped + st.rejected, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

START_TEST(test_fifo_four_posters)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    /* A small capacity makes the posters block now and then. */
    keel_mailbox *mb = mailbox_new(bus, 512, KEEL_OVERFLOW_BLOCK, &r);
    poster ps[4];
    const uint64_t n = 25000;
    posters_run(ps, 4, mb, n, LONG_MS);
    posters_join(ps, 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(ps[i].ok, n);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    assert_all_in_order(&r, 4, n);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

/* ---- workers ------------------------------------------------------------------- */

START_TEST(test_two_mailboxes_in_parallel)
{
    keel_bus *bus = bus_new(2);
    atomic_int rendezvous;
    atomic_init(&rendezvous, 0);
    recorder ra, rb;
    recorder_init(&ra);
    recorder_init(&rb);
    ra.rendezvous = rb.rendezvous = &rendezvous;
    ra.spin = rb.spin = 50;
    keel_mailbox *a = mailbox_new(bus, 1024, KEEL_OVERFLOW_BLOCK, &ra);
    keel_mailbox *b = mailbox_new(bus, 1024, KEEL_OVERFLOW_BLOCK, &rb);
    poster pa[1], pb[1];
    const uint64_t n = 5000;
    posters_run(pa, 1, a, n, LONG_MS);
    posters_run(pb, 1, b, n, LONG_MS);
    posters_join(pa, 1);
    posters_join(pb, 1);
    ck_assert_int_eq(keel_mailbox_flush(a, LONG_MS), KEEL_OK);
    ck_assert_int_eq(keel_mailbox_flush(b, LONG_MS), KEEL_OK);
    /* Each first deliver call waited for the other one: both ran at once. */
    ck_assert_msg(ra.met && rb.met, "the two mailboxes were not delivered concurrently");
    assert_all_in_order(&ra, 1, n);
    assert_all_in_order(&rb, 1, n);
    mailbox_done(a, 0);
    mailbox_done(b, 0);
    keel_bus_destroy(bus);
}
END_TEST

START_TEST(test_one_worker_per_mailbox)
{
    /* Four workers compete for one busy mailbox; batches are handed from
     * worker to worker, and no deliver call may find another one inside. */
    keel_bus *bus = bus_new(4);
    recorder r;
    recorder_init(&r);
    r.spin = 200;
    keel_mailbox *mb = mailbox_new(bus, 64, KEEL_OVERFLOW_BLOCK, &r);
    poster ps[4];
    const uint64_t n = 5000;
    posters_run(ps, 4, mb, n, LONG_MS);
    posters_join(ps, 4);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    assert_all_in_order(&r, 4, n);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

/* ---- sync posts ---------------------------------------------------------------- */

START_TEST(test_sync_post_returns_after_delivery)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    for (uint64_t i = 1; i <= 200; i++) {
        ck_assert_int_eq(post_value(mb, 0, i, 1, LONG_MS), KEEL_OK);
        ck_assert_uint_eq(atomic_load(&r.last_value), i);
        ck_assert_uint_eq(stats_of(mb).delivered, i);
    }
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

START_TEST(test_sync_post_timeout)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    uint64_t start = now_ms();
    ck_assert_int_eq(post_value(mb, 0, 1, 1, 100), KEEL_ERR_TIMEOUT);
    ck_assert_uint_ge(now_ms() - start, 95);
    /* The timed-out message stays queued, and is delivered later. */
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.posted, 2);
    ck_assert_uint_eq(st.queued, 2);
    ck_assert_uint_eq(st.delivered, 0);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.count, 2);
    ck_assert_uint_eq(r.order_errors, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

/* ---- overflow policies -------------------------------------------------------- */

START_TEST(test_reject_when_full)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 4, KEEL_OVERFLOW_REJECT, &r);
    /* Capacity counts the message being delivered too: 4 fit, however the
     * worker batched them. */
    for (uint64_t i = 0; i < 4; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, 0), KEEL_OK);
    ck_assert_int_eq(post_value(mb, 0, 4, 0, 0), KEEL_ERR_LIMIT);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.rejected, 1);
    ck_assert_uint_eq(st.posted, 4);
    ck_assert_uint_eq(st.queued, 4);
    ck_assert_uint_eq(st.capacity, 4);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.count, 4);
    ck_assert_uint_eq(stats_of(mb).delivered, 4);
    /* Room again once delivered. */
    ck_assert_int_eq(post_value(mb, 0, 4, 1, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.order_errors, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_block_waits_for_room)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 2, KEEL_OVERFLOW_BLOCK, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 0, 0), KEEL_OK);
    ck_assert_int_eq(post_value(mb, 0, 1, 0, 0), KEEL_OK);
    delayed_open opener;
    delayed_open_start(&opener, &g, 200);
    uint64_t start = now_ms();
    ck_assert_int_eq(post_value(mb, 0, 2, 0, LONG_MS), KEEL_OK);
    ck_assert_uint_ge(now_ms() - start, 150);
    delayed_open_join(&opener);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(r.order_errors, 0);
    ck_assert_uint_eq(stats_of(mb).rejected, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_block_times_out)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 2, KEEL_OVERFLOW_BLOCK, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 0, 0), KEEL_OK);
    ck_assert_int_eq(post_value(mb, 0, 1, 0, 0), KEEL_OK);
    uint64_t start = now_ms();
    ck_assert_int_eq(post_value(mb, 0, 2, 0, 100), KEEL_ERR_LIMIT);
    ck_assert_uint_ge(now_ms() - start, 95);
    /* A zero timeout does not wait at all. */
    ck_assert_int_eq(post_value(mb, 0, 2, 0, 0), KEEL_ERR_LIMIT);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.rejected, 2);
    ck_assert_uint_eq(st.posted, 2);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.count, 2);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_drop_oldest_keeps_newest)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    r.gate_only_seq = 1;
    keel_mailbox *mb = mailbox_new(bus, 4, KEEL_OVERFLOW_DROP_OLDEST, &r);
    /* Message 1 is being delivered (held at the gate); 2..10 queue behind
     * it in the 3 remaining places, so 2..7 are dropped. */
    ck_assert_int_eq(post_value(mb, 0, 1, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    for (uint64_t i = 2; i <= 10; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, 0), KEEL_OK);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.posted, 10);
    ck_assert_uint_eq(st.dropped, 6);
    ck_assert_uint_eq(st.queued, 4);
    ck_assert_uint_eq(st.rejected, 0);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.nvalues, 4);
    const uint64_t expect[] = {1, 8, 9, 10};
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(r.values[i], expect[i]);
    st = stats_of(mb);
    ck_assert_uint_eq(st.delivered, 4);
    ck_assert_uint_eq(st.posted, st.delivered + st.dropped + st.queued);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

/* A sync post whose message is dropped to make room returns LIMIT. */
typedef struct sync_poster {
    keel_mailbox *mb;
    uint64_t value;
    keel_status status;
    pthread_t thread;
} sync_poster;

static void *sync_poster_main(void *arg)
{
    sync_poster *sp = arg;
    sp->status = post_value(sp->mb, 0, sp->value, 1, LONG_MS);
    return NULL;
}

static void wait_queued(const keel_mailbox *mb, size_t n)
{
    uint64_t end = now_ms() + LONG_MS;
    while (stats_of(mb).queued < n) {
        ck_assert_msg(now_ms() < end, "never %zu queued", n);
        sleep_ms(1);
    }
}

START_TEST(test_drop_oldest_sync_post_dropped)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    r.gate_only_seq = 1;
    keel_mailbox *mb = mailbox_new(bus, 1, KEEL_OVERFLOW_DROP_OLDEST, &r);
    ck_assert_int_eq(post_value(mb, 0, 1, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    sync_poster sp = {.mb = mb, .value = 2};
    ck_assert_int_eq(pthread_create(&sp.thread, NULL, sync_poster_main, &sp), 0);
    wait_queued(mb, 2);   /* the whole capacity is in flight: 2 is kept for now */
    ck_assert_int_eq(post_value(mb, 0, 3, 0, 0), KEEL_OK);   /* drops 2 */
    ck_assert_int_eq(pthread_join(sp.thread, NULL), 0);
    ck_assert_int_eq(sp.status, KEEL_ERR_LIMIT);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.nvalues, 2);
    ck_assert_uint_eq(r.values[0], 1);
    ck_assert_uint_eq(r.values[1], 3);
    ck_assert_uint_eq(stats_of(mb).dropped, 1);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

/* ---- flush and destroy ----------------------------------------------------------- */

START_TEST(test_flush)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    ck_assert_int_eq(keel_mailbox_flush(mb, 0), KEEL_OK);   /* nothing posted */
    for (uint64_t i = 0; i < 3; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, 0), KEEL_OK);
    uint64_t start = now_ms();
    ck_assert_int_eq(keel_mailbox_flush(mb, 50), KEEL_ERR_TIMEOUT);
    ck_assert_uint_ge(now_ms() - start, 45);
    gate_open(&g);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(stats_of(mb).delivered, 3);
    ck_assert_uint_eq(stats_of(mb).queued, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_destroy_delivers_first)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    r.spin = 100;
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    for (uint64_t i = 0; i < 1000; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, 0), KEEL_OK);
    mailbox_done(mb, 0);
    assert_all_in_order(&r, 1, 1000);
    keel_bus_destroy(bus);
}
END_TEST

START_TEST(test_destroy_drops_queued)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    for (uint64_t i = 1; i < 10; i++)
        ck_assert_int_eq(post_value(mb, 0, i, 0, 0), KEEL_OK);
    /* After its 100 ms, destroy drops the 9 waiting messages but must
     * still wait for the worker held at the gate, opened at 300 ms. */
    delayed_open opener;
    delayed_open_start(&opener, &g, 300);
    uint64_t start = now_ms();
    size_t dropped = 0;
    keel_mailbox_destroy(mb, 100, &dropped);
    ck_assert_uint_ge(now_ms() - start, 250);
    ck_assert_uint_eq(dropped, 9);
    ck_assert_uint_eq(r.count, 1);
    delayed_open_join(&opener);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

START_TEST(test_destroy_while_workers_busy)
{
    /* The only worker is held in another mailbox: the destroyed one sits on
     * the run queue, and destroy takes it off without waiting for the
     * worker. */
    keel_bus *bus = bus_new(1);
    gate g;
    gate_init(&g);
    recorder ra, rb;
    recorder_init(&ra);
    recorder_init(&rb);
    ra.gate = &g;
    keel_mailbox *a = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &ra);
    keel_mailbox *b = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &rb);
    ck_assert_int_eq(post_value(a, 0, 0, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    for (uint64_t i = 0; i < 5; i++)
        ck_assert_int_eq(post_value(b, 0, i, 0, 0), KEEL_OK);
    delayed_open safety;   /* keeps a broken destroy from hanging the test */
    delayed_open_start(&safety, &g, 3000);
    uint64_t start = now_ms();
    size_t dropped = 0;
    keel_mailbox_destroy(b, 50, &dropped);
    ck_assert_uint_lt(now_ms() - start, 2000);
    ck_assert_uint_eq(dropped, 5);
    ck_assert_uint_eq(rb.count, 0);
    delayed_open_join(&safety);
    mailbox_done(a, 0);
    ck_assert_uint_eq(ra.count, 1);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

typedef struct destroyer {
    keel_mailbox *mb;
    size_t dropped;
    pthread_t thread;
} destroyer;

static void *destroyer_main(void *arg)
{
    destroyer *d = arg;
    keel_mailbox_destroy(d->mb, LONG_MS, &d->dropped);
    return NULL;
}

START_TEST(test_post_after_destroy_starts)
{
    keel_bus *bus = bus_new(2);
    gate g;
    gate_init(&g);
    recorder r;
    recorder_init(&r);
    r.gate = &g;
    r.gate_only_seq = 1;
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 0, 0), KEEL_OK);
    gate_wait_entered(&g, 1);
    /* The destroyer waits for the message held at the gate; meanwhile posts
     * are refused. Posts that got in before it started are delivered. */
    destroyer d = {.mb = mb, .dropped = 99};
    ck_assert_int_eq(pthread_create(&d.thread, NULL, destroyer_main, &d), 0);
    uint64_t accepted = 1;
    uint64_t end = now_ms() + LONG_MS;
    keel_status s;
    while ((s = post_value(mb, 0, accepted, 0, 0)) == KEEL_OK) {
        accepted++;
        ck_assert_msg(now_ms() < end, "posts never refused");
        sleep_ms(1);
    }
    ck_assert_int_eq(s, KEEL_ERR_STATE);
    ck_assert_int_eq(post_value(mb, 0, accepted, 1, LONG_MS), KEEL_ERR_STATE);
    gate_open(&g);
    ck_assert_int_eq(pthread_join(d.thread, NULL), 0);
    ck_assert_uint_eq(d.dropped, 0);
    ck_assert_uint_eq(r.count, accepted);
    ck_assert_uint_eq(r.order_errors, 0);
    keel_bus_destroy(bus);
    gate_destroy(&g);
}
END_TEST

/* ---- counters ------------------------------------------------------------------ */

typedef struct sampler {
    const keel_mailbox *mb;
    atomic_bool stop;
    uint64_t samples;
    uint64_t errors;
    pthread_t thread;
} sampler;

static void *sampler_main(void *arg)
{
    sampler *s = arg;
    uint64_t last_posted = 0;
    while (!atomic_load(&s->stop)) {
        keel_mailbox_stats st = stats_of(s->mb);
        bool ok = st.posted == st.delivered + st.dropped + st.queued &&
                  st.queued <= st.capacity + 1 && st.posted >= last_posted;
        if (!ok)
            s->errors++;
        last_posted = st.posted;
        s->samples++;
    }
    return NULL;
}

static void sampler_start(sampler *s, const keel_mailbox *mb)
{
    s->mb = mb;
    atomic_init(&s->stop, false);
    s->samples = s->errors = 0;
    ck_assert_int_eq(pthread_create(&s->thread, NULL, sampler_main, s), 0);
}

static void sampler_stop(sampler *s)
{
    atomic_store(&s->stop, true);
    ck_assert_int_eq(pthread_join(s->thread, NULL), 0);
    ck_assert_uint_gt(s->samples, 0);
    ck_assert_uint_eq(s->errors, 0);
}

START_TEST(test_stats_consistent_drop_oldest)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    r.spin = 300;
    keel_mailbox *mb = mailbox_new(bus, 16, KEEL_OVERFLOW_DROP_OLDEST, &r);
    sampler s;
    sampler_start(&s, mb);
    poster ps[2];
    const uint64_t n = 10000;
    posters_run(ps, 2, mb, n, 0);
    posters_join(ps, 2);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    sampler_stop(&s);
    for (size_t i = 0; i < 2; i++)
        ck_assert_uint_eq(ps[i].ok, n);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.posted, 2 * n);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.rejected, 0);
    ck_assert_uint_eq(st.delivered + st.dropped, 2 * n);
    ck_assert_uint_eq(r.count, st.delivered);
    ck_assert_uint_eq(r.seq_errors, 0);
    ck_assert_int_eq(atomic_load(&r.overlaps), 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

START_TEST(test_stats_consistent_reject)
{
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    r.spin = 300;
    keel_mailbox *mb = mailbox_new(bus, 8, KEEL_OVERFLOW_REJECT, &r);
    sampler s;
    sampler_start(&s, mb);
    poster ps[2];
    const uint64_t n = 10000;
    posters_run(ps, 2, mb, n, 0);
    posters_join(ps, 2);
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    sampler_stop(&s);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.posted, ps[0].ok + ps[1].ok);
    ck_assert_uint_eq(st.rejected, ps[0].limited + ps[1].limited);
    ck_assert_uint_eq(ps[0].failed + ps[1].failed, 0);
    ck_assert_uint_eq(st.posted + st.rejected, 2 * n);
    ck_assert_uint_eq(st.delivered, st.posted);
    ck_assert_uint_eq(st.dropped + st.queued, 0);
    ck_assert_uint_eq(r.count, st.posted);
    ck_assert_uint_eq(r.seq_errors, 0);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

/* ---- payloads ------------------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The message with sequence `seq`: a size in 0..4096 and bytes, both
 * derived from the sequence, so the receiver can recompute them. */
static size_t payload_size_for(uint64_t seq)
{
    return (size_t)(mix(seq) % 4097u);
}

static void payload_fill(uint64_t seq, unsigned char *buf, size_t size)
{
    uint64_t state = mix(seq ^ 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < size; i++) {
        if (i % 8 == 0)
            state = mix(state + i);
        buf[i] = (unsigned char)(state >> (8 * (i % 8)));
    }
}

static uint64_t checksum(const unsigned char *buf, size_t size)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        h = (h ^ buf[i]) * 1099511628211ull;
    return h;
}

typedef struct payload_check {
    uint64_t count;
    uint64_t errors;
    uint64_t checksum_posted;     /* written by the test thread only */
    uint64_t checksum_delivered;  /* written by the worker only */
} payload_check;

static void deliver_payload_check(void *owner, const keel_mail *mail)
{
    payload_check *pc = owner;
    unsigned char expect[4096];
    size_t size = payload_size_for(mail->sequence);
    payload_fill(mail->sequence, expect, size);
    char topic[64], scene[32];
    snprintf(topic, sizeof topic, "topic/%llu", (unsigned long long)mail->sequence);
    snprintf(scene, sizeof scene, "scene-%llu", (unsigned long long)(mail->sequence % 3));
    if (mail->size != size || (size > 0 && memcmp(mail->data, expect, size) != 0) ||
        strcmp(mail->topic, topic) != 0 || strcmp(mail->scene, scene) != 0)
        pc->errors++;
    pc->checksum_delivered += checksum(mail->data, mail->size);
    pc->count++;
}

START_TEST(test_payload_intact)
{
    keel_bus *bus = bus_new(2);
    payload_check pc = {0};
    keel_mailbox *mb = NULL;
    ck_assert_int_eq(keel_mailbox_create(bus, 0, KEEL_OVERFLOW_BLOCK, deliver_payload_check,
                                         &pc, &mb, NULL),
                     KEEL_OK);
    unsigned char buf[4096];
    const uint64_t n = 3000;
    for (uint64_t seq = 1; seq <= n; seq++) {
        size_t size = payload_size_for(seq);
        payload_fill(seq, buf, size);
        char topic[64], scene[32];
        snprintf(topic, sizeof topic, "topic/%llu", (unsigned long long)seq);
        snprintf(scene, sizeof scene, "scene-%llu", (unsigned long long)(seq % 3));
        pc.checksum_posted += checksum(buf, size);
        /* Zero-sized messages may come without a buffer. */
        ck_assert_int_eq(keel_mailbox_post(mb, scene, topic, size > 0 ? buf : NULL, size, 0,
                                           LONG_MS),
                         KEEL_OK);
        /* The copy is taken at post time: scribbling now changes nothing. */
        memset(buf, 0xa5, size);
    }
    ck_assert_int_eq(keel_mailbox_flush(mb, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(pc.count, n);
    ck_assert_uint_eq(pc.errors, 0);
    ck_assert_uint_eq(pc.checksum_delivered, pc.checksum_posted);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

/* ---- volume -------------------------------------------------------------------- */

START_TEST(test_million_messages_arrive)
{
    /* Not a timing assertion: the benchmark measures speed; this checks
     * that a million messages from two posters all arrive, in order. */
    keel_bus *bus = bus_new(2);
    recorder r;
    recorder_init(&r);
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_BLOCK, &r);
    poster ps[2];
    const uint64_t n = 500000;
    posters_run(ps, 2, mb, n, LONG_MS);
    posters_join(ps, 2);
    ck_assert_uint_eq(ps[0].ok + ps[1].ok, 2 * n);
    ck_assert_int_eq(keel_mailbox_flush(mb, 60000), KEEL_OK);
    assert_all_in_order(&r, 2, n);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

/* Posts to a long-lived mailbox until told to stop. */
typedef struct steady_poster {
    keel_mailbox *mb;
    uint32_t id;
    atomic_bool stop;
    uint64_t ok;
    uint64_t other;
    pthread_t thread;
} steady_poster;

static void *steady_poster_main(void *arg)
{
    steady_poster *sp = arg;
    uint64_t i = 0;
    while (!atomic_load(&sp->stop)) {
        keel_status s = post_value(sp->mb, sp->id, i, (i % 64) == 0, 1000);
        if (s == KEEL_OK || s == KEEL_ERR_TIMEOUT) {   /* accepted */
            sp->ok++;
            i++;
        } else if (s != KEEL_ERR_LIMIT) {
            sp->other++;
        }
    }
    return NULL;
}

START_TEST(test_create_destroy_stress)
{
    keel_bus *bus = bus_new(2);
    recorder steady_r[2];
    keel_mailbox *steady[2];
    steady_poster sp[2];
    for (size_t i = 0; i < 2; i++) {
        recorder_init(&steady_r[i]);
        steady[i] = mailbox_new(bus, 256, KEEL_OVERFLOW_REJECT, &steady_r[i]);
        sp[i] = (steady_poster){.mb = steady[i], .id = 0};
        atomic_init(&sp[i].stop, false);
        ck_assert_int_eq(pthread_create(&sp[i].thread, NULL, steady_poster_main, &sp[i]), 0);
    }

    /* Short-lived mailboxes of every policy, destroyed with messages still
     * queued or being delivered, some with no time to drain. */
    for (unsigned round = 0; round < 300; round++) {
        recorder r;
        recorder_init(&r);
        r.spin = round % 7 == 0 ? 2000 : 0;
        keel_overflow policy = (keel_overflow)(round % 3);
        keel_mailbox *mb = mailbox_new(bus, 4 + round % 16, policy, &r);
        uint64_t accepted = 0;   /* by the return codes */
        uint64_t attempts = round % 40;
        for (uint64_t i = 0; i < attempts; i++) {
            int sync = round % 5 == 0 && i % 10 == 9;
            keel_status s = post_value(mb, 0, i, sync, 20);
            if (s == KEEL_OK || s == KEEL_ERR_TIMEOUT)
                accepted++;
            else   /* full; DROP_OLDEST always makes room */
                ck_assert(s == KEEL_ERR_LIMIT && policy != KEEL_OVERFLOW_DROP_OLDEST);
        }
        /* Nothing is posted any more, so only destroy changes these. */
        keel_mailbox_stats st = stats_of(mb);
        ck_assert_uint_eq(st.posted, accepted);
        ck_assert_uint_eq(st.posted + st.rejected, attempts);
        size_t dropped = 0;
        keel_mailbox_destroy(mb, round % 4 == 0 ? 0 : 5, &dropped);
        /* Every accepted message was delivered or dropped, exactly once. */
        ck_assert_uint_eq(r.count + dropped + st.dropped, accepted);
        ck_assert_uint_eq(r.seq_errors, 0);
        ck_assert_int_eq(atomic_load(&r.overlaps), 0);
    }

    for (size_t i = 0; i < 2; i++) {
        atomic_store(&sp[i].stop, true);
        ck_assert_int_eq(pthread_join(sp[i].thread, NULL), 0);
        ck_assert_uint_eq(sp[i].other, 0);
        ck_assert_int_eq(keel_mailbox_flush(steady[i], LONG_MS), KEEL_OK);
        ck_assert_uint_eq(steady_r[i].count, sp[i].ok);
        ck_assert_uint_eq(steady_r[i].order_errors, 0);
        mailbox_done(steady[i], 0);
    }
    keel_bus_destroy(bus);
}
END_TEST

/* ---- arguments ------------------------------------------------------------------ */

static void deliver_nothing(void *owner, const keel_mail *mail)
{
    (void)owner;
    (void)mail;
}

START_TEST(test_arguments)
{
    keel_error err;
    keel_error_clear(&err);
    keel_bus *bus = NULL;
    ck_assert_int_eq(keel_bus_create(100000, &bus, &err), KEEL_ERR_LIMIT);
    ck_assert_ptr_null(bus);
    ck_assert_int_eq(err.status, KEEL_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "100000"));
    ck_assert_int_eq(keel_bus_create(1, NULL, NULL), KEEL_ERR_INVALID);
    bus = bus_new(0);

    keel_mailbox *mb = (keel_mailbox *)&mb;
    keel_error_clear(&err);
    ck_assert_int_eq(keel_mailbox_create(bus, 0, KEEL_OVERFLOW_REJECT, NULL, NULL, &mb, &err),
                     KEEL_ERR_INVALID);
    ck_assert_ptr_null(mb);
    ck_assert_int_eq(err.status, KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_create(bus, 0, (keel_overflow)7, deliver_nothing, NULL, &mb,
                                         &err),
                     KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "7"));
    ck_assert_int_eq(keel_mailbox_create(NULL, 0, KEEL_OVERFLOW_REJECT, deliver_nothing, NULL,
                                         &mb, &err),
                     KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_create(bus, 0, KEEL_OVERFLOW_REJECT, deliver_nothing, NULL,
                                         NULL, &err),
                     KEEL_ERR_INVALID);

    ck_assert_int_eq(keel_mailbox_create(bus, 0, KEEL_OVERFLOW_REJECT, deliver_nothing, NULL,
                                         &mb, &err),
                     KEEL_OK);
    keel_mailbox_stats st = stats_of(mb);
    ck_assert_uint_eq(st.capacity, 65536);
    ck_assert_uint_eq(st.posted + st.delivered + st.queued + st.dropped + st.rejected, 0);
    ck_assert_int_eq(keel_mailbox_post(mb, "s", NULL, "x", 1, 0, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_post(mb, NULL, "t", "x", 1, 0, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_post(mb, "s", "t", NULL, 5, 0, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_post(NULL, "s", "t", "x", 1, 0, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_mailbox_post(mb, "", "", NULL, 0, 1, LONG_MS), KEEL_OK);
    ck_assert_int_eq(keel_mailbox_flush(NULL, 0), KEEL_ERR_INVALID);
    st = stats_of(mb);
    ck_assert_uint_eq(st.posted, 1);
    ck_assert_uint_eq(st.delivered, 1);

    keel_mailbox_stats_get(NULL, &st);
    ck_assert_uint_eq(st.posted + st.capacity, 0);
    size_t dropped = 7;
    keel_mailbox_destroy(NULL, 0, &dropped);
    ck_assert_uint_eq(dropped, 0);
    keel_mailbox_destroy(mb, 0, NULL);
    keel_bus_destroy(bus);
    keel_bus_destroy(NULL);
}
END_TEST

START_TEST(test_sequences_start_at_one)
{
    keel_bus *bus = bus_new(1);
    recorder r;
    recorder_init(&r);
    keel_mailbox *mb = mailbox_new(bus, 0, KEEL_OVERFLOW_REJECT, &r);
    ck_assert_int_eq(post_value(mb, 0, 0, 1, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.last_seq, 1);
    ck_assert_int_eq(post_value(mb, 0, 1, 1, LONG_MS), KEEL_OK);
    ck_assert_uint_eq(r.last_seq, 2);
    mailbox_done(mb, 0);
    keel_bus_destroy(bus);
}
END_TEST

static Suite *mailbox_suite(void)
{
    Suite *s = suite_create("mailbox");

    TCase *order = tcase_create("order");
    tcase_add_test(order, test_fifo_one_poster);
    tcase_add_test(order, test_fifo_four_posters);
    tcase_add_test(order, test_two_mailboxes_in_parallel);
    tcase_add_test(order, test_one_worker_per_mailbox);
    tcase_add_test(order, test_sequences_start_at_one);
    suite_add_tcase(s, order);

    TCase *sync = tcase_create("sync");
    tcase_add_test(sync, test_sync_post_returns_after_delivery);
    tcase_add_test(sync, test_sync_post_timeout);
    suite_add_tcase(s, sync);

    TCase *overflow = tcase_create("overflow");
    tcase_add_test(overflow, test_reject_when_full);
    tcase_add_test(overflow, test_block_waits_for_room);
    tcase_add_test(overflow, test_block_times_out);
    tcase_add_test(overflow, test_drop_oldest_keeps_newest);
    tcase_add_test(overflow, test_drop_oldest_sync_post_dropped);
    suite_add_tcase(s, overflow);

    TCase *lifecycle = tcase_create("lifecycle");
    tcase_add_test(lifecycle, test_flush);
    tcase_add_test(lifecycle, test_destroy_delivers_first);
    tcase_add_test(lifecycle, test_destroy_drops_queued);
    tcase_add_test(lifecycle, test_destroy_while_workers_busy);
    tcase_add_test(lifecycle, test_post_after_destroy_starts);
    tcase_add_test(lifecycle, test_arguments);
    suite_add_tcase(s, lifecycle);

    TCase *counters = tcase_create("counters");
    tcase_add_test(counters, test_stats_consistent_drop_oldest);
    tcase_add_test(counters, test_stats_consistent_reject);
    tcase_add_test(counters, test_payload_intact);
    suite_add_tcase(s, counters);

    TCase *volume = tcase_create("volume");
    tcase_set_timeout(volume, 120);
    tcase_add_test(volume, test_million_messages_arrive);
    tcase_add_test(volume, test_create_destroy_stress);
    suite_add_tcase(s, volume);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(mailbox_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

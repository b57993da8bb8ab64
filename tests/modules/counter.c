/* counter: the subject of switch tests. Built as version 1 and 2 (the
 * COUNTER_VERSION define); every answer says which version gave it. Its
 * "hold" service blocks until the caller releases it, to make a call that
 * is stuck inside an old version. Messages on "ticks" are recorded into
 * counters the publisher passes inside the payload (tests only). */
#define _DEFAULT_SOURCE
#include <keel/module.h>

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#ifndef COUNTER_VERSION
#define COUNTER_VERSION 1
#endif

/* The payload of a "ticks" message. */
typedef struct tick {
    uint64_t seq;
    atomic_uint *seen;        /* seen[seq]++ */
    atomic_uint *by_version;  /* by_version[COUNTER_VERSION]++ */
    atomic_ullong *last_seq;  /* last sequence delivered, for order checks */
    atomic_uint *out_of_order;
} tick;

static int64_t counter_version(void) { return COUNTER_VERSION; }
static int64_t counter_add(int64_t a, int64_t b) { return a + b; }

static int64_t counter_hold(atomic_int *release)
{
    while (!atomic_load(release))
        usleep(1000);
    return COUNTER_VERSION;
}

static void on_tick(keel_ctx *ctx, const keel_message *msg, void *user)
{
    (void)ctx;
    (void)user;
    tick t;
    if (msg->size != sizeof t)
        return;
    memcpy(&t, msg->data, sizeof t);
    atomic_fetch_add(&t.seen[t.seq], 1);
    atomic_fetch_add(&t.by_version[COUNTER_VERSION], 1);
    unsigned long long prev = atomic_exchange(t.last_seq, t.seq);
    if (prev >= t.seq && t.seq != 0)
        atomic_fetch_add(t.out_of_order, 1);
}

static keel_status counter_start(keel_ctx *ctx, const keel_api *api)
{
    keel_status st = api->service_register(ctx, "counting", "version", "i64()", (keel_fn)counter_version);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "counting", "add", "i64(i64,i64)", (keel_fn)counter_add);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "counting", "hold", "i64(ptr)", (keel_fn)counter_hold);
    if (st == KEEL_OK)
        st = api->subscribe(ctx, "counting", "ticks", on_tick, NULL);
    return st;
}

KEEL_MODULE("counter", counter_start, NULL)

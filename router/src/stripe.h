/*
 * Striped counters: one cache line per stripe, a thread always uses the
 * same stripe, so the call path increments a line nobody else writes.
 * The value is the sum over stripes.
 */
#ifndef KEEL_STRIPE_H
#define KEEL_STRIPE_H

#include <stdatomic.h>

#define KEEL_STRIPES 16

typedef struct keel_stripe {
    _Alignas(64) atomic_long value;
} keel_stripe;

typedef struct keel_striped {
    keel_stripe stripe[KEEL_STRIPES];
} keel_striped;

/* This thread's stripe, assigned round-robin on first use. */
unsigned keel_stripe_index(void);

static inline void keel_striped_add(keel_striped *c, long delta)
{
    atomic_fetch_add_explicit(&c->stripe[keel_stripe_index()].value, delta, memory_order_seq_cst);
}

static inline long keel_striped_sum(const keel_striped *c)
{
    long sum = 0;
    for (int i = 0; i < KEEL_STRIPES; i++)
        sum += atomic_load_explicit(&c->stripe[i].value, memory_order_seq_cst);
    return sum;
}

/* A counter whose stripes each have one writing thread (a reader record
 * owns one), incremented without a locked instruction; threads without a
 * stripe of their own share the last one atomically. */
typedef struct keel_owned_counter {
    keel_stripe stripe[KEEL_STRIPES + 1];
} keel_owned_counter;

static inline void keel_owned_bump(keel_owned_counter *c, int owner_stripe)
{
    if (owner_stripe >= 0 && owner_stripe < KEEL_STRIPES) {
        atomic_long *p = &c->stripe[owner_stripe].value;
        atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&c->stripe[KEEL_STRIPES].value, 1, memory_order_relaxed);
    }
}

static inline long keel_owned_sum(const keel_owned_counter *c)
{
    long sum = 0;
    for (int i = 0; i <= KEEL_STRIPES; i++)
        sum += atomic_load_explicit(&c->stripe[i].value, memory_order_relaxed);
    return sum;
}

#endif

/*
 * Reader records: which versions each thread is inside right now.
 *
 * The call path must not pay for switches that almost never happen, so it
 * only writes to its own thread's record: "I am reading a routing
 * snapshot" (a window flag) and "I am inside version V" (a small stack, for
 * nested calls). The rare writer pays instead: after publishing a new
 * snapshot it issues one membarrier(2) — a memory barrier on every running
 * thread of the process — and then waits for every open window to close;
 * to drain a version it scans the stacks. This is the scheme of liburcu's
 * membarrier flavour, with per-version attribution so that one stuck call
 * delays only its own version. Where membarrier is not available (old
 * kernels, seccomp), and under ThreadSanitizer, readers use sequentially
 * consistent operations instead: slower, equally correct.
 *
 * A call must leave on the thread that entered it.
 */
#ifndef KEEL_READERS_H
#define KEEL_READERS_H

#include <stdatomic.h>
#include <stddef.h>

#define KEEL_READER_DEPTH 32

struct keel_router_version;

typedef struct keel_reader {
    struct keel_reader *next;              /* registry list; set before publication */
    atomic_int in_use;                     /* owned by a live thread */
    atomic_int window;                     /* 1 while reading a snapshot */
    atomic_uint depth;                     /* entries of stack in use */
    _Atomic(struct keel_router_version *) stack[KEEL_READER_DEPTH];
    unsigned tick;                         /* owner only: latency sampling */
    int stripe;                            /* owner's own metrics stripe, or -1 */
} keel_reader;

/* Non-zero when readers rely on membarrier (and need no fence). */
extern int keel_readers_light;

/* Registers this thread's record (slow path of keel_reader_self). */
keel_reader *keel_reader_register(void);

extern _Thread_local keel_reader *keel_reader_mine;

/* This thread's record, registered on first use; NULL when out of memory. */
static inline keel_reader *keel_reader_self(void)
{
    keel_reader *r = keel_reader_mine;
    return r != NULL ? r : keel_reader_register();
}

static inline void keel_reader_open(keel_reader *r)
{
    if (keel_readers_light) {
        atomic_store_explicit(&r->window, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
    } else {
        atomic_store_explicit(&r->window, 1, memory_order_seq_cst);
    }
}

static inline void keel_reader_close(keel_reader *r)
{
    atomic_store_explicit(&r->window, 0, memory_order_release);
}

/* Records that the thread is inside `v`. Returns 0, or -1 when calls are
 * nested deeper than KEEL_READER_DEPTH. */
static inline int keel_reader_push(keel_reader *r, struct keel_router_version *v)
{
    unsigned d = atomic_load_explicit(&r->depth, memory_order_relaxed);
    if (d >= KEEL_READER_DEPTH)
        return -1;
    atomic_store_explicit(&r->stack[d], v, memory_order_relaxed);
    atomic_store_explicit(&r->depth, d + 1, memory_order_release);
    return 0;
}

/* Leaves the innermost call. */
static inline void keel_reader_pop(keel_reader *r)
{
    unsigned d = atomic_load_explicit(&r->depth, memory_order_relaxed);
    atomic_store_explicit(&r->depth, d - 1, memory_order_release);
}

/* Writer side, after publishing a snapshot: every reader that could still
 * hold the old one has closed its window (and pushed what it chose). */
void keel_readers_synchronize(void);

/* How many calls are inside `v` now (entries in all stacks). */
long keel_readers_count(const struct keel_router_version *v);

#endif

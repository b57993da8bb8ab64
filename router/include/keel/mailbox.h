/*
 * keel/mailbox.h — bounded message queues drained by base-owned workers.
 *
 * A bus owns a few worker threads. A mailbox belongs to one subscriber; what
 * is posted to it is delivered in posting order (FIFO per mailbox, so per
 * publisher and topic too), by at most one worker at a time, by calling the
 * mailbox's deliver function. Mailboxes are bounded; what happens when one
 * is full is its overflow policy, and every drop or refusal is counted.
 */
#ifndef KEEL_MAILBOX_H
#define KEEL_MAILBOX_H

#include <stddef.h>
#include <stdint.h>
#include <keel/error.h>

typedef struct keel_bus keel_bus;
typedef struct keel_mailbox keel_mailbox;

/* A message as queued. The mailbox owns the copy it makes at post time;
 * the pointers are valid during the deliver call only. */
typedef struct keel_mail {
    const char *scene;
    const char *topic;
    const void *data;
    size_t size;
    uint64_t sequence;   /* per mailbox, from 1, in posting order */
} keel_mail;

/* Called on a worker thread for each message, in order. `owner` is the
 * pointer given at mailbox creation. Must not destroy its own mailbox. */
typedef void (*keel_mail_deliver_fn)(void *owner, const keel_mail *mail);

typedef enum keel_overflow {
    KEEL_OVERFLOW_REJECT = 0,    /* post fails with KEEL_ERR_LIMIT (default) */
    KEEL_OVERFLOW_BLOCK = 1,     /* post waits for room, up to its timeout */
    KEEL_OVERFLOW_DROP_OLDEST = 2 /* the oldest queued message is dropped */
} keel_overflow;

typedef struct keel_mailbox_stats {
    uint64_t posted;      /* accepted into the queue */
    uint64_t delivered;   /* deliver calls that returned */
    uint64_t rejected;    /* posts refused because the queue was full */
    uint64_t dropped;     /* accepted, then dropped by DROP_OLDEST */
    size_t queued;        /* waiting now */
    size_t capacity;
} keel_mailbox_stats;

/* Starts `workers` threads (0: 2). On KEEL_OK *out is owned by the caller. */
keel_status keel_bus_create(unsigned workers, keel_bus **out, keel_error *err);

/* Stops the workers after the messages already queued are delivered, and
 * frees the bus. Every mailbox must have been destroyed. NULL-safe. */
void keel_bus_destroy(keel_bus *bus);

/* Creates a mailbox of `capacity` messages (0: 65536) with `policy`.
 * `owner` is borrowed and passed to `deliver`. */
keel_status keel_mailbox_create(keel_bus *bus, size_t capacity, keel_overflow policy,
                                keel_mail_deliver_fn deliver, void *owner,
                                keel_mailbox **out, keel_error *err);

/* Waits until nothing is queued or being delivered (up to timeout_ms), then
 * frees the mailbox; messages still queued after the timeout are dropped
 * and counted in *dropped_out (may be NULL). A deliver call in progress is
 * always waited for, even past the timeout (freeing under it would crash).
 * Posting after this returns is a use-after-free. NULL-safe. */
void keel_mailbox_destroy(keel_mailbox *mb, unsigned timeout_ms, size_t *dropped_out);

/* Copies the message (strings and data, all borrowed) into the mailbox.
 * Capacity counts every message accepted and not yet delivered, the batch
 * being delivered included. timeout_ms 0 means "do not wait". A deliver
 * function must not sync-post to, flush or destroy its own mailbox. The
 * data is delivered aligned like malloc memory. KEEL_ERR_INVALID for NULL
 * arguments; a sync post whose message DROP_OLDEST drops gives
 * KEEL_ERR_LIMIT.
 * With `sync` non-zero, returns only after this message was delivered (or
 * the timeout passed: KEEL_ERR_TIMEOUT, the message stays queued).
 * `timeout_ms` also bounds waiting for room under KEEL_OVERFLOW_BLOCK.
 * KEEL_ERR_LIMIT when full under REJECT (or BLOCK after the timeout),
 * KEEL_ERR_STATE once the mailbox is being destroyed. Thread-safe. */
keel_status keel_mailbox_post(keel_mailbox *mb, const char *scene, const char *topic,
                              const void *data, size_t size, int sync, unsigned timeout_ms);

/* Waits until everything posted so far has been delivered (up to timeout).
 * Returns KEEL_OK or KEEL_ERR_TIMEOUT. */
keel_status keel_mailbox_flush(keel_mailbox *mb, unsigned timeout_ms);

/* A snapshot of the counters. */
void keel_mailbox_stats_get(const keel_mailbox *mb, keel_mailbox_stats *out);

#endif

/*
 * Mailboxes and the bus that drains them (keel/mailbox.h).
 *
 * Design, for throughput (>= 2 M messages/s on 2 cores):
 *   - A message is one malloc: a header, then the payload (aligned like
 *     malloc memory, so a receiver may read a struct from it), then the
 *     scene and topic strings, all copied before any lock is taken.
 *   - Each mailbox has its own mutex and a FIFO that is a ring of message
 *     pointers, grown by doubling as needed (so an idle mailbox of capacity
 *     65536 does not hold 512 KB). A poster holds the lock only to store a
 *     pointer and update counters.
 *   - The bus has a run queue of mailboxes that have work. A mailbox is
 *     "scheduled" from the moment it is put on the run queue until the worker
 *     that drained it finds it empty; while scheduled it is never put on the
 *     queue again, so it is on the queue at most once and in the hands of at
 *     most one worker: FIFO per mailbox holds without further ordering.
 *   - A worker takes a batch (up to MAILBOX_BATCH pointers, one copy out of
 *     the ring) under the lock, delivers it outside the lock, then settles
 *     counters and waiters once per batch. A mailbox that still has work
 *     goes to the back of the run queue, so one busy mailbox cannot starve
 *     the others.
 *   - Idle workers sleep on a condition variable. A poster wakes one only
 *     when it schedules a mailbox and a worker is asleep, and signals after
 *     releasing its locks so that the woken worker does not block on them.
 *
 * Capacity counts the messages accepted and not yet delivered, including a
 * batch being delivered: with a blocked deliver function and capacity N,
 * exactly N posts are accepted. DROP_OLDEST can only drop messages that no
 * worker has taken yet; if the whole capacity is in the batch being
 * delivered, the new message is kept anyway, so a DROP_OLDEST mailbox may
 * briefly hold capacity + 1 messages.
 *
 * Lock order: a mailbox lock, then the bus lock. Workers never hold the bus
 * lock while taking a mailbox lock.
 */
#include <keel/mailbox.h>

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAILBOX_DEFAULT_CAPACITY 65536u
#define MAILBOX_BATCH 256u
#define RING_INITIAL_SIZE 16u   /* a power of two */
#define BUS_DEFAULT_WORKERS 2u
#define BUS_MAX_WORKERS 256u

/* One queued message; the payload and strings follow the header. */
typedef struct mail_node {
    uint64_t sequence;
    size_t size;
    size_t topic_offset;   /* from the payload start; the scene follows the payload */
} mail_node;

/* The payload starts at this offset so that it is aligned like malloc
 * memory (receivers may cast it to a struct). */
#define MAIL_PAYLOAD_OFFSET \
    ((sizeof(mail_node) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

/* A thread waiting in a sync post for one message; lives on its stack and is
 * linked in the mailbox while it waits. */
typedef enum sync_state { SYNC_PENDING, SYNC_DELIVERED, SYNC_DROPPED } sync_state;

typedef struct sync_waiter {
    struct sync_waiter *next;
    uint64_t sequence;
    sync_state state;
    bool dropped_by_destroy;
} sync_waiter;

/* A timeout turned into a CLOCK_MONOTONIC deadline on first use, so that
 * calls that never wait do not read the clock. */
typedef struct deadline {
    unsigned timeout_ms;
    bool known;
    struct timespec at;
} deadline;

struct keel_bus {
    pthread_mutex_t lock;
    pthread_cond_t work;          /* signalled when the run queue gains work or on stop */
    keel_mailbox *run_head;       /* mailboxes with work, oldest first */
    keel_mailbox *run_tail;
    unsigned idle;                /* workers asleep on `work` */
    bool stopping;
    size_t mailboxes;             /* live mailboxes, for keel_bus_destroy's contract */
    unsigned nthreads;
    pthread_t *threads;
};

struct keel_mailbox {
    keel_bus *bus;
    keel_mail_deliver_fn deliver;   /* immutable after creation */
    void *owner;
    size_t capacity;
    keel_overflow policy;

    pthread_mutex_t lock;
    pthread_cond_t room;    /* outstanding fell (BLOCK posters), or closing */
    pthread_cond_t done;    /* a batch was settled, messages dropped, or the mailbox went idle */

    /* Everything below is guarded by `lock`, except the run-queue links,
     * which are guarded by the bus lock. */
    mail_node **ring;       /* waiting messages, not yet taken by a worker */
    size_t ring_mask;       /* ring size - 1 */
    size_t ring_head;       /* index of the oldest waiting message */
    size_t waiting;
    size_t in_flight;       /* taken by a worker, not yet settled */
    uint64_t last_sequence; /* of the last accepted message */
    uint64_t taken_sequence;/* of the last message that left the ring (taken or dropped) */
    uint64_t batch_first;   /* sequences of the batch in flight, when in_flight > 0 */
    uint64_t batch_last;
    bool scheduled;         /* on the run queue or held by a worker */
    bool closing;           /* keel_mailbox_destroy has started */
    unsigned room_waiters;  /* threads in a wait on `room` */
    unsigned done_waiters;  /* threads in a wait on `done`, the destroyer included */
    sync_waiter *sync_waiters;

    uint64_t posted;
    uint64_t delivered;
    uint64_t rejected;
    uint64_t dropped;

    /* Run queue links: bus lock. */
    keel_mailbox *run_next;
    keel_mailbox *run_prev;
    bool on_run_queue;
};

/* The mailbox whose deliver function this thread is running, to catch a
 * deliver function destroying its own mailbox (it would wait for itself). */
static _Thread_local const keel_mailbox *delivering_now;

/* ---- small helpers ------------------------------------------------------- */

/* Locking failures mean a corrupted or misused mutex: nothing sensible can
 * continue, so they abort with a message rather than being ignored. */
static void check_pthread(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "keel mailbox: %s failed: %s\n", what, strerror(rc));
        abort();
    }
}

static void lock(pthread_mutex_t *m)
{
    check_pthread(pthread_mutex_lock(m), "pthread_mutex_lock");
}

static void unlock(pthread_mutex_t *m)
{
    check_pthread(pthread_mutex_unlock(m), "pthread_mutex_unlock");
}

static void wait_on(pthread_cond_t *c, pthread_mutex_t *m)
{
    check_pthread(pthread_cond_wait(c, m), "pthread_cond_wait");
}

static void broadcast(pthread_cond_t *c)
{
    check_pthread(pthread_cond_broadcast(c), "pthread_cond_broadcast");
}

static void signal_one(pthread_cond_t *c)
{
    check_pthread(pthread_cond_signal(c), "pthread_cond_signal");
}

static deadline deadline_in(unsigned timeout_ms)
{
    return (deadline){.timeout_ms = timeout_ms, .known = false};
}

/* The deadline as a CLOCK_MONOTONIC time: waits must not jump with the wall
 * clock. */
static const struct timespec *deadline_time(deadline *d)
{
    if (d->known)
        return &d->at;
    if (clock_gettime(CLOCK_MONOTONIC, &d->at) != 0) {
        perror("keel mailbox: clock_gettime(CLOCK_MONOTONIC)");
        abort();
    }
    d->at.tv_sec += (time_t)(d->timeout_ms / 1000u);
    d->at.tv_nsec += (long)(d->timeout_ms % 1000u) * 1000000L;
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec += 1;
        d->at.tv_nsec -= 1000000000L;
    }
    d->known = true;
    return &d->at;
}

/* Waits on `c` until the deadline. Returns false once it has passed. */
static bool wait_until(pthread_cond_t *c, pthread_mutex_t *m, deadline *d)
{
    int rc = pthread_cond_timedwait(c, m, deadline_time(d));
    if (rc == ETIMEDOUT)
        return false;
    check_pthread(rc, "pthread_cond_timedwait");
    return true;
}

/* Initialises a condition variable that times out on CLOCK_MONOTONIC. */
static int monotonic_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    /* Destroying an initialised, unused attribute object cannot fail. */
    (void)pthread_condattr_destroy(&attr);
    return rc;
}

/* ---- the run queue (bus lock held) ----------------------------------------- */

static void run_queue_push(keel_bus *bus, keel_mailbox *mb)
{
    mb->run_next = NULL;
    mb->run_prev = bus->run_tail;
    if (bus->run_tail != NULL)
        bus->run_tail->run_next = mb;
    else
        bus->run_head = mb;
    bus->run_tail = mb;
    mb->on_run_queue = true;
}

static void run_queue_unlink(keel_bus *bus, keel_mailbox *mb)
{
    if (mb->run_prev != NULL)
        mb->run_prev->run_next = mb->run_next;
    else
        bus->run_head = mb->run_next;
    if (mb->run_next != NULL)
        mb->run_next->run_prev = mb->run_prev;
    else
        bus->run_tail = mb->run_prev;
    mb->run_next = mb->run_prev = NULL;
    mb->on_run_queue = false;
}

/* Puts a scheduled mailbox on the run queue. Called with its lock held, so
 * that destroy sees either "on the queue" or "held by a worker", never a
 * gap. Returns true when a worker is asleep: the caller wakes one with
 * wake_worker once it has released its locks. */
static bool schedule(keel_mailbox *mb)
{
    keel_bus *bus = mb->bus;
    lock(&bus->lock);
    run_queue_push(bus, mb);
    bool sleeper = bus->idle > 0;
    unlock(&bus->lock);
    return sleeper;
}

static void wake_worker(keel_bus *bus)
{
    signal_one(&bus->work);
}

/* ---- the ring of waiting messages (mailbox lock held) ---------------------- */

static mail_node **ring_slot(const keel_mailbox *mb, size_t i)
{
    return &mb->ring[(mb->ring_head + i) & mb->ring_mask];
}

/* Doubles the ring when it is full. Returns false when out of memory. */
static bool ring_reserve(keel_mailbox *mb)
{
    size_t size = mb->ring_mask + 1;
    if (mb->waiting < size)
        return true;
    if (size > SIZE_MAX / 2 / sizeof *mb->ring)
        return false;
    mail_node **ring = malloc(2 * size * sizeof *ring);
    if (ring == NULL)
        return false;
    for (size_t i = 0; i < mb->waiting; i++)
        ring[i] = *ring_slot(mb, i);
    free(mb->ring);
    mb->ring = ring;
    mb->ring_mask = 2 * size - 1;
    mb->ring_head = 0;
    return true;
}

static mail_node *ring_pop(keel_mailbox *mb)
{
    mail_node *node = *ring_slot(mb, 0);
    mb->ring_head = (mb->ring_head + 1) & mb->ring_mask;
    mb->waiting--;
    return node;
}

/* ---- mailbox internals (mailbox lock held) --------------------------------- */

/* Everything up to this sequence has been delivered or dropped. Messages
 * leave the ring in sequence order and batches are settled one at a time,
 * so only the batch in flight can be unfinished below taken_sequence. */
static uint64_t finished_through(const keel_mailbox *mb)
{
    return mb->in_flight > 0 ? mb->batch_first - 1 : mb->taken_sequence;
}

static size_t outstanding(const keel_mailbox *mb)
{
    return mb->waiting + mb->in_flight;
}

/* Wakes whoever waits on `done` (sync posters, flushers, a destroyer). */
static void notify_done(keel_mailbox *mb)
{
    if (mb->done_waiters > 0)
        broadcast(&mb->done);
}

/* Removes the oldest waiting message and counts it as dropped; its sync
 * poster, if any, is told. Returns it for the caller to free. */
static mail_node *drop_oldest(keel_mailbox *mb, bool by_destroy)
{
    mail_node *node = ring_pop(mb);
    mb->taken_sequence = node->sequence;
    mb->dropped++;
    for (sync_waiter *w = mb->sync_waiters; w != NULL; w = w->next)
        if (w->sequence == node->sequence && w->state == SYNC_PENDING) {
            w->state = SYNC_DROPPED;
            w->dropped_by_destroy = by_destroy;
            notify_done(mb);
        }
    return node;
}

/* Stores an accepted message (room reserved) and schedules the mailbox if
 * it was idle. Returns its sequence; *wake says whether to wake a worker
 * once the locks are released. */
static uint64_t enqueue(keel_mailbox *mb, mail_node *node, bool *wake)
{
    node->sequence = ++mb->last_sequence;
    *ring_slot(mb, mb->waiting) = node;
    mb->waiting++;
    mb->posted++;
    *wake = false;
    if (!mb->scheduled) {
        mb->scheduled = true;
        *wake = schedule(mb);
    }
    return node->sequence;
}

/* Waits on `cond` until the deadline while counting the thread in
 * `*waiters`, so that destroy knows someone still references the mailbox.
 * Returns false once the deadline has passed. */
static bool counted_wait(keel_mailbox *mb, pthread_cond_t *cond, unsigned *waiters,
                         deadline *d)
{
    (*waiters)++;
    bool in_time = wait_until(cond, &mb->lock, d);
    (*waiters)--;
    /* A destroyer waits for every other thread to leave the mailbox. */
    if (mb->closing)
        broadcast(&mb->done);
    return in_time;
}

/* ---- workers ----------------------------------------------------------------- */

static mail_node *message_copy(const char *scene, const char *topic, const void *data,
                               size_t size)
{
    size_t scene_len = strlen(scene);
    size_t topic_len = strlen(topic);
    size_t max = SIZE_MAX - MAIL_PAYLOAD_OFFSET - 2;
    if (size > max || scene_len > max - size || topic_len > max - size - scene_len)
        return NULL;
    mail_node *node = malloc(MAIL_PAYLOAD_OFFSET + size + scene_len + topic_len + 2);
    if (node == NULL)
        return NULL;
    char *payload = (char *)node + MAIL_PAYLOAD_OFFSET;
    if (size > 0)
        memcpy(payload, data, size);
    memcpy(payload + size, scene, scene_len + 1);
    memcpy(payload + size + scene_len + 1, topic, topic_len + 1);
    node->size = size;
    node->topic_offset = size + scene_len + 1;
    return node;
}

/* Takes up to MAILBOX_BATCH waiting messages into `batch` (lock held).
 * Returns how many. */
static size_t take_batch(keel_mailbox *mb, mail_node **batch)
{
    size_t n = mb->waiting < MAILBOX_BATCH ? mb->waiting : MAILBOX_BATCH;
    if (n == 0)
        return 0;
    /* At most two contiguous runs of the ring. */
    size_t first_run = mb->ring_mask + 1 - mb->ring_head;
    if (first_run > n)
        first_run = n;
    memcpy(batch, &mb->ring[mb->ring_head], first_run * sizeof *batch);
    memcpy(batch + first_run, mb->ring, (n - first_run) * sizeof *batch);
    mb->ring_head = (mb->ring_head + n) & mb->ring_mask;
    mb->waiting -= n;
    mb->in_flight = n;
    mb->batch_first = batch[0]->sequence;
    mb->batch_last = batch[n - 1]->sequence;
    mb->taken_sequence = mb->batch_last;
    return n;
}

/* Calls the deliver function for each message of a batch, freeing each as
 * soon as it has been delivered. */
static void deliver_batch(keel_mailbox *mb, mail_node **batch, size_t n)
{
    keel_mail_deliver_fn deliver = mb->deliver;
    void *owner = mb->owner;
    delivering_now = mb;
    for (size_t i = 0; i < n; i++) {
        mail_node *node = batch[i];
        /* The poster wrote the next message on another core: start
         * fetching it while this one is delivered. */
        if (i + 1 < n)
            __builtin_prefetch(batch[i + 1]);
        const char *payload = (const char *)node + MAIL_PAYLOAD_OFFSET;
        keel_mail mail = {
            .scene = payload + node->size,
            .topic = payload + node->topic_offset,
            .data = payload,
            .size = node->size,
            .sequence = node->sequence,
        };
        deliver(owner, &mail);
        free(node);
    }
    delivering_now = NULL;
}

/* Settles a delivered batch (lock held): counters, sync waiters, posters
 * waiting for room. */
static void settle_batch(keel_mailbox *mb)
{
    mb->delivered += mb->in_flight;
    mb->in_flight = 0;
    for (sync_waiter *w = mb->sync_waiters; w != NULL; w = w->next)
        if (w->state == SYNC_PENDING && w->sequence <= mb->batch_last)
            w->state = SYNC_DELIVERED;
    notify_done(mb);
    if (mb->room_waiters > 0)
        broadcast(&mb->room);
}

/* Delivers one batch of a mailbox this worker took off the run queue, then
 * either requeues the mailbox (more work) or marks it idle. After the final
 * unlock the mailbox may be freed by its destroyer at once, so nothing
 * touches it past that point. */
static void drain_once(keel_mailbox *mb)
{
    mail_node *batch[MAILBOX_BATCH];
    lock(&mb->lock);
    size_t n = take_batch(mb, batch);
    unlock(&mb->lock);

    if (n > 0)
        deliver_batch(mb, batch, n);

    lock(&mb->lock);
    if (n > 0)
        settle_batch(mb);
    if (mb->waiting > 0) {
        /* No wake-up: this worker comes back for work itself. */
        (void)schedule(mb);
    } else {
        mb->scheduled = false;
        notify_done(mb);   /* a destroyer waits for the mailbox to become idle */
    }
    unlock(&mb->lock);
}

static void *worker_main(void *arg)
{
    keel_bus *bus = arg;
    lock(&bus->lock);
    for (;;) {
        while (bus->run_head == NULL && !bus->stopping) {
            bus->idle++;
            wait_on(&bus->work, &bus->lock);
            bus->idle--;
        }
        keel_mailbox *mb = bus->run_head;
        if (mb == NULL)
            break;   /* stopping, and nothing left to deliver */
        run_queue_unlink(bus, mb);
        /* More work than this worker: pass it on to a sleeping one. */
        bool more = bus->run_head != NULL && bus->idle > 0;
        unlock(&bus->lock);
        if (more)
            wake_worker(bus);
        drain_once(mb);
        lock(&bus->lock);
    }
    unlock(&bus->lock);
    return NULL;
}

/* ---- the bus ----------------------------------------------------------------- */

/* Stops and joins the first `started` workers of a bus being torn down. */
static void stop_workers(keel_bus *bus, unsigned started)
{
    lock(&bus->lock);
    bus->stopping = true;
    broadcast(&bus->work);
    unlock(&bus->lock);
    for (unsigned i = 0; i < started; i++)
        check_pthread(pthread_join(bus->threads[i], NULL), "pthread_join");
}

static void bus_free(keel_bus *bus)
{
    check_pthread(pthread_cond_destroy(&bus->work), "pthread_cond_destroy");
    check_pthread(pthread_mutex_destroy(&bus->lock), "pthread_mutex_destroy");
    free(bus->threads);
    free(bus);
}

keel_status keel_bus_create(unsigned workers, keel_bus **out, keel_error *err)
{
    if (out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "bus: no place for the result");
    *out = NULL;
    if (workers == 0)
        workers = BUS_DEFAULT_WORKERS;
    if (workers > BUS_MAX_WORKERS)
        return keel_error_set(err, KEEL_ERR_LIMIT, "bus: %u workers asked, at most %u allowed",
                              workers, BUS_MAX_WORKERS);
    keel_bus *bus = calloc(1, sizeof *bus);
    if (bus == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "bus: out of memory");
    bus->threads = calloc(workers, sizeof *bus->threads);
    if (bus->threads == NULL) {
        free(bus);
        return keel_error_set(err, KEEL_ERR_NOMEM, "bus: out of memory");
    }
    int rc = pthread_mutex_init(&bus->lock, NULL);
    if (rc != 0) {
        free(bus->threads);
        free(bus);
        return keel_error_set(err, KEEL_ERR_INTERNAL, "bus: cannot create a mutex: %s",
                              strerror(rc));
    }
    rc = pthread_cond_init(&bus->work, NULL);
    if (rc != 0) {
        (void)pthread_mutex_destroy(&bus->lock);   /* unused: cannot fail */
        free(bus->threads);
        free(bus);
        return keel_error_set(err, KEEL_ERR_INTERNAL,
                              "bus: cannot create a condition variable: %s", strerror(rc));
    }
    bus->nthreads = workers;
    for (unsigned i = 0; i < workers; i++) {
        rc = pthread_create(&bus->threads[i], NULL, worker_main, bus);
        if (rc != 0) {
            stop_workers(bus, i);
            bus_free(bus);
            return keel_error_set(err, rc == EAGAIN ? KEEL_ERR_LIMIT : KEEL_ERR_INTERNAL,
                                  "bus: cannot start worker %u of %u: %s", i + 1, workers,
                                  strerror(rc));
        }
    }
    *out = bus;
    return KEEL_OK;
}

void keel_bus_destroy(keel_bus *bus)
{
    if (bus == NULL)
        return;
    /* Workers leave only once the run queue is empty, so what is queued is
     * delivered first. Live mailboxes break the contract: say so, since
     * their owners will touch freed memory later. */
    lock(&bus->lock);
    size_t live = bus->mailboxes;
    unlock(&bus->lock);
    if (live > 0)
        fprintf(stderr, "keel mailbox: bus destroyed with %zu mailbox(es) still alive\n", live);
    stop_workers(bus, bus->nthreads);
    bus_free(bus);
}

/* ---- mailboxes --------------------------------------------------------------- */

keel_status keel_mailbox_create(keel_bus *bus, size_t capacity, keel_overflow policy,
                                keel_mail_deliver_fn deliver, void *owner,
                                keel_mailbox **out, keel_error *err)
{
    if (out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "mailbox: no place for the result");
    *out = NULL;
    if (bus == NULL || deliver == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "mailbox: %s is missing",
                              bus == NULL ? "the bus" : "the deliver function");
    if (policy != KEEL_OVERFLOW_REJECT && policy != KEEL_OVERFLOW_BLOCK &&
        policy != KEEL_OVERFLOW_DROP_OLDEST)
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "mailbox: overflow policy %d is not reject (0), block (1) or "
                              "drop-oldest (2)",
                              (int)policy);
    keel_mailbox *mb = calloc(1, sizeof *mb);
    if (mb != NULL)
        mb->ring = malloc(RING_INITIAL_SIZE * sizeof *mb->ring);
    if (mb == NULL || mb->ring == NULL) {
        free(mb);
        return keel_error_set(err, KEEL_ERR_NOMEM, "mailbox: out of memory");
    }
    mb->ring_mask = RING_INITIAL_SIZE - 1;
    mb->bus = bus;
    mb->deliver = deliver;
    mb->owner = owner;
    mb->capacity = capacity == 0 ? MAILBOX_DEFAULT_CAPACITY : capacity;
    mb->policy = policy;
    int rc = pthread_mutex_init(&mb->lock, NULL);
    if (rc == 0) {
        rc = monotonic_cond_init(&mb->room);
        if (rc == 0) {
            rc = monotonic_cond_init(&mb->done);
            if (rc != 0)
                (void)pthread_cond_destroy(&mb->room);   /* unused: cannot fail */
        }
        if (rc != 0)
            (void)pthread_mutex_destroy(&mb->lock);   /* unused: cannot fail */
    }
    if (rc != 0) {
        free(mb->ring);
        free(mb);
        return keel_error_set(err, KEEL_ERR_INTERNAL,
                              "mailbox: cannot create its lock or conditions: %s", strerror(rc));
    }
    lock(&bus->lock);
    bus->mailboxes++;
    unlock(&bus->lock);
    *out = mb;
    return KEEL_OK;
}

/* Takes the mailbox off the run queue if it waits there (both locks are
 * needed: the queue is the bus's, `scheduled` the mailbox's). */
static void unschedule_if_queued(keel_mailbox *mb)
{
    lock(&mb->bus->lock);
    if (mb->on_run_queue) {
        run_queue_unlink(mb->bus, mb);
        mb->scheduled = false;
    }
    unlock(&mb->bus->lock);
}

void keel_mailbox_destroy(keel_mailbox *mb, unsigned timeout_ms, size_t *dropped_out)
{
    if (dropped_out != NULL)
        *dropped_out = 0;
    if (mb == NULL)
        return;
    if (delivering_now == mb) {
        /* Waiting for the worker that runs this very call would never end. */
        fprintf(stderr, "keel mailbox: a deliver function destroyed its own mailbox\n");
        abort();
    }
    lock(&mb->lock);
    mb->closing = true;
    if (mb->room_waiters > 0)
        broadcast(&mb->room);   /* BLOCK posters give up with KEEL_ERR_STATE */

    /* Let the workers deliver what is queued, up to the timeout. */
    deadline d = deadline_in(timeout_ms);
    mb->done_waiters++;
    while (outstanding(mb) > 0 && wait_until(&mb->done, &mb->lock, &d))
        ;

    /* Drop what is still waiting; nobody can post any more. */
    size_t ndropped = 0;
    while (mb->waiting > 0) {
        free(drop_oldest(mb, true));
        ndropped++;
    }
    if (mb->scheduled)
        unschedule_if_queued(mb);

    /* A worker may still hold the mailbox, mid-batch in a deliver function
     * or about to look at it: freeing under it would crash, so this waits
     * for it even past the timeout (as long as that deliver call takes).
     * Threads still waiting in post or flush must leave too. */
    while (mb->scheduled || mb->done_waiters > 1 || mb->room_waiters > 0)
        wait_on(&mb->done, &mb->lock);
    mb->done_waiters--;
    unlock(&mb->lock);

    lock(&mb->bus->lock);
    mb->bus->mailboxes--;
    unlock(&mb->bus->lock);
    check_pthread(pthread_cond_destroy(&mb->done), "pthread_cond_destroy");
    check_pthread(pthread_cond_destroy(&mb->room), "pthread_cond_destroy");
    check_pthread(pthread_mutex_destroy(&mb->lock), "pthread_mutex_destroy");
    free(mb->ring);
    free(mb);
    if (dropped_out != NULL)
        *dropped_out = ndropped;
}

/* Makes room for one message under the mailbox's policy (lock held).
 * Returns KEEL_OK when the message may be stored; `*evicted` receives a
 * message dropped to make room, for the caller to free outside the lock. */
static keel_status make_room(keel_mailbox *mb, deadline *d, mail_node **evicted)
{
    while (!mb->closing && outstanding(mb) >= mb->capacity) {
        if (mb->policy == KEEL_OVERFLOW_DROP_OLDEST) {
            /* Messages already taken by a worker cannot be dropped; when the
             * whole capacity is in flight, keep the new one anyway. */
            if (mb->waiting > 0)
                *evicted = drop_oldest(mb, false);
            break;
        }
        if (mb->policy == KEEL_OVERFLOW_BLOCK) {
            bool in_time = counted_wait(mb, &mb->room, &mb->room_waiters, d);
            /* Look again when woken, or when room came just as time ran out. */
            if (in_time || mb->closing || outstanding(mb) < mb->capacity)
                continue;
        }
        mb->rejected++;
        return KEEL_ERR_LIMIT;
    }
    if (mb->closing)
        return KEEL_ERR_STATE;
    return ring_reserve(mb) ? KEEL_OK : KEEL_ERR_NOMEM;
}

/* Waits for a sync post's message (lock held, waiter linked). */
static keel_status wait_for_delivery(keel_mailbox *mb, sync_waiter *waiter, deadline *d)
{
    while (waiter->state == SYNC_PENDING &&
           counted_wait(mb, &mb->done, &mb->done_waiters, d))
        ;
    switch (waiter->state) {
    case SYNC_DELIVERED:
        return KEEL_OK;
    case SYNC_DROPPED:
        /* Dropped to make room (DROP_OLDEST) or by destroy. */
        return waiter->dropped_by_destroy ? KEEL_ERR_STATE : KEEL_ERR_LIMIT;
    case SYNC_PENDING:
    default:
        return KEEL_ERR_TIMEOUT;   /* the message stays queued */
    }
}

static void unlink_sync_waiter(keel_mailbox *mb, sync_waiter *waiter)
{
    for (sync_waiter **p = &mb->sync_waiters; *p != NULL; p = &(*p)->next)
        if (*p == waiter) {
            *p = waiter->next;
            return;
        }
}

keel_status keel_mailbox_post(keel_mailbox *mb, const char *scene, const char *topic,
                              const void *data, size_t size, int sync, unsigned timeout_ms)
{
    if (mb == NULL || scene == NULL || topic == NULL || (data == NULL && size > 0))
        return KEEL_ERR_INVALID;
    /* Copy before taking the lock: posters hold it only to store a pointer. */
    mail_node *node = message_copy(scene, topic, data, size);
    if (node == NULL)
        return KEEL_ERR_NOMEM;
    keel_bus *bus = mb->bus;
    deadline d = deadline_in(timeout_ms);
    mail_node *evicted = NULL;
    bool wake = false;

    lock(&mb->lock);
    keel_status status = make_room(mb, &d, &evicted);
    if (status == KEEL_OK) {
        uint64_t sequence = enqueue(mb, node, &wake);
        node = NULL;   /* the mailbox owns it now */
        if (sync) {
            sync_waiter waiter = {.next = mb->sync_waiters, .sequence = sequence,
                                  .state = SYNC_PENDING};
            mb->sync_waiters = &waiter;
            /* The worker must be running before this thread sleeps. */
            if (wake) {
                wake_worker(bus);
                wake = false;
            }
            status = wait_for_delivery(mb, &waiter, &d);
            unlink_sync_waiter(mb, &waiter);
        }
    }
    unlock(&mb->lock);
    if (wake)
        wake_worker(bus);
    free(node);
    free(evicted);
    return status;
}

keel_status keel_mailbox_flush(keel_mailbox *mb, unsigned timeout_ms)
{
    if (mb == NULL)
        return KEEL_ERR_INVALID;
    deadline d = deadline_in(timeout_ms);
    lock(&mb->lock);
    uint64_t target = mb->last_sequence;
    while (finished_through(mb) < target &&
           counted_wait(mb, &mb->done, &mb->done_waiters, &d))
        ;
    keel_status status = finished_through(mb) >= target ? KEEL_OK : KEEL_ERR_TIMEOUT;
    unlock(&mb->lock);
    return status;
}

void keel_mailbox_stats_get(const keel_mailbox *mb, keel_mailbox_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (mb == NULL)
        return;
    /* The lock is not part of the mailbox's logical state: taking it in a
     * const accessor is what gives a consistent snapshot. */
    keel_mailbox *m = (keel_mailbox *)mb;
    lock(&m->lock);
    out->posted = m->posted;
    out->delivered = m->delivered;
    out->rejected = m->rejected;
    out->dropped = m->dropped;
    out->queued = outstanding(m);
    out->capacity = m->capacity;
    unlock(&m->lock);
}

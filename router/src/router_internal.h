/*
 * The router's internals, shared by its files. Nothing outside router/src
 * includes this.
 */
#ifndef KEEL_ROUTER_INTERNAL_H
#define KEEL_ROUTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <keel/router.h>
#include <keel/signature.h>

#include "readers.h"
#include "stripe.h"

typedef struct module_slot module_slot;

/* (scene, name) of a service or topic. Interned: lives as long as the
 * router, so call paths may hold one without reference counting. */
typedef struct route {
    struct route *next;            /* hash chain */
    char *scene, *name;
    int is_topic;
    _Atomic(module_slot *) owner;  /* services: the module publishing it */
    atomic_int owner_index;        /* its position in owner->claimed; a hint */
    /* topics: the subscribing modules (under router->topics_lock) */
    module_slot **subscribers;
    size_t subscriber_count;
} route;

typedef struct service_metrics {
    keel_owned_counter calls;
    keel_striped errors;
    atomic_ullong samples;
    atomic_ullong latency[KEEL_LATENCY_BUCKETS];
} service_metrics;

typedef struct vservice {
    route *route;
    keel_fn fn;
    keel_signature *sig;
    service_metrics *metrics;
    char *properties;              /* JSON object text or NULL; under slot->lock */
} vservice;

typedef struct vsubscription {
    route *route;
    keel_message_fn fn;
    void *user;
} vsubscription;

/* Copy-on-write lists read by call and delivery paths without a lock: a
 * writer (under slot->lock) publishes a new list and retires the old one,
 * which is freed only when the version is removed (no call is inside it
 * then). */
typedef struct service_list {
    size_t count;
    size_t index_count;            /* entries of by_index */
    const vservice **by_index;     /* by route->owner_index; in this block */
    vservice items[];
} service_list;

typedef struct subscription_list {
    size_t count;
    vsubscription items[];
} subscription_list;

struct keel_router_version {
    keel_router *router;
    module_slot *slot;
    char *version, *id;
    keel_ctx *ctx;
    _Atomic(service_list *) services;
    _Atomic(subscription_list *) subs;
    void **retired;                /* old lists, signatures and metrics */
    size_t retired_count;
    char **scenes;
    size_t scene_count;
    keel_scene_grant *grants;
    size_t grant_count;
    int draining;
    keel_router_ref **refs;        /* references this version resolved */
    size_t ref_count;
};

/* Which versions take calls. Immutable once published. */
typedef struct snapshot {
    keel_router_version *primary;
    keel_router_version *gray;
    unsigned percent;
    int by_key;
} snapshot;

struct module_slot {
    module_slot *next;             /* router->slots list */
    char *name;
    pthread_mutex_t lock;          /* writers: versions, snapshot, subscriptions */
    _Atomic(snapshot *) current;
    keel_router_version **versions;
    size_t version_count;
    route **claimed;               /* routes it ever published; index = position */
    size_t claimed_count;
    atomic_size_t live_versions;   /* version_count, readable without the lock */
    keel_router_version *previous; /* for rollback */
    char *broken_reason;           /* under lock; calls read broken flag */
    atomic_int broken;
    atomic_int draining;           /* versions being removed */
    keel_mailbox *mailbox;         /* created on first subscription */
    atomic_ullong undeliverable;
};

struct keel_service_ref {
    keel_router *router;
    route *route;
    keel_router_version *caller;
};

struct keel_router {
    keel_router_options opts;
    pthread_mutex_t lock;          /* routes table and slot list */
    route **buckets;
    size_t bucket_count;
    module_slot *slots;
    pthread_rwlock_t topics_lock;  /* route->subscribers of topics */
    keel_bus *bus;
};

/* Finds or creates the interned route (scene, name). Returns NULL when
 * out of memory. Takes r->lock. */
route *keel_route_intern(keel_router *r, const char *scene, const char *name, int is_topic);

/* Looks up a route without creating it (NULL if absent). */
route *keel_route_find(keel_router *r, const char *scene, const char *name, int is_topic);

/* Checks that `caller` may reach (scene, service/topic). NULL caller: yes. */
keel_status keel_scene_check(const keel_router_version *caller, const char *scene,
                             const char *service, const char *topic, keel_error *err);

/* The caller's default scene ("default" for tools). */
const char *keel_default_scene(const keel_router_version *caller);

/* Reads the slot's current snapshot and records the chosen version on
 * `reader`'s stack (the caller pops it with keel_reader_pop when the call
 * returns). NULL when nothing routes, or when calls nest too deep (then
 * *too_deep is set). `gray_ok` is 0 for messages. Inline: it is the call
 * path. */
static inline uint64_t keel_xorshift(void)
{
    static _Thread_local uint64_t state;
    if (state == 0)
        state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static inline unsigned keel_key_bucket(const char *key)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (unsigned)(h % 100);
}

static inline keel_router_version *keel_slot_enter(module_slot *slot, const char *key, int gray_ok,
                                     keel_reader *reader, int *too_deep)
{
    keel_reader_open(reader);
    const snapshot *s = atomic_load_explicit(&slot->current, keel_readers_light ? memory_order_acquire
                                                                                : memory_order_seq_cst);
    keel_router_version *v = NULL;
    if (s != NULL) {
        v = s->primary;
        if (gray_ok && s->gray != NULL && s->percent > 0) {
            unsigned roll = key != NULL && s->by_key ? keel_key_bucket(key) : (unsigned)(keel_xorshift() % 100);
            if (roll < s->percent || v == NULL)
                v = s->gray;
        }
        if (v != NULL && keel_reader_push(reader, v) != 0) {
            v = NULL;
            *too_deep = 1;
        }
    }
    keel_reader_close(reader);
    return v;
}



/* Finds the version's service entry for `rt`, or NULL: one indexed load on
 * the call path, checked, with a search as the fallback. */
static inline const vservice *keel_version_service(const keel_router_version *v, const route *rt)
{
    const service_list *sl = atomic_load_explicit(&v->services, memory_order_acquire);
    if (sl == NULL)
        return NULL;
    int idx = atomic_load_explicit(&rt->owner_index, memory_order_relaxed);
    if (idx >= 0 && (size_t)idx < sl->index_count) {
        const vservice *s = sl->by_index[idx];
        if (s != NULL && s->route == rt)
            return s;
    }
    for (size_t i = 0; i < sl->count; i++)
        if (sl->items[i].route == rt)
            return &sl->items[i];
    return NULL;
}

/* Messages: called when a version (un)subscribes; under slot->lock. */
keel_status keel_topic_add_subscriber(keel_router *r, route *topic, module_slot *slot,
                                      keel_error *err);
void keel_topic_remove_subscriber(keel_router *r, route *topic, module_slot *slot);
void keel_slot_mailbox_close(module_slot *slot);

#endif

/*
 * keel/router.h — scene-scoped services and messages between modules, and
 * version switches that never fail a call (DESIGN.md, decision 5).
 *
 * Vocabulary
 *   module slot  one per module name; holds the routing snapshot (which
 *                version is primary, which one gets gray traffic)
 *   version      one loaded instance of a module (name@version): its
 *                services, subscriptions and in-flight calls
 *   route        a (scene, service) pair; published by at most one module
 *
 * A call enters through a route, reads the module's current snapshot and
 * records the chosen version in its thread's reader record (readers.h); a
 * switch stores a new snapshot and waits only for readers that were between
 * those two steps. A version is removed only when no
 * call is inside it, or after a drain timeout that leaves it registered
 * (and its code loaded) and reported.
 *
 * Messages go to a bounded mailbox per subscribing module, delivered by
 * base workers in order to whichever version is primary at delivery time,
 * so a switch loses and duplicates nothing.
 *
 * Threads: everything is thread-safe. Calls (enter/leave, call_json,
 * publish) take no lock shared with switches.
 */
#ifndef KEEL_ROUTER_H
#define KEEL_ROUTER_H

#include <stddef.h>
#include <stdint.h>
#include <keel/error.h>
#include <keel/mailbox.h>
#include <keel/module.h>

typedef struct keel_router keel_router;
typedef struct keel_router_version keel_router_version;
typedef struct keel_service_ref keel_router_ref;  /* module.h's keel_service_ref */

typedef struct keel_router_options {
    unsigned message_workers;     /* 0: 2 */
    size_t queue_capacity;        /* per subscribing module, 0: 65536 */
    keel_overflow overflow;       /* what a full queue does (default REJECT) */
    unsigned publish_timeout_ms;  /* BLOCK policy and sync sends, 0: 5000 */
} keel_router_options;

/* A cross-scene permission: the caller may call `service` (or "*") and
 * publish to `topic` (or "*") in `scene`. NULL fields grant nothing. */
typedef struct keel_scene_grant {
    const char *scene;
    const char *service;
    const char *topic;
} keel_scene_grant;

/* Who a version is, for scene checks. All borrowed (copied). */
typedef struct keel_router_identity {
    const char *module;
    const char *version;
    const char *const *scenes;     /* home scenes; the first is the default */
    size_t scene_count;            /* 0: just "default" */
    const keel_scene_grant *grants;
    size_t grant_count;
} keel_router_identity;

/* On KEEL_OK *out is owned by the caller (keel_router_destroy). */
keel_status keel_router_create(const keel_router_options *opts, keel_router **out,
                               keel_error *err);

/* Frees the router. Every version must have been removed. NULL-safe. */
void keel_router_destroy(keel_router *r);

/* --- versions -------------------------------------------------------- */

/* Registers a version that routes nothing yet. `ctx` (borrowed, may be
 * NULL) is handed to its message handlers. On KEEL_OK *out is owned by the
 * router until keel_router_version_remove succeeds. KEEL_ERR_EXISTS for a
 * name@version already registered. */
keel_status keel_router_version_add(keel_router *r, const keel_router_identity *id, keel_ctx *ctx,
                                    keel_router_version **out, keel_error *err);

/* Publishes `fn` as `name` in `scene` with `signature` (all borrowed).
 * KEEL_ERR_INVALID for a bad signature, KEEL_ERR_EXISTS when this version
 * already publishes it or another module owns that route. */
keel_status keel_router_service_add(keel_router_version *v, const char *scene, const char *name,
                                    const char *signature, keel_fn fn, keel_error *err);
keel_status keel_router_service_remove(keel_router_version *v, const char *scene, const char *name);

/* Subscribes `fn` to `topic` in `scene`; `user` is passed back as is. */
keel_status keel_router_subscribe(keel_router_version *v, const char *scene, const char *topic,
                                  keel_message_fn fn, void *user, keel_error *err);
keel_status keel_router_unsubscribe(keel_router_version *v, const char *scene, const char *topic);

/* Makes `v` the primary version of its module: every service and
 * subscription switches at once. The version it replaces is remembered
 * for keel_router_rollback. Gray routing of the module is cleared. */
keel_status keel_router_activate(keel_router *r, keel_router_version *v, keel_error *err);

/* Takes `v` out of routing (whether primary or gray). */
keel_status keel_router_deactivate(keel_router *r, keel_router_version *v, keel_error *err);

/* Makes the previously primary version of `module` primary again. Writes
 * into *now (may be NULL) the version that is primary afterwards. */
keel_status keel_router_rollback(keel_router *r, const char *module, keel_router_version **now,
                                 keel_error *err);

/* Gray release: `percent` (0..100) of calls go to `gray`, the rest to
 * `primary` (both versions of one module). With `by_key`, calls that carry
 * a routing key are split by a hash of it (same key, same version); calls
 * without a key are split at random. Messages go to `primary`. */
keel_status keel_router_route(keel_router *r, keel_router_version *primary,
                              keel_router_version *gray, unsigned percent, int by_key,
                              keel_error *err);

/* Takes `v` out of routing for good (marked draining: it can no longer be
 * activated) and waits up to `timeout_ms` for the calls and deliveries
 * inside it to return. KEEL_OK: nothing is inside; the module may be
 * stopped (its stop hook may still call and publish through `v`).
 * KEEL_ERR_TIMEOUT: calls are still inside and `err` says how many; the
 * version stays registered; drain again later. */
keel_status keel_router_version_drain(keel_router *r, keel_router_version *v,
                                      unsigned timeout_ms, keel_error *err);

/* Drains `v` (as above) and then drops everything it publishes, subscribes
 * and resolved, and frees it. On KEEL_ERR_TIMEOUT nothing is freed. */
keel_status keel_router_version_remove(keel_router *r, keel_router_version *v,
                                       unsigned timeout_ms, keel_error *err);

/* Records that `v` failed (its start hook did); while its module has no
 * primary version, calls get KEEL_ERR_BROKEN with `reason` (borrowed). */
void keel_router_mark_broken(keel_router *r, keel_router_version *v, const char *reason);

/* Calls inside `v` now. */
long keel_router_version_inflight(const keel_router_version *v);
/* "name@version", owned by v. */
const char *keel_router_version_id(const keel_router_version *v);

/* --- calls ------------------------------------------------------------ */

/* Resolves service `name` in `scene` (NULL: the caller's default scene)
 * for `caller` (NULL: an operator or tool, allowed everywhere). The
 * reference follows switches and stays valid until keel_router_ref_release
 * or until the caller version is removed; the service need not be
 * published yet. KEEL_ERR_DENIED when the caller may not call into that
 * scene (the message says what to declare). On KEEL_OK *out is owned by
 * the caller version (or by the caller when `caller` is NULL). */
keel_status keel_router_resolve(keel_router *r, keel_router_version *caller, const char *scene,
                                const char *name, keel_router_ref **out, keel_error *err);
void keel_router_ref_release(keel_router_ref *ref);

/* Enters a typed call: fills call->fn with the function of the version
 * that serves it; that version stays loaded until keel_router_leave, which
 * must run on the same thread (innermost call first).
 * `key` (borrowed, may be NULL) is the routing key for gray release.
 * KEEL_ERR_NOT_FOUND (nobody publishes it), KEEL_ERR_DRAINING (its only
 * versions are being removed), KEEL_ERR_BROKEN (its last version failed). */
keel_status keel_router_enter(keel_router_ref *ref, const char *key, keel_call *call);
void keel_router_leave(keel_call *call);

/* A dynamic call: JSON array arguments in, JSON result out (see
 * keel/signature.h). On KEEL_OK *result is malloc'd (caller frees). */
keel_status keel_router_call_json(keel_router_ref *ref, const char *key, const char *args,
                                  size_t size, char **result, keel_error *err);

/* --- messages ----------------------------------------------------------- */

/* Publishes to every module subscribed to `topic` in `scene` (NULL: the
 * publisher's default scene). `publisher` NULL means an operator or tool.
 * The data is copied. With KEEL_PUBLISH_SYNC returns after delivery.
 * Returns the number of subscribing modules in *receivers (may be NULL).
 * KEEL_ERR_LIMIT when a subscriber's queue was full (the others got it). */
keel_status keel_router_publish(keel_router *r, keel_router_version *publisher, const char *scene,
                                const char *topic, const void *data, size_t size, unsigned flags,
                                size_t *receivers, keel_error *err);

/* Waits until every queued message has been delivered (or the timeout). */
keel_status keel_router_flush(keel_router *r, unsigned timeout_ms);

/* --- listing ------------------------------------------------------------ */

/* Attaches properties (a JSON object text, borrowed; NULL clears) to a
 * service `v` publishes. KEEL_ERR_NOT_FOUND if it does not. */
keel_status keel_router_service_set_properties(keel_router_version *v, const char *scene,
                                               const char *name, const char *json);

typedef struct keel_service_info {
    const char *module, *version, *scene, *name;  /* valid during the callback */
    const char *signature;       /* canonical text */
    const char *properties;      /* JSON object text or NULL */
    int routed;                  /* 0 not routed, 1 primary, 2 gray */
    unsigned share;              /* percent of the module's calls it takes */
} keel_service_info;

/* Calls `fn` once per (version, service) registered. Returns the count. */
size_t keel_router_services(keel_router *r, void (*fn)(const keel_service_info *info, void *user),
                            void *user);

/* --- metrics ------------------------------------------------------------ */

#define KEEL_LATENCY_BUCKETS 32  /* bucket i: [2^i, 2^(i+1)) ns; 0 also < 1 ns */

typedef struct keel_service_metrics {
    const char *module, *version, *scene, *service;  /* valid during the callback */
    uint64_t calls;           /* entered */
    uint64_t errors;          /* dynamic calls that failed */
    long inflight;            /* calls inside the version now */
    uint64_t latency_samples; /* calls timed (all dynamic, 1 in 64 typed) */
    uint64_t latency[KEEL_LATENCY_BUCKETS];
} keel_service_metrics;

/* Calls `fn` once per (version, service). Returns the count. */
size_t keel_router_metrics(keel_router *r, void (*fn)(const keel_service_metrics *m, void *user),
                           void *user);

/* Per subscribing module: its queue counters. */
typedef struct keel_queue_metrics {
    const char *module;       /* valid during the callback */
    keel_mailbox_stats stats;
    uint64_t undeliverable;   /* no version of the module handles that topic */
} keel_queue_metrics;

size_t keel_router_queue_metrics(keel_router *r, void (*fn)(const keel_queue_metrics *m, void *user),
                                 void *user);

#endif

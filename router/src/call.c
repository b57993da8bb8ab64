/*
 * Calls through the router: resolving references, the typed enter/leave
 * path, dynamic JSON calls, and per-service metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router_internal.h"

/* One typed call in 64 is timed: the clock costs more than the call. */
#define KEEL_SAMPLE_EVERY 64

keel_status keel_router_resolve(keel_router *r, keel_router_version *caller, const char *scene,
                                const char *name, keel_router_ref **out, keel_error *err)
{
    *out = NULL;
    if (scene == NULL)
        scene = keel_default_scene(caller);
    if (name == NULL || name[0] == '\0' || strlen(name) > 128 || scene[0] == '\0' || strlen(scene) > 128)
        return keel_error_set(err, KEEL_ERR_INVALID, "a service reference needs a scene and a name");
    keel_status st = keel_scene_check(caller, scene, name, NULL, err);
    if (st != KEEL_OK)
        return st;
    route *rt = keel_route_intern(r, scene, name, 0);
    keel_router_ref *ref = calloc(1, sizeof *ref);
    if (rt == NULL || ref == NULL) {
        free(ref);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    *ref = (keel_router_ref){r, rt, caller};
    if (caller != NULL) {
        pthread_mutex_lock(&caller->slot->lock);
        keel_router_ref **grown = realloc(caller->refs, (caller->ref_count + 1) * sizeof *grown);
        if (grown != NULL) {
            caller->refs = grown;
            caller->refs[caller->ref_count++] = ref;
        }
        pthread_mutex_unlock(&caller->slot->lock);
        if (grown == NULL) {
            free(ref);
            return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        }
    }
    *out = ref;
    return KEEL_OK;
}

void keel_router_ref_release(keel_router_ref *ref)
{
    if (ref == NULL)
        return;
    keel_router_version *caller = ref->caller;
    if (caller != NULL) {
        pthread_mutex_lock(&caller->slot->lock);
        for (size_t i = 0; i < caller->ref_count; i++)
            if (caller->refs[i] == ref) {
                caller->refs[i] = caller->refs[--caller->ref_count];
                break;
            }
        pthread_mutex_unlock(&caller->slot->lock);
    }
    free(ref);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void latency_record(service_metrics *m, uint64_t ns)
{
    unsigned bucket = 0;
    while (bucket + 1 < KEEL_LATENCY_BUCKETS && (ns >> (bucket + 1)) != 0)
        bucket++;
    atomic_fetch_add_explicit(&m->latency[bucket], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->samples, 1, memory_order_relaxed);
}

/* Why nothing routes: the module is being drained, or broken, or absent. */
static keel_status nothing_routes(const module_slot *slot)
{
    if (slot == NULL)
        return KEEL_ERR_NOT_FOUND;
    if (atomic_load(&slot->draining) > 0)
        return KEEL_ERR_DRAINING;
    if (atomic_load(&slot->broken))
        return KEEL_ERR_BROKEN;
    return KEEL_ERR_NOT_FOUND;
}

/* Enters a call: on KEEL_OK *v is on reader's stack (pop it when the call
 * returns) and *s is its entry for the route. */
static inline __attribute__((always_inline)) keel_status
call_begin(keel_router_ref *ref, const char *key, keel_reader *reader, keel_router_version **v,
           const vservice **s)
{
    module_slot *slot = atomic_load_explicit(&ref->route->owner, memory_order_acquire);
    if (slot == NULL)
        return KEEL_ERR_NOT_FOUND;
    int too_deep = 0;
    *v = keel_slot_enter(slot, key, 1, reader, &too_deep);
    if (*v == NULL)
        return too_deep ? KEEL_ERR_LIMIT : nothing_routes(slot);
    *s = keel_version_service(*v, ref->route);
    if (*s == NULL) {
        /* The routed version does not publish this service. */
        keel_reader_pop(reader);
        return KEEL_ERR_NOT_FOUND;
    }
    keel_owned_bump(&(*s)->metrics->calls, reader->stripe);
    return KEEL_OK;
}

keel_status keel_router_enter(keel_router_ref *ref, const char *key, keel_call *call)
{
    keel_reader *reader = keel_reader_self();
    if (reader == NULL)
        return KEEL_ERR_NOMEM;
    keel_router_version *v = NULL;
    const vservice *s = NULL;
    keel_status st = call_begin(ref, key, reader, &v, &s);
    if (st != KEEL_OK) {
        call->fn = NULL;
        call->internal[0] = NULL;
        return st;
    }
    uint64_t started = ++reader->tick % KEEL_SAMPLE_EVERY == 0 ? now_ns() : 0;
    call->fn = s->fn;
    call->internal[0] = reader;
    call->internal[1] = s->metrics;
    call->internal[2] = (void *)(uintptr_t)started;
    call->internal[3] = v;
    return KEEL_OK;
}

void keel_router_leave(keel_call *call)
{
    keel_reader *reader = call->internal[0];
    if (reader == NULL)
        return;
    uint64_t started = (uint64_t)(uintptr_t)call->internal[2];
    if (started != 0)
        latency_record(call->internal[1], now_ns() - started);
    call->internal[0] = NULL;
    keel_reader_pop(reader);
}

static const char *call_error(keel_status st)
{
    switch (st) {
    case KEEL_ERR_NOT_FOUND: return "no active version publishes it";
    case KEEL_ERR_DRAINING: return "its versions are being drained";
    case KEEL_ERR_BROKEN: return "its last version failed to start";
    case KEEL_ERR_LIMIT: return "calls are nested too deep";
    default: return keel_status_name(st);
    }
}

keel_status keel_router_call_json(keel_router_ref *ref, const char *key, const char *args, size_t size,
                                  char **result, keel_error *err)
{
    *result = NULL;
    keel_reader *reader = keel_reader_self();
    if (reader == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_router_version *v = NULL;
    const vservice *s = NULL;
    keel_status st = call_begin(ref, key, reader, &v, &s);
    if (st != KEEL_OK)
        return keel_error_set(err, st, "service \"%s\" in scene \"%s\": %s", ref->route->name,
                              ref->route->scene, call_error(st));
    uint64_t started = now_ns();
    if (!keel_signature_dynamic(s->sig))
        st = keel_error_set(err, KEEL_ERR_INVALID,
                            "service \"%s\" in scene \"%s\" (%s) takes pointers and cannot be called with JSON",
                            ref->route->name, ref->route->scene, keel_signature_text(s->sig));
    else
        st = keel_signature_call_json(s->sig, s->fn, args ? args : "", args ? size : 0, 0, result, err);
    latency_record(s->metrics, now_ns() - started);
    if (st != KEEL_OK) {
        keel_striped_add(&s->metrics->errors, 1);
        if (keel_signature_dynamic(s->sig))
            keel_error_prefix(err, "%s: service \"%s\" (%s)", v->id, ref->route->name,
                              keel_signature_text(s->sig));
    }
    keel_reader_pop(reader);
    return st;
}

size_t keel_router_metrics(keel_router *r, void (*fn)(const keel_service_metrics *m, void *user), void *user)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    module_slot *slots = r->slots;
    pthread_mutex_unlock(&r->lock);
    /* Slots are only ever prepended and never freed while the router lives. */
    for (module_slot *slot = slots; slot != NULL; slot = slot->next) {
        pthread_mutex_lock(&slot->lock);
        for (size_t i = 0; i < slot->version_count; i++) {
            const keel_router_version *v = slot->versions[i];
            const service_list *sl = atomic_load(&v->services);
            for (size_t k = 0; sl != NULL && k < sl->count; k++) {
                const vservice *s = &sl->items[k];
                keel_service_metrics m = {slot->name, v->version, s->route->scene, s->route->name,
                                          (uint64_t)keel_owned_sum(&s->metrics->calls),
                                          (uint64_t)keel_striped_sum(&s->metrics->errors),
                                          keel_readers_count(v),
                                          atomic_load(&s->metrics->samples), {0}};
                for (int b = 0; b < KEEL_LATENCY_BUCKETS; b++)
                    m.latency[b] = atomic_load(&s->metrics->latency[b]);
                fn(&m, user);
                n++;
            }
        }
        pthread_mutex_unlock(&slot->lock);
    }
    return n;
}

/*
 * The router's registry: interned routes, module slots, versions and what
 * they publish, and the snapshots that say which version takes calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router_internal.h"

unsigned keel_stripe_index(void)
{
    static atomic_uint next;
    static _Thread_local unsigned index = ~0u;
    if (index == ~0u)
        index = atomic_fetch_add(&next, 1) % KEEL_STRIPES;
    return index;
}

static int name_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 128;
}

/* --- routes ----------------------------------------------------------------- */

static size_t route_hash(const char *scene, const char *name, int is_topic)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)is_topic;
    for (const char *p = scene; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)h;
}

static route *route_lookup_locked(keel_router *r, const char *scene, const char *name, int is_topic)
{
    size_t b = route_hash(scene, name, is_topic) % r->bucket_count;
    for (route *rt = r->buckets[b]; rt != NULL; rt = rt->next)
        if (rt->is_topic == is_topic && strcmp(rt->scene, scene) == 0 && strcmp(rt->name, name) == 0)
            return rt;
    return NULL;
}

route *keel_route_find(keel_router *r, const char *scene, const char *name, int is_topic)
{
    pthread_mutex_lock(&r->lock);
    route *rt = route_lookup_locked(r, scene, name, is_topic);
    pthread_mutex_unlock(&r->lock);
    return rt;
}

route *keel_route_intern(keel_router *r, const char *scene, const char *name, int is_topic)
{
    pthread_mutex_lock(&r->lock);
    route *rt = route_lookup_locked(r, scene, name, is_topic);
    if (rt == NULL && (rt = calloc(1, sizeof *rt)) != NULL) {
        rt->scene = strdup(scene);
        rt->name = strdup(name);
        rt->is_topic = is_topic;
        atomic_init(&rt->owner_index, -1);
        if (rt->scene == NULL || rt->name == NULL) {
            free(rt->scene);
            free(rt->name);
            free(rt);
            rt = NULL;
        } else {
            size_t b = route_hash(scene, name, is_topic) % r->bucket_count;
            rt->next = r->buckets[b];
            r->buckets[b] = rt;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rt;
}

/* --- router ----------------------------------------------------------------- */

keel_status keel_router_create(const keel_router_options *opts, keel_router **out, keel_error *err)
{
    *out = NULL;
    keel_router *r = calloc(1, sizeof *r);
    if (r == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the router");
    if (opts != NULL)
        r->opts = *opts;
    if (r->opts.publish_timeout_ms == 0)
        r->opts.publish_timeout_ms = 5000;
    r->bucket_count = 1024;
    r->buckets = calloc(r->bucket_count, sizeof *r->buckets);
    if (r->buckets == NULL) {
        free(r);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the router");
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_rwlock_init(&r->topics_lock, NULL);
    keel_status st = keel_bus_create(r->opts.message_workers, &r->bus, err);
    if (st != KEEL_OK) {
        keel_router_destroy(r);
        return st;
    }
    *out = r;
    return KEEL_OK;
}

void keel_router_destroy(keel_router *r)
{
    if (r == NULL)
        return;
    for (module_slot *s = r->slots; s != NULL; s = s->next)
        keel_slot_mailbox_close(s);
    keel_bus_destroy(r->bus);
    while (r->slots != NULL) {
        module_slot *s = r->slots;
        r->slots = s->next;
        free(atomic_load(&s->current));
        free(s->versions);
        free(s->claimed);
        free(s->broken_reason);
        free(s->name);
        pthread_mutex_destroy(&s->lock);
        free(s);
    }
    for (size_t b = 0; b < r->bucket_count; b++)
        while (r->buckets[b] != NULL) {
            route *rt = r->buckets[b];
            r->buckets[b] = rt->next;
            free(rt->subscribers);
            free(rt->scene);
            free(rt->name);
            free(rt);
        }
    free(r->buckets);
    pthread_rwlock_destroy(&r->topics_lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static module_slot *slot_get(keel_router *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    module_slot *s = r->slots;
    while (s != NULL && strcmp(s->name, name) != 0)
        s = s->next;
    if (s == NULL && (s = calloc(1, sizeof *s)) != NULL) {
        if ((s->name = strdup(name)) == NULL) {
            free(s);
            s = NULL;
        } else {
            pthread_mutex_init(&s->lock, NULL);
            s->next = r->slots;
            r->slots = s;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return s;
}

/* --- snapshots ------------------------------------------------------------------ */

/* Publishes `next` (owned) as the slot's snapshot and frees the previous
 * one once no caller can still be reading it (see readers.h). Caller holds
 * slot->lock. */
static void slot_publish(module_slot *slot, snapshot *next)
{
    snapshot *old = atomic_exchange(&slot->current, next);
    keel_readers_synchronize();
    free(old);
}

static keel_status slot_set(module_slot *slot, keel_router_version *primary,
                            keel_router_version *gray, unsigned percent, int by_key)
{
    snapshot *next = NULL;
    if (primary != NULL || gray != NULL) {
        next = malloc(sizeof *next);
        if (next == NULL)
            return KEEL_ERR_NOMEM;
        *next = (snapshot){primary, gray, percent, by_key};
    }
    slot_publish(slot, next);
    return KEEL_OK;
}

/* --- versions ----------------------------------------------------------------- */

static keel_status identity_copy(keel_router_version *v, const keel_router_identity *id)
{
    size_t n = id->scene_count ? id->scene_count : 1;
    v->scenes = calloc(n, sizeof *v->scenes);
    if (v->scenes == NULL)
        return KEEL_ERR_NOMEM;
    v->scene_count = n;
    for (size_t i = 0; i < n; i++)
        if ((v->scenes[i] = strdup(id->scene_count ? id->scenes[i] : "default")) == NULL)
            return KEEL_ERR_NOMEM;
    if (id->grant_count > 0 && (v->grants = calloc(id->grant_count, sizeof *v->grants)) == NULL)
        return KEEL_ERR_NOMEM;
    v->grant_count = id->grant_count;
    for (size_t i = 0; i < id->grant_count; i++) {
        const keel_scene_grant *g = &id->grants[i];
        v->grants[i].scene = g->scene ? strdup(g->scene) : NULL;
        v->grants[i].service = g->service ? strdup(g->service) : NULL;
        v->grants[i].topic = g->topic ? strdup(g->topic) : NULL;
    }
    return KEEL_OK;
}

static void version_free(keel_router_version *v)
{
    for (size_t i = 0; i < v->scene_count; i++)
        free(v->scenes[i]);
    free(v->scenes);
    for (size_t i = 0; i < v->grant_count; i++) {
        free((char *)v->grants[i].scene);
        free((char *)v->grants[i].service);
        free((char *)v->grants[i].topic);
    }
    free(v->grants);
    service_list *sl = atomic_load(&v->services);
    if (sl != NULL)
        for (size_t i = 0; i < sl->count; i++) {
            keel_signature_destroy(sl->items[i].sig);
            free(sl->items[i].metrics);
            free(sl->items[i].properties);
        }
    free(sl);
    free(atomic_load(&v->subs));
    for (size_t i = 0; i < v->retired_count; i++)
        free(v->retired[i]);
    free(v->retired);
    for (size_t i = 0; i < v->ref_count; i++)
        free(v->refs[i]);
    free(v->refs);
    free(v->version);
    free(v->id);
    free(v);
}

keel_status keel_router_version_add(keel_router *r, const keel_router_identity *id, keel_ctx *ctx,
                                    keel_router_version **out, keel_error *err)
{
    *out = NULL;
    if (id == NULL || !name_ok(id->module) || !name_ok(id->version))
        return keel_error_set(err, KEEL_ERR_INVALID, "a router version needs a module name and version");
    module_slot *slot = slot_get(r, id->module);
    keel_router_version *v = calloc(1, sizeof *v);
    if (slot == NULL || v == NULL) {
        free(v);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    v->router = r;
    v->slot = slot;
    v->ctx = ctx;
    if ((v->version = strdup(id->version)) == NULL ||
        asprintf(&v->id, "%s@%s", id->module, id->version) < 0 || identity_copy(v, id) != KEEL_OK) {
        v->id = NULL;
        version_free(v);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_OK;
    for (size_t i = 0; i < slot->version_count; i++)
        if (strcmp(slot->versions[i]->version, id->version) == 0)
            st = keel_error_set(err, KEEL_ERR_EXISTS, "%s is already registered with the router", v->id);
    keel_router_version **grown = NULL;
    if (st == KEEL_OK &&
        (grown = realloc(slot->versions, (slot->version_count + 1) * sizeof *grown)) == NULL)
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    if (st == KEEL_OK) {
        slot->versions = grown;
        slot->versions[slot->version_count++] = v;
        atomic_store(&slot->live_versions, slot->version_count);
    }
    pthread_mutex_unlock(&slot->lock);
    if (st != KEEL_OK) {
        version_free(v);
        return st;
    }
    *out = v;
    return KEEL_OK;
}

static keel_status retire(keel_router_version *v, void *p)
{
    void **grown = realloc(v->retired, (v->retired_count + 1) * sizeof *grown);
    if (grown == NULL)
        return KEEL_ERR_NOMEM;
    v->retired = grown;
    v->retired[v->retired_count++] = p;
    return KEEL_OK;
}

/* Does any version of the slot other than `except` publish `rt`? */
static int slot_publishes(const module_slot *slot, const route *rt, const keel_router_version *except)
{
    for (size_t i = 0; i < slot->version_count; i++)
        if (slot->versions[i] != except && keel_version_service(slot->versions[i], rt) != NULL)
            return 1;
    return 0;
}

/* A service list of `count` items with room for an index over the slot's
 * claimed routes. Caller holds slot->lock, fills items, then calls
 * service_list_replace. */
static service_list *service_list_new(const module_slot *slot, size_t count)
{
    size_t items = sizeof(service_list) + count * sizeof(vservice);
    service_list *sl = malloc(items + slot->claimed_count * sizeof(vservice *));
    if (sl == NULL)
        return NULL;
    sl->count = count;
    sl->index_count = slot->claimed_count;
    sl->by_index = (const vservice **)((char *)sl + items);
    return sl;
}

static void service_list_index(service_list *sl)
{
    for (size_t i = 0; i < sl->index_count; i++)
        sl->by_index[i] = NULL;
    for (size_t i = 0; i < sl->count; i++) {
        int idx = atomic_load(&sl->items[i].route->owner_index);
        if (idx >= 0 && (size_t)idx < sl->index_count)
            sl->by_index[idx] = &sl->items[i];
    }
}

static keel_status service_list_replace(keel_router_version *v, service_list *next)
{
    service_list_index(next);
    service_list *old = atomic_exchange(&v->services, next);
    if (old != NULL && retire(v, old) != KEEL_OK) {
        /* Cannot defer the free; keep the old list alive rather than risk a
         * reader still walking it. */
        return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

/* Claims `rt` for `slot`: free routes, and routes kept by a module that has
 * no version left (a broken one), can be taken. */
static int claim_route(route *rt, module_slot *slot, module_slot **owner)
{
    for (;;) {
        *owner = atomic_load(&rt->owner);
        if (*owner == slot)
            break;
        if (*owner != NULL && atomic_load(&(*owner)->live_versions) > 0)
            return 0;
        if (atomic_compare_exchange_strong(&rt->owner, owner, slot))
            break;
    }
    /* The route's position in the slot's table is what lists index by. */
    size_t idx = 0;
    while (idx < slot->claimed_count && slot->claimed[idx] != rt)
        idx++;
    if (idx == slot->claimed_count) {
        route **grown = realloc(slot->claimed, (slot->claimed_count + 1) * sizeof *grown);
        if (grown != NULL) {
            slot->claimed = grown;
            slot->claimed[slot->claimed_count++] = rt;
        } else {
            idx = (size_t)-1; /* no index: calls fall back to the search */
        }
    }
    atomic_store(&rt->owner_index, idx == (size_t)-1 ? -1 : (int)idx);
    return 1;
}

keel_status keel_router_service_add(keel_router_version *v, const char *scene, const char *name,
                                    const char *signature, keel_fn fn, keel_error *err)
{
    if (!name_ok(scene) || !name_ok(name) || fn == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: a service needs a scene, a name and a function",
                              v->id);
    keel_signature *sig = NULL;
    keel_status st = keel_signature_parse(signature ? signature : "void()", &sig, err);
    if (st != KEEL_OK)
        return keel_error_prefix(err, "%s: service \"%s\" in scene \"%s\"", v->id, name, scene);
    route *rt = keel_route_intern(v->router, scene, name, 0);
    service_metrics *metrics = calloc(1, sizeof *metrics);
    if (rt == NULL || metrics == NULL) {
        keel_signature_destroy(sig);
        free(metrics);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    module_slot *owner = NULL;
    const service_list *sl = atomic_load(&v->services);
    size_t count = sl ? sl->count : 0;
    service_list *next = NULL;
    if (keel_version_service(v, rt) != NULL) {
        st = keel_error_set(err, KEEL_ERR_EXISTS, "%s already publishes \"%s\" in scene \"%s\"", v->id,
                            name, scene);
    } else if (!claim_route(rt, slot, &owner)) {
        st = keel_error_set(err, KEEL_ERR_EXISTS,
                            "%s: service \"%s\" in scene \"%s\" is already published by module %s",
                            v->id, name, scene, owner->name);
    } else if ((next = service_list_new(slot, count + 1)) == NULL) {
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    } else {
        if (count > 0)
            memcpy(next->items, sl->items, count * sizeof(vservice));
        next->items[count] = (vservice){rt, fn, sig, metrics, NULL};
        st = service_list_replace(v, next);
    }
    pthread_mutex_unlock(&slot->lock);
    if (st != KEEL_OK && next == NULL) {
        keel_signature_destroy(sig);
        free(metrics);
    }
    return st;
}

keel_status keel_router_service_remove(keel_router_version *v, const char *scene, const char *name)
{
    if (!name_ok(scene) || !name_ok(name))
        return KEEL_ERR_INVALID;
    route *rt = keel_route_find(v->router, scene, name, 0);
    if (rt == NULL)
        return KEEL_ERR_NOT_FOUND;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_ERR_NOT_FOUND;
    const service_list *sl = atomic_load(&v->services);
    const vservice *gone = keel_version_service(v, rt);
    if (gone != NULL) {
        service_list *next = service_list_new(slot, sl->count);
        st = KEEL_ERR_NOMEM;
        if (next != NULL && retire(v, gone->sig) == KEEL_OK && retire(v, gone->metrics) == KEEL_OK &&
            (gone->properties == NULL || retire(v, gone->properties) == KEEL_OK)) {
            next->count = 0;
            for (size_t i = 0; i < sl->count; i++)
                if (sl->items[i].route != rt)
                    next->items[next->count++] = sl->items[i];
            st = service_list_replace(v, next);
            if (!slot_publishes(slot, rt, v))
                atomic_store(&rt->owner, NULL);
        } else {
            free(next);
        }
    }
    pthread_mutex_unlock(&slot->lock);
    return st;
}

keel_status keel_router_service_set_properties(keel_router_version *v, const char *scene,
                                               const char *name, const char *json)
{
    route *rt = scene && name ? keel_route_find(v->router, scene, name, 0) : NULL;
    if (rt == NULL)
        return KEEL_ERR_NOT_FOUND;
    char *copy = json ? strdup(json) : NULL;
    if (json != NULL && copy == NULL)
        return KEEL_ERR_NOMEM;
    pthread_mutex_lock(&v->slot->lock);
    vservice *s = (vservice *)keel_version_service(v, rt);
    if (s != NULL) {
        free(s->properties);
        s->properties = copy;
    }
    pthread_mutex_unlock(&v->slot->lock);
    if (s == NULL) {
        free(copy);
        return KEEL_ERR_NOT_FOUND;
    }
    return KEEL_OK;
}

size_t keel_router_services(keel_router *r, void (*fn)(const keel_service_info *info, void *user), void *user)
{
    pthread_mutex_lock(&r->lock);
    module_slot *slots = r->slots;
    pthread_mutex_unlock(&r->lock);
    size_t n = 0;
    for (module_slot *slot = slots; slot != NULL; slot = slot->next) {
        pthread_mutex_lock(&slot->lock);
        const snapshot *cur = atomic_load(&slot->current);
        for (size_t i = 0; i < slot->version_count; i++) {
            const keel_router_version *v = slot->versions[i];
            int routed = cur == NULL ? 0 : cur->primary == v ? 1 : cur->gray == v ? 2 : 0;
            const service_list *sl = atomic_load(&v->services);
            for (size_t k = 0; sl != NULL && k < sl->count; k++) {
                const vservice *s = &sl->items[k];
                keel_service_info info = {slot->name, v->version, s->route->scene, s->route->name,
                                          keel_signature_text(s->sig), s->properties, routed,
                                          routed == 2 ? cur->percent : routed == 1 && cur->gray ? 100 - cur->percent : routed ? 100 : 0};
                fn(&info, user);
                n++;
            }
        }
        pthread_mutex_unlock(&slot->lock);
    }
    return n;
}

/* --- subscriptions ------------------------------------------------------------------- */

static const vsubscription *version_subscription(const keel_router_version *v, const route *topic)
{
    const subscription_list *sl = atomic_load(&v->subs);
    for (size_t i = 0; sl != NULL && i < sl->count; i++)
        if (sl->items[i].route == topic)
            return &sl->items[i];
    return NULL;
}

static int slot_subscribes(const module_slot *slot, const route *topic, const keel_router_version *except)
{
    for (size_t i = 0; i < slot->version_count; i++)
        if (slot->versions[i] != except && version_subscription(slot->versions[i], topic) != NULL)
            return 1;
    return 0;
}

keel_status keel_router_subscribe(keel_router_version *v, const char *scene, const char *topic,
                                  keel_message_fn fn, void *user, keel_error *err)
{
    if (!name_ok(scene) || !name_ok(topic) || fn == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: a subscription needs a scene, a topic and a handler",
                              v->id);
    route *rt = keel_route_intern(v->router, scene, topic, 1);
    if (rt == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_OK;
    const subscription_list *sl = atomic_load(&v->subs);
    size_t count = sl ? sl->count : 0;
    subscription_list *next = NULL;
    if (version_subscription(v, rt) != NULL)
        st = keel_error_set(err, KEEL_ERR_EXISTS, "%s already subscribes to \"%s\" in scene \"%s\"", v->id,
                            topic, scene);
    else if ((next = malloc(sizeof *next + (count + 1) * sizeof(vsubscription))) == NULL)
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    else
        st = keel_topic_add_subscriber(v->router, rt, slot, err);
    if (st == KEEL_OK) {
        next->count = count + 1;
        if (count > 0)
            memcpy(next->items, sl->items, count * sizeof(vsubscription));
        next->items[count] = (vsubscription){rt, fn, user};
        subscription_list *old = atomic_exchange(&v->subs, next);
        if (old != NULL && retire(v, old) != KEEL_OK)
            st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    } else {
        free(next);
    }
    pthread_mutex_unlock(&slot->lock);
    return st;
}

keel_status keel_router_unsubscribe(keel_router_version *v, const char *scene, const char *topic)
{
    if (!name_ok(scene) || !name_ok(topic))
        return KEEL_ERR_INVALID;
    route *rt = keel_route_find(v->router, scene, topic, 1);
    if (rt == NULL)
        return KEEL_ERR_NOT_FOUND;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_ERR_NOT_FOUND;
    const subscription_list *sl = atomic_load(&v->subs);
    if (version_subscription(v, rt) != NULL) {
        subscription_list *next = malloc(sizeof *next + sl->count * sizeof(vsubscription));
        st = KEEL_ERR_NOMEM;
        if (next != NULL) {
            next->count = 0;
            for (size_t i = 0; i < sl->count; i++)
                if (sl->items[i].route != rt)
                    next->items[next->count++] = sl->items[i];
            subscription_list *old = atomic_exchange(&v->subs, next);
            st = retire(v, old);
            if (!slot_subscribes(slot, rt, v))
                keel_topic_remove_subscriber(v->router, rt, slot);
        }
    }
    pthread_mutex_unlock(&slot->lock);
    return st;
}

/* --- switching ---------------------------------------------------------------------- */

static int slot_has(const module_slot *slot, const keel_router_version *v)
{
    for (size_t i = 0; i < slot->version_count; i++)
        if (slot->versions[i] == v)
            return 1;
    return 0;
}

keel_status keel_router_activate(keel_router *r, keel_router_version *v, keel_error *err)
{
    (void)r;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_OK;
    const snapshot *cur = atomic_load(&slot->current);
    if (v->draining) {
        st = keel_error_set(err, KEEL_ERR_STATE, "%s is being removed; it cannot be activated", v->id);
    } else {
        keel_router_version *was = cur ? cur->primary : NULL;
        st = slot_set(slot, v, NULL, 0, 0);
        if (st == KEEL_OK && was != NULL && was != v)
            slot->previous = was;
        if (st == KEEL_OK)
            atomic_store(&slot->broken, 0);
        else
            keel_error_set(err, st, "out of memory");
    }
    pthread_mutex_unlock(&slot->lock);
    return st;
}

/* Removes v from the slot's snapshot. Caller holds slot->lock. */
static keel_status slot_unroute(module_slot *slot, keel_router_version *v)
{
    const snapshot *cur = atomic_load(&slot->current);
    if (cur == NULL || (cur->primary != v && cur->gray != v))
        return KEEL_OK;
    keel_router_version *primary = cur->primary == v ? NULL : cur->primary;
    keel_router_version *gray = cur->gray == v ? NULL : cur->gray;
    if (primary == NULL) {
        primary = gray;
        gray = NULL;
    }
    if (cur->primary == v && primary != NULL)
        slot->previous = v;
    return slot_set(slot, primary, gray, gray ? cur->percent : 0, cur->by_key);
}

keel_status keel_router_deactivate(keel_router *r, keel_router_version *v, keel_error *err)
{
    (void)r;
    pthread_mutex_lock(&v->slot->lock);
    keel_status st = slot_unroute(v->slot, v);
    pthread_mutex_unlock(&v->slot->lock);
    if (st != KEEL_OK)
        keel_error_set(err, st, "out of memory");
    return st;
}

keel_status keel_router_rollback(keel_router *r, const char *module, keel_router_version **now,
                                 keel_error *err)
{
    module_slot *slot = slot_get(r, module);
    if (slot == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_OK;
    keel_router_version *target = slot->previous;
    const snapshot *cur = atomic_load(&slot->current);
    if (target == NULL || !slot_has(slot, target) || target->draining) {
        st = keel_error_set(err, KEEL_ERR_STATE,
                            "module %s has no previous version to roll back to (it must still be installed)",
                            module);
    } else {
        keel_router_version *was = cur ? cur->primary : NULL;
        st = slot_set(slot, target, NULL, 0, 0);
        if (st == KEEL_OK)
            slot->previous = was;
        else
            keel_error_set(err, st, "out of memory");
    }
    if (now != NULL)
        *now = st == KEEL_OK ? target : (cur ? cur->primary : NULL);
    pthread_mutex_unlock(&slot->lock);
    return st;
}

keel_status keel_router_route(keel_router *r, keel_router_version *primary, keel_router_version *gray,
                              unsigned percent, int by_key, keel_error *err)
{
    (void)r;
    if (percent > 100)
        return keel_error_set(err, KEEL_ERR_INVALID, "gray weight %u%% is over 100%%", percent);
    if (gray != NULL && gray->slot != primary->slot)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s and %s are not versions of one module",
                              primary->id, gray->id);
    if (gray == primary)
        return keel_error_set(err, KEEL_ERR_INVALID, "gray routing needs two different versions");
    module_slot *slot = primary->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = KEEL_OK;
    if (primary->draining || (gray != NULL && gray->draining))
        st = keel_error_set(err, KEEL_ERR_STATE, "%s is being removed", primary->draining ? primary->id : gray->id);
    else if ((st = slot_set(slot, primary, gray, gray ? percent : 0, by_key)) != KEEL_OK)
        keel_error_set(err, st, "out of memory");
    pthread_mutex_unlock(&slot->lock);
    return st;
}

void keel_router_mark_broken(keel_router *r, keel_router_version *v, const char *reason)
{
    (void)r;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    free(slot->broken_reason);
    slot->broken_reason = strdup(reason ? reason : "");
    atomic_store(&slot->broken, 1);
    pthread_mutex_unlock(&slot->lock);
}

/* --- removal ------------------------------------------------------------------------ */

static int wait_drained(const keel_router_version *v, unsigned timeout_ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned spins = 0; keel_readers_count(v) != 0; spins++) {
        if (spins < 64)
            continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= (long)timeout_ms)
            return 0;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

/* Drops everything v publishes and subscribes. Caller holds slot->lock. */
static void version_unpublish(module_slot *slot, keel_router_version *v)
{
    /* A broken module keeps its routes, so that its callers hear "broken"
     * rather than "not found", until another module claims them. */
    int keep = atomic_load(&slot->broken);
    const service_list *sl = atomic_load(&v->services);
    for (size_t i = 0; !keep && sl != NULL && i < sl->count; i++)
        if (!slot_publishes(slot, sl->items[i].route, v))
            atomic_store(&sl->items[i].route->owner, NULL);
    const subscription_list *subs = atomic_load(&v->subs);
    for (size_t i = 0; subs != NULL && i < subs->count; i++)
        if (!slot_subscribes(slot, subs->items[i].route, v))
            keel_topic_remove_subscriber(v->router, subs->items[i].route, slot);
}

keel_status keel_router_version_drain(keel_router *r, keel_router_version *v, unsigned timeout_ms,
                                      keel_error *err)
{
    (void)r;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    keel_status st = slot_unroute(slot, v);
    if (st == KEEL_OK && !v->draining) {
        v->draining = 1;
        atomic_fetch_add(&slot->draining, 1);
    }
    pthread_mutex_unlock(&slot->lock);
    if (st != KEEL_OK)
        return keel_error_set(err, st, "out of memory");
    if (!wait_drained(v, timeout_ms)) {
        long left = keel_readers_count(v);
        return keel_error_set(err, KEEL_ERR_TIMEOUT,
                              "%s: %ld call%s still inside after %u ms; it stays loaded and draining "
                              "(remove it again once they return)",
                              v->id, left, left == 1 ? "" : "s", timeout_ms);
    }
    return KEEL_OK;
}

keel_status keel_router_version_remove(keel_router *r, keel_router_version *v, unsigned timeout_ms,
                                       keel_error *err)
{
    keel_status st = keel_router_version_drain(r, v, timeout_ms, err);
    if (st != KEEL_OK)
        return st;
    module_slot *slot = v->slot;
    pthread_mutex_lock(&slot->lock);
    version_unpublish(slot, v);
    for (size_t i = 0; i < slot->version_count; i++)
        if (slot->versions[i] == v) {
            slot->versions[i] = slot->versions[--slot->version_count];
            break;
        }
    atomic_store(&slot->live_versions, slot->version_count);
    if (slot->previous == v)
        slot->previous = NULL;
    atomic_fetch_sub(&slot->draining, 1);
    pthread_mutex_unlock(&slot->lock);
    version_free(v);
    return KEEL_OK;
}

long keel_router_version_inflight(const keel_router_version *v)
{
    return keel_readers_count(v);
}

const char *keel_router_version_id(const keel_router_version *v)
{
    return v->id;
}

/* --- scenes ------------------------------------------------------------------------- */

const char *keel_default_scene(const keel_router_version *caller)
{
    return caller != NULL && caller->scene_count > 0 ? caller->scenes[0] : "default";
}

static int grant_matches(const char *granted, const char *wanted)
{
    return granted != NULL && wanted != NULL && (strcmp(granted, "*") == 0 || strcmp(granted, wanted) == 0);
}

keel_status keel_scene_check(const keel_router_version *caller, const char *scene, const char *service,
                             const char *topic, keel_error *err)
{
    if (caller == NULL)
        return KEEL_OK;
    for (size_t i = 0; i < caller->scene_count; i++)
        if (strcmp(caller->scenes[i], scene) == 0)
            return KEEL_OK;
    for (size_t i = 0; i < caller->grant_count; i++) {
        const keel_scene_grant *g = &caller->grants[i];
        if (strcmp(g->scene, scene) == 0 &&
            (grant_matches(g->service, service) || grant_matches(g->topic, topic)))
            return KEEL_OK;
    }
    return keel_error_set(err, KEEL_ERR_DENIED,
                          "%s may not %s \"%s\" in scene \"%s\": its scenes are %s%s; declare "
                          "{\"scene\": \"%s\", \"%s\": \"%s\"} under \"calls\" in its manifest",
                          caller->id, service ? "call" : "publish to", service ? service : topic, scene,
                          caller->scenes[0], caller->scene_count > 1 ? " and others" : "", scene,
                          service ? "service" : "topic", service ? service : topic);
}

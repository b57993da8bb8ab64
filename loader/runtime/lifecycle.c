/*
 * Starting, switching, stopping and unloading instances.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keel/log.h>
#include "loader_internal.h"
#include "mapping_check.h"

static void record_leak(keel_loader *l, keel_instance *inst, const char *leak)
{
    keel_leak_append(&l->leaks, "%s: %s", inst->id, leak);
    keel_log(KEEL_LOG_ERROR, inst->id, "unload incomplete: %s", leak);
}

/* Drops the instance's router version. Nothing routes to it by now, so
 * this only waits for deliveries that are finishing. */
static void instance_unroute(keel_loader *l, keel_instance *inst)
{
    if (inst->route == NULL)
        return;
    keel_error err = {0};
    if (keel_router_version_remove(l->router, inst->route, l->opts.drain_timeout_ms, &err) == KEEL_OK)
        inst->route = NULL;
    else
        keel_log(KEEL_LOG_ERROR, inst->id, "%s", err.message);
}

int keel_instance_unload(keel_loader *l, keel_instance *inst)
{
    char *leak = NULL;
    instance_unroute(l, inst);
    if (inst->route != NULL) {
        /* Something is still inside: unloading now would pull code from
         * under it. Keep everything and report. */
        keel_leak_append(&leak, "calls or deliveries still inside; left loaded");
        record_leak(l, inst, leak);
        free(leak);
        return -1;
    }
    keel_instance_unbind_starters(inst);
    if (inst->handle != NULL) {
        dlclose(inst->handle);
        inst->handle = NULL;
    }
    inst->def = NULL;
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s/", inst->dir ? inst->dir : "");
    if (inst->dir != NULL && keel_path_is_mapped(prefix)) {
        keel_leak_append(&leak, "%s stays mapped (a NODELETE dependency, a live thread-local "
                         "destructor, or a thread still inside it)", inst->library_path);
        if (inst->group != NULL)
            keel_ns_group_taint(inst->group);
    }
    if (inst->group != NULL) {
        char *group_leak = keel_ns_group_detach(inst->group, inst->name, inst->libs, inst->lib_count);
        if (group_leak != NULL)
            keel_leak_append(&leak, "%s", group_leak);
        free(group_leak);
        inst->group = NULL;
    }
    if (leak == NULL) {
        if (inst->dir != NULL)
            keel_remove_tree(inst->dir);
        free(inst->dir);
        inst->dir = NULL;
        return 0;
    }
    record_leak(l, inst, leak);
    free(leak);
    return -1;
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static keel_status call_start(keel_instance *inst)
{
    return inst->def->start(&inst->ctx, &keel_module_api_table);
}

static keel_status call_stop(keel_instance *inst)
{
    if (inst->def->stop != NULL)
        inst->def->stop(&inst->ctx, &keel_module_api_table);
    return KEEL_OK;
}

/* After a failed start, outside the loader lock: no new tasks, let the
 * queued ones finish, drop its registrations. Returns the tasks left. */
static unsigned start_failed_quiesce(keel_loader *l, keel_instance *inst)
{
    atomic_store(&inst->stopping, 1);
    unsigned left = keel_task_group_close_and_wait(&inst->tasks, l->opts.stop_timeout_ms);
    keel_registrations_clear(inst);
    return left;
}

/* Then, under the lock: unload it; the instance stays as a BROKEN record. */
static void start_failed(keel_loader *l, keel_instance *inst, int unloadable, unsigned tasks_left,
                         const char *why)
{
    if (inst->route != NULL)
        keel_router_mark_broken(l->router, inst->route, why);
    if (unloadable && tasks_left == 0) {
        int leaked = keel_instance_unload(l, inst);
        keel_instance_record(inst, KEEL_STATE_BROKEN, "%s; unloaded%s", why,
                             leaked ? " with leaks" : "");
    } else {
        const char *kept = tasks_left ? "its tasks did not finish" : "a thread is still inside it";
        keel_leak_append(&l->leaks, "%s: %s; left loaded because %s", inst->id, why, kept);
        keel_instance_record(inst, KEEL_STATE_BROKEN, "%s; left loaded because %s", why, kept);
    }
}

static int is_started(const keel_instance *inst)
{
    return inst->state == KEEL_STATE_ACTIVE || inst->state == KEEL_STATE_INACTIVE;
}

static keel_status require_started(const keel_instance *inst, const char *what, keel_error *err)
{
    if (inst != NULL && is_started(inst) && inst->route != NULL)
        return KEEL_OK;
    if (inst == NULL)
        return keel_error_set(err, KEEL_ERR_NOT_FOUND, "no such instance to %s", what);
    return keel_error_set(err, KEEL_ERR_STATE, "%s is %s; only a started instance can be %s", inst->id,
                          keel_instance_state_name(inst->state), what);
}

/* Brings the loader's ACTIVE/INACTIVE states of module `name` in line with
 * what the router routes now: `routed` (and `also`, for gray) are active;
 * `why` is the note of those that become active, the others note which
 * version took over. */
static void record_routing(keel_loader *l, const char *name, const keel_instance *routed,
                           const keel_instance *also, const char *why)
{
    for (size_t i = 0; i < l->instance_count; i++) {
        keel_instance *other = l->instances[i];
        if (strcmp(other->name, name) != 0 || !is_started(other))
            continue;
        int active = other == routed || other == also;
        if ((other->state == KEEL_STATE_ACTIVE) == active)
            continue;
        if (active)
            keel_instance_record(other, KEEL_STATE_ACTIVE, "%s", why);
        else
            keel_instance_record(other, KEEL_STATE_INACTIVE, "%s: %s now takes the calls", why,
                                 routed ? routed->id : "no version");
    }
}

static keel_status activate_locked(keel_loader *l, keel_instance *inst, keel_error *err)
{
    keel_status st = keel_router_activate(l->router, inst->route, err);
    if (st == KEEL_OK)
        record_routing(l, inst->name, inst, NULL, "activated");
    return st;
}

/* A start hook must register what the manifest declares without a symbol;
 * the manifest's properties are attached to each. Non-zero when one is
 * missing (the reason in why). */
static int declared_services_apply(keel_instance *inst, char *why, size_t size)
{
    const keel_manifest *m = inst->manifest;
    for (size_t i = 0; i < keel_manifest_service_count(m); i++) {
        const keel_manifest_service *svc = keel_manifest_service_at(m, i);
        int found = 0;
        keel_registration r;
        for (size_t k = 0; !found && keel_instance_service_at(inst, k, &r) == 0; k++)
            found = strcmp(r.scene, svc->scene) == 0 && strcmp(r.name, svc->name) == 0;
        if (!found) {
            snprintf(why, size, "the manifest declares service \"%s\" in scene \"%s\" but the start "
                     "hook did not register it", svc->name, svc->scene);
            return 1;
        }
        if (svc->properties != NULL)
            keel_router_service_set_properties(inst->route, svc->scene, svc->name, svc->properties);
    }
    return 0;
}

/* Claims `inst` for a start or an uninstall; KEEL_ERR_BUSY when another is
 * running. Caller holds l->lock. */
static keel_status claim(keel_instance *inst, keel_error *err)
{
    if (inst->busy)
        return keel_error_set(err, KEEL_ERR_BUSY, "%s is %s; retry when that finishes", inst->id,
                              inst->state == KEEL_STATE_STARTING ? "starting" : "being uninstalled");
    inst->busy = 1;
    return KEEL_OK;
}

/* The start hook runs without the loader lock, so that other modules can
 * be installed, switched and called meanwhile; `busy` keeps this instance
 * to itself. */
keel_status keel_instance_start(keel_instance *inst, int activate, keel_error *err)
{
    keel_loader *l = inst->loader;
    pthread_mutex_lock(&l->lock);
    keel_status st = claim(inst, err);
    if (st == KEEL_OK && inst->state != KEEL_STATE_INSTALLED) {
        inst->busy = 0;
        st = keel_error_set(err, KEEL_ERR_STATE, "%s is %s; only an installed instance can start",
                            inst->id, keel_instance_state_name(inst->state));
    }
    if (st != KEEL_OK) {
        pthread_mutex_unlock(&l->lock);
        return st;
    }
    unsigned timeout = (unsigned)keel_manifest_start_timeout_ms(inst->manifest);
    keel_instance_record(inst, KEEL_STATE_STARTING, "start hook, time limit %u ms", timeout);
    pthread_mutex_unlock(&l->lock);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    keel_status result = KEEL_OK;
    st = keel_hook_run(call_start, inst, timeout, &result);
    char why[256];
    if (st == KEEL_OK && result == KEEL_OK && !declared_services_apply(inst, why, sizeof why)) {
        pthread_mutex_lock(&l->lock);
        inst->started = 1;
        keel_instance_record(inst, KEEL_STATE_INACTIVE, "started in %.2f ms", elapsed_ms(&t0));
        keel_status act = activate ? activate_locked(l, inst, err) : KEEL_OK;
        inst->busy = 0;
        pthread_mutex_unlock(&l->lock);
        return act;
    }
    if (st == KEEL_OK && result == KEEL_OK) {
        st = KEEL_ERR_START; /* a declared service is missing: why is set */
    } else if (st == KEEL_OK) {
        snprintf(why, sizeof why, "start hook failed with %s (%d)", keel_status_name(result), result);
        st = KEEL_ERR_START;
    } else if (st == KEEL_ERR_TIMEOUT || st == KEEL_ERR_UNSAFE) {
        snprintf(why, sizeof why, "start hook did not return within %u ms and was cancelled", timeout);
    } else {
        snprintf(why, sizeof why, "start hook could not be run (%s)", keel_status_name(st));
    }
    unsigned left = start_failed_quiesce(l, inst);
    pthread_mutex_lock(&l->lock);
    start_failed(l, inst, st != KEEL_ERR_UNSAFE, left, why);
    inst->busy = 0;
    pthread_mutex_unlock(&l->lock);
    return keel_error_set(err, st, "%s: %s", inst->id, why);
}

keel_status keel_instance_set_active(keel_instance *inst, int active, keel_error *err)
{
    keel_loader *l = inst->loader;
    pthread_mutex_lock(&l->lock);
    keel_status st = require_started(inst, active ? "activated" : "deactivated", err);
    if (st == KEEL_OK && active)
        st = activate_locked(l, inst, err);
    else if (st == KEEL_OK && (st = keel_router_deactivate(l->router, inst->route, err)) == KEEL_OK &&
             inst->state == KEEL_STATE_ACTIVE)
        keel_instance_record(inst, KEEL_STATE_INACTIVE, "deactivated");
    pthread_mutex_unlock(&l->lock);
    return st;
}

keel_status keel_loader_switch(keel_loader *l, const char *name, const char *version, keel_error *err)
{
    keel_instance *inst = keel_loader_find(l, name, version);
    if (inst == NULL)
        return keel_error_set(err, KEEL_ERR_NOT_FOUND, "%s@%s is not installed", name, version);
    return keel_instance_set_active(inst, 1, err);
}

static keel_instance *instance_of_route(keel_loader *l, const keel_router_version *v)
{
    for (size_t i = 0; v != NULL && i < l->instance_count; i++)
        if (l->instances[i]->route == v)
            return l->instances[i];
    return NULL;
}

keel_status keel_loader_rollback(keel_loader *l, const char *name, keel_error *err)
{
    pthread_mutex_lock(&l->lock);
    keel_router_version *now = NULL;
    keel_status st = keel_router_rollback(l->router, name, &now, err);
    if (st == KEEL_OK)
        record_routing(l, name, instance_of_route(l, now), NULL, "rolled back");
    pthread_mutex_unlock(&l->lock);
    return st;
}

keel_status keel_loader_route(keel_loader *l, const char *name, const char *primary_version,
                              const char *gray_version, unsigned percent, int by_key, keel_error *err)
{
    keel_instance *primary = keel_loader_find(l, name, primary_version);
    keel_instance *gray = gray_version ? keel_loader_find(l, name, gray_version) : NULL;
    if (primary == NULL || (gray_version != NULL && gray == NULL))
        return keel_error_set(err, KEEL_ERR_NOT_FOUND, "%s@%s is not installed", name,
                              primary == NULL ? primary_version : gray_version);
    pthread_mutex_lock(&l->lock);
    keel_status st = require_started(primary, "routed", err);
    if (st == KEEL_OK && gray != NULL)
        st = require_started(gray, "routed", err);
    if (st == KEEL_OK)
        st = keel_router_route(l->router, primary->route, gray ? gray->route : NULL, percent, by_key, err);
    if (st == KEEL_OK) {
        char why[64];
        snprintf(why, sizeof why, "gray routing %u%% to %s", gray ? percent : 0,
                 gray ? gray->version : primary->version);
        record_routing(l, name, primary, gray && percent > 0 ? gray : NULL, why);
    }
    pthread_mutex_unlock(&l->lock);
    return st;
}

keel_router *keel_loader_router(keel_loader *l)
{
    return l->router;
}

keel_router_version *keel_instance_route(const keel_instance *inst)
{
    return inst->route;
}

/* Stops a started instance: no new tasks, wait for the pending ones, run
 * the stop hook under the stop deadline. Returns 0 when it is safe to
 * unload. */
static int instance_stop(keel_loader *l, keel_instance *inst, char *why, size_t why_size)
{
    keel_instance_record(inst, KEEL_STATE_STOPPING, "draining tasks");
    atomic_store(&inst->stopping, 1);
    unsigned left = keel_task_group_close_and_wait(&inst->tasks, l->opts.stop_timeout_ms);
    if (left > 0) {
        snprintf(why, why_size, "%u task(s) still running after %u ms", left, l->opts.stop_timeout_ms);
        return -1;
    }
    keel_status result;
    keel_status st = keel_hook_run(call_stop, inst, l->opts.stop_timeout_ms, &result);
    keel_registrations_clear(inst);
    if (st == KEEL_ERR_UNSAFE) {
        snprintf(why, why_size, "stop hook did not return within %u ms and could not be cancelled",
                 l->opts.stop_timeout_ms);
        return -1;
    }
    if (st == KEEL_ERR_TIMEOUT)
        keel_log(KEEL_LOG_WARN, inst->id, "stop hook cancelled after %u ms", l->opts.stop_timeout_ms);
    return 0;
}

static void remove_instance(keel_loader *l, keel_instance *inst)
{
    for (size_t i = 0; i < l->instance_count; i++)
        if (l->instances[i] == inst) {
            memmove(&l->instances[i], &l->instances[i + 1],
                    (l->instance_count - i - 1) * sizeof *l->instances);
            l->instance_count--;
            return;
        }
}

/* Draining and stopping run without the loader lock (they wait for calls,
 * tasks and the stop hook); unloading takes it again. */
keel_status keel_loader_uninstall(keel_loader *l, keel_instance *inst, keel_error *err)
{
    pthread_mutex_lock(&l->lock);
    keel_status st = claim(inst, err);
    if (st != KEEL_OK) {
        pthread_mutex_unlock(&l->lock);
        return st;
    }
    int routed = inst->route != NULL && (is_started(inst) || inst->state == KEEL_STATE_STOPPING);
    int started = is_started(inst) || (inst->state == KEEL_STATE_STOPPING && inst->started);
    if (is_started(inst))
        keel_instance_record(inst, KEEL_STATE_STOPPING, "draining calls");
    pthread_mutex_unlock(&l->lock);

    if (routed) {
        keel_error drain = {0};
        if (keel_router_version_drain(l->router, inst->route, l->opts.drain_timeout_ms, &drain) != KEEL_OK) {
            keel_instance_record(inst, KEEL_STATE_STOPPING, "%s", drain.message);
            pthread_mutex_lock(&l->lock);
            inst->busy = 0;
            pthread_mutex_unlock(&l->lock);
            if (err != NULL)
                *err = drain;
            return drain.status;
        }
    }
    char why[256] = "";
    int safe = !started || instance_stop(l, inst, why, sizeof why) == 0;

    pthread_mutex_lock(&l->lock);
    if (!safe) {
        keel_leak_append(&l->leaks, "%s: %s; left loaded", inst->id, why);
        st = keel_error_set(err, KEEL_ERR_LEAK, "%s: %s; it stays loaded and is reported as a leak",
                            inst->id, why);
    } else if (inst->handle != NULL || inst->group != NULL || inst->dir != NULL) {
        if (keel_instance_unload(l, inst) != 0)
            st = keel_error_set(err, KEEL_ERR_LEAK, "%s: unloaded, but something stayed mapped "
                                "(see the leak report)", inst->id);
    }
    keel_instance_record(inst, KEEL_STATE_UNINSTALLED, "%s", st == KEEL_OK ? "" : "with leaks");
    remove_instance(l, inst);
    if (safe)
        keel_instance_free(inst);
    /* An instance that could not be stopped stays allocated: a thread may
     * still use its ctx. */
    pthread_mutex_unlock(&l->lock);
    return st;
}

keel_instance *keel_loader_find(keel_loader *l, const char *name, const char *version)
{
    pthread_mutex_lock(&l->lock);
    keel_instance *found = NULL;
    for (size_t i = 0; i < l->instance_count && found == NULL; i++)
        if (strcmp(l->instances[i]->name, name) == 0 &&
            (version == NULL || strcmp(l->instances[i]->version, version) == 0))
            found = l->instances[i];
    pthread_mutex_unlock(&l->lock);
    return found;
}

size_t keel_loader_list(keel_loader *l, keel_instance **out, size_t max)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->instance_count;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = l->instances[i];
    pthread_mutex_unlock(&l->lock);
    return n;
}

size_t keel_loader_namespace_count(keel_loader *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = keel_ns_manager_count(l->namespaces);
    pthread_mutex_unlock(&l->lock);
    return n;
}

char *keel_loader_leaks(keel_loader *l)
{
    pthread_mutex_lock(&l->lock);
    char *copy = l->leaks ? strdup(l->leaks) : NULL;
    pthread_mutex_unlock(&l->lock);
    return copy;
}

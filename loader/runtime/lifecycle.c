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

int keel_instance_unload(keel_loader *l, keel_instance *inst)
{
    char *leak = NULL;
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
    return inst->def->start(&inst->ctx, &keel_module_api_v1);
}

static keel_status call_stop(keel_instance *inst)
{
    if (inst->def->stop != NULL)
        inst->def->stop(&inst->ctx, &keel_module_api_v1);
    return KEEL_OK;
}

/* After a failed start: let its tasks finish, drop its registrations and
 * unload it; the instance stays as a BROKEN record. */
static void start_failed(keel_loader *l, keel_instance *inst, int unloadable, const char *why)
{
    atomic_store(&inst->stopping, 1);
    unsigned left = keel_task_group_close_and_wait(&inst->tasks, l->opts.stop_timeout_ms);
    keel_registrations_clear(inst);
    if (unloadable && left == 0) {
        int leaked = keel_instance_unload(l, inst);
        keel_instance_record(inst, KEEL_STATE_BROKEN, "%s; unloaded%s", why,
                             leaked ? " with leaks" : "");
    } else {
        keel_leak_append(&l->leaks, "%s: %s; left loaded because %s", inst->id, why,
                         left ? "its tasks did not finish" : "a thread is still inside it");
        keel_instance_record(inst, KEEL_STATE_BROKEN, "%s; left loaded because %s", why,
                             left ? "its tasks did not finish" : "a thread is still inside it");
    }
}

keel_status keel_instance_start(keel_instance *inst, int activate, keel_error *err)
{
    keel_loader *l = inst->loader;
    pthread_mutex_lock(&l->lock);
    if (inst->state != KEEL_STATE_INSTALLED) {
        pthread_mutex_unlock(&l->lock);
        return keel_error_set(err, KEEL_ERR_STATE, "%s is %s; only an installed instance can start",
                              inst->id, keel_instance_state_name(inst->state));
    }
    unsigned timeout = (unsigned)keel_manifest_start_timeout_ms(inst->manifest);
    keel_instance_record(inst, KEEL_STATE_STARTING, "start hook, time limit %u ms", timeout);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    keel_status result = KEEL_OK;
    keel_status st = keel_hook_run(call_start, inst, timeout, &result);
    char why[256];
    if (st == KEEL_OK && result == KEEL_OK) {
        inst->started = 1;
        keel_instance_record(inst, activate ? KEEL_STATE_ACTIVE : KEEL_STATE_INACTIVE,
                             "started in %.2f ms", elapsed_ms(&t0));
        pthread_mutex_unlock(&l->lock);
        return KEEL_OK;
    }
    if (st == KEEL_OK) {
        snprintf(why, sizeof why, "start hook failed with %s (%d)", keel_status_name(result), result);
        st = KEEL_ERR_START;
    } else if (st == KEEL_ERR_TIMEOUT || st == KEEL_ERR_UNSAFE) {
        snprintf(why, sizeof why, "start hook did not return within %u ms and was cancelled", timeout);
    } else {
        snprintf(why, sizeof why, "start hook could not be run (%s)", keel_status_name(st));
    }
    start_failed(l, inst, st != KEEL_ERR_UNSAFE, why);
    pthread_mutex_unlock(&l->lock);
    return keel_error_set(err, st, "%s: %s", inst->id, why);
}

keel_status keel_instance_set_active(keel_instance *inst, int active, keel_error *err)
{
    keel_loader *l = inst->loader;
    pthread_mutex_lock(&l->lock);
    keel_status st = KEEL_OK;
    if (inst->state != KEEL_STATE_ACTIVE && inst->state != KEEL_STATE_INACTIVE)
        st = keel_error_set(err, KEEL_ERR_STATE, "%s is %s; only a started instance can be %s",
                            inst->id, keel_instance_state_name(inst->state),
                            active ? "activated" : "deactivated");
    else if ((inst->state == KEEL_STATE_ACTIVE) != (active != 0))
        keel_instance_record(inst, active ? KEEL_STATE_ACTIVE : KEEL_STATE_INACTIVE, "%s",
                             active ? "activated" : "deactivated");
    pthread_mutex_unlock(&l->lock);
    return st;
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

keel_status keel_loader_uninstall(keel_loader *l, keel_instance *inst, keel_error *err)
{
    pthread_mutex_lock(&l->lock);
    keel_status st = KEEL_OK;
    char why[256] = "";
    int safe = 1;
    if (inst->state == KEEL_STATE_ACTIVE || inst->state == KEEL_STATE_INACTIVE)
        safe = instance_stop(l, inst, why, sizeof why) == 0;
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

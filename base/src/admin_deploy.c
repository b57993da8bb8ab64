/*
 * The admin operations that change what is deployed: install, uninstall,
 * switch, rollback, route. Each claims its module for the whole operation
 * (a second one gets "busy") and records the outcome in state.json before
 * it answers.
 */
#include "admin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/log.h>

#define ADMIN_VERSIONS_MAX 64

/* ---- helpers ---------------------------------------------------------- */

/* Copies up to `max` versions of module `name` that the loader holds into
 * `out` (malloc'd strings, caller frees); returns how many. */
static size_t deploy_versions(keel_base *b, const char *name, char **out, size_t max)
{
    keel_base_instances_read(b);
    keel_instance **list = NULL;
    size_t total = keel_base_instances_snapshot(b, &list), n = 0;
    for (size_t i = 0; i < total && n < max; i++)
        if (strcmp(keel_instance_name(list[i]), name) == 0 &&
            (out[n] = strdup(keel_instance_version(list[i]))) != NULL)
            n++;
    free(list);
    keel_base_instances_done(b);
    return n;
}

static void deploy_free_versions(char **versions, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(versions[i]);
}

/* The version of `name` the loader has ACTIVE (the primary; with gray
 * routing the first found), malloc'd, or NULL. The caller holds the claim
 * of `name`. */
static char *deploy_active_version(keel_base *b, const char *name)
{
    char *versions[ADMIN_VERSIONS_MAX];
    size_t n = deploy_versions(b, name, versions, ADMIN_VERSIONS_MAX);
    char *active = NULL;
    for (size_t i = 0; i < n && active == NULL; i++) {
        keel_instance *inst = keel_loader_find(b->loader, name, versions[i]);
        if (inst != NULL && keel_instance_state_get(inst) == KEEL_STATE_ACTIVE)
            active = strdup(versions[i]);
    }
    deploy_free_versions(versions, n);
    return active;
}

static void deploy_add_id(keel_admin_request *req, const char *key, const char *name,
                          const char *version)
{
    char id[256];
    if (version == NULL) {
        keel_admin_add_string(req, NULL, key, NULL);
        return;
    }
    snprintf(id, sizeof id, "%s@%s", name, version);
    keel_admin_add_string(req, NULL, key, id);
}

/* Uninstalls `inst` (its module claimed by the caller), under the write
 * side of instances_lock. */
static keel_status deploy_uninstall_instance(keel_base *b, keel_instance *inst, keel_error *err)
{
    keel_base_instances_write(b);
    keel_status st = keel_loader_uninstall(b->loader, inst, err);
    keel_base_instances_done(b);
    return st;
}

/* ---- install ---------------------------------------------------------------- */

typedef struct install_job {
    keel_admin_request *req;
    const char *bundle;
    int activate;
    char *name;
    char *version;
    int priority;
    char *previous;         /* the version active before, if any */
    keel_instance *inst;
} install_job;

/* A retry of name@version after its start failed: the BROKEN record (fully
 * unloaded) goes first, so that the retry is not refused as a duplicate. */
static void install_clear_broken(install_job *job)
{
    keel_base *b = job->req->base;
    keel_instance *old = keel_loader_find(b->loader, job->name, job->version);
    if (old == NULL || keel_instance_state_get(old) != KEEL_STATE_BROKEN ||
        keel_instance_dir(old) != NULL)
        return;
    keel_error err = {0};
    if (deploy_uninstall_instance(b, old, &err) != KEEL_OK)
        keel_log(KEEL_LOG_WARN, NULL, "%s@%s: clearing the broken record: %s", job->name,
                 job->version, err.message);
}

/* Takes back an install whose start worked but whose activation or record
 * failed: the previous version serves again, the new one goes. */
static void install_undo(install_job *job)
{
    keel_base *b = job->req->base;
    keel_error err = {0};
    if (job->previous != NULL && keel_loader_switch(b->loader, job->name, job->previous, &err) != KEEL_OK)
        keel_log(KEEL_LOG_ERROR, NULL, "%s@%s: could not reactivate after a failed install: %s",
                 job->name, job->previous, err.message);
    if (deploy_uninstall_instance(b, job->inst, &err) != KEEL_OK)
        keel_log(KEEL_LOG_ERROR, NULL, "%s@%s: could not remove after a failed install: %s",
                 job->name, job->version, err.message);
    job->inst = NULL;
}

static keel_status install_read_manifest(install_job *job)
{
    keel_manifest *m = NULL;
    keel_status st = keel_bundle_read_manifest(job->bundle, NULL, &m, job->req->err);
    if (st != KEEL_OK)
        return st;
    job->name = strdup(keel_manifest_name(m));
    job->version = strdup(keel_manifest_version(m));
    job->priority = keel_manifest_priority(m);
    keel_manifest_destroy(m);
    if (job->name == NULL || job->version == NULL)
        return keel_error_set(job->req->err, KEEL_ERR_NOMEM, "out of memory");
    return KEEL_OK;
}

/* Keeps the bundle and records the module; undoes the install when that
 * fails (what is not recorded must not run). */
static keel_status install_record(install_job *job)
{
    keel_base *b = job->req->base;
    char *rel = NULL;
    keel_status st = keel_base_store_bundle(b, job->bundle, job->name, job->version, &rel,
                                            job->req->err);
    if (st == KEEL_OK)
        st = keel_base_record_module(b, job->name, job->version, rel, job->priority,
                                     job->activate, job->req->err);
    free(rel);
    if (st != KEEL_OK) {
        keel_error_prefix(job->req->err, "%s@%s was not recorded, so it was taken back", job->name,
                          job->version);
        install_undo(job);
    }
    return st;
}

/* Install, start, activate, record; the module is claimed. */
static keel_status install_claimed(install_job *job)
{
    keel_base *b = job->req->base;
    keel_error *err = job->req->err;
    install_clear_broken(job);
    job->previous = deploy_active_version(b, job->name);
    keel_admin_progress(job->req, "installing");
    keel_status st = keel_loader_install(b->loader, job->bundle, &job->inst, err);
    if (st != KEEL_OK)
        return st;
    keel_admin_progress(job->req, "starting");
    if ((st = keel_instance_start(job->inst, 0, err)) != KEEL_OK)
        return st; /* the instance stays as a BROKEN record with the reason */
    if (job->activate) {
        keel_admin_progress(job->req, "activating");
        if ((st = keel_instance_set_active(job->inst, 1, err)) != KEEL_OK) {
            install_undo(job);
            return st;
        }
    }
    return install_record(job);
}

keel_status keel_admin_install(keel_admin_request *req)
{
    install_job job = {.req = req, .activate = 1};
    keel_status st = keel_admin_arg_string(req, "bundle", 1, &job.bundle);
    if (st == KEEL_OK)
        st = keel_admin_arg_bool(req, "activate", &job.activate);
    if (st == KEEL_OK && job.bundle[0] != '/')
        st = keel_error_set(req->err, KEEL_ERR_INVALID, "install: bundle %s is not an absolute "
                            "path (keeld does not share the client's working directory)", job.bundle);
    if (st != KEEL_OK)
        return st;
    keel_admin_progress(req, "reading bundle");
    st = install_read_manifest(&job);
    if (st == KEEL_OK && (st = keel_base_claim(req->base, job.name, "install", req->err)) == KEEL_OK) {
        st = install_claimed(&job);
        if (st == KEEL_OK) {
            keel_admin_add_string(req, NULL, "name", job.name);
            keel_admin_add_string(req, NULL, "version", job.version);
            keel_admin_add_string(req, NULL, "state",
                                  keel_instance_state_name(keel_instance_state_get(job.inst)));
            keel_admin_add_number(req, NULL, "namespace", keel_instance_namespace(job.inst));
        }
        keel_base_release(req->base, job.name);
    }
    free(job.name);
    free(job.version);
    free(job.previous);
    return st;
}

/* ---- uninstall ---------------------------------------------------------- */

/* Picks the version to uninstall when none was given: the only one loaded,
 * or the only one recorded. *version is malloc'd. */
static keel_status uninstall_pick_version(keel_admin_request *req, const char *name, char **version)
{
    char *versions[ADMIN_VERSIONS_MAX];
    size_t n = deploy_versions(req->base, name, versions, ADMIN_VERSIONS_MAX);
    keel_status st = KEEL_OK;
    if (n == 1) {
        *version = versions[0];
        return KEEL_OK;
    }
    if (n == 0) {
        st = keel_error_set(req->err, KEEL_ERR_NOT_FOUND, "uninstall: module %s is not installed", name);
    } else {
        char list[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", versions[i]);
        st = keel_error_set(req->err, KEEL_ERR_INVALID, "uninstall: %s has several versions installed "
                            "(%s); name one: %s@VERSION", name, list, name);
    }
    deploy_free_versions(versions, n);
    return st;
}

static keel_status uninstall_claimed(keel_admin_request *req, const char *name, const char *version)
{
    keel_base *b = req->base;
    keel_instance *inst = keel_loader_find(b->loader, name, version);
    keel_status st = KEEL_OK;
    if (inst == NULL && !keel_base_is_recorded(b, name, version))
        return keel_error_set(req->err, KEEL_ERR_NOT_FOUND, "uninstall: %s@%s is not installed",
                              name, version);
    keel_admin_progress(req, "uninstalling");
    if (inst != NULL)
        st = deploy_uninstall_instance(b, inst, req->err);
    if (st == KEEL_ERR_TIMEOUT)
        return st; /* calls still inside: it stays loaded and recorded; retry */
    keel_error record = {0};
    keel_status recorded = keel_base_forget_module(b, name, version, &record);
    if (recorded != KEEL_OK && st == KEEL_OK) {
        *req->err = record;
        st = recorded;
    }
    return st; /* KEEL_ERR_LEAK: it is gone, but something stayed mapped */
}

keel_status keel_admin_uninstall(keel_admin_request *req)
{
    const char *name = NULL, *version = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "version", 0, &version);
    if (st != KEEL_OK || (st = keel_base_claim(req->base, name, "uninstall", req->err)) != KEEL_OK)
        return st;
    char *picked = NULL;
    if (version == NULL && (st = uninstall_pick_version(req, name, &picked)) == KEEL_OK)
        version = picked;
    if (st == KEEL_OK)
        st = uninstall_claimed(req, name, version);
    if (st == KEEL_OK)
        deploy_add_id(req, "uninstalled", name, version);
    keel_base_release(req->base, name);
    free(picked);
    return st;
}

/* ---- switch, rollback, route ------------------------------------------ */

keel_status keel_admin_switch(keel_admin_request *req)
{
    const char *name = NULL, *version = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "version", 1, &version);
    if (st != KEEL_OK || (st = keel_base_claim(req->base, name, "switch", req->err)) != KEEL_OK)
        return st;
    char *previous = deploy_active_version(req->base, name);
    st = keel_loader_switch(req->base->loader, name, version, req->err);
    if (st == KEEL_OK)
        st = keel_base_record_routing(req->base, name, NULL, req->err);
    if (st == KEEL_OK) {
        deploy_add_id(req, "active", name, version);
        int same = previous != NULL && strcmp(previous, version) == 0;
        deploy_add_id(req, "previous", name, same ? NULL : previous);
    }
    keel_base_release(req->base, name);
    free(previous);
    return st;
}

keel_status keel_admin_rollback(keel_admin_request *req)
{
    const char *name = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st != KEEL_OK || (st = keel_base_claim(req->base, name, "rollback", req->err)) != KEEL_OK)
        return st;
    st = keel_loader_rollback(req->base->loader, name, req->err);
    if (st == KEEL_OK)
        st = keel_base_record_routing(req->base, name, NULL, req->err);
    if (st == KEEL_OK) {
        char *active = deploy_active_version(req->base, name);
        deploy_add_id(req, "active", name, active);
        free(active);
    }
    keel_base_release(req->base, name);
    return st;
}

keel_status keel_admin_route(keel_admin_request *req)
{
    keel_state_route r = {0};
    const char *name = NULL, *primary = NULL, *gray = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "primary", 1, &primary);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "gray", 0, &gray);
    if (st == KEEL_OK)
        st = keel_admin_arg_uint(req, "percent", 100, &r.percent);
    if (st == KEEL_OK)
        st = keel_admin_arg_bool(req, "by_key", &r.by_key);
    if (st != KEEL_OK || (st = keel_base_claim(req->base, name, "route", req->err)) != KEEL_OK)
        return st;
    st = keel_loader_route(req->base->loader, name, primary, gray, r.percent, r.by_key, req->err);
    r.name = (char *)name;
    r.primary = (char *)primary;
    r.gray = (char *)gray;
    if (st == KEEL_OK)
        st = keel_base_record_routing(req->base, name, gray != NULL ? &r : NULL, req->err);
    if (st == KEEL_OK) {
        keel_admin_add_string(req, NULL, "name", name);
        keel_admin_add_string(req, NULL, "primary", primary);
        keel_admin_add_string(req, NULL, "gray", gray);
        keel_admin_add_number(req, NULL, "percent", gray != NULL ? r.percent : 0);
        keel_admin_add_bool(req, NULL, "by_key", r.by_key);
    }
    keel_base_release(req->base, name);
    return st;
}

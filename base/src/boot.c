/*
 * keel_base_boot: brings back the deployed set recorded in state.json,
 * then installs the configuration's boot modules that are not deployed.
 *
 * Modules come up in ascending priority (lower number first); modules of
 * one priority are installed and started in parallel. Every module being
 * booted is claimed (operation "boot"), so admin requests for it get
 * "busy" until it is up. A module that fails is logged and left out; its
 * record stays (it is retried at the next start) unless its bundle copy is
 * gone, which nothing can bring back.
 */
#include "base_internal.h"

#include <errno.h>
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/log.h>

#define BOOT_THREADS 8
#define BOOT_CLAIM_RETRY_NS 10000000L

typedef struct boot_job {
    char *path;        /* the bundle to install */
    char *name;
    char *version;
    int priority;
    int activate;
    int from_config;   /* keep a copy and record it once it runs */
    size_t order;      /* position in the plan, for a stable sort */
    keel_status status;
} boot_job;

typedef struct boot_plan {
    boot_job *jobs;
    size_t count;
} boot_plan;

typedef struct boot_batch {
    keel_base *base;
    boot_job *jobs;
    size_t count;
    atomic_size_t next;
} boot_batch;

static void boot_plan_free(boot_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++) {
        free(plan->jobs[i].path);
        free(plan->jobs[i].name);
        free(plan->jobs[i].version);
    }
    free(plan->jobs);
    memset(plan, 0, sizeof *plan);
}

static keel_status boot_plan_add(boot_plan *plan, const char *path, const char *name,
                                 const char *version, int priority, int activate, int from_config)
{
    boot_job *grown = realloc(plan->jobs, (plan->count + 1) * sizeof *grown);
    if (grown == NULL)
        return KEEL_ERR_NOMEM;
    plan->jobs = grown;
    boot_job job = {strdup(path), strdup(name), strdup(version), priority, activate,
                    from_config, plan->count, KEEL_OK};
    if (job.path == NULL || job.name == NULL || job.version == NULL) {
        free(job.path);
        free(job.name);
        free(job.version);
        return KEEL_ERR_NOMEM;
    }
    plan->jobs[plan->count++] = job;
    return KEEL_OK;
}

/* ---- what to bring up ----------------------------------------------------- */

/* Which recorded version of a module starts routed: the route's primary if
 * there is a route, else the last record marked active. */
static int boot_should_activate(keel_state *s, size_t i)
{
    const keel_state_module *m = &s->modules[i];
    const keel_state_route *r = keel_state_find_route(s, m->name);
    if (r != NULL)
        return strcmp(r->primary, m->version) == 0;
    if (!m->active)
        return 0;
    for (size_t k = i + 1; k < s->module_count; k++)
        if (s->modules[k].active && strcmp(s->modules[k].name, m->name) == 0)
            return 0;
    return 1;
}

static keel_status boot_plan_state(keel_base *b, boot_plan *plan, keel_error *err)
{
    keel_state *s = &b->state;
    for (size_t i = 0; i < s->module_count; i++) {
        const keel_state_module *m = &s->modules[i];
        char *path = NULL;
        if (asprintf(&path, "%s/%s", b->cfg.work_dir, m->bundle) < 0)
            return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory planning the boot");
        keel_status st = boot_plan_add(plan, path, m->name, m->version, m->priority,
                                       boot_should_activate(s, i), 0);
        free(path);
        if (st != KEEL_OK)
            return keel_error_set(err, st, "out of memory planning the boot");
    }
    return KEEL_OK;
}

static int boot_plan_has(const boot_plan *plan, const char *name, const char *version)
{
    for (size_t i = 0; i < plan->count; i++)
        if (strcmp(plan->jobs[i].name, name) == 0 && strcmp(plan->jobs[i].version, version) == 0)
            return 1;
    return 0;
}

/* The configuration's modules whose name is not deployed yet. */
static keel_status boot_plan_config(keel_base *b, boot_plan *plan, keel_error *err)
{
    for (size_t i = 0; i < b->cfg.module_count; i++) {
        const keel_boot_module *cm = &b->cfg.modules[i];
        keel_manifest *m = NULL;
        keel_error why = {0};
        if (keel_bundle_read_manifest(cm->bundle, NULL, &m, &why) != KEEL_OK) {
            keel_log(KEEL_LOG_ERROR, NULL, "boot module %s left out: %s", cm->bundle, why.message);
            continue;
        }
        const char *name = keel_manifest_name(m), *version = keel_manifest_version(m);
        keel_status st = KEEL_OK;
        if (keel_base_is_recorded(b, name, NULL))
            keel_log(KEEL_LOG_DEBUG, NULL, "boot module %s: %s is deployed already", cm->bundle, name);
        else if (!boot_plan_has(plan, name, version))
            st = boot_plan_add(plan, cm->bundle, name, version, keel_manifest_priority(m),
                               cm->activate, 1);
        keel_manifest_destroy(m);
        if (st != KEEL_OK)
            return keel_error_set(err, st, "out of memory planning the boot");
    }
    return KEEL_OK;
}

/* ---- claims -------------------------------------------------------------- */

static int boot_name_seen(const boot_plan *plan, size_t upto, const char *name)
{
    for (size_t i = 0; i < upto; i++)
        if (strcmp(plan->jobs[i].name, name) == 0)
            return 1;
    return 0;
}

/* Claims every module of the plan, waiting for an admin operation that got
 * there first. */
static keel_status boot_claim_all(keel_base *b, const boot_plan *plan, keel_error *err)
{
    for (size_t i = 0; i < plan->count; i++) {
        if (boot_name_seen(plan, i, plan->jobs[i].name))
            continue;
        keel_status st;
        while ((st = keel_base_claim(b, plan->jobs[i].name, "boot", err)) == KEEL_ERR_BUSY) {
            struct timespec pause = {0, BOOT_CLAIM_RETRY_NS};
            nanosleep(&pause, NULL);
        }
        if (st != KEEL_OK)
            return st;
    }
    return KEEL_OK;
}

static void boot_release_all(keel_base *b, const boot_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++)
        if (!boot_name_seen(plan, i, plan->jobs[i].name))
            keel_base_release(b, plan->jobs[i].name);
}

/* ---- running ------------------------------------------------------------- */

/* A configuration module that runs: keep its bundle and record it (written
 * to state.json at the end of the boot). */
static void boot_keep(keel_base *b, boot_job *job, const char *id)
{
    char *rel = NULL;
    keel_error err = {0};
    if (keel_base_store_bundle(b, job->path, job->name, job->version, &rel, &err) != KEEL_OK) {
        keel_log(KEEL_LOG_ERROR, id, "running but not recorded: %s", err.message);
        return;
    }
    pthread_mutex_lock(&b->state_lock);
    if (keel_state_put_module(&b->state, job->name, job->version, rel, job->priority,
                              job->activate) != KEEL_OK)
        keel_log(KEEL_LOG_ERROR, id, "running but not recorded: out of memory");
    pthread_mutex_unlock(&b->state_lock);
    free(rel);
}

static void boot_job_run(keel_base *b, boot_job *job)
{
    char id[256];
    snprintf(id, sizeof id, "%s@%s", job->name, job->version);
    keel_error err = {0};
    if (!job->from_config && access(job->path, R_OK) != 0) {
        job->status = KEEL_ERR_NOT_FOUND;
        keel_log(KEEL_LOG_ERROR, id, "not restored: its bundle copy %s is gone (%s); dropped from "
                 "the deployed set", job->path, strerror(errno));
        return;
    }
    keel_instance *inst = NULL;
    job->status = keel_loader_install(b->loader, job->path, &inst, &err);
    if (job->status == KEEL_OK)
        job->status = keel_instance_start(inst, job->activate, &err);
    if (job->status != KEEL_OK) {
        keel_log(KEEL_LOG_ERROR, id, "not %s: %s", job->from_config ? "installed" : "restored",
                 err.message);
        return;
    }
    if (job->from_config)
        boot_keep(b, job, id);
    keel_log(KEEL_LOG_INFO, id, "%s (%s)", job->from_config ? "installed from the configuration"
                                                            : "restored",
             job->activate ? "active" : "inactive");
}

static void *boot_worker(void *arg)
{
    boot_batch *batch = arg;
    size_t i;
    while ((i = atomic_fetch_add(&batch->next, 1)) < batch->count)
        boot_job_run(batch->base, &batch->jobs[i]);
    return NULL;
}

/* Runs `count` jobs of one priority, in parallel when there are several. */
static void boot_run_group(keel_base *b, boot_job *jobs, size_t count)
{
    boot_batch batch = {b, jobs, count, 0};
    pthread_t threads[BOOT_THREADS];
    size_t started = 0;
    for (size_t t = 0; count > 1 && t < count && t < BOOT_THREADS; t++) {
        if (pthread_create(&threads[t], NULL, boot_worker, &batch) != 0)
            break;
        started++;
    }
    boot_worker(&batch); /* this thread helps, and does everything if none started */
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
}

static int boot_job_compare(const void *a, const void *b)
{
    const boot_job *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order ? 1 : 0;
}

static void boot_run(keel_base *b, boot_plan *plan, size_t first, size_t end)
{
    if (first == end)
        return;
    qsort(plan->jobs + first, end - first, sizeof *plan->jobs, boot_job_compare);
    for (size_t i = first; i < end;) {
        size_t k = i;
        while (k < end && plan->jobs[k].priority == plan->jobs[i].priority)
            k++;
        boot_run_group(b, plan->jobs + i, k - i);
        i = k;
    }
}

/* ---- after the modules ---------------------------------------------------- */

static void boot_restore_routes(keel_base *b)
{
    pthread_mutex_lock(&b->state_lock);
    for (size_t i = 0; i < b->state.route_count; i++) {
        const keel_state_route *r = &b->state.routes[i];
        keel_error err = {0};
        if (keel_loader_route(b->loader, r->name, r->primary, r->gray, r->percent, r->by_key,
                              &err) != KEEL_OK)
            keel_log(KEEL_LOG_ERROR, r->name, "routing not restored: %s", err.message);
        else if (r->gray != NULL)
            keel_log(KEEL_LOG_INFO, r->name, "routing restored: %u%% to %s, the rest to %s",
                     r->percent, r->gray, r->primary);
    }
    pthread_mutex_unlock(&b->state_lock);
}

/* Drops the records whose bundle is gone and takes every active flag from
 * the loader; writes state.json. */
static keel_status boot_record(keel_base *b, const boot_plan *plan, keel_error *err)
{
    keel_base_instances_read(b);
    pthread_mutex_lock(&b->state_lock);
    for (size_t i = 0; i < plan->count; i++)
        if (!plan->jobs[i].from_config && plan->jobs[i].status == KEEL_ERR_NOT_FOUND)
            keel_state_remove_module(&b->state, plan->jobs[i].name, plan->jobs[i].version);
    for (size_t i = 0; i < b->state.module_count; i++) {
        keel_state_module *m = &b->state.modules[i];
        keel_instance *inst = keel_loader_find(b->loader, m->name, m->version);
        keel_instance_state s = inst ? keel_instance_state_get(inst) : KEEL_STATE_BROKEN;
        if (s == KEEL_STATE_ACTIVE || s == KEEL_STATE_INACTIVE)
            m->active = s == KEEL_STATE_ACTIVE;
    }
    keel_status st = keel_state_write(b->cfg.work_dir, &b->state, err);
    pthread_mutex_unlock(&b->state_lock);
    keel_base_instances_done(b);
    return st;
}

/* Removes bundle copies nothing records (an install that crashed between
 * the copy and the record, an uninstall that crashed before the delete). */
static void boot_clean_bundles(keel_base *b)
{
    DIR *dir = opendir(b->bundles_dir);
    struct dirent *de;
    while (dir != NULL && (de = readdir(dir)) != NULL) {
        char rel[512];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(rel, sizeof rel, "bundles/%s", de->d_name);
        int used = 0;
        pthread_mutex_lock(&b->state_lock);
        for (size_t i = 0; i < b->state.module_count && !used; i++)
            used = strcmp(b->state.modules[i].bundle, rel) == 0;
        pthread_mutex_unlock(&b->state_lock);
        char *path = NULL;
        if (!used && asprintf(&path, "%s/%s", b->bundles_dir, de->d_name) >= 0) {
            if (unlink(path) == 0)
                keel_log(KEEL_LOG_DEBUG, NULL, "removed %s: nothing records it", path);
            free(path);
        }
    }
    if (dir != NULL)
        closedir(dir);
}

static size_t boot_count_ok(const boot_plan *plan, size_t first, size_t end)
{
    size_t n = 0;
    for (size_t i = first; i < end; i++)
        n += plan->jobs[i].status == KEEL_OK;
    return n;
}

/* Reads the recorded set and brings it back; the base reports BOOTING
 * until this returns (see keel_admin_health). */
static keel_status base_boot(keel_base *b, keel_error *err);

keel_status keel_base_boot(keel_base *b, keel_error *err)
{
    keel_status st = base_boot(b, err);
    atomic_store(&b->booting, 0);
    return st;
}

static keel_status base_boot(keel_base *b, keel_error *err)
{
    keel_base_starters_boot(b);
    keel_state recorded;
    keel_status st = keel_state_read(b->cfg.work_dir, &recorded, err);
    if (st != KEEL_OK)
        return st;
    pthread_mutex_lock(&b->state_lock);
    keel_state_clear(&b->state);
    b->state = recorded;
    pthread_mutex_unlock(&b->state_lock);
    boot_plan plan = {0};
    st = boot_plan_state(b, &plan, err);
    size_t restored_end = plan.count;
    if (st == KEEL_OK)
        st = boot_plan_config(b, &plan, err);
    if (st == KEEL_OK)
        st = boot_claim_all(b, &plan, err);
    if (st != KEEL_OK) {
        boot_plan_free(&plan);
        return st;
    }
    if (plan.count > 0)
        keel_log(KEEL_LOG_INFO, NULL, "booting: %zu module(s) to restore, %zu from the configuration",
                 restored_end, plan.count - restored_end);
    boot_run(b, &plan, 0, restored_end);
    boot_restore_routes(b);
    boot_run(b, &plan, restored_end, plan.count);
    st = boot_record(b, &plan, err);
    boot_release_all(b, &plan);
    if (st == KEEL_OK)
        boot_clean_bundles(b);
    size_t ok = boot_count_ok(&plan, 0, plan.count);
    if (ok < plan.count)
        keel_log(KEEL_LOG_WARN, NULL, "boot: %zu of %zu module(s) up; see the errors above", ok,
                 plan.count);
    boot_plan_free(&plan);
    return st;
}

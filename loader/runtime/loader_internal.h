/*
 * Internals shared by the loader's files: the instance and loader structs.
 * Nothing outside loader/src includes this.
 */
#ifndef KEEL_LOADER_INTERNAL_H
#define KEEL_LOADER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <keel/loader.h>
#include <keel/module.h>

#include "libc_shim.h"
#include "namespace_group.h"
#include "task_pool.h"

struct keel_ctx {
    keel_instance *instance;
};

/* Memory handed out through api->alloc, accounted to an instance. It can
 * outlive the instance (the base may free a block later), so it is
 * reference-counted: one reference for the instance, one per live block. */
typedef struct keel_mem_account {
    atomic_size_t bytes;
    atomic_size_t blocks;
    atomic_size_t refs;
} keel_mem_account;

void keel_mem_account_release(keel_mem_account *acct);

/* A starter the instance bound (api->starter_get). */
typedef struct starter_use {
    char *name;
    const void *table;
    void *client;
} starter_use;

typedef struct registration_list {
    keel_registration *items;
    size_t count;
} registration_list;

struct keel_instance {
    keel_loader *loader;
    keel_ctx ctx;
    char *name, *version, *id, *dir;
    keel_manifest *manifest;
    keel_private_lib *libs;
    size_t lib_count;
    keel_ns_group *group;
    keel_router_version *route;    /* from install to uninstall */
    char *library_path;
    void *handle;                  /* dlmopen handle of the module object */
    const keel_module_def *def;
    keel_instance_state state;
    char *reason;
    keel_state_change *history;
    size_t history_count;
    pthread_mutex_t lock;          /* registrations and history */
    registration_list services, subscriptions;
    starter_use *starters;         /* under lock */
    size_t starter_count;
    keel_mem_account *memory;
    keel_task_group tasks;
    atomic_int stopping;
    int started;                   /* start hook returned KEEL_OK */
    int busy;                      /* a start or uninstall is running (under loader->lock) */
};

struct keel_loader {
    pthread_mutex_t lock;
    char *work_dir, *instances_dir;
    keel_loader_options opts;
    keel_shim *shim;
    keel_ns_manager *namespaces;
    keel_task_pool *tasks;
    keel_router *router;
    keel_instance **instances;
    size_t instance_count, instance_cap;
    char *leaks;
    keel_loader_starters starters; /* check == NULL: none */
    atomic_ulong sequence;         /* install counter: unique directory names */
    unsigned nonce;                /* per loader, so that names differ across runs */
};

/* The function table served to modules. */
extern const keel_api keel_module_api_table;

/* Records a state change with a printf-formatted note. */
void keel_instance_record(keel_instance *inst, keel_instance_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees registrations, history, strings and the instance itself. */
void keel_instance_free(keel_instance *inst);

/* Runs `hook` on its own thread with a deadline. Returns KEEL_OK with
 * *result set by the hook, KEEL_ERR_TIMEOUT when it did not return in time
 * and was cancelled, or KEEL_ERR_UNSAFE when it could not even be cancelled
 * (its thread still runs in the module). */
keel_status keel_hook_run(keel_status (*hook)(keel_instance *inst), keel_instance *inst,
                          unsigned timeout_ms, keel_status *result);

/* Registers a service for the instance: recorded, and published in the
 * router (module API and manifest "symbol" services both come here). */
keel_status keel_instance_register_service(keel_instance *inst, const char *scene, const char *name,
                                           const char *signature, keel_fn fn, keel_error *err);

/* Drops every service and subscription the instance registered. */
void keel_registrations_clear(keel_instance *inst);

/* Unloads the module object and its libraries (if loaded), verifies that
 * nothing of the instance stays mapped, and removes its directory; what
 * stays mapped is recorded as a leak of the loader (and the directory
 * kept). Returns 0 when the unload was complete. Caller holds l->lock. */
int keel_instance_unload(keel_loader *l, keel_instance *inst);

/* Ends every starter binding of the instance (before its code goes). */
void keel_instance_unbind_starters(keel_instance *inst);

/* Removes a directory tree; returns 0 on success. */
int keel_remove_tree(const char *path);

#endif

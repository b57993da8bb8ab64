/*
 * keel/loader.h — turns bundles into running module instances.
 *
 * The loader reads and verifies a bundle, extracts it into its own
 * directory, inspects every ELF object, places the module in a namespace
 * group (at most 15 glibc link-map namespaces, each with the libc shim),
 * loads it, runs its start hook under a time limit, and on uninstall stops
 * it, unloads it and verifies that nothing of it stays mapped.
 *
 * Instance states (modelled on SOFAArk / OSGi):
 *
 *   installed --start--> starting --ok--> active <--> inactive
 *                            |                \         /
 *                            +--fail--> broken  stopping --> uninstalled
 *
 * Every transition is recorded with a timestamp in the instance's history.
 *
 * Threads: all functions may be called from any thread; operations on the
 * loader are serialised internally. An instance pointer stays valid until
 * keel_loader_uninstall returns for it (or the loader is destroyed).
 */
#ifndef KEEL_LOADER_H
#define KEEL_LOADER_H

#include <stddef.h>
#include <stdint.h>
#include <keel/bundle.h>
#include <keel/error.h>
#include <keel/manifest.h>
#include <keel/router.h>

typedef struct keel_loader keel_loader;
typedef struct keel_instance keel_instance;

typedef enum keel_instance_state {
    KEEL_STATE_INSTALLED = 0,  /* extracted and loaded, start hook not run */
    KEEL_STATE_STARTING,       /* start hook running */
    KEEL_STATE_ACTIVE,         /* started and serving */
    KEEL_STATE_INACTIVE,       /* started, not serving (another version is) */
    KEEL_STATE_STOPPING,       /* draining tasks, stop hook running */
    KEEL_STATE_UNINSTALLED,    /* unloaded; only its record remains */
    KEEL_STATE_BROKEN          /* failed; see keel_instance_reason */
} keel_instance_state;

/* One entry of an instance's state history. */
typedef struct keel_state_change {
    int64_t time_ns;            /* CLOCK_REALTIME, nanoseconds */
    keel_instance_state state;
    const char *note;           /* owned by the instance; may be "" */
} keel_state_change;

/* A service or subscription registered by an instance through the module
 * API. Strings owned by the instance, valid until it is uninstalled. */
typedef struct keel_registration {
    const char *scene;
    const char *name;           /* service name or topic */
    const char *signature;      /* NULL for subscriptions */
    void (*fn)(void);           /* service function or message handler */
    void *user;                 /* subscriptions: the handler's user pointer */
} keel_registration;

typedef struct keel_loader_options {
    const char *work_dir;          /* required; instances live in work_dir/instances */
    const char *shim_path;         /* NULL: $KEEL_LIBC_SHIM, else the installed or built shim */
    unsigned max_namespaces;       /* 0: 15 (glibc's 16 minus the base's) */
    unsigned task_threads;         /* 0: 2 worker threads for api->task_submit */
    unsigned stop_timeout_ms;      /* 0: 5000; waiting for tasks and the stop hook */
    unsigned drain_timeout_ms;     /* 0: 5000; waiting for calls to leave a version */
    unsigned max_versions;         /* 0: 2 versions of one module loaded at once */
    keel_bundle_limits limits;     /* zero fields take the bundle defaults */
    keel_router_options router;    /* zero fields take the router defaults */
} keel_loader_options;

/* The starters a base runs, as the loader needs them: the base plugs its
 * starter set in (keel_loader_set_starters). Without one, a module that
 * requires starters is refused at install. */
typedef struct keel_loader_starters {
    void *user;
    /* KEEL_OK when every starter manifest `m` requires is available;
     * otherwise one line listing what is missing (nothing is loaded). */
    keel_status (*check)(void *user, const keel_manifest *m, keel_error *err);
    /* Binds instance `inst` to starter `name` at a version in `range`
     * (strings borrowed). On KEEL_OK *table and *client stay valid until
     * unbind. */
    keel_status (*bind)(void *user, const keel_instance *inst, const char *name, const char *range,
                        const void **table, void **client, keel_error *err);
    /* Ends a binding; after it returns no starter calls into the module. */
    void (*unbind)(void *user, const char *name, void *client);
} keel_loader_starters;

/* Creates a loader. `opts` and its strings are borrowed (copied). The work
 * directory is created if missing. Fails when the libc shim does not match
 * the running libc. On KEEL_OK *out is owned by the caller
 * (keel_loader_destroy). */
keel_status keel_loader_create(const keel_loader_options *opts, keel_loader **out,
                               keel_error *err);

/* Stops and unloads every instance (newest first), closes the namespaces
 * and frees the loader. NULL-safe. */
void keel_loader_destroy(keel_loader *loader);

/* Installs the bundle at `path` (borrowed): verifies and extracts it,
 * inspects its ELF objects, places it in a namespace group and loads it.
 * The instance is left in KEEL_STATE_INSTALLED; call keel_instance_start.
 * Errors leave nothing behind (no files, nothing mapped): a broken bundle
 * (KEEL_ERR_BUNDLE/MANIFEST), a module for a newer API (KEEL_ERR_API), an
 * object that cannot be unloaded (KEEL_ERR_UNSAFE), a version already
 * installed (KEEL_ERR_EXISTS), no namespace left (KEEL_ERR_LIMIT), a
 * dynamic-loader failure (KEEL_ERR_LOAD), a third version of a module
 * while max_versions are loaded (KEEL_ERR_LIMIT). On KEEL_OK *out is owned
 * by the loader. */
keel_status keel_loader_install(keel_loader *loader, const char *path, keel_instance **out,
                                keel_error *err);

/* Runs the start hook under the manifest's start_timeout_ms. On success the
 * instance becomes ACTIVE (activate != 0) or INACTIVE. When the hook fails,
 * times out (the thread is cancelled) or crashes out, the instance is
 * unloaded and left BROKEN with the reason; nothing else changes. */
keel_status keel_instance_start(keel_instance *inst, int activate, keel_error *err);

/* Switches a started instance between ACTIVE (routed: it takes the calls
 * and messages of its module) and INACTIVE. Activating one version
 * deactivates the one that was routed before, atomically for all services
 * and subscriptions. */
keel_status keel_instance_set_active(keel_instance *inst, int active, keel_error *err);

/* Activates `name`@`version` (borrowed): see keel_instance_set_active. */
keel_status keel_loader_switch(keel_loader *loader, const char *name, const char *version,
                               keel_error *err);

/* Activates the version of `name` that was active before the last switch
 * (it must still be installed and started). */
keel_status keel_loader_rollback(keel_loader *loader, const char *name, keel_error *err);

/* Gray release: `percent` of the calls of `name` go to `gray_version`, the
 * rest to `primary_version` (both started); `by_key` pins calls that carry
 * a routing key. gray_version NULL routes everything to primary. */
keel_status keel_loader_route(keel_loader *loader, const char *name, const char *primary_version,
                              const char *gray_version, unsigned percent, int by_key,
                              keel_error *err);

/* Plugs in the base's starters (`starters` is copied; its `user` must stay
 * valid until every instance is uninstalled). Call before installing
 * anything; NULL removes them. */
void keel_loader_set_starters(keel_loader *loader, const keel_loader_starters *starters);

/* Uninstalls every instance, newest first (as keel_loader_destroy does)
 * but keeps the loader: the base calls it at shutdown before it stops its
 * starters. */
void keel_loader_uninstall_all(keel_loader *loader);

/* The router this loader drives (owned by the loader). */
keel_router *keel_loader_router(keel_loader *loader);

/* Takes the instance out of routing and waits (drain_timeout_ms) for the
 * calls inside it; stops it (tasks, stop hook); unloads and verifies;
 * removes its files and frees it. KEEL_ERR_TIMEOUT when calls are still
 * inside after the drain timeout: the instance stays loaded (STOPPING, the
 * reason in its history) and the call may be repeated. If something stays
 * mapped after the unload, the loader keeps a leak record
 * (keel_loader_leaks) and KEEL_ERR_LEAK is returned; the instance is gone. */
keel_status keel_loader_uninstall(keel_loader *loader, keel_instance *inst, keel_error *err);

/* The instance `name`@`version` (borrowed), or NULL. */
keel_instance *keel_loader_find(keel_loader *loader, const char *name, const char *version);

/* Copies up to `max` instance pointers, oldest first, into the
 * caller-owned `out`; returns how many there are in all. */
size_t keel_loader_list(keel_loader *loader, keel_instance **out, size_t max);

/* Namespaces opened so far (each keeps its libc shim until the loader is
 * destroyed, and is reused when empty). */
size_t keel_loader_namespace_count(keel_loader *loader);

/* Leak records of unloads that did not fully unload, one per line; a
 * malloc'd string the caller frees, or NULL when there are none. */
char *keel_loader_leaks(keel_loader *loader);

/* The module-api function table this base serves (static, never NULL).
 * The base uses its `free` for blocks a module allocated with api->alloc
 * and handed over; such blocks stay valid after the module is unloaded. */
const keel_api *keel_loader_module_api(void);

/* Instance accessors. Strings are owned by the instance. */
const char *keel_instance_name(const keel_instance *inst);
const char *keel_instance_version(const keel_instance *inst);
const char *keel_instance_id(const keel_instance *inst);          /* "name@version" */
const char *keel_instance_dir(const keel_instance *inst);
const keel_manifest *keel_instance_manifest(const keel_instance *inst);
keel_instance_state keel_instance_state_get(const keel_instance *inst);
const char *keel_instance_state_name(keel_instance_state state); /* static string */
/* Why the instance is BROKEN (or "" otherwise). */
const char *keel_instance_reason(const keel_instance *inst);
/* The namespace group index (0-based) the instance was loaded into. */
int keel_instance_namespace(const keel_instance *inst);
/* State history: count, and entry i (0 = oldest) copied into *out. */
size_t keel_instance_history_count(const keel_instance *inst);
int keel_instance_history_at(const keel_instance *inst, size_t i, keel_state_change *out);
/* Services and subscriptions registered through the module API. Copies
 * into *out; returns 0 on success, -1 when i is out of range. */
size_t keel_instance_service_count(const keel_instance *inst);
int keel_instance_service_at(const keel_instance *inst, size_t i, keel_registration *out);
size_t keel_instance_subscription_count(const keel_instance *inst);
int keel_instance_subscription_at(const keel_instance *inst, size_t i, keel_registration *out);
/* The instance's router version (NULL once uninstalled). */
keel_router_version *keel_instance_route(const keel_instance *inst);
/* Looks up a symbol the module's .so exports (for tests and tools). */
void *keel_instance_symbol(const keel_instance *inst, const char *name);
/* Bytes of the instance's own object mapped into the process (code and
 * data of its .so, from /proc/self/maps; shared private libraries are not
 * counted). 0 once unloaded. */
size_t keel_instance_mapped_bytes(const keel_instance *inst);
/* Starters the instance bound through api->starter_get: count, and the
 * name of binding i (owned by the instance), or NULL. */
size_t keel_instance_starter_count(const keel_instance *inst);
const char *keel_instance_starter_at(const keel_instance *inst, size_t i);
/* Bytes and blocks the instance holds through api->alloc. */
size_t keel_instance_memory_bytes(const keel_instance *inst);
size_t keel_instance_memory_blocks(const keel_instance *inst);

#endif

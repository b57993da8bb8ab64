/*
 * keel/starter_set.h — the starters a base runs: enabled from the market,
 * bound by modules, upgraded in place, disabled.
 *
 * Upgrade in place (enable with another version of a running starter):
 * the new code is loaded and checked (same state_format, same major,
 * functions only added), the old code suspends its background work, the
 * new code resumes it on the same state, every module call is routed to
 * the new code, and the old code is unloaded once no call is inside it.
 * Modules keep their table and client pointers: the table a module gets is
 * the base's own, each function a small libffi trampoline that enters the
 * code running now.
 *
 * Threads: all functions may be called from any thread; operations are
 * serialised internally. Module calls through tables never take the set's
 * lock.
 */
#ifndef KEEL_STARTER_SET_H
#define KEEL_STARTER_SET_H

#include <keel/error.h>
#include <keel/loader.h>
#include <keel/manifest.h>
#include <keel/market.h>
#include <keel/router.h>
#include <keel/starter.h>

typedef struct keel_starter_set keel_starter_set;

typedef struct keel_starter_set_options {
    const char *work_dir;        /* required: each starter gets work_dir/NAME */
    keel_router *router;         /* required: host->call_json goes through it */
    /* host->module_status answers from here; NULL: ABSENT/SERVING from the
     * router's view alone (a module with a published service is serving). */
    keel_starter_module_status (*module_status)(void *user, const char *module);
    void *user;
    unsigned drain_timeout_ms;   /* 0: 5000: calls leaving old code at upgrade */
} keel_starter_set_options;

/* Creates an empty set over `market`, whose ownership it takes (also on
 * error). `opts` is borrowed (strings copied). On KEEL_OK *out is owned by
 * the caller (keel_starter_set_destroy). */
keel_status keel_starter_set_create(const keel_starter_set_options *opts, keel_market *market,
                                    keel_starter_set **out, keel_error *err);

/* Disables every starter (suspend, destroy, unload) and frees the set.
 * Call it after every module is gone. NULL-safe. */
void keel_starter_set_destroy(keel_starter_set *set);

/* The market (owned by the set). */
const keel_market *keel_starter_set_market(const keel_starter_set *set);

/* Enables starter `name` (borrowed) at the highest market version that
 * satisfies `range` (borrowed; NULL or "" = the highest), configured with
 * `config_json` (a JSON object, borrowed; NULL = "{}", or the running
 * configuration when upgrading). The configuration is checked against the
 * version's schema first. If the starter already runs:
 *   - same version, same (or NULL) configuration: nothing to do, KEEL_OK;
 *   - another version: upgrade in place (see above), configuration kept
 *     unless given;
 *   - same version, other configuration: KEEL_ERR_STATE (disable first).
 * Errors leave what ran before running. */
keel_status keel_starter_set_enable(keel_starter_set *set, const char *name, const char *range,
                                    const char *config_json, keel_error *err);

/* Disables a running starter. KEEL_ERR_BUSY, naming the instances, while
 * modules are bound to it; KEEL_ERR_NOT_FOUND if it does not run. */
keel_status keel_starter_set_disable(keel_starter_set *set, const char *name, keel_error *err);

/* Copies the running version of `name` (borrowed) into the caller's
 * `buf` of `size` bytes and returns buf, or returns NULL (buf untouched)
 * when it does not run. */
const char *keel_starter_set_version(keel_starter_set *set, const char *name, char *buf,
                                     size_t size);

/* KEEL_OK when every starter `m` requires runs in a version its range
 * accepts. Otherwise KEEL_ERR_NOT_FOUND and one line listing every missing
 * or mismatched starter with what the base runs and what the market has. */
keel_status keel_starter_set_check(keel_starter_set *set, const keel_manifest *m, keel_error *err);

/* Binds `who` (borrowed) to starter `name` if it runs in a version
 * satisfying `range` (borrowed, may be NULL). On KEEL_OK *table is the
 * base-owned upgrade-safe table and *client the starter's client; both
 * stay valid until keel_starter_set_unbind. */
keel_status keel_starter_set_bind(keel_starter_set *set, const keel_starter_binding *who,
                                  const char *name, const char *range, const void **table,
                                  void **client, keel_error *err);

/* Ends a binding made by keel_starter_set_bind (the starter's unbind runs:
 * after it returns no callback into the module runs). NULL-safe client. */
void keel_starter_set_unbind(keel_starter_set *set, const char *name, void *client);

/* Plugs the set into `loader` (both borrowed; the set must outlive every
 * instance): installs check the manifest's "requires" against it,
 * api->starter_get binds through it, unloads unbind. Undo with
 * keel_loader_set_starters(loader, NULL) before destroying the set. */
void keel_starter_set_plug(keel_starter_set *set, keel_loader *loader);

/* Runs an operator command of starter `name` (keel starter exec): `op`,
 * `args_json` (a JSON object or NULL) borrowed. On KEEL_OK *result_json is
 * malloc'd (caller frees). */
keel_status keel_starter_set_exec(keel_starter_set *set, const char *name, const char *op,
                                  const char *args_json, char **result_json, keel_error *err);

/* JSON views, malloc'd (caller frees); NULL when out of memory.
 *   list:    [{"name", "enabled", "version", "versions", "description",
 *              "owner", "bindings"}] over the market and the running set
 *   info:    one starter in detail (market entry, running version, config,
 *              bound instances, upgrades, its "info" op); NULL + err when
 *              `name` is neither in the market nor running
 *   search:  the market entries matching `word` (keel/market.h)
 *   enabled: {"NAME": {"version": "...", "config": {...}}} for persistence */
char *keel_starter_set_list_json(keel_starter_set *set);
char *keel_starter_set_info_json(keel_starter_set *set, const char *name, keel_error *err);
char *keel_starter_set_search_json(keel_starter_set *set, const char *word);
char *keel_starter_set_enabled_json(keel_starter_set *set);

#endif

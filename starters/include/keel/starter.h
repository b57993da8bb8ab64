/*
 * keel/starter.h — what a starter plugin is, seen from the plugin.
 *
 * A starter is a capability the base owner curates (a cache, a database, an
 * HTTP gateway, timers, ...) and that modules opt into by name and version
 * range. It is a shared object loaded by the base into the base's own
 * namespace (it links whatever system libraries it needs: hiredis, SQLite,
 * libmicrohttpd) and it exports one symbol, keel_starter_entry, returning a
 * static keel_starter_def.
 *
 * Two halves
 *   state  everything the starter keeps (connections, caches, routes, the
 *          clients of modules). Created once when the starter is enabled,
 *          destroyed when it is disabled. Its layout is identified by
 *          `state_format`.
 *   code   a version of the .so. An upgrade in place loads the new version,
 *          asks the old one to suspend its background work, asks the new one
 *          to resume it on the same state, routes every module call to the
 *          new code, waits for calls inside the old code to leave, and
 *          unloads the old code. So a compatible upgrade (same major version,
 *          same state_format, a table that only grew) never interrupts a
 *          module: its client pointer and its table stay valid.
 *
 * The module-facing table
 *   Each starter publishes a typed table in its own header
 *   (keel/starters/NAME.h):
 *       typedef struct keel_kv_api {
 *           uint32_t version;   // the table's version (grows)
 *           uint32_t size;      // sizeof as built
 *           keel_status (*set)(keel_kv *kv, ...);  // slot 0
 *           ...
 *       } keel_kv_api;
 *   i.e. an 8-byte header followed only by function pointers ("slots"). The
 *   first parameter of every slot except `free`-style helpers is the
 *   module's client pointer returned by bind. No variadic slots. The def
 *   lists one C signature per slot (see below) so the base can hand modules
 *   a table of its own whose entries follow upgrades.
 *
 * Slot signatures: "RET(ARG,...)" over the C types
 *   void (return only)  i32 (int, int32_t, bool as int)  u32  i64  u64
 *   (size_t, uint64_t)  f64 (double)  ptr (any pointer)
 *   e.g. "i32(ptr,ptr,ptr,u64,i64)".
 *
 * Threads: slots may be called by many module threads at once, also while
 * an upgrade runs (old and new code both run on the same state for a
 * moment: keep the state's locks in the state). Lifecycle hooks are called
 * by the base one at a time.
 */
#ifndef KEEL_STARTER_H
#define KEEL_STARTER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this plugin ABI (keel_starter_def and keel_starter_host). */
#define KEEL_STARTER_ABI_VERSION 1

/* The name of the one symbol a starter exports. */
#define KEEL_STARTER_ENTRY_SYMBOL "keel_starter_entry"

/* A one-line error message buffer the base hands to hooks. */
#define KEEL_STARTER_ERROR_SIZE 512
typedef struct keel_starter_error {
    char message[KEEL_STARTER_ERROR_SIZE];
} keel_starter_error;

/* Module states as a starter sees them (host->module_status). */
typedef enum keel_starter_module_status {
    KEEL_STARTER_MODULE_ABSENT = 0,    /* no version installed */
    KEEL_STARTER_MODULE_SERVING = 1,   /* a version is active, nothing in progress */
    KEEL_STARTER_MODULE_SWITCHING = 2  /* an install, switch, route or uninstall of
                                        * one of its versions is in progress */
} keel_starter_module_status;

/* What the base offers a starter. Base-owned, valid from create until
 * destroy returns. `host` is passed back as the first argument. */
typedef struct keel_starter_host keel_starter_host;
struct keel_starter_host {
    uint32_t abi_version;   /* KEEL_STARTER_ABI_VERSION of the base */
    uint32_t size;          /* sizeof(keel_starter_host) as the base was built */

    /* The starter's name and running version (base-owned strings). */
    const char *name;
    const char *version;

    /* A directory of the starter's own under the base's work directory
     * (work/starters/NAME), created before create is called; kept across
     * restarts and upgrades. Base-owned string. */
    const char *work_dir;

    /* One log line tagged with the starter (printf format, borrowed). */
    void (*log)(const keel_starter_host *host, keel_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Calls service `name` in `scene` with a JSON array of arguments
     * (borrowed) as the base itself (no scene restrictions). On KEEL_OK
     * *result_json is a malloc'd JSON text the caller frees with free().
     * On error *result_json is NULL and `err` (may be NULL) says why;
     * KEEL_ERR_NOT_FOUND / _DRAINING / _BROKEN mean nothing can serve it
     * now. Any thread. */
    keel_status (*call_json)(const keel_starter_host *host, const char *scene,
                             const char *name, const char *args_json, char **result_json,
                             keel_starter_error *err);

    /* Where module `module` (borrowed) stands: absent, serving, or in the
     * middle of a deployment operation. Any thread. */
    keel_starter_module_status (*module_status)(const keel_starter_host *host,
                                                const char *module);
};

/* Who binds: passed to bind. All strings base-owned, valid for the call. */
typedef struct keel_starter_binding {
    const char *module;        /* module name: key data by this, it is stable
                                * across versions */
    const char *version;       /* module version */
    const char *instance;      /* "name@version" */
    const char *scene;         /* the module's first scene ("default" if none) */
    const char *const *scenes; /* all its scenes, NULL-terminated */
} keel_starter_binding;

/* What a starter is. Static; owned by the starter's .so. */
typedef struct keel_starter_def {
    uint32_t abi_version;      /* KEEL_STARTER_ABI_VERSION */
    uint32_t size;             /* sizeof(keel_starter_def) */
    const char *name;          /* [a-z][a-z0-9_-]{0,63}; equals the market entry */
    const char *version;       /* semver of this build */
    uint32_t state_format;     /* layout of the state; an upgrade in place needs
                                * the running version's value */

    /* The module-facing table (8-byte header, then slots) and one C
     * signature per slot, in order. */
    const void *table;
    const char *const *slot_signatures;
    size_t slot_count;

    /* Creates the state from the starter's configuration (compact JSON
     * text, borrowed; already checked against the market's schema). Opens
     * what the starter needs (files, connections). On KEEL_OK *state is
     * owned by the starter until destroy. Must not start background work
     * (resume does). On error, fill `err` and leave nothing behind. */
    keel_status (*create)(const keel_starter_host *host, const char *config_json,
                          void **state, keel_starter_error *err);

    /* Starts background work (threads, listening sockets) with this
     * version's code. Called after create, and on the new version during an
     * upgrade (after the old version's suspend). On error nothing may keep
     * running. May be NULL. */
    keel_status (*resume)(void *state, const keel_starter_host *host, keel_starter_error *err);

    /* Stops background work: joins every thread that runs this version's
     * code; may leave things in the state for the next resume (a listening
     * socket, the next due time). Module calls may still arrive. May be
     * NULL. */
    void (*suspend)(void *state);

    /* Frees the state, after suspend. Never called while clients exist. */
    void (*destroy)(void *state);

    /* A module instance asks for the starter (api->starter_get). On KEEL_OK
     * *client is the pointer the module passes to every slot; it is owned
     * by the state and stays valid across upgrades until unbind. */
    keel_status (*bind)(void *state, const keel_starter_binding *who, void **client,
                        keel_starter_error *err);

    /* The instance is gone (its stop hook has returned, or its start
     * failed): forget the client, drop every callback into the module's
     * code, and only then return. */
    void (*unbind)(void *state, void *client);

    /* Operator commands (keel starter exec NAME OP [JSON]): `op` and
     * `args_json` (a JSON object or NULL) borrowed. On KEEL_OK *result_json
     * is a malloc'd JSON text (free()). Every starter answers op "info"
     * (its counters and metrics as a JSON object). May be NULL. */
    keel_status (*admin)(void *state, const char *op, const char *args_json,
                         char **result_json, keel_starter_error *err);
} keel_starter_def;

/* The entry symbol's type. */
typedef const keel_starter_def *(*keel_starter_entry_fn)(void);

/* Declares the starter. Use once, at file scope, with a static const
 * keel_starter_def:
 *     KEEL_STARTER(kv_def);
 */
#define KEEL_STARTER(DEF)                                                       \
    __attribute__((visibility("default"))) const keel_starter_def *keel_starter_entry(void); \
    const keel_starter_def *keel_starter_entry(void) { return &(DEF); }

/* Fills `err` with a printf-formatted message (NULL-safe). */
static inline void keel_starter_error_set(keel_starter_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void keel_starter_error_set(keel_starter_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTER_H */

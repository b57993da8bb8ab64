/*
 * keel/module.h — the one header a keel module includes.
 *
 * A module is a shared object loaded by a keel base into an isolated symbol
 * namespace. It cannot resolve any symbol of the base, so everything the base
 * offers reaches it through a versioned function table (keel_api) handed to
 * its start hook. The module exports exactly one symbol, keel_module_entry,
 * which returns a static description of the module (keel_module_def).
 *
 * API versions
 *   1  identity, logging, configuration, resources, registration, memory,
 *      tasks
 *   2  resolving and calling services (typed and JSON), publishing
 *   3  starters: binding a capability the base offers (keel/starters/NAME.h)
 *
 * Compatibility rules
 *   - The table only grows: fields are appended, never removed or reordered.
 *     A base serving API version N serves every module built for 1..N.
 *   - A module built for a newer API than the base serves is refused at
 *     install with a clear error; it is never started.
 *   - A module that wants a field added after the API version it requires
 *     checks KEEL_API_HAS(api, field) first.
 *
 * Ownership conventions used below
 *   "borrowed"  the pointer stays owned by the one who passed it; the callee
 *               copies what it keeps.
 *   "base-owned" the base owns it; it is valid for the lifetime stated.
 *   "caller frees with api->free" memory comes from the base allocator.
 *
 * Threads: every function of the table may be called from any thread, at any
 * time between the start hook being called and the stop hook returning.
 */
#ifndef KEEL_MODULE_H
#define KEEL_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The module-api version this header describes. */
#define KEEL_API_VERSION 3

/* The name of the one symbol a module exports. */
#define KEEL_MODULE_ENTRY_SYMBOL "keel_module_entry"

/* One status type for the whole of keel: modules, base and tools. */
typedef enum keel_status {
    KEEL_OK = 0,
    KEEL_ERR_INVALID = 1,     /* a bad argument or malformed input */
    KEEL_ERR_NOMEM = 2,       /* out of memory */
    KEEL_ERR_NOT_FOUND = 3,   /* no such module, service, key or file */
    KEEL_ERR_EXISTS = 4,      /* already installed / registered */
    KEEL_ERR_IO = 5,          /* a file system or socket operation failed */
    KEEL_ERR_BUNDLE = 6,      /* a bundle is unreadable, corrupt or unsafe */
    KEEL_ERR_MANIFEST = 7,    /* a manifest field is missing or wrong */
    KEEL_ERR_API = 8,         /* a module needs a newer module-api */
    KEEL_ERR_LOAD = 9,        /* the dynamic loader refused the module */
    KEEL_ERR_UNSAFE = 10,     /* the module could not be unloaded safely */
    KEEL_ERR_START = 11,      /* the module's start hook failed */
    KEEL_ERR_TIMEOUT = 12,    /* an operation did not finish in time */
    KEEL_ERR_BUSY = 13,       /* a conflicting operation is in progress */
    KEEL_ERR_LIMIT = 14,      /* a configured or system limit was reached */
    KEEL_ERR_STATE = 15,      /* the operation is not allowed in this state */
    KEEL_ERR_LEAK = 16,       /* unloaded, but something stayed mapped */
    KEEL_ERR_INTERNAL = 17,   /* a bug in keel */
    KEEL_ERR_DENIED = 18,     /* a cross-scene call the manifest does not declare */
    KEEL_ERR_DRAINING = 19,   /* the callee's versions are being removed */
    KEEL_ERR_BROKEN = 20      /* the callee's last version failed */
} keel_status;

/* Log levels, in increasing severity. */
typedef enum keel_log_level {
    KEEL_LOG_DEBUG = 0,
    KEEL_LOG_INFO = 1,
    KEEL_LOG_WARN = 2,
    KEEL_LOG_ERROR = 3
} keel_log_level;

/* An instance of a module as seen by the module: opaque, base-owned, valid
 * from the start hook until the stop hook returns. */
typedef struct keel_ctx keel_ctx;

/* A generic function pointer for services; the declared signature string
 * says how it is really called. */
typedef void (*keel_fn)(void);

/* A message delivered to a subscriber. All pointers are base-owned and valid
 * only for the duration of the handler call; copy what you keep. */
typedef struct keel_message {
    const char *scene;   /* the scene it was published in */
    const char *topic;   /* the topic */
    const void *data;    /* payload bytes (not necessarily NUL-terminated) */
    size_t size;         /* payload length in bytes */
} keel_message;

/* A message handler. `user` is the pointer given to subscribe. */
typedef void (*keel_message_fn)(keel_ctx *ctx, const keel_message *msg, void *user);

/* A reference to a service, resolved once and called many times: it
 * follows version switches. Opaque, base-owned. */
typedef struct keel_service_ref keel_service_ref;

/* One typed call in progress: `fn` is the function of the version serving
 * it, which stays loaded until call_leave. The rest is the base's. */
typedef struct keel_call {
    keel_fn fn;
    void *internal[4];
} keel_call;

/* publish flags */
#define KEEL_PUBLISH_SYNC 1u  /* return only after every subscriber handled it */

/* A task run on a base-owned worker thread. */
typedef void (*keel_task_fn)(keel_ctx *ctx, void *arg);

/* The function table. Fields marked "since N" exist when api->version >= N
 * (equivalently KEEL_API_HAS(api, field)). */
typedef struct keel_api {
    uint32_t version;   /* module-api version served by this base */
    uint32_t size;      /* sizeof(keel_api) as the base was built */

    /* --- since 1: identity ------------------------------------------- */

    /* Module name, version string and instance id ("name@version").
     * Base-owned strings, valid until the stop hook returns. */
    const char *(*module_name)(keel_ctx *ctx);
    const char *(*module_version)(keel_ctx *ctx);
    const char *(*instance_id)(keel_ctx *ctx);

    /* --- since 1: logging ---------------------------------------------- */

    /* Writes one line to the base's log, tagged with the instance.
     * `fmt` is a printf format, borrowed. Newlines in the message are
     * replaced so one call is always one line. */
    void (*log)(keel_ctx *ctx, keel_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*logv)(keel_ctx *ctx, keel_log_level level, const char *fmt, va_list ap);

    /* --- since 1: configuration and resources ---------------------------- */

    /* The value of a key of the manifest's "config" object, as text
     * (numbers and booleans are rendered; objects and arrays as JSON).
     * Returns NULL when the key is absent. `key` is borrowed; the result is
     * base-owned, valid until the stop hook returns. */
    const char *(*config_get)(keel_ctx *ctx, const char *key);

    /* The whole "config" object as JSON text ("{}" when there is none).
     * Base-owned, valid until the stop hook returns. */
    const char *(*config_json)(keel_ctx *ctx);

    /* Writes into `buf` (caller-owned, `size` bytes) the absolute path of
     * resource `relpath` of the module's bundle (a relative path without
     * ".." components). KEEL_ERR_NOT_FOUND if there is no such file,
     * KEEL_ERR_INVALID for a bad path, KEEL_ERR_LIMIT if `buf` is short. */
    keel_status (*resource_path)(keel_ctx *ctx, const char *relpath, char *buf, size_t size);

    /* Reads a whole resource. On KEEL_OK, *data is a NUL-terminated copy
     * (the NUL is not counted in *size) that the caller frees with
     * api->free. */
    keel_status (*resource_read)(keel_ctx *ctx, const char *relpath, void **data, size_t *size);

    /* --- since 1: services and messages ------------------------------- */

    /* Publishes `fn` as service `name` in `scene` with a signature string
     * (for example "i64(i64,str)"). Strings are borrowed (copied). The
     * registration ends with service_unregister or when the instance stops.
     * KEEL_ERR_EXISTS if this instance already publishes that name there. */
    keel_status (*service_register)(keel_ctx *ctx, const char *scene, const char *name,
                                    const char *signature, keel_fn fn);
    keel_status (*service_unregister)(keel_ctx *ctx, const char *scene, const char *name);

    /* Subscribes `fn` to `topic` in `scene`; `user` is passed back to the
     * handler as is (the module keeps owning it). Strings are borrowed. */
    keel_status (*subscribe)(keel_ctx *ctx, const char *scene, const char *topic,
                             keel_message_fn fn, void *user);
    keel_status (*unsubscribe)(keel_ctx *ctx, const char *scene, const char *topic);

    /* --- since 1: memory ------------------------------------------------ */

    /* The base allocator, accounted to the instance. Memory from these is
     * freed with api->free (by the module or by the base), never with
     * free(3). alloc/calloc/realloc return NULL when out of memory. */
    void *(*alloc)(keel_ctx *ctx, size_t size);
    void *(*calloc)(keel_ctx *ctx, size_t count, size_t size);
    void *(*realloc)(keel_ctx *ctx, void *ptr, size_t size);
    void (*free)(void *ptr);
    char *(*strdup)(keel_ctx *ctx, const char *s);

    /* --- since 1: tasks -------------------------------------------------- */

    /* Runs fn(ctx, arg) once on a base worker thread. `arg` stays owned by
     * the module. The base waits for the instance's queued and running
     * tasks before its stop hook is called. KEEL_ERR_STATE once the
     * instance is stopping. */
    keel_status (*task_submit)(keel_ctx *ctx, keel_task_fn fn, void *arg);

    /* Non-zero once the instance is asked to stop: long tasks poll this
     * and return early. */
    int (*stopping)(keel_ctx *ctx);

    /* --- since 2: calls and messages ------------------------------------ */

    /* Resolves service `name` in `scene` (NULL: the module's first scene
     * in its manifest, or "default") to a reference. Calling into a scene
     * that is not one of the module's own needs a "calls" entry in its
     * manifest, else KEEL_ERR_DENIED. The service need not be published
     * yet. *out is base-owned and valid until service_release or until the
     * module stops. Strings are borrowed. */
    keel_status (*service_resolve)(keel_ctx *ctx, const char *scene, const char *name,
                                   keel_service_ref **out);
    void (*service_release)(keel_ctx *ctx, keel_service_ref *ref);

    /* Typed call:
     *     keel_call c;
     *     if (api->call_enter(ref, NULL, &c) == KEEL_OK) {
     *         int r = ((int (*)(int))c.fn)(42);
     *         api->call_leave(&c);
     *     }
     * `routing_key` (borrowed, may be NULL) pins gray-release routing: the
     * same key reaches the same version. KEEL_ERR_NOT_FOUND, _DRAINING or
     * _BROKEN when there is nothing to call, KEEL_ERR_LIMIT when calls nest
     * deeper than 32. Every successful call_enter needs exactly one
     * call_leave, on the same thread, innermost call first. */
    keel_status (*call_enter)(keel_service_ref *ref, const char *routing_key, keel_call *call);
    void (*call_leave)(keel_call *call);

    /* Dynamic call with JSON: `args_json` is an array of the arguments
     * (borrowed). On KEEL_OK *result_json is the JSON result, which the
     * caller frees with api->free. Scene rules as for service_resolve. */
    keel_status (*call_json)(keel_ctx *ctx, const char *scene, const char *name,
                             const char *args_json, char **result_json);

    /* Publishes `size` bytes of `data` (borrowed, copied) on `topic` in
     * `scene` (NULL: the module's first scene). flags: KEEL_PUBLISH_SYNC.
     * KEEL_ERR_LIMIT when a subscriber's queue is full. */
    keel_status (*publish)(keel_ctx *ctx, const char *scene, const char *topic,
                           const void *data, size_t size, unsigned flags);

    /* --- since 3: starters ----------------------------------------------- */

    /* Binds starter `name`, which the manifest must list in "requires".
     * `range` (NULL: the manifest's range) must be satisfied by the version
     * the base runs. On KEEL_OK *table is the starter's typed table (cast it
     * to the type its header keel/starters/NAME.h declares) and *client the
     * pointer every function of that table takes first. Both are
     * base-owned, stay valid across upgrades of the starter, and are valid
     * until the stop hook returns (the base unbinds then); a second call
     * returns the same pair. Memory a starter function hands out is freed
     * with that table's own free function. Strings borrowed.
     * KEEL_ERR_DENIED: not in "requires"; KEEL_ERR_NOT_FOUND: the base does
     * not run that starter; KEEL_ERR_API: the running version is not in
     * range. Bind in the start hook (or a task): a first starter_get from
     * inside a starter's own callback may wait on that starter forever. */
    keel_status (*starter_get)(keel_ctx *ctx, const char *name, const char *range,
                               const void **table, void **client);
} keel_api;

/* True when the base's table has `field` (it may be newer or older). */
#define KEEL_API_HAS(api, field) \
    ((api)->size >= offsetof(keel_api, field) + sizeof(((keel_api *)0)->field))

/* What a module is, returned by its entry symbol. The module owns it; it
 * must stay valid while the module is loaded (make it static const). */
typedef struct keel_module_def {
    uint32_t api_version;  /* set to KEEL_API_VERSION */
    uint32_t size;         /* set to sizeof(keel_module_def) */
    const char *name;      /* must equal the manifest's "name" */

    /* Called once after load, on a base thread, with a time limit (the
     * manifest's "start_timeout_ms", default 5000). Return KEEL_OK to become
     * active; anything else makes the base unload the module and keep what
     * was running before. `ctx` and `api` stay valid until stop returns. */
    keel_status (*start)(keel_ctx *ctx, const keel_api *api);

    /* Called once before unload, after every task of the instance has
     * finished. Release what start acquired: join every thread the module
     * created, delete pthread keys whose destructors live in the module,
     * close what it opened. Code of the module still referenced after this
     * returns (a running thread, a thread-exit destructor) keeps it mapped,
     * and the base reports that as a leak. May be NULL. */
    void (*stop)(keel_ctx *ctx, const keel_api *api);
} keel_module_def;

/* The entry symbol's type. */
typedef const keel_module_def *(*keel_module_entry_fn)(void);

/* Declares the module. Use once, at file scope:
 *     KEEL_MODULE("greeter", my_start, my_stop);
 */
#define KEEL_MODULE(NAME, START, STOP)                                         \
    __attribute__((visibility("default"))) const keel_module_def *keel_module_entry(void); \
    const keel_module_def *keel_module_entry(void)                             \
    {                                                                          \
        static const keel_module_def def = {KEEL_API_VERSION,                  \
                                            (uint32_t)sizeof(keel_module_def), \
                                            (NAME), (START), (STOP)};          \
        return &def;                                                           \
    }

#ifdef __cplusplus
}
#endif

#endif /* KEEL_MODULE_H */

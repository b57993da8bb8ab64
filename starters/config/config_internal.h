/*
 * config_internal.h — the config starter's state and the functions its
 * files share. Everything here is hidden (-fvisibility=hidden): only
 * keel_starter_entry leaves the .so.
 *
 * The state is shared by the code of two versions during an upgrade, so it
 * holds no pointer into the .so (no function pointer, no string literal).
 *
 * Locks (always taken in this order, never the other way):
 *   admin_lock  serialises operator changes together with the delivery of
 *               their callbacks (watchers see changes in order) and the
 *               store file; every change of the table holds it, so code
 *               holding it may read the table without data_lock
 *   data_lock   (rwlock) the table of values: readers (module threads)
 *               against the short in-memory update of a change (the
 *               store file is written before, outside this lock)
 *   watch_lock  bindings, watches, callbacks in progress (+ watch_cond)
 * No lock is held while a module's callback runs; a callback in progress
 * is counted in its watch and its binding, and unwatch/unbind wait for
 * that count to drop to zero before they free anything and return.
 */
#ifndef KEEL_CONFIG_INTERNAL_H
#define KEEL_CONFIG_INTERNAL_H

#include <keel/starter.h>
#include <keel/starters/config.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifndef STARTER_VERSION
#define STARTER_VERSION "1.0.0"
#endif
/* The table version this build serves (KEEL_CONFIG_TABLE_V1 for 1.0.0). */
#ifndef CONFIG_TABLE
#define CONFIG_TABLE 1
#endif

#define CONFIG_STATE_FORMAT 1u
#define CONFIG_KEY_MAX 128
#define CONFIG_SCENE_MAX 64
#define CONFIG_MODULE_MAX 64
#define CONFIG_DEFAULT_STORE "config.json"
#define CONFIG_DEFAULT_MAX_VALUE 65536
#define CONFIG_MIN_MAX_VALUE 16
#define CONFIG_MAX_MAX_VALUE (16 * 1024 * 1024)
#define CONFIG_STORE_FORMAT 1

/* --- names ---------------------------------------------------------------- */

/* [A-Za-z0-9_.-]{1,128} */
bool config_valid_key(const char *s);
/* a scene id [A-Za-z0-9_.:-]{1,64}, or "*" */
bool config_valid_scene(const char *s);
/* a module name [a-z][a-z0-9_-]{0,63} */
bool config_valid_module(const char *s);
/* a store file name: [A-Za-z0-9_.-]{1,128}, not starting with '.' */
bool config_valid_store_name(const char *s);

#define CONFIG_EXPECT_KEY "a key of 1 to 128 characters from [A-Za-z0-9_.-]"
#define CONFIG_EXPECT_SCENE "a scene id of 1 to 64 characters from [A-Za-z0-9_.:-], or \"*\""
#define CONFIG_EXPECT_MODULE "a module name of 1 to 64 characters from [a-z0-9_-] starting with a letter"

/* --- the table of values (config_table.c) ---------------------------------- */

/* One (module, scene, key). The operator layer wins: op_value, else (unless
 * op_deleted) def_value. An entry with none of the three is removed. */
typedef struct config_entry {
    char *module, *scene, *key;   /* owned */
    char *def_value;              /* compact JSON from the configuration, or NULL */
    char *op_value;               /* compact JSON the operator set, or NULL */
    bool op_deleted;              /* the operator deleted the default value */
} config_entry;

typedef struct config_table {
    config_entry **items;         /* sorted by (module, scene, key) */
    size_t count, cap;
} config_table;

/* Where a value came from. */
typedef enum config_source { CONFIG_SRC_NONE = 0, CONFIG_SRC_DEFAULT, CONFIG_SRC_OPERATOR } config_source;

/* The entry of exactly (module, scene, key), or NULL. Borrowed. */
config_entry *config_table_find(const config_table *t, const char *module, const char *scene,
                                const char *key);
/* The entry's value (borrowed) and its source, or NULL. */
const char *config_entry_value(const config_entry *e, config_source *src);
/* The effective value for (module, scene, key) with the "*" fallback;
 * `from_scene` (may be NULL) gets the scene it came from. Borrowed. */
const char *config_table_lookup(const config_table *t, const char *module, const char *scene,
                                const char *key, config_source *src, const char **from_scene);
/* The entry of (module, scene, key), created empty if missing; NULL when
 * out of memory. */
config_entry *config_table_upsert(config_table *t, const char *module, const char *scene,
                                  const char *key);
/* Removes `e` if it holds nothing any more. */
void config_table_prune(config_table *t, config_entry *e);
/* Frees every entry. NULL-safe. */
void config_table_clear(config_table *t);
/* Index of the first entry with module >= `module` (for walks). */
size_t config_table_lower_bound(const config_table *t, const char *module);

/* --- the store file (config_store.c) --------------------------------------- */

/* Reads the operator layer from `path` into `t` (entries already holding the
 * defaults). A missing file is an empty layer. KEEL_ERR_INVALID/_IO with a
 * line naming the file; `t` is then unusable (the caller clears it).
 * `max_value`: values longer than this count in *oversized (kept). */
keel_status config_store_load(const char *path, config_table *t, size_t max_value,
                              size_t *oversized, keel_starter_error *err);
/* A change about to be made to `entry` (already in the table): its
 * operator layer as it will be. */
typedef struct config_pending {
    const config_entry *entry;
    const char *op_value;
    bool op_deleted;
} config_pending;

/* Writes the operator layer of `t`, with `pending` (may be NULL) applied,
 * to `path` atomically (temp file, fsync, rename, fsync of the directory).
 * On error the old file is untouched. Reads `t` without data_lock: the
 * caller holds admin_lock, which every writer of the table holds. */
keel_status config_store_save(const char *path, const config_table *t, const config_pending *pending,
                              keel_starter_error *err);

/* --- JSON values -------------------------------------------------------- */

/* Compact JSON text of `v` (malloc'd), or NULL when out of memory. */
char *config_json_compact(const cJSON *v);

/* --- the state ------------------------------------------------------------ */

typedef struct config_watch config_watch;
/* A binding: the keel_config a module holds. */
typedef struct keel_config config_client;

struct config_watch {
    config_watch *next;
    config_client *client;
    uint64_t id;
    char *scene;                  /* the scene watched (never NULL) */
    char *key;                    /* the key, or "*" */
    keel_config_change_fn fn;
    void *user;
    unsigned in_progress;         /* callbacks running (0 or 1) */
    bool removed;                 /* unwatched: no new call */
    bool orphan;                  /* unwatched from its own callback: the
                                   * deliverer frees it */
};

struct keel_config {
    config_client *next;
    struct config_state *state;
    char *module;                 /* binding's module name */
    char *scene;                  /* binding's first scene */
    config_watch *watches;
    unsigned in_progress;         /* callbacks running into this module */
    unsigned waiters;             /* unwatch calls waiting for a callback */
    bool unbound;                 /* no new call */
    bool orphan;                  /* unbound from inside its own callback */
};

typedef struct config_state {
    const keel_starter_host *host;
    char *store_path;             /* work_dir/store */
    size_t max_value;

    pthread_mutex_t admin_lock;
    pthread_rwlock_t data_lock;
    config_table table;

    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    config_client *clients;
    size_t client_count, watch_count;
    uint64_t next_watch_id;
    bool delivering;              /* a delivery runs (on `deliverer`) */
    pthread_t deliverer;

    /* counters (info) */
    atomic_uint_fast64_t reads, changes, notifications, callbacks_skipped;
} config_state;

/* --- watches and delivery (config_watch.c) --------------------------------- */

keel_status config_watch_add(config_client *c, const char *scene, const char *key,
                             keel_config_change_fn fn, void *user, uint64_t *id);
keel_status config_watch_remove(config_client *c, uint64_t id);
/* Forgets the binding: no callback starts after this, the ones running
 * finish first (unless called from inside one of them). */
void config_client_release(config_state *s, config_client *c);
/* Calls the watchers of `module` affected by a change of (scene, key).
 * Caller holds admin_lock and neither data_lock nor watch_lock. Returns
 * how many callbacks ran. */
uint64_t config_watch_deliver(config_state *s, const char *module, const char *scene,
                              const char *key);

/* --- admin ops (config_admin.c) ----------------------------------------- */

keel_status config_admin(void *state, const char *op, const char *args_json, char **result_json,
                         keel_starter_error *err);

/* --- configuration (config_options.c) ------------------------------------ */

typedef struct config_options {
    char *store;                  /* file name under work_dir (malloc'd) */
    size_t max_value;
    cJSON *defaults;              /* detached "defaults" object, or NULL */
} config_options;

/* Parses and checks the starter's configuration. On error a line naming
 * the field. On KEEL_OK the caller frees with config_options_free. */
keel_status config_options_parse(const char *config_json, config_options *o,
                                 keel_starter_error *err);
void config_options_free(config_options *o);
/* Loads the defaults of `o` into `t`. */
keel_status config_options_apply_defaults(const config_options *o, config_table *t,
                                          keel_starter_error *err);

#endif

/*
 * keel/starters/config.h — the "config" starter as a module sees it:
 * configuration keys per module and per scene that the operator changes at
 * run time (`keel config set|get|list|delete`), with change callbacks.
 *
 * Model
 *   A value is a JSON text stored under (module, scene, key). The scene
 *   "*" holds the module-wide value. Looking up (module, scene, key) gives
 *   the (module, scene) value, else the (module, "*") value, else
 *   KEEL_ERR_NOT_FOUND. A module reads only its own keys (the module name
 *   of its binding).
 *   Keys: 1 to 128 characters from [A-Za-z0-9_.-]. Scenes: a scene id of 1
 *   to 64 characters from [A-Za-z0-9_.:-], or "*". Values are normalised
 *   (compact JSON as cJSON prints it: integers are exact up to 2^53).
 *   Initial values come from the starter's configuration ("defaults");
 *   operator changes are stored on disk and win over them.
 *
 * Modules do not write configuration: the operator owns it (one source of
 * truth, every change recorded by the base's admin log). State a module
 * keeps for itself belongs in a store starter (kv, db).
 *
 * Usage
 *     const keel_config_api *cfg_api; keel_config *cfg;
 *     api->starter_get(ctx, "config", NULL, (const void **)&cfg_api, (void **)&cfg);
 *     cfg_api->watch(cfg, "retail", "*", on_change, NULL, &id);   // watch first,
 *     char buf[64];                                              // then read
 *     if (cfg_api->get_string(cfg, "retail", "channel", buf, sizeof buf) == KEEL_OK) ...
 *
 * Threads: every slot may be called from any thread at once. Change
 * callbacks run on the thread of the operator's command, one at a time for
 * the whole starter (never two at once, in the order of the changes); they
 * may call every slot (get, watch, unwatch, even for themselves). The
 * operator's command waits for them: keep them short.
 *
 * Versions: table version 1 = starter 1.0.0 (get .. free); table version 2
 * = starter 1.1.0 (appends list). Check KEEL_CONFIG_HAS(table, list).
 */
#ifndef KEEL_STARTERS_CONFIG_H
#define KEEL_STARTERS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A module's binding of the starter: opaque, owned by the starter, valid
 * from starter_get until the module's stop hook returns. */
typedef struct keel_config keel_config;

/* A change of a watched key, as it affects `scene`. `scene`, `key` and
 * `value_json` are borrowed for the duration of the call. `value_json` is
 * the EFFECTIVE value for `scene` after the change (a module-wide value if
 * the scene has none of its own), or NULL when no value is left. `user` is
 * the pointer given to watch. */
typedef void (*keel_config_change_fn)(void *user, const char *scene, const char *key,
                                      const char *value_json);

/* Table versions (keel_config_api.version). */
#define KEEL_CONFIG_TABLE_V1 1u   /* starter 1.0.0: get .. free */
#define KEEL_CONFIG_TABLE_V2 2u   /* starter 1.1.0: + list */

typedef struct keel_config_api {
    uint32_t version;   /* KEEL_CONFIG_TABLE_V1 or later */
    uint32_t size;      /* sizeof the table as the starter was built */

    /* slot 0. The effective value of `key` for `scene` (NULL: the
     * binding's first scene; "*": the module-wide value only). `scene` and
     * `key` borrowed. On KEEL_OK *value_json is a malloc'd JSON text the
     * caller frees with this table's free. Errors (*value_json = NULL):
     * KEEL_ERR_NOT_FOUND no value; KEEL_ERR_INVALID a bad key or scene or a
     * NULL argument; KEEL_ERR_NOMEM. */
    keel_status (*get)(keel_config *cfg, const char *scene, const char *key, char **value_json);

    /* slot 1. Like get for a value that is a JSON string: copies the
     * string (unescaped, NUL-terminated) into `buf` (caller-owned, `size`
     * bytes). KEEL_ERR_INVALID also when the value is not a string;
     * KEEL_ERR_LIMIT when `buf` is too short (buf is then ""). */
    keel_status (*get_string)(keel_config *cfg, const char *scene, const char *key, char *buf,
                              size_t size);

    /* slot 2. Like get for a value that is a JSON integer (exact up to
     * 2^53): *value (caller-owned) receives it. KEEL_ERR_INVALID also when
     * the value is not an integral number in range. */
    keel_status (*get_i64)(keel_config *cfg, const char *scene, const char *key, int64_t *value);

    /* slot 3. Like get for a JSON boolean: *value (caller-owned) receives
     * 1 or 0. KEEL_ERR_INVALID also when the value is not true/false. */
    keel_status (*get_bool)(keel_config *cfg, const char *scene, const char *key, int *value);

    /* slot 4. Calls fn(user, scene, key, value) after each operator change
     * of `key` ("*": every key) that affects `scene` (NULL: the binding's
     * first scene; "*": only changes of module-wide values): a change of
     * the scene's own value, or of the module-wide value while the scene
     * has no value of its own. Not called for the current value: watch
     * first, then get, and no change is missed. `scene` and `key` are
     * borrowed (copied); `fn` and `user` must stay valid until unwatch or
     * until the binding ends (then no call runs any more). On KEEL_OK
     * *watch_id (caller-owned) is the watch's id (never 0), else 0.
     * KEEL_ERR_INVALID bad scene/key/NULL; KEEL_ERR_NOMEM; KEEL_ERR_STATE
     * the binding has ended. */
    keel_status (*watch)(keel_config *cfg, const char *scene, const char *key,
                         keel_config_change_fn fn, void *user, uint64_t *watch_id);

    /* slot 5. Ends a watch. When it returns no call of that watch runs or
     * will run, except the one the calling thread is inside (a callback may
     * unwatch itself). KEEL_ERR_NOT_FOUND: no such watch of this binding. */
    keel_status (*unwatch)(keel_config *cfg, uint64_t watch_id);

    /* slot 6. Frees memory handed out by get and list. NULL-safe. */
    void (*free)(void *ptr);

    /* slot 7, since table version 2 (starter 1.1.0). Every key with a
     * value for `scene` (NULL: the binding's first scene) as one JSON
     * object {"key": value, ...}: the scene's own values over the
     * module-wide ones, keys sorted. On KEEL_OK *values_json is malloc'd
     * (free with this table's free). KEEL_ERR_INVALID bad scene/NULL;
     * KEEL_ERR_NOMEM. */
    keel_status (*list)(keel_config *cfg, const char *scene, char **values_json);
} keel_config_api;

/* True when `table` (a keel_config_api pointer) has slot `field`. */
#define KEEL_CONFIG_HAS(table, field) \
    ((table)->size >= offsetof(keel_config_api, field) + sizeof(((keel_config_api *)0)->field))

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTERS_CONFIG_H */

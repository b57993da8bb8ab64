/*
 * The durable record of what is deployed: WORK_DIR/state.json.
 *
 *     {"format": 1,
 *      "modules": [{"name": "greeter", "version": "1.0.0",
 *                   "bundle": "bundles/greeter-1.0.0.keel",
 *                   "priority": 100, "active": true}],
 *      "routes": [{"name": "greeter", "primary": "1.0.0", "gray": "2.0.0",
 *                  "percent": 10, "by_key": false}]}
 *
 * "bundle" is relative to the work directory: the base keeps a copy of
 * every deployed bundle under WORK_DIR/bundles/NAME-VERSION.keel.
 *
 * Writes are atomic: a temporary file in the same directory is written,
 * fsync'd and renamed over state.json, then the directory is fsync'd. A
 * crash leaves either the old or the new file, never a mix; a leftover
 * temporary file is never read.
 *
 * Not thread-safe: the base serialises access.
 */
#ifndef KEEL_BASE_STATE_H
#define KEEL_BASE_STATE_H

#include <stddef.h>
#include <keel/error.h>

#define KEEL_STATE_FILE "state.json"
#define KEEL_STATE_FORMAT 1

/* One deployed module version. Strings owned by the keel_state. */
typedef struct keel_state_module {
    char *name;
    char *version;
    char *bundle;   /* relative to the work directory */
    int priority;   /* the manifest's: lower starts first */
    int active;     /* it was routed (ACTIVE) */
} keel_state_module;

/* Gray routing of one module. Strings owned by the keel_state. */
typedef struct keel_state_route {
    char *name;
    char *primary;  /* version */
    char *gray;     /* version, or NULL */
    unsigned percent;
    int by_key;
} keel_state_route;

typedef struct keel_state {
    keel_state_module *modules;
    size_t module_count;
    keel_state_route *routes;
    size_t route_count;
} keel_state;

/* Frees what `s` holds and leaves it empty (storage is the caller's).
 * NULL-safe. */
void keel_state_clear(keel_state *s);

/* Reads WORK_DIR/state.json (`work_dir` borrowed) into `out` (caller's
 * storage, overwritten; keel_state_clear frees it). A missing file is an
 * empty state. A file that is not a valid state gives KEEL_ERR_INVALID
 * with one line naming the file and the problem; KEEL_ERR_IO when it
 * cannot be read. */
keel_status keel_state_read(const char *work_dir, keel_state *out, keel_error *err);

/* Parses `size` bytes of state JSON (borrowed); `origin` (borrowed) names
 * it in messages. As keel_state_read. */
keel_status keel_state_parse(const char *json, size_t size, const char *origin, keel_state *out,
                             keel_error *err);

/* Writes `s` (borrowed) to WORK_DIR/state.json atomically (see above). */
keel_status keel_state_write(const char *work_dir, const keel_state *s, keel_error *err);

/* Writes `text` (borrowed) plus a newline to DIR/NAME durably: a temporary
 * file, fsync, rename, directory fsync. On error the old file stays. */
keel_status keel_file_write_atomic(const char *dir, const char *name, const char *text,
                                   keel_error *err);

/* The record of name@version (borrowed strings), or NULL. The pointer is
 * valid until `s` changes. */
keel_state_module *keel_state_find_module(keel_state *s, const char *name, const char *version);

/* Adds or replaces the record of name@version. All strings borrowed
 * (copied). KEEL_ERR_NOMEM leaves `s` unchanged. */
keel_status keel_state_put_module(keel_state *s, const char *name, const char *version,
                                  const char *bundle, int priority, int active);

/* Removes the record of name@version; 1 if there was one. */
int keel_state_remove_module(keel_state *s, const char *name, const char *version);

/* The route record of module `name`, or NULL. Valid until `s` changes. */
keel_state_route *keel_state_find_route(keel_state *s, const char *name);

/* Adds or replaces the route record of route->name (strings borrowed,
 * copied). KEEL_ERR_NOMEM leaves `s` unchanged. */
keel_status keel_state_put_route(keel_state *s, const keel_state_route *route);

/* Removes the route record of module `name`; 1 if there was one. */
int keel_state_remove_route(keel_state *s, const char *name);

#endif

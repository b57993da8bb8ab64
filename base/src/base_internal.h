/*
 * What base.c shares with admin.c and metrics_text.c: the base itself, the
 * per-module operation table, the durable state, and the lock that keeps
 * instance pointers valid while they are read.
 *
 * Lock order: a module claim (held for a whole operation), then
 * instances_lock, then state_lock, then the loader's own lock.
 */
#ifndef KEEL_BASE_INTERNAL_H
#define KEEL_BASE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "base.h"
#include "starters.h"
#include "state.h"

/* One module with an operation in progress. */
typedef struct keel_base_claim_entry {
    char *name;
    const char *op;     /* static string: "install", "uninstall", ... */
} keel_base_claim_entry;

struct keel_base {
    keel_base_config cfg;       /* owned copy */
    keel_loader *loader;
    keel_starter_set *starters;  /* created after the loader, freed before it */
    pthread_mutex_t starters_lock; /* enable/disable and their record */
    char **starters_disabled;    /* disabled by operators (recorded) */
    size_t starters_disabled_count;
    char **starters_failed;      /* "NAME: why", wanted but failed to enable */
    size_t starters_failed_count;
    char *bundles_dir;          /* WORK_DIR/bundles */
    int lock_fd;                /* WORK_DIR/keeld.lock, flock'd */
    int64_t started_ns;         /* CLOCK_MONOTONIC at create */
    atomic_int booting;         /* 1 until keel_base_boot has finished */
    /* Module name -> operation in progress. */
    pthread_mutex_t claim_lock;
    keel_base_claim_entry *claims;
    size_t claim_count;
    /* The deployed set, as on disk. */
    pthread_mutex_t state_lock;
    keel_state state;
    /* Readers: code that walks keel_loader_list and reads instances.
     * Writers: keel_loader_uninstall (the only call that frees one). */
    pthread_rwlock_t instances_lock;
};

/* Marks module `name` (borrowed) as busy with `op` (a static string).
 * KEEL_ERR_BUSY, with a message naming the operation in progress, when it
 * already is. */
keel_status keel_base_claim(keel_base *b, const char *name, const char *op, keel_error *err);

/* Ends the claim of `name` (borrowed). */
void keel_base_release(keel_base *b, const char *name);

/* Copies the bundle at `src` (borrowed) to WORK_DIR/bundles/NAME-VERSION.keel
 * (temporary file, fsync, rename, directory fsync) unless it is that file
 * already. On KEEL_OK *relpath is "bundles/NAME-VERSION.keel", malloc'd
 * (caller frees). */
keel_status keel_base_store_bundle(keel_base *b, const char *src, const char *name,
                                   const char *version, char **relpath, keel_error *err);

/* Records name@version (strings borrowed) as deployed and writes
 * state.json; the caller holds the claim of `name`. When `active`, the
 * module's route record goes (activation ends gray routing); the active
 * flags of its records are taken from the loader. On failure the state is
 * what state.json holds. */
keel_status keel_base_record_module(keel_base *b, const char *name, const char *version,
                                    const char *bundle, int priority, int active, keel_error *err);

/* Removes the record of name@version (and a route that names it), writes
 * state.json, then deletes the bundle copy. KEEL_OK when nothing was
 * recorded. */
keel_status keel_base_forget_module(keel_base *b, const char *name, const char *version,
                                    keel_error *err);

/* After a switch, rollback or route of module `name` (the caller holds its
 * claim): replaces its route record with `route` (borrowed; NULL removes
 * it), takes the active flags of its records from the loader, and writes
 * state.json. */
keel_status keel_base_record_routing(keel_base *b, const char *name, const keel_state_route *route,
                                     keel_error *err);

/* Whether name@version is recorded (version NULL: any version). */
int keel_base_is_recorded(keel_base *b, const char *name, const char *version);

/* The loader's instances, oldest first, in *out (malloc'd, caller frees;
 * NULL when out of memory). Returns how many. Call it holding
 * instances_lock: the pointers stay valid until the lock is dropped. */
size_t keel_base_instances_snapshot(keel_base *b, keel_instance ***out);

/* Seconds since the base was created. */
double keel_base_uptime(const keel_base *b);

/* Takes / drops instances_lock (see above). */
void keel_base_instances_read(keel_base *b);
void keel_base_instances_write(keel_base *b);
void keel_base_instances_done(keel_base *b);

/* The final response line for an error: {"ok": false, "error": {...}}.
 * `message` borrowed. malloc'd (caller frees); NULL when out of memory.
 * Implemented in admin.c. */
char *keel_admin_error_text(keel_status status, const char *message);

#endif

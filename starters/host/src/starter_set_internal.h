/*
 * Internals of the starter set, shared by its files.
 */
#ifndef KEEL_STARTER_SET_INTERNAL_H
#define KEEL_STARTER_SET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <keel/starter_set.h>
#include "starter_code.h"
#include "starter_table.h"

/* One module instance bound to a starter. */
typedef struct starter_binding {
    struct starter_binding *next;
    char *instance;
    void *client;
} starter_binding;

/* An upgrade-safe table handed to modules; one per slot layout. */
typedef struct starter_table_entry {
    struct starter_table_entry *next;
    size_t slots;
    starter_table *table;
} starter_table_entry;

/* Old code with calls still inside after an upgrade: counted in the
 * gate's inside[slot]. */
typedef struct retired_code {
    struct retired_code *next;
    starter_code *code;
    unsigned slot;
} retired_code;

typedef struct keel_starter_set keel_starter_set;

/* One enabled starter. `host` comes first: host functions get a pointer
 * to it and find the rest. */
typedef struct running_starter {
    keel_starter_host host;
    struct running_starter *next;
    keel_starter_set *set;
    char *name, *work_dir, *config_json;
    starter_gate gate;             /* the code module calls enter */
    void *state;
    starter_binding *bindings;
    starter_table_entry *tables;
    retired_code *retired;
    unsigned upgrades;
} running_starter;

/* Router references for host->call_json, resolved once per (scene, name). */
typedef struct starter_calls {
    pthread_mutex_t lock;
    struct starter_call_ref *refs;
} starter_calls;

struct keel_starter_set {
    pthread_mutex_t lock;
    char *work_dir;
    keel_router *router;
    keel_starter_module_status (*module_status)(void *user, const char *module);
    void *user;
    unsigned drain_timeout_ms;
    keel_market *market;
    running_starter *running;
    starter_calls calls;
};

/* The running starter called `name` (borrowed), or NULL. Under set->lock. */
running_starter *starter_set_find(keel_starter_set *s, const char *name);

/* Fills r->host (name, version, work_dir, functions). */
void starter_host_init(running_starter *r);
void starter_calls_init(starter_calls *c);
void starter_calls_destroy(starter_calls *c);

#endif

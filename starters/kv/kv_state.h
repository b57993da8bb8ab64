/* kv_state.h — the kv starter's state (shared by every code version that
 * runs on it: it holds no pointer into a starter .so, only heap data, the
 * base's host table and locks) and the clients of modules. */
#ifndef KV_STATE_H
#define KV_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <keel/starter.h>

#include "kv_config.h"

/* Bumped whenever the layout of anything reachable from kv_state changes. */
#define KV_STATE_FORMAT 1u

typedef struct kv_mem kv_mem;
typedef struct kv_redis kv_redis;

/* Counters reported by the "info" admin op. */
typedef struct kv_stats {
    atomic_uint_fast64_t hits;      /* get found the key */
    atomic_uint_fast64_t misses;    /* get did not */
    atomic_uint_fast64_t sets;      /* successful set */
    atomic_uint_fast64_t deletes;   /* successful del */
    atomic_uint_fast64_t incrs;     /* successful incr */
    atomic_uint_fast64_t errors;    /* slot calls that failed other than NOT_FOUND */
    atomic_uint_fast64_t expired;   /* memory: entries dropped because they expired */
    atomic_uint_fast64_t flushed;   /* keys deleted by the "flush" admin op */
} kv_stats;

/* At most one warning a second per limiter; the rest are counted. */
typedef struct kv_limiter {
    atomic_int_fast64_t last_ms;
    atomic_uint_fast64_t suppressed;
} kv_limiter;

typedef struct kv_client kv_client;

typedef struct kv_state {
    kv_config cfg;
    const keel_starter_host *host;   /* base-owned, valid from create to destroy */
    kv_stats stats;
    kv_limiter warn_input;           /* bad keys, values, limits */
    kv_limiter warn_backend;         /* Redis errors */
    kv_mem *mem;                     /* memory backend, or NULL */
    kv_redis *redis;                 /* Redis backend, or NULL */
    pthread_mutex_t clients_lock;
    kv_client *clients;              /* every bound client (doubly linked) */
} kv_state;

/* A module's client: what keel_kv * points to. */
struct kv_client {
    kv_state *state;
    char *prefix;        /* "MODULE:" (malloc'd) */
    size_t prefix_len;
    kv_client *prev, *next;
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t kv_now_ms(void);

/* Logs one warning line through the host unless `lim` let one through
 * less than a second ago (then it only counts it). Thread-safe. */
void kv_warn(kv_state *st, kv_limiter *lim, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/*
 * keel/starters/kv.h — the "kv" starter: a key/value cache with TTL.
 *
 * A module binds it with api->starter_get(ctx, "kv", ">=1.0.0", &table,
 * &client), casts `table` to `const keel_kv_api *` and passes `client` as
 * the first argument of every slot but `free`.
 *
 * Keys are namespaced to the module: the starter stores key "k" of module
 * "orders" as "orders:k", so a module never sees another module's keys,
 * while every version of one module (v1 and v2 during a switch) sees the
 * same keys. Keys are NUL-terminated strings of 1..512 bytes. Values are
 * binary (pointer + length), at most the configured max_value_bytes.
 *
 * The backend is chosen by the base owner (memory in the base process, or
 * Redis); the slots behave the same on both.
 *
 * Threads: every slot may be called from any thread at once; each call is
 * atomic on its key (incr in particular). Memory backend: slots never wait
 * on I/O. Redis backend: a call waits for one of the pooled connections,
 * then for at most the configured timeout_ms to connect (when the
 * connection was lost) and timeout_ms for the command; it never blocks
 * indefinitely.
 *
 * Status codes common to every slot:
 *   KEEL_ERR_INVALID  a NULL pointer where one is required, a key that is
 *                     empty or longer than 512 bytes, a negative TTL
 *   KEEL_ERR_IO       the Redis backend could not be reached (the starter
 *                     logs a warning and reconnects on later calls)
 *   KEEL_ERR_NOMEM    out of memory
 */
#ifndef KEEL_STARTERS_KV_H
#define KEEL_STARTERS_KV_H

#include <stddef.h>
#include <stdint.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key a module may use, in bytes (the module prefix is extra). */
#define KEEL_KV_KEY_MAX 512

/* Table versions: 1 = starter 1.0.0 (set..free), 2 = 1.1.0 (+ ttl). */
#define KEEL_KV_API_VERSION_1 1u
#define KEEL_KV_API_VERSION_2 2u

/* A module's client: opaque, owned by the starter, valid until the module
 * stops (the base unbinds it then). */
typedef struct keel_kv keel_kv;

typedef struct keel_kv_api {
    uint32_t version;   /* KEEL_KV_API_VERSION_* of the running starter */
    uint32_t size;      /* bytes of this table that are valid */

    /* slot 0 "i32(ptr,ptr,ptr,u64,i64)"
     * Stores `len` bytes at `value` (borrowed, copied; may be NULL when len
     * is 0) under `key` (borrowed), replacing any previous value and TTL.
     * `ttl_ms` > 0 makes the key expire after that many milliseconds; 0
     * means no expiry. KEEL_ERR_LIMIT: `len` exceeds max_value_bytes, or
     * (memory backend) the key is new and max_keys keys already exist. */
    keel_status (*set)(keel_kv *kv, const char *key, const void *value, size_t len,
                       int64_t ttl_ms);

    /* slot 1 "i32(ptr,ptr,ptr,ptr)"
     * Reads `key` (borrowed). On KEEL_OK *value is a malloc'd copy of the
     * value followed by one extra NUL byte (not counted in *len), which the
     * caller frees with this table's `free`. KEEL_ERR_NOT_FOUND: no such
     * key, or it expired. On any error *value is NULL and *len 0. */
    keel_status (*get)(keel_kv *kv, const char *key, void **value, size_t *len);

    /* slot 2 "i32(ptr,ptr)"
     * Deletes `key` (borrowed). KEEL_ERR_NOT_FOUND: it did not exist (or
     * had expired). */
    keel_status (*del)(keel_kv *kv, const char *key);

    /* slot 3 "i32(ptr,ptr,i64,ptr)"
     * Atomically adds `delta` to the integer stored at `key` (borrowed; an
     * absent key counts as 0 and is created without expiry; an existing
     * key keeps its TTL) and writes the result to *out (caller-owned).
     * The value must be a decimal int64 in canonical form ("-12", not
     * " 12" or "012"). KEEL_ERR_INVALID: the value is not such an integer;
     * KEEL_ERR_LIMIT: the result would overflow int64, or (memory) a new
     * key would exceed max_keys. */
    keel_status (*incr)(keel_kv *kv, const char *key, int64_t delta, int64_t *out);

    /* slot 4 "void(ptr)"
     * Frees memory handed out by `get` (NULL-safe). */
    void (*free)(void *ptr);

    /* --- since version 2 (starter 1.1.0) ---------------------------- */

    /* slot 5 "i32(ptr,ptr,ptr)"
     * Writes to *ms_left (caller-owned) the milliseconds before `key`
     * (borrowed) expires, or -1 when it has no expiry.
     * KEEL_ERR_NOT_FOUND: no such key, or it expired. */
    keel_status (*ttl)(keel_kv *kv, const char *key, int64_t *ms_left);
} keel_kv_api;

/* True when `api` (a table from starter_get) has slot `field`. */
#define KEEL_KV_API_HAS(api, field) \
    ((api)->size >= offsetof(keel_kv_api, field) + sizeof(((keel_kv_api *)0)->field))

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTERS_KV_H */

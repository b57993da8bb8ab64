/* kv_mem.h — the in-memory backend: a striped hash table of namespaced keys
 * ("MODULE:key" bytes) with lazy expiry plus a sweeper thread.
 *
 * Every function is thread-safe; the sweeper is started and joined by the
 * code version that runs it (kv_mem_sweeper_start / _stop). */
#ifndef KV_MEM_H
#define KV_MEM_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_state.h"

/* Creates an empty store of at most `max_keys` keys that counts into
 * `stats` (borrowed, must outlive the store). NULL when out of memory. */
kv_mem *kv_mem_create(size_t max_keys, kv_stats *stats);

/* Frees the store and every entry (NULL-safe). The sweeper must be stopped. */
void kv_mem_destroy(kv_mem *mem);

/* The operations on one full key (`key`, `klen` bytes, borrowed). Status as
 * in keel/starters/kv.h; `ttl_ms` 0 means no expiry. kv_mem_get's *value
 * is malloc'd (plus a NUL), freed by the caller with free(). On
 * KEEL_ERR_LIMIT, set and incr point *why (may be NULL) at a static phrase
 * saying which limit. */
keel_status kv_mem_set(kv_mem *mem, const char *key, size_t klen, const void *value,
                       size_t len, int64_t ttl_ms, const char **why);
keel_status kv_mem_get(kv_mem *mem, const char *key, size_t klen, void **value, size_t *len);
keel_status kv_mem_del(kv_mem *mem, const char *key, size_t klen);
keel_status kv_mem_incr(kv_mem *mem, const char *key, size_t klen, int64_t delta, int64_t *out,
                        const char **why);
keel_status kv_mem_ttl(kv_mem *mem, const char *key, size_t klen, int64_t *ms_left);

/* Deletes every key that starts with `prefix` (borrowed, `plen` bytes);
 * returns how many live keys it deleted. */
size_t kv_mem_flush_prefix(kv_mem *mem, const char *prefix, size_t plen);

/* Drops every expired entry; returns how many. */
size_t kv_mem_sweep(kv_mem *mem);

/* Adds to `modules` (a cJSON object, borrowed) one number per module: its
 * live keys (the part of each key before the first ':'). Returns the total
 * of live keys, or -1 when out of memory. */
int64_t kv_mem_count_modules(kv_mem *mem, cJSON *modules);

/* Entries held (live or expired but not yet dropped) and the limit. */
size_t kv_mem_stored(kv_mem *mem);
size_t kv_mem_max_keys(const kv_mem *mem);

/* Starts the sweeper thread (drops expired entries every `interval_ms`)
 * with the calling code version. KEEL_ERR_STATE if it runs already,
 * KEEL_ERR_NOMEM/IO when the thread cannot start. */
keel_status kv_mem_sweeper_start(kv_mem *mem, int64_t interval_ms);

/* Stops and joins the sweeper (no-op when it does not run). */
void kv_mem_sweeper_stop(kv_mem *mem);

/* Parses a canonical decimal int64 ("0", "-12", no spaces, no leading
 * zeros) of `len` bytes. 0 on success. */
int kv_parse_int64(const char *s, size_t len, int64_t *out);

#endif

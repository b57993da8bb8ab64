/* kv_redis.h — the Redis backend: a small pool of hiredis connections, each
 * used by one thread at a time, with timeouts on connect and on every
 * command, reconnecting on later calls after Redis went away.
 *
 * Every function is thread-safe. Keys are full ("MODULE:key") bytes. */
#ifndef KV_REDIS_H
#define KV_REDIS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "kv_state.h"

/* Creates the pool for st->cfg (borrowed; `st` must outlive the pool) and
 * connects once to check that Redis answers (AUTH, SELECT and PING). On
 * failure `err` holds one line ("kv: redis at H:P unreachable: ...") and
 * nothing is left behind. */
keel_status kv_redis_create(kv_state *st, kv_redis **out, keel_starter_error *err);

/* Closes every connection and frees the pool (NULL-safe). */
void kv_redis_destroy(kv_redis *r);

/* The operations (status as in keel/starters/kv.h). kv_redis_get's *value
 * is malloc'd (plus a NUL), freed by the caller with free(). On
 * KEEL_ERR_LIMIT *why (may be NULL) names the limit (a static phrase). */
keel_status kv_redis_set(kv_redis *r, const char *key, size_t klen, const void *value,
                         size_t len, int64_t ttl_ms, const char **why);
keel_status kv_redis_get(kv_redis *r, const char *key, size_t klen, void **value, size_t *len);
keel_status kv_redis_del(kv_redis *r, const char *key, size_t klen);
keel_status kv_redis_incr(kv_redis *r, const char *key, size_t klen, int64_t delta,
                          int64_t *out, const char **why);
keel_status kv_redis_ttl(kv_redis *r, const char *key, size_t klen, int64_t *ms_left);

/* Deletes every key that starts with `prefix` (borrowed, `plen` bytes)
 * with SCAN MATCH + DEL; *deleted counts them. On error `err` says why. */
keel_status kv_redis_flush_prefix(kv_redis *r, const char *prefix, size_t plen, size_t *deleted,
                                  keel_starter_error *err);

/* Adds the pool's facts (address, db, pool size, open connections,
 * reconnects) to `info` (borrowed). False when out of memory. */
int kv_redis_info(kv_redis *r, cJSON *info);

#endif

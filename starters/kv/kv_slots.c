/* kv_slots.c — see kv_slots.h. */
#include "kv_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_mem.h"
#include "kv_redis.h"
#include "kv_state.h"

/* "MODULE:" is at most 65 bytes (module names are 1..64). */
#define KV_FULL_KEY_MAX (65 + KEEL_KV_KEY_MAX + 1)

/* Counts a failed call and says why, at most once a second. */
static keel_status kv_slot_refuse(kv_client *cl, const char *op, keel_status status,
                                  const char *why)
{
    kv_state *st = cl->state;
    atomic_fetch_add(&st->stats.errors, 1);
    kv_limiter *lim = status == KEEL_ERR_IO ? &st->warn_backend : &st->warn_input;
    if (status != KEEL_ERR_IO)   /* the backend already said why */
        kv_warn(st, lim, "kv: module \"%.*s\": %s refused: %s", (int)(cl->prefix_len - 1),
                cl->prefix, op, why);
    return status;
}

/* Checks `key` and writes "MODULE:key" into `full`. */
static keel_status kv_slot_key(kv_client *cl, const char *op, const char *key, char *full,
                               size_t *flen)
{
    if (!key)
        return kv_slot_refuse(cl, op, KEEL_ERR_INVALID, "key is NULL");
    size_t klen = strnlen(key, KEEL_KV_KEY_MAX + 1);
    if (klen == 0)
        return kv_slot_refuse(cl, op, KEEL_ERR_INVALID, "key is empty (expected 1..512 bytes)");
    if (klen > KEEL_KV_KEY_MAX)
        return kv_slot_refuse(cl, op, KEEL_ERR_INVALID,
                              "key is longer than 512 bytes (expected 1..512 bytes)");
    memcpy(full, cl->prefix, cl->prefix_len);
    memcpy(full + cl->prefix_len, key, klen);
    *flen = cl->prefix_len + klen;
    full[*flen] = '\0';
    return KEEL_OK;
}

/* Counts the outcome of a backend call; explains a limit. */
static keel_status kv_slot_done(kv_client *cl, const char *op, keel_status status,
                                const char *why)
{
    if (status == KEEL_OK || status == KEEL_ERR_NOT_FOUND)
        return status;
    if (status == KEEL_ERR_LIMIT) {
        char text[160];
        if (why && strcmp(why, "max_keys is reached") == 0)
            snprintf(text, sizeof text, "max_keys %lld is reached (KEEL_ERR_LIMIT)",
                     (long long)cl->state->cfg.max_keys);
        else
            snprintf(text, sizeof text, "%s (KEEL_ERR_LIMIT)", why ? why : "a limit is reached");
        return kv_slot_refuse(cl, op, status, text);
    }
    if (status == KEEL_ERR_INVALID)
        return kv_slot_refuse(cl, op, status,
                              strcmp(op, "incr") == 0
                                  ? "the value is not a canonical int64 integer"
                                  : "the stored value is not a string");
    if (status == KEEL_ERR_NOMEM)
        return kv_slot_refuse(cl, op, status, "out of memory");
    return kv_slot_refuse(cl, op, status, "the backend failed");
}

keel_status kv_slot_set(keel_kv *kv, const char *key, const void *value, size_t len,
                        int64_t ttl_ms)
{
    kv_client *cl = (kv_client *)kv;
    if (!cl)
        return KEEL_ERR_INVALID;
    char full[KV_FULL_KEY_MAX];
    size_t flen;
    keel_status st = kv_slot_key(cl, "set", key, full, &flen);
    if (st != KEEL_OK)
        return st;
    if (!value && len)
        return kv_slot_refuse(cl, "set", KEEL_ERR_INVALID, "value is NULL with a length");
    if (ttl_ms < 0)
        return kv_slot_refuse(cl, "set", KEEL_ERR_INVALID, "ttl_ms is negative");
    kv_state *s = cl->state;
    if ((uint64_t)len > (uint64_t)s->cfg.max_value_bytes) {
        char why[128];
        snprintf(why, sizeof why, "value of %zu bytes exceeds max_value_bytes %lld (KEEL_ERR_LIMIT)",
                 len, (long long)s->cfg.max_value_bytes);
        return kv_slot_refuse(cl, "set", KEEL_ERR_LIMIT, why);
    }
    const char *why = NULL;
    st = s->mem ? kv_mem_set(s->mem, full, flen, value, len, ttl_ms, &why)
                : kv_redis_set(s->redis, full, flen, value, len, ttl_ms, &why);
    if (st == KEEL_OK)
        atomic_fetch_add(&s->stats.sets, 1);
    return kv_slot_done(cl, "set", st, why);
}

keel_status kv_slot_get(keel_kv *kv, const char *key, void **value, size_t *len)
{
    kv_client *cl = (kv_client *)kv;
    if (value)
        *value = NULL;
    if (len)
        *len = 0;
    if (!cl)
        return KEEL_ERR_INVALID;
    if (!value || !len)
        return kv_slot_refuse(cl, "get", KEEL_ERR_INVALID, "value or len is NULL");
    char full[KV_FULL_KEY_MAX];
    size_t flen;
    keel_status st = kv_slot_key(cl, "get", key, full, &flen);
    if (st != KEEL_OK)
        return st;
    kv_state *s = cl->state;
    st = s->mem ? kv_mem_get(s->mem, full, flen, value, len)
                : kv_redis_get(s->redis, full, flen, value, len);
    if (st == KEEL_OK)
        atomic_fetch_add(&s->stats.hits, 1);
    else if (st == KEEL_ERR_NOT_FOUND)
        atomic_fetch_add(&s->stats.misses, 1);
    return kv_slot_done(cl, "get", st, NULL);
}

keel_status kv_slot_del(keel_kv *kv, const char *key)
{
    kv_client *cl = (kv_client *)kv;
    if (!cl)
        return KEEL_ERR_INVALID;
    char full[KV_FULL_KEY_MAX];
    size_t flen;
    keel_status st = kv_slot_key(cl, "del", key, full, &flen);
    if (st != KEEL_OK)
        return st;
    kv_state *s = cl->state;
    st = s->mem ? kv_mem_del(s->mem, full, flen) : kv_redis_del(s->redis, full, flen);
    if (st == KEEL_OK)
        atomic_fetch_add(&s->stats.deletes, 1);
    return kv_slot_done(cl, "del", st, NULL);
}

keel_status kv_slot_incr(keel_kv *kv, const char *key, int64_t delta, int64_t *out)
{
    kv_client *cl = (kv_client *)kv;
    if (!cl)
        return KEEL_ERR_INVALID;
    if (!out)
        return kv_slot_refuse(cl, "incr", KEEL_ERR_INVALID, "out is NULL");
    char full[KV_FULL_KEY_MAX];
    size_t flen;
    keel_status st = kv_slot_key(cl, "incr", key, full, &flen);
    if (st != KEEL_OK)
        return st;
    kv_state *s = cl->state;
    const char *why = NULL;
    st = s->mem ? kv_mem_incr(s->mem, full, flen, delta, out, &why)
                : kv_redis_incr(s->redis, full, flen, delta, out, &why);
    if (st == KEEL_OK)
        atomic_fetch_add(&s->stats.incrs, 1);
    return kv_slot_done(cl, "incr", st, why);
}

void kv_slot_free(void *ptr) { free(ptr); }

keel_status kv_slot_ttl(keel_kv *kv, const char *key, int64_t *ms_left)
{
    kv_client *cl = (kv_client *)kv;
    if (!cl)
        return KEEL_ERR_INVALID;
    if (!ms_left)
        return kv_slot_refuse(cl, "ttl", KEEL_ERR_INVALID, "ms_left is NULL");
    char full[KV_FULL_KEY_MAX];
    size_t flen;
    keel_status st = kv_slot_key(cl, "ttl", key, full, &flen);
    if (st != KEEL_OK)
        return st;
    kv_state *s = cl->state;
    st = s->mem ? kv_mem_ttl(s->mem, full, flen, ms_left)
                : kv_redis_ttl(s->redis, full, flen, ms_left);
    return kv_slot_done(cl, "ttl", st, NULL);
}

/* kv_starter.c — the kv starter's definition: lifecycle hooks, bind and
 * unbind, and the module-facing table of this build (1.0.0: set..free;
 * 1.1.0: + ttl). Both builds share the state layout (KV_STATE_FORMAT). */
#include <keel/starter.h>
#include <keel/starters/kv.h>
#include <stdlib.h>
#include <string.h>

#include "kv_admin.h"
#include "kv_mem.h"
#include "kv_redis.h"
#include "kv_slots.h"
#include "kv_state.h"

#ifndef KV_STARTER_VERSION
#error "build with -DKV_STARTER_VERSION=\"x.y.z\" and -DKV_TABLE_VERSION=1|2"
#endif

/* How often the memory backend's sweeper drops expired entries. */
#define KV_SWEEP_INTERVAL_MS 100

#if KV_TABLE_VERSION >= 2
#define KV_SLOT_COUNT 6
#define KV_TABLE_SIZE sizeof(keel_kv_api)
#else
#define KV_SLOT_COUNT 5
#define KV_TABLE_SIZE offsetof(keel_kv_api, ttl)
#endif

static const keel_kv_api kv_table = {
    .version = KV_TABLE_VERSION,
    .size = (uint32_t)KV_TABLE_SIZE,
    .set = kv_slot_set,
    .get = kv_slot_get,
    .del = kv_slot_del,
    .incr = kv_slot_incr,
    .free = kv_slot_free,
#if KV_TABLE_VERSION >= 2
    .ttl = kv_slot_ttl,
#endif
};

static const char *const kv_slot_signatures[] = {
    "i32(ptr,ptr,ptr,u64,i64)", /* set */
    "i32(ptr,ptr,ptr,ptr)",     /* get */
    "i32(ptr,ptr)",             /* del */
    "i32(ptr,ptr,i64,ptr)",     /* incr */
    "void(ptr)",                /* free */
#if KV_TABLE_VERSION >= 2
    "i32(ptr,ptr,ptr)",         /* ttl */
#endif
};
_Static_assert(sizeof kv_slot_signatures / sizeof kv_slot_signatures[0] == KV_SLOT_COUNT,
               "one signature per slot");
_Static_assert(KV_TABLE_SIZE == 8 + KV_SLOT_COUNT * sizeof(void (*)(void)),
               "the table is an 8-byte header and the slots");

static void kv_destroy(void *state)
{
    kv_state *st = state;
    if (!st)
        return;
    kv_client *c = st->clients;   /* none normally: destroy comes after unbind */
    while (c) {
        kv_client *next = c->next;
        free(c->prefix);
        free(c);
        c = next;
    }
    if (st->mem)
        kv_mem_sweeper_stop(st->mem);
    kv_mem_destroy(st->mem);
    kv_redis_destroy(st->redis);
    pthread_mutex_destroy(&st->clients_lock);
    kv_config_clear(&st->cfg);
    free(st);
}

static keel_status kv_create(const keel_starter_host *host, const char *config_json,
                             void **state, keel_starter_error *err)
{
    *state = NULL;
    kv_state *st = calloc(1, sizeof *st);
    if (!st) {
        keel_starter_error_set(err, "kv: out of memory");
        return KEEL_ERR_NOMEM;
    }
    keel_status status = kv_config_parse(config_json, &st->cfg, err);
    if (status != KEEL_OK) {
        free(st);
        return status;
    }
    if (pthread_mutex_init(&st->clients_lock, NULL) != 0) {
        kv_config_clear(&st->cfg);
        free(st);
        keel_starter_error_set(err, "kv: cannot create a mutex");
        return KEEL_ERR_NOMEM;
    }
    st->host = host;
    if (st->cfg.backend == KV_BACKEND_MEMORY) {
        st->mem = kv_mem_create((size_t)st->cfg.max_keys, &st->stats);
        if (!st->mem) {
            keel_starter_error_set(err, "kv: out of memory creating the memory store");
            status = KEEL_ERR_NOMEM;
        }
    } else {
        status = kv_redis_create(st, &st->redis, err);
    }
    if (status != KEEL_OK) {
        kv_destroy(st);
        return status;
    }
    if (st->mem)
        host->log(host, KEEL_LOG_INFO, "kv: memory backend, max_keys %lld, max_value_bytes %lld",
                  (long long)st->cfg.max_keys, (long long)st->cfg.max_value_bytes);
    else
        host->log(host, KEEL_LOG_INFO, "kv: redis backend at %s:%d db %d, pool %d, timeout %d ms",
                  st->cfg.redis_host, st->cfg.redis_port, st->cfg.redis_db, st->cfg.redis_pool,
                  st->cfg.redis_timeout_ms);
    *state = st;
    return KEEL_OK;
}

static keel_status kv_resume(void *state, const keel_starter_host *host, keel_starter_error *err)
{
    kv_state *st = state;
    if (!st->mem)
        return KEEL_OK;   /* redis: no background work (connections are per call) */
    keel_status status = kv_mem_sweeper_start(st->mem, KV_SWEEP_INTERVAL_MS);
    if (status != KEEL_OK)
        keel_starter_error_set(err, "kv: cannot start the expiry sweeper thread (%s)",
                               status == KEEL_ERR_STATE ? "it runs already" : "no resources");
    return status;
}

static void kv_suspend(void *state)
{
    kv_state *st = state;
    if (st->mem)
        kv_mem_sweeper_stop(st->mem);
}

static keel_status kv_bind(void *state, const keel_starter_binding *who, void **client,
                           keel_starter_error *err)
{
    kv_state *st = state;
    *client = NULL;
    if (!who || !kv_module_name_ok(who->module)) {
        keel_starter_error_set(err, "kv: bind: module name \"%.80s\" is not usable as a key "
                                    "prefix (1 to 64 characters, no ':')",
                               who && who->module ? who->module : "(null)");
        return KEEL_ERR_INVALID;
    }
    kv_client *c = calloc(1, sizeof *c);
    size_t n = strlen(who->module);
    char *prefix = malloc(n + 2);
    if (!c || !prefix) {
        free(c);
        free(prefix);
        keel_starter_error_set(err, "kv: bind: out of memory");
        return KEEL_ERR_NOMEM;
    }
    memcpy(prefix, who->module, n);
    prefix[n] = ':';
    prefix[n + 1] = '\0';
    c->state = st;
    c->prefix = prefix;
    c->prefix_len = n + 1;
    pthread_mutex_lock(&st->clients_lock);
    c->next = st->clients;
    if (st->clients)
        st->clients->prev = c;
    st->clients = c;
    pthread_mutex_unlock(&st->clients_lock);
    *client = c;
    return KEEL_OK;
}

static void kv_unbind(void *state, void *client)
{
    kv_state *st = state;
    kv_client *c = client;
    if (!c)
        return;
    pthread_mutex_lock(&st->clients_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&st->clients_lock);
    free(c->prefix);
    free(c);
}

static keel_status kv_admin_hook(void *state, const char *op, const char *args_json,
                                 char **result_json, keel_starter_error *err)
{
    return kv_admin(state, KV_STARTER_VERSION, op, args_json, result_json, err);
}

static const keel_starter_def kv_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "kv",
    .version = KV_STARTER_VERSION,
    .state_format = KV_STATE_FORMAT,
    .table = &kv_table,
    .slot_signatures = kv_slot_signatures,
    .slot_count = KV_SLOT_COUNT,
    .create = kv_create,
    .resume = kv_resume,
    .suspend = kv_suspend,
    .destroy = kv_destroy,
    .bind = kv_bind,
    .unbind = kv_unbind,
    .admin = kv_admin_hook,
};

KEEL_STARTER(kv_def)

/* kv_admin.c — see kv_admin.h. */
#include "kv_admin.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kv_mem.h"
#include "kv_redis.h"

int kv_module_name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strnlen(name, 65);
    return n >= 1 && n <= 64 && !memchr(name, ':', n);
}

static bool kv_info_counters(kv_state *st, cJSON *info)
{
    const struct {
        const char *name;
        atomic_uint_fast64_t *value;
    } counters[] = {
        {"hits", &st->stats.hits},       {"misses", &st->stats.misses},
        {"sets", &st->stats.sets},       {"deletes", &st->stats.deletes},
        {"incrs", &st->stats.incrs},     {"errors", &st->stats.errors},
        {"flushed", &st->stats.flushed},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        if (!cJSON_AddNumberToObject(info, counters[i].name,
                                     (double)atomic_load(counters[i].value)))
            return false;
    uint_fast64_t quiet = atomic_load(&st->warn_input.suppressed) +
                          atomic_load(&st->warn_backend.suppressed);
    return cJSON_AddNumberToObject(info, "warnings_suppressed", (double)quiet) != NULL;
}

static size_t kv_client_count(kv_state *st)
{
    size_t n = 0;
    pthread_mutex_lock(&st->clients_lock);
    for (kv_client *c = st->clients; c; c = c->next)
        n++;
    pthread_mutex_unlock(&st->clients_lock);
    return n;
}

static bool kv_info_memory(kv_state *st, cJSON *info)
{
    cJSON *modules = cJSON_CreateObject();
    if (!modules)
        return false;
    int64_t live = kv_mem_count_modules(st->mem, modules);
    if (live < 0 || !cJSON_AddNumberToObject(info, "keys", (double)live) ||
        !cJSON_AddNumberToObject(info, "stored", (double)kv_mem_stored(st->mem)) ||
        !cJSON_AddNumberToObject(info, "max_keys", (double)kv_mem_max_keys(st->mem)) ||
        !cJSON_AddNumberToObject(info, "expired", (double)atomic_load(&st->stats.expired))) {
        cJSON_Delete(modules);
        return false;
    }
    cJSON_AddItemToObject(info, "modules", modules);
    return true;
}

static keel_status kv_admin_info(kv_state *st, const char *version, char **result_json,
                                 keel_starter_error *err)
{
    cJSON *info = cJSON_CreateObject();
    bool ok = info && cJSON_AddStringToObject(info, "starter", "kv") &&
              cJSON_AddStringToObject(info, "version", version) &&
              cJSON_AddStringToObject(info, "backend", st->mem ? "memory" : "redis") &&
              cJSON_AddNumberToObject(info, "max_value_bytes", (double)st->cfg.max_value_bytes) &&
              cJSON_AddNumberToObject(info, "clients", (double)kv_client_count(st)) &&
              kv_info_counters(st, info) &&
              (st->mem ? kv_info_memory(st, info) : kv_redis_info(st->redis, info));
    char *text = ok ? cJSON_PrintUnformatted(info) : NULL;
    cJSON_Delete(info);
    if (!text) {
        keel_starter_error_set(err, "kv: info: out of memory");
        return KEEL_ERR_NOMEM;
    }
    *result_json = text;
    return KEEL_OK;
}

static keel_status kv_admin_flush(kv_state *st, const char *args_json, char **result_json,
                                  keel_starter_error *err)
{
    cJSON *args = args_json ? cJSON_Parse(args_json) : NULL;
    const cJSON *module = cJSON_GetObjectItemCaseSensitive(args, "module");
    if (!cJSON_IsObject(args) || !cJSON_IsString(module) ||
        !kv_module_name_ok(module->valuestring) || cJSON_GetArraySize(args) != 1) {
        cJSON_Delete(args);
        keel_starter_error_set(err, "kv: flush: expected {\"module\": NAME} with a module name "
                                    "of 1 to 64 characters without ':'");
        return KEEL_ERR_INVALID;
    }
    char prefix[66];
    size_t plen = (size_t)snprintf(prefix, sizeof prefix, "%s:", module->valuestring);
    size_t deleted = 0;
    keel_status status = KEEL_OK;
    if (st->mem)
        deleted = kv_mem_flush_prefix(st->mem, prefix, plen);
    else
        status = kv_redis_flush_prefix(st->redis, prefix, plen, &deleted, err);
    atomic_fetch_add(&st->stats.flushed, deleted);
    cJSON *result = status == KEEL_OK ? cJSON_CreateObject() : NULL;
    char *text = NULL;
    if (result && cJSON_AddStringToObject(result, "module", module->valuestring) &&
        cJSON_AddNumberToObject(result, "deleted", (double)deleted))
        text = cJSON_PrintUnformatted(result);
    cJSON_Delete(result);
    cJSON_Delete(args);
    if (status != KEEL_OK)
        return status;
    if (!text) {
        keel_starter_error_set(err, "kv: flush: out of memory");
        return KEEL_ERR_NOMEM;
    }
    *result_json = text;
    return KEEL_OK;
}

keel_status kv_admin(kv_state *st, const char *version, const char *op, const char *args_json,
                     char **result_json, keel_starter_error *err)
{
    *result_json = NULL;
    if (op && strcmp(op, "info") == 0)
        return kv_admin_info(st, version, result_json, err);
    if (op && strcmp(op, "flush") == 0)
        return kv_admin_flush(st, args_json, result_json, err);
    keel_starter_error_set(err, "kv: unknown admin op \"%.64s\" (known: info, flush)",
                           op ? op : "(null)");
    return KEEL_ERR_NOT_FOUND;
}

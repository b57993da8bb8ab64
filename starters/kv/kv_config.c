/* kv_config.c — see kv_config.h. */
#include "kv_config.h"

#include <cjson/cJSON.h>
#include "starter_json.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Renders `item` (borrowed) for "got ..." into `buf`: JSON text for
 * scalars (cut at 60 characters), words for containers. */
static const char *kv_config_got(const cJSON *item, char *buf, size_t size)
{
    if (cJSON_IsObject(item))
        return "an object";
    if (cJSON_IsArray(item))
        return "an array";
    return keel_starter_json_excerpt(item, 60, buf, size);
}

static keel_status kv_config_fail(keel_starter_error *err, const char *field,
                                  const char *expected, const cJSON *item)
{
    char got[80];
    keel_starter_error_set(err, "kv: config field \"%s\": expected %s, got %s", field, expected,
                           kv_config_got(item, got, sizeof got));
    return KEEL_ERR_INVALID;
}

/* Reads integer field `name` of `obj` into *out when present (min..max). */
static keel_status kv_config_int(const cJSON *obj, const char *name, const char *path,
                                 int64_t min, int64_t max, int64_t *out,
                                 keel_starter_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item)
        return KEEL_OK;
    char expected[96];
    snprintf(expected, sizeof expected, "an integer %lld..%lld", (long long)min,
             (long long)max);
    if (!cJSON_IsNumber(item))
        return kv_config_fail(err, path, expected, item);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)min || v > (double)max)
        return kv_config_fail(err, path, expected, item);
    *out = (int64_t)v;
    return KEEL_OK;
}

/* Reads string field `name` of `obj` (1..max bytes) into a malloc'd *out
 * when present. */
static keel_status kv_config_string(const cJSON *obj, const char *name, const char *path,
                                    size_t max, char **out, keel_starter_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!item)
        return KEEL_OK;
    char expected[96];
    snprintf(expected, sizeof expected, "a string of 1 to %zu bytes", max);
    if (!cJSON_IsString(item) || !item->valuestring || item->valuestring[0] == '\0' ||
        strlen(item->valuestring) > max)
        return kv_config_fail(err, path, expected, item);
    char *copy = strdup(item->valuestring);
    if (!copy)
        return KEEL_ERR_NOMEM;
    free(*out);
    *out = copy;
    return KEEL_OK;
}

/* Refuses members of `obj` not in `known` (NULL-terminated). */
static keel_status kv_config_known(const cJSON *obj, const char *prefix,
                                   const char *const *known, const char *known_text,
                                   keel_starter_error *err)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, obj)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(item->string, known[i]) == 0;
        if (!ok) {
            keel_starter_error_set(err, "kv: config field \"%s%.64s\": unknown field (known: %s)",
                                   prefix, item->string, known_text);
            return KEEL_ERR_INVALID;
        }
    }
    return KEEL_OK;
}

static keel_status kv_config_redis(const cJSON *redis, kv_config *cfg, keel_starter_error *err)
{
    static const char *const known[] = {"host", "port", "db", "password", "timeout_ms", "pool",
                                        NULL};
    if (!cJSON_IsObject(redis))
        return kv_config_fail(err, "redis", "an object", redis);
    keel_status st = kv_config_known(redis, "redis.", known,
                                     "host, port, db, password, timeout_ms, pool", err);
    if (st != KEEL_OK)
        return st;
    int64_t port = cfg->redis_port, db = cfg->redis_db, timeout = cfg->redis_timeout_ms,
            pool = cfg->redis_pool;
    if ((st = kv_config_string(redis, "host", "redis.host", 255, &cfg->redis_host, err)) ||
        (st = kv_config_int(redis, "port", "redis.port", 1, 65535, &port, err)) ||
        (st = kv_config_int(redis, "db", "redis.db", 0, 65535, &db, err)) ||
        (st = kv_config_string(redis, "password", "redis.password", 512, &cfg->redis_password,
                               err)) ||
        (st = kv_config_int(redis, "timeout_ms", "redis.timeout_ms", 1, 600000, &timeout, err)) ||
        (st = kv_config_int(redis, "pool", "redis.pool", 1, 64, &pool, err)))
        return st;
    cfg->redis_port = (int)port;
    cfg->redis_db = (int)db;
    cfg->redis_timeout_ms = (int)timeout;
    cfg->redis_pool = (int)pool;
    return KEEL_OK;
}

static keel_status kv_config_root(const cJSON *root, kv_config *cfg, keel_starter_error *err)
{
    static const char *const known[] = {"backend", "max_keys", "max_value_bytes", "redis", NULL};
    keel_status st =
        kv_config_known(root, "", known, "backend, max_keys, max_value_bytes, redis", err);
    if (st != KEEL_OK)
        return st;
    const cJSON *backend = cJSON_GetObjectItemCaseSensitive(root, "backend");
    if (backend) {
        if (cJSON_IsString(backend) && strcmp(backend->valuestring, "memory") == 0)
            cfg->backend = KV_BACKEND_MEMORY;
        else if (cJSON_IsString(backend) && strcmp(backend->valuestring, "redis") == 0)
            cfg->backend = KV_BACKEND_REDIS;
        else
            return kv_config_fail(err, "backend", "\"memory\" or \"redis\"", backend);
    }
    if ((st = kv_config_int(root, "max_keys", "max_keys", 1, 1000000000, &cfg->max_keys, err)) ||
        (st = kv_config_int(root, "max_value_bytes", "max_value_bytes", 1, 512 * 1024 * 1024,
                            &cfg->max_value_bytes, err)))
        return st;
    const cJSON *redis = cJSON_GetObjectItemCaseSensitive(root, "redis");
    return redis ? kv_config_redis(redis, cfg, err) : KEEL_OK;
}

keel_status kv_config_parse(const char *json, kv_config *out, keel_starter_error *err)
{
    *out = (kv_config){
        .backend = KV_BACKEND_MEMORY,
        .max_keys = KV_DEFAULT_MAX_KEYS,
        .max_value_bytes = KV_DEFAULT_MAX_VALUE_BYTES,
        .redis_port = KV_DEFAULT_REDIS_PORT,
        .redis_db = 0,
        .redis_timeout_ms = KV_DEFAULT_REDIS_TIMEOUT_MS,
        .redis_pool = KV_DEFAULT_REDIS_POOL,
    };
    if (!json)
        json = "{}";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        keel_starter_error_set(err, "kv: config is not valid JSON (error at byte %zu)", at);
        return KEEL_ERR_INVALID;
    }
    keel_status st;
    if (!cJSON_IsObject(root)) {
        char got[80];
        keel_starter_error_set(err, "kv: config: expected a JSON object, got %s",
                               kv_config_got(root, got, sizeof got));
        st = KEEL_ERR_INVALID;
    } else {
        st = kv_config_root(root, out, err);
    }
    cJSON_Delete(root);
    if (st == KEEL_OK && !out->redis_host && !(out->redis_host = strdup(KV_DEFAULT_REDIS_HOST)))
        st = KEEL_ERR_NOMEM;
    if (st == KEEL_ERR_NOMEM)
        keel_starter_error_set(err, "kv: out of memory reading the config");
    if (st != KEEL_OK)
        kv_config_clear(out);
    return st;
}

void kv_config_clear(kv_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->redis_host);
    free(cfg->redis_password);
    *cfg = (kv_config){0};
}

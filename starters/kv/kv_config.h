/* kv_config.h — the kv starter's configuration: parsing and validation. */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <keel/starter.h>

typedef enum kv_backend { KV_BACKEND_MEMORY = 0, KV_BACKEND_REDIS = 1 } kv_backend;

/* Defaults and bounds (the market schema states the same numbers). */
#define KV_DEFAULT_MAX_KEYS 100000
#define KV_DEFAULT_MAX_VALUE_BYTES (1024 * 1024)
#define KV_DEFAULT_REDIS_HOST "127.0.0.1"
#define KV_DEFAULT_REDIS_PORT 6379
#define KV_DEFAULT_REDIS_TIMEOUT_MS 1000
#define KV_DEFAULT_REDIS_POOL 4

typedef struct kv_config {
    kv_backend backend;
    int64_t max_keys;          /* memory backend */
    int64_t max_value_bytes;
    char *redis_host;          /* malloc'd */
    int redis_port;
    int redis_db;
    char *redis_password;      /* malloc'd, NULL when not configured */
    int redis_timeout_ms;
    int redis_pool;
} kv_config;

/* Parses `json` (borrowed) into *out, applying defaults. On KEEL_OK the
 * strings in *out are owned by the caller (kv_config_clear). On error
 * `err` holds one line ("kv: config field ...") and *out is cleared. */
keel_status kv_config_parse(const char *json, kv_config *out, keel_starter_error *err);

/* Frees the strings of `cfg` (NULL-safe) and zeroes it. */
void kv_config_clear(kv_config *cfg);

#endif

/* db_config.c — the db starter's configuration:
 *   {"dir": string, "busy_timeout_ms": int, "synchronous": "off"|"normal"|"full",
 *    "max_result_bytes": int}
 * every field optional. A malformed configuration is one line naming the
 * field, what is expected and what was given. */
#include "db_internal.h"

#include <cjson/cJSON.h>
#include "starter_json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_BUSY_MAX 600000
#define DB_RESULT_MIN 256
#define DB_RESULT_MAX (INT64_C(1) << 30)
#define DB_DIR_MAX 3000

static const char *const sync_names[] = {"off", "normal", "full"};

const char *db_config_sync_name(db_sync s)
{
    return (unsigned)s < 3 ? sync_names[s] : "?";
}

/* The value as compact JSON, cut to fit a one-line message. */
static void config_got(const cJSON *v, char *buf, size_t size)
{
    keel_starter_json_excerpt(v, 60, buf, size);
}

static keel_status config_fail(keel_starter_error *err, const char *field, const char *expected,
                               const cJSON *got)
{
    char g[80];
    config_got(got, g, sizeof g);
    keel_starter_error_set(err, "db: config field \"%s\": expected %s, got %s", field, expected, g);
    return KEEL_ERR_INVALID;
}

static keel_status config_int(const cJSON *v, const char *field, int64_t lo, int64_t hi,
                              int64_t *out, keel_starter_error *err)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer %lld..%lld", (long long)lo, (long long)hi);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return config_fail(err, field, expected, v);
    *out = (int64_t)v->valuedouble;
    return KEEL_OK;
}

static keel_status config_dir(const cJSON *v, const char *work_dir, db_config *cfg,
                              keel_starter_error *err)
{
    const char *expected = "a directory path (relative to the starter's work directory)";
    if (!cJSON_IsString(v) || strlen(v->valuestring) > DB_DIR_MAX ||
        strchr(v->valuestring, '\n') != NULL)
        return config_fail(err, "dir", expected, v);
    const char *dir = v->valuestring;
    size_t n = strlen(work_dir) + strlen(dir) + 2;
    char *path = malloc(n);
    if (!path)
        return KEEL_ERR_NOMEM;
    if (dir[0] == '/')
        snprintf(path, n, "%s", dir);
    else if (dir[0] == '\0')
        snprintf(path, n, "%s", work_dir);
    else
        snprintf(path, n, "%s/%s", work_dir, dir);
    free(cfg->dir);
    cfg->dir = path;
    return KEEL_OK;
}

keel_status db_config_parse(const char *json, const char *work_dir, db_config *cfg,
                            keel_starter_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (!work_dir || work_dir[0] == '\0') {
        keel_starter_error_set(err, "db: the host gave no work directory");
        return KEEL_ERR_INVALID;
    }
    cJSON *root = cJSON_Parse(json ? json : "{}");
    if (!cJSON_IsObject(root)) {
        keel_starter_error_set(err, "db: config: expected a JSON object such as "
                                    "{\"busy_timeout_ms\": 5000}, got %s",
                               root ? "another JSON value" : "text that is not JSON");
        cJSON_Delete(root);
        return KEEL_ERR_INVALID;
    }
    cfg->busy_timeout_ms = 5000;
    cfg->synchronous = DB_SYNC_NORMAL;
    cfg->max_result_bytes = INT64_C(4) << 20;
    keel_status st = KEEL_OK;
    const cJSON *v;
    cJSON_ArrayForEach(v, root) {
        const char *k = v->string;
        if (strcmp(k, "dir") == 0) {
            st = config_dir(v, work_dir, cfg, err);
        } else if (strcmp(k, "busy_timeout_ms") == 0) {
            st = config_int(v, k, 0, DB_BUSY_MAX, &cfg->busy_timeout_ms, err);
        } else if (strcmp(k, "max_result_bytes") == 0) {
            st = config_int(v, k, DB_RESULT_MIN, DB_RESULT_MAX, &cfg->max_result_bytes, err);
        } else if (strcmp(k, "synchronous") == 0) {
            st = KEEL_ERR_INVALID;
            for (int i = 0; i < 3 && cJSON_IsString(v); i++)
                if (strcmp(v->valuestring, sync_names[i]) == 0) {
                    cfg->synchronous = (db_sync)i;
                    st = KEEL_OK;
                }
            if (st != KEEL_OK)
                config_fail(err, k, "one of \"off\", \"normal\", \"full\"", v);
        } else {
            char field[80];
            snprintf(field, sizeof field, "%.60s", k);
            keel_starter_error_set(err, "db: config field \"%s\": unknown (known: dir, "
                                        "busy_timeout_ms, synchronous, max_result_bytes)", field);
            st = KEEL_ERR_INVALID;
        }
        if (st != KEEL_OK)
            break;
    }
    cJSON_Delete(root);
    if (st == KEEL_OK && !cfg->dir) {
        cfg->dir = strdup(work_dir);
        if (!cfg->dir)
            st = KEEL_ERR_NOMEM;
    }
    if (st != KEEL_OK)
        db_config_clear(cfg);
    if (st == KEEL_ERR_NOMEM)
        keel_starter_error_set(err, "db: out of memory reading the configuration");
    return st;
}

void db_config_clear(db_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->dir);
    cfg->dir = NULL;
}

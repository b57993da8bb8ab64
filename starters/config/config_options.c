/* config_options.c — the config starter's own configuration:
 *   {"store": "config.json", "max_value_bytes": 65536,
 *    "defaults": {"MODULE": {"SCENE or *": {"KEY": <any JSON>}}}}
 * Checked here too (the harness and tests call create with anything), one
 * line per error naming the field. */
#include "starter_json.h"
#include "config_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `v` as short JSON text for an error message. */
static void got_text(const cJSON *v, char *buf, size_t size)
{
    keel_starter_json_excerpt(v, 60, buf, size);
}

static keel_status field_error(keel_starter_error *err, const char *field, const char *expected,
                               const cJSON *got)
{
    char g[80];
    got_text(got, g, sizeof g);
    keel_starter_error_set(err, "config: config field \"%s\": expected %s, got %s", field, expected, g);
    return KEEL_ERR_INVALID;
}

static keel_status name_error(keel_starter_error *err, const char *field, const char *expected,
                              const char *name)
{
    keel_starter_error_set(err, "config: config field \"%s\": expected %s, got \"%.64s\"", field,
                           expected, name);
    return KEEL_ERR_INVALID;
}

/* Checks the shape of "defaults"; values are sized against max_value. */
static keel_status check_defaults(const cJSON *defaults, size_t max_value, keel_starter_error *err)
{
    char field[512];
    const cJSON *mod, *scene, *item;
    if (!cJSON_IsObject(defaults))
        return field_error(err, "defaults", "an object {module: {scene or \"*\": {key: value}}}", defaults);
    cJSON_ArrayForEach(mod, defaults) {
        if (!config_valid_module(mod->string))
            return name_error(err, "defaults", CONFIG_EXPECT_MODULE " as each member name", mod->string);
        snprintf(field, sizeof field, "defaults.%s", mod->string);
        if (!cJSON_IsObject(mod))
            return field_error(err, field, "an object {scene or \"*\": {key: value}}", mod);
        cJSON_ArrayForEach(scene, mod) {
            if (!config_valid_scene(scene->string))
                return name_error(err, field, CONFIG_EXPECT_SCENE " as each member name", scene->string);
            snprintf(field, sizeof field, "defaults.%s.%s", mod->string, scene->string);
            if (!cJSON_IsObject(scene))
                return field_error(err, field, "an object {key: value}", scene);
            cJSON_ArrayForEach(item, scene) {
                if (!config_valid_key(item->string))
                    return name_error(err, field, CONFIG_EXPECT_KEY " as each member name", item->string);
                char *text = config_json_compact(item);
                if (text == NULL)
                    return KEEL_ERR_NOMEM;
                size_t len = strlen(text);
                free(text);
                if (len > max_value) {
                    snprintf(field, sizeof field, "defaults.%s.%s.%s", mod->string, scene->string, item->string);
                    keel_starter_error_set(err, "config: config field \"%s\": expected a value of at most "
                                           "%zu bytes (max_value_bytes), got %zu bytes", field, max_value, len);
                    return KEEL_ERR_LIMIT;
                }
            }
        }
    }
    return KEEL_OK;
}

keel_status config_options_parse(const char *config_json, config_options *o, keel_starter_error *err)
{
    *o = (config_options){.max_value = CONFIG_DEFAULT_MAX_VALUE};
    cJSON *root = cJSON_Parse(config_json ? config_json : "{}");
    if (!cJSON_IsObject(root)) {
        keel_starter_error_set(err, "config: the configuration must be a JSON object like {\"store\": "
                               "\"config.json\", \"max_value_bytes\": 65536, \"defaults\": {...}}");
        cJSON_Delete(root);
        return KEEL_ERR_INVALID;
    }
    keel_status st = KEEL_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "store") != 0 && strcmp(item->string, "max_value_bytes") != 0 &&
            strcmp(item->string, "defaults") != 0) {
            keel_starter_error_set(err, "config: config field \"%.64s\": unknown (known: store, "
                                   "max_value_bytes, defaults)", item->string);
            st = KEEL_ERR_INVALID;
            goto out;
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "max_value_bytes");
    if (item != NULL) {
        double d = cJSON_IsNumber(item) ? item->valuedouble : NAN;
        if (!(d >= CONFIG_MIN_MAX_VALUE && d <= CONFIG_MAX_MAX_VALUE) || d != floor(d)) {
            st = field_error(err, "max_value_bytes", "an integer 16..16777216", item);
            goto out;
        }
        o->max_value = (size_t)d;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "store");
    if (item != NULL && (!cJSON_IsString(item) || !config_valid_store_name(item->valuestring))) {
        st = field_error(err, "store", "a file name of 1 to 128 characters from [A-Za-z0-9_.-] "
                         "not starting with '.'", item);
        goto out;
    }
    o->store = strdup(item ? item->valuestring : CONFIG_DEFAULT_STORE);
    if (o->store == NULL) {
        st = KEEL_ERR_NOMEM;
        goto out;
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (item != NULL) {
        if ((st = check_defaults(item, o->max_value, err)) != KEEL_OK)
            goto out;
        o->defaults = cJSON_DetachItemFromObjectCaseSensitive(root, "defaults");
    }
out:
    cJSON_Delete(root);
    if (st != KEEL_OK)
        config_options_free(o);
    return st;
}

void config_options_free(config_options *o)
{
    if (o == NULL)
        return;
    free(o->store);
    cJSON_Delete(o->defaults);
    *o = (config_options){0};
}

keel_status config_options_apply_defaults(const config_options *o, config_table *t,
                                          keel_starter_error *err)
{
    const cJSON *mod, *scene, *item;
    cJSON_ArrayForEach(mod, o->defaults) {
        cJSON_ArrayForEach(scene, mod) {
            cJSON_ArrayForEach(item, scene) {
                config_entry *e = config_table_upsert(t, mod->string, scene->string, item->string);
                char *text = e ? config_json_compact(item) : NULL;
                if (text == NULL) {
                    keel_starter_error_set(err, "config: out of memory loading the defaults");
                    return KEEL_ERR_NOMEM;
                }
                free(e->def_value);
                e->def_value = text;
            }
        }
    }
    return KEEL_OK;
}

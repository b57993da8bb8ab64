/* The base's starters: see starters.h. */
#include "starters.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <keel/file.h>
#include <keel/log.h>
#include "base_internal.h"
#include "json_text.h"

#define STARTERS_RECORD "starters.json"
#define STARTERS_RECORD_MAX (16u << 20)

/* A module is switching while an operation holds its claim. */
static keel_starter_module_status module_status(void *user, const char *module)
{
    keel_base *b = user;
    int claimed = 0;
    pthread_mutex_lock(&b->claim_lock);
    for (size_t i = 0; i < b->claim_count && !claimed; i++)
        claimed = strcmp(b->claims[i].name, module) == 0;
    pthread_mutex_unlock(&b->claim_lock);
    if (claimed)
        return KEEL_STARTER_MODULE_SWITCHING;
    return keel_base_is_recorded(b, module, NULL) ? KEEL_STARTER_MODULE_SERVING
                                                  : KEEL_STARTER_MODULE_ABSENT;
}

keel_status keel_base_starters_create(keel_base *b, keel_error *err)
{
    keel_market *market = NULL;
    keel_status st = KEEL_OK;
    if (b->cfg.starters_market) {
        st = keel_market_load(b->cfg.starters_market, &market, err);
        if (st != KEEL_OK)
            return keel_error_prefix(err, "configuration field \"starters.market\"");
    } else if (!(market = keel_market_empty())) {
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    char *dir = NULL;
    if (asprintf(&dir, "%s/starters", b->cfg.work_dir) < 0) {
        keel_market_destroy(market);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    keel_starter_set_options opts = {
        .work_dir = dir,
        .router = keel_loader_router(b->loader),
        .module_status = module_status,
        .user = b,
        .drain_timeout_ms = b->cfg.drain_timeout_ms,
    };
    st = keel_starter_set_create(&opts, market, &b->starters, err);
    free(dir);
    if (st != KEEL_OK)
        return st;
    keel_starter_set_plug(b->starters, b->loader);
    return KEEL_OK;
}

void keel_base_starters_destroy(keel_base *b)
{
    if (!b->starters)
        return;
    keel_loader_set_starters(b->loader, NULL);
    keel_starter_set_destroy(b->starters);
    b->starters = NULL;
}

/* --- the record: what operators changed ---------------------------------- */

/* {"enabled": {NAME: {"version", "config"}}, "disabled": [NAME...]}:
 * written after every enable/disable, read at boot. */
static keel_status record_write(keel_base *b, keel_error *err)
{
    char *enabled = keel_starter_set_enabled_json(b->starters);
    cJSON *root = cJSON_CreateObject();
    cJSON *disabled = cJSON_CreateArray();
    if (!enabled || !root || !disabled) {
        free(enabled);
        cJSON_Delete(root);
        cJSON_Delete(disabled);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToObject(root, "enabled", cJSON_Parse(enabled));
    free(enabled);
    for (size_t i = 0; i < b->starters_disabled_count; i++)
        cJSON_AddItemToArray(disabled, cJSON_CreateString(b->starters_disabled[i]));
    cJSON_AddItemToObject(root, "disabled", disabled);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_status st = keel_file_write_atomic(b->cfg.work_dir, STARTERS_RECORD, text, err);
    free(text);
    return st;
}

/* Forgets the failure recorded for `name`; with `why`, records one. Under
 * starters_lock (or during boot). */
static void failure_set(keel_base *b, const char *name, const char *why)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < b->starters_failed_count; i++) {
        if (strncmp(b->starters_failed[i], name, n) == 0 && b->starters_failed[i][n] == ':') {
            free(b->starters_failed[i]);
            b->starters_failed[i] = b->starters_failed[--b->starters_failed_count];
            break;
        }
    }
    if (!why)
        return;
    char *line = NULL;
    char **grown = realloc(b->starters_failed, (b->starters_failed_count + 1) * sizeof *grown);
    if (grown)
        b->starters_failed = grown;
    if (grown && asprintf(&line, "%s: %s", name, why) >= 0)
        b->starters_failed[b->starters_failed_count++] = line;
}

char *keel_base_starter_failures(keel_base *b)
{
    pthread_mutex_lock(&b->starters_lock);
    char *text = NULL;
    size_t len = 0;
    FILE *out = b->starters_failed_count ? open_memstream(&text, &len) : NULL;
    for (size_t i = 0; out && i < b->starters_failed_count; i++)
        fprintf(out, "%s\n", b->starters_failed[i]);
    if (out)
        fclose(out);
    pthread_mutex_unlock(&b->starters_lock);
    return text;
}

static void disabled_set(keel_base *b, const char *name, int disabled)
{
    for (size_t i = 0; i < b->starters_disabled_count; i++) {
        if (strcmp(b->starters_disabled[i], name) == 0) {
            if (!disabled) {
                free(b->starters_disabled[i]);
                b->starters_disabled[i] = b->starters_disabled[--b->starters_disabled_count];
            }
            return;
        }
    }
    if (!disabled)
        return;
    char **grown = realloc(b->starters_disabled, (b->starters_disabled_count + 1) * sizeof *grown);
    char *copy = strdup(name);
    if (!grown || !copy) {
        free(copy);
        if (grown)
            b->starters_disabled = grown;
        return;
    }
    b->starters_disabled = grown;
    b->starters_disabled[b->starters_disabled_count++] = copy;
}

keel_status keel_base_starter_enable(keel_base *b, const char *name, const char *range,
                                     const char *config_json, keel_error *err, char *version,
                                     size_t size)
{
    pthread_mutex_lock(&b->starters_lock);
    keel_status st = keel_starter_set_enable(b->starters, name, range, config_json, err);
    if (st == KEEL_OK) {
        disabled_set(b, name, 0);
        failure_set(b, name, NULL);
        st = record_write(b, err);
        if (!keel_starter_set_version(b->starters, name, version, size))
            snprintf(version, size, "?");
    }
    pthread_mutex_unlock(&b->starters_lock);
    return st;
}

keel_status keel_base_starter_disable(keel_base *b, const char *name, keel_error *err)
{
    pthread_mutex_lock(&b->starters_lock);
    keel_status st = keel_starter_set_disable(b->starters, name, err);
    if (st == KEEL_OK) {
        disabled_set(b, name, 1);
        failure_set(b, name, NULL);
        st = record_write(b, err);
    }
    pthread_mutex_unlock(&b->starters_lock);
    return st;
}

/* --- boot ----------------------------------------------------------------- */

static cJSON *record_read(keel_base *b)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", b->cfg.work_dir, STARTERS_RECORD) < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    int error = keel_file_read(path, STARTERS_RECORD_MAX, &text, &len);
    cJSON *root = error == 0 ? keel_json_parse_whole(text, len, NULL) : NULL;
    if (error != ENOENT && !cJSON_IsObject(root)) {
        keel_log(KEEL_LOG_ERROR, "starters", "%s is unreadable; using the configuration only", path);
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    free(path);
    return root;
}

static void boot_enable(keel_base *b, const char *name, const cJSON *entry)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "version");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "config");
    char *config = c ? cJSON_PrintUnformatted(c) : NULL;
    keel_error err = {0};
    if (keel_starter_set_enable(b->starters, name, cJSON_IsString(v) ? v->valuestring : NULL,
                                config ? config : "{}", &err) != KEEL_OK) {
        keel_log(KEEL_LOG_ERROR, "starters", "%s left disabled: %s", name, err.message);
        pthread_mutex_lock(&b->starters_lock);
        failure_set(b, name, err.message);
        pthread_mutex_unlock(&b->starters_lock);
    }
    free(config);
}

void keel_base_starters_boot(keel_base *b)
{
    cJSON *config = b->cfg.starters_enable_json ? cJSON_Parse(b->cfg.starters_enable_json) : NULL;
    cJSON *record = record_read(b);
    const cJSON *rec_enabled = cJSON_GetObjectItemCaseSensitive(record, "enabled");
    const cJSON *rec_disabled = cJSON_GetObjectItemCaseSensitive(record, "disabled");
    const cJSON *d;
    cJSON_ArrayForEach(d, rec_disabled)
        if (cJSON_IsString(d))
            disabled_set(b, d->valuestring, 1);
    const cJSON *e;
    /* What operators enabled or upgraded wins (exact version, config). */
    cJSON_ArrayForEach(e, rec_enabled)
        if (cJSON_IsObject(e))
            boot_enable(b, e->string, e);
    /* Then the configuration's, unless an operator disabled it or it is
     * already up from the record. */
    cJSON_ArrayForEach(e, config) {
        int skip = cJSON_GetObjectItemCaseSensitive(rec_enabled, e->string) != NULL;
        for (size_t i = 0; i < b->starters_disabled_count && !skip; i++)
            skip = strcmp(b->starters_disabled[i], e->string) == 0;
        if (!skip)
            boot_enable(b, e->string, e);
    }
    cJSON_Delete(config);
    cJSON_Delete(record);
}

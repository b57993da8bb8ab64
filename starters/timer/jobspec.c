/* jobspec.c — see jobspec.h. */
#include "jobspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool keel_timer_name_valid(const char *name)
{
    size_t n = 0;
    for (const char *s = name; *s; s++, n++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return n >= 1 && n <= 64;
}

void keel_timer_jobspec_clear(keel_timer_jobspec *spec)
{
    if (!spec)
        return;
    free(spec->name);
    free(spec->module);
    free(spec->scene);
    free(spec->service);
    free(spec->args_json);
    free(spec->every);
    free(spec->cron);
    memset(spec, 0, sizeof *spec);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool keel_timer_jobspec_equal(const keel_timer_jobspec *a, const keel_timer_jobspec *b)
{
    return str_eq(a->module, b->module) && str_eq(a->scene, b->scene) &&
           str_eq(a->service, b->service) && str_eq(a->args_json, b->args_json) &&
           strcmp(a->spec.text, b->spec.text) == 0;
}

/* A string field: absent → *out NULL; else a non-empty string of at most
 * `max` bytes, copied. */
static keel_status take_string(const cJSON *obj, const char *key, size_t max, char **out,
                               const char **field, char *msg, size_t size)
{
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v)
        return KEEL_OK;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > max) {
        *field = key;
        snprintf(msg, size, "expected a non-empty string of at most %zu bytes", max);
        return KEEL_ERR_INVALID;
    }
    *out = strdup(v->valuestring);
    return *out ? KEEL_OK : KEEL_ERR_NOMEM;
}

keel_status keel_timer_jobspec_parse(const cJSON *obj, bool config, keel_timer_jobspec *out,
                                     const char **field, char *msg, size_t size)
{
    static const char *const keys[] = {"name", "module", "scene",    "service",
                                       "args", "every",  "cron",     "timezone", NULL};
    memset(out, 0, sizeof *out);
    *field = "";
    if (!cJSON_IsObject(obj)) {
        snprintf(msg, size, "expected a JSON object");
        return KEEL_ERR_INVALID;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            if (strcmp(it->string, keys[i]) == 0 && (config || i != 0))
                known = true;
        if (!known) {
            *field = it->string;
            snprintf(msg, size,
                     "unknown field (known: %sscene, service, args, every, cron, timezone)",
                     config ? "name, module, " : "module, ");
            return KEEL_ERR_INVALID;
        }
    }
    keel_status st = KEEL_OK;
    char *timezone = NULL;
    if (config) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
        if (!cJSON_IsString(name) || !keel_timer_name_valid(name->valuestring)) {
            *field = "name";
            snprintf(msg, size, "expected a job name of 1-64 characters [A-Za-z0-9_.-]");
            return KEEL_ERR_INVALID;
        }
        if (!(out->name = strdup(name->valuestring)))
            return KEEL_ERR_NOMEM;
    }
    if ((st = take_string(obj, "module", 128, &out->module, field, msg, size)) != KEEL_OK ||
        (st = take_string(obj, "scene", 128, &out->scene, field, msg, size)) != KEEL_OK ||
        (st = take_string(obj, "service", 256, &out->service, field, msg, size)) != KEEL_OK ||
        (st = take_string(obj, "every", 32, &out->every, field, msg, size)) != KEEL_OK ||
        (st = take_string(obj, "cron", 100, &out->cron, field, msg, size)) != KEEL_OK ||
        (st = take_string(obj, "timezone", 16, &timezone, field, msg, size)) != KEEL_OK)
        goto fail;
    if (config && !out->module) {
        *field = "module";
        snprintf(msg, size, "required: the module whose switching pauses the job");
        st = KEEL_ERR_INVALID;
        goto fail;
    }
    if (!out->service) {
        *field = "service";
        snprintf(msg, size, "required: the service to call");
        st = KEEL_ERR_INVALID;
        goto fail;
    }
    if (config && !out->scene && !(out->scene = strdup("default"))) {
        st = KEEL_ERR_NOMEM;
        goto fail;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(obj, "args");
    if (args && !cJSON_IsArray(args)) {
        *field = "args";
        snprintf(msg, size, "expected a JSON array of the service's arguments");
        st = KEEL_ERR_INVALID;
        goto fail;
    }
    out->args_json = args ? cJSON_PrintUnformatted(args) : strdup("[]");
    if (!out->args_json) {
        st = KEEL_ERR_NOMEM;
        goto fail;
    }
    if (strlen(out->args_json) > KEEL_TIMER_ARGS_MAX) {
        *field = "args";
        snprintf(msg, size, "longer than %d bytes", KEEL_TIMER_ARGS_MAX);
        st = KEEL_ERR_INVALID;
        goto fail;
    }
    if (!keel_timer_spec_make(out->every, out->cron, timezone, &out->spec, field, msg, size)) {
        st = KEEL_ERR_INVALID;
        goto fail;
    }
    free(timezone);
    return KEEL_OK;
fail:
    free(timezone);
    keel_timer_jobspec_clear(out);
    return st;
}

/* config.c — see config.h. */
#include "config.h"

#include <cjson/cJSON.h>
#include "starter_json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobspec.h"

void keel_timer_config_clear(keel_timer_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->state_path);
    for (size_t i = 0; i < cfg->job_count; i++)
        keel_timer_jobspec_clear(&cfg->jobs[i]);
    free(cfg->jobs);
    memset(cfg, 0, sizeof *cfg);
}

/* "got ..." text: the value as compact JSON, shortened. */
static const char *shown(const cJSON *v, char *buf, size_t size)
{
    return keel_starter_json_excerpt(v, 40, buf, size);
}

static bool read_int(const cJSON *root, const char *key, long min, long max, long *out,
                     keel_starter_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v)
        return true;
    char buf[48];
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < (double)min || v->valuedouble > (double)max) {
        keel_starter_error_set(err, "timer: config field \"%s\": expected an integer %ld..%ld, got %s",
                               key, min, max, shown(v, buf, sizeof buf));
        return false;
    }
    *out = (long)v->valuedouble;
    return true;
}

static keel_status read_jobs(const cJSON *jobs, keel_timer_config *out, keel_starter_error *err)
{
    char buf[48];
    if (!cJSON_IsArray(jobs)) {
        keel_starter_error_set(err, "timer: config field \"jobs\": expected an array of job "
                               "objects, got %s", shown(jobs, buf, sizeof buf));
        return KEEL_ERR_INVALID;
    }
    size_t n = (size_t)cJSON_GetArraySize(jobs);
    if (n > out->max_jobs) {
        keel_starter_error_set(err, "timer: config field \"jobs\": %zu jobs exceed max_jobs %zu",
                               n, out->max_jobs);
        return KEEL_ERR_INVALID;
    }
    if (n == 0)
        return KEEL_OK;
    out->jobs = calloc(n, sizeof *out->jobs);
    if (!out->jobs) {
        keel_starter_error_set(err, "timer: out of memory reading the configuration");
        return KEEL_ERR_NOMEM;
    }
    size_t i = 0;
    for (const cJSON *j = jobs->child; j; j = j->next, i++) {
        const char *field;
        char msg[320];
        keel_status st = keel_timer_jobspec_parse(j, true, &out->jobs[i], &field, msg, sizeof msg);
        if (st != KEEL_OK) {
            const cJSON *name = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "name")
                                                  : NULL;
            char job[96] = "";
            if (cJSON_IsString(name) && strcmp(field, "name") != 0)
                snprintf(job, sizeof job, " (job \"%.64s\")", name->valuestring);
            keel_starter_error_set(err, "timer: config field \"jobs[%zu]%s%s\"%s: %s", i,
                                   field[0] ? "." : "", field, job, msg);
            return st;
        }
        out->job_count = i + 1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->jobs[k].name, out->jobs[i].name) == 0) {
                keel_starter_error_set(err,
                                       "timer: config field \"jobs[%zu].name\": duplicate job "
                                       "name \"%s\" (also jobs[%zu])",
                                       i, out->jobs[i].name, k);
                return KEEL_ERR_INVALID;
            }
    }
    return KEEL_OK;
}

keel_status keel_timer_config_read(const char *config_json, const char *work_dir,
                                   keel_timer_config *out, keel_starter_error *err)
{
    static const char *const keys[] = {"state_file", "max_jobs", "catch_up", "workers", "jobs",
                                       NULL};
    memset(out, 0, sizeof *out);
    out->max_jobs = 1000;
    out->workers = 2;
    out->catch_up = KEEL_TIMER_CATCH_UP_ONCE;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(config_json ? config_json : "{}", &end, true);
    if (!root) {
        keel_starter_error_set(err, "timer: config: malformed JSON near position %ld",
                               end && config_json ? (long)(end - config_json) + 1 : 1L);
        return KEEL_ERR_INVALID;
    }
    keel_status st = KEEL_ERR_INVALID;
    char buf[48];
    if (!cJSON_IsObject(root)) {
        keel_starter_error_set(err, "timer: config: expected a JSON object, got %s",
                               shown(root, buf, sizeof buf));
        goto out;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known = known || strcmp(it->string, keys[i]) == 0;
        if (!known) {
            keel_starter_error_set(err,
                                   "timer: config field \"%.64s\": unknown (known: state_file, "
                                   "max_jobs, catch_up, workers, jobs)",
                                   it->string);
            goto out;
        }
    }
    long max_jobs = 1000, workers = 2;
    if (!read_int(root, "max_jobs", 1, 100000, &max_jobs, err) ||
        !read_int(root, "workers", 2, 64, &workers, err))
        goto out;
    out->max_jobs = (size_t)max_jobs;
    out->workers = (unsigned)workers;
    const cJSON *catch_up = cJSON_GetObjectItemCaseSensitive(root, "catch_up");
    if (catch_up) {
        if (cJSON_IsString(catch_up) && strcmp(catch_up->valuestring, "once") == 0) {
            out->catch_up = KEEL_TIMER_CATCH_UP_ONCE;
        } else if (cJSON_IsString(catch_up) && strcmp(catch_up->valuestring, "skip") == 0) {
            out->catch_up = KEEL_TIMER_CATCH_UP_SKIP;
        } else {
            keel_starter_error_set(err,
                                   "timer: config field \"catch_up\": expected \"once\" or "
                                   "\"skip\", got %s",
                                   shown(catch_up, buf, sizeof buf));
            goto out;
        }
    }
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(root, "state_file");
    const char *path = "timer.json";
    if (file) {
        size_t len = cJSON_IsString(file) ? strlen(file->valuestring) : 0;
        if (len == 0 || len > 1024 || file->valuestring[len - 1] == '/') {
            keel_starter_error_set(err,
                                   "timer: config field \"state_file\": expected a file path "
                                   "(1-1024 bytes, relative to the starter's work directory), "
                                   "got %s",
                                   shown(file, buf, sizeof buf));
            goto out;
        }
        path = file->valuestring;
    }
    if (path[0] == '/' || !work_dir) {
        out->state_path = strdup(path);
    } else {
        size_t n = strlen(work_dir) + strlen(path) + 2;
        if ((out->state_path = malloc(n)))
            snprintf(out->state_path, n, "%s/%s", work_dir, path);
    }
    if (!out->state_path) {
        keel_starter_error_set(err, "timer: out of memory reading the configuration");
        st = KEEL_ERR_NOMEM;
        goto out;
    }
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    st = jobs ? read_jobs(jobs, out, err) : KEEL_OK;
out:
    cJSON_Delete(root);
    if (st != KEEL_OK)
        keel_timer_config_clear(out);
    return st;
}

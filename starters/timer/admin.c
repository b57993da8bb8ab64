/* admin.c — see admin.h. */
#include "admin.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "registry.h"
#include "scheduler.h"
#include "slots.h"

#ifndef TIMER_VERSION
#error "TIMER_VERSION must be defined by the build"
#endif

#define KNOWN_OPS "info, jobs, run, preview"

static keel_status finish(cJSON *root, char **result_json, keel_starter_error *err)
{
    *result_json = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!*result_json) {
        keel_starter_error_set(err, "timer: out of memory");
        return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

/* The jobs (all, or the one named `only`) as an array; under the lock. */
static cJSON *jobs_array(keel_timer_state *st, const char *only)
{
    cJSON *arr = cJSON_CreateArray();
    /* the list is newest first: show in the order they were added */
    size_t n = st->job_count, i = n;
    const keel_timer_job **order = n ? malloc(n * sizeof *order) : NULL;
    if (n && !order) {
        cJSON_Delete(arr);
        return NULL;
    }
    for (const keel_timer_job *j = st->jobs; j && i > 0; j = j->next)
        order[--i] = j;
    for (i = 0; arr && i < n; i++)
        if (!only || strcmp(order[i]->def.name, only) == 0)
            cJSON_AddItemToArray(arr, keel_timer_job_describe(order[i]));
    free(order);
    return arr;
}

static void add_counters(cJSON *o, const keel_timer_counters *c)
{
    cJSON_AddNumberToObject(o, "runs", (double)c->runs);
    cJSON_AddNumberToObject(o, "failures", (double)c->failures);
    cJSON_AddNumberToObject(o, "manual_runs", (double)c->manual_runs);
    cJSON_AddNumberToObject(o, "manual_failures", (double)c->manual_failures);
    cJSON_AddNumberToObject(o, "paused_waits", (double)c->paused_waits);
    cJSON_AddNumberToObject(o, "skipped", (double)c->skipped);
    cJSON_AddNumberToObject(o, "overlaps", (double)c->overlaps);
    cJSON_AddNumberToObject(o, "coalesced", (double)c->coalesced);
}

static keel_status op_info(keel_timer_state *st, char **result_json, keel_starter_error *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "starter", "timer");
    cJSON_AddStringToObject(o, "version", TIMER_VERSION);
    cJSON_AddNumberToObject(o, "table_version", TIMER_TABLE_VERSION);
    cJSON *slots = cJSON_AddArrayToObject(o, "slots");
    static const char *const names[] = {"schedule", "cancel", "free", "next_run"};
    for (size_t i = 0; i < keel_timer_slot_count; i++)
        cJSON_AddItemToArray(slots, cJSON_CreateString(names[i]));
    cJSON_AddStringToObject(o, "state_file", st->state_path);
    cJSON_AddStringToObject(o, "catch_up",
                            st->catch_up == KEEL_TIMER_CATCH_UP_ONCE ? "once" : "skip");
    cJSON_AddNumberToObject(o, "max_jobs", (double)st->max_jobs);
    pthread_mutex_lock(&st->lock);
    cJSON_AddNumberToObject(o, "workers", st->workers);
    cJSON_AddBoolToObject(o, "running", st->running);
    cJSON_AddNumberToObject(o, "resumes", (double)st->resumes);
    size_t config_jobs = 0, module_jobs = 0, queued = 0;
    keel_timer_counters total = st->retired;
    for (const keel_timer_job *j = st->jobs; j; j = j->next) {
        if (j->owner)
            module_jobs++;
        else
            config_jobs++;
        if (j->phase == KEEL_TIMER_QUEUED)
            queued++;
        keel_timer_counters_add(&total, &j->c);
    }
    size_t clients = 0;
    for (const keel_timer *t = st->clients; t; t = t->next)
        clients++;
    cJSON_AddNumberToObject(o, "jobs_total", (double)st->job_count);
    cJSON_AddNumberToObject(o, "config_jobs", (double)config_jobs);
    cJSON_AddNumberToObject(o, "module_jobs", (double)module_jobs);
    cJSON_AddNumberToObject(o, "clients", (double)clients);
    cJSON_AddNumberToObject(o, "queued", (double)queued);
    cJSON_AddNumberToObject(o, "in_progress", st->in_progress);
    add_counters(o, &total);
    cJSON_AddNumberToObject(o, "remembered_ticks", (double)st->memo_count);
    cJSON_AddNumberToObject(o, "persist_writes", (double)st->persist_writes);
    cJSON_AddNumberToObject(o, "persist_failures", (double)st->persist_failures);
    if (st->persist_error[0])
        cJSON_AddStringToObject(o, "persist_error", st->persist_error);
    cJSON_AddItemToObject(o, "jobs", jobs_array(st, NULL));
    pthread_mutex_unlock(&st->lock);
    return finish(o, result_json, err);
}

/* args_json's "job" string; sets err when missing. */
static const char *job_arg(const cJSON *args, const char *op, bool required,
                           keel_starter_error *err, keel_status *st)
{
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(args, "job");
    *st = KEEL_OK;
    if (!job && !required)
        return NULL;
    if (!cJSON_IsString(job)) {
        keel_starter_error_set(err, "timer: %s: expected {\"job\": \"NAME\"}", op);
        *st = KEEL_ERR_INVALID;
        return NULL;
    }
    return job->valuestring;
}

static keel_status op_jobs(keel_timer_state *st, const cJSON *args, char **result_json,
                           keel_starter_error *err)
{
    keel_status status;
    const char *only = job_arg(args, "jobs", false, err, &status);
    if (status != KEEL_OK)
        return status;
    pthread_mutex_lock(&st->lock);
    bool found = !only || keel_timer_registry_find(st, only);
    cJSON *arr = found ? jobs_array(st, only) : NULL;
    pthread_mutex_unlock(&st->lock);
    if (!found) {
        keel_starter_error_set(err, "timer: jobs: no job \"%s\"", only);
        return KEEL_ERR_NOT_FOUND;
    }
    cJSON *o = cJSON_CreateObject();
    if (o && arr)
        cJSON_AddItemToObject(o, "jobs", arr);
    else
        cJSON_Delete(arr);
    return finish(o, result_json, err);
}

static keel_status op_run(keel_timer_state *st, const cJSON *args, char **result_json,
                          keel_starter_error *err)
{
    keel_status status;
    const char *name = job_arg(args, "run", true, err, &status);
    if (status != KEEL_OK)
        return status;
    pthread_mutex_lock(&st->lock);
    keel_timer_job *job = keel_timer_registry_find(st, name);
    if (job)
        job->refs++;
    pthread_mutex_unlock(&st->lock);
    if (!job) {
        keel_starter_error_set(err, "timer: run: no job \"%s\"", name);
        return KEEL_ERR_NOT_FOUND;
    }
    char *result = NULL;
    keel_starter_error call_err;
    status = keel_timer_run_manual(st, job, &result, &call_err);
    pthread_mutex_lock(&st->lock);
    keel_timer_job_unref(job);
    pthread_mutex_unlock(&st->lock);
    if (status != KEEL_OK) {
        keel_starter_error_set(err, "timer: run \"%s\": %s", name, call_err.message);
        return status;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job", name);
    cJSON *value = result ? cJSON_Parse(result) : NULL;
    if (value)
        cJSON_AddItemToObject(o, "result", value);
    else
        cJSON_AddStringToObject(o, "result", result ? result : "");
    free(result);
    return finish(o, result_json, err);
}

static keel_status op_preview(const cJSON *args, char **result_json, keel_starter_error *err)
{
    const cJSON *every = cJSON_GetObjectItemCaseSensitive(args, "every");
    const cJSON *cron = cJSON_GetObjectItemCaseSensitive(args, "cron");
    const cJSON *tz = cJSON_GetObjectItemCaseSensitive(args, "timezone");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(args, "from");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(args, "count");
    if ((every && !cJSON_IsString(every)) || (cron && !cJSON_IsString(cron)) ||
        (tz && !cJSON_IsString(tz)) || (from && !cJSON_IsNumber(from)) ||
        (count && (!cJSON_IsNumber(count) || count->valuedouble < 1 ||
                   count->valuedouble > 100))) {
        keel_starter_error_set(err, "timer: preview: expected {\"every\" | \"cron\": string, "
                               "\"timezone\"?: string, \"from\"?: unix ms, \"count\"?: 1-100}");
        return KEEL_ERR_INVALID;
    }
    keel_timer_spec spec;
    const char *field;
    char msg[320];
    if (!keel_timer_spec_make(every ? every->valuestring : NULL, cron ? cron->valuestring : NULL,
                              tz ? tz->valuestring : NULL, &spec, &field, msg, sizeof msg)) {
        keel_starter_error_set(err, "timer: preview: field \"%s\": %s", field, msg);
        return KEEL_ERR_INVALID;
    }
    int64_t t = from ? (int64_t)from->valuedouble : keel_timer_now_ms();
    int n = count ? (int)count->valuedouble : 5;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spec", spec.text);
    cJSON *next = cJSON_AddArrayToObject(o, "next");
    cJSON *next_ms = cJSON_AddArrayToObject(o, "next_ms");
    for (int i = 0; i < n; i++) {
        t = keel_timer_next(&spec, t);
        if (t == KEEL_TIMER_NEVER)
            break;
        char iso[40];
        cJSON_AddItemToArray(next, cJSON_CreateString(keel_timer_iso8601(t, iso, sizeof iso)));
        cJSON_AddItemToArray(next_ms, cJSON_CreateNumber((double)t));
    }
    return finish(o, result_json, err);
}

keel_status keel_timer_admin(void *state, const char *op, const char *args_json,
                             char **result_json, keel_starter_error *err)
{
    keel_timer_state *st = state;
    *result_json = NULL;
    if (!op)
        op = "";
    bool known = strcmp(op, "info") == 0 || strcmp(op, "jobs") == 0 || strcmp(op, "run") == 0 ||
                 strcmp(op, "preview") == 0;
    if (!known) {
        keel_starter_error_set(err, "timer: unknown admin op \"%.64s\" (known: " KNOWN_OPS ")",
                               op);
        return KEEL_ERR_NOT_FOUND;
    }
    cJSON *args = NULL;
    if (args_json && args_json[0]) {
        args = cJSON_Parse(args_json);
        if (!cJSON_IsObject(args)) {
            cJSON_Delete(args);
            keel_starter_error_set(err, "timer: %s: arguments must be a JSON object", op);
            return KEEL_ERR_INVALID;
        }
    }
    keel_status status;
    if (strcmp(op, "info") == 0)
        status = op_info(st, result_json, err);
    else if (strcmp(op, "jobs") == 0)
        status = op_jobs(st, args, result_json, err);
    else if (strcmp(op, "run") == 0)
        status = op_run(st, args, result_json, err);
    else
        status = op_preview(args, result_json, err);
    cJSON_Delete(args);
    return status;
}

/* job.c — see job.h. */
#include "job.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jobspec.h"

keel_timer_job *keel_timer_job_new(keel_timer_jobspec *def, keel_timer *owner)
{
    keel_timer_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->def = *def;
    memset(def, 0, sizeof *def);
    job->owner = owner;
    job->refs = 1;
    job->phase = KEEL_TIMER_IDLE;
    job->next_due = KEEL_TIMER_NEVER;
    job->pending_tick = -1;
    job->last_started = -1;
    job->prev_started = -1;
    return job;
}

void keel_timer_job_unref(keel_timer_job *job)
{
    if (!job || --job->refs > 0)
        return;
    keel_timer_jobspec_clear(&job->def);
    free(job);
}

/* Replaces placeholders in the elements of `node`, recursively. False when
 * out of memory. */
static bool render(cJSON *node, const char *job, int64_t tick)
{
    cJSON *next;
    for (cJSON *it = node->child; it; it = next) {
        next = it->next;
        cJSON *with = NULL;
        if (cJSON_IsString(it) && strcmp(it->valuestring, "${tick}") == 0)
            with = cJSON_CreateNumber((double)tick);
        else if (cJSON_IsString(it) && strcmp(it->valuestring, "${job}") == 0)
            with = cJSON_CreateString(job);
        else if ((cJSON_IsArray(it) || cJSON_IsObject(it)) && !render(it, job, tick))
            return false;
        else
            continue;
        if (!with)
            return false;
        if (it->string && !(with->string = strdup(it->string))) {
            cJSON_Delete(with);
            return false;
        }
        cJSON_ReplaceItemViaPointer(node, it, with);
    }
    return true;
}

char *keel_timer_job_args(const keel_timer_jobspec *def, int64_t tick)
{
    if (!strstr(def->args_json, "${"))
        return strdup(def->args_json);
    cJSON *args = cJSON_Parse(def->args_json);
    if (!args)
        return NULL;
    char *out = render(args, def->name, tick) ? cJSON_PrintUnformatted(args) : NULL;
    cJSON_Delete(args);
    return out;
}

static const char *phase_name(keel_timer_phase p)
{
    switch (p) {
    case KEEL_TIMER_HELD: return "held";
    case KEEL_TIMER_QUEUED: return "queued";
    case KEEL_TIMER_RUNNING: return "running";
    default: return "idle";
    }
}

static void add_time(cJSON *obj, const char *iso_key, const char *ms_key, int64_t ms)
{
    if (ms < 0 || ms == KEEL_TIMER_NEVER) {
        cJSON_AddNullToObject(obj, iso_key);
        cJSON_AddNullToObject(obj, ms_key);
        return;
    }
    char iso[40];
    cJSON_AddStringToObject(obj, iso_key, keel_timer_iso8601(ms, iso, sizeof iso));
    cJSON_AddNumberToObject(obj, ms_key, (double)ms);
}

void keel_timer_counters_add(keel_timer_counters *sum, const keel_timer_counters *c)
{
    sum->runs += c->runs;
    sum->failures += c->failures;
    sum->manual_runs += c->manual_runs;
    sum->manual_failures += c->manual_failures;
    sum->paused_waits += c->paused_waits;
    sum->skipped += c->skipped;
    sum->overlaps += c->overlaps;
    sum->coalesced += c->coalesced;
}

cJSON *keel_timer_job_describe(const keel_timer_job *job)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const keel_timer_jobspec *d = &job->def;
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "origin", job->owner ? "module" : "config");
    cJSON_AddStringToObject(o, "module", d->module);
    cJSON_AddStringToObject(o, "scene", d->scene);
    cJSON_AddStringToObject(o, "service", d->service);
    cJSON_AddItemToObject(o, "args", cJSON_Parse(d->args_json));
    if (d->every)
        cJSON_AddStringToObject(o, "every", d->every);
    else
        cJSON_AddStringToObject(o, "cron", d->cron);
    cJSON_AddStringToObject(o, "timezone", d->spec.local ? "local" : "UTC");
    cJSON_AddStringToObject(o, "state", phase_name(job->phase));
    /* a held tick is still to come; a queued one is recorded as started */
    int64_t next = job->phase == KEEL_TIMER_HELD ? job->pending_tick : job->next_due;
    add_time(o, "next_due", "next_due_ms", next);
    add_time(o, "last_started", "last_started_ms", job->last_started);
    cJSON_AddNumberToObject(o, "runs", (double)job->c.runs);
    cJSON_AddNumberToObject(o, "failures", (double)job->c.failures);
    cJSON_AddNumberToObject(o, "manual_runs", (double)job->c.manual_runs);
    cJSON_AddNumberToObject(o, "manual_failures", (double)job->c.manual_failures);
    cJSON_AddNumberToObject(o, "paused_waits", (double)job->c.paused_waits);
    cJSON_AddNumberToObject(o, "skipped", (double)job->c.skipped);
    cJSON_AddNumberToObject(o, "overlaps", (double)job->c.overlaps);
    cJSON_AddNumberToObject(o, "coalesced", (double)job->c.coalesced);
    if (job->last_duration_ms >= 0 && job->c.runs > 0)
        cJSON_AddNumberToObject(o, "last_duration_ms", (double)job->last_duration_ms);
    cJSON_AddBoolToObject(o, "failing", job->failing);
    if (job->last_error[0])
        cJSON_AddStringToObject(o, "last_error", job->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    if (job->last_manual_error[0])
        cJSON_AddStringToObject(o, "last_manual_error", job->last_manual_error);
    return o;
}

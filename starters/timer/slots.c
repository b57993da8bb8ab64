/* slots.c — see slots.h. */
#include "slots.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "job.h"
#include "jobspec.h"
#include "persist.h"
#include "registry.h"

#ifndef TIMER_TABLE_VERSION
#error "TIMER_TABLE_VERSION must be defined by the build"
#endif

static void client_free(keel_timer *t)
{
    if (!t)
        return;
    free(t->module);
    for (char **s = t->scenes; s && *s; s++)
        free(*s);
    free(t->scenes);
    free(t);
}

/* Sets *error (when asked) to a malloc'd one-line message; returns st. */
static keel_status fail(char **error, keel_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static keel_status fail(char **error, keel_status st, const char *fmt, ...)
{
    if (!error)
        return st;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *error = strdup(msg);
    return st;
}

/* "module/name" of `t`'s job `name`; NULL when out of memory. */
static char *full_name(const keel_timer *t, const char *name)
{
    size_t n = strlen(t->module) + strlen(name) + 2;
    char *full = malloc(n);
    if (full)
        snprintf(full, n, "%s/%s", t->module, name);
    return full;
}

static bool has_scene(const keel_timer *t, const char *scene)
{
    for (char **s = t->scenes; *s; s++)
        if (strcmp(*s, scene) == 0)
            return true;
    return false;
}

/* Completes a module's spec: module, scene, name. */
static keel_status complete_spec(const keel_timer *t, keel_timer_jobspec *def, char *full,
                                 char **error)
{
    if (def->module && strcmp(def->module, t->module) != 0)
        return fail(error, KEEL_ERR_DENIED,
                    "timer: job \"%s\": field \"module\": a module schedules only its own jobs "
                    "(\"%s\" is not \"%s\")",
                    full, def->module, t->module);
    if (def->scene && !has_scene(t, def->scene)) {
        char scenes[256] = "";
        size_t used = 0;
        for (char **s = t->scenes; *s && used < sizeof scenes - 1; s++)
            used += (size_t)snprintf(scenes + used, sizeof scenes - used, "%s%s",
                                     s == t->scenes ? "" : ", ", *s);
        return fail(error, KEEL_ERR_DENIED,
                    "timer: job \"%s\": field \"scene\": \"%s\" is not one of the module's "
                    "scenes (%s)",
                    full, def->scene, scenes);
    }
    if (!def->module && !(def->module = strdup(t->module)))
        return fail(error, KEEL_ERR_NOMEM, "timer: out of memory");
    if (!def->scene && !(def->scene = strdup(t->scenes[0])))
        return fail(error, KEEL_ERR_NOMEM, "timer: out of memory");
    def->name = full;
    return KEEL_OK;
}

static keel_status timer_schedule(keel_timer *t, const char *name, const char *spec_json,
                                  char **error)
{
    if (error)
        *error = NULL;
    if (!t || !name || !spec_json)
        return fail(error, KEEL_ERR_INVALID, "timer: schedule needs a client, a name and a spec");
    if (!keel_timer_name_valid(name))
        return fail(error, KEEL_ERR_INVALID,
                    "timer: job \"%.80s\": field \"name\": expected 1-64 characters "
                    "[A-Za-z0-9_.-]",
                    name);
    char *full = full_name(t, name);
    if (!full)
        return fail(error, KEEL_ERR_NOMEM, "timer: out of memory");
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithOpts(spec_json, &end, true);
    if (!obj) {
        keel_status st = fail(error, KEEL_ERR_INVALID,
                              "timer: job \"%s\": spec: malformed JSON at position %ld", full,
                              end ? (long)(end - spec_json) + 1 : 1L);
        free(full);
        return st;
    }
    keel_timer_jobspec def;
    const char *field;
    char msg[320];
    keel_status st = keel_timer_jobspec_parse(obj, false, &def, &field, msg, sizeof msg);
    if (st == KEEL_ERR_INVALID && field[0])
        st = fail(error, st, "timer: job \"%s\": field \"%s\": %s", full, field, msg);
    else if (st == KEEL_ERR_INVALID)
        st = fail(error, st, "timer: job \"%s\": spec: %s", full, msg);
    else if (st != KEEL_OK)
        st = fail(error, st, "timer: out of memory");
    else
        st = complete_spec(t, &def, full, error);
    cJSON_Delete(obj); /* after the message: `field` may be one of its keys */
    if (st != KEEL_OK) {
        if (def.name != full)
            free(full);
        keel_timer_jobspec_clear(&def);
        return st;
    }

    keel_timer_state *state = t->state;
    pthread_mutex_lock(&state->lock);
    int64_t now = keel_timer_now_ms();
    keel_timer_job *job = keel_timer_registry_find(state, full);
    if (job) {
        keel_timer_registry_replace(state, job, &def, t, now);
    } else if (state->job_count >= state->max_jobs) {
        st = fail(error, KEEL_ERR_LIMIT, "timer: job \"%s\": max_jobs (%zu) reached", full,
                  state->max_jobs);
    } else if (!(job = keel_timer_job_new(&def, t))) {
        st = fail(error, KEEL_ERR_NOMEM, "timer: out of memory");
    } else {
        keel_timer_registry_add(state, job, now);
    }
    if (st == KEEL_OK)
        pthread_cond_signal(&state->sched_cv);
    pthread_mutex_unlock(&state->lock);
    keel_timer_jobspec_clear(&def);
    return st;
}

static keel_status timer_cancel(keel_timer *t, const char *name)
{
    if (!t || !name)
        return KEEL_ERR_INVALID;
    char *full = full_name(t, name);
    if (!full)
        return KEEL_ERR_NOMEM;
    keel_timer_state *state = t->state;
    pthread_mutex_lock(&state->lock);
    keel_timer_job *job = keel_timer_registry_find(state, full);
    uint64_t gen = 0;
    if (job) {
        keel_timer_registry_remove(state, job, false);
        gen = ++state->gen;
        pthread_cond_signal(&state->sched_cv);
    }
    pthread_mutex_unlock(&state->lock);
    free(full);
    if (!job)
        return KEEL_ERR_NOT_FOUND;
    keel_timer_persist_sync(state, gen);
    return KEEL_OK;
}

static void timer_free(void *ptr)
{
    free(ptr);
}

#if TIMER_TABLE_VERSION >= 2
static keel_status timer_next_run(keel_timer *t, const char *name, int64_t *unix_ms)
{
    if (!t || !name || !unix_ms)
        return KEEL_ERR_INVALID;
    char *full = full_name(t, name);
    if (!full)
        return KEEL_ERR_NOMEM;
    keel_timer_state *state = t->state;
    pthread_mutex_lock(&state->lock);
    keel_timer_job *job = keel_timer_registry_find(state, full);
    if (job)
        *unix_ms = job->phase == KEEL_TIMER_HELD ? job->pending_tick : job->next_due;
    pthread_mutex_unlock(&state->lock);
    free(full);
    return job ? KEEL_OK : KEEL_ERR_NOT_FOUND;
}
#endif

const keel_timer_api keel_timer_table = {
    .version = TIMER_TABLE_VERSION,
#if TIMER_TABLE_VERSION >= 2
    .size = (uint32_t)sizeof(keel_timer_api),
#else
    .size = (uint32_t)offsetof(keel_timer_api, next_run),
#endif
    .schedule = timer_schedule,
    .cancel = timer_cancel,
    .free = timer_free,
#if TIMER_TABLE_VERSION >= 2
    .next_run = timer_next_run,
#endif
};

const char *const keel_timer_slot_signatures[] = {
    "i32(ptr,ptr,ptr,ptr)", /* schedule */
    "i32(ptr,ptr)",         /* cancel */
    "void(ptr)",            /* free */
#if TIMER_TABLE_VERSION >= 2
    "i32(ptr,ptr,ptr)",     /* next_run */
#endif
    NULL,
};

const size_t keel_timer_slot_count = TIMER_TABLE_VERSION >= 2 ? 4 : 3;

keel_status keel_timer_bind(void *state, const keel_starter_binding *who, void **client,
                            keel_starter_error *err)
{
    keel_timer_state *st = state;
    *client = NULL;
    if (!who || !who->module || !who->module[0]) {
        keel_starter_error_set(err, "timer: bind needs a module name");
        return KEEL_ERR_INVALID;
    }
    keel_timer *t = calloc(1, sizeof *t);
    size_t n = 0;
    while (who->scenes && who->scenes[n])
        n++;
    if (t)
        t->scenes = calloc(n + 2, sizeof *t->scenes);
    bool ok = t && t->scenes && (t->module = strdup(who->module));
    for (size_t i = 0; ok && i < n; i++)
        ok = (t->scenes[i] = strdup(who->scenes[i])) != NULL;
    if (ok && n == 0)
        ok = (t->scenes[0] = strdup(who->scene && who->scene[0] ? who->scene : "default")) !=
             NULL;
    if (!ok) {
        client_free(t);
        keel_starter_error_set(err, "timer: out of memory binding %s", who->module);
        return KEEL_ERR_NOMEM;
    }
    t->state = st;
    pthread_mutex_lock(&st->lock);
    t->next = st->clients;
    st->clients = t;
    pthread_mutex_unlock(&st->lock);
    *client = t;
    return KEEL_OK;
}

void keel_timer_unbind(void *state, void *client)
{
    keel_timer_state *st = state;
    keel_timer *t = client;
    if (!t)
        return;
    pthread_mutex_lock(&st->lock);
    keel_timer_job *next;
    for (keel_timer_job *j = st->jobs; j; j = next) {
        next = j->next;
        if (j->owner == t)
            keel_timer_registry_remove(st, j, true);
    }
    for (keel_timer **p = &st->clients; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    pthread_cond_signal(&st->sched_cv);
    pthread_mutex_unlock(&st->lock);
    client_free(t);
}

void keel_timer_clients_free(keel_timer_state *st)
{
    while (st->clients) {
        keel_timer *t = st->clients;
        st->clients = t->next;
        client_free(t);
    }
}

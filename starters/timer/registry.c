/* registry.c — see registry.h. */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jobspec.h"

int64_t keel_timer_next(const keel_timer_spec *spec, int64_t after_ms)
{
    if (after_ms == KEEL_TIMER_NEVER)
        return KEEL_TIMER_NEVER;
    int64_t n = keel_timer_spec_next(spec, after_ms);
    return n < 0 ? KEEL_TIMER_NEVER : n;
}

int64_t keel_timer_latest_due(const keel_timer_spec *spec, int64_t first, int64_t now,
                              uint64_t *extra)
{
    *extra = 0;
    if (first > now)
        return first;
    if (spec->kind == KEEL_TIMER_EVERY) {
        int64_t latest = first + (now - first) / spec->every_ms * spec->every_ms;
        *extra = (uint64_t)((latest - first) / spec->every_ms);
        return latest;
    }
    int64_t latest = first;
    for (int i = 0; i < 1000000; i++) {
        int64_t n = keel_timer_next(spec, latest);
        if (n > now)
            break;
        latest = n;
        (*extra)++;
    }
    return latest;
}

keel_timer_job *keel_timer_registry_find(keel_timer_state *st, const char *name)
{
    for (keel_timer_job *j = st->jobs; j; j = j->next)
        if (strcmp(j->def.name, name) == 0)
            return j;
    return NULL;
}

/* Takes the memo entry of `name`: its tick when the spec text matches,
 * else -1. The entry is dropped either way. */
static int64_t memo_take(keel_timer_state *st, const char *name, const char *spec_text)
{
    for (size_t i = 0; i < st->memo_count; i++) {
        keel_timer_memo *m = &st->memo[i];
        if (strcmp(m->name, name) != 0)
            continue;
        int64_t tick = strcmp(m->spec_text, spec_text) == 0 ? m->last_started : -1;
        free(m->name);
        memmove(m, m + 1, (st->memo_count - i - 1) * sizeof *m);
        st->memo_count--;
        return tick;
    }
    return -1;
}

bool keel_timer_memo_put(keel_timer_state *st, const char *name, const char *spec_text,
                         int64_t last_started)
{
    char *copy = strdup(name);
    if (!copy)
        return false;
    memo_take(st, name, "");
    size_t cap = st->max_jobs * 2;
    if (st->memo_count >= cap) {
        free(st->memo[0].name);
        memmove(st->memo, st->memo + 1, (st->memo_count - 1) * sizeof *st->memo);
        st->memo_count--;
    }
    if (!st->memo) {
        st->memo = calloc(cap, sizeof *st->memo);
        if (!st->memo) {
            free(copy);
            return false;
        }
    }
    keel_timer_memo *m = &st->memo[st->memo_count++];
    m->name = copy;
    strncpy(m->spec_text, spec_text, sizeof m->spec_text - 1);
    m->spec_text[sizeof m->spec_text - 1] = 0;
    m->last_started = last_started;
    return true;
}

void keel_timer_memo_clear(keel_timer_state *st)
{
    for (size_t i = 0; i < st->memo_count; i++)
        free(st->memo[i].name);
    free(st->memo);
    st->memo = NULL;
    st->memo_count = 0;
}

void keel_timer_registry_add(keel_timer_state *st, keel_timer_job *job, int64_t now)
{
    const keel_timer_spec *spec = &job->def.spec;
    int64_t last = memo_take(st, job->def.name, spec->text);
    job->last_started = last;
    job->next = st->jobs;
    st->jobs = job;
    st->job_count++;
    if (last < 0) {
        job->next_due = keel_timer_next(spec, now);
        return;
    }
    int64_t n = keel_timer_next(spec, last);
    if (n > now || st->catch_up == KEEL_TIMER_CATCH_UP_ONCE) {
        job->next_due = n; /* a tick missed while down is due at once */
        return;
    }
    uint64_t extra;
    int64_t latest = keel_timer_latest_due(spec, n, now, &extra);
    job->c.skipped += 1 + extra;
    job->next_due = keel_timer_next(spec, latest);
}

void keel_timer_registry_replace(keel_timer_state *st, keel_timer_job *job,
                                 keel_timer_jobspec *def, keel_timer *owner, int64_t now)
{
    bool timing_changed = strcmp(job->def.spec.text, def->spec.text) != 0;
    /* name and module identify the job: keep them */
    char *name = job->def.name, *module = job->def.module;
    job->def.name = def->name;
    job->def.module = def->module;
    keel_timer_jobspec_clear(&job->def);
    job->def = *def;
    job->def.name = name;
    job->def.module = module;
    memset(def, 0, sizeof *def);
    job->owner = owner;
    job->epoch++;
    if (!timing_changed)
        return;
    if (job->phase == KEEL_TIMER_HELD)
        job->phase = KEEL_TIMER_IDLE;
    int64_t base = now;
    if (job->last_started > base)
        base = job->last_started;
    if ((job->phase == KEEL_TIMER_QUEUED || job->phase == KEEL_TIMER_RUNNING) &&
        job->pending_tick > base)
        base = job->pending_tick;
    job->next_due = keel_timer_next(&job->def.spec, base);
}

void keel_timer_registry_remove(keel_timer_state *st, keel_timer_job *job, bool remember)
{
    for (keel_timer_job **p = &st->jobs; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            st->job_count--;
            break;
        }
    job->next = NULL;
    job->removed = true;
    job->owner = NULL;
    if (job->phase == KEEL_TIMER_HELD)
        job->phase = KEEL_TIMER_IDLE;
    if (remember && job->last_started >= 0)
        keel_timer_memo_put(st, job->def.name, job->def.spec.text, job->last_started);
    keel_timer_counters_add(&st->retired, &job->c);
    keel_timer_job_unref(job);
}

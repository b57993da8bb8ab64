/*
 * Instance lifecycle: state history, hooks run under a deadline, and the
 * accessors of keel/loader.h.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/log.h>
#include "loader_internal.h"
#include "mapping_check.h"

static const char *state_names[] = {"installed", "starting", "active", "inactive",
                                    "stopping", "uninstalled", "broken"};

const char *keel_instance_state_name(keel_instance_state state)
{
    return (unsigned)state < sizeof state_names / sizeof *state_names ? state_names[state] : "?";
}

void keel_instance_record(keel_instance *inst, keel_instance_state state, const char *fmt, ...)
{
    char note[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, sizeof note, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&inst->lock);
    keel_state_change *grown =
        realloc(inst->history, (inst->history_count + 1) * sizeof *inst->history);
    char *copy = strdup(note);
    if (grown != NULL && copy != NULL) {
        inst->history = grown;
        inst->history[inst->history_count++] =
            (keel_state_change){(int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, state, copy};
    } else {
        if (grown != NULL)
            inst->history = grown;
        free(copy);
    }
    inst->state = state;
    if (state == KEEL_STATE_BROKEN) {
        free(inst->reason);
        inst->reason = strdup(note);
    }
    pthread_mutex_unlock(&inst->lock);
    keel_log(state == KEEL_STATE_BROKEN ? KEEL_LOG_ERROR : KEEL_LOG_INFO, inst->id, "%s%s%s",
             keel_instance_state_name(state), note[0] ? ": " : "", note);
}

void keel_instance_unbind_starters(keel_instance *inst)
{
    pthread_mutex_lock(&inst->lock);
    starter_use *uses = inst->starters;
    size_t n = inst->starter_count;
    inst->starters = NULL;
    inst->starter_count = 0;
    pthread_mutex_unlock(&inst->lock);
    const keel_loader_starters *p = &inst->loader->starters;
    for (size_t i = n; i-- > 0;) {
        if (p->unbind)
            p->unbind(p->user, uses[i].name, uses[i].client);
        free(uses[i].name);
    }
    free(uses);
}

size_t keel_instance_starter_count(const keel_instance *inst)
{
    keel_instance *mut = (keel_instance *)inst;
    pthread_mutex_lock(&mut->lock);
    size_t n = inst->starter_count;
    pthread_mutex_unlock(&mut->lock);
    return n;
}

const char *keel_instance_starter_at(const keel_instance *inst, size_t i)
{
    keel_instance *mut = (keel_instance *)inst;
    pthread_mutex_lock(&mut->lock);
    const char *name = i < inst->starter_count ? inst->starters[i].name : NULL;
    pthread_mutex_unlock(&mut->lock);
    return name;
}

void keel_instance_free(keel_instance *inst)
{
    if (inst == NULL)
        return;
    keel_instance_unbind_starters(inst);
    keel_registrations_clear(inst);
    for (size_t i = 0; i < inst->history_count; i++)
        free((char *)inst->history[i].note);
    free(inst->history);
    for (size_t i = 0; i < inst->lib_count; i++)
        keel_private_lib_free(&inst->libs[i]);
    free(inst->libs);
    keel_manifest_destroy(inst->manifest);
    keel_mem_account_release(inst->memory);
    keel_task_group_destroy(&inst->tasks);
    pthread_mutex_destroy(&inst->lock);
    free(inst->reason);
    free(inst->library_path);
    free(inst->name);
    free(inst->version);
    free(inst->id);
    free(inst->dir);
    free(inst);
}

/* --- hooks under a deadline --------------------------------------------- */

typedef struct hook_run {
    keel_status (*hook)(keel_instance *inst);
    keel_instance *inst;
    keel_status result;
    int done, cancelled;
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t cond;
} hook_run;

static void hook_run_release(hook_run *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
    }
}

static void hook_finish(hook_run *r, int cancelled)
{
    pthread_mutex_lock(&r->lock);
    r->done = 1;
    r->cancelled = cancelled;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void hook_cancelled(void *arg)
{
    hook_finish(arg, 1);
    hook_run_release(arg);
}

static void *hook_thread(void *arg)
{
    hook_run *r = arg;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, NULL);
    pthread_cleanup_push(hook_cancelled, r);
    r->result = r->hook(r->inst);
    pthread_cleanup_pop(0);
    hook_finish(r, 0);
    hook_run_release(r);
    return NULL;
}

static struct timespec deadline_after(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int hook_wait(hook_run *r, unsigned ms)
{
    struct timespec deadline = deadline_after(ms);
    pthread_mutex_lock(&r->lock);
    while (!r->done)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT)
            break;
    int done = r->done;
    pthread_mutex_unlock(&r->lock);
    return done;
}

keel_status keel_hook_run(keel_status (*hook)(keel_instance *inst), keel_instance *inst,
                          unsigned timeout_ms, keel_status *result)
{
    hook_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return KEEL_ERR_NOMEM;
    r->hook = hook;
    r->inst = inst;
    atomic_init(&r->refs, 2);
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t thread;
    if (pthread_create(&thread, NULL, hook_thread, r) != 0) {
        atomic_store(&r->refs, 1);
        hook_run_release(r);
        return KEEL_ERR_LIMIT;
    }
    keel_status st = KEEL_OK;
    if (hook_wait(r, timeout_ms)) {
        *result = r->result;
        pthread_join(thread, NULL);
    } else {
        /* Past the deadline: cancel at the hook's next cancellation point,
         * and give it a moment to unwind out of the module. */
        pthread_cancel(thread);
        if (hook_wait(r, 1000)) {
            pthread_join(thread, NULL);
            st = KEEL_ERR_TIMEOUT;
        } else {
            pthread_detach(thread);
            st = KEEL_ERR_UNSAFE;
        }
    }
    hook_run_release(r);
    return st;
}

static int remove_tree_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int keel_remove_tree(const char *path)
{
    return nftw(path, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* --- accessors ------------------------------------------------------------ */

const char *keel_instance_name(const keel_instance *inst) { return inst->name; }
const char *keel_instance_version(const keel_instance *inst) { return inst->version; }
const char *keel_instance_id(const keel_instance *inst) { return inst->id; }
const char *keel_instance_dir(const keel_instance *inst) { return inst->dir; }
const keel_manifest *keel_instance_manifest(const keel_instance *inst) { return inst->manifest; }
keel_instance_state keel_instance_state_get(const keel_instance *inst)
{
    keel_instance *m = (keel_instance *)inst;
    pthread_mutex_lock(&m->lock);
    keel_instance_state state = m->state;
    pthread_mutex_unlock(&m->lock);
    return state;
}
const char *keel_instance_reason(const keel_instance *inst)
{
    keel_instance *m = (keel_instance *)inst;
    pthread_mutex_lock(&m->lock);
    const char *reason = m->reason ? m->reason : "";
    pthread_mutex_unlock(&m->lock);
    return reason;
}
int keel_instance_namespace(const keel_instance *inst)
{
    return inst->group ? keel_ns_group_index(inst->group) : -1;
}

size_t keel_instance_history_count(const keel_instance *inst)
{
    keel_instance *m = (keel_instance *)inst;
    pthread_mutex_lock(&m->lock);
    size_t n = m->history_count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int keel_instance_history_at(const keel_instance *inst, size_t i, keel_state_change *out)
{
    keel_instance *m = (keel_instance *)inst;
    pthread_mutex_lock(&m->lock);
    int ok = i < m->history_count;
    if (ok)
        *out = m->history[i];
    pthread_mutex_unlock(&m->lock);
    return ok ? 0 : -1;
}

static int registration_at(const keel_instance *inst, const registration_list *list, size_t i,
                           keel_registration *out)
{
    keel_instance *m = (keel_instance *)inst;
    pthread_mutex_lock(&m->lock);
    int ok = i < list->count;
    if (ok)
        *out = list->items[i];
    pthread_mutex_unlock(&m->lock);
    return ok ? 0 : -1;
}

size_t keel_instance_service_count(const keel_instance *inst) { return inst->services.count; }
size_t keel_instance_subscription_count(const keel_instance *inst) { return inst->subscriptions.count; }

int keel_instance_service_at(const keel_instance *inst, size_t i, keel_registration *out)
{
    return registration_at(inst, &inst->services, i, out);
}

int keel_instance_subscription_at(const keel_instance *inst, size_t i, keel_registration *out)
{
    return registration_at(inst, &inst->subscriptions, i, out);
}

void *keel_instance_symbol(const keel_instance *inst, const char *name)
{
    return inst->handle ? dlsym(inst->handle, name) : NULL;
}

size_t keel_instance_mapped_bytes(const keel_instance *inst)
{
    if (inst->dir == NULL || inst->handle == NULL)
        return 0;
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s/", inst->dir);
    return keel_path_mapped_bytes(prefix);
}

size_t keel_instance_memory_bytes(const keel_instance *inst) { return atomic_load(&inst->memory->bytes); }
size_t keel_instance_memory_blocks(const keel_instance *inst) { return atomic_load(&inst->memory->blocks); }

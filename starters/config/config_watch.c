/* config_watch.c — watches of modules and the delivery of changes to them.
 *
 * Delivery runs on the thread of the operator's command, with admin_lock
 * held (so one delivery at a time, in the order of the changes) and no
 * other lock held while a module's callback runs: a callback may call get
 * (data_lock), watch and unwatch (watch_lock). Each callback in progress
 * is counted in its watch and in its binding; unwatch and unbind mark what
 * they remove (no new call starts) and wait until the count is zero before
 * they free it and return, so when they return no code of the module is
 * running on behalf of the starter and none will. Called from inside the
 * very callback in progress they cannot wait for it: they leave the freeing
 * to the deliverer ("orphan"). */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

static bool is_deliverer(const config_state *s)
{
    return s->delivering && pthread_equal(s->deliverer, pthread_self());
}

static void watch_free(config_watch *w)
{
    free(w->scene);
    free(w->key);
    free(w);
}

static void client_free(config_client *c)
{
    config_watch *w = c->watches;
    while (w != NULL) {
        config_watch *next = w->next;
        watch_free(w);
        w = next;
    }
    free(c->module);
    free(c->scene);
    free(c);
}

static void watch_unlink(config_client *c, config_watch *w)
{
    for (config_watch **p = &c->watches; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            return;
        }
    }
}

keel_status config_watch_add(config_client *c, const char *scene, const char *key,
                             keel_config_change_fn fn, void *user, uint64_t *id)
{
    if (id != NULL)
        *id = 0;
    if (c == NULL || key == NULL || fn == NULL || id == NULL)
        return KEEL_ERR_INVALID;
    const char *sc = scene != NULL ? scene : c->scene;
    if (!config_valid_scene(sc) || (strcmp(key, "*") != 0 && !config_valid_key(key)))
        return KEEL_ERR_INVALID;
    config_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return KEEL_ERR_NOMEM;
    w->scene = strdup(sc);
    w->key = strdup(key);
    if (w->scene == NULL || w->key == NULL) {
        watch_free(w);
        return KEEL_ERR_NOMEM;
    }
    w->client = c;
    w->fn = fn;
    w->user = user;
    config_state *s = c->state;
    pthread_mutex_lock(&s->watch_lock);
    if (c->unbound) {
        pthread_mutex_unlock(&s->watch_lock);
        watch_free(w);
        return KEEL_ERR_STATE;
    }
    w->id = ++s->next_watch_id;
    config_watch **tail = &c->watches;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = w;
    s->watch_count++;
    *id = w->id;
    pthread_mutex_unlock(&s->watch_lock);
    return KEEL_OK;
}

keel_status config_watch_remove(config_client *c, uint64_t id)
{
    if (c == NULL || id == 0)
        return KEEL_ERR_INVALID;
    config_state *s = c->state;
    pthread_mutex_lock(&s->watch_lock);
    config_watch *w = c->watches;
    while (w != NULL && (w->id != id || w->removed))
        w = w->next;
    if (w == NULL) {
        pthread_mutex_unlock(&s->watch_lock);
        return KEEL_ERR_NOT_FOUND;
    }
    w->removed = true;
    s->watch_count--;
    if (w->in_progress > 0 && is_deliverer(s)) {
        w->orphan = true; /* its own callback: the deliverer frees it */
    } else {
        c->waiters++; /* an unbind meanwhile frees nothing before we leave */
        while (w->in_progress > 0)
            pthread_cond_wait(&s->watch_cond, &s->watch_lock);
        c->waiters--;
        watch_unlink(c, w);
        watch_free(w);
        pthread_cond_broadcast(&s->watch_cond);
    }
    pthread_mutex_unlock(&s->watch_lock);
    return KEEL_OK;
}

void config_client_release(config_state *s, config_client *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->watch_lock);
    c->unbound = true;
    for (config_client **p = &s->clients; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            s->client_count--;
            break;
        }
    }
    for (config_watch *w = c->watches; w != NULL; w = w->next) {
        if (!w->removed) {
            w->removed = true;
            s->watch_count--;
        }
    }
    bool freed_later = c->in_progress > 0 && is_deliverer(s);
    if (freed_later) {
        c->orphan = true;
    } else {
        while (c->in_progress > 0 || c->waiters > 0)
            pthread_cond_wait(&s->watch_cond, &s->watch_lock);
    }
    pthread_mutex_unlock(&s->watch_lock);
    if (!freed_later)
        client_free(c);
}

/* --- delivery -------------------------------------------------------------- */

typedef struct target {
    uint64_t id;
    char *scene;
} target;

/* Watches of `module` whose key and scene match a change of (scene, key). */
static target *collect(config_state *s, const char *module, const char *scene, const char *key,
                       size_t *n)
{
    target *t = NULL;
    size_t count = 0, cap = 0;
    bool wide = strcmp(scene, "*") == 0;
    for (config_client *c = s->clients; c != NULL; c = c->next) {
        if (c->unbound || strcmp(c->module, module) != 0)
            continue;
        for (config_watch *w = c->watches; w != NULL; w = w->next) {
            if (w->removed || (strcmp(w->key, "*") != 0 && strcmp(w->key, key) != 0))
                continue;
            if (!wide && strcmp(w->scene, scene) != 0)
                continue;
            if (count == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                target *bigger = realloc(t, ncap * sizeof *t);
                if (bigger == NULL) {
                    atomic_fetch_add(&s->callbacks_skipped, 1);
                    goto out;
                }
                t = bigger;
                cap = ncap;
            }
            t[count].id = w->id;
            t[count].scene = strdup(w->scene);
            if (t[count].scene == NULL) {
                atomic_fetch_add(&s->callbacks_skipped, 1);
                goto out;
            }
            count++;
        }
    }
out:
    *n = count;
    return t;
}

static config_watch *find_watch(config_state *s, uint64_t id)
{
    for (config_client *c = s->clients; c != NULL; c = c->next)
        for (config_watch *w = c->watches; w != NULL; w = w->next)
            if (w->id == id)
                return w->removed || c->unbound ? NULL : w;
    return NULL;
}

uint64_t config_watch_deliver(config_state *s, const char *module, const char *scene,
                              const char *key)
{
    pthread_mutex_lock(&s->watch_lock);
    size_t n = 0;
    target *targets = collect(s, module, scene, key, &n);
    s->delivering = true;
    s->deliverer = pthread_self();
    pthread_mutex_unlock(&s->watch_lock);

    bool wide = strcmp(scene, "*") == 0;
    uint64_t called = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ws = targets[i].scene;
        /* The value the watcher's scene sees now. A module-wide change does
         * not reach a scene that has a value of its own. */
        pthread_rwlock_rdlock(&s->data_lock);
        bool affected = !wide || strcmp(ws, "*") == 0 ||
                        config_entry_value(config_table_find(&s->table, module, ws, key), NULL) == NULL;
        const char *v = affected ? config_table_lookup(&s->table, module, ws, key, NULL, NULL) : NULL;
        char *value = v != NULL ? strdup(v) : NULL;
        pthread_rwlock_unlock(&s->data_lock);
        if (!affected || (v != NULL && value == NULL)) {
            if (affected)
                atomic_fetch_add(&s->callbacks_skipped, 1); /* out of memory */
            continue;
        }

        pthread_mutex_lock(&s->watch_lock);
        config_watch *w = find_watch(s, targets[i].id);
        if (w == NULL) { /* unwatched or unbound meanwhile */
            pthread_mutex_unlock(&s->watch_lock);
            free(value);
            continue;
        }
        config_client *c = w->client;
        keel_config_change_fn fn = w->fn;
        void *user = w->user;
        w->in_progress++;
        c->in_progress++;
        pthread_mutex_unlock(&s->watch_lock);

        fn(user, ws, key, value);
        called++;
        free(value);

        pthread_mutex_lock(&s->watch_lock);
        w->in_progress--;
        c->in_progress--;
        if (c->orphan && c->in_progress == 0) {
            pthread_cond_broadcast(&s->watch_cond);
            while (c->waiters > 0)
                pthread_cond_wait(&s->watch_cond, &s->watch_lock);
            client_free(c);
        } else if (w->orphan && w->in_progress == 0) {
            watch_unlink(c, w);
            watch_free(w);
        }
        pthread_cond_broadcast(&s->watch_cond);
        pthread_mutex_unlock(&s->watch_lock);
    }
    pthread_mutex_lock(&s->watch_lock);
    s->delivering = false;
    pthread_mutex_unlock(&s->watch_lock);
    for (size_t i = 0; i < n; i++)
        free(targets[i].scene);
    free(targets);
    atomic_fetch_add(&s->notifications, called);
    return called;
}

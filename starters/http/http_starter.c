/* http_starter.c — the http starter: lifecycle (create, resume, suspend,
 * destroy), module clients (bind, unbind) and the module-facing table. */
#include "http_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- lifecycle ---- */

static void client_free(http_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->scene_count; i++)
        free(c->scenes[i]);
    free(c->scenes);
    free(c->module);
    free(c->instance);
    free(c);
}

static void state_free(http_state *st)
{
    if (!st)
        return;
    while (st->clients) {
        http_client *c = st->clients;
        st->clients = c->next;
        client_free(c);
    }
    http_table_unref(st->table);
    if (st->listen_fd >= 0)
        close(st->listen_fd);
    http_log_close(&st->log);
    http_config_free(&st->cfg);
    http_calls_destroy(&st->calls);
    pthread_mutex_destroy(&st->table_lock);
    pthread_mutex_destroy(&st->edit_lock);
    free(st);
}

static keel_status http_create(const keel_starter_host *host, const char *config_json,
                               void **state, keel_starter_error *err)
{
    *state = NULL;
    http_state *st = calloc(1, sizeof *st);
    if (!st) {
        keel_starter_error_set(err, "http: out of memory");
        return KEEL_ERR_NOMEM;
    }
    atomic_init(&st->host, host);
    st->listen_fd = -1;
    pthread_mutex_init(&st->table_lock, NULL);
    pthread_mutex_init(&st->edit_lock, NULL);
    http_calls_init(&st->calls);
    keel_status s = http_log_open(&st->log, NULL, err);   /* initialised, disabled */
    if (s == KEEL_OK)
        s = http_config_parse(config_json, host->work_dir, &st->cfg, err);
    if (s == KEEL_OK) {
        st->table = http_table_new(st->cfg.routes, st->cfg.route_count);
        if (!st->table) {
            keel_starter_error_set(err, "http: out of memory");
            s = KEEL_ERR_NOMEM;
        }
    }
    if (s == KEEL_OK)
        s = http_server_listen(st, err);
    if (s == KEEL_OK && st->cfg.access_log) {   /* last: nothing created on error */
        http_log_close(&st->log);
        s = http_log_open(&st->log, st->cfg.access_log, err);
    }
    if (s != KEEL_OK) {
        state_free(st);
        return s;
    }
    *state = st;
    return KEEL_OK;
}

static keel_status http_resume(void *state, const keel_starter_host *host,
                               keel_starter_error *err)
{
    http_state *st = state;
    if (host)
        atomic_store_explicit(&st->host, host, memory_order_release);
    keel_status s = http_calls_start(st, st->cfg.workers, err);
    if (s != KEEL_OK)
        return s;
    if ((s = http_server_start(st, err)) != KEEL_OK) {
        http_calls_stop(st);
        return s;
    }
    atomic_fetch_add(&st->resumes, 1);
    http_host(st)->log(http_host(st), KEEL_LOG_INFO, "http %s serving %s (port %u), %zu routes",
                  HTTP_STARTER_VERSION, st->cfg.listen, st->bound_port, st->cfg.route_count);
    return KEEL_OK;
}

static void http_suspend(void *state)
{
    http_state *st = state;
    http_server_stop(st);
    http_calls_stop(st);
}

static void http_destroy(void *state)
{
    state_free(state);
}

/* ---- clients ---- */

static keel_status http_bind(void *state, const keel_starter_binding *who, void **client,
                             keel_starter_error *err)
{
    http_state *st = state;
    *client = NULL;
    http_client *c = calloc(1, sizeof *c);
    size_t n = 0;
    if (who->scenes)
        while (who->scenes[n])
            n++;
    bool ok = c && (c->module = http_strdup(who->module)) &&
              (c->instance = http_strdup(who->instance ? who->instance : who->module)) &&
              (c->scenes = calloc(n ? n : 1, sizeof *c->scenes));
    for (size_t i = 0; ok && i < n; i++)
        ok = (c->scenes[c->scene_count++] = http_strdup(who->scenes[i])) != NULL;
    if (ok && n == 0 && who->scene)
        ok = (c->scenes[c->scene_count++] = http_strdup(who->scene)) != NULL;
    if (!ok) {
        client_free(c);
        keel_starter_error_set(err, "http: out of memory binding %s", who->module);
        return KEEL_ERR_NOMEM;
    }
    c->st = st;
    pthread_mutex_lock(&st->edit_lock);
    c->next = st->clients;
    st->clients = c;
    pthread_mutex_unlock(&st->edit_lock);
    *client = c;
    return KEEL_OK;
}

/* A copy of the current table without the routes `drop` selects, with
 * `add` (may be NULL) appended. edit_lock held. NULL: out of memory. */
static http_table *table_edit(http_state *st, bool (*drop)(const http_route *, const void *),
                              const void *arg, http_route *add, size_t *dropped)
{
    http_table *cur = st->table;
    http_route **list = malloc((cur->count + 1) * sizeof *list);
    if (!list)
        return NULL;
    size_t n = 0;
    *dropped = 0;
    for (size_t i = 0; i < cur->count; i++) {
        if (drop(cur->routes[i], arg))
            (*dropped)++;
        else
            list[n++] = cur->routes[i];
    }
    if (add)
        list[n++] = add;
    http_table *t = http_table_new(list, n);
    free(list);
    return t;
}

static bool owned_by(const http_route *r, const void *client)
{
    return r->owner == client;
}

static void http_unbind(void *state, void *client)
{
    http_state *st = state;
    http_client *c = client;
    if (!c)
        return;
    pthread_mutex_lock(&st->edit_lock);
    for (http_client **p = &st->clients; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    size_t dropped = 0;
    http_table *t = table_edit(st, owned_by, c, NULL, &dropped);
    if (t && dropped)
        http_state_set_table(st, t);
    else
        http_table_unref(t);
    if (!t)
        http_host(st)->log(http_host(st), KEEL_LOG_ERROR,
                      "http: out of memory removing the routes of %s; they stay", c->instance);
    pthread_mutex_unlock(&st->edit_lock);
    if (dropped && t)
        http_host(st)->log(http_host(st), KEEL_LOG_INFO, "http: %zu route(s) of %s removed", dropped,
                      c->instance);
    client_free(c);
}

/* ---- slots ---- */

static void set_error(char *error, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(char *error, size_t size, const char *fmt, ...)
{
    if (!error || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, size, fmt, ap);
    va_end(ap);
}

static bool client_has_scene(const http_client *c, const char *scene)
{
    for (size_t i = 0; i < c->scene_count; i++)
        if (strcmp(c->scenes[i], scene) == 0)
            return true;
    return false;
}

typedef struct route_key {
    const char *method, *path;
} route_key;

static bool same_key(const http_route *r, const void *arg)
{
    const route_key *k = arg;
    return strcmp(r->method, k->method) == 0 && strcmp(r->path, k->path) == 0;
}

static keel_status slot_route_add(keel_http *http, const char *route_json, char *error,
                                  size_t error_size)
{
    http_client *c = (http_client *)http;
    set_error(error, error_size, "%s", "");
    if (!c || !route_json) {
        set_error(error, error_size, "http: route_add needs a client and a route object");
        return KEEL_ERR_INVALID;
    }
    http_state *st = c->st;
    cJSON *obj = cJSON_Parse(route_json);
    if (!obj) {
        set_error(error, error_size, "http: route: malformed JSON: %.60s", route_json);
        return KEEL_ERR_INVALID;
    }
    http_route *r;
    keel_status s = http_route_parse(obj, "route", "", &st->cfg, &r, error, error_size);
    cJSON_Delete(obj);
    if (s != KEEL_OK)
        return s;
    for (size_t i = 0; i < r->scene_count; i++)
        if (!client_has_scene(c, r->scenes[i])) {
            set_error(error, error_size,
                      "http: route field \"%s\": scene \"%s\" is not a scene of module %s",
                      strcmp(r->scenes[i], r->scene) == 0 ? "scene" : "scenes", r->scenes[i],
                      c->module);
            http_route_unref(r);
            return KEEL_ERR_DENIED;
        }
    r->owner = c;
    if (!(r->owner_module = http_strdup(c->module))) {
        http_route_unref(r);
        set_error(error, error_size, "http: out of memory");
        return KEEL_ERR_NOMEM;
    }
    pthread_mutex_lock(&st->edit_lock);
    const http_route *old = http_table_find(st->table, r->method, r->path);
    if (old && (!old->owner_module || strcmp(old->owner_module, c->module) != 0)) {
        if (old->owner_module)
            set_error(error, error_size, "http: route %s already belongs to module %s", r->id,
                      old->owner_module);
        else
            set_error(error, error_size, "http: route %s is configured by the base", r->id);
        pthread_mutex_unlock(&st->edit_lock);
        http_route_unref(r);
        return KEEL_ERR_EXISTS;
    }
    /* A route of the same module (another instance during a switch) is
     * taken over. */
    route_key key = {r->method, r->path};
    size_t dropped;
    http_table *t = table_edit(st, same_key, &key, r, &dropped);
    if (t)
        http_state_set_table(st, t);
    pthread_mutex_unlock(&st->edit_lock);
    if (t)
        http_host(st)->log(http_host(st), KEEL_LOG_DEBUG, "http: %s added by %s%s", r->id, c->instance,
                      dropped ? " (taken over)" : "");
    else
        set_error(error, error_size, "http: out of memory");
    http_route_unref(r);
    return t ? KEEL_OK : KEEL_ERR_NOMEM;
}

static keel_status slot_route_remove(keel_http *http, const char *method, const char *path)
{
    http_client *c = (http_client *)http;
    if (!c || !method || !path)
        return KEEL_ERR_INVALID;
    http_state *st = c->st;
    pthread_mutex_lock(&st->edit_lock);
    const http_route *old = http_table_find(st->table, method, path);
    keel_status s = KEEL_OK;
    if (!old)
        s = KEEL_ERR_NOT_FOUND;
    else if (!old->owner_module || strcmp(old->owner_module, c->module) != 0)
        s = KEEL_ERR_DENIED;
    if (s == KEEL_OK) {
        route_key key = {method, path};
        size_t dropped;
        http_table *t = table_edit(st, same_key, &key, NULL, &dropped);
        if (t)
            http_state_set_table(st, t);
        else
            s = KEEL_ERR_NOMEM;
    }
    pthread_mutex_unlock(&st->edit_lock);
    return s;
}

#if HTTP_TABLE_VERSION >= 2
static keel_status slot_route_metrics(keel_http *http, const char *method, const char *path,
                                      char **metrics_json)
{
    http_client *c = (http_client *)http;
    if (metrics_json)
        *metrics_json = NULL;
    if (!c || !method || !path || !metrics_json)
        return KEEL_ERR_INVALID;
    http_table *t = http_state_table(c->st);
    const http_route *r = http_table_find(t, method, path);
    keel_status s = KEEL_OK;
    if (!r)
        s = KEEL_ERR_NOT_FOUND;
    else if (!r->owner_module || strcmp(r->owner_module, c->module) != 0)
        s = KEEL_ERR_DENIED;
    if (s == KEEL_OK) {
        cJSON *o = http_route_json(r, true);
        *metrics_json = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!*metrics_json)
            s = KEEL_ERR_NOMEM;
    }
    http_table_unref(t);
    return s;
}

static void slot_free(void *ptr)
{
    free(ptr);
}
#endif

static const keel_http_api http_api = {
    .version = HTTP_TABLE_VERSION,
#if HTTP_TABLE_VERSION >= 2
    .size = sizeof(keel_http_api),
    .route_metrics = slot_route_metrics,
    .free = slot_free,
#else
    .size = offsetof(keel_http_api, route_metrics),
#endif
    .route_add = slot_route_add,
    .route_remove = slot_route_remove,
};

static const char *const http_slot_signatures[] = {
    "i32(ptr,ptr,ptr,u64)",   /* route_add */
    "i32(ptr,ptr,ptr)",       /* route_remove */
    "i32(ptr,ptr,ptr,ptr)",   /* route_metrics (table version 2) */
    "void(ptr)",              /* free (table version 2) */
};

static keel_status http_admin_op(void *state, const char *op, const char *args_json,
                                 char **result_json, keel_starter_error *err)
{
    return http_admin(state, op, args_json, result_json, err);
}

static const keel_starter_def http_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "http",
    .version = HTTP_STARTER_VERSION,
    .state_format = HTTP_STATE_FORMAT,
    .table = &http_api,
    .slot_signatures = http_slot_signatures,
    .slot_count = HTTP_TABLE_VERSION >= 2 ? 4 : 2,
    .create = http_create,
    .resume = http_resume,
    .suspend = http_suspend,
    .destroy = http_destroy,
    .bind = http_bind,
    .unbind = http_unbind,
    .admin = http_admin_op,
};

KEEL_STARTER(http_def);

/*
 * The module-api v1 function table: what a module can ask of the base.
 * Every function takes the module's ctx, which is the instance.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <keel/log.h>
#include "loader_internal.h"

static const char *api_module_name(keel_ctx *ctx) { return ctx->instance->name; }
static const char *api_module_version(keel_ctx *ctx) { return ctx->instance->version; }
static const char *api_instance_id(keel_ctx *ctx) { return ctx->instance->id; }

static void api_logv(keel_ctx *ctx, keel_log_level level, const char *fmt, va_list ap)
{
    if ((unsigned)level > KEEL_LOG_ERROR)
        level = KEEL_LOG_ERROR;
    keel_logv(level, ctx->instance->id, fmt, ap);
}

static void api_log(keel_ctx *ctx, keel_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    api_logv(ctx, level, fmt, ap);
    va_end(ap);
}

static const char *api_config_get(keel_ctx *ctx, const char *key)
{
    return key ? keel_manifest_config_get(ctx->instance->manifest, key) : NULL;
}

static const char *api_config_json(keel_ctx *ctx)
{
    return keel_manifest_config_json(ctx->instance->manifest);
}

/* A resource path must stay inside the bundle: relative, no "..". */
static int resource_path_ok(const char *rel)
{
    if (rel == NULL || rel[0] == '\0' || rel[0] == '/')
        return 0;
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if ((n == 2 && p[0] == '.' && p[1] == '.') || n == 0)
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

static keel_status api_resource_path(keel_ctx *ctx, const char *rel, char *buf, size_t size)
{
    if (!resource_path_ok(rel) || buf == NULL)
        return KEEL_ERR_INVALID;
    int n = snprintf(buf, size, "%s/%s", ctx->instance->dir, rel);
    if (n < 0 || (size_t)n >= size)
        return KEEL_ERR_LIMIT;
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISREG(st.st_mode))
        return KEEL_ERR_NOT_FOUND;
    return KEEL_OK;
}

/* --- memory ----------------------------------------------------------- */

/* Every block starts with this header; 16 bytes keep malloc's alignment. */
typedef struct block_header {
    keel_mem_account *account;
    size_t size;
} block_header;

void keel_mem_account_release(keel_mem_account *acct)
{
    if (acct != NULL && atomic_fetch_sub(&acct->refs, 1) == 1)
        free(acct);
}

static void *block_finish(block_header *h, keel_mem_account *acct, size_t size)
{
    if (h == NULL)
        return NULL;
    h->account = acct;
    h->size = size;
    atomic_fetch_add(&acct->refs, 1);
    atomic_fetch_add(&acct->blocks, 1);
    atomic_fetch_add(&acct->bytes, size);
    return h + 1;
}

static void *api_alloc(keel_ctx *ctx, size_t size)
{
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    return block_finish(malloc(sizeof(block_header) + size), ctx->instance->memory, size);
}

static void *api_calloc(keel_ctx *ctx, size_t count, size_t size)
{
    if (size != 0 && count > (SIZE_MAX - sizeof(block_header)) / size)
        return NULL;
    return block_finish(calloc(1, sizeof(block_header) + count * size), ctx->instance->memory,
                        count * size);
}

static void api_free(void *ptr)
{
    if (ptr == NULL)
        return;
    block_header *h = (block_header *)ptr - 1;
    keel_mem_account *acct = h->account;
    atomic_fetch_sub(&acct->bytes, h->size);
    atomic_fetch_sub(&acct->blocks, 1);
    free(h);
    keel_mem_account_release(acct);
}

static void *api_realloc(keel_ctx *ctx, void *ptr, size_t size)
{
    if (ptr == NULL)
        return api_alloc(ctx, size);
    if (size > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *old = (block_header *)ptr - 1;
    keel_mem_account *acct = old->account;
    size_t old_size = old->size;
    block_header *h = realloc(old, sizeof(block_header) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    atomic_fetch_sub(&acct->bytes, old_size);
    atomic_fetch_add(&acct->bytes, size);
    return h + 1;
}

static char *api_strdup(keel_ctx *ctx, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *copy = api_alloc(ctx, n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

static keel_status api_resource_read(keel_ctx *ctx, const char *rel, void **data, size_t *size)
{
    char path[4096];
    keel_status st = api_resource_path(ctx, rel, path, sizeof path);
    if (st != KEEL_OK)
        return st;
    if (data == NULL || size == NULL)
        return KEEL_ERR_INVALID;
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return KEEL_ERR_IO;
    struct stat stt;
    if (fstat(fileno(f), &stt) != 0) {
        fclose(f);
        return KEEL_ERR_IO;
    }
    size_t len = (size_t)stt.st_size;
    char *buf = api_alloc(ctx, len + 1);
    if (buf == NULL) {
        fclose(f);
        return KEEL_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    if (got != len) {
        api_free(buf);
        return KEEL_ERR_IO;
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return KEEL_OK;
}

/* --- services and subscriptions ---------------------------------------- */

static int name_ok(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) <= 128;
}

static keel_registration *registration_find(registration_list *list, const char *scene,
                                            const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].scene, scene) == 0 && strcmp(list->items[i].name, name) == 0)
            return &list->items[i];
    return NULL;
}

static keel_status registration_add(keel_instance *inst, registration_list *list,
                                    keel_registration r)
{
    keel_status st = KEEL_OK;
    pthread_mutex_lock(&inst->lock);
    if (registration_find(list, r.scene, r.name) != NULL) {
        st = KEEL_ERR_EXISTS;
        goto out;
    }
    keel_registration *grown = realloc(list->items, (list->count + 1) * sizeof *grown);
    if (grown == NULL) {
        st = KEEL_ERR_NOMEM;
        goto out;
    }
    list->items = grown;
    r.scene = strdup(r.scene);
    r.name = strdup(r.name);
    r.signature = r.signature ? strdup(r.signature) : NULL;
    list->items[list->count++] = r;
out:
    pthread_mutex_unlock(&inst->lock);
    return st;
}

static void registration_free(keel_registration *r)
{
    free((char *)r->scene);
    free((char *)r->name);
    free((char *)r->signature);
}

static keel_status registration_remove(keel_instance *inst, registration_list *list,
                                       const char *scene, const char *name)
{
    if (!name_ok(scene) || !name_ok(name))
        return KEEL_ERR_INVALID;
    keel_status st = KEEL_ERR_NOT_FOUND;
    pthread_mutex_lock(&inst->lock);
    keel_registration *r = registration_find(list, scene, name);
    if (r != NULL) {
        registration_free(r);
        *r = list->items[--list->count];
        st = KEEL_OK;
    }
    pthread_mutex_unlock(&inst->lock);
    return st;
}


void keel_registrations_clear(keel_instance *inst)
{
    pthread_mutex_lock(&inst->lock);
    registration_list *lists[2] = {&inst->services, &inst->subscriptions};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < lists[k]->count; i++)
            registration_free(&lists[k]->items[i]);
        free(lists[k]->items);
        lists[k]->items = NULL;
        lists[k]->count = 0;
    }
    pthread_mutex_unlock(&inst->lock);
}

keel_status keel_instance_register_service(keel_instance *inst, const char *scene, const char *name,
                                           const char *signature, keel_fn fn, keel_error *err)
{
    if (!name_ok(scene) || !name_ok(name) || fn == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: a service needs a scene, a name and a function",
                              inst->id);
    keel_registration r = {scene, name, signature, fn, NULL};
    keel_status st = registration_add(inst, &inst->services, r);
    if (st == KEEL_ERR_EXISTS)
        return keel_error_set(err, st, "%s already publishes \"%s\" in scene \"%s\"", inst->id, name, scene);
    if (st != KEEL_OK)
        return keel_error_set(err, st, "out of memory");
    st = keel_router_service_add(inst->route, scene, name, signature, fn, err);
    if (st != KEEL_OK)
        registration_remove(inst, &inst->services, scene, name);
    return st;
}

/* Module-facing calls return a status only; the reason goes to the log so
 * that the operator can read why. */
static keel_status api_failed(keel_ctx *ctx, const keel_error *err)
{
    keel_log(KEEL_LOG_WARN, ctx->instance->id, "%s", err->message);
    return err->status;
}

static keel_status api_service_register(keel_ctx *ctx, const char *scene, const char *name,
                                        const char *signature, keel_fn fn)
{
    keel_error err = {0};
    keel_status st = keel_instance_register_service(ctx->instance, scene, name, signature, fn, &err);
    return st == KEEL_OK || st == KEEL_ERR_INVALID ? st : api_failed(ctx, &err);
}

static keel_status api_service_unregister(keel_ctx *ctx, const char *scene, const char *name)
{
    keel_status st = registration_remove(ctx->instance, &ctx->instance->services, scene, name);
    if (st == KEEL_OK)
        keel_router_service_remove(ctx->instance->route, scene, name);
    return st;
}

static keel_status api_subscribe(keel_ctx *ctx, const char *scene, const char *topic,
                                 keel_message_fn fn, void *user)
{
    if (!name_ok(scene) || !name_ok(topic) || fn == NULL)
        return KEEL_ERR_INVALID;
    keel_instance *inst = ctx->instance;
    keel_registration r = {scene, topic, NULL, (void (*)(void))fn, user};
    keel_status st = registration_add(inst, &inst->subscriptions, r);
    if (st != KEEL_OK)
        return st;
    keel_error err = {0};
    st = keel_router_subscribe(inst->route, scene, topic, fn, user, &err);
    if (st != KEEL_OK) {
        registration_remove(inst, &inst->subscriptions, scene, topic);
        return api_failed(ctx, &err);
    }
    return KEEL_OK;
}

static keel_status api_unsubscribe(keel_ctx *ctx, const char *scene, const char *topic)
{
    keel_status st = registration_remove(ctx->instance, &ctx->instance->subscriptions, scene, topic);
    if (st == KEEL_OK)
        keel_router_unsubscribe(ctx->instance->route, scene, topic);
    return st;
}

/* --- calls and messages (since 2) ---------------------------------------- */

static keel_status api_service_resolve(keel_ctx *ctx, const char *scene, const char *name,
                                       keel_service_ref **out)
{
    if (out == NULL)
        return KEEL_ERR_INVALID;
    keel_error err = {0};
    keel_status st = keel_router_resolve(ctx->instance->loader->router, ctx->instance->route, scene,
                                         name, out, &err);
    return st == KEEL_OK ? st : api_failed(ctx, &err);
}

static void api_service_release(keel_ctx *ctx, keel_service_ref *ref)
{
    (void)ctx;
    keel_router_ref_release(ref);
}

static keel_status api_call_enter(keel_service_ref *ref, const char *key, keel_call *call)
{
    if (ref == NULL || call == NULL)
        return KEEL_ERR_INVALID;
    return keel_router_enter(ref, key, call);
}

static void api_call_leave(keel_call *call)
{
    if (call != NULL)
        keel_router_leave(call);
}

static keel_status api_call_json(keel_ctx *ctx, const char *scene, const char *name,
                                 const char *args_json, char **result_json)
{
    if (result_json == NULL)
        return KEEL_ERR_INVALID;
    *result_json = NULL;
    keel_service_ref *ref = NULL;
    keel_status st = api_service_resolve(ctx, scene, name, &ref);
    if (st != KEEL_OK)
        return st;
    keel_error err = {0};
    char *result = NULL;
    st = keel_router_call_json(ref, NULL, args_json, args_json ? strlen(args_json) : 0, &result, &err);
    keel_router_ref_release(ref);
    if (st != KEEL_OK)
        return api_failed(ctx, &err);
    *result_json = api_strdup(ctx, result);
    free(result);
    return *result_json != NULL ? KEEL_OK : KEEL_ERR_NOMEM;
}

static keel_status api_publish(keel_ctx *ctx, const char *scene, const char *topic, const void *data,
                               size_t size, unsigned flags)
{
    keel_error err = {0};
    keel_status st = keel_router_publish(ctx->instance->loader->router, ctx->instance->route, scene,
                                         topic, data, size, flags, NULL, &err);
    return st == KEEL_OK || st == KEEL_ERR_LIMIT ? st : api_failed(ctx, &err);
}

/* --- starters ---------------------------------------------------------- */

static keel_status api_starter_get(keel_ctx *ctx, const char *name, const char *range,
                                   const void **table, void **client)
{
    if (table == NULL || client == NULL || name == NULL)
        return KEEL_ERR_INVALID;
    *table = NULL;
    *client = NULL;
    keel_instance *inst = ctx->instance;
    const keel_manifest_requirement *req = NULL;
    for (size_t i = 0; i < keel_manifest_requirement_count(inst->manifest) && !req; i++)
        if (strcmp(keel_manifest_requirement_at(inst->manifest, i)->name, name) == 0)
            req = keel_manifest_requirement_at(inst->manifest, i);
    keel_error err = {0};
    if (req == NULL) {
        keel_error_set(&err, KEEL_ERR_DENIED, "starter %s is not in the manifest's \"requires\"; "
                       "add \"%s\": \"^1.0\" (or the range you need) there", name, name);
        return api_failed(ctx, &err);
    }
    pthread_mutex_lock(&inst->lock);
    for (size_t i = 0; i < inst->starter_count; i++) {
        if (strcmp(inst->starters[i].name, name) == 0) {
            *table = inst->starters[i].table;
            *client = inst->starters[i].client;
            pthread_mutex_unlock(&inst->lock);
            return KEEL_OK;
        }
    }
    const keel_loader_starters *p = &inst->loader->starters;
    keel_status st;
    starter_use *grown = NULL;
    if (p->bind == NULL) {
        st = keel_error_set(&err, KEEL_ERR_NOT_FOUND, "this base runs no starters (wanted %s)", name);
    } else if ((grown = realloc(inst->starters, (inst->starter_count + 1) * sizeof *grown)) == NULL) {
        st = keel_error_set(&err, KEEL_ERR_NOMEM, "out of memory");
    } else {
        inst->starters = grown;
        st = p->bind(p->user, inst, name, range ? range : req->range, table, client, &err);
        starter_use *u = &inst->starters[inst->starter_count];
        if (st == KEEL_OK && (u->name = strdup(name)) == NULL) {
            p->unbind(p->user, name, *client);
            st = keel_error_set(&err, KEEL_ERR_NOMEM, "out of memory");
        }
        if (st == KEEL_OK) {
            u->table = *table;
            u->client = *client;
            inst->starter_count++;
        } else {
            *table = NULL;
            *client = NULL;
        }
    }
    pthread_mutex_unlock(&inst->lock);
    return st == KEEL_OK ? st : api_failed(ctx, &err);
}

/* --- tasks ------------------------------------------------------------- */

typedef struct task_call {
    keel_task_fn fn;
    void *arg;
} task_call;

static void task_trampoline(void *ctx, void *arg)
{
    task_call call = *(task_call *)arg;
    free(arg);
    call.fn(ctx, call.arg);
}

static keel_status api_task_submit(keel_ctx *ctx, keel_task_fn fn, void *arg)
{
    keel_instance *inst = ctx->instance;
    if (fn == NULL)
        return KEEL_ERR_INVALID;
    if (atomic_load(&inst->stopping))
        return KEEL_ERR_STATE;
    task_call *call = malloc(sizeof *call);
    if (call == NULL)
        return KEEL_ERR_NOMEM;
    *call = (task_call){fn, arg};
    keel_status st = keel_task_pool_submit(inst->loader->tasks, &inst->tasks, task_trampoline, ctx, call);
    if (st != KEEL_OK)
        free(call);
    return st;
}

static int api_stopping(keel_ctx *ctx)
{
    return atomic_load(&ctx->instance->stopping);
}

const keel_api keel_module_api_table = {
    .version = KEEL_API_VERSION,
    .size = sizeof(keel_api),
    .module_name = api_module_name,
    .module_version = api_module_version,
    .instance_id = api_instance_id,
    .log = api_log,
    .logv = api_logv,
    .config_get = api_config_get,
    .config_json = api_config_json,
    .resource_path = api_resource_path,
    .resource_read = api_resource_read,
    .service_register = api_service_register,
    .service_unregister = api_service_unregister,
    .subscribe = api_subscribe,
    .unsubscribe = api_unsubscribe,
    .alloc = api_alloc,
    .calloc = api_calloc,
    .realloc = api_realloc,
    .free = api_free,
    .strdup = api_strdup,
    .task_submit = api_task_submit,
    .stopping = api_stopping,
    .service_resolve = api_service_resolve,
    .service_release = api_service_release,
    .call_enter = api_call_enter,
    .call_leave = api_call_leave,
    .call_json = api_call_json,
    .publish = api_publish,
    .starter_get = api_starter_get,
};

const keel_api *keel_loader_module_api(void)
{
    return &keel_module_api_table;
}

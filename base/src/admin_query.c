/*
 * The admin operations that read or use what is deployed: list, history,
 * call, publish, health, metrics. They claim nothing; they read instances
 * under the read side of instances_lock, so an uninstall cannot free one
 * under them.
 */
#include "admin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/log.h>

/* A snapshot of the loader's instances; free with query_instances_done. */
typedef struct query_instances {
    keel_instance **list;
    size_t count;
} query_instances;

static keel_status query_instances_take(keel_admin_request *req, query_instances *q)
{
    keel_base_instances_read(req->base);
    q->count = keel_base_instances_snapshot(req->base, &q->list);
    if (q->list == NULL) {
        keel_base_instances_done(req->base);
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "%s: out of memory", req->op);
    }
    return KEEL_OK;
}

static void query_instances_done(keel_admin_request *req, query_instances *q)
{
    free(q->list);
    keel_base_instances_done(req->base);
}

/* ---- list ------------------------------------------------------------------ */

typedef struct list_services {
    keel_admin_request *req;
    cJSON *modules;   /* the "modules" array */
} list_services;

static const char *list_routed_name(int routed)
{
    return routed == 1 ? "primary" : routed == 2 ? "gray" : "none";
}

/* The module entry of name@version in the array, or NULL. */
static cJSON *list_find_module(cJSON *modules, const char *name, const char *version)
{
    cJSON *m;
    cJSON_ArrayForEach(m, modules) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "name");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "version");
        if (cJSON_IsString(n) && cJSON_IsString(v) && strcmp(n->valuestring, name) == 0 &&
            strcmp(v->valuestring, version) == 0)
            return m;
    }
    return NULL;
}

static void list_add_service(const keel_service_info *info, void *user)
{
    list_services *ls = user;
    cJSON *module = list_find_module(ls->modules, info->module, info->version);
    cJSON *services = module ? cJSON_GetObjectItemCaseSensitive(module, "services") : NULL;
    cJSON *s = services ? keel_admin_add_object(ls->req, services, NULL) : NULL;
    if (s == NULL)
        return;
    keel_admin_add_string(ls->req, s, "scene", info->scene);
    keel_admin_add_string(ls->req, s, "name", info->name);
    keel_admin_add_string(ls->req, s, "signature", info->signature);
    keel_admin_add_string(ls->req, s, "routed", list_routed_name(info->routed));
    keel_admin_add_number(ls->req, s, "share", info->share);
    cJSON *props = info->properties ? cJSON_Parse(info->properties) : cJSON_CreateNull();
    keel_admin_add_item(ls->req, s, "properties", props);
}

static void list_add_instance(keel_admin_request *req, cJSON *modules, keel_instance *inst)
{
    cJSON *m = keel_admin_add_object(req, modules, NULL);
    if (m == NULL)
        return;
    const char *reason = keel_instance_reason(inst);
    keel_admin_add_string(req, m, "name", keel_instance_name(inst));
    keel_admin_add_string(req, m, "version", keel_instance_version(inst));
    keel_admin_add_string(req, m, "state", keel_instance_state_name(keel_instance_state_get(inst)));
    keel_admin_add_number(req, m, "namespace", keel_instance_namespace(inst));
    keel_admin_add_number(req, m, "priority", keel_manifest_priority(keel_instance_manifest(inst)));
    keel_admin_add_number(req, m, "memory_bytes",
                          (double)(keel_instance_mapped_bytes(inst) + keel_instance_memory_bytes(inst)));
    keel_admin_add_string(req, m, "reason", reason && reason[0] ? reason : NULL);
    keel_admin_add_array(req, m, "services");
}

keel_status keel_admin_list(keel_admin_request *req)
{
    query_instances q;
    keel_status st = query_instances_take(req, &q);
    if (st != KEEL_OK)
        return st;
    cJSON *modules = keel_admin_add_array(req, NULL, "modules");
    for (size_t i = 0; modules != NULL && i < q.count; i++)
        list_add_instance(req, modules, q.list[i]);
    list_services ls = {req, modules};
    if (modules != NULL && !req->nomem)
        keel_router_services(keel_loader_router(req->base->loader), list_add_service, &ls);
    query_instances_done(req, &q);
    return KEEL_OK;
}

/* ---- history --------------------------------------------------------------- */

static void history_add_instance(keel_admin_request *req, cJSON *instances, keel_instance *inst)
{
    cJSON *entry = keel_admin_add_object(req, instances, NULL);
    if (entry != NULL)
        keel_admin_add_string(req, entry, "id", keel_instance_id(inst));
    cJSON *history = entry ? keel_admin_add_array(req, entry, "history") : NULL;
    if (history == NULL)
        return;
    size_t n = keel_instance_history_count(inst);
    for (size_t i = 0; i < n; i++) {
        keel_state_change change;
        if (keel_instance_history_at(inst, i, &change) != 0)
            break;
        char time[40];
        keel_admin_format_time(change.time_ns, time, sizeof time);
        cJSON *c = keel_admin_add_object(req, history, NULL);
        if (c == NULL)
            return;
        keel_admin_add_string(req, c, "time", time);
        keel_admin_add_string(req, c, "state", keel_instance_state_name(change.state));
        keel_admin_add_string(req, c, "note", change.note ? change.note : "");
    }
}

keel_status keel_admin_history(keel_admin_request *req)
{
    const char *name = NULL, *version = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "version", 0, &version);
    query_instances q;
    if (st != KEEL_OK || (st = query_instances_take(req, &q)) != KEEL_OK)
        return st;
    cJSON *instances = keel_admin_add_array(req, NULL, "instances");
    size_t found = 0;
    for (size_t i = 0; instances != NULL && i < q.count; i++) {
        keel_instance *inst = q.list[i];
        if (strcmp(keel_instance_name(inst), name) != 0 ||
            (version != NULL && strcmp(keel_instance_version(inst), version) != 0))
            continue;
        history_add_instance(req, instances, inst);
        found++;
    }
    query_instances_done(req, &q);
    if (found == 0 && !req->nomem)
        return keel_error_set(req->err, KEEL_ERR_NOT_FOUND, "history: %s%s%s is not installed", name,
                              version ? "@" : "", version ? version : "");
    return KEEL_OK;
}

/* ---- call, publish -------------------------------------------------------- */

keel_status keel_admin_call(keel_admin_request *req)
{
    const char *service = NULL, *scene = "default", *key = NULL;
    keel_status st = keel_admin_arg_string(req, "service", 1, &service);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "scene", 0, &scene);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "key", 0, &key);
    const cJSON *args = keel_admin_arg(req, "args");
    if (st == KEEL_OK && args != NULL && !cJSON_IsArray(args))
        st = keel_error_set(req->err, KEEL_ERR_INVALID, "call: argument \"args\" must be a JSON "
                            "array of the service's arguments");
    if (st != KEEL_OK)
        return st;
    char *text = args ? cJSON_PrintUnformatted(args) : strdup("[]");
    if (text == NULL)
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "call: out of memory");
    keel_router *router = keel_loader_router(req->base->loader);
    keel_router_ref *ref = NULL;
    char *result = NULL;
    st = keel_router_resolve(router, NULL, scene, service, &ref, req->err);
    if (st == KEEL_OK) {
        st = keel_router_call_json(ref, key, text, strlen(text), &result, req->err);
        keel_router_ref_release(ref);
    }
    free(text);
    if (st == KEEL_OK) {
        cJSON *value = cJSON_Parse(result);
        keel_admin_add_item(req, NULL, "result", value ? value : cJSON_CreateString(result));
    }
    free(result);
    return st;
}

keel_status keel_admin_publish(keel_admin_request *req)
{
    const char *topic = NULL, *scene = "default";
    int sync = 0;
    keel_status st = keel_admin_arg_string(req, "topic", 1, &topic);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "scene", 0, &scene);
    if (st == KEEL_OK)
        st = keel_admin_arg_bool(req, "sync", &sync);
    if (st != KEEL_OK)
        return st;
    /* A string is sent as its bytes; any other JSON value as its text. */
    const cJSON *data = keel_admin_arg(req, "data");
    char *text = data == NULL ? strdup("")
                 : cJSON_IsString(data) ? strdup(data->valuestring) : cJSON_PrintUnformatted(data);
    if (text == NULL)
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "publish: out of memory");
    size_t receivers = 0;
    st = keel_router_publish(keel_loader_router(req->base->loader), NULL, scene, topic, text,
                             strlen(text), sync ? KEEL_PUBLISH_SYNC : 0, &receivers, req->err);
    free(text);
    if (st == KEEL_OK)
        keel_admin_add_number(req, NULL, "receivers", (double)receivers);
    return st;
}

/* ---- health, metrics ----------------------------------------------------- */

/* Adds each non-empty line of `text` (may be NULL) to `array`. */
static void health_add_lines(keel_admin_request *req, cJSON *array, const char *text)
{
    for (const char *line = text; line != NULL && *line != '\0';) {
        size_t len = strcspn(line, "\n");
        if (len > 0) {
            char *copy = strndup(line, len);
            keel_admin_add_string(req, array, NULL, copy ? copy : "(out of memory)");
            free(copy);
        }
        line += len + (line[len] == '\n');
    }
}

keel_status keel_admin_health(keel_admin_request *req)
{
    query_instances q;
    keel_status st = query_instances_take(req, &q);
    if (st != KEEL_OK)
        return st;
    size_t active = 0, broken = 0;
    for (size_t i = 0; i < q.count; i++) {
        keel_instance_state s = keel_instance_state_get(q.list[i]);
        active += s == KEEL_STATE_ACTIVE;
        broken += s == KEEL_STATE_BROKEN;
    }
    size_t modules = q.count;
    query_instances_done(req, &q);
    char *leaks = keel_loader_leaks(req->base->loader);
    char *starters = keel_base_starter_failures(req->base);
    int degraded = broken > 0 || (leaks != NULL && leaks[strspn(leaks, "\n")] != '\0') ||
                   starters != NULL;
    const char *status = atomic_load(&req->base->booting) ? "BOOTING" : degraded ? "DEGRADED" : "UP";
    keel_admin_add_string(req, NULL, "status", status);
    keel_admin_add_number(req, NULL, "uptime_s", (double)(long long)keel_base_uptime(req->base));
    keel_admin_add_number(req, NULL, "modules", (double)modules);
    keel_admin_add_number(req, NULL, "active", (double)active);
    keel_admin_add_number(req, NULL, "broken", (double)broken);
    cJSON *array = keel_admin_add_array(req, NULL, "leaks");
    if (array != NULL)
        health_add_lines(req, array, leaks);
    free(leaks);
    /* Starters the configuration asks for that could not be enabled. */
    array = keel_admin_add_array(req, NULL, "starters_failed");
    if (array != NULL)
        health_add_lines(req, array, starters);
    free(starters);
    return KEEL_OK;
}

keel_status keel_admin_metrics(keel_admin_request *req)
{
    char *text = keel_base_metrics_text(req->base);
    if (text == NULL)
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "metrics: out of memory");
    keel_admin_add_string(req, NULL, "text", text);
    free(text);
    return KEEL_OK;
}

/* http_admin.c — operator commands ("info", "routes", "reopen_log") and
 * the JSON views of routes and their metrics. */
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool add_count(cJSON *o, const char *name, unsigned long long v)
{
    return cJSON_AddNumberToObject(o, name, (double)v) != NULL;
}

static bool add_metrics(cJSON *o, const http_metrics *m)
{
    bool ok = add_count(o, "requests", atomic_load(&m->requests)) &&
              add_count(o, "status_2xx", atomic_load(&m->status_2xx)) &&
              add_count(o, "status_4xx", atomic_load(&m->status_4xx)) &&
              add_count(o, "status_5xx", atomic_load(&m->status_5xx)) &&
              add_count(o, "status_401", atomic_load(&m->status_401)) &&
              add_count(o, "status_413", atomic_load(&m->status_413)) &&
              add_count(o, "status_429", atomic_load(&m->status_429)) &&
              add_count(o, "fallbacks", atomic_load(&m->fallbacks)) &&
              add_count(o, "timeouts", atomic_load(&m->timeouts)) &&
              cJSON_AddNumberToObject(o, "in_flight", (double)atomic_load(&m->in_flight));
    cJSON *lat = ok ? cJSON_AddObjectToObject(o, "latency_us") : NULL;
    cJSON *buckets = lat ? cJSON_AddArrayToObject(lat, "buckets") : NULL;
    if (!buckets || !cJSON_AddNumberToObject(lat, "p50", http_metrics_percentile(m, 50)) ||
        !cJSON_AddNumberToObject(lat, "p99", http_metrics_percentile(m, 99)))
        return false;
    /* trailing empty buckets are left out */
    unsigned last = 0;
    for (unsigned i = 0; i < HTTP_LATENCY_BUCKETS; i++)
        if (atomic_load(&m->latency[i]))
            last = i + 1;
    for (unsigned i = 0; i < last; i++) {
        cJSON *n = cJSON_CreateNumber((double)atomic_load(&m->latency[i]));
        if (!n || !cJSON_AddItemToArray(buckets, n)) {
            cJSON_Delete(n);
            return false;
        }
    }
    return true;
}

cJSON *http_route_json(const http_route *r, bool metrics)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "method", r->method) &&
              cJSON_AddStringToObject(o, "path", r->path) &&
              cJSON_AddStringToObject(o, "service", r->service) &&
              cJSON_AddStringToObject(o, "scene", r->scene) &&
              cJSON_AddStringToObject(o, "auth", r->auth_token ? "token" : "none") &&
              (r->owner_module ? cJSON_AddStringToObject(o, "owner", r->owner_module)
                               : cJSON_AddNullToObject(o, "owner"));
    if (ok && r->scene_header) {
        cJSON *scenes = cJSON_AddArrayToObject(o, "scenes");
        ok = cJSON_AddStringToObject(o, "scene_header", r->scene_header) && scenes;
        for (size_t i = 0; ok && i < r->scene_count; i++) {
            cJSON *s = cJSON_CreateString(r->scenes[i]);
            ok = s && cJSON_AddItemToArray(scenes, s);
            if (!ok)
                cJSON_Delete(s);
        }
    }
    if (ok && r->limited) {
        cJSON *rl = cJSON_AddObjectToObject(o, "rate_limit");
        ok = rl && cJSON_AddNumberToObject(rl, "per_second", r->per_second) &&
             cJSON_AddNumberToObject(rl, "burst", r->burst);
    }
    if (ok && r->has_fallback) {
        cJSON *fb = cJSON_AddObjectToObject(o, "fallback");
        cJSON *body = cJSON_Parse(r->fallback_body);
        ok = fb && body && cJSON_AddNumberToObject(fb, "status", r->fallback_status) &&
             cJSON_AddItemToObject(fb, "body", body);
        if (!ok)
            cJSON_Delete(body);
    }
    if (ok && metrics)
        ok = add_metrics(o, &r->metrics);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *routes_json(http_state *st, bool metrics)
{
    cJSON *arr = cJSON_CreateArray();
    http_table *t = http_state_table(st);
    for (size_t i = 0; arr && i < t->count; i++) {
        cJSON *r = http_route_json(t->routes[i], metrics);
        if (!r || !cJSON_AddItemToArray(arr, r)) {
            cJSON_Delete(r);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    http_table_unref(t);
    return arr;
}

static cJSON *info_json(http_state *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    size_t clients = 0;
    pthread_mutex_lock(&st->edit_lock);
    for (http_client *c = st->clients; c; c = c->next)
        clients++;
    pthread_mutex_unlock(&st->edit_lock);
    cJSON *unrouted = cJSON_CreateObject();
    bool ok = unrouted && cJSON_AddItemToObject(o, "unrouted", unrouted);
    if (!ok)
        cJSON_Delete(unrouted);
    ok = ok && cJSON_AddStringToObject(o, "name", "http") &&
         cJSON_AddStringToObject(o, "version", HTTP_STARTER_VERSION) &&
         cJSON_AddNumberToObject(o, "table_version", HTTP_TABLE_VERSION) &&
         cJSON_AddStringToObject(o, "listen", st->cfg.listen) &&
         cJSON_AddStringToObject(o, "host", st->cfg.host) &&
         cJSON_AddNumberToObject(o, "port", st->bound_port) &&
         cJSON_AddBoolToObject(o, "serving", atomic_load(&st->serving)) &&
         cJSON_AddNumberToObject(o, "threads", st->cfg.threads) &&
         cJSON_AddNumberToObject(o, "workers", st->cfg.workers) &&
         cJSON_AddNumberToObject(o, "max_body_bytes", (double)st->cfg.max_body) &&
         cJSON_AddNumberToObject(o, "timeout_ms", st->cfg.timeout_ms) &&
         (st->log.path ? cJSON_AddStringToObject(o, "access_log", st->log.path)
                       : cJSON_AddNullToObject(o, "access_log")) &&
         add_count(o, "access_log_lines", atomic_load(&st->log.lines)) &&
         add_count(o, "access_log_errors", atomic_load(&st->log.errors)) &&
         add_count(o, "requests", atomic_load(&st->requests)) &&
         add_count(unrouted, "404", atomic_load(&st->unrouted_404)) &&
         add_count(unrouted, "405", atomic_load(&st->unrouted_405)) &&
         cJSON_AddNumberToObject(o, "connections", (double)atomic_load(&st->connections)) &&
         cJSON_AddNumberToObject(o, "active", (double)atomic_load(&st->active)) &&
         add_count(o, "resumes", atomic_load(&st->resumes)) &&
         add_count(o, "tokens", st->cfg.token_count) && add_count(o, "clients", clients);
#if HTTP_TABLE_VERSION >= 2
    ok = ok && cJSON_AddStringToObject(o, "response_headers",
                                       "X-Keel-Route, X-Keel-Scene, Server-Timing");
#else
    ok = ok && cJSON_AddStringToObject(o, "response_headers", "X-Keel-Route, X-Keel-Scene");
#endif
    cJSON *routes = ok ? routes_json(st, true) : NULL;
    if (!routes || !cJSON_AddItemToObject(o, "routes", routes)) {
        cJSON_Delete(routes);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

keel_status http_admin(http_state *st, const char *op, const char *args_json,
                       char **result_json, keel_starter_error *err)
{
    *result_json = NULL;
    cJSON *out = NULL;
    if (op && strcmp(op, "info") == 0) {
        out = info_json(st);
    } else if (op && strcmp(op, "routes") == 0) {
        cJSON *routes = routes_json(st, false);
        out = routes ? cJSON_CreateObject() : NULL;
        if (!out || !cJSON_AddItemToObject(out, "routes", routes)) {
            cJSON_Delete(out);
            cJSON_Delete(routes);
            out = NULL;
        }
    } else if (op && strcmp(op, "reopen_log") == 0) {
        keel_status s = http_log_reopen(&st->log, err);
        if (s != KEEL_OK)
            return s;
        out = cJSON_CreateObject();
        if (out && !cJSON_AddBoolToObject(out, "reopened", st->log.path != NULL)) {
            cJSON_Delete(out);
            out = NULL;
        }
    } else {
        keel_starter_error_set(err, "http: unknown admin op \"%.64s\" (known: info, routes, reopen_log)",
                               op ? op : "");
        return KEEL_ERR_NOT_FOUND;
    }
    *result_json = out ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (!*result_json) {
        keel_starter_error_set(err, "http: out of memory");
        return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

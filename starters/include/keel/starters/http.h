/*
 * keel/starters/http.h — the "http" starter, seen from a module.
 *
 * The http starter is an HTTP gateway run by the base (libmicrohttpd). The
 * base owner configures routes (method + exact path → service, scene, auth,
 * rate limit, fallback); a request's body is the JSON array of arguments,
 * the service is called through the base's dynamic JSON call, and its JSON
 * result is the response body (200, application/json).
 *
 * A module that binds the starter (api->starter_get(ctx, "http", ...)) may
 * add routes of its own at run time. A module route must point at a scene
 * the module has (its manifest scenes); it belongs to the module and goes
 * away when the instance that added it is unbound (when it stops). During a
 * version switch the new instance may add the same method + path again: it
 * takes the route over from the old instance, so the route never
 * disappears.
 *
 *   const keel_http_api *http;
 *   keel_http *gw;
 *   api->starter_get(ctx, "http", ">=1.0.0", (const void **)&http, (void **)&gw);
 *   char why[256];
 *   if (http->route_add(gw, "{\"method\": \"POST\", \"path\": \"/fund/quote\","
 *                           " \"service\": \"quote\", \"scene\": \"retail\"}",
 *                       why, sizeof why) != KEEL_OK)
 *       api->log(ctx, KEEL_LOG_ERROR, "route: %s", why);
 *
 * Table versions: 1 (starter 1.0.0): route_add, route_remove.
 *                 2 (starter 1.1.0): + route_metrics, free.
 * Check KEEL_HTTP_API_HAS(table, field) before using a later slot.
 *
 * Threads: every slot may be called from any thread at any time between
 * bind and unbind, also while the starter is being upgraded. Route changes
 * are atomic for requests: a request sees either the old or the new route
 * table, never a mix.
 */
#ifndef KEEL_STARTERS_HTTP_H
#define KEEL_STARTERS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <keel/module.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The module's client of the gateway: opaque, owned by the starter, valid
 * from bind until unbind. */
typedef struct keel_http keel_http;

/* The newest table version this header describes. */
#define KEEL_HTTP_API_VERSION 2

typedef struct keel_http_api {
    uint32_t version;   /* table version (1: starter 1.0.0, 2: 1.1.0) */
    uint32_t size;      /* sizeof the table as the running starter was built */

    /* Adds a route served by one of the module's services. `route_json`
     * (borrowed) is one route object, exactly as in the gateway's
     * configuration:
     *   {"method": "GET"|"POST"|"PUT"|"PATCH"|"DELETE", "path": "/exact/path",
     *    "service": "name", "scene": "s" (default: "default"),
     *    "scene_header": "X-Header" (optional), "scenes": ["s", ...],
     *    "auth": "none"|"token", "rate_limit": {"per_second": N, "burst": N},
     *    "fallback": {"status": 100..599, "body": <any JSON>}}
     * `scene` and every entry of `scenes` must be scenes of the module.
     * `error` (caller-owned, `error_size` bytes, may be NULL) receives one
     * line on failure.
     * KEEL_OK: the route serves from now on.
     * KEEL_ERR_INVALID: malformed JSON or a bad field (the message names it).
     * KEEL_ERR_DENIED: a scene the module does not have.
     * KEEL_ERR_EXISTS: the method + path belongs to the base's
     *   configuration or to another module.
     * KEEL_ERR_NOMEM: out of memory.
     * Nothing changes on error. Thread-safe. */
    keel_status (*route_add)(keel_http *http, const char *route_json, char *error,
                             size_t error_size);

    /* Removes the module's route `method` `path` (borrowed). Requests
     * already inside the route finish.
     * KEEL_OK: removed. KEEL_ERR_NOT_FOUND: no route has that method and
     * path. KEEL_ERR_DENIED: the route belongs to the configuration or to
     * another module (nothing changes). KEEL_ERR_INVALID: NULL argument.
     * Thread-safe. */
    keel_status (*route_remove)(keel_http *http, const char *method, const char *path);

    /* --- since table version 2 (starter 1.1.0) -------------------------- */

    /* The counters of the module's own route `method` `path` (borrowed) as
     * a JSON object: requests, status_2xx/4xx/5xx, status_401/413/429,
     * fallbacks, timeouts, in_flight, latency_us {p50, p99, buckets}. On
     * KEEL_OK *metrics_json is a NUL-terminated text the module frees with
     * this table's free. KEEL_ERR_NOT_FOUND: no such route.
     * KEEL_ERR_DENIED: not the module's route. KEEL_ERR_NOMEM.
     * Thread-safe. */
    keel_status (*route_metrics)(keel_http *http, const char *method, const char *path,
                                 char **metrics_json);

    /* Frees memory this table handed out (NULL-safe). Thread-safe. */
    void (*free)(void *ptr);
} keel_http_api;

/* True when the running starter's table has `field`. */
#define KEEL_HTTP_API_HAS(api, field) \
    ((api)->size >= offsetof(keel_http_api, field) + sizeof(((keel_http_api *)0)->field))

#ifdef __cplusplus
}
#endif

#endif /* KEEL_STARTERS_HTTP_H */

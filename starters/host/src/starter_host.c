/* What the base offers each starter (keel_starter_host): logging tagged
 * with the starter, dynamic calls through the router, module status. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/log.h>
#include "starter_set_internal.h"

typedef struct starter_call_ref {
    struct starter_call_ref *next;
    char *scene, *name;
    keel_router_ref *ref;
} starter_call_ref;

void starter_calls_init(starter_calls *c)
{
    pthread_mutex_init(&c->lock, NULL);
    c->refs = NULL;
}

void starter_calls_destroy(starter_calls *c)
{
    for (starter_call_ref *r; (r = c->refs);) {
        c->refs = r->next;
        keel_router_ref_release(r->ref);
        free(r->scene);
        free(r->name);
        free(r);
    }
    pthread_mutex_destroy(&c->lock);
}

static void host_log(const keel_starter_host *host, keel_log_level level, const char *fmt, ...)
{
    char tag[96];
    snprintf(tag, sizeof tag, "starter %s@%s", host->name, host->version);
    va_list ap;
    va_start(ap, fmt);
    keel_logv(level, tag, fmt, ap);
    va_end(ap);
}

/* The router reference for (scene, name), resolved once: references are
 * cheap to keep and follow every switch. */
static keel_router_ref *call_ref(keel_starter_set *s, const char *scene, const char *name,
                                 keel_error *err)
{
    starter_calls *c = &s->calls;
    pthread_mutex_lock(&c->lock);
    starter_call_ref *r;
    for (r = c->refs; r; r = r->next)
        if (strcmp(r->scene, scene) == 0 && strcmp(r->name, name) == 0)
            break;
    if (!r) {
        keel_router_ref *ref = NULL;
        if (keel_router_resolve(s->router, NULL, scene, name, &ref, err) == KEEL_OK) {
            r = calloc(1, sizeof *r);
            if (r && (r->scene = strdup(scene)) && (r->name = strdup(name))) {
                r->ref = ref;
                r->next = c->refs;
                c->refs = r;
            } else {
                if (r) {
                    free(r->scene);
                    free(r);
                }
                r = NULL;
                keel_router_ref_release(ref);
                keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return r ? r->ref : NULL;
}

static keel_status host_call_json(const keel_starter_host *host, const char *scene, const char *name,
                                  const char *args_json, char **result_json, keel_starter_error *serr)
{
    running_starter *rs = (running_starter *)host;
    *result_json = NULL;
    keel_error err = {0};
    if (!scene || !name || !args_json) {
        keel_starter_error_set(serr, "call_json needs a scene, a service name and arguments");
        return KEEL_ERR_INVALID;
    }
    keel_router_ref *ref = call_ref(rs->set, scene, name, &err);
    keel_status st = ref ? keel_router_call_json(ref, NULL, args_json, strlen(args_json), result_json,
                                                 &err)
                         : err.status;
    if (st != KEEL_OK)
        keel_starter_error_set(serr, "%s", err.message);
    return st;
}

static keel_starter_module_status host_module_status(const keel_starter_host *host,
                                                     const char *module)
{
    running_starter *rs = (running_starter *)host;
    keel_starter_set *s = rs->set;
    if (s->module_status)
        return s->module_status(s->user, module);
    return KEEL_STARTER_MODULE_SERVING;
}

void starter_host_init(running_starter *r)
{
    r->host = (keel_starter_host){
        .abi_version = KEEL_STARTER_ABI_VERSION,
        .size = sizeof(keel_starter_host),
        .name = r->name,
        .version = starter_gate_current(&r->gate)->def->version,
        .work_dir = r->work_dir,
        .log = host_log,
        .call_json = host_call_json,
        .module_status = host_module_status,
    };
}

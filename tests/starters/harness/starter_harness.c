/* starter_harness.c — see starter_harness.h. */
#include "starter_harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct starter_harness {
    keel_starter_host host;   /* first: host pointers map back to the harness */
    void *so;
    const keel_starter_def *def;
    void *state;
    starter_harness_call_fn call;
    starter_harness_status_fn status;
    void *user;
    char *work_dir;
    atomic_uint logs[4];
};

static void harness_log(const keel_starter_host *host, keel_log_level level, const char *fmt, ...)
{
    starter_harness *h = (starter_harness *)host;
    if ((unsigned)level < 4)
        atomic_fetch_add(&h->logs[level], 1);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[starter %s %s] ", host->name, level >= KEEL_LOG_WARN ? "warn" : "info");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static keel_status harness_call_json(const keel_starter_host *host, const char *scene,
                                     const char *name, const char *args_json,
                                     char **result_json, keel_starter_error *err)
{
    starter_harness *h = (starter_harness *)host;
    *result_json = NULL;
    if (!h->call) {
        keel_starter_error_set(err, "service '%s' in scene '%s' not found", name, scene);
        return KEEL_ERR_NOT_FOUND;
    }
    return h->call(h->user, scene, name, args_json, result_json, err);
}

static keel_starter_module_status harness_module_status(const keel_starter_host *host,
                                                        const char *module)
{
    starter_harness *h = (starter_harness *)host;
    return h->status ? h->status(h->user, module) : KEEL_STARTER_MODULE_SERVING;
}

static keel_status harness_load(const char *so_path, void **so, const keel_starter_def **def,
                                keel_starter_error *err)
{
    *so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!*so) {
        keel_starter_error_set(err, "dlopen %s: %s", so_path, dlerror());
        return KEEL_ERR_LOAD;
    }
    keel_starter_entry_fn entry = (keel_starter_entry_fn)dlsym(*so, KEEL_STARTER_ENTRY_SYMBOL);
    *def = entry ? entry() : NULL;
    if (!*def || (*def)->abi_version != KEEL_STARTER_ABI_VERSION || !(*def)->create) {
        keel_starter_error_set(err, "%s: no valid %s", so_path, KEEL_STARTER_ENTRY_SYMBOL);
        dlclose(*so);
        *so = NULL;
        return KEEL_ERR_LOAD;
    }
    return KEEL_OK;
}

keel_status starter_harness_open(const char *so_path, const char *work_dir,
                                 const char *config_json, starter_harness_call_fn call,
                                 starter_harness_status_fn status, void *user,
                                 starter_harness **out, keel_starter_error *err)
{
    *out = NULL;
    starter_harness *h = calloc(1, sizeof *h);
    if (!h)
        return KEEL_ERR_NOMEM;
    keel_status st = harness_load(so_path, &h->so, &h->def, err);
    if (st != KEEL_OK) {
        free(h);
        return st;
    }
    if (mkdir(work_dir, 0755) != 0 && errno != EEXIST) {
        keel_starter_error_set(err, "mkdir %s: %s", work_dir, strerror(errno));
        dlclose(h->so);
        free(h);
        return KEEL_ERR_IO;
    }
    h->work_dir = strdup(work_dir);
    h->call = call;
    h->status = status;
    h->user = user;
    h->host = (keel_starter_host){
        .abi_version = KEEL_STARTER_ABI_VERSION,
        .size = sizeof(keel_starter_host),
        .name = h->def->name,
        .version = h->def->version,
        .work_dir = h->work_dir,
        .log = harness_log,
        .call_json = harness_call_json,
        .module_status = harness_module_status,
    };
    st = h->def->create(&h->host, config_json ? config_json : "{}", &h->state, err);
    if (st == KEEL_OK && h->def->resume) {
        st = h->def->resume(h->state, &h->host, err);
        if (st != KEEL_OK)
            h->def->destroy(h->state);
    }
    if (st != KEEL_OK) {
        dlclose(h->so);
        free(h->work_dir);
        free(h);
        return st;
    }
    *out = h;
    return KEEL_OK;
}

const keel_starter_def *starter_harness_def(const starter_harness *h) { return h->def; }
const void *starter_harness_table(const starter_harness *h) { return h->def->table; }

keel_status starter_harness_bind(starter_harness *h, const char *module, const char *scene,
                                 void **client, keel_starter_error *err)
{
    char instance[256];
    snprintf(instance, sizeof instance, "%s@1.0.0", module);
    const char *sc = scene ? scene : "default";
    const char *scenes[] = {sc, NULL};
    keel_starter_binding who = {module, "1.0.0", instance, sc, scenes};
    return h->def->bind(h->state, &who, client, err);
}

void starter_harness_unbind(starter_harness *h, void *client)
{
    h->def->unbind(h->state, client);
}

keel_status starter_harness_admin(starter_harness *h, const char *op, const char *args_json,
                                  char **result_json, keel_starter_error *err)
{
    *result_json = NULL;
    if (!h->def->admin) {
        keel_starter_error_set(err, "starter %s has no admin commands", h->def->name);
        return KEEL_ERR_NOT_FOUND;
    }
    return h->def->admin(h->state, op, args_json, result_json, err);
}

keel_status starter_harness_upgrade(starter_harness *h, const char *so_path,
                                    keel_starter_error *err)
{
    void *so;
    const keel_starter_def *def;
    keel_status st = harness_load(so_path, &so, &def, err);
    if (st != KEEL_OK)
        return st;
    if (strcmp(def->name, h->def->name) != 0 || def->state_format != h->def->state_format) {
        keel_starter_error_set(err, "%s: not a compatible upgrade of %s %s", so_path,
                               h->def->name, h->def->version);
        dlclose(so);
        return KEEL_ERR_INVALID;
    }
    if (h->def->suspend)
        h->def->suspend(h->state);
    h->host.version = def->version;
    if (def->resume && (st = def->resume(h->state, &h->host, err)) != KEEL_OK) {
        h->host.version = h->def->version;
        keel_starter_error rerr;
        if (h->def->resume)
            h->def->resume(h->state, &h->host, &rerr);
        dlclose(so);
        return st;
    }
    h->host.name = def->name;
    dlclose(h->so);
    h->so = so;
    h->def = def;
    return KEEL_OK;
}

void starter_harness_close(starter_harness *h)
{
    if (!h)
        return;
    if (h->def->suspend)
        h->def->suspend(h->state);
    h->def->destroy(h->state);
    dlclose(h->so);
    free(h->work_dir);
    free(h);
}

unsigned starter_harness_log_count(const starter_harness *h, keel_log_level level)
{
    unsigned n = 0;
    for (unsigned i = (unsigned)level; i < 4; i++)
        n += atomic_load(&((starter_harness *)h)->logs[i]);
    return n;
}

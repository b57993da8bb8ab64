/*
 * The loader: bundle -> verified files -> inspected objects -> a module
 * loaded in a namespace group -> started; and back again on uninstall, with
 * the unload verified.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <keel/digest.h>
#include <keel/elf_inspect.h>
#include <keel/log.h>
#include "loader_internal.h"
#include "mapping_check.h"

#ifndef KEEL_SHIM_BUILD_PATH
#define KEEL_SHIM_BUILD_PATH ""
#endif
#ifndef KEEL_SHIM_INSTALL_PATH
#define KEEL_SHIM_INSTALL_PATH ""
#endif

#define KEEL_MAX_NAMESPACES 15

static const char *default_shim_path(void)
{
    const char *env = getenv("KEEL_LIBC_SHIM");
    if (env != NULL && env[0] != '\0')
        return env;
    if (KEEL_SHIM_INSTALL_PATH[0] && access(KEEL_SHIM_INSTALL_PATH, R_OK) == 0)
        return KEEL_SHIM_INSTALL_PATH;
    return KEEL_SHIM_BUILD_PATH;
}

static keel_status make_dir(const char *path, keel_error *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return keel_error_set(err, KEEL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    return KEEL_OK;
}

keel_status keel_loader_create(const keel_loader_options *opts, keel_loader **out, keel_error *err)
{
    *out = NULL;
    if (opts == NULL || opts->work_dir == NULL || opts->work_dir[0] == '\0')
        return keel_error_set(err, KEEL_ERR_INVALID, "the loader needs a work directory");
    keel_loader *l = calloc(1, sizeof *l);
    if (l == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the loader");
    pthread_mutex_init(&l->lock, NULL);
    l->opts = *opts;
    /* Directories of a previous run (a crash leaves them) must never be
     * reused: a name unique to this loader keeps them apart. */
    if (getrandom(&l->nonce, sizeof l->nonce, 0) != sizeof l->nonce)
        l->nonce = (unsigned)getpid() ^ (unsigned)time(NULL);
    if (l->opts.max_namespaces == 0 || l->opts.max_namespaces > KEEL_MAX_NAMESPACES)
        l->opts.max_namespaces = KEEL_MAX_NAMESPACES;
    if (l->opts.task_threads == 0)
        l->opts.task_threads = 2;
    if (l->opts.stop_timeout_ms == 0)
        l->opts.stop_timeout_ms = 5000;
    if (l->opts.drain_timeout_ms == 0)
        l->opts.drain_timeout_ms = 5000;
    if (l->opts.max_versions == 0)
        l->opts.max_versions = 2;
    char *store = NULL;
    keel_status st = KEEL_ERR_NOMEM;
    if ((l->work_dir = strdup(opts->work_dir)) == NULL ||
        asprintf(&l->instances_dir, "%s/instances", opts->work_dir) < 0 ||
        asprintf(&store, "%s/libs", opts->work_dir) < 0) {
        l->instances_dir = NULL;
        keel_error_set(err, st, "out of memory creating the loader");
        goto fail;
    }
    if ((st = make_dir(l->work_dir, err)) != KEEL_OK || (st = make_dir(l->instances_dir, err)) != KEEL_OK)
        goto fail;
    const char *shim_path = opts->shim_path ? opts->shim_path : default_shim_path();
    if ((st = keel_shim_create(shim_path, &l->shim, err)) != KEEL_OK)
        goto fail;
    if ((st = keel_ns_manager_create(l->shim, store, l->opts.max_namespaces, &l->namespaces, err)) != KEEL_OK)
        goto fail;
    if ((st = keel_task_pool_create(l->opts.task_threads, &l->tasks, err)) != KEEL_OK)
        goto fail;
    if ((st = keel_router_create(&l->opts.router, &l->router, err)) != KEEL_OK)
        goto fail;
    free(store);
    if (keel_shim_unresolved_count(l->shim) > 0)
        keel_log(KEEL_LOG_WARN, NULL, "%zu libc functions could not be resolved for modules",
                 keel_shim_unresolved_count(l->shim));
    *out = l;
    return KEEL_OK;
fail:
    free(store);
    keel_loader_destroy(l);
    return st;
}

void keel_loader_uninstall_all(keel_loader *l)
{
    while (l->instance_count > 0) {
        keel_error err;
        keel_loader_uninstall(l, l->instances[l->instance_count - 1], &err);
    }
}

void keel_loader_set_starters(keel_loader *l, const keel_loader_starters *starters)
{
    pthread_mutex_lock(&l->lock);
    if (starters)
        l->starters = *starters;
    else
        memset(&l->starters, 0, sizeof l->starters);
    pthread_mutex_unlock(&l->lock);
}

void keel_loader_destroy(keel_loader *l)
{
    if (l == NULL)
        return;
    keel_loader_uninstall_all(l);
    keel_router_destroy(l->router);
    keel_task_pool_destroy(l->tasks);
    keel_ns_manager_destroy(l->namespaces);
    keel_shim_destroy(l->shim);
    pthread_mutex_destroy(&l->lock);
    free(l->instances);
    free(l->leaks);
    free(l->work_dir);
    free(l->instances_dir);
    free(l);
}

/* --- inspection ------------------------------------------------------------ */

/* Refuses what could never be unloaded, or loaded. `what` names the object
 * in the message ("module object", "private library libx.so.1"). */
static keel_status inspect_unloadable(const char *bundle, const char *what, const char *path,
                                      keel_elf_info **out, keel_error *err)
{
    keel_status st = keel_elf_inspect(path, out, err);
    if (st != KEEL_OK)
        return keel_error_prefix(err, "bundle %s: %s", bundle, what);
    /* Initial-exec TLS pins static TLS only for an object's own PT_TLS; an
     * object that merely reads libc's errno that way (libm) is fine, since
     * the shim's TLS lives as long as its namespace and keel redirects it. */
    unsigned bad = keel_elf_flags(*out) & (KEEL_ELF_NODELETE | KEEL_ELF_UNIQUE);
    if ((keel_elf_flags(*out) & KEEL_ELF_STATIC_TLS) && keel_elf_has_tls(*out))
        bad |= KEEL_ELF_STATIC_TLS;
    if (bad) {
        char desc[256];
        keel_elf_flags_describe(bad, desc, sizeof desc);
        const char *sym = keel_elf_unique_symbol(*out);
        keel_error_set(err, KEEL_ERR_UNSAFE,
                       "bundle %s: %s %s could never be unloaded (%s%s%s); rebuild it without "
                       "-z nodelete, C++ inline statics or initial-exec TLS",
                       bundle, what, path, desc, sym ? ": " : "", sym ? sym : "");
        keel_elf_info_destroy(*out);
        *out = NULL;
        return KEEL_ERR_UNSAFE;
    }
    return KEEL_OK;
}

/* System libraries a module needs are loaded into its namespace too: refuse
 * the ones known to pin a namespace (libstdc++'s unique symbols). */
static keel_status inspect_system_needed(const char *bundle, const keel_elf_info *info,
                                         const keel_private_lib *libs, size_t lib_count,
                                         keel_error *err)
{
    static const char *dirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                 "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
    for (size_t i = 0; i < keel_elf_needed_count(info); i++) {
        const char *needed = keel_elf_needed(info, i);
        int private_dep = 0;
        for (size_t k = 0; k < lib_count; k++)
            private_dep |= strcmp(libs[k].soname, needed) == 0;
        if (private_dep || strncmp(needed, "libc.so", 7) == 0 || strncmp(needed, "ld-linux", 8) == 0)
            continue;
        for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[d], needed);
            if (access(path, R_OK) != 0)
                continue;
            keel_elf_info *sys = NULL;
            char what[300];
            snprintf(what, sizeof what, "system library %s needed by the module", needed);
            keel_status st = inspect_unloadable(bundle, what, path, &sys, err);
            keel_elf_info_destroy(sys);
            if (st == KEEL_ERR_UNSAFE)
                return st;
            break;
        }
    }
    return KEEL_OK;
}

static int path_is_regular(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int lib_by_path(const void *a, const void *b)
{
    return strcmp(((const keel_private_lib *)a)->path, ((const keel_private_lib *)b)->path);
}

static keel_status collect_private_libs(keel_instance *inst, const char *bundle, keel_error *err)
{
    const char *rel = keel_manifest_libraries(inst->manifest);
    if (rel == NULL)
        return KEEL_OK;
    char *dir_path = NULL;
    if (asprintf(&dir_path, "%s/%s", inst->dir, rel) < 0)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    DIR *dir = opendir(dir_path);
    if (dir == NULL) {
        keel_error_set(err, KEEL_ERR_BUNDLE, "bundle %s: manifest field \"libraries\": %s is not a directory",
                       bundle, rel);
        free(dir_path);
        return KEEL_ERR_BUNDLE;
    }
    keel_status st = KEEL_OK;
    struct dirent *de;
    while (st == KEEL_OK && (de = readdir(dir)) != NULL) {
        char *path = NULL;
        if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir_path, de->d_name) < 0)
            continue;
        if (!path_is_regular(path) || strstr(de->d_name, ".so") == NULL) {
            free(path);
            continue;
        }
        keel_private_lib *grown = realloc(inst->libs, (inst->lib_count + 1) * sizeof *grown);
        if (grown == NULL) {
            free(path);
            st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
            break;
        }
        inst->libs = grown;
        keel_private_lib *lib = &inst->libs[inst->lib_count++];
        memset(lib, 0, sizeof *lib);
        lib->path = path;
        char what[300];
        snprintf(what, sizeof what, "private library %s", de->d_name);
        keel_elf_info *info = NULL;
        st = inspect_unloadable(bundle, what, path, &info, err);
        if (st == KEEL_OK)
            st = keel_sha256_file(path, lib->digest) == 0
                     ? KEEL_OK
                     : keel_error_set(err, KEEL_ERR_IO, "bundle %s: %s: cannot compute its SHA-256: %s",
                                      bundle, path, strerror(errno));
        if (st == KEEL_OK) {
            const char *soname = keel_elf_soname(info);
            lib->soname = strdup(soname ? soname : de->d_name);
            lib->needed_count = keel_elf_needed_count(info);
            lib->needed = calloc(lib->needed_count + 1, sizeof *lib->needed);
            for (size_t i = 0; lib->needed && i < lib->needed_count; i++)
                lib->needed[i] = strdup(keel_elf_needed(info, i));
            if (lib->soname == NULL || lib->needed == NULL)
                st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        }
        keel_elf_info_destroy(info);
    }
    closedir(dir);
    free(dir_path);
    /* readdir's order depends on the file system: sort, so that loading
     * and unloading behave the same everywhere. */
    if (st == KEEL_OK && inst->lib_count > 1)
        qsort(inst->libs, inst->lib_count, sizeof *inst->libs, lib_by_path);
    return st;
}

/* --- install ------------------------------------------------------------------ */

static keel_instance *instance_new(keel_loader *l)
{
    keel_instance *inst = calloc(1, sizeof *inst);
    if (inst == NULL)
        return NULL;
    inst->memory = calloc(1, sizeof *inst->memory);
    if (inst->memory == NULL) {
        free(inst);
        return NULL;
    }
    atomic_init(&inst->memory->refs, 1);
    inst->loader = l;
    inst->ctx.instance = inst;
    pthread_mutex_init(&inst->lock, NULL);
    keel_task_group_init(&inst->tasks);
    return inst;
}

static keel_instance *find_locked(keel_loader *l, const char *name, const char *version)
{
    for (size_t i = 0; i < l->instance_count; i++)
        if (strcmp(l->instances[i]->name, name) == 0 &&
            (version == NULL || strcmp(l->instances[i]->version, version) == 0))
            return l->instances[i];
    return NULL;
}

static keel_status install_checks(keel_loader *l, const keel_manifest *m, const char *bundle,
                                  keel_error *err)
{
    if (keel_manifest_api(m) > KEEL_API_VERSION)
        return keel_error_set(err, KEEL_ERR_API,
                              "bundle %s: %s %s needs module-api %d, this base serves up to %d; "
                              "upgrade the base or rebuild the module against api %d",
                              bundle, keel_manifest_name(m), keel_manifest_version(m),
                              keel_manifest_api(m), KEEL_API_VERSION, KEEL_API_VERSION);
    size_t loaded = 0;
    for (size_t i = 0; i < l->instance_count; i++)
        loaded += strcmp(l->instances[i]->name, keel_manifest_name(m)) == 0;
    if (loaded >= l->opts.max_versions && find_locked(l, keel_manifest_name(m), keel_manifest_version(m)) == NULL)
        return keel_error_set(err, KEEL_ERR_LIMIT,
                              "bundle %s: %s already has %zu versions loaded (the limit is %u); "
                              "uninstall one first", bundle, keel_manifest_name(m), loaded,
                              l->opts.max_versions);
    if (find_locked(l, keel_manifest_name(m), keel_manifest_version(m)) != NULL)
        return keel_error_set(err, KEEL_ERR_EXISTS,
                              "bundle %s: %s@%s is already installed; uninstall it first or bump "
                              "the version", bundle, keel_manifest_name(m), keel_manifest_version(m));
    if (keel_manifest_requirement_count(m) == 0)
        return KEEL_OK;
    if (l->starters.check == NULL) {
        const keel_manifest_requirement *r = keel_manifest_requirement_at(m, 0);
        return keel_error_set(err, KEEL_ERR_NOT_FOUND,
                              "bundle %s: %s@%s requires starters (%s %s%s) but this base runs none",
                              bundle, keel_manifest_name(m), keel_manifest_version(m), r->name,
                              r->range, keel_manifest_requirement_count(m) > 1 ? ", ..." : "");
    }
    keel_status st = l->starters.check(l->starters.user, m, err);
    return st == KEEL_OK ? st : keel_error_prefix(err, "bundle %s", bundle);
}

/* Loads the module object in its group and fetches its definition. */
static keel_status load_module(keel_instance *inst, const char *bundle, const keel_shim_mark *since,
                               keel_error *err)
{
    inst->handle = dlmopen(keel_ns_group_lmid(inst->group), inst->library_path, RTLD_NOW | RTLD_LOCAL);
    if (inst->handle == NULL)
        return keel_error_set(err, KEEL_ERR_LOAD, "bundle %s: the dynamic loader refused %s: %s",
                              bundle, keel_manifest_library(inst->manifest), dlerror());
    if (keel_shim_ns_patch(keel_ns_group_shim(inst->group), since, err) < 0)
        return keel_error_prefix(err, "bundle %s", bundle);
    keel_module_entry_fn entry = (keel_module_entry_fn)dlsym(inst->handle, KEEL_MODULE_ENTRY_SYMBOL);
    const keel_module_def *def = entry ? entry() : NULL;
    if (def == NULL)
        return keel_error_set(err, KEEL_ERR_LOAD, "bundle %s: %s returned no module definition",
                              bundle, KEEL_MODULE_ENTRY_SYMBOL);
    if (def->api_version > KEEL_API_VERSION)
        return keel_error_set(err, KEEL_ERR_API,
                              "bundle %s: the module object was built for module-api %u, this base "
                              "serves up to %d; upgrade the base", bundle, def->api_version, KEEL_API_VERSION);
    if (def->api_version == 0 || def->size < offsetof(keel_module_def, stop) + sizeof def->stop ||
        def->start == NULL)
        return keel_error_set(err, KEEL_ERR_LOAD,
                              "bundle %s: the module definition is malformed (api %u, size %u, %s)",
                              bundle, def->api_version, def->size, def->start ? "start set" : "no start hook");
    if (def->name == NULL || strcmp(def->name, inst->name) != 0)
        return keel_error_set(err, KEEL_ERR_MANIFEST,
                              "bundle %s: the module object calls itself \"%s\" but the manifest "
                              "field \"name\" says \"%s\"", bundle, def->name ? def->name : "(null)", inst->name);
    inst->def = def;
    return KEEL_OK;
}

/* Registers the instance with the router (not routed yet) with its scenes
 * and cross-scene permissions, and publishes the manifest's services that
 * name an exported symbol. */
static keel_status route_instance(keel_loader *l, keel_instance *inst, const char *bundle,
                                  keel_error *err)
{
    const keel_manifest *m = inst->manifest;
    size_t scene_count = keel_manifest_scene_count(m), grant_count = keel_manifest_call_count(m);
    const char **scenes = calloc(scene_count + 1, sizeof *scenes);
    keel_scene_grant *grants = calloc(grant_count + 1, sizeof *grants);
    keel_status st = KEEL_OK;
    if (scenes == NULL || grants == NULL) {
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < scene_count; i++)
        scenes[i] = keel_manifest_scene(m, i);
    for (size_t i = 0; i < grant_count; i++) {
        const keel_manifest_call *c = keel_manifest_call_at(m, i);
        grants[i] = (keel_scene_grant){c->scene, c->service, c->topic};
    }
    keel_router_identity id = {inst->name, inst->version, scenes, scene_count, grants, grant_count};
    if ((st = keel_router_version_add(l->router, &id, &inst->ctx, &inst->route, err)) != KEEL_OK)
        goto out;
    for (size_t i = 0; i < keel_manifest_service_count(m) && st == KEEL_OK; i++) {
        const keel_manifest_service *svc = keel_manifest_service_at(m, i);
        if (svc->symbol == NULL)
            continue; /* registered by the start hook; properties added after it */
        keel_fn fn = (keel_fn)dlsym(inst->handle, svc->symbol);
        if (fn == NULL)
            st = keel_error_set(err, KEEL_ERR_MANIFEST,
                                "bundle %s: manifest field \"services[%zu].symbol\": %s does not export "
                                "\"%s\" (give it default visibility)", bundle, i,
                                keel_manifest_library(m), svc->symbol);
        else
            st = keel_instance_register_service(inst, svc->scene, svc->name, svc->signature, fn, err);
    }
out:
    free(scenes);
    free(grants);
    return st;
}

static keel_status add_instance(keel_loader *l, keel_instance *inst)
{
    if (l->instance_count == l->instance_cap) {
        size_t cap = l->instance_cap ? l->instance_cap * 2 : 16;
        keel_instance **grown = realloc(l->instances, cap * sizeof *grown);
        if (grown == NULL)
            return KEEL_ERR_NOMEM;
        l->instances = grown;
        l->instance_cap = cap;
    }
    l->instances[l->instance_count++] = inst;
    return KEEL_OK;
}

/* Undoes a failed install: unload, detach, remove the files. */
static void install_rollback(keel_loader *l, keel_instance *inst)
{
    keel_instance_unload(l, inst);
    keel_instance_free(inst);
}

/* Extracts the bundle into a fresh directory named after what it holds.
 * Runs without the loader lock: extraction is the slow part of an install.
 * A fresh directory per install means a path that may still be mapped is
 * never reopened and a mapped file is never overwritten. */
static keel_status install_extract(keel_loader *l, keel_instance *inst, const char *path,
                                   keel_error *err)
{
    unsigned long seq = atomic_fetch_add(&l->sequence, 1) + 1;
    char *incoming = NULL;
    if (asprintf(&incoming, "%s/.incoming-%08x-%lu", l->instances_dir, l->nonce, seq) < 0)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_status st = keel_bundle_extract(path, incoming, &l->opts.limits, &inst->manifest, err);
    if (st != KEEL_OK) {
        free(incoming);
        return st;
    }
    const keel_manifest *m = inst->manifest;
    if ((inst->name = strdup(keel_manifest_name(m))) == NULL ||
        (inst->version = strdup(keel_manifest_version(m))) == NULL ||
        asprintf(&inst->id, "%s@%s", inst->name, inst->version) < 0 ||
        asprintf(&inst->dir, "%s/%s-%08x-%lu", l->instances_dir, inst->id, l->nonce, seq) < 0) {
        inst->id = inst->dir = NULL;
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    } else if (rename(incoming, inst->dir) != 0) {
        st = keel_error_set(err, KEEL_ERR_IO, "bundle %s: cannot move it into place at %s: %s", path,
                            inst->dir, strerror(errno));
        free(inst->dir);
        inst->dir = NULL;
    }
    if (st != KEEL_OK)
        keel_remove_tree(incoming);
    free(incoming);
    return st;
}

keel_status keel_loader_install(keel_loader *l, const char *path, keel_instance **out, keel_error *err)
{
    *out = NULL;
    keel_instance *inst = instance_new(l);
    if (inst == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_status st = install_extract(l, inst, path, err);
    if (st != KEEL_OK) {
        keel_instance_free(inst);
        return st;
    }
    pthread_mutex_lock(&l->lock);
    if ((st = install_checks(l, inst->manifest, path, err)) != KEEL_OK)
        goto fail_instance;
    if (asprintf(&inst->library_path, "%s/%s", inst->dir, keel_manifest_library(inst->manifest)) < 0) {
        inst->library_path = NULL;
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        goto fail_instance;
    }
    keel_elf_info *info = NULL;
    if ((st = inspect_unloadable(path, "module object", inst->library_path, &info, err)) != KEEL_OK)
        goto fail_instance;
    if (!keel_elf_defines(info, KEEL_MODULE_ENTRY_SYMBOL)) {
        keel_elf_info_destroy(info);
        st = keel_error_set(err, KEEL_ERR_LOAD,
                            "bundle %s: %s does not export %s (declare the module with KEEL_MODULE)",
                            path, keel_manifest_library(inst->manifest), KEEL_MODULE_ENTRY_SYMBOL);
        goto fail_instance;
    }
    st = collect_private_libs(inst, path, err);
    if (st == KEEL_OK)
        st = inspect_system_needed(path, info, inst->libs, inst->lib_count, err);
    keel_elf_info_destroy(info);
    if (st != KEEL_OK)
        goto fail_instance;
    int exclusive = keel_manifest_isolation(inst->manifest) == KEEL_ISOLATION_EXCLUSIVE;
    keel_ns_group *group = NULL;
    st = keel_ns_manager_place(l->namespaces, inst->name, exclusive, inst->libs, inst->lib_count, &group, err);
    /* What the namespace holds before this install was patched when it
     * was loaded: patch only what the libraries and the module bring. */
    keel_shim_mark *mark = st == KEEL_OK ? keel_shim_ns_mark(keel_ns_group_shim(group)) : NULL;
    if (st == KEEL_OK)
        st = keel_ns_group_attach(group, inst->name, exclusive, inst->libs, inst->lib_count, err);
    if (st != KEEL_OK) {
        keel_shim_mark_free(mark);
        keel_error_prefix(err, "bundle %s", path);
        goto fail_instance;
    }
    inst->group = group;
    st = load_module(inst, path, mark, err);
    keel_shim_mark_free(mark);
    if (st != KEEL_OK)
        goto fail_instance;
    if ((st = route_instance(l, inst, path, err)) != KEEL_OK)
        goto fail_instance;
    if (add_instance(l, inst) != KEEL_OK) {
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        goto fail_instance;
    }
    keel_instance_record(inst, KEEL_STATE_INSTALLED, "from %s into namespace %d", path,
                         keel_ns_group_index(group));
    *out = inst;
    pthread_mutex_unlock(&l->lock);
    return KEEL_OK;

fail_instance:
    install_rollback(l, inst);
    pthread_mutex_unlock(&l->lock);
    return st;
}

#include "namespace_group.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapping_check.h"

typedef struct group_lib {
    char *soname;
    char digest[KEEL_SHA256_HEX + 1];
    char *store_path;
    void *handle;
    unsigned refs;
} group_lib;

typedef struct group_module {
    char *name;
    unsigned count;     /* versions of it in the group */
} group_module;

struct keel_ns_group {
    keel_ns_manager *manager;
    int index;
    keel_shim_ns *shim_ns;
    int exclusive;
    int tainted;        /* holds objects already reported as leaked */
    unsigned module_total;
    group_module *modules;
    size_t module_count;
    group_lib *libs;
    size_t lib_count;
};

struct keel_ns_manager {
    keel_shim *shim;
    char *store_dir;
    unsigned max_groups;
    keel_ns_group **groups;
    size_t group_count;
};

void keel_private_lib_free(keel_private_lib *lib)
{
    if (lib == NULL)
        return;
    free(lib->soname);
    free(lib->path);
    for (size_t i = 0; i < lib->needed_count; i++)
        free(lib->needed[i]);
    free(lib->needed);
}

keel_status keel_ns_manager_create(keel_shim *shim, const char *store_dir, unsigned max_groups,
                                   keel_ns_manager **out, keel_error *err)
{
    *out = NULL;
    if (mkdir(store_dir, 0700) != 0 && errno != EEXIST)
        return keel_error_set(err, KEEL_ERR_IO, "cannot create library store %s: %s", store_dir,
                              strerror(errno));
    keel_ns_manager *m = calloc(1, sizeof *m);
    if (m == NULL || (m->store_dir = strdup(store_dir)) == NULL ||
        (m->groups = calloc(max_groups, sizeof *m->groups)) == NULL) {
        if (m != NULL)
            free(m->store_dir);
        free(m);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating namespace groups");
    }
    m->shim = shim;
    m->max_groups = max_groups;
    *out = m;
    return KEEL_OK;
}

void keel_ns_manager_destroy(keel_ns_manager *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->group_count; i++) {
        keel_ns_group *g = m->groups[i];
        keel_shim_ns_close(g->shim_ns);
        for (size_t k = 0; k < g->module_count; k++)
            free(g->modules[k].name);
        free(g->modules);
        for (size_t k = 0; k < g->lib_count; k++) {
            free(g->libs[k].soname);
            free(g->libs[k].store_path);
        }
        free(g->libs);
        free(g);
    }
    free(m->groups);
    free(m->store_dir);
    free(m);
}

size_t keel_ns_manager_count(const keel_ns_manager *m)
{
    return m->group_count;
}

static const group_lib *group_find_lib(const keel_ns_group *g, const char *soname)
{
    for (size_t i = 0; i < g->lib_count; i++)
        if (strcmp(g->libs[i].soname, soname) == 0)
            return &g->libs[i];
    return NULL;
}

static int group_holds_module(const keel_ns_group *g, const char *name)
{
    for (size_t i = 0; i < g->module_count; i++)
        if (strcmp(g->modules[i].name, name) == 0 && g->modules[i].count > 0)
            return 1;
    return 0;
}

/* The first library of `libs` that the group holds with other content. */
static const keel_private_lib *group_conflict(const keel_ns_group *g, const keel_private_lib *libs,
                                              size_t lib_count)
{
    for (size_t i = 0; i < lib_count; i++) {
        const group_lib *held = group_find_lib(g, libs[i].soname);
        if (held != NULL && strcmp(held->digest, libs[i].digest) != 0)
            return &libs[i];
    }
    return NULL;
}

static int group_fits(const keel_ns_group *g, int exclusive, const keel_private_lib *libs,
                      size_t lib_count)
{
    if (g->module_total == 0)
        return 1;
    if (exclusive || g->exclusive)
        return 0;
    return group_conflict(g, libs, lib_count) == NULL;
}

static keel_status manager_open_group(keel_ns_manager *m, keel_ns_group **out, keel_error *err)
{
    keel_ns_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory opening a namespace group");
    keel_status st = keel_shim_ns_open(m->shim, &g->shim_ns, err);
    if (st != KEEL_OK) {
        free(g);
        return st;
    }
    g->manager = m;
    g->index = (int)m->group_count;
    m->groups[m->group_count++] = g;
    *out = g;
    return KEEL_OK;
}

keel_status keel_ns_manager_place(keel_ns_manager *m, const char *module_name, int exclusive,
                                  const keel_private_lib *libs, size_t lib_count,
                                  keel_ns_group **out, keel_error *err)
{
    keel_ns_group *fallback = NULL;
    for (size_t i = 0; i < m->group_count; i++) {
        keel_ns_group *g = m->groups[i];
        if (!group_fits(g, exclusive, libs, lib_count))
            continue;
        if (!group_holds_module(g, module_name)) {
            *out = g;
            return KEEL_OK;
        }
        if (fallback == NULL)
            fallback = g;
    }
    if (m->group_count < m->max_groups)
        return manager_open_group(m, out, err);
    if (fallback != NULL) {
        *out = fallback;
        return KEEL_OK;
    }
    const keel_private_lib *c = NULL;
    for (size_t i = 0; i < m->group_count && c == NULL; i++)
        c = group_conflict(m->groups[i], libs, lib_count);
    return keel_error_set(err, KEEL_ERR_LIMIT,
                          "no namespace group can host %s: all %u namespaces are in use and %s "
                          "(uninstall a module or use fewer exclusive modules)",
                          module_name, m->max_groups,
                          exclusive ? "none is empty (isolation \"exclusive\")"
                          : c ? "its private library conflicts with every group's"
                              : "every group is exclusive");
}

/* Hard-links (or copies) a library into the store under its digest. */
static keel_status store_put(const keel_ns_manager *m, const keel_private_lib *lib, char **out,
                             keel_error *err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s-%s", m->store_dir, lib->digest, lib->soname) < 0)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    if (access(path, F_OK) == 0 || link(lib->path, path) == 0) {
        *out = path;
        return KEEL_OK;
    }
    int in = open(lib->path, O_RDONLY | O_CLOEXEC);
    int outfd = in < 0 ? -1 : open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    char buf[65536];
    ssize_t n = 0;
    while (outfd >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(outfd, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    int ok = in >= 0 && outfd >= 0 && n == 0;
    if (in >= 0)
        close(in);
    if (outfd >= 0 && close(outfd) != 0)
        ok = 0;
    if (!ok) {
        int saved = errno;
        unlink(path);
        free(path);
        return keel_error_set(err, KEEL_ERR_IO, "cannot store private library %s: %s", lib->path,
                              strerror(saved));
    }
    *out = path;
    return KEEL_OK;
}

static int lib_is_private_dep(const keel_private_lib *libs, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(libs[i].soname, name) == 0)
            return 1;
    return 0;
}

static int lib_ready(const keel_ns_group *g, const keel_private_lib *libs, size_t count,
                     const keel_private_lib *lib)
{
    for (size_t k = 0; k < lib->needed_count; k++)
        if (lib_is_private_dep(libs, count, lib->needed[k]) && group_find_lib(g, lib->needed[k]) == NULL)
            return 0;
    return 1;
}

static keel_status group_add_lib(keel_ns_group *g, const keel_private_lib *lib, keel_error *err)
{
    group_lib *held = (group_lib *)group_find_lib(g, lib->soname);
    if (held != NULL) {
        held->refs++;
        return KEEL_OK;
    }
    group_lib *grown = realloc(g->libs, (g->lib_count + 1) * sizeof *grown);
    if (grown == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    g->libs = grown;
    group_lib entry = {0};
    keel_status st = store_put(g->manager, lib, &entry.store_path, err);
    if (st != KEEL_OK)
        return st;
    entry.handle = dlmopen(keel_shim_ns_lmid(g->shim_ns), entry.store_path, RTLD_NOW | RTLD_LOCAL);
    if (entry.handle == NULL) {
        keel_error_set(err, KEEL_ERR_LOAD, "cannot load private library %s: %s", lib->soname,
                       dlerror());
        unlink(entry.store_path);
        free(entry.store_path);
        return KEEL_ERR_LOAD;
    }
    entry.soname = strdup(lib->soname);
    memcpy(entry.digest, lib->digest, sizeof entry.digest);
    entry.refs = 1;
    g->libs[g->lib_count++] = entry;
    return KEEL_OK;
}

/* Drops one reference; unloads and checks the library when it was the last.
 * Appends to *leak what stayed mapped. */
static void group_drop_lib(keel_ns_group *g, const char *soname, char **leak)
{
    for (size_t i = 0; i < g->lib_count; i++) {
        group_lib *l = &g->libs[i];
        if (strcmp(l->soname, soname) != 0)
            continue;
        if (--l->refs > 0)
            return;
        dlclose(l->handle);
        if (keel_path_is_mapped(l->store_path))
            keel_leak_append(leak, "private library %s stays mapped (%s)", l->soname, l->store_path);
        else
            unlink(l->store_path);
        free(l->soname);
        free(l->store_path);
        g->libs[i] = g->libs[--g->lib_count];
        return;
    }
}

static keel_status group_add_module(keel_ns_group *g, const char *name, int exclusive)
{
    for (size_t i = 0; i < g->module_count; i++)
        if (strcmp(g->modules[i].name, name) == 0) {
            g->modules[i].count++;
            goto counted;
        }
    group_module *grown = realloc(g->modules, (g->module_count + 1) * sizeof *grown);
    if (grown == NULL)
        return KEEL_ERR_NOMEM;
    g->modules = grown;
    if ((g->modules[g->module_count].name = strdup(name)) == NULL)
        return KEEL_ERR_NOMEM;
    g->modules[g->module_count++].count = 1;
counted:
    if (g->module_total++ == 0)
        g->exclusive = exclusive;
    return KEEL_OK;
}

keel_status keel_ns_group_attach(keel_ns_group *g, const char *module_name, int exclusive,
                                 keel_private_lib *libs, size_t lib_count, keel_error *err)
{
    char *loaded = calloc(lib_count + 1, 1);
    size_t *order = calloc(lib_count + 1, sizeof *order);
    if (loaded == NULL || order == NULL) {
        free(loaded);
        free(order);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    size_t done = 0;
    keel_status st = KEEL_OK;
    while (done < lib_count && st == KEEL_OK) {
        size_t progress = done;
        for (size_t i = 0; i < lib_count && st == KEEL_OK; i++) {
            if (loaded[i] || !lib_ready(g, libs, lib_count, &libs[i]))
                continue;
            st = group_add_lib(g, &libs[i], err);
            if (st == KEEL_OK) {
                loaded[i] = 1;
                order[done++] = i;
            }
        }
        if (st == KEEL_OK && done == progress)
            st = keel_error_set(err, KEEL_ERR_LOAD,
                                "private libraries of %s depend on each other in a cycle",
                                module_name);
    }
    if (st == KEEL_OK && group_add_module(g, module_name, exclusive) != KEEL_OK)
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    if (st != KEEL_OK) {
        char *leak = NULL;
        for (size_t k = done; k-- > 0;)
            group_drop_lib(g, libs[order[k]].soname, &leak);
        free(leak);
    } else if (lib_count > 1) {
        /* Keep the load order: detach walks it backwards, so a library is
         * unloaded (and checked) only after the ones that need it. */
        keel_private_lib *sorted = malloc(lib_count * sizeof *sorted);
        if (sorted != NULL) {
            for (size_t k = 0; k < lib_count; k++)
                sorted[k] = libs[order[k]];
            memcpy(libs, sorted, lib_count * sizeof *sorted);
            free(sorted);
        }
    }
    free(loaded);
    free(order);
    return st;
}

void keel_ns_group_taint(keel_ns_group *g)
{
    g->tainted = 1;
}

char *keel_ns_group_detach(keel_ns_group *g, const char *module_name, const keel_private_lib *libs,
                           size_t lib_count)
{
    char *leak = NULL;
    for (size_t i = lib_count; i-- > 0;)
        group_drop_lib(g, libs[i].soname, &leak);
    for (size_t i = 0; i < g->module_count; i++)
        if (strcmp(g->modules[i].name, module_name) == 0 && g->modules[i].count > 0) {
            if (--g->modules[i].count == 0) {
                free(g->modules[i].name);
                g->modules[i] = g->modules[--g->module_count];
            }
            g->module_total--;
            break;
        }
    if (g->module_total == 0)
        g->exclusive = 0;
    if (g->module_total == 0 && !g->tainted) {
        char *names = NULL;
        size_t objects = keel_shim_ns_objects(g->shim_ns, &names);
        if (objects > 1)
            keel_leak_append(&leak, "namespace %d is empty of modules but still holds %s", g->index,
                             names ? names : "objects");
        free(names);
    }
    return leak;
}

Lmid_t keel_ns_group_lmid(const keel_ns_group *g)
{
    return keel_shim_ns_lmid(g->shim_ns);
}

int keel_ns_group_index(const keel_ns_group *g)
{
    return g->index;
}

keel_shim_ns *keel_ns_group_shim(keel_ns_group *g)
{
    return g->shim_ns;
}

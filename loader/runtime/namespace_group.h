/*
 * Namespace groups (DESIGN.md, decision 3): glibc has 16 link-map
 * namespaces, so modules share them. A module joins a group when none of
 * its private libraries conflicts (same SONAME, different content) with
 * what the group holds; "exclusive" modules get an empty group. Groups are
 * opened on demand, keep their libc shim, and are reused when empty.
 *
 * Private libraries are loaded from a content-addressed store
 * (work_dir/libs/DIGEST-SONAME) so that two modules with the same library
 * share one mapping and an instance's directory is mapped by nothing but
 * its own module object.
 */
#ifndef KEEL_NAMESPACE_GROUP_H
#define KEEL_NAMESPACE_GROUP_H

#include <dlfcn.h>
#include <stddef.h>
#include <keel/digest.h>
#include <keel/error.h>
#include "libc_shim.h"

typedef struct keel_ns_manager keel_ns_manager;
typedef struct keel_ns_group keel_ns_group;

/* A private library of a module, as found in its bundle. */
typedef struct keel_private_lib {
    char *soname;      /* DT_SONAME, or the file name when it has none */
    char *path;        /* in the instance directory */
    char digest[KEEL_SHA256_HEX + 1];   /* SHA-256, hex */
    char **needed;     /* DT_NEEDED entries */
    size_t needed_count;
} keel_private_lib;

void keel_private_lib_free(keel_private_lib *lib);

/* `shim` and `store_dir` are borrowed (shim must outlive the manager). */
keel_status keel_ns_manager_create(keel_shim *shim, const char *store_dir, unsigned max_groups,
                                   keel_ns_manager **out, keel_error *err);
/* Closes every group. All modules must have been removed. NULL-safe. */
void keel_ns_manager_destroy(keel_ns_manager *m);
size_t keel_ns_manager_count(const keel_ns_manager *m);

/* Picks (or opens) a group for module `module_name` (borrowed). Prefers a
 * group that does not hold another version of the same module. */
keel_status keel_ns_manager_place(keel_ns_manager *m, const char *module_name, int exclusive,
                                  const keel_private_lib *libs, size_t lib_count,
                                  keel_ns_group **out, keel_error *err);

/* Loads the libraries into the group in dependency order, sharing the ones
 * it already holds, and registers the module in the group. On success
 * `libs` is reordered into that load order (dependencies first), which is
 * the reverse of the order keel_ns_group_detach unloads them in. On
 * failure nothing stays loaded or registered. */
keel_status keel_ns_group_attach(keel_ns_group *g, const char *module_name, int exclusive,
                                 keel_private_lib *libs, size_t lib_count, keel_error *err);

/* Drops the module and its library references; libraries no one uses are
 * unloaded and verified. Returns a malloc'd description of what stayed
 * mapped, or NULL when everything went. */
char *keel_ns_group_detach(keel_ns_group *g, const char *module_name,
                           const keel_private_lib *libs, size_t lib_count);

/* Marks the group as holding objects already reported as leaked, so that
 * they are not reported again (against another module) when it empties. */
void keel_ns_group_taint(keel_ns_group *g);

Lmid_t keel_ns_group_lmid(const keel_ns_group *g);
int keel_ns_group_index(const keel_ns_group *g);
keel_shim_ns *keel_ns_group_shim(keel_ns_group *g);

#endif

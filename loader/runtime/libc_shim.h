/*
 * The libc shim at run time (DESIGN.md, decision 2): every module namespace
 * gets a generated libc.so.6 whose functions jump into the base's libc and
 * whose data objects are redirected to the base's, so the whole process has
 * one heap, one stdio, one errno and one environment.
 */
#ifndef KEEL_LIBC_SHIM_H
#define KEEL_LIBC_SHIM_H

#include <dlfcn.h>
#include <keel/error.h>

typedef struct keel_shim keel_shim;
typedef struct keel_shim_ns keel_shim_ns;

/* Resolves every libc symbol the shim forwards, once, in the base.
 * `shim_path` (borrowed) is the generated shim .so. Fails with a clear
 * error when the running libc is not the one the shim was generated from.
 * On KEEL_OK *out is owned by the caller (keel_shim_destroy). */
keel_status keel_shim_create(const char *shim_path, keel_shim **out, keel_error *err);

/* Frees the resolved tables. NULL-safe. Namespaces opened from it must be
 * closed first. */
void keel_shim_destroy(keel_shim *shim);

/* The number of libc functions that could not be resolved in the base
 * (their trampolines abort with a message naming the symbol). */
size_t keel_shim_unresolved_count(const keel_shim *shim);

/* Opens a new link-map namespace holding only a filled shim. On KEEL_OK
 * *out is owned by the caller (keel_shim_ns_close). KEEL_ERR_LIMIT when
 * glibc has no namespace left. */
keel_status keel_shim_ns_open(keel_shim *shim, keel_shim_ns **out, keel_error *err);

/* Closes the namespace's shim. NULL-safe. Everything else loaded in the
 * namespace must have been unloaded before. */
void keel_shim_ns_close(keel_shim_ns *ns);

/* The glibc namespace id, for dlmopen. */
Lmid_t keel_shim_ns_lmid(const keel_shim_ns *ns);

/* The objects a namespace holds at one moment, so that a later patch can
 * visit only what was loaded since. */
typedef struct keel_shim_mark keel_shim_mark;

/* Remembers the namespace's objects now. Caller frees with
 * keel_shim_mark_free; NULL when out of memory (then patch everything). */
keel_shim_mark *keel_shim_ns_mark(const keel_shim_ns *ns);
void keel_shim_mark_free(keel_shim_mark *mark);

/* Redirects, in the objects of the namespace loaded since `since` (every
 * object other than the shim when `since` is NULL), the GOT entries that
 * point at the shim's data objects to the base's objects, and the
 * initial-exec TLS offsets of errno and h_errno to the base's. Objects
 * alive at the mark were patched when they were loaded; an address that
 * was freed and reused since cannot be in the mark, which holds only live
 * objects. Safe to call again. Returns the number of entries changed, or
 * -1 with `err` set. */
int keel_shim_ns_patch(keel_shim_ns *ns, const keel_shim_mark *since, keel_error *err);

/* Counts the objects in the namespace (the shim included), for unload
 * verification. When `names` is non-NULL it receives a malloc'd,
 * caller-freed, comma-separated list of the objects other than the shim. */
size_t keel_shim_ns_objects(const keel_shim_ns *ns, char **names);

#endif

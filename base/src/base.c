/*
 * keel_base: the work directory, the loader, the per-module operation
 * table and the durable record of the deployed set. Boot is in boot.c,
 * the admin operations in admin.c.
 */
#include "base_internal.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <keel/log.h>

#define BASE_COPY_CHUNK 65536

static int64_t base_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double keel_base_uptime(const keel_base *b)
{
    return (double)(base_now_ns() - b->started_ns) / 1e9;
}

keel_loader *keel_base_loader(keel_base *b)
{
    return b->loader;
}

/* ---- create / destroy ---------------------------------------------------- */

static keel_status base_make_dir(const char *path, keel_error *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return keel_error_set(err, KEEL_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return keel_error_set(err, KEEL_ERR_IO, "%s is not a directory", path);
    return KEEL_OK;
}

/* One keeld per work directory: an flock on WORK_DIR/keeld.lock that
 * holds the owner's pid. */
static keel_status base_lock_work_dir(keel_base *b, keel_error *err)
{
    char *path = NULL;
    if (asprintf(&path, "%s/keeld.lock", b->cfg.work_dir) < 0)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    b->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    keel_status st = KEEL_OK;
    if (b->lock_fd < 0) {
        st = keel_error_set(err, KEEL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    } else if (flock(b->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(b->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        char owner[48] = "";
        if (pid[0] != '\0')
            snprintf(owner, sizeof owner, " (pid %.30s)", pid);
        st = keel_error_set(err, KEEL_ERR_BUSY, "work directory %s is in use by another keeld%s",
                            b->cfg.work_dir, owner);
    } else {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(b->lock_fd, 0) != 0 || pwrite(b->lock_fd, pid, (size_t)n, 0) != n)
            keel_log(KEEL_LOG_WARN, NULL, "cannot write the pid into %s", path);
    }
    free(path);
    return st;
}

static int base_remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    if (ftw->level > 0 && remove(path) != 0)
        keel_log(KEEL_LOG_WARN, NULL, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* The loader's directories hold only what the running process loaded:
 * after a crash (kill -9) they hold the previous run's extracted modules
 * and libraries, which would collide with the new ones. We own the work
 * directory (flock) and nothing is loaded yet, so they go. */
static void base_clean_loader_dirs(keel_base *b)
{
    static const char *const dirs[] = {"instances", "libs"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", b->cfg.work_dir, dirs[i]) < 0)
            continue;
        DIR *dir = opendir(path);
        int leftovers = 0;
        struct dirent *de;
        while (dir != NULL && (de = readdir(dir)) != NULL)
            leftovers |= strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        if (dir != NULL)
            closedir(dir);
        if (leftovers) {
            keel_log(KEEL_LOG_INFO, NULL, "removing what a previous run left in %s", path);
            nftw(path, base_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        free(path);
    }
}

static keel_status base_create_loader(keel_base *b, keel_error *err)
{
    keel_loader_options opts = {
        .work_dir = b->cfg.work_dir,
        .max_namespaces = b->cfg.max_namespaces,
        .stop_timeout_ms = b->cfg.stop_timeout_ms,
        .drain_timeout_ms = b->cfg.drain_timeout_ms,
        .max_versions = b->cfg.max_versions,
        .router = {.queue_capacity = b->cfg.queue_capacity, .overflow = b->cfg.overflow},
    };
    return keel_loader_create(&opts, &b->loader, err);
}

keel_status keel_base_create(const keel_base_config *cfg, keel_base **out, keel_error *err)
{
    *out = NULL;
    if (cfg == NULL || cfg->work_dir == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "the base needs a work directory");
    keel_base *b = calloc(1, sizeof *b);
    if (b == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the base");
    b->lock_fd = -1;
    b->started_ns = base_now_ns();
    atomic_init(&b->booting, 1);
    pthread_mutex_init(&b->claim_lock, NULL);
    pthread_mutex_init(&b->state_lock, NULL);
    pthread_mutex_init(&b->starters_lock, NULL);
    /* Writer preference: a stream of list requests must not starve an
     * uninstall (no thread takes the read side twice). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->instances_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    keel_status st = keel_base_config_copy(&b->cfg, cfg, err);
    if (st != KEEL_OK) {
        keel_base_config_init(&b->cfg);
        keel_base_destroy(b);
        return st;
    }
    if (asprintf(&b->bundles_dir, "%s/bundles", cfg->work_dir) < 0) {
        b->bundles_dir = NULL;
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the base");
    }
    if (st == KEEL_OK)
        st = base_make_dir(cfg->work_dir, err);
    if (st == KEEL_OK)
        st = base_make_dir(b->bundles_dir, err);
    if (st == KEEL_OK)
        st = base_lock_work_dir(b, err);
    if (st == KEEL_OK) {
        base_clean_loader_dirs(b);
        st = base_create_loader(b, err);
    }
    if (st == KEEL_OK)
        st = keel_base_starters_create(b, err);
    if (st != KEEL_OK) {
        keel_base_destroy(b);
        return st;
    }
    *out = b;
    return KEEL_OK;
}

typedef struct base_stop_entry {
    keel_instance *inst;
    int priority;
    size_t order;
} base_stop_entry;

/* Higher priority number first; among equals, the newest first. */
static int base_stop_compare(const void *a, const void *b)
{
    const base_stop_entry *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->order > y->order ? -1 : x->order < y->order ? 1 : 0;
}

/* Uninstalls every instance in reverse priority order. The record in
 * state.json stays: it is what the next start brings back. */
static void base_stop_modules(keel_base *b)
{
    keel_instance **list = NULL;
    size_t n = keel_base_instances_snapshot(b, &list);
    base_stop_entry *entries = calloc(n + 1, sizeof *entries);
    if (list == NULL || entries == NULL) {
        free(list);
        free(entries);
        return; /* keel_loader_destroy still stops them, newest first */
    }
    for (size_t i = 0; i < n; i++)
        entries[i] = (base_stop_entry){list[i], keel_manifest_priority(keel_instance_manifest(list[i])), i};
    qsort(entries, n, sizeof *entries, base_stop_compare);
    for (size_t i = 0; i < n; i++) {
        keel_error err = {0};
        char id[256];
        snprintf(id, sizeof id, "%s", keel_instance_id(entries[i].inst));
        if (keel_loader_uninstall(b->loader, entries[i].inst, &err) != KEEL_OK)
            keel_log(KEEL_LOG_ERROR, id, "stopping at shutdown: %s", err.message);
    }
    free(list);
    free(entries);
}

void keel_base_destroy(keel_base *b)
{
    if (b == NULL)
        return;
    if (b->loader != NULL) {
        keel_base_instances_write(b);
        base_stop_modules(b);
        keel_loader_uninstall_all(b->loader);
        keel_base_instances_done(b);
        keel_base_starters_destroy(b);
        keel_loader_destroy(b->loader);
    }
    keel_state_clear(&b->state);
    for (size_t i = 0; i < b->claim_count; i++)
        free(b->claims[i].name);
    free(b->claims);
    for (size_t i = 0; i < b->starters_disabled_count; i++)
        free(b->starters_disabled[i]);
    free(b->starters_disabled);
    for (size_t i = 0; i < b->starters_failed_count; i++)
        free(b->starters_failed[i]);
    free(b->starters_failed);
    pthread_mutex_destroy(&b->starters_lock);
    if (b->lock_fd >= 0)
        close(b->lock_fd);
    free(b->bundles_dir);
    keel_base_config_destroy(&b->cfg);
    pthread_rwlock_destroy(&b->instances_lock);
    pthread_mutex_destroy(&b->state_lock);
    pthread_mutex_destroy(&b->claim_lock);
    free(b);
}

/* ---- locks ---------------------------------------------------------------- */

void keel_base_instances_read(keel_base *b)
{
    pthread_rwlock_rdlock(&b->instances_lock);
}

void keel_base_instances_write(keel_base *b)
{
    pthread_rwlock_wrlock(&b->instances_lock);
}

void keel_base_instances_done(keel_base *b)
{
    pthread_rwlock_unlock(&b->instances_lock);
}

size_t keel_base_instances_snapshot(keel_base *b, keel_instance ***out)
{
    size_t cap = 0, n = 0;
    keel_instance **list = NULL;
    for (;;) {
        n = keel_loader_list(b->loader, list, cap);
        if (n <= cap)
            break;
        /* Installs may add instances between two calls: retry with room. */
        cap = n + 8;
        keel_instance **grown = realloc(list, cap * sizeof *grown);
        if (grown == NULL) {
            free(list);
            *out = NULL;
            return 0;
        }
        list = grown;
    }
    if (list == NULL)
        list = malloc(sizeof *list); /* an empty list is still a list */
    *out = list;
    return list != NULL ? n : 0;
}

keel_status keel_base_claim(keel_base *b, const char *name, const char *op, keel_error *err)
{
    pthread_mutex_lock(&b->claim_lock);
    keel_status st = KEEL_OK;
    for (size_t i = 0; i < b->claim_count && st == KEEL_OK; i++)
        if (strcmp(b->claims[i].name, name) == 0)
            st = keel_error_set(err, KEEL_ERR_BUSY, "operation \"%s\" on module %s is in progress; "
                                "retry when it finishes", b->claims[i].op, name);
    char *copy = st == KEEL_OK ? strdup(name) : NULL;
    keel_base_claim_entry *grown = copy ? realloc(b->claims, (b->claim_count + 1) * sizeof *grown) : NULL;
    if (st == KEEL_OK && grown == NULL) {
        free(copy);
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    } else if (st == KEEL_OK) {
        b->claims = grown;
        b->claims[b->claim_count++] = (keel_base_claim_entry){copy, op};
    }
    pthread_mutex_unlock(&b->claim_lock);
    return st;
}

void keel_base_release(keel_base *b, const char *name)
{
    pthread_mutex_lock(&b->claim_lock);
    for (size_t i = 0; i < b->claim_count; i++)
        if (strcmp(b->claims[i].name, name) == 0) {
            free(b->claims[i].name);
            b->claims[i] = b->claims[--b->claim_count];
            break;
        }
    pthread_mutex_unlock(&b->claim_lock);
}

/* ---- bundle copies ----------------------------------------------------- */

static int base_copy_fd(int in, int out)
{
    char *buf = malloc(BASE_COPY_CHUNK);
    int rc = buf ? 0 : -1;
    for (;;) {
        ssize_t n = rc == 0 ? read(in, buf, BASE_COPY_CHUNK) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -1 : rc;
            break;
        }
        for (ssize_t done = 0; done < n && rc == 0;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno != EINTR)
                rc = -1;
            done += w > 0 ? w : 0;
        }
    }
    free(buf);
    return rc;
}

static keel_status base_copy_file(const char *src, const char *temp, const char *dest,
                                  const char *dir, keel_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot keep a copy of %s: %s", src, strerror(errno));
    int out = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    keel_status st = KEEL_OK;
    if (out < 0 || base_copy_fd(in, out) != 0 || fsync(out) != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot copy %s to %s: %s", src, temp, strerror(errno));
    close(in);
    if (out >= 0 && close(out) != 0 && st == KEEL_OK)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot write %s: %s", temp, strerror(errno));
    if (st == KEEL_OK && rename(temp, dest) != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot rename %s to %s: %s", temp, dest, strerror(errno));
    if (st != KEEL_OK) {
        unlink(temp);
        return st;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot sync %s: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    return st;
}

static int base_same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

keel_status keel_base_store_bundle(keel_base *b, const char *src, const char *name,
                                   const char *version, char **relpath, keel_error *err)
{
    char *dest = NULL, *temp = NULL, *rel = NULL;
    *relpath = NULL;
    if (asprintf(&rel, "bundles/%s-%s.keel", name, version) < 0 ||
        asprintf(&dest, "%s/%s", b->cfg.work_dir, rel) < 0 ||
        asprintf(&temp, "%s/.%s-%s.keel.tmp", b->bundles_dir, name, version) < 0) {
        free(rel);
        free(dest);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    keel_status st = KEEL_OK;
    if (!base_same_file(src, dest))
        st = base_copy_file(src, temp, dest, b->bundles_dir, err);
    free(dest);
    free(temp);
    if (st == KEEL_OK)
        *relpath = rel;
    else
        free(rel);
    return st;
}

/* ---- the deployed set ---------------------------------------------------- */

/* Writes b->state; on failure takes the last written state back from disk
 * so that memory never claims what the disk does not hold. Called with
 * state_lock held. */
static keel_status base_state_commit(keel_base *b, keel_error *err)
{
    keel_status st = keel_state_write(b->cfg.work_dir, &b->state, err);
    if (st != KEEL_OK) {
        keel_state disk;
        keel_error ignored = {0};
        if (keel_state_read(b->cfg.work_dir, &disk, &ignored) == KEEL_OK) {
            keel_state_clear(&b->state);
            b->state = disk;
        }
        keel_log(KEEL_LOG_ERROR, NULL, "state not recorded: %s", err ? err->message : "");
    }
    return st;
}

/* Takes the active flags of module `name`'s records from the loader.
 * Started instances only: a broken or missing one keeps its record. */
static void base_state_refresh_active(keel_base *b, const char *name)
{
    for (size_t i = 0; i < b->state.module_count; i++) {
        keel_state_module *m = &b->state.modules[i];
        keel_instance *inst = strcmp(m->name, name) == 0
                                  ? keel_loader_find(b->loader, m->name, m->version) : NULL;
        keel_instance_state s = inst ? keel_instance_state_get(inst) : KEEL_STATE_BROKEN;
        if (s == KEEL_STATE_ACTIVE || s == KEEL_STATE_INACTIVE)
            m->active = s == KEEL_STATE_ACTIVE;
    }
}

keel_status keel_base_record_module(keel_base *b, const char *name, const char *version,
                                    const char *bundle, int priority, int active, keel_error *err)
{
    pthread_mutex_lock(&b->state_lock);
    keel_status st = keel_state_put_module(&b->state, name, version, bundle, priority, active);
    if (st != KEEL_OK) {
        keel_error_set(err, st, "out of memory recording %s@%s", name, version);
    } else {
        if (active) /* activating a version ends the module's gray routing */
            keel_state_remove_route(&b->state, name);
        base_state_refresh_active(b, name);
        st = base_state_commit(b, err);
    }
    pthread_mutex_unlock(&b->state_lock);
    return st;
}

keel_status keel_base_forget_module(keel_base *b, const char *name, const char *version,
                                    keel_error *err)
{
    pthread_mutex_lock(&b->state_lock);
    keel_state_module *m = keel_state_find_module(&b->state, name, version);
    char *bundle = NULL;
    if (m != NULL && asprintf(&bundle, "%s/%s", b->cfg.work_dir, m->bundle) < 0)
        bundle = NULL;
    keel_state_route *r = keel_state_find_route(&b->state, name);
    if (r != NULL && (strcmp(r->primary, version) == 0 || (r->gray && strcmp(r->gray, version) == 0)))
        keel_state_remove_route(&b->state, name);
    keel_status st = KEEL_OK;
    if (keel_state_remove_module(&b->state, name, version))
        st = base_state_commit(b, err);
    pthread_mutex_unlock(&b->state_lock);
    if (st == KEEL_OK && bundle != NULL && unlink(bundle) != 0 && errno != ENOENT)
        keel_log(KEEL_LOG_WARN, NULL, "cannot remove %s: %s", bundle, strerror(errno));
    free(bundle);
    return st;
}

keel_status keel_base_record_routing(keel_base *b, const char *name, const keel_state_route *route,
                                     keel_error *err)
{
    pthread_mutex_lock(&b->state_lock);
    keel_status st = KEEL_OK;
    if (route != NULL)
        st = keel_state_put_route(&b->state, route);
    else
        keel_state_remove_route(&b->state, name);
    if (st != KEEL_OK) {
        keel_error_set(err, st, "out of memory recording the routing of %s", name);
    } else {
        base_state_refresh_active(b, name);
        st = base_state_commit(b, err);
    }
    pthread_mutex_unlock(&b->state_lock);
    return st;
}

int keel_base_is_recorded(keel_base *b, const char *name, const char *version)
{
    pthread_mutex_lock(&b->state_lock);
    int found = 0;
    for (size_t i = 0; i < b->state.module_count && !found; i++)
        found = strcmp(b->state.modules[i].name, name) == 0 &&
                (version == NULL || strcmp(b->state.modules[i].version, version) == 0);
    pthread_mutex_unlock(&b->state_lock);
    return found;
}

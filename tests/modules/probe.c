/* probe: a test module that exercises the libc shim and the module API.
 * Its services live in a scene named after the variant, so that several
 * variants can be installed side by side.
 * Built several times with different PROBE_* defines to make the failure
 * cases the loader must handle: a failing or hanging start hook, a newer
 * API, a name that disagrees with the manifest, no entry symbol. */
#define _DEFAULT_SOURCE
#include <keel/module.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PROBE_NAME
#define PROBE_NAME "probe"
#endif

static const keel_api *api;
static keel_ctx *self;
static __thread int tls_counter;
static atomic_int tasks_run;

static char *probe_malloc_text(void)
{
    char *p = malloc(32);
    if (p != NULL)
        strcpy(p, "allocated in a module");
    return p;
}

static void probe_free(void *p) { free(p); }

static void probe_print(const char *text)
{
    printf("%s\n", text);
    fflush(stdout);
}

static int probe_errno_from_libm(void)
{
    errno = 0;
    volatile double r = log(-1.0);
    (void)r;
    return errno;
}

static void probe_set_errno(int value) { errno = value; }
static int probe_tls_bump(void) { return ++tls_counter; }
static void *probe_stdout(void) { return stdout; }
static char **probe_environ(void) { extern char **environ; return environ; }
static void *probe_api_alloc(size_t n) { return api->alloc(self, n); }
static void probe_api_free(void *p) { api->free(p); }
static const char *probe_config(const char *key) { return api->config_get(self, key); }

/* Each task sleeps a little, then counts itself in the module and in the
 * caller's counter (which outlives the module). */
static void count_task(keel_ctx *ctx, void *arg)
{
    (void)ctx;
    usleep(2000);
    atomic_fetch_add(&tasks_run, 1);
    if (arg != NULL)
        atomic_fetch_add((atomic_int *)arg, 1);
}

static int probe_submit(int n, atomic_int *counter)
{
    for (int i = 0; i < n; i++)
        if (api->task_submit(self, count_task, counter) != KEEL_OK)
            return i;
    return n;
}

static int probe_tasks_run(void) { return atomic_load(&tasks_run); }

static char *probe_resource(const char *rel)
{
    void *data = NULL;
    size_t size = 0;
    return api->resource_read(self, rel, &data, &size) == KEEL_OK ? data : NULL;
}

#if defined(PROBE_TLS_DTOR)
extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);
extern void *__dso_handle;

static void thread_dtor(void *obj)
{
    (void)obj;
}

static void register_thread_dtor(keel_ctx *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    __cxa_thread_atexit_impl(thread_dtor, NULL, &__dso_handle);
}
#endif

#define REGISTER(NAME, SIG, FN)                                                      \
    do {                                                                             \
        keel_status st_ = api->service_register(ctx, PROBE_NAME, NAME, SIG, (keel_fn)FN); \
        if (st_ != KEEL_OK)                                                          \
            return st_;                                                              \
    } while (0)

static keel_status probe_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    REGISTER("malloc_text", "ptr()", probe_malloc_text);
    REGISTER("free", "void(ptr)", probe_free);
    REGISTER("print", "void(str)", probe_print);
    REGISTER("errno_libm", "i32()", probe_errno_from_libm);
    REGISTER("set_errno", "void(i32)", probe_set_errno);
    REGISTER("tls_bump", "i32()", probe_tls_bump);
    REGISTER("stdout", "ptr()", probe_stdout);
    REGISTER("environ", "ptr()", probe_environ);
    REGISTER("api_alloc", "ptr(u64)", probe_api_alloc);
    REGISTER("api_free", "void(ptr)", probe_api_free);
    REGISTER("config", "str(str)", probe_config);
    REGISTER("submit", "i32(i32,ptr)", probe_submit);
    REGISTER("tasks_run", "i32()", probe_tasks_run);
    REGISTER("resource", "ptr(str)", probe_resource);
    if (api->subscribe(ctx, "default", "probe.events", NULL, NULL) != KEEL_ERR_INVALID)
        return KEEL_ERR_INTERNAL;
#if defined(PROBE_TLS_DTOR)
    /* A thread-exit destructor registered on a base worker thread points
     * into this module, so glibc cannot unload it while that thread lives:
     * the loader must notice and report it. */
    if (api->task_submit(ctx, register_thread_dtor, NULL) != KEEL_OK)
        return KEEL_ERR_INTERNAL;
#endif
#if defined(PROBE_FAIL_START)
    probe_submit(3, NULL);
    api->log(ctx, KEEL_LOG_WARN, "failing on purpose");
    return KEEL_ERR_INVALID;
#elif defined(PROBE_HANG_START)
    for (;;)
        sleep(60);
#endif
    return KEEL_OK;
}

static void probe_stop(keel_ctx *ctx, const keel_api *table)
{
    table->log(ctx, KEEL_LOG_INFO, "stopping after %d tasks", atomic_load(&tasks_run));
}

#if defined(PROBE_NEW_API)
/* Claims an API this base does not serve. */
__attribute__((visibility("default"))) const keel_module_def *keel_module_entry(void);
const keel_module_def *keel_module_entry(void)
{
    static const keel_module_def def = {99, sizeof(keel_module_def), PROBE_NAME, probe_start, probe_stop};
    return &def;
}
#elif defined(PROBE_OLD_API)
/* Built for module-api 1: a base serving a newer API must still serve it. */
__attribute__((visibility("default"))) const keel_module_def *keel_module_entry(void);
const keel_module_def *keel_module_entry(void)
{
    static const keel_module_def def = {1, sizeof(keel_module_def), PROBE_NAME, probe_start, probe_stop};
    return &def;
}
#elif !defined(PROBE_NO_ENTRY)
KEEL_MODULE(PROBE_NAME, probe_start, probe_stop)
#else
__attribute__((visibility("default"))) int probe_not_an_entry(void);
int probe_not_an_entry(void) { probe_stop(NULL, NULL); return probe_start(NULL, NULL); }
#endif

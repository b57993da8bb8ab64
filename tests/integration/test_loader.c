/*
 * Loader integration tests: real bundles, real module objects loaded into
 * real link-map namespaces through the libc shim.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <keel/loader.h>
#include "test_support.h"

typedef int (*greet_fn)(const char *who, char *out, size_t size);
typedef void (*text_fn)(const char *in, char *out, size_t size);

static char *instances_dir(const char *work)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/instances", work);
    return path;
}

START_TEST(greeter_installs_starts_serves_and_uninstalls)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    ck_assert_str_eq(keel_instance_id(g), "greeter@1.0.0");
    ck_assert_int_eq(keel_instance_state_get(g), KEEL_STATE_ACTIVE);
    greet_fn greet = (greet_fn)test_service(g, "default", "greet");
    ck_assert_ptr_nonnull(greet);
    char out[128];
    greet("operator", out, sizeof out);
    /* greeting from a bundle resource, "!" from the manifest's config */
    ck_assert_str_eq(out, "hello, operator! (greeter v1)");
    keel_state_change c;
    static const keel_instance_state expected[] = {KEEL_STATE_INSTALLED, KEEL_STATE_STARTING,
                                                   KEEL_STATE_INACTIVE, KEEL_STATE_ACTIVE};
    ck_assert_uint_eq(keel_instance_history_count(g), 4);
    int64_t last = 0;
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(keel_instance_history_at(g, i, &c), 0);
        ck_assert_int_eq(c.state, expected[i]);
        ck_assert_int_ge(c.time_ns, last);
        last = c.time_ns;
    }
    ck_assert_int_eq(keel_instance_history_at(g, 4, &c), -1);
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 1);
    keel_error err = {0};
    ck_assert_int_eq(keel_instance_set_active(g, 0, &err), KEEL_OK);
    ck_assert_int_eq(keel_instance_state_get(g), KEEL_STATE_INACTIVE);
    ck_assert_int_eq(keel_loader_uninstall(l, g, &err), KEEL_OK);
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 0);
    ck_assert_ptr_null(keel_loader_find(l, "greeter", NULL));
    ck_assert_ptr_null(keel_loader_leaks(l));
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(same_soname_different_builds_each_get_their_own)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *s = test_install_started(l, "samples/shout-1.0.0");
    keel_instance *w = test_install_started(l, "samples/whisper-1.0.0");
    /* Conflicting private libraries force different namespace groups. */
    ck_assert_int_ne(keel_instance_namespace(s), keel_instance_namespace(w));
    text_fn shout = (text_fn)test_service(s, "loud", "shout");
    text_fn whisper = (text_fn)test_service(w, "quiet", "whisper");
    ck_assert_ptr_nonnull(shout);
    ck_assert_ptr_nonnull(whisper);
    char a[64], b[64];
    for (int round = 0; round < 3; round++) {
        shout("Hello Keel", a, sizeof a);
        whisper("Hello Keel", b, sizeof b);
        ck_assert_str_eq(a, "HELLO KEEL!");
        ck_assert_str_eq(b, "hello keel...");
    }
    /* A third module without private libraries packs into an existing group. */
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    ck_assert_int_lt(keel_instance_namespace(g), 2);
    ck_assert_uint_eq(keel_loader_namespace_count(l), 2);
    keel_loader_destroy(l);
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 0);
    test_remove_tree(work);
    free(work);
}
END_TEST

typedef void *(*ptr_fn)(void);

START_TEST(one_heap_one_stdio_one_errno)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *p = test_install_started(l, "modules/probe");

    /* A module allocates, the base frees; the base allocates, the module frees. */
    char *(*malloc_text)(void) = (char *(*)(void))test_service(p, "probe", "malloc_text");
    void (*module_free)(void *) = (void (*)(void *))test_service(p, "probe", "free");
    char *text = malloc_text();
    ck_assert_str_eq(text, "allocated in a module");
    free(text);
    module_free(strdup("allocated in the base"));

    /* The module's stdout is the base's stdout, even through its GOT. */
    ptr_fn module_stdout = (ptr_fn)test_service(p, "probe", "stdout");
    ck_assert_ptr_eq(module_stdout(), stdout);
    extern char **environ;
    ptr_fn module_environ = (ptr_fn)test_service(p, "probe", "environ");
    ck_assert_ptr_eq(module_environ(), environ);

    /* printf in the module reaches the base's stdout (fd 1). */
    char path[4096];
    snprintf(path, sizeof path, "%s/stdout.txt", work);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 1);
    close(fd);
    void (*print)(const char *) = (void (*)(const char *))test_service(p, "probe", "print");
    print("printed by the probe module");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    char line[128] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_str_eq(line, "printed by the probe module\n");

    /* errno: set by libm inside the namespace, and by the module directly. */
    int (*errno_libm)(void) = (int (*)(void))test_service(p, "probe", "errno_libm");
    ck_assert_int_eq(errno_libm(), EDOM);
    void (*set_errno)(int) = (void (*)(int))test_service(p, "probe", "set_errno");
    errno = 0;
    set_errno(ERANGE);
    ck_assert_int_eq(errno, ERANGE);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

static int (*tls_bump)(void);

static void *bump_three_times(void *arg)
{
    (void)arg;
    tls_bump();
    tls_bump();
    return (void *)(intptr_t)tls_bump();
}

START_TEST(module_thread_locals_are_per_thread)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *p = test_install_started(l, "modules/probe");
    tls_bump = (int (*)(void))test_service(p, "probe", "tls_bump");
    ck_assert_int_eq(tls_bump(), 1);
    ck_assert_int_eq(tls_bump(), 2);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, bump_three_times, NULL);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_int_eq((int)(intptr_t)r, 3);
    }
    ck_assert_int_eq(tls_bump(), 3);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(module_api_memory_tasks_config_resources)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *p = test_install_started(l, "modules/probe");
    void *(*api_alloc)(size_t) = (void *(*)(size_t))test_service(p, "probe", "api_alloc");
    void (*api_free)(void *) = (void (*)(void *))test_service(p, "probe", "api_free");
    ck_assert_uint_eq(keel_instance_memory_bytes(p), 0);
    void *a = api_alloc(1000), *b = api_alloc(24);
    ck_assert_uint_eq(keel_instance_memory_bytes(p), 1024);
    ck_assert_uint_eq(keel_instance_memory_blocks(p), 2);
    api_free(a);
    ck_assert_uint_eq(keel_instance_memory_bytes(p), 24);

    const char *(*config)(const char *) = (const char *(*)(const char *))test_service(p, "probe", "config");
    ck_assert_str_eq(config("colour"), "blue");
    ck_assert_str_eq(config("retries"), "3");
    ck_assert_str_eq(config("nested"), "{\"a\":[1,2]}");
    ck_assert_ptr_null(config("absent"));

    char *(*resource)(const char *) = (char *(*)(const char *))test_service(p, "probe", "resource");
    char *res = resource("data/resource.txt");
    ck_assert_str_eq(res, "resource text of the probe\n");
    api_free(res);
    ck_assert_ptr_null(resource("../manifest.json"));
    ck_assert_ptr_null(resource("/etc/passwd"));
    ck_assert_ptr_null(resource("data/missing.txt"));

    int (*submit)(int, atomic_int *) = (int (*)(int, atomic_int *))test_service(p, "probe", "submit");
    int (*tasks_run)(void) = (int (*)(void))test_service(p, "probe", "tasks_run");
    static atomic_int counted;
    atomic_store(&counted, 0);
    ck_assert_int_eq(submit(20, &counted), 20);
    ck_assert_int_lt(tasks_run(), 20); /* 2 workers, 2 ms each: still running */
    /* Uninstall waits for every queued task before the stop hook and the
     * unload. The block b stays accounted to the instance and outlives it. */
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_uninstall(l, p, &err), KEEL_OK);
    ck_assert_int_eq(atomic_load(&counted), 20);
    /* b outlived the module; the base frees it with the table's free. */
    keel_loader_module_api()->free(b);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(memory_block_outlives_its_module)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *p = test_install_started(l, "modules/probe");
    void *(*api_alloc)(size_t) = (void *(*)(size_t))test_service(p, "probe", "api_alloc");
    char *block = api_alloc(64);
    strcpy(block, "still mine");
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_uninstall(l, p, &err), KEEL_OK);
    ck_assert_str_eq(block, "still mine");
    /* The base frees it with the table's free, after the module is gone. */
    keel_loader_module_api()->free(block);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

/* Installs `which` expecting `status` and checks that nothing changed: no
 * instance directory, no new instance, no namespace, the other module
 * still serving. */
static void expect_refused(const char *which, keel_status status, const char *needle)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    size_t namespaces = keel_loader_namespace_count(l);
    keel_instance *inst = (keel_instance *)0x1;
    keel_error err = {0};
    keel_status st = keel_loader_install(l, which[0] == '/' ? which : test_bundle(which), &inst, &err);
    ck_assert_msg(st == status, "%s: expected %s, got %s: %s", which, keel_status_name(status),
                  keel_status_name(st), err.message);
    ck_assert_ptr_null(inst);
    ck_assert_msg(strstr(err.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", which,
                  err.message, needle);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "one line please: %s", err.message);
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 1);
    ck_assert_uint_eq(keel_loader_list(l, NULL, 0), 1);
    ck_assert_uint_eq(keel_loader_namespace_count(l), namespaces);
    ck_assert_ptr_null(keel_loader_leaks(l));
    char out[64];
    ((greet_fn)test_service(g, "default", "greet"))("still", out, sizeof out);
    ck_assert_str_eq(out, "hello, still! (greeter v1)");
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}

START_TEST(refuses_manifest_for_newer_api) { expect_refused("modules/probe-api9", KEEL_ERR_API, "module-api 9"); }
END_TEST
START_TEST(refuses_object_built_for_newer_api) { expect_refused("modules/probe-newapi", KEEL_ERR_API, "module-api 99"); }
END_TEST
START_TEST(refuses_name_mismatch) { expect_refused("modules/probe-wrongname", KEEL_ERR_MANIFEST, "somebody-else"); }
END_TEST
START_TEST(refuses_missing_entry) { expect_refused("modules/probe-noentry", KEEL_ERR_LOAD, "keel_module_entry"); }
END_TEST
START_TEST(refuses_nodelete_object) { expect_refused("modules/probe-nodelete", KEEL_ERR_UNSAFE, "NODELETE"); }
END_TEST
START_TEST(refuses_second_install_of_a_version) { expect_refused("samples/greeter-1.0.0", KEEL_ERR_EXISTS, "already installed"); }
END_TEST

START_TEST(refuses_a_library_that_is_not_elf)
{
    char *dir = test_make_work_dir();
    char path[4096], bundle[4096];
    snprintf(path, sizeof path, "%s/module", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/module/manifest.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"name\": \"textual\", \"version\": \"1.0.0\", \"api\": 1, \"library\": \"textual.so\"}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/module/textual.so", dir);
    f = fopen(path, "w");
    fputs("this is not a shared object\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/module", dir);
    snprintf(bundle, sizeof bundle, "%s/textual-1.0.0.keel", dir);
    keel_error err = {0};
    ck_assert_int_eq(keel_bundle_pack(path, bundle, &err), KEEL_OK);
    expect_refused(bundle, KEEL_ERR_LOAD, "not an ELF");
    test_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(reports_a_module_that_stays_mapped_as_a_leak)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    keel_instance *p = test_install_started(l, "modules/probe-tlsdtor");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", keel_instance_dir(p));
    keel_error err = {0};
    /* Uninstall first waits for the task that registers the destructor. */
    keel_status st = keel_loader_uninstall(l, p, &err);
    ck_assert_msg(st == KEEL_ERR_LEAK, "expected a leak, got %s: %s", keel_status_name(st), err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "probe-tlsdtor@1.0.0"));
    char *leaks = keel_loader_leaks(l);
    ck_assert_ptr_nonnull(leaks);
    ck_assert_msg(strstr(leaks, "probe-tlsdtor@1.0.0") && strstr(leaks, "stays mapped"), "%s", leaks);
    free(leaks);
    ck_assert_int_eq(access(dir, F_OK), 0); /* kept for the operator to inspect */
    ck_assert_ptr_null(keel_loader_find(l, "probe-tlsdtor", NULL));
    char out[64];
    ((greet_fn)test_service(g, "default", "greet"))("still", out, sizeof out);
    ck_assert_str_eq(out, "hello, still! (greeter v1)");
    /* The leak is the leaking module's alone: its neighbour unloads cleanly. */
    ck_assert_int_eq(keel_loader_uninstall(l, g, &err), KEEL_OK);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(refuses_corrupt_and_missing_bundles)
{
    char *dir = test_make_work_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/truncated.keel", dir);
    FILE *in = fopen(test_bundle("samples/greeter-1.0.0"), "rb");
    FILE *out = fopen(path, "wb");
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n / 2, out);
    fclose(in);
    fclose(out);
    expect_refused(path, KEEL_ERR_BUNDLE, "truncated.keel");
    snprintf(path, sizeof path, "%s/missing.keel", dir);
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *inst;
    keel_error err = {0};
    ck_assert_int_ne(keel_loader_install(l, path, &inst, &err), KEEL_OK);
    ck_assert_ptr_nonnull(strstr(err.message, "missing.keel"));
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
    test_remove_tree(dir);
    free(dir);
}
END_TEST

static void expect_start_failure(const char *which, keel_status status, const char *needle)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    keel_instance *inst = NULL;
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_install(l, test_bundle(which), &inst, &err), KEEL_OK);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", keel_instance_dir(inst));
    keel_status st = keel_instance_start(inst, 1, &err);
    ck_assert_msg(st == status, "expected %s, got %s: %s", keel_status_name(status),
                  keel_status_name(st), err.message);
    ck_assert_msg(strstr(err.message, needle) != NULL, "message: %s", err.message);
    ck_assert_int_eq(keel_instance_state_get(inst), KEEL_STATE_BROKEN);
    ck_assert_ptr_nonnull(strstr(keel_instance_reason(inst), "unloaded"));
    ck_assert_uint_eq(keel_instance_service_count(inst), 0);
    ck_assert_int_ne(access(dir, F_OK), 0);            /* its files are gone */
    ck_assert_ptr_null(keel_instance_symbol(inst, "keel_module_entry"));
    ck_assert_ptr_null(keel_loader_leaks(l));
    char out[64];
    ((greet_fn)test_service(g, "default", "greet"))("still", out, sizeof out);
    ck_assert_str_eq(out, "hello, still! (greeter v1)");
    ck_assert_int_eq(keel_loader_uninstall(l, inst, &err), KEEL_OK);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}

START_TEST(failing_start_hook_unloads_the_module) { expect_start_failure("modules/probe-fail", KEEL_ERR_START, "start hook failed"); }
END_TEST
typedef struct slow_start {
    keel_instance *inst;
    keel_status status;
} slow_start;

static void *start_in_background(void *arg)
{
    slow_start *s = arg;
    keel_error err = {0};
    s->status = keel_instance_start(s->inst, 1, &err);
    return NULL;
}

START_TEST(a_hanging_start_does_not_block_other_modules)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    slow_start s = {0};
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_install(l, test_bundle("modules/probe-hang"), &s.inst, &err), KEEL_OK);
    pthread_t t;
    pthread_create(&t, NULL, start_in_background, &s);
    while (keel_instance_state_get(s.inst) != KEEL_STATE_STARTING)
        usleep(1000);
    /* While that start hook hangs (300 ms, then cancelled), another module
     * installs, starts and answers; a second start of the hanging one is
     * refused as busy. */
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    char out[64];
    ((greet_fn)test_service(g, "default", "greet"))("meanwhile", out, sizeof out);
    ck_assert_str_eq(out, "hello, meanwhile! (greeter v1)");
    ck_assert_int_eq(keel_instance_state_get(s.inst), KEEL_STATE_STARTING);
    ck_assert_int_eq(keel_instance_start(s.inst, 1, &err), KEEL_ERR_BUSY);
    ck_assert_int_eq(keel_loader_uninstall(l, s.inst, &err), KEEL_ERR_BUSY);
    pthread_join(t, NULL);
    ck_assert_int_eq(s.status, KEEL_ERR_TIMEOUT);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(hanging_start_hook_is_cancelled_and_unloaded) { expect_start_failure("modules/probe-hang", KEEL_ERR_TIMEOUT, "300 ms"); }
END_TEST

START_TEST(exclusive_module_gets_its_own_namespace_and_limits_are_clear)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 2);
    keel_instance *g = test_install_started(l, "samples/greeter-1.0.0");
    keel_instance *solo = test_install_started(l, "modules/probe-solo");
    ck_assert_int_ne(keel_instance_namespace(g), keel_instance_namespace(solo));
    /* Shared modules do not join the exclusive group... */
    keel_instance *p = test_install_started(l, "modules/probe");
    ck_assert_int_eq(keel_instance_namespace(p), keel_instance_namespace(g));
    /* ...and a module that conflicts with every group is refused clearly. */
    keel_instance *s = test_install_started(l, "samples/shout-1.0.0");
    ck_assert_int_eq(keel_instance_namespace(s), keel_instance_namespace(g));
    keel_instance *w = NULL;
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_install(l, test_bundle("samples/whisper-1.0.0"), &w, &err), KEEL_ERR_LIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "whisper"));
    ck_assert_ptr_nonnull(strstr(err.message, "2 namespaces"));
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 4);
    /* Once the exclusive module is gone its namespace is reused. */
    ck_assert_int_eq(keel_loader_uninstall(l, solo, &err), KEEL_OK);
    w = test_install_started(l, "samples/whisper-1.0.0");
    ck_assert_uint_eq(keel_loader_namespace_count(l), 2);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(private_libraries_that_need_each_other_unload_cleanly)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    for (int round = 0; round < 3; round++) {
        keel_instance *c = test_install_started(l, "modules/chain");
        int64_t (*value)(void) = (int64_t (*)(void))test_service(c, "chain", "value");
        ck_assert_int_eq(value(), 42);
        keel_error err = {0};
        ck_assert_msg(keel_loader_uninstall(l, c, &err) == KEEL_OK, "%s", err.message);
    }
    ck_assert_ptr_null(keel_loader_leaks(l));
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 0);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(older_api_modules_are_still_served)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *p = test_install_started(l, "modules/probe-v1");
    const char *(*config)(const char *) = (const char *(*)(const char *))test_service(p, "probe-v1", "config");
    ck_assert_ptr_nonnull(config);
    ck_assert_str_eq(config("colour"), "blue");
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

START_TEST(two_versions_side_by_side)
{
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    keel_instance *v1 = test_install_started(l, "samples/greeter-1.0.0");
    keel_instance *v2 = test_install_started(l, "samples/greeter-2.0.0");
    char a[64], b[64];
    ((greet_fn)test_service(v1, "default", "greet"))("x", a, sizeof a);
    ((greet_fn)test_service(v2, "default", "greet"))("x", b, sizeof b);
    ck_assert_str_eq(a, "hello, x! (greeter v1)");
    ck_assert_str_eq(b, "good day, x!! (greeter v2)");
    ck_assert_ptr_eq(keel_loader_find(l, "greeter", "2.0.0"), v2);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

/* Load new, unload old, many times, with several namespaces in use. */
START_TEST(swaps_thousands_of_times_and_returns_to_baseline)
{
    int swaps = getenv("KEEL_SWAPS") ? atoi(getenv("KEEL_SWAPS")) : 5000;
    char *work;
    keel_loader *l = test_loader_new(&work, 0);
    test_install_started(l, "samples/shout-1.0.0");
    test_install_started(l, "samples/whisper-1.0.0");
    keel_instance *cur = test_install_started(l, "samples/greeter-1.0.0");
    /* One warm-up swap so the namespaces and lazily loaded libraries exist. */
    const char *bundles[2] = {"samples/greeter-1.0.0", "samples/greeter-2.0.0"};
    keel_error err = {0};
    char b0[4096], b1[4096];
    snprintf(b0, sizeof b0, "%s", test_bundle(bundles[0]));
    snprintf(b1, sizeof b1, "%s", test_bundle(bundles[1]));
    const char *paths[2] = {b0, b1};
    int fds = -1, maps = -1;
    size_t namespaces = 0;
    for (int i = 1; i <= swaps + 1; i++) {
        keel_instance *next = NULL;
        keel_status st = keel_loader_install(l, paths[i % 2], &next, &err);
        ck_assert_msg(st == KEEL_OK, "swap %d install: %s", i, err.message);
        st = keel_instance_start(next, 1, &err);
        ck_assert_msg(st == KEEL_OK, "swap %d start: %s", i, err.message);
        char out[64];
        ((greet_fn)test_service(next, "default", "greet"))("x", out, sizeof out);
        ck_assert_ptr_nonnull(strstr(out, i % 2 ? "v2" : "v1"));
        st = keel_loader_uninstall(l, cur, &err);
        ck_assert_msg(st == KEEL_OK, "swap %d uninstall: %s", i, err.message);
        cur = next;
        if (i == 1) {
            fds = test_fd_count();
            maps = test_map_count();
            namespaces = keel_loader_namespace_count(l);
        }
    }
    ck_assert_int_eq(test_fd_count(), fds);
    ck_assert_int_eq(test_map_count(), maps);
    ck_assert_uint_eq(keel_loader_namespace_count(l), namespaces);
    ck_assert_uint_ge(namespaces, 2);
    ck_assert_ptr_null(keel_loader_leaks(l));
    ck_assert_int_eq(test_dir_entries(instances_dir(work)), 3);
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, greeter_installs_starts_serves_and_uninstalls);
    tcase_add_test(tc, same_soname_different_builds_each_get_their_own);
    tcase_add_test(tc, one_heap_one_stdio_one_errno);
    tcase_add_test(tc, module_thread_locals_are_per_thread);
    tcase_add_test(tc, module_api_memory_tasks_config_resources);
    tcase_add_test(tc, memory_block_outlives_its_module);
    tcase_add_test(tc, two_versions_side_by_side);
    tcase_add_test(tc, older_api_modules_are_still_served);
    tcase_add_test(tc, private_libraries_that_need_each_other_unload_cleanly);
    tcase_add_test(tc, exclusive_module_gets_its_own_namespace_and_limits_are_clear);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("refusals");
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, refuses_manifest_for_newer_api);
    tcase_add_test(bad, refuses_object_built_for_newer_api);
    tcase_add_test(bad, refuses_name_mismatch);
    tcase_add_test(bad, refuses_missing_entry);
    tcase_add_test(bad, refuses_nodelete_object);
    tcase_add_test(bad, refuses_second_install_of_a_version);
    tcase_add_test(bad, refuses_corrupt_and_missing_bundles);
    tcase_add_test(bad, refuses_a_library_that_is_not_elf);
    tcase_add_test(bad, reports_a_module_that_stays_mapped_as_a_leak);
    tcase_add_test(bad, failing_start_hook_unloads_the_module);
    tcase_add_test(bad, hanging_start_hook_is_cancelled_and_unloaded);
    tcase_add_test(bad, a_hanging_start_does_not_block_other_modules);
    suite_add_tcase(s, bad);
    TCase *swap = tcase_create("swap");
    tcase_set_timeout(swap, 900);
    tcase_add_test(swap, swaps_thousands_of_times_and_returns_to_baseline);
    suite_add_tcase(s, swap);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * bench_swap: what a hot swap and a namespace cost, against baselines
 * measured in the same run.
 *
 *   bench_swap SAMPLES_DIR MODULE_SO [ROUNDS]
 *
 * 1. baseline: dlopen + dlsym + dlclose of the module object in the base's
 *    own namespace (what loading a plugin costs without any isolation);
 * 2. namespace swap: dlmopen of a fresh copy into a shim namespace, GOT
 *    patch, dlclose of the previous one (the loader's core, no bundle);
 * 3. keel swap: bundle on disk -> verified, extracted, inspected, loaded,
 *    started, first call, and the old version stopped, unloaded, verified.
 * 4. memory: PSS of 14 namespaces each holding only the libc shim.
 *
 * Prints one JSON object per measurement.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>
#include "libc_shim.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, double *v, int n, double baseline_p50)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    double p50 = v[n / 2], p99 = v[n * 99 / 100];
    printf("{\"bench\": \"%s\", \"rounds\": %d, \"p50_us\": %.1f, \"p99_us\": %.1f, "
           "\"ratio_to_baseline_p50\": %.2f}\n", name, n, p50, p99,
           baseline_p50 > 0 ? p50 / baseline_p50 : 1.0);
}

static long pss_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "Pss: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_swap SAMPLES_DIR MODULE_SO [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 2000;
    keel_log_set_level(KEEL_LOG_ERROR);
    double *v = calloc((size_t)rounds, sizeof *v);
    char work[] = "/tmp/keel-bench-XXXXXX";
    if (v == NULL || mkdtemp(work) == NULL)
        return 1;

    /* 1. baseline */
    for (int i = 0; i < rounds; i++) {
        double t0 = now_us();
        void *h = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL || dlsym(h, "keel_module_entry") == NULL) {
            fprintf(stderr, "bench_swap: %s\n", dlerror());
            return 1;
        }
        dlclose(h);
        v[i] = now_us() - t0;
    }
    report("dlopen_dlclose_base_namespace", v, rounds, 0);
    double baseline = v[rounds / 2];

    /* 2. namespace swap through the shim */
    keel_error err = {0};
    keel_shim *shim = NULL;
    keel_shim_ns *ns = NULL;
    const char *shim_path = getenv("KEEL_LIBC_SHIM");
    if (shim_path == NULL) {
        fprintf(stderr, "bench_swap: set KEEL_LIBC_SHIM to the built keel-libc-shim.so\n");
        return 2;
    }
    if (keel_shim_create(shim_path, &shim, &err) != KEEL_OK || keel_shim_ns_open(shim, &ns, &err) != KEEL_OK) {
        fprintf(stderr, "bench_swap: %s\n", err.message);
        return 1;
    }
    char copies[2][4200];
    for (int k = 0; k < 2; k++) {
        snprintf(copies[k], sizeof copies[k], "%s/module-%d.so", work, k);
        copy_file(argv[2], copies[k]);
    }
    void *old = dlmopen(keel_shim_ns_lmid(ns), copies[1], RTLD_NOW | RTLD_LOCAL);
    for (int i = 0; i < rounds; i++) {
        double t0 = now_us();
        void *h = dlmopen(keel_shim_ns_lmid(ns), copies[i % 2], RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "bench_swap: %s\n", dlerror());
            return 1;
        }
        keel_shim_ns_patch(ns, &err);
        dlclose(old);
        old = h;
        v[i] = now_us() - t0;
    }
    dlclose(old);
    report("namespace_swap_load_new_close_old", v, rounds, baseline);

    /* 4. memory per namespace (before the loader adds its own) */
    long before = pss_kb();
    keel_shim_ns *extra[14] = {0};
    int opened = 0;
    for (; opened < 13; opened++)
        if (keel_shim_ns_open(shim, &extra[opened], &err) != KEEL_OK)
            break;
    long after = pss_kb();
    printf("{\"bench\": \"namespace_memory\", \"namespaces\": %d, \"pss_kb_before\": %ld, "
           "\"pss_kb_after\": %ld, \"pss_kb_per_namespace\": %.1f}\n", opened, before, after,
           opened ? (double)(after - before) / opened : 0.0);
    for (int k = 0; k < opened; k++)
        keel_shim_ns_close(extra[k]);
    keel_shim_ns_close(ns);
    keel_shim_destroy(shim);

    /* 3. full keel swap through bundles */
    keel_loader_options opts = {.work_dir = work};
    keel_loader *l = NULL;
    if (keel_loader_create(&opts, &l, &err) != KEEL_OK) {
        fprintf(stderr, "bench_swap: %s\n", err.message);
        return 1;
    }
    char bundles[2][4200];
    snprintf(bundles[0], sizeof bundles[0], "%s/greeter-1.0.0.keel", argv[1]);
    snprintf(bundles[1], sizeof bundles[1], "%s/greeter-2.0.0.keel", argv[1]);
    keel_instance *cur = NULL;
    for (int i = -1; i < rounds; i++) {
        double t0 = now_us();
        keel_instance *next = NULL;
        if (keel_loader_install(l, bundles[(i + 2) % 2], &next, &err) != KEEL_OK ||
            keel_instance_start(next, 1, &err) != KEEL_OK) {
            fprintf(stderr, "bench_swap: %s\n", err.message);
            return 1;
        }
        keel_registration r;
        char out[64];
        if (keel_instance_service_at(next, 0, &r) == 0)
            ((int (*)(const char *, char *, size_t))r.fn)("bench", out, sizeof out);
        if (cur != NULL && keel_loader_uninstall(l, cur, &err) != KEEL_OK) {
            fprintf(stderr, "bench_swap: %s\n", err.message);
            return 1;
        }
        cur = next;
        if (i >= 0)
            v[i] = now_us() - t0;
    }
    report("keel_bundle_swap_install_start_call_uninstall", v, rounds, baseline);
    keel_loader_destroy(l);
    rmdir(work);
    free(v);
    return 0;
}

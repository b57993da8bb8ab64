/*
 * keel-swap-demo: loads the sample bundles into one process and hot-swaps
 * greeter v1 <-> v2 while it keeps answering, then prints what happened.
 *
 *   keel-swap-demo BUNDLE_DIR [SWAPS]
 *
 * BUNDLE_DIR holds greeter-1.0.0.keel, greeter-2.0.0.keel, shout-1.0.0.keel
 * and whisper-1.0.0.keel (the build's samples/ directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>

typedef int (*greet_fn)(const char *who, char *out, size_t size);
typedef void (*text_fn)(const char *in, char *out, size_t size);

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void (*service(keel_instance *inst, const char *scene, const char *name))(void)
{
    keel_registration r;
    for (size_t i = 0; keel_instance_service_at(inst, i, &r) == 0; i++)
        if (strcmp(r.scene, scene) == 0 && strcmp(r.name, name) == 0)
            return r.fn;
    return NULL;
}

static keel_instance *install_start(keel_loader *l, const char *dir, const char *bundle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.keel", dir, bundle);
    keel_instance *inst = NULL;
    keel_error err = {0};
    if (keel_loader_install(l, path, &inst, &err) != KEEL_OK ||
        keel_instance_start(inst, 1, &err) != KEEL_OK) {
        fprintf(stderr, "keel-swap-demo: %s\n", err.message);
        exit(1);
    }
    return inst;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: keel-swap-demo BUNDLE_DIR [SWAPS]\n");
        return 2;
    }
    const char *dir = argv[1];
    int swaps = argc > 2 ? atoi(argv[2]) : 1000;
    if (swaps < 2)
        swaps = 2;
    keel_log_set_level(KEEL_LOG_WARN);
    char work[] = "/tmp/keel-demo-XXXXXX";
    if (mkdtemp(work) == NULL) {
        perror("keel-swap-demo: mkdtemp");
        return 1;
    }
    keel_loader_options opts = {.work_dir = work};
    keel_loader *l = NULL;
    keel_error err = {0};
    if (keel_loader_create(&opts, &l, &err) != KEEL_OK) {
        fprintf(stderr, "keel-swap-demo: %s\n", err.message);
        return 1;
    }
    printf("== keel: one base, several modules, isolated namespaces\n");
    keel_instance *shout = install_start(l, dir, "shout-1.0.0");
    keel_instance *whisper = install_start(l, dir, "whisper-1.0.0");
    char a[128], b[128];
    ((text_fn)service(shout, "loud", "shout"))("Hot swap in C", a, sizeof a);
    ((text_fn)service(whisper, "quiet", "whisper"))("Hot swap in C", b, sizeof b);
    printf("shout   (namespace %d, its own libtextfmt.so.1): %s\n", keel_instance_namespace(shout), a);
    printf("whisper (namespace %d, its own libtextfmt.so.1): %s\n", keel_instance_namespace(whisper), b);

    printf("\n== hot swap greeter v1 -> v2 -> v1 ... %d times, a call after every swap\n", swaps);
    keel_instance *cur = install_start(l, dir, "greeter-1.0.0");
    long rss_start = rss_kb();
    double *lat = calloc((size_t)swaps, sizeof *lat);
    int answered[2] = {0, 0}, failed = 0;
    char first[2][128] = {"", ""};
    for (int i = 0; i < swaps; i++) {
        int v2 = i % 2 == 0;
        double t0 = now_ms();
        keel_instance *next = install_start(l, dir, v2 ? "greeter-2.0.0" : "greeter-1.0.0");
        greet_fn greet = (greet_fn)service(next, "default", "greet");
        char out[128];
        if (greet == NULL || greet("operator", out, sizeof out) <= 0) {
            failed++;
        } else {
            lat[i] = now_ms() - t0;
            answered[v2]++;
            if (first[v2][0] == '\0')
                snprintf(first[v2], sizeof first[v2], "%s", out);
        }
        if (keel_loader_uninstall(l, cur, &err) != KEEL_OK) {
            fprintf(stderr, "keel-swap-demo: %s\n", err.message);
            failed++;
        }
        cur = next;
    }
    long rss_end = rss_kb();
    qsort(lat, (size_t)swaps, sizeof *lat, by_value);
    printf("v1 said: %s\nv2 said: %s\n", first[0], first[1]);
    printf("calls answered by v1: %d, by v2: %d, failed: %d\n", answered[0], answered[1], failed);
    printf("bundle on disk -> verified, loaded, started, first call: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
           lat[swaps / 2], lat[swaps * 99 / 100], lat[swaps - 1]);
    printf("RSS %ld kB before the swaps, %ld kB after; namespaces in use: %zu\n", rss_start, rss_end,
           keel_loader_namespace_count(l));
    char *leaks = keel_loader_leaks(l);
    printf("leaks: %s\n", leaks ? leaks : "none");
    free(leaks);
    free(lat);
    keel_loader_destroy(l);
    rmdir(work);
    return failed == 0 ? 0 : 1;
}

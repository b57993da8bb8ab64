/*
 * bench_router: the cost of calls and messages through the router, against
 * a direct function-pointer call measured in the same run.
 *
 *   bench_router TEST_MODULES_DIR [CALLS]
 *
 * Loads the counter test module (a real .so in its own namespace) and
 * measures, per call: a direct call through a function pointer (the
 * limit), a typed call through the router (enter, call, leave), a dynamic
 * JSON call; then messages per second from one publisher to the module.
 * Prints one JSON object per measurement.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>
#include <keel/router.h>

typedef int64_t (*add_fn)(int64_t, int64_t);

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Mirrors counter.c's message payload. */
typedef struct tick {
    uint64_t seq;
    atomic_uint *seen;
    atomic_uint *by_version;
    atomic_ullong *last_seq;
    atomic_uint *out_of_order;
} tick;

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of 9 rounds of `calls` calls each, in ns per call. */
#define ROUNDS 9

static void report(const char *name, double *rounds, double baseline)
{
    qsort(rounds, ROUNDS, sizeof *rounds, by_value);
    printf("{\"bench\": \"%s\", \"ns_per_call_median\": %.2f, \"ns_per_call_best\": %.2f, "
           "\"ratio_to_direct\": %.2f}\n", name, rounds[ROUNDS / 2], rounds[0],
           baseline > 0 ? rounds[ROUNDS / 2] / baseline : 1.0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_router TEST_MODULES_DIR [CALLS]\n");
        return 2;
    }
    long calls = argc > 2 ? atol(argv[2]) : 5000000;
    keel_log_set_level(KEEL_LOG_ERROR);
    char work[] = "/tmp/keel-bench-router-XXXXXX";
    if (mkdtemp(work) == NULL)
        return 1;
    keel_loader_options opts = {.work_dir = work, .router = {.overflow = KEEL_OVERFLOW_BLOCK}};
    keel_loader *l = NULL;
    keel_instance *inst = NULL;
    keel_error err = {0};
    char bundle[4096];
    snprintf(bundle, sizeof bundle, "%s/counter-1.keel", argv[1]);
    if (keel_loader_create(&opts, &l, &err) != KEEL_OK || keel_loader_install(l, bundle, &inst, &err) != KEEL_OK ||
        keel_instance_start(inst, 1, &err) != KEEL_OK) {
        fprintf(stderr, "bench_router: %s\n", err.message);
        return 1;
    }
    keel_router *r = keel_loader_router(l);
    keel_router_ref *ref = NULL;
    if (keel_router_resolve(r, NULL, "counting", "add", &ref, &err) != KEEL_OK)
        return 1;
    keel_call probe;
    keel_router_enter(ref, NULL, &probe);
    add_fn volatile direct = (add_fn)probe.fn;
    keel_router_leave(&probe);

    double rounds[ROUNDS];
    volatile int64_t sink = 0;
    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now_ns();
        for (long i = 0; i < calls; i++)
            sink += direct(i, 1);
        rounds[k] = (now_ns() - t0) / (double)calls;
    }
    report("direct_function_pointer", rounds, 0);
    double baseline = rounds[ROUNDS / 2];

    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now_ns();
        for (long i = 0; i < calls; i++) {
            keel_call c;
            if (keel_router_enter(ref, NULL, &c) != KEEL_OK)
                return 1;
            sink += ((add_fn)c.fn)(i, 1);
            keel_router_leave(&c);
        }
        rounds[k] = (now_ns() - t0) / (double)calls;
    }
    report("typed_call_through_router", rounds, baseline);

    long dyn = calls / 20;
    for (int k = 0; k < ROUNDS; k++) {
        double t0 = now_ns();
        for (long i = 0; i < dyn; i++) {
            char *result = NULL;
            if (keel_router_call_json(ref, NULL, "[1234,5678]", 11, &result, &err) != KEEL_OK)
                return 1;
            free(result);
        }
        rounds[k] = (now_ns() - t0) / (double)dyn;
    }
    report("dynamic_json_call", rounds, baseline);

    long messages = calls / 5;
    atomic_uint *seen = calloc((size_t)messages + 1, sizeof *seen);
    atomic_uint by_version[4] = {0};
    atomic_ullong last = 0;
    atomic_uint disorder = 0;
    double t0 = now_ns();
    for (long i = 1; i <= messages; i++) {
        tick t = {(uint64_t)i, seen, by_version, &last, &disorder};
        if (keel_router_publish(r, NULL, "counting", "ticks", &t, sizeof t, 0, NULL, &err) != KEEL_OK)
            return 1;
    }
    keel_router_flush(r, 60000);
    double seconds = (now_ns() - t0) / 1e9;
    printf("{\"bench\": \"messages_one_publisher_one_subscriber\", \"messages\": %ld, "
           "\"delivered_per_second\": %.0f, \"out_of_order\": %u, \"delivered\": %u}\n",
           messages, (double)messages / seconds, atomic_load(&disorder), atomic_load(&by_version[1]));
    free(seen);
    keel_router_ref_release(ref);
    keel_loader_destroy(l);
    rmdir(work);
    (void)sink;
    return 0;
}

/*
 * bench_endurance: swap one module 100,000 times and check that the base
 * process ends where it started.
 *
 *   bench_endurance SAMPLES_DIR [--quick]
 *
 * shout and whisper are loaded first: their private libtextfmt builds
 * share a SONAME, so they force two namespaces, and greeter is swapped
 * v1 -> v2 -> v1 ... among them (install next, start it active, one call
 * through the router, uninstall the previous). After one warm-up swap the
 * process counters are recorded; at the end they must be back.
 *
 * The baseline of the swap time is what the dynamic loader alone costs: a
 * plain dlopen + dlsym + dlclose of the same greeter object in the base
 * namespace, measured in the same run.
 *
 * Prints JSON rows (bench_common.h) on stdout, group "endurance".
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>
#include <keel/router.h>

#include "bench_common.h"

#define PROGRESS_EVERY 10000
#define MAX_CHECKPOINTS 64

typedef int (*greet_fn)(const char *who, char *out, size_t size);

/* What the process holds at one moment. */
typedef struct counters {
    long rss_kb, pss_kb;
    int fds, maps;
    size_t namespaces;
    int leaks;          /* leak records of the loader */
} counters;

typedef struct bench {
    const char *samples;
    char *work;
    keel_loader *loader;
    keel_instance *cur;
    keel_router_ref *greet;
    char bundle[2][4096];      /* greeter-1.0.0, greeter-2.0.0 */
    int swaps, done;
    double *swap_ns;           /* one per measured swap */
    double *dl_ns;             /* one per plain dlopen cycle */
    int dl_runs;
    counters start, end;
    long rss_series[MAX_CHECKPOINTS];
    int checkpoints;
    keel_error err;
    char failed_at[96];
} bench;

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_endurance: %s: %s\n", what, why);
    return -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s != NULL && *s; s++)
        n += *s == '\n' || s[1] == '\0';
    return n;
}

static void snapshot(keel_loader *l, counters *c)
{
    c->rss_kb = bench_rss_kb();
    c->pss_kb = bench_pss_kb();
    c->fds = bench_fd_count();
    c->maps = bench_map_count();
    c->namespaces = keel_loader_namespace_count(l);
    char *leaks = keel_loader_leaks(l);
    c->leaks = count_lines(leaks);
    free(leaks);
}

/* --- the baseline: the dynamic loader alone ------------------------------- */

static int plain_dlopen_cycle(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return fail(path, dlerror());
    int ok = dlsym(h, KEEL_MODULE_ENTRY_SYMBOL) != NULL;
    if (dlclose(h) != 0 || !ok)
        return fail(path, "dlsym or dlclose failed");
    return 0;
}

static int measure_dlopen(bench *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/greeter-v1.so", b->samples);
    if (plain_dlopen_cycle(path) != 0) /* warm the file cache and libdl */
        return -1;
    for (int i = 0; i < b->dl_runs; i++) {
        double t0 = bench_now_ns();
        if (plain_dlopen_cycle(path) != 0)
            return -1;
        b->dl_ns[i] = bench_now_ns() - t0;
    }
    return 0;
}

/* --- one swap -------------------------------------------------------------- */

/* One call of greet through the router; checks that `edition` answered. */
static keel_status greet_once(keel_router_ref *ref, const char *edition, keel_error *err)
{
    keel_call call;
    keel_status st = keel_router_enter(ref, NULL, &call);
    if (st != KEEL_OK)
        return keel_error_set(err, st, "greet: %s", keel_status_name(st));
    char out[128];
    ((greet_fn)call.fn)("x", out, sizeof out);
    keel_router_leave(&call);
    if (strstr(out, edition) == NULL)
        return keel_error_set(err, KEEL_ERR_STATE, "greet answered \"%s\", expected greeter %s", out, edition);
    return KEEL_OK;
}

/* Install the next version, start it active (the old one leaves routing),
 * call it once, uninstall the previous one. */
static keel_status swap_once(bench *b, int i)
{
    static const char *const editions[2] = {"v1", "v2"};
    keel_instance *next = NULL;
    keel_status st = keel_loader_install(b->loader, b->bundle[i % 2], &next, &b->err);
    if (st == KEEL_OK)
        st = keel_instance_start(next, 1, &b->err);
    if (st == KEEL_OK)
        st = greet_once(b->greet, editions[i % 2], &b->err);
    if (st == KEEL_OK)
        st = keel_loader_uninstall(b->loader, b->cur, &b->err);
    if (st == KEEL_OK)
        b->cur = next;
    return st;
}

static void progress(bench *b, int i, double started_ns)
{
    long rss = bench_rss_kb();
    if (b->checkpoints < MAX_CHECKPOINTS)
        b->rss_series[b->checkpoints++] = rss;
    fprintf(stderr, "bench_endurance: %d/%d swaps, %.1f s, rss %ld kB, fds %d, maps %d, namespaces %zu\n",
            i, b->swaps, (bench_now_ns() - started_ns) / 1e9, rss, bench_fd_count(), bench_map_count(),
            keel_loader_namespace_count(b->loader));
}

/* Swap 0 is the warm-up (namespaces and lazily bound symbols settle);
 * swaps 1..swaps are measured. Stops at the first failure. */
static int run_swaps(bench *b)
{
    if (swap_once(b, 1) != KEEL_OK) {
        snprintf(b->failed_at, sizeof b->failed_at, "warm-up swap");
        return -1;
    }
    snapshot(b->loader, &b->start);
    b->rss_series[b->checkpoints++] = b->start.rss_kb;
    double started = bench_now_ns();
    for (int i = 1; i <= b->swaps; i++) {
        double t0 = bench_now_ns();
        if (swap_once(b, i + 1) != KEEL_OK) {
            snprintf(b->failed_at, sizeof b->failed_at, "swap %d (%d of %d completed)", i, i - 1, b->swaps);
            return -1;
        }
        b->swap_ns[i - 1] = bench_now_ns() - t0;
        b->done = i;
        if (i % PROGRESS_EVERY == 0)
            progress(b, i, started);
    }
    snapshot(b->loader, &b->end);
    return 0;
}

/* --- setup ----------------------------------------------------------------- */

static int install_started(bench *b, const char *bundle, keel_instance **out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.keel", b->samples, bundle);
    keel_instance *inst = NULL;
    if (keel_loader_install(b->loader, path, &inst, &b->err) != KEEL_OK ||
        keel_instance_start(inst, 1, &b->err) != KEEL_OK)
        return fail(bundle, b->err.message);
    if (out != NULL)
        *out = inst;
    return 0;
}

static int setup(bench *b)
{
    for (int v = 0; v < 2; v++) {
        snprintf(b->bundle[v], sizeof b->bundle[v], "%s/greeter-%d.0.0.keel", b->samples, v + 1);
        if (access(b->bundle[v], R_OK) != 0)
            return fail(b->bundle[v], "bundle not built");
    }
    /* Allocated and touched before the first snapshot, so that filling them
     * does not count as RSS growth of the swaps. */
    b->swap_ns = calloc((size_t)b->swaps, sizeof *b->swap_ns);
    b->dl_ns = calloc((size_t)b->dl_runs, sizeof *b->dl_ns);
    if (b->swap_ns == NULL || b->dl_ns == NULL)
        return fail("setup", "out of memory");
    memset(b->swap_ns, 0xff, (size_t)b->swaps * sizeof *b->swap_ns);
    if ((b->work = bench_tmpdir("endurance")) == NULL)
        return fail("work directory", strerror(errno));
    keel_loader_options opts = {.work_dir = b->work, .stop_timeout_ms = 2000};
    if (keel_loader_create(&opts, &b->loader, &b->err) != KEEL_OK)
        return fail("loader", b->err.message);
    if (install_started(b, "shout-1.0.0", NULL) != 0 || install_started(b, "whisper-1.0.0", NULL) != 0 ||
        install_started(b, "greeter-1.0.0", &b->cur) != 0)
        return -1;
    if (keel_router_resolve(keel_loader_router(b->loader), NULL, "default", "greet", &b->greet, &b->err) != KEEL_OK)
        return fail("resolve default/greet", b->err.message);
    return 0;
}

static void teardown(bench *b)
{
    keel_router_ref_release(b->greet);
    keel_loader_destroy(b->loader);
    bench_rmtree(b->work);
    free(b->work);
    free(b->swap_ns);
    free(b->dl_ns);
}

/* --- rows ---------------------------------------------------------------------- */

static void counter_row(const char *name, double start, double end, const char *common)
{
    char extra[256];
    snprintf(extra, sizeof extra, "\"start\": %.0f, \"end\": %.0f, %s", start, end, common);
    bench_row("endurance", name, "count", end, end, "start", start, "back to baseline", end == start, extra);
}

static int rss_series_json(const bench *b, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < b->checkpoints && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%ld", i ? ", " : "", b->rss_series[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, "]");
    return used < size ? 0 : -1;
}

static void print_rows(bench *b)
{
    char common[64], extra[1024], series[768];
    snprintf(common, sizeof common, "\"swaps\": %d", b->swaps);
    int failures = b->done < b->swaps;
    snprintf(extra, sizeof extra, "\"namespaces\": %zu, %s", b->start.namespaces, common);
    bench_row("endurance", "swaps completed", "count", b->done, b->done, NULL, 0, NULL, -1, extra);
    bench_row("endurance", "failed swaps", "count", failures, failures, NULL, 0, "0 failures", !failures, common);

    long growth = b->end.rss_kb - b->start.rss_kb;
    if (rss_series_json(b, series, sizeof series) != 0)
        snprintf(series, sizeof series, "null");
    snprintf(extra, sizeof extra,
             "\"rss_start_kb\": %ld, \"rss_end_kb\": %ld, \"pss_start_kb\": %ld, \"pss_end_kb\": %ld, "
             "\"pss_growth_kb\": %ld, \"rss_kb_every_%d_swaps\": %s, %s",
             b->start.rss_kb, b->end.rss_kb, b->start.pss_kb, b->end.pss_kb, b->end.pss_kb - b->start.pss_kb,
             PROGRESS_EVERY, series, common);
    bench_row("endurance", "RSS growth", "kB", (double)growth, (double)growth, NULL, 0, "< 1 MB",
              growth < 1024, extra);

    counter_row("open fds", b->start.fds, b->end.fds, common);
    counter_row("file-backed mappings", b->start.maps, b->end.maps, common);
    counter_row("namespaces", (double)b->start.namespaces, (double)b->end.namespaces, common);
    counter_row("unload leak records", b->start.leaks, b->end.leaks, common);

    double dl50 = bench_percentile(b->dl_ns, (size_t)b->dl_runs, 50) / 1e6;
    double dl99 = bench_percentile(b->dl_ns, (size_t)b->dl_runs, 99) / 1e6;
    snprintf(extra, sizeof extra, "\"baseline_p99_ms\": %.4f, \"baseline_runs\": %d, %s", dl99, b->dl_runs, common);
    bench_row("endurance", "swap (install + start + call + uninstall)", "ms",
              bench_percentile(b->swap_ns, (size_t)b->swaps, 50) / 1e6,
              bench_percentile(b->swap_ns, (size_t)b->swaps, 99) / 1e6,
              "plain dlopen + dlsym + dlclose of greeter-v1.so", dl50, NULL, -1, extra);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_endurance SAMPLES_DIR [--quick]\n");
        return 2;
    }
    /* Two log lines per swap would flood stderr and time the terminal. */
    if (getenv("KEEL_LOG_LEVEL") == NULL)
        keel_log_set_level(KEEL_LOG_WARN);
    int quick = bench_quick(argc, argv);
    bench b = {.samples = argv[1], .swaps = quick ? 2000 : 100000, .dl_runs = quick ? 200 : 2000};
    int rc = setup(&b) == 0 && measure_dlopen(&b) == 0 ? 0 : -1;
    if (rc == 0 && run_swaps(&b) != 0)
        rc = fail(b.failed_at, b.err.message);
    if (rc == 0)
        print_rows(&b);
    teardown(&b);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

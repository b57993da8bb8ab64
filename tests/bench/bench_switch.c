/*
 * bench_switch: version switches under continuous calls.
 *
 *   bench_switch TEST_MODULES_DIR [--quick]
 *
 * One caller thread per online core calls counter's "version" service
 * through the router back to back and times every call (we want the worst
 * one, so no batching). The main thread runs three phases: 1 s of calls
 * alone, then K switch cycles (install the other version inactive, switch,
 * uninstall the old one: the cycle of the integration test), then 1 s of
 * calls alone again. Calls are also counted per 10 ms window, so a dip in
 * throughput while a switch drains shows up even when the mean hides it.
 *
 * Prints JSON rows (bench_common.h) on stdout, group "switch".
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>
#include <keel/router.h>

#include "bench_common.h"

#define WINDOW_NS 10000000ull          /* throughput window: 10 ms */
#define MAX_WINDOWS 60000u             /* 10 minutes of windows */
#define PHASE_NS 1000000000ull         /* the calm phases before and after */
#define WARMUP_NS 100000000ull         /* first calls register reader records */
#define SLOW_CALL_NS 1000000ull        /* the goal: no call above 1 ms */
#define CHECK_NS 100000ull             /* calls above 100 us: was the thread switched out? */

/* Latency histogram: 32 sub-buckets per power of two (about 3 % wide),
 * exact below 32 ns. Storing every sample would take gigabytes at tens of
 * millions of calls per second per thread. */
#define SUB_BITS 5u
#define SUBS (1u << SUB_BITS)
#define HIST_SIZE (64u * SUBS)

enum phase { WARMUP, BEFORE, DURING, AFTER, STOP };
#define MEASURED 3   /* BEFORE, DURING, AFTER */
static const char *const phase_names[MEASURED] = {"before", "during", "after"};

typedef struct phase_stats {
    uint64_t calls;
    uint64_t failed;        /* enter failed or an answer from no known version */
    uint64_t slow;          /* calls above SLOW_CALL_NS */
    uint64_t worst_ns;
    /* With as many callers as cores plus the switching thread, the
     * scheduler preempts callers for whole time slices (milliseconds);
     * such calls are told apart from calls that were slow on the CPU or
     * blocked inside keel (a voluntary switch: a lock or a wait). */
    uint64_t preempted;     /* calls > CHECK_NS with an involuntary switch */
    uint64_t blocked;       /* calls > CHECK_NS with a voluntary switch */
    uint64_t worst_unpreempted_ns;
    uint64_t by_version[3]; /* answers of counter v1 and v2 */
    uint64_t *hist;         /* HIST_SIZE buckets */
} phase_stats;

typedef struct shared {
    keel_router_ref *ref;
    atomic_int phase;
    uint64_t t0;            /* start of window 0 */
} shared;

/* One caller thread; aligned so that neighbours never share a cache line. */
typedef struct caller {
    _Alignas(64) shared *sh;
    pthread_t thread;
    phase_stats ph[MEASURED];
    uint32_t *windows;      /* calls finished in each 10 ms window */
} caller;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static unsigned hist_index(uint64_t v)
{
    if (v < SUBS)
        return (unsigned)v;
    unsigned shift = 63u - (unsigned)__builtin_clzll(v) - SUB_BITS;
    return (shift + 1u) * SUBS + (unsigned)((v >> shift) - SUBS);
}

/* The middle of bucket i, in ns. */
static double hist_value(unsigned i)
{
    if (i < SUBS)
        return i;
    unsigned shift = i / SUBS - 1u;
    double low = (double)((uint64_t)(i % SUBS + SUBS) << shift);
    return low + (double)(1ull << shift) / 2.0;
}

static double hist_percentile(const uint64_t *hist, double p)
{
    uint64_t total = 0, seen = 0;
    for (unsigned i = 0; i < HIST_SIZE; i++)
        total += hist[i];
    uint64_t target = (uint64_t)(p / 100.0 * (double)total + 0.5);
    for (unsigned i = 0; i < HIST_SIZE; i++) {
        seen += hist[i];
        if (seen >= target && seen > 0)
            return hist_value(i);
    }
    return 0;
}

/* Context switches of the calling thread since the last look. */
typedef struct switches_seen {
    long voluntary, involuntary;
} switches_seen;

static void look(switches_seen *seen, long *voluntary, long *involuntary)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0) { /* cannot tell: count as preempted */
        *voluntary = 0;
        *involuntary = 1;
        return;
    }
    *voluntary = ru.ru_nvcsw - seen->voluntary;
    *involuntary = ru.ru_nivcsw - seen->involuntary;
    seen->voluntary = ru.ru_nvcsw;
    seen->involuntary = ru.ru_nivcsw;
}

/* A slow call: was its thread switched out since the last look (at most
 * one 10 ms window ago)? Returns non-zero when it was preempted. */
static int classify(phase_stats *ps, switches_seen *seen)
{
    long voluntary, involuntary;
    look(seen, &voluntary, &involuntary);
    ps->blocked += voluntary > 0;
    ps->preempted += involuntary > 0;
    return involuntary > 0;
}

static void record(phase_stats *ps, keel_status st, int64_t answer, uint64_t ns, switches_seen *seen)
{
    ps->calls++;
    if (st != KEEL_OK || answer < 1 || answer > 2)
        ps->failed++;
    else
        ps->by_version[answer]++;
    ps->slow += ns > SLOW_CALL_NS;
    if (ns > ps->worst_ns)
        ps->worst_ns = ns;
    int preempted = ns > CHECK_NS && classify(ps, seen);
    if (!preempted && ns > ps->worst_unpreempted_ns)
        ps->worst_unpreempted_ns = ns;
    ps->hist[hist_index(ns)]++;
}

/* One typed call of counting/version; its answer or -1. */
static int64_t call_version(keel_router_ref *ref, keel_status *st)
{
    keel_call call;
    *st = keel_router_enter(ref, NULL, &call);
    if (*st != KEEL_OK)
        return -1;
    int64_t v = ((int64_t (*)(void))call.fn)();
    keel_router_leave(&call);
    return v;
}

static void *caller_main(void *arg)
{
    caller *c = arg;
    shared *sh = c->sh;
    uint64_t window_end = sh->t0 + WINDOW_NS;
    size_t w = 0;
    switches_seen seen = {0, 0};
    long ignored_v, ignored_i;
    look(&seen, &ignored_v, &ignored_i);
    for (;;) {
        int p = atomic_load_explicit(&sh->phase, memory_order_relaxed);
        if (p == STOP)
            break;
        uint64_t t1 = now_ns();
        keel_status st;
        int64_t v = call_version(sh->ref, &st);
        uint64_t t2 = now_ns();
        if (p != WARMUP)
            record(&c->ph[p - BEFORE], st, v, t2 - t1, &seen);
        if (t2 >= window_end) {
            while (t2 >= window_end) {
                window_end += WINDOW_NS;
                w++;
            }
            look(&seen, &ignored_v, &ignored_i); /* keeps the next slow call's view short */
        }
        if (w < MAX_WINDOWS)
            c->windows[w]++;
    }
    return NULL;
}

/* --- the switching side ------------------------------------------------- */

typedef struct cycle_times {
    double *total, *install, *flip, *uninstall;   /* ns, one per switch */
} cycle_times;

static int install_started(keel_loader *l, const char *path, int activate, keel_instance **out,
                           keel_error *err)
{
    if (keel_loader_install(l, path, out, err) != KEEL_OK)
        return -1;
    return keel_instance_start(*out, activate, err) == KEEL_OK ? 0 : -1;
}

/* Install the other version inactive, switch to it, uninstall the old one
 * (drain, stop, unload, verify), exactly as a deployment would. */
static int switch_cycle(keel_loader *l, const char *path, keel_instance **cur, cycle_times *ct,
                        int i, keel_error *err)
{
    double t0 = bench_now_ns();
    keel_instance *next = NULL;
    if (install_started(l, path, 0, &next, err) != 0)
        return -1;
    double t1 = bench_now_ns();
    if (keel_loader_switch(l, "counter", keel_instance_version(next), err) != KEEL_OK)
        return -1;
    double t2 = bench_now_ns();
    if (keel_loader_uninstall(l, *cur, err) != KEEL_OK)
        return -1;
    double t3 = bench_now_ns();
    *cur = next;
    ct->install[i] = t1 - t0;
    ct->flip[i] = t2 - t1;
    ct->uninstall[i] = t3 - t2;
    ct->total[i] = t3 - t0;
    return 0;
}

/* --- results -------------------------------------------------------------- */

typedef struct phase_result {
    uint64_t calls, failed, slow, worst_ns, by_version[3];
    uint64_t preempted, blocked, worst_unpreempted_ns;
    double seconds;
    double mean_rate, median_window_rate, low_window_rate, min_window_rate; /* calls/s */
    size_t windows;
    double p50_ns, p99_ns;
    uint64_t *hist;
} phase_result;

static void sum_phase(caller *callers, int n, int p, phase_result *r)
{
    for (int t = 0; t < n; t++) {
        const phase_stats *ps = &callers[t].ph[p];
        r->calls += ps->calls;
        r->failed += ps->failed;
        r->slow += ps->slow;
        r->preempted += ps->preempted;
        r->blocked += ps->blocked;
        if (ps->worst_unpreempted_ns > r->worst_unpreempted_ns)
            r->worst_unpreempted_ns = ps->worst_unpreempted_ns;
        r->by_version[1] += ps->by_version[1];
        r->by_version[2] += ps->by_version[2];
        if (ps->worst_ns > r->worst_ns)
            r->worst_ns = ps->worst_ns;
        for (unsigned i = 0; i < HIST_SIZE; i++)
            r->hist[i] += ps->hist[i];
    }
    r->p50_ns = hist_percentile(r->hist, 50);
    r->p99_ns = hist_percentile(r->hist, 99);
}

/* Rates of the 10 ms windows that lie wholly inside [start, end). */
static int window_rates(caller *callers, int n, uint64_t t0, uint64_t start, uint64_t end,
                        phase_result *r)
{
    size_t first = (size_t)((start - t0 + WINDOW_NS - 1) / WINDOW_NS);
    size_t last = (size_t)((end - t0) / WINDOW_NS);
    if (last > MAX_WINDOWS)
        last = MAX_WINDOWS;
    r->windows = last > first ? last - first : 0;
    if (r->windows == 0) { /* a phase shorter than a window: use the mean */
        r->median_window_rate = r->low_window_rate = r->min_window_rate = r->mean_rate;
        return 0;
    }
    double *rates = malloc(r->windows * sizeof *rates);
    if (rates == NULL)
        return -1;
    for (size_t w = first; w < last; w++) {
        uint64_t calls = 0;
        for (int t = 0; t < n; t++)
            calls += callers[t].windows[w];
        rates[w - first] = (double)calls * (1e9 / (double)WINDOW_NS);
    }
    r->median_window_rate = bench_percentile(rates, r->windows, 50);
    r->low_window_rate = bench_percentile(rates, r->windows, 1);
    r->min_window_rate = rates[0]; /* sorted by bench_percentile */
    free(rates);
    return 0;
}

static void print_rate_row(const phase_result *r, int p, const phase_result *before, const char *common)
{
    char name[64], extra[512];
    snprintf(name, sizeof name, "calls per second %s switching", phase_names[p]);
    snprintf(extra, sizeof extra,
             "\"mean_calls_per_s\": %.0f, \"calls\": %llu, \"seconds\": %.3f, \"windows_10ms\": %zu, "
             "\"min_window_calls_per_s\": %.0f, \"p99_is\": \"1st-percentile 10 ms window\", %s",
             r->mean_rate, (unsigned long long)r->calls, r->seconds, r->windows, r->min_window_rate,
             common);
    bench_row("switch", name, "calls/s", r->median_window_rate, r->low_window_rate,
              p == 0 ? NULL : "before", before->median_window_rate, NULL, -1, extra);
}

/* The worst call whose thread the scheduler did not switch out: what keel
 * itself costs a caller, without the time slices of other threads. */
static void print_unpreempted_row(const phase_result *r, const char *common)
{
    char extra[512];
    double worst_us = (double)r[1].worst_unpreempted_ns / 1e3;
    double before_us = (double)r[0].worst_unpreempted_ns / 1e3;
    snprintf(extra, sizeof extra,
             "\"worst_before_us\": %.1f, \"worst_after_us\": %.1f, \"preempted_calls_over_100us\": [%llu, %llu, %llu], "
             "\"blocked_calls_over_100us\": [%llu, %llu, %llu], \"phases\": [\"before\", \"during\", \"after\"], "
             "\"how\": \"getrusage(RUSAGE_THREAD) context switches around calls over 100 us\", %s",
             before_us, (double)r[2].worst_unpreempted_ns / 1e3, (unsigned long long)r[0].preempted,
             (unsigned long long)r[1].preempted, (unsigned long long)r[2].preempted,
             (unsigned long long)r[0].blocked, (unsigned long long)r[1].blocked,
             (unsigned long long)r[2].blocked, common);
    bench_row("switch", "worst call latency during switching, not preempted", "us", worst_us, worst_us,
              "worst call before switching, not preempted", before_us, "<= 1 ms", worst_us <= 1000.0, extra);
}

static void print_failed_row(const phase_result *r, const char *common)
{
    char extra[512];
    uint64_t failed = r[0].failed + r[1].failed + r[2].failed;
    snprintf(extra, sizeof extra,
             "\"failed_before\": %llu, \"failed_during\": %llu, \"failed_after\": %llu, "
             "\"calls_during\": %llu, \"answered_v1_during\": %llu, \"answered_v2_during\": %llu, %s",
             (unsigned long long)r[0].failed, (unsigned long long)r[1].failed,
             (unsigned long long)r[2].failed, (unsigned long long)r[1].calls,
             (unsigned long long)r[1].by_version[1], (unsigned long long)r[1].by_version[2], common);
    bench_row("switch", "failed calls", "count", (double)failed, (double)failed, NULL, 0, "0",
              failed == 0, extra);
}

static void print_worst_row(const phase_result *r, const char *common)
{
    char extra[512];
    double worst_us = (double)r[1].worst_ns / 1e3, worst_before_us = (double)r[0].worst_ns / 1e3;
    snprintf(extra, sizeof extra,
             "\"worst_before_us\": %.1f, \"worst_after_us\": %.1f, \"calls_over_1ms_during\": %llu, "
             "\"calls_over_1ms_before\": %llu, \"calls_over_1ms_after\": %llu, %s",
             worst_before_us, (double)r[2].worst_ns / 1e3, (unsigned long long)r[1].slow,
             (unsigned long long)r[0].slow, (unsigned long long)r[2].slow, common);
    bench_row("switch", "worst call latency during switching", "us", worst_us, worst_us,
              "worst call before switching", worst_before_us, "<= 1 ms", worst_us <= 1000.0, extra);
}

/* p50 and p99 of every call (from the histograms); ratio is p50's, the
 * p99 ratio is an extra field. */
static void print_latency_row(const phase_result *r, const char *common)
{
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"before_p50_ns\": %.1f, \"before_p99_ns\": %.1f, \"after_p50_ns\": %.1f, "
             "\"after_p99_ns\": %.1f, \"p99_ratio\": %.3g, \"timed_with\": \"two clock_gettime per call\", %s",
             r[0].p50_ns, r[0].p99_ns, r[2].p50_ns, r[2].p99_ns,
             r[0].p99_ns > 0 ? r[1].p99_ns / r[0].p99_ns : 0.0, common);
    bench_row("switch", "per-call latency during switching", "ns", r[1].p50_ns, r[1].p99_ns,
              "per-call latency before switching", r[0].p50_ns, NULL, -1, extra);
}

static void print_cycle_row(cycle_times *ct, int switches, const char *common)
{
    char extra[512];
    size_t n = (size_t)switches;
    snprintf(extra, sizeof extra,
             "\"install_start_p50_ms\": %.3f, \"switch_p50_ms\": %.3f, \"uninstall_p50_ms\": %.3f, "
             "\"uninstall_p99_ms\": %.3f, %s",
             bench_percentile(ct->install, n, 50) / 1e6, bench_percentile(ct->flip, n, 50) / 1e6,
             bench_percentile(ct->uninstall, n, 50) / 1e6, bench_percentile(ct->uninstall, n, 99) / 1e6,
             common);
    bench_row("switch", "switch cycle (install + switch + drain + unload old)", "ms",
              bench_percentile(ct->total, n, 50) / 1e6, bench_percentile(ct->total, n, 99) / 1e6, NULL, 0,
              NULL, -1, extra);
}

static void print_rows(const phase_result *r, cycle_times *ct, int switches, int threads)
{
    char common[128];
    snprintf(common, sizeof common, "\"switches\": %d, \"threads\": %d", switches, threads);
    for (int p = 0; p < MEASURED; p++)
        print_rate_row(&r[p], p, &r[0], common);
    print_failed_row(r, common);
    print_worst_row(r, common);
    print_unpreempted_row(r, common);
    print_latency_row(r, common);
    print_cycle_row(ct, switches, common);
}

/* --- setup and teardown ------------------------------------------------------ */

typedef struct bench {
    char *work;
    keel_loader *loader;
    keel_instance *cur;
    shared sh;
    caller *callers;
    int threads, started;
    cycle_times ct;
    phase_result res[MEASURED];
    char bundle[2][4096];   /* counter-1, counter-2 */
} bench;

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_switch: %s: %s\n", what, why);
    return -1;
}

static int alloc_callers(bench *b)
{
    b->callers = aligned_alloc(64, sizeof(caller) * (size_t)b->threads);
    if (b->callers == NULL)
        return -1;
    memset(b->callers, 0, sizeof(caller) * (size_t)b->threads);
    for (int t = 0; t < b->threads; t++) {
        caller *c = &b->callers[t];
        c->sh = &b->sh;
        c->windows = calloc(MAX_WINDOWS, sizeof *c->windows);
        if (c->windows == NULL)
            return -1;
        for (int p = 0; p < MEASURED; p++)
            if ((c->ph[p].hist = calloc(HIST_SIZE, sizeof(uint64_t))) == NULL)
                return -1;
    }
    for (int p = 0; p < MEASURED; p++)
        if ((b->res[p].hist = calloc(HIST_SIZE, sizeof(uint64_t))) == NULL)
            return -1;
    return 0;
}

static int alloc_cycles(cycle_times *ct, int switches)
{
    ct->total = calloc((size_t)switches, sizeof(double));
    ct->install = calloc((size_t)switches, sizeof(double));
    ct->flip = calloc((size_t)switches, sizeof(double));
    ct->uninstall = calloc((size_t)switches, sizeof(double));
    return ct->total && ct->install && ct->flip && ct->uninstall ? 0 : -1;
}

static int setup(bench *b, const char *modules_dir)
{
    for (int v = 0; v < 2; v++) {
        snprintf(b->bundle[v], sizeof b->bundle[v], "%s/counter-%d.keel", modules_dir, v + 1);
        if (access(b->bundle[v], R_OK) != 0)
            return fail(b->bundle[v], "bundle not built");
    }
    if ((b->work = bench_tmpdir("switch")) == NULL)
        return fail("work directory", strerror(errno));
    keel_loader_options opts = {.work_dir = b->work, .stop_timeout_ms = 2000, .drain_timeout_ms = 5000};
    keel_error err = {0};
    if (keel_loader_create(&opts, &b->loader, &err) != KEEL_OK)
        return fail("loader", err.message);
    if (install_started(b->loader, b->bundle[0], 1, &b->cur, &err) != 0)
        return fail("counter-1", err.message);
    if (keel_router_resolve(keel_loader_router(b->loader), NULL, "counting", "version", &b->sh.ref, &err) != KEEL_OK)
        return fail("resolve counting/version", err.message);
    return 0;
}

static int start_callers(bench *b)
{
    atomic_init(&b->sh.phase, WARMUP);
    b->sh.t0 = now_ns();
    for (; b->started < b->threads; b->started++) {
        int rc = pthread_create(&b->callers[b->started].thread, NULL, caller_main, &b->callers[b->started]);
        if (rc != 0)
            return fail("pthread_create", strerror(rc));
    }
    return 0;
}

static void stop_callers(bench *b)
{
    atomic_store(&b->sh.phase, STOP);
    for (int t = 0; t < b->started; t++)
        pthread_join(b->callers[t].thread, NULL);
    b->started = 0;
}

static void teardown(bench *b)
{
    stop_callers(b);
    keel_router_ref_release(b->sh.ref);
    keel_loader_destroy(b->loader);
    bench_rmtree(b->work);
    free(b->work);
    for (int t = 0; b->callers != NULL && t < b->threads; t++) {
        free(b->callers[t].windows);
        for (int p = 0; p < MEASURED; p++)
            free(b->callers[t].ph[p].hist);
    }
    free(b->callers);
    for (int p = 0; p < MEASURED; p++)
        free(b->res[p].hist);
    free(b->ct.total);
    free(b->ct.install);
    free(b->ct.flip);
    free(b->ct.uninstall);
}

/* --- the run ------------------------------------------------------------------ */

static int run_switches(bench *b, int switches)
{
    keel_error err = {0};
    for (int i = 0; i < switches; i++) {
        /* counter-1 is active first, so even cycles go to counter-2. */
        if (switch_cycle(b->loader, b->bundle[(i + 1) % 2], &b->cur, &b->ct, i, &err) != 0) {
            char what[64];
            snprintf(what, sizeof what, "switch %d", i + 1);
            return fail(what, err.message);
        }
    }
    return 0;
}

/* Drives the phases; marks[p]..marks[p+1] is measured phase p. */
static int run_phases(bench *b, int switches, uint64_t marks[MEASURED + 1])
{
    sleep_ns(WARMUP_NS);
    marks[0] = now_ns();
    atomic_store(&b->sh.phase, BEFORE);
    sleep_ns(PHASE_NS);
    marks[1] = now_ns();
    atomic_store(&b->sh.phase, DURING);
    if (run_switches(b, switches) != 0)
        return -1;
    marks[2] = now_ns();
    atomic_store(&b->sh.phase, AFTER);
    sleep_ns(PHASE_NS);
    marks[3] = now_ns();
    stop_callers(b);
    return 0;
}

static int results(bench *b, const uint64_t marks[MEASURED + 1])
{
    for (int p = 0; p < MEASURED; p++) {
        phase_result *r = &b->res[p];
        sum_phase(b->callers, b->threads, p, r);
        r->seconds = (double)(marks[p + 1] - marks[p]) / 1e9;
        r->mean_rate = (double)r->calls / r->seconds;
        if (window_rates(b->callers, b->threads, b->sh.t0, marks[p], marks[p + 1], r) != 0)
            return fail("results", "out of memory");
    }
    return 0;
}

static int check_leaks(keel_loader *l)
{
    char *leaks = keel_loader_leaks(l);
    if (leaks == NULL)
        return 0;
    fail("unload leaks", leaks);
    free(leaks);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_switch TEST_MODULES_DIR [--quick]\n");
        return 2;
    }
    /* Module start/stop lines would flood stderr and time the terminal. */
    if (getenv("KEEL_LOG_LEVEL") == NULL)
        keel_log_set_level(KEEL_LOG_WARN);
    int switches = bench_quick(argc, argv) ? 20 : 200;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench b = {.threads = cores > 0 ? (int)cores : 1};
    uint64_t marks[MEASURED + 1];
    int rc = -1;
    if (alloc_callers(&b) != 0 || alloc_cycles(&b.ct, switches) != 0)
        fail("setup", "out of memory");
    else if (setup(&b, argv[1]) == 0 && start_callers(&b) == 0 && run_phases(&b, switches, marks) == 0 &&
             results(&b, marks) == 0 && check_leaks(b.loader) == 0)
        rc = 0;
    if (rc == 0) {
        print_rows(b.res, &b.ct, switches, b.threads);
        fprintf(stderr, "bench_switch: %d switches, %d caller threads, answers during: v1 %llu, v2 %llu\n",
                switches, b.threads, (unsigned long long)b.res[1].by_version[1],
                (unsigned long long)b.res[1].by_version[2]);
    }
    teardown(&b);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

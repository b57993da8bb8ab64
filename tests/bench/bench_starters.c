/*
 * bench_starters: what a call into a starter costs a module, and what an
 * upgrade in place costs the callers.
 *
 *   bench_starters PROBE_DIR [--quick]
 *
 * PROBE_DIR holds the test starter "probe" (tests/starters/host) in several
 * builds and its market. Rows (group "starters"):
 *   - a slot called through the starter's own table (the baseline: what a
 *     module would pay if it called the starter's code directly),
 *   - the same slot through the base's upgrade-safe table (a libffi
 *     trampoline that enters the current code and leaves it),
 *   - the wall time of an upgrade in place 1.0.0 -> 1.1.0 while two threads
 *     call, and the worst call those threads saw during it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keel/starter.h>
#include <keel/starter_set.h>
#include "bench_common.h"

#define BATCH 1000

typedef struct probe_client probe_client;
typedef struct probe_api {
    uint32_t version, size;
    keel_status (*add)(probe_client *c, int64_t delta, int64_t *out);
    keel_status (*code_version)(probe_client *c, char *buf, uint64_t size);
    keel_status (*sleep_ms)(probe_client *c, int64_t ms);
} probe_api;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_starters: %s: %s\n", what, detail);
    exit(1);
}

/* p50/p99 of `batches` batches of BATCH calls of t->add, per call. */
static void time_calls(const probe_api *t, probe_client *c, size_t batches, double *p50, double *p99)
{
    double *v = malloc(batches * sizeof *v);
    int64_t out = 0;
    for (size_t b = 0; b < batches; b++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < BATCH; i++)
            t->add(c, 1, &out);
        v[b] = (bench_now_ns() - t0) / BATCH;
    }
    *p50 = bench_percentile(v, batches, 50);
    *p99 = bench_percentile(v, batches, 99);
    free(v);
}

typedef struct caller {
    const probe_api *t;
    probe_client *c;
    atomic_int *stop;
    double worst_ns;
    long calls, failures;
} caller;

static void *call_loop(void *arg)
{
    caller *k = arg;
    int64_t out;
    while (!atomic_load(k->stop)) {
        double t0 = bench_now_ns();
        if (k->t->add(k->c, 1, &out) != KEEL_OK)
            k->failures++;
        double d = bench_now_ns() - t0;
        if (d > k->worst_ns)
            k->worst_ns = d;
        k->calls++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage", "bench_starters PROBE_DIR [--quick]");
    int quick = bench_quick(argc, argv);
    size_t batches = quick ? 200 : 20000;
    int upgrades = quick ? 3 : 40;
    char path[1024];

    /* Baseline: the starter's own table, straight from its .so. */
    snprintf(path, sizeof path, "%s/keel-starter-probe-1.0.0.so", argv[1]);
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        die("dlopen", dlerror());
    const keel_starter_def *def = ((keel_starter_entry_fn)dlsym(so, KEEL_STARTER_ENTRY_SYMBOL))();
    void *state = NULL;
    keel_starter_error serr = {{0}};
    static keel_starter_host host = {KEEL_STARTER_ABI_VERSION, sizeof(keel_starter_host), "probe",
                                     "1.0.0", "/tmp", NULL, NULL, NULL};
    if (def->create(&host, "{}", &state, &serr) != KEEL_OK)
        die("create", serr.message);
    const char *scenes[] = {"default", NULL};
    keel_starter_binding who = {"bench", "1.0.0", "bench@1.0.0", "default", scenes};
    void *direct_client = NULL;
    def->bind(state, &who, &direct_client, &serr);
    double direct50, direct99;
    time_calls(def->table, direct_client, batches, &direct50, &direct99);
    def->unbind(state, direct_client);
    def->destroy(state);

    /* Through the base: a starter set over the probe market. */
    char *work = bench_tmpdir("starters");
    keel_router *router = NULL;
    keel_router_options ropts = {0};
    keel_error err = {0};
    keel_market *market = NULL;
    snprintf(path, sizeof path, "%s/probe-market.json", argv[1]);
    keel_starter_set *set = NULL;
    keel_starter_set_options opts = {.work_dir = work, .drain_timeout_ms = 5000};
    if (keel_router_create(&ropts, &router, &err) != KEEL_OK ||
        keel_market_load(path, &market, &err) != KEEL_OK ||
        ((opts.router = router), keel_starter_set_create(&opts, market, &set, &err)) != KEEL_OK ||
        keel_starter_set_enable(set, "probe", "1.0.0", NULL, &err) != KEEL_OK)
        die("starter set", err.message);
    const void *table;
    void *client;
    if (keel_starter_set_bind(set, &who, "probe", NULL, &table, &client, &err) != KEEL_OK)
        die("bind", err.message);
    double base50, base99;
    time_calls(table, client, batches, &base50, &base99);
    bench_row("starters", "starter function through the starter's own table", "ns", direct50, direct99,
              NULL, 0, NULL, -1, NULL);
    char extra[160];
    snprintf(extra, sizeof extra, "\"timing\": \"batches of %d\"", BATCH);
    bench_row("starters", "starter function through the base's upgrade-safe table", "ns", base50, base99,
              "starter function through the starter's own table", direct50, NULL, -1, extra);

    /* Upgrades in place while two threads call; between rounds the
     * starter goes back to 1.0.0 by disabling and enabling it (1.1.0 ->
     * 1.0.0 would drop a function, which is refused in place). */
    double *ups = malloc((size_t)upgrades * sizeof *ups);
    double worst = 0;
    long calls = 0, failures = 0;
    for (int i = 0; i < upgrades; i++) {
        atomic_int stop = 0;
        caller k[2];
        pthread_t th[2];
        for (int j = 0; j < 2; j++) {
            k[j] = (caller){table, client, &stop, 0, 0, 0};
            pthread_create(&th[j], NULL, call_loop, &k[j]);
        }
        usleep(2000);
        double t0 = bench_now_ns();
        if (keel_starter_set_enable(set, "probe", "1.1.0", NULL, &err) != KEEL_OK)
            die("upgrade", err.message);
        ups[i] = (bench_now_ns() - t0) / 1e6;
        usleep(2000);
        atomic_store(&stop, 1);
        for (int j = 0; j < 2; j++) {
            pthread_join(th[j], NULL);
            worst = k[j].worst_ns > worst ? k[j].worst_ns : worst;
            calls += k[j].calls;
            failures += k[j].failures;
        }
        keel_starter_set_unbind(set, "probe", client);
        if (keel_starter_set_disable(set, "probe", &err) != KEEL_OK ||
            keel_starter_set_enable(set, "probe", "1.0.0", NULL, &err) != KEEL_OK ||
            keel_starter_set_bind(set, &who, "probe", NULL, &table, &client, &err) != KEEL_OK)
            die("reset", err.message);
    }
    snprintf(extra, sizeof extra, "\"upgrades\": %d, \"calls\": %ld, \"failed_calls\": %ld, "
             "\"worst_call_ms\": %.3f", upgrades, calls, failures, worst / 1e6);
    bench_row("starters", "upgrade in place 1.0.0 -> 1.1.0 under 2 calling threads", "ms",
              bench_percentile(ups, (size_t)upgrades, 50), bench_percentile(ups, (size_t)upgrades, 99),
              NULL, 0, "0 failed calls", failures == 0, extra);
    free(ups);
    keel_starter_set_unbind(set, "probe", client);
    keel_starter_set_destroy(set);
    keel_router_destroy(router);
    bench_rmtree(work);
    free(work);
    dlclose(so);
    return failures == 0 ? 0 : 1;
}

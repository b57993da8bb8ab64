/*
 * bench_scale: many modules in one base.
 *
 * For N in 1, 10, 50, 100, 200 (quick: 1, 10, 20) modules loaded at once:
 *   - install + start time of the N-th module: installed once, then
 *     uninstalled and installed again a few times while the other N-1 stay
 *   - RSS and PSS per module: (now - before the first module) / N, from
 *     /proc; and that minus the module object's own mapped code and data
 *     (keel_instance_mapped_bytes), which the goal leaves out
 *   - a typed call through the router with N loaded, against N = 1: always
 *     into the first module, and (extra field) round robin over all N
 *
 * The N distinct modules come from one template object built by meson
 * (BENCH_MODULES_DIR/bench-scale-template.so). Each copy gets its own name
 * by overwriting the fixed-width placeholder name in the file (the name the
 * loader compares with the manifest's) and is packed with keel_bundle_pack.
 * That gives the object a compiler would give for that name, without
 * running a compiler 200 times.
 *
 * Usage: bench_scale BENCH_MODULES_DIR [--quick]
 * Prints JSON rows (bench_common.h), group "scale".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <keel/bundle.h>
#include <keel/loader.h>
#include <keel/log.h>
#include "bench_common.h"

#define PLACEHOLDER "scale-placeholder-000000"   /* as in modules/scale/scale.c */
#define NAME_FORMAT "scale-module-%011zu"        /* as long as PLACEHOLDER */
#define MAX_MODULES 200
#define INSTALL_ROW "install + start of module #%zu"
#define INSTALL_GOAL "<= 2x module #1"
#define MEMORY_GOAL "<= 200 KB beyond its own code and data"
#define MEMORY_LIMIT_KB 200.0
#define COUNT_GOAL ">= 200, the last installed as fast as the first (within 2x)"

static const size_t counts_full[] = {1, 10, 50, 100, 200};
static const size_t counts_quick[] = {1, 10, 20};

typedef int64_t (*add_fn)(int64_t a, int64_t b);

/* The template object, with the offset of its placeholder name. */
typedef struct template_so {
    unsigned char *data;
    size_t size;
    size_t name_at;
} template_so;

typedef struct scale_run {
    keel_loader *loader;
    char *bundles[MAX_MODULES];            /* bundle i holds module #i+1 */
    keel_instance *inst[MAX_MODULES];
    keel_router_ref *refs[MAX_MODULES];    /* operator references, resolved once */
    size_t loaded;
    size_t repeats;                        /* install samples per N */
    size_t batches, batch_calls;           /* call timing */
    long rss0_kb, pss0_kb;                 /* before module #1 */
    double install1_p50, call1_p50;        /* N = 1, the baselines */
    const char *work_fs;                   /* the work directory's file system */
} scale_run;

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "bench_scale: %s: %s\n", what, detail);
    return -1;
}

/* --- making N distinct bundles --------------------------------------------- */

static int read_file(const char *path, unsigned char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(path, strerror(errno));
    int rc = fseek(f, 0, SEEK_END) == 0 ? 0 : -1;
    long len = rc == 0 ? ftell(f) : -1;
    *data = len > 0 ? malloc((size_t)len) : NULL;
    if (*data == NULL || fseek(f, 0, SEEK_SET) != 0 || fread(*data, 1, (size_t)len, f) != (size_t)len)
        rc = fail(path, "cannot read it");
    *size = (size_t)len;
    fclose(f);
    return rc;
}

static int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return fail(path, strerror(errno));
    int rc = fwrite(data, 1, size, f) == size ? 0 : -1;
    if (fclose(f) != 0 || rc != 0)
        return fail(path, "cannot write it");
    return 0;
}

/* Loads the template and finds its one placeholder name. */
static int template_load(const char *modules_dir, template_so *t)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-scale-template.so", modules_dir);
    if (read_file(path, &t->data, &t->size) != 0)
        return -1;
    const size_t len = sizeof PLACEHOLDER - 1;
    size_t hits = 0;
    for (size_t i = 0; i + len <= t->size; i++)
        if (memcmp(t->data + i, PLACEHOLDER, len) == 0) {
            t->name_at = i;
            hits++;
        }
    return hits == 1 ? 0 : fail(path, "the placeholder name is not there exactly once");
}

/* Packs module #index+1 from the template into `out` (via a staging dir). */
static int make_bundle(const template_so *t, const char *tmp, size_t index, const char *out)
{
    char name[64], stage[4096], path[4200], manifest[512];
    if (snprintf(name, sizeof name, NAME_FORMAT, index + 1) != (int)sizeof PLACEHOLDER - 1)
        return fail("module name", "not as long as the placeholder");
    snprintf(stage, sizeof stage, "%s/stage", tmp);
    if (mkdir(stage, 0700) != 0)
        return fail(stage, strerror(errno));
    snprintf(manifest, sizeof manifest,
             "{\"name\": \"%s\", \"version\": \"1.0.0\", \"api\": 1, \"library\": \"scale.so\", "
             "\"services\": [{\"name\": \"%s\", \"scene\": \"default\", "
             "\"signature\": \"i64(i64,i64)\"}]}\n", name, name);
    snprintf(path, sizeof path, "%s/manifest.json", stage);
    int rc = write_file(path, manifest, strlen(manifest));
    memcpy(t->data + t->name_at, name, sizeof PLACEHOLDER - 1);
    snprintf(path, sizeof path, "%s/scale.so", stage);
    if (rc == 0)
        rc = write_file(path, t->data, t->size);
    keel_error err = {0};
    if (rc == 0 && keel_bundle_pack(stage, out, &err) != KEEL_OK)
        rc = fail("pack", err.message);
    bench_rmtree(stage);
    return rc;
}

static int make_bundles(scale_run *run, const char *modules_dir, const char *tmp, size_t count)
{
    template_so t = {0};
    int rc = template_load(modules_dir, &t);
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (asprintf(&run->bundles[i], "%s/m%zu.keel", tmp, i + 1) < 0) {
            run->bundles[i] = NULL;
            rc = fail("memory", "out of memory");
        } else {
            rc = make_bundle(&t, tmp, i, run->bundles[i]);
        }
    }
    free(t.data);
    return rc;
}

/* --- installing -------------------------------------------------------------- */

/* Installs and starts bundle `index` into slot `index`; *ms gets the time. */
static int install_started(scale_run *run, size_t index, double *ms)
{
    keel_error err = {0};
    keel_instance *inst = NULL;
    double t0 = bench_now_ns();
    if (keel_loader_install(run->loader, run->bundles[index], &inst, &err) != KEEL_OK)
        return fail("install", err.message);
    keel_status st = keel_instance_start(inst, 1, &err);
    *ms = (bench_now_ns() - t0) / 1e6;
    if (st != KEEL_OK)
        return fail("start", err.message); /* a failed start leaves it BROKEN */
    run->inst[index] = inst;
    return 0;
}

static int uninstall(scale_run *run, size_t index)
{
    keel_error err = {0};
    keel_status st = keel_loader_uninstall(run->loader, run->inst[index], &err);
    run->inst[index] = NULL;
    return st == KEEL_OK ? 0 : fail("uninstall", err.message);
}

/* Installs modules until n - 1 are loaded (not timed). */
static int grow_to(scale_run *run, size_t n)
{
    double ms;
    for (; run->loaded + 1 < n; run->loaded++)
        if (install_started(run, run->loaded, &ms) != 0)
            return -1;
    return 0;
}

/* Reinstalls module #n (the last one loaded) repeats - 1 times:
 * samples[1..] get the install + start times, unin[1..] the uninstall
 * times (which read /proc/self/maps, and so grow with N). */
static int time_reinstalls(scale_run *run, size_t n, double *samples, double *unin)
{
    for (size_t i = 1; i < run->repeats; i++) {
        double t0 = bench_now_ns();
        if (uninstall(run, n - 1) != 0)
            return -1;
        unin[i - 1] = (bench_now_ns() - t0) / 1e6;
        if (install_started(run, n - 1, &samples[i]) != 0)
            return -1;
    }
    return 0;
}

/* The first install opens a namespace group (with its libc shim), which a
 * base does once in its life: do it before the memory baseline. */
static int warm_up(scale_run *run)
{
    double ms;
    if (install_started(run, 0, &ms) != 0 || uninstall(run, 0) != 0)
        return -1;
    run->rss0_kb = bench_rss_kb();
    run->pss0_kb = bench_pss_kb();
    return run->rss0_kb > 0 && run->pss0_kb > 0 ? 0 : fail("/proc", "no VmRSS or Pss");
}

/* --- calls ------------------------------------------------------------------- */

/* Resolves an operator reference to every loaded module's service once
 * (a reference follows reinstalls of its module). */
static int resolve_refs(scale_run *run)
{
    for (size_t i = 0; i < run->loaded; i++) {
        if (run->refs[i] != NULL)
            continue;
        keel_error err = {0};
        if (keel_router_resolve(keel_loader_router(run->loader), NULL, "default",
                                keel_instance_name(run->inst[i]), &run->refs[i], &err) != KEEL_OK)
            return fail("resolve", err.message);
    }
    return 0;
}

/* Average ns per typed call over `calls` calls cycling through `count`
 * references; checks every status and the sum of the answers. */
static int call_batch(keel_router_ref *const *refs, size_t count, size_t calls, double *ns)
{
    int64_t sum = 0;
    size_t k = 0;
    double t0 = bench_now_ns();
    for (size_t i = 0; i < calls; i++) {
        keel_call c;
        if (keel_router_enter(refs[k], NULL, &c) != KEEL_OK)
            return fail("call", "keel_router_enter failed");
        sum += ((add_fn)c.fn)((int64_t)i, 1);
        keel_router_leave(&c);
        k = k + 1 == count ? 0 : k + 1; /* no division in the loop */
    }
    *ns = (bench_now_ns() - t0) / (double)calls;
    int64_t expected = (int64_t)calls * (int64_t)(calls + 1) / 2;
    return sum == expected ? 0 : fail("call", "wrong answers");
}

/* p50/p99 of batch averages into the first module (one[]) and the p50
 * over all loaded modules (*spread). */
static int time_calls(scale_run *run, double one[2], double *spread)
{
    double *a = calloc(run->batches, sizeof *a), *b = calloc(run->batches, sizeof *b);
    int rc = a != NULL && b != NULL ? resolve_refs(run) : fail("memory", "out of memory");
    for (size_t i = 0; i < run->batches && rc == 0; i++) {
        rc = call_batch(run->refs, 1, run->batch_calls, &a[i]);
        if (rc == 0)
            rc = call_batch(run->refs, run->loaded, run->batch_calls, &b[i]);
    }
    if (rc == 0) {
        one[0] = bench_percentile(a, run->batches, 50);
        one[1] = bench_percentile(a, run->batches, 99);
        *spread = bench_percentile(b, run->batches, 50);
    }
    free(a);
    free(b);
    return rc;
}

/* Which file system the extracted bundles land on: an install creates a
 * file per bundle entry, which costs more on ext4 than on tmpfs. */
static const char *fs_name(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    default: return "other";
    }
}

/* --- rows ---------------------------------------------------------------------- */

static void install_row(scale_run *run, size_t n, double *samples, double *unin)
{
    double p50 = bench_percentile(samples, run->repeats, 50);
    double p99 = bench_percentile(samples, run->repeats, 99);
    if (n == 1)
        run->install1_p50 = p50;
    char name[128], base[128], extra[256];
    snprintf(name, sizeof name, INSTALL_ROW, n);
    snprintf(base, sizeof base, INSTALL_ROW, (size_t)1);
    snprintf(extra, sizeof extra,
             "\"modules\": %zu, \"namespaces\": %zu, \"samples\": %zu, \"uninstall_p50_ms\": %.4g, "
             "\"work_dir_fs\": \"%s\"", n, keel_loader_namespace_count(run->loader), run->repeats,
             bench_percentile(unin, run->repeats - 1, 50), run->work_fs);
    bench_row("scale", name, "ms", p50, p99, n == 1 ? NULL : base, run->install1_p50,
              INSTALL_GOAL, n == 1 ? -1 : p50 <= 2 * run->install1_p50, extra);
}

/* Growth since the baseline, taken right after module #n's first install
 * (before reinstalls churn the heap). */
typedef struct memory_sample {
    long rss_kb, pss_kb;
    double own_kb;   /* the module object's own mapped code and data */
} memory_sample;

static int memory_take(const scale_run *run, memory_sample *m)
{
    long rss = bench_rss_kb(), pss = bench_pss_kb();
    if (rss <= 0 || pss <= 0)
        return fail("/proc", "no VmRSS or Pss");
    m->rss_kb = rss - run->rss0_kb;
    m->pss_kb = pss - run->pss0_kb;
    /* Every copy is the same object: the first one's size stands for all. */
    m->own_kb = (double)keel_instance_mapped_bytes(run->inst[0]) / 1024.0;
    return 0;
}

/* One memory row: total growth `kb` over n modules. */
static void memory_row(const char *what, size_t n, long kb, double own_kb)
{
    double per = (double)kb / (double)n, beyond = per - own_kb;
    char name[128], extra[200];
    snprintf(name, sizeof name, "%s per module, %zu loaded", what, n);
    snprintf(extra, sizeof extra,
             "\"modules\": %zu, \"total_kb\": %ld, \"own_mapped_kb\": %.4g, \"beyond_own_kb\": %.4g",
             n, kb, own_kb, beyond);
    bench_row("scale", name, "kB", per, per, NULL, 0, MEMORY_GOAL, beyond <= MEMORY_LIMIT_KB, extra);
}

static void call_row_name(char *buf, size_t size, size_t n)
{
    snprintf(buf, size, "typed call through the router, %zu module%s loaded", n, n == 1 ? "" : "s");
}

static int call_row(scale_run *run, size_t n)
{
    double one[2], spread = 0;
    if (time_calls(run, one, &spread) != 0)
        return -1;
    if (n == 1)
        run->call1_p50 = one[0];
    char name[128], base[128], extra[160];
    call_row_name(name, sizeof name, n);
    call_row_name(base, sizeof base, 1);
    snprintf(extra, sizeof extra, "\"modules\": %zu, \"round_robin_p50_ns\": %.4g, \"batches\": %zu, "
             "\"calls_per_batch\": %zu", n, spread, run->batches, run->batch_calls);
    bench_row("scale", name, "ns", one[0], one[1], n == 1 ? NULL : base, run->call1_p50, NULL, -1,
              extra);
    return 0;
}

/* All rows for N = n loaded: module #n is installed (timed), memory is
 * taken, module #n is reinstalled (timed), then calls are timed. */
static int measure(scale_run *run, size_t n, double *install_p50)
{
    double *samples = calloc(run->repeats, sizeof *samples);
    double *unin = calloc(run->repeats, sizeof *unin);
    memory_sample mem = {0};
    int rc = samples != NULL && unin != NULL ? grow_to(run, n) : fail("memory", "out of memory");
    if (rc == 0 && (rc = install_started(run, n - 1, &samples[0])) == 0)
        run->loaded = n;
    if (rc == 0)
        rc = memory_take(run, &mem);
    if (rc == 0)
        rc = time_reinstalls(run, n, samples, unin);
    if (rc == 0) {
        install_row(run, n, samples, unin); /* sorts them */
        *install_p50 = bench_percentile(samples, run->repeats, 50);
        memory_row("RSS", n, mem.rss_kb, mem.own_kb);
        memory_row("PSS", n, mem.pss_kb, mem.own_kb);
        rc = call_row(run, n);
    }
    free(samples);
    free(unin);
    return rc;
}

static void count_row(scale_run *run, size_t reached, double last_p50, int quick)
{
    double ratio = last_p50 / run->install1_p50;
    char extra[160];
    snprintf(extra, sizeof extra, "\"namespaces\": %zu, \"last_vs_first\": %.4g, \"quick\": %s",
             keel_loader_namespace_count(run->loader), ratio, quick ? "true" : "false");
    /* A quick run never reaches 200: it says nothing about the goal. */
    int met = quick ? -1 : reached >= MAX_MODULES && ratio <= 2.0;
    bench_row("scale", "modules in one base", "modules", (double)reached, (double)reached, NULL, 0,
              COUNT_GOAL, met, extra);
}

/* --- main ---------------------------------------------------------------------- */

static int run_all(scale_run *run, const size_t *counts, size_t count_n, int quick)
{
    if (warm_up(run) != 0)
        return -1;
    double last = 0;
    for (size_t i = 0; i < count_n; i++) {
        if (measure(run, counts[i], &last) != 0)
            return -1;
        fprintf(stderr, "bench_scale: %zu modules loaded\n", counts[i]);
    }
    count_row(run, run->loaded, last, quick);
    char *leaks = keel_loader_leaks(run->loader);
    int rc = leaks == NULL ? 0 : fail("unload left mappings behind", leaks);
    free(leaks);
    return rc;
}

static void scale_free(scale_run *run)
{
    for (size_t i = 0; i < MAX_MODULES; i++) {
        keel_router_ref_release(run->refs[i]);
        free(run->bundles[i]);
    }
    keel_loader_destroy(run->loader);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_scale BENCH_MODULES_DIR [--quick]\n");
        return 2;
    }
    /* Info lines (one per install and start) would time stderr. */
    if (getenv("KEEL_LOG_LEVEL") == NULL)
        keel_log_set_level(KEEL_LOG_WARN);
    int quick = bench_quick(argc, argv);
    const size_t *counts = quick ? counts_quick : counts_full;
    size_t count_n = quick ? sizeof counts_quick / sizeof *counts_quick
                           : sizeof counts_full / sizeof *counts_full;
    scale_run run = {.repeats = quick ? 5 : 15, .batches = quick ? 15 : 40,
                     .batch_calls = quick ? 20000 : 200000};
    char *tmp = bench_tmpdir("scale"), *work = NULL;
    int rc = tmp != NULL && asprintf(&work, "%s/work", tmp) >= 0 ? 0 : fail("tmpdir", "cannot create");
    if (rc == 0)
        rc = make_bundles(&run, argv[1], tmp, counts[count_n - 1]);
    keel_loader_options opts = {.work_dir = work};
    keel_error err = {0};
    if (rc == 0 && keel_loader_create(&opts, &run.loader, &err) != KEEL_OK)
        rc = fail("loader", err.message);
    if (rc == 0)
        run.work_fs = fs_name(work);
    if (rc == 0)
        rc = run_all(&run, counts, count_n, quick);
    scale_free(&run);
    bench_rmtree(tmp);
    free(work);
    free(tmp);
    return rc == 0 ? 0 : 1;
}

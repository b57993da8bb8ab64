/*
 * bench_deploy: what a release costs.
 *
 *   keel      a bundle on disk -> installed, started, first successful call
 *             through the router (a fresh reference, as a new caller would
 *             resolve it); the instance is uninstalled after every run
 *   baseline  restarting a process that serves the same function: fork +
 *             exec bench_sidecar, wait for its "ready", connect to its Unix
 *             socket, first answer; then SIGTERM and reap it (not timed,
 *             as keel's uninstall is not)
 *
 * The runs interleave (restart, small, large, restart, ...) so that load
 * from elsewhere on the machine hits all three alike; one untimed cold run
 * of each comes first. The work directory's file system is reported: the
 * install creates a file per bundle entry, which costs more on ext4 than on
 * tmpfs.
 *
 * Usage: bench_deploy SAMPLES_DIR BENCH_MODULES_DIR SIDECAR_BINARY [--quick]
 * Prints JSON rows (bench_common.h), group "deploy", unit "ms".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/log.h>
#include "bench_common.h"

#define RUNS_QUICK 50
#define RUNS_FULL 1000
#define SIDECAR_TIMEOUT_MS 5000

#define BASELINE_NAME "restart a process that serves the same function (start → first answer)"
#define SMALL_GOAL "p50 <= 2 ms, p99 <= 10 ms"

/* What one run spends in each step, in ms. */
enum { PH_TOTAL, PH_INSTALL, PH_START, PH_CALL, PH_UNINSTALL, PH_COUNT };

typedef struct deploy_case {
    const char *row;           /* row name */
    const char *bundle;        /* path of the .keel */
    const char *service;       /* published in scene "default" */
    int (*first_call)(keel_fn fn);  /* 0 when the answer is right */
} deploy_case;

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "bench_deploy: %s: %s\n", what, detail);
    return -1;
}

/* --- the modules' first calls -------------------------------------------- */

static int greet_call(keel_fn fn)
{
    char out[128];
    int n = ((int (*)(const char *, char *, size_t))fn)("bench", out, sizeof out);
    return n > 0 && strncmp(out, "hello, bench", 12) == 0 ? 0 : -1;
}

static int digest_call(keel_fn fn)
{
    char out[256];
    int n = ((int (*)(const char *, char *, size_t))fn)("hot swap in one process", out, sizeof out);
    return n > 0 && strncmp(out, "crc=", 4) == 0 && strstr(out, " words=5 ") != NULL ? 0 : -1;
}

/* --- keel: install -> start -> first call -------------------------------- */

/* Resolves a fresh reference (the service's new caller), enters, calls,
 * leaves. */
static int call_once(keel_router *r, const deploy_case *c)
{
    keel_router_ref *ref = NULL;
    keel_error err = {0};
    if (keel_router_resolve(r, NULL, "default", c->service, &ref, &err) != KEEL_OK)
        return fail("resolve", err.message);
    keel_call call;
    keel_status st = keel_router_enter(ref, NULL, &call);
    int rc = -1;
    if (st != KEEL_OK)
        fail("first call", keel_status_name(st));
    else {
        rc = c->first_call(call.fn);
        keel_router_leave(&call);
        if (rc != 0)
            fail("first call", "wrong answer");
    }
    keel_router_ref_release(ref);
    return rc;
}

/* One deploy: times every step into ph[]; leaves nothing installed. */
static int deploy_once(keel_loader *l, const deploy_case *c, double ph[PH_COUNT])
{
    keel_error err = {0};
    keel_instance *inst = NULL;
    double t0 = bench_now_ns();
    if (keel_loader_install(l, c->bundle, &inst, &err) != KEEL_OK)
        return fail("install", err.message);
    double t1 = bench_now_ns();
    int rc = keel_instance_start(inst, 1, &err) == KEEL_OK ? 0 : fail("start", err.message);
    double t2 = bench_now_ns();
    if (rc == 0)
        rc = call_once(keel_loader_router(l), c);
    double t3 = bench_now_ns();
    if (keel_loader_uninstall(l, inst, &err) != KEEL_OK)
        rc = fail("uninstall", err.message);
    double t4 = bench_now_ns();
    ph[PH_TOTAL] = (t3 - t0) / 1e6;
    ph[PH_INSTALL] = (t1 - t0) / 1e6;
    ph[PH_START] = (t2 - t1) / 1e6;
    ph[PH_CALL] = (t3 - t2) / 1e6;
    ph[PH_UNINSTALL] = (t4 - t3) / 1e6;
    return rc;
}

/* Per-phase samples of one case: ph[p][i] is phase p of run i. */
typedef struct case_samples {
    double *ph[PH_COUNT];
    double cold_ms;
} case_samples;

/* Prints a case's row; sorts its samples. */
static void deploy_row(const deploy_case *c, case_samples *cs, size_t runs, double baseline_p50,
                       const char *goal, const char *fs)
{
    double p50[PH_COUNT], p99 = bench_percentile(cs->ph[PH_TOTAL], runs, 99);
    for (int p = 0; p < PH_COUNT; p++)
        p50[p] = bench_percentile(cs->ph[p], runs, 50);
    char extra[512];
    snprintf(extra, sizeof extra,
             "\"runs\": %zu, \"install_p50_ms\": %.4g, \"start_p50_ms\": %.4g, "
             "\"first_call_p50_ms\": %.4g, \"uninstall_p50_ms\": %.4g, \"cold_ms\": %.4g, "
             "\"faster_than_baseline_x\": %.4g, \"work_dir_fs\": \"%s\"",
             runs, p50[PH_INSTALL], p50[PH_START], p50[PH_CALL], p50[PH_UNINSTALL], cs->cold_ms,
             baseline_p50 / p50[PH_TOTAL], fs);
    int met = goal == NULL ? -1 : p50[PH_TOTAL] <= 2.0 && p99 <= 10.0;
    bench_row("deploy", c->row, "ms", p50[PH_TOTAL], p99, BASELINE_NAME, baseline_p50, goal, met,
              extra);
}

/* --- baseline: a process restart -------------------------------------------- */

/* Waits (bounded) until the child's stdout has said "ready". */
static int wait_ready(int fd)
{
    char buf[256];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, SIDECAR_TIMEOUT_MS) != 1)
            return fail("sidecar", "no \"ready\" in time");
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            return fail("sidecar", "exited before it was ready");
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "ready\n") != NULL)
            return 0;
    }
    return fail("sidecar", "unexpected output before \"ready\"");
}

/* Connects, asks "20 22", expects "42". */
static int ask_sidecar(const char *sock_path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail("socket", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock_path);
    struct timeval tv = {SIDECAR_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char answer[32];
    size_t have = 0;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
             write(fd, "20 22\n", 6) == 6 ? 0 : fail("sidecar request", strerror(errno));
    while (rc == 0 && (have == 0 || answer[have - 1] != '\n')) {
        ssize_t n = read(fd, answer + have, sizeof answer - 1 - have);
        if (n <= 0 || have + (size_t)n >= sizeof answer - 1)
            rc = fail("sidecar answer", n < 0 ? strerror(errno) : "short or too long");
        else
            have += (size_t)n;
    }
    close(fd);
    answer[have] = '\0';
    return rc == 0 && strcmp(answer, "42\n") != 0 ? fail("sidecar answer", "not 42") : rc;
}

/* fork + exec; returns the pid and the read end of its stdout, or -1. */
static pid_t spawn_sidecar(const char *binary, const char *sock_path, int *out_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return fail("pipe", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        dup2(fds[1], STDOUT_FILENO);
        execl(binary, binary, "unix", sock_path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return fail("fork", strerror(errno));
    }
    *out_fd = fds[0];
    return pid;
}

/* One restart: start -> first answer in *ms; then stop and reap it. */
static int restart_once(const char *binary, const char *sock_path, double *ms)
{
    int out = -1;
    double t0 = bench_now_ns();
    pid_t pid = spawn_sidecar(binary, sock_path, &out);
    if (pid < 0)
        return -1;
    int rc = wait_ready(out);
    if (rc == 0)
        rc = ask_sidecar(sock_path);
    *ms = (bench_now_ns() - t0) / 1e6;
    kill(pid, SIGTERM);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        rc = fail("waitpid", strerror(errno));
    else if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = fail("sidecar", "did not exit cleanly on SIGTERM");
    close(out);
    return rc;
}

static void baseline_row(double *v, size_t runs, double cold)
{
    char extra[256];
    snprintf(extra, sizeof extra,
             "\"runs\": %zu, \"cold_ms\": %.4g, \"how\": \"fork + exec bench_sidecar, "
             "wait for ready, connect its Unix socket, one request\"", runs, cold);
    bench_row("deploy", BASELINE_NAME, "ms", bench_percentile(v, runs, 50),
              bench_percentile(v, runs, 99), NULL, 0, NULL, -1, extra);
}

/* --- main ---------------------------------------------------------------------- */

#define CASES 2

typedef struct deploy_bench {
    const char *sidecar;
    char sock_path[108];
    keel_loader *loader;
    deploy_case cases[CASES];
    size_t runs;
    double *base, base_cold;       /* restart samples */
    case_samples cs[CASES];
} deploy_bench;

/* Run i (or the cold run when i == runs): one restart, then each case. */
static int run_round(deploy_bench *b, size_t i)
{
    int cold = i == b->runs;
    if (restart_once(b->sidecar, b->sock_path, cold ? &b->base_cold : &b->base[i]) != 0)
        return -1;
    for (size_t c = 0; c < CASES; c++) {
        double ph[PH_COUNT];
        if (deploy_once(b->loader, &b->cases[c], ph) != 0)
            return -1;
        if (cold)
            b->cs[c].cold_ms = ph[PH_TOTAL];
        for (int p = 0; !cold && p < PH_COUNT; p++)
            b->cs[c].ph[p][i] = ph[p];
    }
    return 0;
}

/* Which file system the extracted bundles land on. */
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

static int bench_alloc(deploy_bench *b)
{
    if ((b->base = calloc(b->runs, sizeof *b->base)) == NULL)
        return fail("memory", "out of memory");
    for (size_t c = 0; c < CASES; c++)
        for (int p = 0; p < PH_COUNT; p++)
            if ((b->cs[c].ph[p] = calloc(b->runs, sizeof(double))) == NULL)
                return fail("memory", "out of memory");
    return 0;
}

static void bench_free(deploy_bench *b)
{
    free(b->base);
    for (size_t c = 0; c < CASES; c++)
        for (int p = 0; p < PH_COUNT; p++)
            free(b->cs[c].ph[p]);
    keel_loader_destroy(b->loader);
}

static int bench_run(deploy_bench *b, const char *dir, const char *work)
{
    if (snprintf(b->sock_path, sizeof b->sock_path, "%s/sidecar.sock", dir) >= (int)sizeof b->sock_path)
        return fail("socket path", "too long");
    keel_loader_options opts = {.work_dir = work};
    keel_error err = {0};
    if (bench_alloc(b) != 0)
        return -1;
    if (keel_loader_create(&opts, &b->loader, &err) != KEEL_OK)
        return fail("loader", err.message);
    /* The cold round first: page cache, and the loader's first namespace
     * group, which a running base has opened long ago. */
    for (size_t i = 0; i <= b->runs; i++)
        if (run_round(b, i == 0 ? b->runs : i - 1) != 0)
            return -1;
    char *leaks = keel_loader_leaks(b->loader);
    int leaked = leaks != NULL;
    free(leaks);
    if (leaked)
        return fail("unload", "something stayed mapped (see the leak report above)");
    double base_p50 = bench_percentile(b->base, b->runs, 50);
    baseline_row(b->base, b->runs, b->base_cold);
    for (size_t c = 0; c < CASES; c++)
        deploy_row(&b->cases[c], &b->cs[c], b->runs, base_p50, c == 0 ? SMALL_GOAL : NULL,
                   fs_name(work));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_deploy SAMPLES_DIR BENCH_MODULES_DIR SIDECAR_BINARY [--quick]\n");
        return 2;
    }
    /* Info lines (one per install, start and stop) would time stderr. */
    if (getenv("KEEL_LOG_LEVEL") == NULL)
        keel_log_set_level(KEEL_LOG_WARN);
    char small[4096], large[4096];
    snprintf(small, sizeof small, "%s/greeter-1.0.0.keel", argv[1]);
    snprintf(large, sizeof large, "%s/bench-large-1.0.0.keel", argv[2]);
    deploy_bench b = {
        .sidecar = argv[3],
        .runs = bench_quick(argc, argv) ? RUNS_QUICK : RUNS_FULL,
        .cases = {
            {"install → first call, small module (greeter)", small, "greet", greet_call},
            {"install → first call, large module (bench-large: 4 private libraries)", large,
             "digest", digest_call},
        },
    };
    if (access(argv[3], X_OK) != 0) {
        fprintf(stderr, "bench_deploy: sidecar %s: %s\n", argv[3], strerror(errno));
        return 1;
    }
    char *dir = bench_tmpdir("deploy");
    char *work = NULL;
    if (dir == NULL || asprintf(&work, "%s/work", dir) < 0) {
        fprintf(stderr, "bench_deploy: cannot create a temporary directory\n");
        free(dir);
        return 1;
    }
    int rc = bench_run(&b, dir, work);
    bench_free(&b);
    bench_rmtree(dir);
    free(work);
    free(dir);
    return rc == 0 ? 0 : 1;
}

/*
 * bench_http: what the http gateway starter costs. One service, add(a, b)
 * ("i64(i64,i64)"), called through keel_signature_call_json — the
 * router's dynamic JSON call — three ways in one run:
 *
 *   1. directly in this process (ns per call): the baseline "calling the
 *      service directly";
 *   2. a bare libmicrohttpd server in this process (same thread pool as
 *      the gateway) that answers POST /add by calling it on the server
 *      thread: HTTP with no gateway logic;
 *   3. the http starter (STARTERS_DIR/http/keel-starter-http-1.1.0.so,
 *      loaded here the way the base loads it: dlopen, create, resume),
 *      whose host call_json calls the service: with its default call
 *      workers (8), with calls on the server threads (workers 0), and
 *      with the default plus its access log.
 *
 * 2 and 3 are driven by the same wrk command (POST [40, 2], keep-alive);
 * latency p50/p99 come from wrk's --latency distribution, requests/s from
 * its summary, CPU per request from this process's rusage over the run
 * (wrk runs in its own process). Any non-2xx answer or socket error fails
 * the run.
 *
 *   bench_http STARTERS_DIR [--quick]
 */
#include "bench_common.h"

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <keel/error.h>
#include <keel/signature.h>
#include <keel/starter.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRK "/usr/bin/wrk"
#define SERVER_THREADS 2
#define ARGS "[40, 2]"

static keel_signature *add_sig;

static int64_t add(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_http: %s: %s\n", what, detail);
    exit(1);
}

/* The service, as every variant calls it. On KEEL_OK *result is malloc'd. */
static keel_status call_add(const char *args, size_t len, char **result, keel_error *err)
{
    return keel_signature_call_json(add_sig, (void (*)(void))add, args, len, 0, result, err);
}

/* ---- 1. direct ---- */

static void measure_direct(size_t batches, size_t per_batch, double *p50, double *p99)
{
    double *v = calloc(batches, sizeof *v);
    keel_error err;
    for (size_t b = 0; b < batches + 2; b++) {   /* two warm-up batches */
        double t0 = bench_now_ns();
        for (size_t i = 0; i < per_batch; i++) {
            char *out = NULL;
            if (call_add(ARGS, sizeof ARGS - 1, &out, &err) != KEEL_OK || strcmp(out, "42") != 0)
                die("direct call", err.message);
            free(out);
        }
        if (b >= 2)
            v[b - 2] = (bench_now_ns() - t0) / (double)per_batch;
    }
    *p50 = bench_percentile(v, batches, 50);
    *p99 = bench_percentile(v, batches, 99);
    free(v);
}

/* ---- 2. bare libmicrohttpd server ---- */

typedef struct bare_req {
    char body[256];
    size_t len;
} bare_req;

static enum MHD_Result bare_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version;
    bare_req *r = *con_cls;
    if (!r) {
        *con_cls = calloc(1, sizeof *r);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (n > sizeof r->body - 1 - r->len)
            n = sizeof r->body - 1 - r->len;
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    char *out = NULL;
    keel_error err;
    unsigned status = 200;
    if (call_add(r->body, r->len, &out, &err) != KEEL_OK) {
        status = 400;
        out = strdup("{\"error\":\"bad arguments\"}");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(strlen(out), out, free);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void bare_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static struct MHD_Daemon *bare_start(unsigned *port)
{
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        bare_handler, NULL, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)SERVER_THREADS,
        MHD_OPTION_NOTIFY_COMPLETED, bare_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        30u, MHD_OPTION_END);
    if (!d)
        die("bare server", "MHD_start_daemon failed");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port)
        die("bare server", "no bound port");
    *port = info->port;
    return d;
}

/* ---- 3. the gateway starter, loaded as the base does ---- */

typedef struct gateway {
    void *so;
    const keel_starter_def *def;
    keel_starter_host host;
    void *state;
    unsigned port;
} gateway;

static void gw_log(const keel_starter_host *host, keel_log_level level, const char *fmt, ...)
{
    (void)host;
    if (level < KEEL_LOG_WARN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_http: starter: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static keel_status gw_call_json(const keel_starter_host *host, const char *scene,
                                const char *name, const char *args_json, char **result_json,
                                keel_starter_error *err)
{
    (void)host;
    *result_json = NULL;
    if (strcmp(scene, "bench") != 0 || strcmp(name, "add") != 0) {
        keel_starter_error_set(err, "service '%s' in scene '%s' not found", name, scene);
        return KEEL_ERR_NOT_FOUND;
    }
    keel_error e;
    keel_status st = call_add(args_json, strlen(args_json), result_json, &e);
    if (st != KEEL_OK)
        keel_starter_error_set(err, "%s", e.message);
    return st;
}

static keel_starter_module_status gw_module_status(const keel_starter_host *host,
                                                   const char *module)
{
    (void)host, (void)module;
    return KEEL_STARTER_MODULE_SERVING;
}

static void gw_open(gateway *g, const char *so_path, const char *work_dir, int workers,
                    bool access_log)
{
    memset(g, 0, sizeof *g);
    g->so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!g->so)
        die("dlopen", dlerror());
    keel_starter_entry_fn entry = (keel_starter_entry_fn)dlsym(g->so, KEEL_STARTER_ENTRY_SYMBOL);
    g->def = entry ? entry() : NULL;
    if (!g->def || g->def->abi_version != KEEL_STARTER_ABI_VERSION || strcmp(g->def->name, "http"))
        die(so_path, "not the http starter");
    g->host = (keel_starter_host){
        .abi_version = KEEL_STARTER_ABI_VERSION,
        .size = sizeof(keel_starter_host),
        .name = "http",
        .version = g->def->version,
        .work_dir = work_dir,
        .log = gw_log,
        .call_json = gw_call_json,
        .module_status = gw_module_status,
    };
    char config[512];
    snprintf(config, sizeof config,
             "{\"listen\": \"127.0.0.1:0\", \"threads\": %d, \"workers\": %d,"
             " \"access_log\": \"%s\", \"routes\": [{\"method\": \"POST\", \"path\": \"/add\","
             " \"service\": \"add\", \"scene\": \"bench\"}]}",
             SERVER_THREADS, workers, access_log ? "access.log" : "");
    keel_starter_error err = {{0}};
    if (g->def->create(&g->host, config, &g->state, &err) != KEEL_OK)
        die("create", err.message);
    if (g->def->resume(g->state, &g->host, &err) != KEEL_OK)
        die("resume", err.message);
    char *info = NULL;
    if (g->def->admin(g->state, "info", NULL, &info, &err) != KEEL_OK)
        die("info", err.message);
    cJSON *o = cJSON_Parse(info);
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(o, "port");
    if (!cJSON_IsNumber(port) || port->valueint <= 0)
        die("info", "no port");
    g->port = (unsigned)port->valueint;
    cJSON_Delete(o);
    free(info);
}

static void gw_close(gateway *g)
{
    g->def->suspend(g->state);
    g->def->destroy(g->state);
    dlclose(g->so);
}

/* ---- wrk ---- */

typedef struct wrk_result {
    double p50_us, p99_us;
    double rps;
    double requests;
    double cpu_us_per_request;   /* this process's CPU over the run */
} wrk_result;

static double to_us(double v, const char *unit)
{
    if (strncmp(unit, "us", 2) == 0)
        return v;
    if (strncmp(unit, "ms", 2) == 0)
        return v * 1e3;
    if (unit[0] == 's')
        return v * 1e6;
    die("wrk output", "unknown latency unit");
    return 0;
}

static double percentile_line(const char *out, const char *pct)
{
    const char *p = strstr(out, pct);
    double v;
    char unit[8];
    if (!p || sscanf(p + strlen(pct), " %lf%7s", &v, unit) != 2)
        die("wrk output", "no latency distribution (--latency)");
    return to_us(v, unit);
}

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* One HTTP request with a fresh connection; dies unless 200 "42". */
static void check_answer(unsigned port, const char *what)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "curl -s -m 5 -X POST -H 'Content-Type: application/json' -d '" ARGS
             "' http://127.0.0.1:%u/add",
             port);
    FILE *p = popen(cmd, "r");
    char buf[64] = "";
    if (!p || !fgets(buf, sizeof buf, p))
        buf[0] = '\0';
    if (p)
        pclose(p);
    if (strcmp(buf, "42") != 0)
        die(what, "POST /add [40, 2] did not answer 42");
}

static void run_wrk(unsigned port, const char *script, const char *duration, const char *what,
                    wrk_result *r)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/add", port);
    char *argv[] = {WRK, "-t1", "-c8", "-d", (char *)duration, "--latency", "-s", (char *)script,
                    url, NULL};
    int pipefd[2];
    if (pipe(pipefd) != 0)
        die("pipe", strerror(errno));
    double cpu0 = cpu_us();
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(WRK, argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t cap = 8192, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(pipefd[0], out + len, cap - len - 1)) > 0)
        if ((len += (size_t)n) + 1 >= cap)
            out = realloc(out, cap *= 2);
    out[len] = '\0';
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    double cpu = cpu_us() - cpu0;
    fprintf(stderr, "bench_http: wrk against %s:\n%s", what, out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(what, "wrk failed");
    if (strstr(out, "Non-2xx or 3xx responses") || strstr(out, "Socket errors"))
        die(what, "wrk saw failed requests");
    const char *line = strstr(out, " requests in ");
    while (line && line > out && line[-1] != '\n')
        line--;
    const char *rps = strstr(out, "Requests/sec:");
    if (!line || sscanf(line, " %lf requests in", &r->requests) != 1 || !rps)
        die(what, "no request count in wrk's output");
    r->rps = strtod(rps + strlen("Requests/sec:"), NULL);
    if (r->requests <= 0 || r->rps <= 0)
        die(what, "wrk made no requests");
    r->p50_us = percentile_line(out, " 50% ");
    r->p99_us = percentile_line(out, " 99% ");
    r->cpu_us_per_request = cpu / r->requests;
    free(out);
}

/* The round with the median requests/s. */
static wrk_result median_round(const wrk_result *r, int n)
{
    int best = 0;
    for (int i = 0; i < n; i++) {
        int below = 0, above = 0;
        for (int j = 0; j < n; j++) {
            below += r[j].rps < r[i].rps;
            above += r[j].rps > r[i].rps;
        }
        if (below <= n / 2 && above <= n / 2)
            best = i;
    }
    return r[best];
}

/* ---- rows ---- */

#define LAT_BARE "bare libmicrohttpd server calling the service (wrk latency)"
#define RPS_BARE "bare libmicrohttpd server calling the service (wrk requests/s)"
#define CPU_BARE "bare libmicrohttpd server calling the service (server CPU per request)"

static void report(const char *label, const wrk_result *w, const wrk_result *bare,
                   double direct_ns, const char *wrk_args, int workers, bool access_log)
{
    char name[160], extra[512];
    snprintf(extra, sizeof extra,
             "\"requests\": %.0f, \"requests_per_s\": %.1f, \"wrk\": \"%s\","
             " \"server_threads\": %d, \"call_workers\": %d, \"access_log\": %s,"
             " \"vs_direct_p50\": %.4g, \"added_p50_us\": %.4g",
             w->requests, w->rps, wrk_args, SERVER_THREADS, workers, access_log ? "true" : "false",
             w->p50_us * 1e3 / direct_ns, bare ? w->p50_us - bare->p50_us : 0.0);
    snprintf(name, sizeof name, "%s (wrk latency)", label);
    bench_row("http", bare ? name : LAT_BARE, "us", w->p50_us, w->p99_us,
              bare ? LAT_BARE : NULL, bare ? bare->p50_us : 0, NULL, -1, extra);
    snprintf(extra, sizeof extra, "\"requests\": %.0f, \"wrk\": \"%s\"", w->requests, wrk_args);
    snprintf(name, sizeof name, "%s (wrk requests/s)", label);
    bench_row("http", bare ? name : RPS_BARE, "req/s", w->rps, w->rps, bare ? RPS_BARE : NULL,
              bare ? bare->rps : 0, NULL, -1, extra);
    snprintf(extra, sizeof extra, "\"vs_direct\": %.4g, \"direct_ns\": %.4g",
             w->cpu_us_per_request * 1e3 / direct_ns, direct_ns);
    snprintf(name, sizeof name, "%s (server CPU per request)", label);
    bench_row("http", bare ? name : CPU_BARE, "us", w->cpu_us_per_request, w->cpu_us_per_request,
              bare ? CPU_BARE : NULL, bare ? bare->cpu_us_per_request : 0, NULL, -1, extra);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_http STARTERS_DIR [--quick]\n");
        return 2;
    }
    int quick = bench_quick(argc, argv);
    if (access(WRK, X_OK) != 0)
        die(WRK, "wrk is missing (install the wrk package)");
    char so_path[4096];
    snprintf(so_path, sizeof so_path, "%s/http/keel-starter-http-1.1.0.so", argv[1]);
    if (access(so_path, R_OK) != 0)
        die(so_path, strerror(errno));
    keel_error err;
    if (keel_signature_parse("i64(i64,i64)", &add_sig, &err) != KEEL_OK)
        die("signature", err.message);
    char *dir = bench_tmpdir("http");
    if (!dir)
        die("tmpdir", strerror(errno));
    char script[4200];
    snprintf(script, sizeof script, "%s/post.lua", dir);
    FILE *f = fopen(script, "w");
    if (!f)
        die(script, strerror(errno));
    fputs("wrk.method = \"POST\"\nwrk.body = \"" ARGS "\"\n"
          "wrk.headers[\"Content-Type\"] = \"application/json\"\n", f);
    fclose(f);
    const char *duration = quick ? "1s" : "3s";
    char wrk_args[64];
    snprintf(wrk_args, sizeof wrk_args, "-t1 -c8 -d%s --latency", duration);

    double direct_p50, direct_p99;
    measure_direct(quick ? 20 : 200, 1000, &direct_p50, &direct_p99);
    char extra[128];
    snprintf(extra, sizeof extra, "\"calls\": %d, \"signature\": \"i64(i64,i64)\"",
             (quick ? 20 : 200) * 1000);
    bench_row("http", "service called directly (dynamic JSON call)", "ns", direct_p50, direct_p99,
              NULL, 0, NULL, -1, extra);

    /* The servers: the bare one, the starter's default (call workers:
     * timeouts answered on time), calls on the server threads (workers
     * 0), and the default with its access log. Several rounds, servers
     * interleaved, so that a change in the machine's load hits them all;
     * each row takes the round with the median requests/s. */
    static const struct {
        const char *label;
        int workers;          /* -1: the bare server */
        bool access_log;
    } servers[] = {
        {NULL, -1, false},
        {"http gateway starter", 8, false},
        {"http gateway starter, calls on server threads", 0, false},
        {"http gateway starter with access log", 8, true},
    };
    enum { SERVERS = sizeof servers / sizeof servers[0], MAX_ROUNDS = 3 };
    int rounds = quick ? 1 : MAX_ROUNDS;
    wrk_result res[SERVERS][MAX_ROUNDS];
    for (int round = 0; round < rounds; round++)
        for (size_t i = 0; i < SERVERS; i++) {
            const char *label = servers[i].label ? servers[i].label : "bare server";
            if (servers[i].workers < 0) {
                unsigned port;
                struct MHD_Daemon *bare = bare_start(&port);
                check_answer(port, label);
                run_wrk(port, script, duration, label, &res[i][round]);
                MHD_stop_daemon(bare);
                continue;
            }
            gateway g;
            gw_open(&g, so_path, dir, servers[i].workers, servers[i].access_log);
            check_answer(g.port, label);
            run_wrk(g.port, script, duration, label, &res[i][round]);
            gw_close(&g);
        }
    wrk_result med[SERVERS];
    for (size_t i = 0; i < SERVERS; i++)
        med[i] = median_round(res[i], rounds);
    for (size_t i = 0; i < SERVERS; i++)
        report(servers[i].label, &med[i], servers[i].workers < 0 ? NULL : &med[0], direct_p50,
               wrk_args, servers[i].workers < 0 ? 0 : servers[i].workers, servers[i].access_log);
    keel_signature_destroy(add_sig);
    bench_rmtree(dir);
    free(dir);
    return 0;
}

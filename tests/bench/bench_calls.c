/*
 * bench_calls: what one call costs, from the limit to the sidecar model.
 *
 *   bench_calls TEST_MODULES_DIR SIDECAR_BINARY [--quick]
 *
 * Loads the test module counter-1.keel and calls its counting/add
 * (i64(i64,i64)) five ways: directly through a function pointer (the
 * baseline: nothing can be cheaper), as a typed call through the router
 * (enter, call, leave), as a dynamic JSON call, and as the same request to
 * a separate process (bench_sidecar) over a Unix socket and over HTTP on
 * loopback. Rows: group "calls", unit "ns", p50/p99 per call.
 *
 * Calls well under 100 ns cannot be timed one by one (reading the clock
 * costs about as much as the call), so those are timed in batches and the
 * percentiles are taken across batches; the "timing" field says which.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/router.h>
#include "bench_common.h"

#define BATCH 1000
#define ARG_A 1234
#define ARG_B 5678
#define ANSWER 6912
#define JSON_ARGS "[1234,5678]"
#define READY_TIMEOUT_MS 10000

typedef int64_t (*add_fn)(int64_t, int64_t);

typedef struct counts {
    size_t batches;      /* of BATCH calls, for the direct and typed calls */
    size_t dynamic;      /* dynamic calls, each timed */
    size_t sidecar;      /* Unix-socket round trips */
    size_t http;         /* HTTP requests */
} counts;

typedef struct dist {
    double p50, p99;
} dist;

typedef struct results {
    dist direct, typed, dynamic, sidecar, http;
    double clock_ns;     /* cost of one bench_now_ns pair, for the reader */
    double loadavg;      /* of the machine when the run started */
} results;

/* Keeps results alive so that the compiler cannot drop the calls. */
static volatile int64_t sink;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_calls: %s: %s\n", what, detail);
    exit(1);
}

static void die_keel(const char *what, keel_status st, const keel_error *err)
{
    fprintf(stderr, "bench_calls: %s: %s: %s\n", what, keel_status_name(st),
            err != NULL && err->message[0] ? err->message : "(no message)");
    exit(1);
}

static double *samples_new(size_t n)
{
    double *v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL)
        die("malloc", "out of memory");
    return v;
}

static dist dist_of(double *v, size_t n)
{
    return (dist){bench_percentile(v, n, 50), bench_percentile(v, n, 99)};
}

/* --- the module -------------------------------------------------------- */

/* The work directory, removed at exit even when a measurement fails. */
static char *work_dir;

static void remove_work_dir(void)
{
    bench_rmtree(work_dir);
    free(work_dir);
    work_dir = NULL;
}

typedef struct subject {
    char *work;
    keel_loader *loader;
    keel_router_ref *add;
} subject;

static subject subject_open(const char *modules_dir)
{
    subject s = {.work = work_dir = bench_tmpdir("calls")};
    if (s.work == NULL)
        die("bench_tmpdir", strerror(errno));
    atexit(remove_work_dir);
    keel_loader_options opts = {.work_dir = s.work};
    keel_error err = {0};
    keel_status st = keel_loader_create(&opts, &s.loader, &err);
    if (st != KEEL_OK)
        die_keel("keel_loader_create", st, &err);
    char path[4096];
    snprintf(path, sizeof path, "%s/counter-1.keel", modules_dir);
    keel_instance *inst = NULL;
    if ((st = keel_loader_install(s.loader, path, &inst, &err)) != KEEL_OK)
        die_keel(path, st, &err);
    if ((st = keel_instance_start(inst, 1, &err)) != KEEL_OK)
        die_keel("keel_instance_start", st, &err);
    st = keel_router_resolve(keel_loader_router(s.loader), NULL, "counting", "add", &s.add, &err);
    if (st != KEEL_OK)
        die_keel("keel_router_resolve counting/add", st, &err);
    return s;
}

static void subject_close(subject *s)
{
    keel_router_ref_release(s->add);
    char *leaks = keel_loader_leaks(s->loader);
    if (leaks != NULL)
        fprintf(stderr, "bench_calls: loader leaks: %s\n", leaks);
    free(leaks);
    keel_loader_destroy(s->loader);
    remove_work_dir();
}

/* The function the router would hand out, fetched once. The module stays
 * loaded for the whole run, so calling it after leaving is safe here. */
static add_fn direct_fn(keel_router_ref *ref)
{
    keel_call call;
    keel_status st = keel_router_enter(ref, NULL, &call);
    if (st != KEEL_OK)
        die_keel("keel_router_enter", st, NULL);
    add_fn fn = (add_fn)call.fn;
    keel_router_leave(&call);
    if (fn(ARG_A, ARG_B) != ANSWER)
        die("direct call", "wrong answer");
    return fn;
}

/* --- in-process calls: batches ---------------------------------------------- */

/* One batch of direct calls; the volatile pointer forces a real indirect
 * call each time (no inlining, no hoisting). Returns ns per call. */
static double direct_batch(add_fn fn)
{
    add_fn volatile target = fn;
    int64_t acc = 0;
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < BATCH; i++)
        acc += target(i, ARG_B);
    double t1 = bench_now_ns();
    sink = acc;
    return (t1 - t0) / BATCH;
}

/* One batch of typed calls through the router, status checked every time
 * as a real caller would. Returns ns per call. */
static double typed_batch(keel_router_ref *ref)
{
    int64_t acc = 0;
    size_t failed = 0;
    double t0 = bench_now_ns();
    for (int64_t i = 0; i < BATCH; i++) {
        keel_call call;
        if (keel_router_enter(ref, NULL, &call) != KEEL_OK) {
            failed++;
            continue;
        }
        acc += ((add_fn)call.fn)(i, ARG_B);
        keel_router_leave(&call);
    }
    double t1 = bench_now_ns();
    if (failed > 0)
        die("typed call", "keel_router_enter failed");
    sink = acc;
    return (t1 - t0) / BATCH;
}

/* Direct and typed batches alternate, so that frequency changes and
 * neighbours' noise fall on both alike: the ratio is what matters. */
static void measure_in_process(keel_router_ref *ref, size_t batches, results *r)
{
    add_fn fn = direct_fn(ref);
    for (size_t i = 0; i < batches / 10; i++) {   /* warm-up: caches, TLS, reader record */
        direct_batch(fn);
        typed_batch(ref);
    }
    double *direct = samples_new(batches), *typed = samples_new(batches);
    for (size_t i = 0; i < batches; i++) {
        direct[i] = direct_batch(fn);
        typed[i] = typed_batch(ref);
    }
    r->direct = dist_of(direct, batches);
    r->typed = dist_of(typed, batches);
    free(direct);
    free(typed);
}

/* --- dynamic calls: each one timed -------------------------------------------- */

/* One JSON call, its result checked and freed (freeing is part of what a
 * dynamic caller pays). Returns ns. */
static double dynamic_once(keel_router_ref *ref)
{
    char *result = NULL;
    keel_error err = {0};
    double t0 = bench_now_ns();
    keel_status st = keel_router_call_json(ref, NULL, JSON_ARGS, sizeof JSON_ARGS - 1, &result, &err);
    int ok = st == KEEL_OK && strcmp(result, "6912") == 0;
    free(result);
    double t1 = bench_now_ns();
    if (st != KEEL_OK)
        die_keel("keel_router_call_json", st, &err);
    if (!ok)
        die("dynamic call", "wrong answer");
    return t1 - t0;
}

static void measure_dynamic(keel_router_ref *ref, size_t n, results *r)
{
    for (size_t i = 0; i < n / 10; i++)
        dynamic_once(ref);
    double *v = samples_new(n);
    for (size_t i = 0; i < n; i++)
        v[i] = dynamic_once(ref);
    r->dynamic = dist_of(v, n);
    free(v);
}

/* What reading the clock twice costs: included in every per-call sample. */
static double clock_overhead(void)
{
    double v[1001];
    for (size_t i = 0; i < 1001; i++) {
        double t0 = bench_now_ns();
        v[i] = bench_now_ns() - t0;
    }
    return bench_percentile(v, 1001, 50);
}

/* --- the sidecar process --------------------------------------------------------- */

typedef struct sidecar {
    pid_t pid;
    int out;             /* its stdout, for "ready" */
} sidecar;

/* Reads the sidecar's first line within the timeout; 0 when it is "ready". */
static int wait_ready(int fd)
{
    char line[64];
    size_t len = 0;
    double deadline = bench_now_ns() + READY_TIMEOUT_MS * 1e6;
    while (len < sizeof line - 1) {
        int left = (int)((deadline - bench_now_ns()) / 1e6);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        ssize_t n = read(fd, line + len, 1);
        if (n <= 0)
            return -1;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    return strcmp(line, "ready\n") == 0 ? 0 : -1;
}

/* Stops the sidecar; returns its wait status. */
static int sidecar_reap(sidecar *sc)
{
    int status = 0;
    kill(sc->pid, SIGTERM);
    while (waitpid(sc->pid, &status, 0) < 0 && errno == EINTR)
        ;
    close(sc->out);
    return status;
}

/* After a measurement: a sidecar that did not exit cleanly on SIGTERM is
 * a broken sidecar, and its numbers are not to be trusted. */
static void sidecar_stop(sidecar *sc)
{
    int status = sidecar_reap(sc);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the sidecar", "did not exit cleanly on SIGTERM");
}

/* Starts `binary mode where` and waits for "ready". Returns 0, or -1 when
 * it did not get ready (it is then stopped). */
static int sidecar_start(const char *binary, const char *mode, const char *where, sidecar *sc)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        die("pipe", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        dup2(pipefd[1], STDOUT_FILENO);
        execl(binary, binary, mode, where, (char *)NULL);
        fprintf(stderr, "bench_calls: exec %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    *sc = (sidecar){pid, pipefd[0]};
    if (wait_ready(sc->out) == 0)
        return 0;
    sidecar_reap(sc);
    return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* --- over a Unix socket ------------------------------------------------------------- */

static int unix_connect(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path)
        die(path, "too long for a Unix socket path (set TMPDIR shorter)");
    memcpy(addr.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect to the sidecar", strerror(errno));
    return fd;
}

/* One request/response on the persistent connection; the answer is one
 * line, so one read usually holds all of it. Returns ns. */
static double unix_once(int fd)
{
    static const char req[] = "1234 5678\n";
    char buf[64];
    size_t len = 0;
    double t0 = bench_now_ns();
    if (write_all(fd, req, sizeof req - 1) != 0)
        die("sidecar write", strerror(errno));
    while (len == 0 || buf[len - 1] != '\n') {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0 || len + (size_t)n >= sizeof buf - 1)
            die("sidecar read", n == 0 ? "connection closed" : strerror(errno));
        len += (size_t)n;
    }
    double t1 = bench_now_ns();
    buf[len] = '\0';
    if (strcmp(buf, "6912\n") != 0)
        die("sidecar", "wrong answer");
    return t1 - t0;
}

static void measure_unix(const char *binary, const char *work, size_t n, results *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sidecar.sock", work);
    sidecar sc;
    if (sidecar_start(binary, "unix", path, &sc) != 0)
        die(binary, "the Unix-socket sidecar did not get ready");
    int fd = unix_connect(path);
    for (size_t i = 0; i < n / 10; i++)
        unix_once(fd);
    double *v = samples_new(n);
    for (size_t i = 0; i < n; i++)
        v[i] = unix_once(fd);
    r->sidecar = dist_of(v, n);
    free(v);
    close(fd);
    sidecar_stop(&sc);
}

/* --- HTTP on loopback ------------------------------------------------------------------ */

/* A port that was free a moment ago (the sidecar binds it next; a clash
 * makes it fail to start, and the caller tries another). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        die("finding a free port", strerror(errno));
    close(fd);
    return ntohs(addr.sin_port);
}

static int tcp_connect(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect to the HTTP sidecar", strerror(errno));
    /* A request is one small write: do not let Nagle hold it back. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A keep-alive connection and the bytes read past the last response. */
typedef struct http_conn {
    int fd;
    char req[128];
    size_t req_len;
    char buf[4096];
    size_t len;
} http_conn;

/* Content-Length of a header block (NUL-terminated), or -1. */
static long content_length(const char *head)
{
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, "content-length:", 15) == 0)
            return strtol(p + 17, NULL, 10);
    return -1;
}

/* Reads more bytes into the connection buffer; dies at EOF. */
static void http_fill(http_conn *c)
{
    if (c->len >= sizeof c->buf - 1)
        die("HTTP sidecar", "response too large");
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (n <= 0)
        die("HTTP sidecar read", n == 0 ? "connection closed (no keep-alive?)" : strerror(errno));
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
}

/* One GET, its response read whole and consumed from the buffer. Returns
 * ns; dies unless the answer is "200" with body "6912". */
static double http_once(http_conn *c)
{
    double t0 = bench_now_ns();
    if (write_all(c->fd, c->req, c->req_len) != 0)
        die("HTTP sidecar write", strerror(errno));
    char *end;
    while ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
        http_fill(c);
    size_t head = (size_t)(end - c->buf) + 4;
    *end = '\0';   /* header block as a string, for content_length */
    long body = content_length(c->buf);
    int ok200 = strncmp(c->buf, "HTTP/1.1 200", 12) == 0;
    if (body < 0 || body > 64)
        die("HTTP sidecar", "no usable Content-Length");
    while (c->len < head + (size_t)body)
        http_fill(c);
    double t1 = bench_now_ns();
    if (!ok200 || body != 4 || memcmp(c->buf + head, "6912", 4) != 0)
        die("HTTP sidecar", "wrong answer");
    c->len -= head + (size_t)body;
    memmove(c->buf, c->buf + head + (size_t)body, c->len);
    c->buf[c->len] = '\0';
    return t1 - t0;
}

static int http_sidecar_start(const char *binary, sidecar *sc)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        char where[64];
        snprintf(where, sizeof where, "127.0.0.1:%d", port);
        if (sidecar_start(binary, "http", where, sc) == 0)
            return port;
    }
    die(binary, "the HTTP sidecar did not get ready (5 ports tried)");
    return -1;
}

static void measure_http(const char *binary, size_t n, results *r)
{
    sidecar sc;
    int port = http_sidecar_start(binary, &sc);
    http_conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        die("calloc", "out of memory");
    c->fd = tcp_connect(port);
    c->req_len = (size_t)snprintf(c->req, sizeof c->req,
                                  "GET /add?a=%d&b=%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                                  ARG_A, ARG_B, port);
    for (size_t i = 0; i < n / 10; i++)
        http_once(c);
    double *v = samples_new(n);
    for (size_t i = 0; i < n; i++)
        v[i] = http_once(c);
    r->http = dist_of(v, n);
    free(v);
    close(c->fd);
    free(c);
    sidecar_stop(&sc);
}

/* The 1-minute load average: on these small VMs, other load changes
 * cross-thread wake-up costs a lot (an idle vCPU must be woken), so the
 * reader of a row needs to know how busy the machine was. */
static double loadavg_1m(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* --- output ----------------------------------------------------------------------------- */

static void print_rows(const results *r, const counts *n)
{
    const char *base = "direct function-pointer call";
    char extra[768];
    snprintf(extra, sizeof extra, "\"timing\": \"batches of %d\", \"batches\": %zu", BATCH, n->batches);
    bench_row("calls", base, "ns", r->direct.p50, r->direct.p99, NULL, 0, NULL, -1, extra);
    bench_row("calls", "typed call through the router", "ns", r->typed.p50, r->typed.p99, base,
              r->direct.p50, "<= 2x direct call", r->typed.p50 <= 2 * r->direct.p50, extra);
    snprintf(extra, sizeof extra,
             "\"timing\": \"every call\", \"calls\": %zu, \"clock_overhead_ns\": %.1f, "
             "\"met_on\": \"p50\", "
             "\"vs_sidecar\": {\"baseline\": \"sidecar over a Unix socket\", \"ratio_p50\": %.4g, "
             "\"ratio_p99\": %.4g}, "
             "\"vs_http\": {\"baseline\": \"HTTP on loopback\", \"ratio_p50\": %.4g, "
             "\"ratio_p99\": %.4g}",
             n->dynamic, r->clock_ns, r->dynamic.p50 / r->sidecar.p50,
             r->dynamic.p99 / r->sidecar.p99, r->dynamic.p50 / r->http.p50,
             r->dynamic.p99 / r->http.p99);
    bench_row("calls", "dynamic call (JSON in, JSON out)", "ns", r->dynamic.p50, r->dynamic.p99,
              base, r->direct.p50, "<= 2 us", r->dynamic.p50 <= 2000, extra);
    snprintf(extra, sizeof extra,
             "\"timing\": \"every call\", \"calls\": %zu, \"connection\": \"one, persistent\", "
             "\"reference\": \"DESIGN.md: about 70 us on these machines\", \"loadavg_1m\": %.2f",
             n->sidecar, r->loadavg);
    bench_row("calls", "sidecar over a Unix socket", "ns", r->sidecar.p50, r->sidecar.p99, base,
              r->direct.p50, NULL, -1, extra);
    snprintf(extra, sizeof extra,
             "\"timing\": \"every call\", \"calls\": %zu, \"connection\": \"one, keep-alive\", "
             "\"server\": \"libmicrohttpd, thread per connection\", \"loadavg_1m\": %.2f",
             n->http, r->loadavg);
    bench_row("calls", "HTTP on loopback", "ns", r->http.p50, r->http.p99, base, r->direct.p50,
              NULL, -1, extra);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        fprintf(stderr, "usage: bench_calls TEST_MODULES_DIR SIDECAR_BINARY [--quick]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);   /* a dead sidecar shows as a write error */
    setenv("KEEL_LOG_LEVEL", "warn", 0);   /* install/start lines are noise here */
    int quick = bench_quick(argc, argv);
    counts n = quick ? (counts){200, 10000, 5000, 2500} : (counts){4000, 200000, 100000, 50000};
    results r = {.clock_ns = clock_overhead(), .loadavg = loadavg_1m()};
    subject s = subject_open(argv[1]);
    measure_in_process(s.add, n.batches, &r);
    measure_dynamic(s.add, n.dynamic, &r);
    measure_unix(argv[2], s.work, n.sidecar, &r);
    measure_http(argv[2], n.http, &r);
    print_rows(&r, &n);
    subject_close(&s);
    return 0;
}

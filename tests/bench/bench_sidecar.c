/*
 * bench_sidecar: the same function as counter's "add", served by a separate
 * process, so that benchmarks can compare a call through the router with
 * the sidecar model (a Unix socket) and with HTTP on loopback, and time how
 * long a process takes from exec to its first answer.
 *
 *   bench_sidecar unix PATH            "A B\n" -> "SUM\n" on a Unix stream
 *                                      socket, one thread per connection
 *   bench_sidecar http 127.0.0.1:PORT  GET /add?a=A&b=B -> body "SUM"
 *                                      (libmicrohttpd, keep-alive)
 *
 * Prints "ready\n" on stdout once it accepts connections and exits with 0
 * on SIGTERM (or SIGINT). Errors: one line on stderr, exit status 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "bench_sidecar: %s: %s\n", what, detail);
    return 1;
}

/* Parses "A B" (decimal int64s) into the sum. Returns 0, or -1 when the
 * request is malformed. */
static int parse_sum(const char *text, int64_t *sum)
{
    char *end = NULL;
    errno = 0;
    long long a = strtoll(text, &end, 10);
    if (end == text || errno != 0)
        return -1;
    const char *rest = end;
    long long b = strtoll(rest, &end, 10);
    if (end == rest || errno != 0 || (*end != '\0' && *end != '\r'))
        return -1;
    /* Unsigned addition: wraps like the module's int64 addition would on
     * every target we run, without signed-overflow UB. */
    *sum = (int64_t)((uint64_t)a + (uint64_t)b);
    return 0;
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

/* Answers every complete line in buf[0..*len) with one write, and keeps
 * the incomplete tail at the front of buf. Returns -1 on a write error. */
static int answer_lines(int fd, char *buf, size_t *len)
{
    char out[LINE_MAX_BYTES * 2];
    size_t out_len = 0, start = 0;
    for (size_t i = 0; i < *len; i++) {
        if (buf[i] != '\n')
            continue;
        buf[i] = '\0';
        int64_t sum = 0;
        int n = parse_sum(buf + start, &sum) == 0
                    ? snprintf(out + out_len, sizeof out - out_len, "%" PRId64 "\n", sum)
                    : snprintf(out + out_len, sizeof out - out_len, "ERR\n");
        out_len += (size_t)n;
        start = i + 1;
        /* Flush early so that a long pipelined burst never overflows out. */
        if (sizeof out - out_len < 32) {
            if (write_all(fd, out, out_len) != 0)
                return -1;
            out_len = 0;
        }
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return out_len > 0 ? write_all(fd, out, out_len) : 0;
}

/* One connection: request lines until EOF. */
static void *serve_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[LINE_MAX_BYTES];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (answer_lines(fd, buf, &len) != 0)
            break;
        if (len == sizeof buf)   /* a line longer than the buffer: refuse it */
            break;
    }
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "bench_sidecar: accept: %s\n", strerror(errno));
            return NULL;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, serve_connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

static int unix_listener(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    unlink(path);   /* a stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* --- HTTP ---------------------------------------------------------------- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    enum MHD_Result r = MHD_queue_response(conn, code, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload;
    /* The first call comes with the headers only. Answering then would make
     * libmicrohttpd discard the rest of the request and close the
     * connection; answering on the second call keeps it alive. */
    static int headers_seen;
    if (*con_cls == NULL) {
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_size != 0) {   /* a body nobody asked for: ignore it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 || strcmp(url, "/add") != 0)
        return respond(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    const char *a = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "a");
    const char *b = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "b");
    char req[128], body[32];
    int64_t sum = 0;
    if (a == NULL || b == NULL || snprintf(req, sizeof req, "%s %s", a, b) >= (int)sizeof req ||
        parse_sum(req, &sum) != 0)
        return respond(conn, MHD_HTTP_BAD_REQUEST, "want /add?a=INT&b=INT\n");
    snprintf(body, sizeof body, "%" PRId64, sum);
    return respond(conn, MHD_HTTP_OK, body);
}

/* "127.0.0.1:PORT" into addr. Returns 0 or -1. */
static int parse_host_port(const char *spec, struct sockaddr_in *addr)
{
    const char *colon = strrchr(spec, ':');
    char host[64];
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return -1;
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

static struct MHD_Daemon *http_start(const struct sockaddr_in *addr)
{
    /* A thread per connection: the lowest latency for one keep-alive
     * client, which is what the call benchmark measures. */
    return MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_ERROR_LOG,
                            ntohs(addr->sin_port), NULL, NULL, on_request, NULL,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, 0u, MHD_OPTION_END);
}

/* --- main ---------------------------------------------------------------- */

/* Blocks the stop signals in every thread (threads inherit the mask), so
 * that main receives them with sigwait and can clean up in order. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a client that goes away mid-answer */
}

static void announce_ready(void)
{
    fputs("ready\n", stdout);
    fflush(stdout);
}

static int run_unix(const char *path, const sigset_t *stop)
{
    int listener = unix_listener(path);
    if (listener < 0)
        return fail(path, strerror(errno));
    pthread_t t;
    if (pthread_create(&t, NULL, accept_loop, (void *)(intptr_t)listener) != 0) {
        close(listener);
        unlink(path);
        return fail("pthread_create", "cannot start the accept thread");
    }
    pthread_detach(t);
    announce_ready();
    int sig = 0;
    sigwait(stop, &sig);
    /* Connection threads may still be blocked in read: exiting the process
     * ends them; only the socket file needs removing. */
    unlink(path);
    return 0;
}

static int run_http(const char *spec, const sigset_t *stop)
{
    struct sockaddr_in addr;
    if (parse_host_port(spec, &addr) != 0)
        return fail(spec, "want 127.0.0.1:PORT");
    struct MHD_Daemon *d = http_start(&addr);
    if (d == NULL)
        return fail(spec, "libmicrohttpd could not listen there");
    announce_ready();
    int sig = 0;
    sigwait(stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "unix") != 0 && strcmp(argv[1], "http") != 0)) {
        fprintf(stderr, "usage: bench_sidecar unix PATH | http 127.0.0.1:PORT\n");
        return 2;
    }
    sigset_t stop;
    block_stop_signals(&stop);
    return strcmp(argv[1], "unix") == 0 ? run_unix(argv[2], &stop) : run_http(argv[2], &stop);
}

/* http_server.c — the libmicrohttpd side: the listening socket, requests
 * (route, auth, scene, size and rate checks, body, call, response), and
 * taking the socket back for an upgrade without refusing connections. */
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per connection: whether it has reached the request handler yet. */
typedef struct http_conn {
    bool served;
} http_conn;

static void req_free(http_req *req)
{
    http_table_unref(req->table);
    free(req->path);
    free(req->scene_buf);
    free(req->body);
    free(req->result);
    free(req);
}

void http_req_unref(http_req *req)
{
    if (req && atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) == 1)
        req_free(req);
}

/* ---- responses ---- */

static enum MHD_Result respond(http_state *st, http_req *req, int status, char *body,
                               const char *hname, const char *hvalue)
{
    if (!body)
        return MHD_NO;
    size_t len = strlen(body);
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Keel-Route", req->route ? req->route->id : "-");
    MHD_add_response_header(resp, "X-Keel-Scene", req->scene ? req->scene : "-");
    if (hname)
        MHD_add_response_header(resp, hname, hvalue);
    if (req->fallback)
        MHD_add_response_header(resp, "X-Keel-Fallback", "true");
    if (atomic_load(&st->closing))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
#if HTTP_TABLE_VERSION >= 2
    /* 1.1.0: how long the gateway held the request (RFC Server-Timing). */
    char timing[64];
    snprintf(timing, sizeof timing, "gateway;dur=%.3f", (http_now_ns() - req->start_ns) / 1e6);
    MHD_add_response_header(resp, "Server-Timing", timing);
#endif
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->bytes = len;
    req->phase = HTTP_PHASE_ANSWERED;
    return r;
}

static char *error_body(int status, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    if (o && cJSON_AddStringToObject(o, "error", msg) && cJSON_AddNumberToObject(o, "status", status))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static enum MHD_Result respond_error(http_state *st, http_req *req, int status, const char *hname,
                                     const char *hvalue, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static enum MHD_Result respond_error(http_state *st, http_req *req, int status, const char *hname,
                                     const char *hvalue, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = error_body(status, fmt, ap);
    va_end(ap);
    return respond(st, req, status, body, hname, hvalue);
}

/* ---- request checks ---- */

static bool same_secret(const char *given, size_t given_len, const http_token *t)
{
    unsigned char diff = given_len != t->length;
    for (size_t i = 0; i < t->length; i++)
        diff |= (unsigned char)((i < given_len ? given[i] : 0) ^ t->secret[i]);
    return diff == 0;
}

static bool authorized(const http_state *st, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    size_t len = strlen(token);
    bool ok = false;
    for (size_t i = 0; i < st->cfg.token_count; i++)
        ok |= same_secret(token, len, &st->cfg.tokens[i]);
    return ok;
}

static void remote_text(struct MHD_Connection *conn, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN];
    snprintf(buf, size, "-");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
}

static void mark_served(http_state *st, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    http_conn *hc = ci ? ci->socket_context : NULL;
    if (hc && !hc->served) {
        hc->served = true;
        atomic_fetch_sub(&st->fresh, 1);
    }
}

/* The scene header, if the route has one: picks an allowed scene. */
static enum MHD_Result choose_scene(http_state *st, http_req *req, bool *answered)
{
    http_route *r = req->route;
    *answered = false;
    req->scene = r->scene;
    if (!r->scene_header)
        return MHD_YES;
    const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, r->scene_header);
    if (!v)
        return MHD_YES;
    for (size_t i = 0; i < r->scene_count; i++)
        if (strcmp(r->scenes[i], v) == 0) {
            req->scene = r->scenes[i];
            return MHD_YES;
        }
    char allowed[512];
    size_t len = 0;
    allowed[0] = '\0';
    for (size_t i = 0; i < r->scene_count && len < sizeof allowed; i++) {
        int n = snprintf(allowed + len, sizeof allowed - len, "%s%s", i ? ", " : "", r->scenes[i]);
        len += n > 0 ? (size_t)n : 0;
    }
    *answered = true;
    return respond_error(st, req, 400, NULL, NULL,
                         "scene \"%.64s\" (header %s) is not allowed on %s (allowed: %s)", v,
                         r->scene_header, r->id, allowed);
}

/* First call: headers are in. Route, auth, scene, declared size, rate. */
static enum MHD_Result on_headers(http_state *st, struct MHD_Connection *conn, const char *url,
                                  const char *method, void **con_cls)
{
    mark_served(st, conn);
    http_req *req = calloc(1, sizeof *req);
    if (!req)
        return MHD_NO;
    atomic_init(&req->refs, 1);
    req->st = st;
    req->conn = conn;
    req->start_ns = http_now_ns();
    snprintf(req->method, sizeof req->method, "%s", method);
    req->path = strdup(url ? url : "");
    req->table = http_state_table(st);
    if (!req->path) {
        req_free(req);
        return MHD_NO;
    }
    if (st->log.path)
        remote_text(conn, req->remote, sizeof req->remote);
    *con_cls = req;
    atomic_fetch_add(&st->active, 1);
    atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);

    http_route *r = http_table_find(req->table, req->method, req->path);
    if (!r) {
        char allow[128];
        if (http_table_allow(req->table, req->path, allow, sizeof allow)) {
            atomic_fetch_add_explicit(&st->unrouted_405, 1, memory_order_relaxed);
            return respond_error(st, req, 405, MHD_HTTP_HEADER_ALLOW, allow,
                                 "method %s is not allowed on %.200s (allowed: %s)", req->method,
                                 req->path, allow);
        }
        atomic_fetch_add_explicit(&st->unrouted_404, 1, memory_order_relaxed);
        return respond_error(st, req, 404, NULL, NULL, "no route for %s %.200s", req->method,
                             req->path);
    }
    req->route = r;
    req->scene = r->scene;
    atomic_fetch_add_explicit(&r->metrics.in_flight, 1, memory_order_relaxed);
    if (r->auth_token && !authorized(st, conn))
        return respond_error(st, req, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
                             "%s needs \"Authorization: Bearer <token>\" with a valid token",
                             r->id);
    bool answered;
    enum MHD_Result res = choose_scene(st, req, &answered);
    if (answered)
        return res;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        errno = 0;
        unsigned long long n = strtoull(cl, NULL, 10);
        if (errno == 0 && n > st->cfg.max_body)
            return respond_error(st, req, 413, NULL, NULL,
                                 "the body (%llu bytes) is larger than %zu bytes", n,
                                 st->cfg.max_body);
    }
    unsigned retry;
    if (!http_route_take(r, req->start_ns, &retry)) {
        char value[16];
        snprintf(value, sizeof value, "%u", retry);
        return respond_error(st, req, 429, MHD_HTTP_HEADER_RETRY_AFTER, value,
                             "rate limit of %s exceeded (%g per second, burst %g)", r->id,
                             r->per_second, r->burst);
    }
    return MHD_YES;
}

/* Body bytes: kept up to max_body; past it the request is marked and the
 * rest is dropped as it arrives (never buffered). */
static void on_body(http_state *st, http_req *req, const char *data, size_t size)
{
    if (req->too_large)
        return;
    if (size > st->cfg.max_body - req->body_len) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->body_len = req->body_cap = 0;
        return;
    }
    if (req->body_len + size + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 256;
        while (cap < req->body_len + size + 1)
            cap *= 2;
        if (cap > st->cfg.max_body + 1)
            cap = st->cfg.max_body + 1;
        char *b = realloc(req->body, cap);
        if (!b) {
            req->too_large = true;   /* answered 413: cannot hold it */
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
            return;
        }
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, size);
    req->body_len += size;
    req->body[req->body_len] = '\0';
}

static const char *status_name(keel_status s)
{
    switch (s) {
    case KEEL_ERR_NOT_FOUND: return "not found";
    case KEEL_ERR_DRAINING: return "draining";
    case KEEL_ERR_BROKEN: return "broken";
    case KEEL_ERR_TIMEOUT: return "timed out";
    case KEEL_ERR_NOMEM: return "out of memory";
    case KEEL_ERR_LIMIT: return "limit reached";
    case KEEL_ERR_BUSY: return "busy";
    case KEEL_ERR_DENIED: return "denied";
    case KEEL_ERR_INVALID: return "invalid arguments";
    default: return "failed";
    }
}

/* The call is back (or timed out): the response. */
static enum MHD_Result on_result(http_state *st, http_req *req)
{
    http_route *r = req->route;
    pthread_mutex_lock(&st->calls.lock);
    http_phase phase = req->phase;
    keel_status s = req->call_status;
    char *result = req->result;
    req->result = NULL;
    char error[HTTP_ERROR_MAX];
    memcpy(error, req->call_error, sizeof error);
    pthread_mutex_unlock(&st->calls.lock);

    if (phase == HTTP_PHASE_TIMED_OUT) {
        atomic_fetch_add_explicit(&r->metrics.timeouts, 1, memory_order_relaxed);
        s = KEEL_ERR_TIMEOUT;
        snprintf(error, sizeof error, "no answer within %u ms", st->cfg.timeout_ms);
    }
    if (s == KEEL_OK)
        return respond(st, req, 200, result ? result : strdup("null"), NULL, NULL);
    free(result);
    if (s == KEEL_ERR_INVALID)
        return respond_error(st, req, 400, NULL, NULL, "bad arguments for %s: %s", r->service,
                             error[0] ? error : "refused");
    if (r->has_fallback) {
        req->fallback = true;
        return respond(st, req, r->fallback_status, strdup(r->fallback_body), NULL, NULL);
    }
    int status = s == KEEL_ERR_TIMEOUT ? 504
                 : (s == KEEL_ERR_NOT_FOUND || s == KEEL_ERR_DRAINING || s == KEEL_ERR_BROKEN) ? 503
                                                                                                : 502;
    return respond_error(st, req, status, NULL, NULL, "service %s in scene %s %s%s%s", r->service,
                         req->scene, status_name(s), error[0] ? ": " : "", error);
}

/* The whole body is in: check it, then park the connection and queue the
 * call (or call inline while the server drains for an upgrade). */
static enum MHD_Result on_complete(http_state *st, http_req *req)
{
    if (req->too_large)
        return respond_error(st, req, 413, NULL, NULL, "the body is larger than %zu bytes",
                             st->cfg.max_body);
    if (req->body_len > 0) {
        const char *end = NULL;
        cJSON *args = strlen(req->body) == req->body_len
                          ? cJSON_ParseWithOpts(req->body, &end, 1)
                          : NULL;
        bool ok = cJSON_IsArray(args);
        cJSON_Delete(args);
        if (!ok)
            return respond_error(st, req, 400, NULL, NULL,
                                 "the body must be a JSON array of the arguments of %s",
                                 req->route->service);
    }
    if (st->cfg.workers == 0) {   /* inline mode */
        http_calls_run_inline(st, req);
        return on_result(st, req);
    }
    atomic_fetch_add(&st->parked, 1);
    if (atomic_load(&st->no_park)) {
        atomic_fetch_sub(&st->parked, 1);
        http_calls_run_inline(st, req);
        return on_result(st, req);
    }
    MHD_suspend_connection(req->conn);
    http_calls_submit(st, req);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    http_state *st = cls;
    http_req *req = *con_cls;
    if (!req)
        return on_headers(st, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        on_body(st, req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (req->phase) {
    case HTTP_PHASE_ADMIT:
        return on_complete(st, req);
    case HTTP_PHASE_DONE:
    case HTTP_PHASE_TIMED_OUT:
        return on_result(st, req);
    default:
        return MHD_YES;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_state *st = cls;
    http_req *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    double micros = (http_now_ns() - req->start_ns) / 1e3;
    if (req->route) {
        http_metrics *m = &req->route->metrics;
        http_metrics_record(m, req->status, req->fallback, micros);
        atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
    }
    http_log_request(&st->log, req, micros);
    atomic_fetch_sub(&st->active, 1);
    http_req_unref(req);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_state *st = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        http_conn *hc = calloc(1, sizeof *hc);
        *socket_context = hc;
        atomic_fetch_add(&st->connections, 1);
        if (hc)
            atomic_fetch_add(&st->fresh, 1);
        return;
    }
    http_conn *hc = *socket_context;
    if (hc && !hc->served)
        atomic_fetch_sub(&st->fresh, 1);
    free(hc);
    *socket_context = NULL;
    atomic_fetch_sub(&st->connections, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_state *st = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    http_host(st)->log(http_host(st), KEEL_LOG_WARN, "libmicrohttpd: %s", line);
}

keel_status http_server_listen(http_state *st, keel_starter_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", st->cfg.port);
    int rc = getaddrinfo(st->cfg.host, port, &hints, &res);
    if (rc != 0) {
        keel_starter_error_set(err, "http: config field \"listen\": cannot resolve host \"%s\": %s",
                               st->cfg.host, gai_strerror(rc));
        return KEEL_ERR_INVALID;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        keel_starter_error_set(err, "http: config field \"listen\": cannot listen on %s: %s",
                               st->cfg.listen, strerror(saved));
        return KEEL_ERR_IO;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        st->bound_port = ntohs(ss.ss_family == AF_INET6
                                   ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                   : ((struct sockaddr_in *)&ss)->sin_port);
    st->listen_fd = fd;
    return KEEL_OK;
}

keel_status http_server_start(http_state *st, keel_starter_error *err)
{
    /* libmicrohttpd gets its own descriptor of the socket: it may close it
     * on its error paths; the state's stays open across upgrades. */
    int fd = dup(st->listen_fd);
    if (fd < 0) {
        keel_starter_error_set(err, "http: cannot start the server on %s: dup: %s",
                               st->cfg.listen, strerror(errno));
        return KEEL_ERR_IO;
    }
    atomic_store(&st->closing, false);
    atomic_store(&st->no_park, false);
    unsigned idle_s = st->cfg.timeout_ms / 1000 + 30;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    st->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, st,
                                  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, st,
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)st->cfg.threads,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, st,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, st,
                                  MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
                                  MHD_OPTION_END);
    if (!st->daemon) {
        /* libmicrohttpd closes the descriptor on some of its error paths
         * and not on others: leave it (closing a number it may have
         * closed already could close someone else's descriptor). */
        keel_starter_error_set(err, "http: cannot start the HTTP server on %s (see the log)",
                               st->cfg.listen);
        return KEEL_ERR_IO;
    }
    atomic_store(&st->serving, true);
    return KEEL_OK;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

void http_server_stop(http_state *st)
{
    if (!st->daemon)
        return;
    /* 1. New connections stay in the kernel's backlog from now on. */
    MHD_socket fd = MHD_quiesce_daemon(st->daemon);
    if (fd == MHD_INVALID_SOCKET)
        http_host(st)->log(http_host(st), KEEL_LOG_WARN,
                      "http: could not take the listening socket out of the server");
    /* 2. Every response from now on says "Connection: close", so
     *    keep-alive clients finish their request here and reconnect (to
     *    the backlog). Wait for requests in progress and connections
     *    accepted just before (up to timeout_ms + 1 s), and for
     *    keep-alive connections to close (up to 1 s: an idle one is
     *    closed when the server stops). */
    atomic_store(&st->closing, true);
    double start = http_now_ns();
    double busy_deadline = start + ((double)st->cfg.timeout_ms + 1000.0) * 1e6;
    double idle_deadline = start + 1000.0 * 1e6;
    for (double now = start; now < busy_deadline; now = http_now_ns()) {
        if (atomic_load(&st->active) == 0 && atomic_load(&st->fresh) == 0 &&
            (atomic_load(&st->connections) == 0 || now >= idle_deadline))
            break;
        sleep_ms(1);
    }
    /* 3. No more parking; wait for parked connections to be handed back
     *    (the watchdog bounds this by timeout_ms). */
    atomic_store(&st->no_park, true);
    while (atomic_load(&st->parked) > 0)
        sleep_ms(1);
    /* 4. Requests that arrived on an idle keep-alive connection during
     *    step 2 (answered inline or just resumed): let their responses
     *    go out before the connections are closed (bounded by 1 s). */
    double last = http_now_ns() + 1000.0 * 1e6;
    while (atomic_load(&st->active) > 0 && http_now_ns() < last)
        sleep_ms(1);
    atomic_store(&st->serving, false);
    MHD_stop_daemon(st->daemon);
    st->daemon = NULL;
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

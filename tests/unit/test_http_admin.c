/*
 * Unit tests of the HTTP admin API (base/src/http_admin.c) against a fake
 * admin: keel_admin_handle, keel_base_metrics_text and keel_log are defined
 * here. The fake records every admin request it gets and answers per
 * operation; the tests speak real HTTP/1.1 over plain sockets to a server
 * on 127.0.0.1:0 and check the admin request each endpoint produced, the
 * arklet response shape and HTTP status codes, the token check (and that a
 * refused request never reaches the admin), the listen-address and token
 * rules, body limits, the access log, and four clients at once.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <keel/log.h>

#include "http_admin.h"

#define TOKEN "s3cret-token-0123456789"
#define MIB ((size_t)1024 * 1024)
#define CLIENTS 4

/* ---- the fake base: log --------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char **log_lines;
static size_t log_count;

void keel_logv(keel_log_level level, const char *tag, const char *fmt, va_list ap)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "[%s] ", tag != NULL ? tag : "-");
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    pthread_mutex_lock(&log_lock);
    char **grown = realloc(log_lines, (log_count + 1) * sizeof *grown);
    if (grown != NULL) {
        log_lines = grown;
        log_lines[log_count] = strdup(line);
        if (log_lines[log_count] != NULL)
            log_count++;
    }
    pthread_mutex_unlock(&log_lock);
}

void keel_log(keel_log_level level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_logv(level, tag, fmt, ap);
    va_end(ap);
}

static size_t log_lines_containing(const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_count; i++)
        if (strstr(log_lines[i], needle) != NULL)
            n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < log_count; i++)
        free(log_lines[i]);
    free(log_lines);
    log_lines = NULL;
    log_count = 0;
    pthread_mutex_unlock(&log_lock);
}

/* ---- the fake base: admin ------------------------------------------------------- */

static int base_storage;
#define FAKE_BASE ((keel_base *)&base_storage)

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;
static char **requests; /* every admin request, oldest first */
static size_t request_count;
static int gathered;
static atomic_int metrics_calls;
static atomic_bool wrong_base;

static void record_request(const char *text, size_t size)
{
    pthread_mutex_lock(&fake_lock);
    char **grown = realloc(requests, (request_count + 1) * sizeof *grown);
    if (grown != NULL) {
        requests = grown;
        requests[request_count] = strndup(text, size);
        if (requests[request_count] != NULL)
            request_count++;
    }
    pthread_mutex_unlock(&fake_lock);
}

static size_t admin_calls(void)
{
    pthread_mutex_lock(&fake_lock);
    size_t n = request_count;
    pthread_mutex_unlock(&fake_lock);
    return n;
}

static void fake_reset(void)
{
    pthread_mutex_lock(&fake_lock);
    for (size_t i = 0; i < request_count; i++)
        free(requests[i]);
    free(requests);
    requests = NULL;
    request_count = 0;
    gathered = 0;
    pthread_mutex_unlock(&fake_lock);
    atomic_store(&metrics_calls, 0);
    atomic_store(&wrong_base, false);
}

static char *ok_answer(const char *result_json)
{
    size_t n = strlen(result_json) + 32;
    char *text = malloc(n);
    if (text != NULL)
        snprintf(text, n, "{\"ok\":true,\"result\":%s}", result_json);
    return text;
}

static char *error_answer(const char *status, int code, const char *message)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"ok\":false,\"error\":{\"status\":\"%s\",\"code\":%d,\"message\":\"%s\"}}", status,
             code, message);
    return strdup(text);
}

static const char *arg_string(const cJSON *args, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(args, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

/* "gather": waits (bounded) until CLIENTS requests are inside at once. */
static char *answer_gather(void)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&fake_lock);
    gathered++;
    pthread_cond_broadcast(&fake_cond);
    while (gathered < CLIENTS)
        if (pthread_cond_timedwait(&fake_cond, &fake_lock, &deadline) == ETIMEDOUT)
            break;
    bool together = gathered >= CLIENTS;
    pthread_mutex_unlock(&fake_lock);
    return ok_answer(together ? "{\"together\":true}" : "{\"together\":false}");
}

static char *answer_install(const cJSON *args)
{
    if (strstr(arg_string(args, "bundle"), "busymod") != NULL)
        return error_answer("busy", 13, "busymod is busy: install in progress");
    return ok_answer("{\"name\":\"greeter\",\"version\":\"1.0.0\",\"state\":\"active\",\"namespace\":1}");
}

static char *answer_uninstall(const cJSON *args)
{
    const char *name = arg_string(args, "name");
    if (strcmp(name, "ghost") == 0)
        return error_answer("not-found", 3, "no module named ghost is installed");
    if (strcmp(name, "busymod") == 0)
        return error_answer("busy", 13, "busymod is busy: switch in progress");
    char result[256];
    snprintf(result, sizeof result, "{\"uninstalled\":\"%s@%s\"}", name, arg_string(args, "version"));
    return ok_answer(result);
}

static char *answer_switch(const cJSON *args)
{
    const char *name = arg_string(args, "name");
    if (strcmp(name, "busymod") == 0)
        return error_answer("busy", 13, "busymod is busy: install in progress");
    char result[256];
    snprintf(result, sizeof result, "{\"active\":\"%s@%s\",\"previous\":null}", name,
             arg_string(args, "version"));
    return ok_answer(result);
}

static const char list_result[] =
    "{\"modules\":["
    "{\"name\":\"greeter\",\"version\":\"1.0.0\",\"state\":\"active\",\"namespace\":1,"
    "\"priority\":0,\"memory_bytes\":4096,\"reason\":null,\"services\":[]},"
    "{\"name\":\"greeter\",\"version\":\"0.9.0\",\"state\":\"inactive\",\"services\":[]},"
    "{\"name\":\"fresh\",\"version\":\"0.1.0\",\"state\":\"installed\",\"services\":[]},"
    "{\"name\":\"bad\",\"version\":\"2.0.0\",\"state\":\"broken\",\"reason\":\"start hook failed\"},"
    "{\"name\":\"odd\",\"version\":\"3.0.0\",\"state\":\"frozen\"}]}";

static char *answer_pad(const cJSON *args)
{
    char result[64];
    snprintf(result, sizeof result, "{\"got\":%zu}", strlen(arg_string(args, "pad")));
    return ok_answer(result);
}

static char *answer(const char *op, const cJSON *args)
{
    if (strcmp(op, "install") == 0)
        return answer_install(args);
    if (strcmp(op, "uninstall") == 0)
        return answer_uninstall(args);
    if (strcmp(op, "switch") == 0)
        return answer_switch(args);
    if (strcmp(op, "list") == 0)
        return ok_answer(list_result);
    if (strcmp(op, "health") == 0)
        return ok_answer("{\"status\":\"UP\",\"uptime_s\":7,\"modules\":2,\"active\":1,"
                         "\"broken\":0,\"leaks\":[]}");
    if (strcmp(op, "route") == 0) /* the args are checked through the recorded request */
        return ok_answer("{\"echo\":true}");
    if (strcmp(op, "gather") == 0)
        return answer_gather();
    if (strcmp(op, "pad") == 0)
        return answer_pad(args);
    if (strcmp(op, "unsafe") == 0)
        return error_answer("unsafe", 10, "greeter could not be unloaded safely");
    if (strcmp(op, "exists") == 0)
        return error_answer("exists", 4, "greeter@1.0.0 is already installed");
    if (strcmp(op, "internal") == 0)
        return error_answer("internal", 17, "a bug in keel");
    if (strcmp(op, "nomem") == 0)
        return NULL;
    if (strcmp(op, "garbage") == 0)
        return strdup("this is not json");
    return error_answer("invalid", 1, "unknown operation");
}

char *keel_admin_handle(keel_base *base, const char *request, size_t size,
                        keel_progress_fn progress, void *user)
{
    if (base != FAKE_BASE)
        atomic_store(&wrong_base, true);
    record_request(request, size);
    cJSON *doc = cJSON_ParseWithLength(request, size);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(doc, "op");
    char *text = cJSON_IsString(op)
                     ? answer(op->valuestring, cJSON_GetObjectItemCaseSensitive(doc, "args"))
                     : error_answer("invalid", 1, "no op");
    cJSON_Delete(doc);
    return text;
}

static const char metrics_text[] =
    "# HELP keel_module_state State of a module instance.\n"
    "# TYPE keel_module_state gauge\n"
    "keel_module_state{module=\"greeter\",version=\"1.0.0\"} 2\n";

char *keel_base_metrics_text(keel_base *base)
{
    if (base != FAKE_BASE)
        atomic_store(&wrong_base, true);
    atomic_fetch_add(&metrics_calls, 1);
    return strdup(metrics_text);
}

/* Asserts that admin request number `i` (0 = first) equals `expected`. */
static void assert_request(size_t i, const char *expected)
{
    pthread_mutex_lock(&fake_lock);
    char *text = i < request_count ? strdup(requests[i]) : NULL;
    pthread_mutex_unlock(&fake_lock);
    ck_assert_msg(text != NULL, "admin request %zu never came", i);
    cJSON *got = cJSON_Parse(text);
    cJSON *want = cJSON_Parse(expected);
    ck_assert_ptr_nonnull(want);
    ck_assert_msg(cJSON_Compare(got, want, true), "admin request %zu is %s, expected %s", i, text,
                  expected);
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(text);
}

/* ---- a tiny HTTP/1.1 client ----------------------------------------------------- */

typedef struct response {
    int status;
    char *raw;  /* everything received */
    char *body; /* inside raw */
    size_t body_len;
    cJSON *json; /* body as JSON, NULL when it is not */
} response;

static void response_free(response *r)
{
    cJSON_Delete(r->json);
    free(r->raw);
    memset(r, 0, sizeof *r);
}

static int connect_to(int family, unsigned port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 30};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    ck_assert_msg(connect(fd, (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* Reads until the server closes (every request says Connection: close). */
static response read_response(int fd)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    response r = {.raw = buf};
    ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &r.status) == 1, "no status line in \"%s\"", buf);
    char *end = strstr(buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    r.body = end + 4;
    r.body_len = len - (size_t)(r.body - buf);
    r.json = cJSON_Parse(r.body);
    return r;
}

/* Sends raw request bytes on a fresh connection and reads the answer. */
static response http_raw(unsigned port, const char *request, size_t len)
{
    int fd = connect_to(AF_INET, port);
    send_all(fd, request, len);
    response r = read_response(fd);
    close(fd);
    return r;
}

/* One request. `token` NULL sends no Authorization; `body` NULL sends none. */
static response http_request(unsigned port, const char *method, const char *path,
                             const char *auth, const char *body)
{
    size_t body_len = body != NULL ? strlen(body) : 0;
    size_t cap = body_len + 1024;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    int n = snprintf(text, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", method,
                     path);
    if (auth != NULL)
        n += snprintf(text + n, cap - (size_t)n, "Authorization: %s\r\n", auth);
    if (body != NULL)
        n += snprintf(text + n, cap - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", body_len);
    n += snprintf(text + n, cap - (size_t)n, "\r\n");
    memcpy(text + n, body != NULL ? body : "", body_len);
    response r = http_raw(port, text, (size_t)n + body_len);
    free(text);
    return r;
}

static unsigned port;
static keel_http *server;

static response post(const char *path, const char *body)
{
    return http_request(port, "POST", path, "Bearer " TOKEN, body);
}

/* The value of header `name` in r (copied into buf), NULL when absent. */
static const char *header(const response *r, const char *name, char *buf, size_t size)
{
    size_t name_len = strlen(name);
    for (const char *line = strstr(r->raw, "\r\n"); line != NULL && line + 2 < r->body;
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_len) == 0 && start[name_len] == ':') {
            const char *value = start + name_len + 1;
            while (*value == ' ')
                value++;
            size_t n = strcspn(value, "\r\n");
            snprintf(buf, size, "%.*s", (int)n, value);
            return buf;
        }
    }
    return NULL;
}

static const char *json_str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Asserts status, the arklet shape and code; returns data (inside r). */
static const cJSON *assert_envelope(const response *r, int status, const char *code)
{
    ck_assert_msg(r->status == status, "HTTP %d, expected %d: %s", r->status, status, r->raw);
    ck_assert_msg(r->json != NULL && cJSON_IsObject(r->json), "body is not a JSON object: %s",
                  r->body);
    ck_assert_str_eq(json_str(r->json, "code"), code);
    ck_assert_ptr_nonnull(json_str(r->json, "message"));
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(r->json, "data");
    ck_assert_ptr_nonnull(data);
    char type[128];
    ck_assert_ptr_nonnull(header(r, "Content-Type", type, sizeof type));
    ck_assert_str_eq(type, "application/json");
    return data;
}

static void assert_message_contains(const response *r, const char *needle)
{
    const char *message = json_str(r->json, "message");
    ck_assert_msg(message != NULL && strstr(message, needle) != NULL,
                  "message \"%s\" lacks \"%s\"", message ? message : "(none)", needle);
}

/* ---- fixtures ------------------------------------------------------------------- */

static void server_setup(void)
{
    fake_reset();
    log_reset();
    keel_error err = {0};
    ck_assert_msg(keel_http_start(FAKE_BASE, "127.0.0.1:0", TOKEN, &server, &err) == KEEL_OK,
                  "start: %s", err.message);
    port = keel_http_port(server);
    ck_assert_uint_ne(port, 0);
}

static void server_teardown(void)
{
    keel_http_stop(server);
    server = NULL;
    ck_assert(!atomic_load(&wrong_base));
    fake_reset();
    log_reset();
}

/* ---- start: listen addresses and tokens ------------------------------------------ */

static void assert_start_refused(const char *listen, const char *token, keel_status status,
                                 const char *needle)
{
    keel_error err = {0};
    keel_http *h = (keel_http *)&base_storage; /* must be reset to NULL */
    ck_assert_int_eq(keel_http_start(FAKE_BASE, listen, token, &h, &err), status);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.message, needle) != NULL, "\"%s\" lacks \"%s\"", err.message, needle);
    ck_assert_ptr_null(strchr(err.message, '\n'));
}

START_TEST(test_listen_refuses_non_loopback)
{
    keel_error err = {0};
    keel_http *h = NULL;
    ck_assert_int_eq(keel_http_start(FAKE_BASE, "0.0.0.0:80", TOKEN, &h, &err), KEEL_ERR_INVALID);
    ck_assert_str_eq(err.message, "HTTP admin API listens on loopback only; got 0.0.0.0:80");
    static const char *refused[] = {"192.168.1.10:8080", "10.0.0.1:0",      "example.com:80",
                                    "[::]:80",           "[2001:db8::1]:80", "[::ffff:127.0.0.1]:80",
                                    "128.0.0.1:80",      "::1:80"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        assert_start_refused(refused[i], TOKEN, KEEL_ERR_INVALID, "listens on loopback only");
}
END_TEST

START_TEST(test_listen_malformed)
{
    static const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                                "127.0.0.1:8o", "[::1]", "[::1]80", "localhost:123456", ":80"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        keel_error err = {0};
        keel_http *h = NULL;
        ck_assert_msg(keel_http_start(FAKE_BASE, bad[i], TOKEN, &h, &err) == KEEL_ERR_INVALID,
                      "%s accepted", bad[i]);
        ck_assert_ptr_null(h);
    }
    assert_start_refused("", TOKEN, KEEL_ERR_INVALID, "no listen address");
    assert_start_refused(NULL, TOKEN, KEEL_ERR_INVALID, "no listen address");
}
END_TEST

START_TEST(test_token_rules)
{
    assert_start_refused("127.0.0.1:0", "0123456789abcde", KEEL_ERR_INVALID, "at least 16");
    assert_start_refused("127.0.0.1:0", "", KEEL_ERR_INVALID, "at least 16");
    assert_start_refused("127.0.0.1:0", NULL, KEEL_ERR_INVALID, "at least 16");
    assert_start_refused("127.0.0.1:0", "0123456789 abcdef", KEEL_ERR_INVALID, "printable");
    assert_start_refused("127.0.0.1:0", "0123456789abcdef\n", KEEL_ERR_INVALID, "printable");
    keel_error err = {0};
    keel_http *h = NULL;
    ck_assert_int_eq(keel_http_start(FAKE_BASE, "127.0.0.1:0", "0123456789abcdef", &h, &err),
                     KEEL_OK);
    keel_http_stop(h);
}
END_TEST

START_TEST(test_listen_forms)
{
    static const char *forms[] = {"127.0.0.1:0", "localhost:0", "127.0.0.2:0"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        keel_error err = {0};
        keel_http *h = NULL;
        ck_assert_msg(keel_http_start(FAKE_BASE, forms[i], TOKEN, &h, &err) == KEEL_OK, "%s: %s",
                      forms[i], err.message);
        ck_assert_uint_ne(keel_http_port(h), 0);
        keel_http_stop(h);
    }
    /* IPv6 loopback, when this machine has it. */
    keel_error err = {0};
    keel_http *h = NULL;
    keel_status st = keel_http_start(FAKE_BASE, "[::1]:0", TOKEN, &h, &err);
    ck_assert_msg(st == KEEL_OK || st == KEEL_ERR_IO, "[::1]:0: %s", err.message);
    if (st == KEEL_OK) {
        int fd = connect_to(AF_INET6, keel_http_port(h));
        static const char req[] = "POST /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                  "Authorization: Bearer " TOKEN "\r\n\r\n";
        send_all(fd, req, strlen(req));
        response r = read_response(fd);
        close(fd);
        assert_envelope(&r, 200, "SUCCESS");
        response_free(&r);
        keel_http_stop(h);
    }
}
END_TEST

START_TEST(test_port_in_use)
{
    keel_error err = {0};
    keel_http *first = NULL, *second = NULL;
    ck_assert_int_eq(keel_http_start(FAKE_BASE, "127.0.0.1:0", TOKEN, &first, &err), KEEL_OK);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", keel_http_port(first));
    ck_assert_int_eq(keel_http_start(FAKE_BASE, listen, TOKEN, &second, &err), KEEL_ERR_IO);
    ck_assert_ptr_null(second);
    ck_assert_msg(strstr(err.message, listen) != NULL, "\"%s\" lacks %s", err.message, listen);
    ck_assert_ptr_null(strchr(err.message, '\n'));
    keel_http_stop(first);
}
END_TEST

START_TEST(test_null_safety)
{
    keel_http_stop(NULL);
    ck_assert_uint_eq(keel_http_port(NULL), 0);
    keel_error err = {0};
    ck_assert_int_eq(keel_http_start(FAKE_BASE, "127.0.0.1:0", TOKEN, NULL, &err), KEEL_ERR_INVALID);
}
END_TEST

/* ---- the token ------------------------------------------------------------------ */

static void assert_unauthorized(const char *method, const char *path, const char *auth)
{
    response r = http_request(port, method, path, auth, method[0] == 'P' ? "{}" : NULL);
    const cJSON *data = assert_envelope(&r, 401, "FAILED");
    ck_assert(cJSON_IsNull(data));
    ck_assert_str_eq(json_str(r.json, "message"), "missing or wrong token");
    char value[64];
    ck_assert_ptr_nonnull(header(&r, "WWW-Authenticate", value, sizeof value));
    ck_assert_str_eq(value, "Bearer");
    response_free(&r);
}

START_TEST(test_missing_token)
{
    assert_unauthorized("POST", "/queryAllBiz", NULL);
    assert_unauthorized("POST", "/installBiz", NULL);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_wrong_token)
{
    static const char *wrong[] = {
        "Bearer wrong-token-0123456789",
        "Bearer " TOKEN "x",
        "Bearer s3cret-token-012345678", /* one short */
        "Bearer ",
        "Bearer",
        "Basic " TOKEN,
        TOKEN,
        "Bearer S3CRET-TOKEN-0123456789",
    };
    for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++)
        assert_unauthorized("POST", "/uninstallBiz", wrong[i]);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_token_checked_before_anything)
{
    assert_unauthorized("GET", "/metrics", NULL);
    assert_unauthorized("POST", "/no/such/path", "Bearer nope-nope-nope-nope");
    assert_unauthorized("GET", "/installBiz", NULL);
    assert_unauthorized("POST", "/keel/install", "Bearer x");
    ck_assert_uint_eq(admin_calls(), 0);
    ck_assert_int_eq(atomic_load(&metrics_calls), 0);
}
END_TEST

START_TEST(test_bearer_scheme_any_case)
{
    response r = http_request(port, "POST", "/health", "bearer " TOKEN, "{}");
    assert_envelope(&r, 200, "SUCCESS");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 1);
}
END_TEST

/* ---- arklet commands ------------------------------------------------------------ */

START_TEST(test_install_file_url)
{
    response r = post("/installBiz", "{\"bizName\":\"greeter\",\"bizVersion\":\"1.0.0\","
                                     "\"bizUrl\":\"file:///srv/bundles/greeter-1.0.0.keel\"}");
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    assert_request(0, "{\"op\":\"install\",\"args\":{\"bundle\":\"/srv/bundles/greeter-1.0.0.keel\"}}");
    ck_assert_str_eq(json_str(data, "bizName"), "greeter");
    ck_assert_str_eq(json_str(data, "bizVersion"), "1.0.0");
    ck_assert_str_eq(json_str(data, "bizState"), "ACTIVATED");
    const cJSON *keel = cJSON_GetObjectItemCaseSensitive(data, "keel");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(keel, "namespace")->valueint, 1);
    assert_message_contains(&r, "greeter@1.0.0");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 1);
}
END_TEST

START_TEST(test_install_other_url_forms)
{
    response r = post("/installBiz", "{\"bizUrl\":\"/abs/path/greeter.keel\"}");
    assert_envelope(&r, 200, "SUCCESS");
    assert_request(0, "{\"op\":\"install\",\"args\":{\"bundle\":\"/abs/path/greeter.keel\"}}");
    response_free(&r);

    r = post("/installBiz", "{\"bizUrl\":\"file:///tmp/my%20bundles/g%C3%A9.keel\"}");
    assert_envelope(&r, 200, "SUCCESS");
    assert_request(1, "{\"op\":\"install\",\"args\":{\"bundle\":\"/tmp/my bundles/g\xc3\xa9.keel\"}}");
    response_free(&r);

    r = post("/installBiz", "{\"bizUrl\":\"file://localhost/opt/g.keel\",\"bizName\":\"greeter\"}");
    assert_envelope(&r, 200, "SUCCESS");
    assert_request(2, "{\"op\":\"install\",\"args\":{\"bundle\":\"/opt/g.keel\"}}");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 3);
}
END_TEST

START_TEST(test_install_refuses_remote_urls)
{
    static const char *bodies[] = {
        "{\"bizUrl\":\"http://repo.example.com/greeter.keel\"}",
        "{\"bizUrl\":\"https://repo.example.com/greeter.keel\"}",
        "{\"bizUrl\":\"relative/greeter.keel\"}",
        "{\"bizUrl\":\"file://otherhost/greeter.keel\"}",
        "{\"bizUrl\":\"file:///tmp/a%00b.keel\"}",
        "{\"bizUrl\":\"file:///tmp/a%zz.keel\"}",
        "{\"bizUrl\":\"file:///tmp/a.keel?x=1\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        response r = post("/installBiz", bodies[i]);
        assert_envelope(&r, 400, "FAILED");
        assert_message_contains(&r, "only local bundle files");
        response_free(&r);
    }
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_install_bad_fields)
{
    static const char *bodies[] = {
        "{}",
        "{\"bizUrl\":\"\"}",
        "{\"bizUrl\":42}",
        "{\"bizUrl\":\"/a.keel\",\"bizName\":7}",
        "{\"bizUrl\":\"/a.keel\",\"bizVersion\":[\"1\"]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        response r = post("/installBiz", bodies[i]);
        assert_envelope(&r, 400, "FAILED");
        assert_message_contains(&r, "biz");
        response_free(&r);
    }
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_install_name_mismatch_undone)
{
    response r = post("/installBiz", "{\"bizName\":\"greeter\",\"bizVersion\":\"2.0.0\","
                                     "\"bizUrl\":\"file:///b/greeter.keel\"}");
    assert_envelope(&r, 400, "FAILED");
    assert_message_contains(&r, "greeter@1.0.0");
    assert_message_contains(&r, "greeter@2.0.0");
    assert_message_contains(&r, "uninstalled it again");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 2);
    assert_request(0, "{\"op\":\"install\",\"args\":{\"bundle\":\"/b/greeter.keel\"}}");
    assert_request(1, "{\"op\":\"uninstall\",\"args\":{\"name\":\"greeter\",\"version\":\"1.0.0\"}}");

    r = post("/installBiz", "{\"bizName\":\"other\",\"bizUrl\":\"/b/greeter.keel\"}");
    assert_envelope(&r, 400, "FAILED");
    assert_message_contains(&r, "not other@1.0.0");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 4);
}
END_TEST

START_TEST(test_install_busy)
{
    response r = post("/installBiz", "{\"bizUrl\":\"/b/busymod.keel\"}");
    const cJSON *data = assert_envelope(&r, 409, "FAILED");
    ck_assert_str_eq(json_str(data, "status"), "busy");
    assert_message_contains(&r, "busymod is busy");
    response_free(&r);
}
END_TEST

START_TEST(test_uninstall)
{
    response r = post("/uninstallBiz", "{\"bizName\":\"greeter\",\"bizVersion\":\"1.0.0\"}");
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    ck_assert_str_eq(json_str(data, "uninstalled"), "greeter@1.0.0");
    assert_request(0, "{\"op\":\"uninstall\",\"args\":{\"name\":\"greeter\",\"version\":\"1.0.0\"}}");
    response_free(&r);

    r = post("/uninstallBiz", "{\"bizName\":\"greeter\"}");
    assert_envelope(&r, 200, "SUCCESS");
    assert_request(1, "{\"op\":\"uninstall\",\"args\":{\"name\":\"greeter\"}}");
    response_free(&r);

    r = post("/uninstallBiz", "{\"bizName\":\"ghost\",\"bizVersion\":\"1.0.0\"}");
    data = assert_envelope(&r, 404, "FAILED");
    ck_assert_str_eq(json_str(data, "status"), "not-found");
    assert_message_contains(&r, "no module named ghost");
    response_free(&r);

    r = post("/uninstallBiz", "{\"bizVersion\":\"1.0.0\"}");
    assert_envelope(&r, 400, "FAILED");
    assert_message_contains(&r, "bizName");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 3);
}
END_TEST

START_TEST(test_switch)
{
    response r = post("/switchBiz", "{\"bizName\":\"greeter\",\"bizVersion\":\"0.9.0\"}");
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    ck_assert_str_eq(json_str(data, "active"), "greeter@0.9.0");
    assert_request(0, "{\"op\":\"switch\",\"args\":{\"name\":\"greeter\",\"version\":\"0.9.0\"}}");
    response_free(&r);

    r = post("/switchBiz", "{\"bizName\":\"greeter\"}");
    assert_envelope(&r, 400, "FAILED");
    assert_message_contains(&r, "bizVersion");
    response_free(&r);

    r = post("/switchBiz", "{\"bizName\":\"busymod\",\"bizVersion\":\"1.0.0\"}");
    assert_envelope(&r, 409, "FAILED");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 2);
}
END_TEST

static void assert_biz(const cJSON *biz, const char *name, const char *version, const char *state)
{
    ck_assert_str_eq(json_str(biz, "bizName"), name);
    ck_assert_str_eq(json_str(biz, "bizVersion"), version);
    ck_assert_str_eq(json_str(biz, "bizState"), state);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(biz, "mainClass")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(biz, "webContextPath")));
    const cJSON *keel = cJSON_GetObjectItemCaseSensitive(biz, "keel");
    ck_assert_str_eq(json_str(keel, "name"), name);
    ck_assert_str_eq(json_str(keel, "version"), version);
}

START_TEST(test_query_all_biz)
{
    response r = post("/queryAllBiz", "{}");
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    assert_request(0, "{\"op\":\"list\",\"args\":{}}");
    ck_assert(cJSON_IsArray(data));
    ck_assert_int_eq(cJSON_GetArraySize(data), 5);
    assert_biz(cJSON_GetArrayItem(data, 0), "greeter", "1.0.0", "ACTIVATED");
    assert_biz(cJSON_GetArrayItem(data, 1), "greeter", "0.9.0", "DEACTIVATED");
    assert_biz(cJSON_GetArrayItem(data, 2), "fresh", "0.1.0", "RESOLVED");
    assert_biz(cJSON_GetArrayItem(data, 3), "bad", "2.0.0", "BROKEN");
    assert_biz(cJSON_GetArrayItem(data, 4), "odd", "3.0.0", "FROZEN");
    const cJSON *keel = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(data, 0), "keel");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(keel, "memory_bytes")->valueint, 4096);
    response_free(&r);

    r = post("/queryAllBiz", NULL); /* no body at all is {} too */
    assert_envelope(&r, 200, "SUCCESS");
    assert_request(1, "{\"op\":\"list\",\"args\":{}}");
    response_free(&r);
}
END_TEST

START_TEST(test_health)
{
    response r = post("/health", "{}");
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    assert_request(0, "{\"op\":\"health\",\"args\":{}}");
    const cJSON *health = cJSON_GetObjectItemCaseSensitive(data, "healthData");
    ck_assert_str_eq(json_str(health, "status"), "UP");
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(health, "uptime_s")->valueint, 7);
    response_free(&r);
}
END_TEST

START_TEST(test_keel_ops_verbatim)
{
    static const char args[] =
        "{\"name\":\"greeter\",\"primary\":\"1.0.0\",\"gray\":\"1.1.0\",\"percent\":10,\"by_key\":true}";
    response r = post("/keel/route", args);
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "echo")));
    char expected[512];
    snprintf(expected, sizeof expected, "{\"op\":\"route\",\"args\":%s}", args);
    assert_request(0, expected);
    response_free(&r);

    r = post("/keel/list", NULL);
    data = assert_envelope(&r, 200, "SUCCESS");
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(data, "modules")));
    assert_request(1, "{\"op\":\"list\",\"args\":{}}");
    response_free(&r);

    r = post("/keel/frobnicate", "{}"); /* the admin refuses it */
    data = assert_envelope(&r, 400, "FAILED");
    ck_assert_str_eq(json_str(data, "status"), "invalid");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 3);
}
END_TEST

START_TEST(test_admin_failures_map_to_status)
{
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/keel/unsafe", 400}, {"/keel/exists", 409},  {"/keel/internal", 500},
        {"/keel/nomem", 500},  {"/keel/garbage", 500},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        response r = post(cases[i].path, "{}");
        assert_envelope(&r, cases[i].status, "FAILED");
        response_free(&r);
    }
}
END_TEST

/* ---- HTTP: bodies, paths, methods, metrics, log ------------------------------------ */

START_TEST(test_malformed_json)
{
    static const char *bodies[] = {"{\"bizName\":", "not json", "{} trailing", "[1,2]", "\"str\"",
                                   "{\"a\":1}}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        response r = post("/uninstallBiz", bodies[i]);
        assert_envelope(&r, 400, "FAILED");
        response_free(&r);
    }
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_body_over_limit_declared)
{
    /* Only the headers: the refusal comes before the body is read. */
    static const char req[] = "POST /keel/pad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Authorization: Bearer " TOKEN "\r\n"
                              "Content-Length: 1048577\r\n\r\n";
    response r = http_raw(port, req, strlen(req));
    assert_envelope(&r, 413, "FAILED");
    assert_message_contains(&r, "1 MiB");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_body_over_limit_chunked)
{
    static const char head[] = "POST /keel/pad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                               "Authorization: Bearer " TOKEN "\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    int fd = connect_to(AF_INET, port);
    send_all(fd, head, strlen(head));
    size_t chunk = 64 * 1024;
    char *data = malloc(chunk);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', chunk);
    for (size_t sent = 0; sent <= MIB; sent += chunk) {
        char size_line[32];
        snprintf(size_line, sizeof size_line, "%zx\r\n", chunk);
        send_all(fd, size_line, strlen(size_line));
        send_all(fd, data, chunk);
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    free(data);
    response r = read_response(fd);
    close(fd);
    assert_envelope(&r, 413, "FAILED");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_body_at_limit_accepted)
{
    static const char open[] = "{\"pad\":\"", close_[] = "\"}";
    size_t pad = MIB - strlen(open) - strlen(close_);
    char *body = malloc(MIB + 1);
    ck_assert_ptr_nonnull(body);
    memcpy(body, open, strlen(open));
    memset(body + strlen(open), 'p', pad);
    memcpy(body + strlen(open) + pad, close_, strlen(close_) + 1);
    ck_assert_uint_eq(strlen(body), MIB);
    response r = post("/keel/pad", body);
    free(body);
    const cJSON *data = assert_envelope(&r, 200, "SUCCESS");
    ck_assert_uint_eq((size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(data, "got")), pad);
    response_free(&r);
}
END_TEST

START_TEST(test_unknown_path)
{
    static const char *paths[] = {"/", "/installbiz", "/installBiz/", "/keel/", "/keel/a/b",
                                  "/keel/UPPER", "/nope"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        response r = post(paths[i], "{}");
        assert_envelope(&r, 404, "FAILED");
        response_free(&r);
    }
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_wrong_method)
{
    char allow[32];
    response r = http_request(port, "GET", "/installBiz", "Bearer " TOKEN, NULL);
    assert_envelope(&r, 405, "FAILED");
    ck_assert_ptr_nonnull(header(&r, "Allow", allow, sizeof allow));
    ck_assert_str_eq(allow, "POST");
    response_free(&r);

    r = http_request(port, "POST", "/metrics", "Bearer " TOKEN, "{}");
    assert_envelope(&r, 405, "FAILED");
    ck_assert_ptr_nonnull(header(&r, "Allow", allow, sizeof allow));
    ck_assert_str_eq(allow, "GET");
    response_free(&r);

    r = http_request(port, "DELETE", "/keel/uninstall", "Bearer " TOKEN, NULL);
    assert_envelope(&r, 405, "FAILED");
    response_free(&r);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_metrics)
{
    response r = http_request(port, "GET", "/metrics", "Bearer " TOKEN, NULL);
    ck_assert_int_eq(r.status, 200);
    char type[128];
    ck_assert_ptr_nonnull(header(&r, "Content-Type", type, sizeof type));
    ck_assert_msg(strncmp(type, "text/plain; version=0.0.4", strlen("text/plain; version=0.0.4")) == 0,
                  "Content-Type %s", type);
    ck_assert_uint_eq(r.body_len, strlen(metrics_text));
    ck_assert_str_eq(r.body, metrics_text);
    response_free(&r);
    ck_assert_int_eq(atomic_load(&metrics_calls), 1);
    ck_assert_uint_eq(admin_calls(), 0);
}
END_TEST

START_TEST(test_access_log)
{
    response r = post("/queryAllBiz", "{}");
    response_free(&r);
    r = http_request(port, "POST", "/health", "Bearer wrong-but-long-enough-token", "{}");
    response_free(&r);
    r = http_request(port, "GET", "/metrics", "Bearer " TOKEN, NULL);
    response_free(&r);
    ck_assert_uint_eq(log_lines_containing("POST /queryAllBiz 200 "), 1);
    ck_assert_uint_eq(log_lines_containing("POST /health 401 "), 1);
    ck_assert_uint_eq(log_lines_containing("GET /metrics 200 "), 1);
    ck_assert_uint_eq(log_lines_containing(" ms"), 3);
    ck_assert_uint_eq(log_lines_containing(TOKEN), 0);
    ck_assert_uint_eq(log_lines_containing("wrong-but-long-enough-token"), 0);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------------- */

typedef struct client_run {
    pthread_t thread;
    int index;
    int failures;
    bool together;
} client_run;

static void *gather_client(void *arg)
{
    client_run *c = arg;
    response r = post("/keel/gather", "{}");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(r.json, "data");
    c->together = r.status == 200 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "together"));
    response_free(&r);
    return NULL;
}

START_TEST(test_four_clients_at_once)
{
    client_run runs[CLIENTS] = {{0}};
    for (int i = 0; i < CLIENTS; i++)
        ck_assert_int_eq(pthread_create(&runs[i].thread, NULL, gather_client, &runs[i]), 0);
    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(pthread_join(runs[i].thread, NULL), 0);
        ck_assert_msg(runs[i].together, "client %d was not served alongside the others", i);
    }
    ck_assert_uint_eq(admin_calls(), CLIENTS);
}
END_TEST

#define ROUNDS 40

static void *mixed_client(void *arg)
{
    client_run *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        response r;
        int want;
        switch ((i + c->index) % 5) {
        case 0: r = post("/queryAllBiz", "{}"); want = 200; break;
        case 1: r = post("/switchBiz", "{\"bizName\":\"busymod\",\"bizVersion\":\"1\"}"); want = 409; break;
        case 2: r = http_request(port, "GET", "/metrics", "Bearer " TOKEN, NULL); want = 200; break;
        case 3: r = http_request(port, "POST", "/health", NULL, "{}"); want = 401; break;
        default: r = post("/installBiz", "{\"bizUrl\":\"file:///b/greeter.keel\"}"); want = 200; break;
        }
        if (r.status != want)
            c->failures++;
        response_free(&r);
    }
    return NULL;
}

START_TEST(test_four_clients_mixed)
{
    client_run runs[CLIENTS] = {{0}};
    for (int i = 0; i < CLIENTS; i++) {
        runs[i].index = i;
        ck_assert_int_eq(pthread_create(&runs[i].thread, NULL, mixed_client, &runs[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(pthread_join(runs[i].thread, NULL), 0);
        ck_assert_int_eq(runs[i].failures, 0);
    }
    /* Every request but the 401s (one in five) and metrics reached the admin. */
    ck_assert_uint_eq(admin_calls(), CLIENTS * ROUNDS * 3 / 5);
}
END_TEST

START_TEST(test_stop_with_idle_connection)
{
    int idle = connect_to(AF_INET, port);
    int partial = connect_to(AF_INET, port);
    static const char half[] = "POST /health HTTP/1.1\r\nHost: x\r\n";
    send_all(partial, half, strlen(half));
    keel_http_stop(server);
    server = NULL;
    char byte;
    ck_assert_int_le(recv(idle, &byte, 1, 0), 0);
    close(idle);
    close(partial);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------- */

static Suite *http_admin_suite(void)
{
    Suite *s = suite_create("http_admin");

    TCase *start = tcase_create("start");
    tcase_add_test(start, test_listen_refuses_non_loopback);
    tcase_add_test(start, test_listen_malformed);
    tcase_add_test(start, test_token_rules);
    tcase_add_test(start, test_listen_forms);
    tcase_add_test(start, test_port_in_use);
    tcase_add_test(start, test_null_safety);
    suite_add_tcase(s, start);

    TCase *token = tcase_create("token");
    tcase_add_checked_fixture(token, server_setup, server_teardown);
    tcase_add_test(token, test_missing_token);
    tcase_add_test(token, test_wrong_token);
    tcase_add_test(token, test_token_checked_before_anything);
    tcase_add_test(token, test_bearer_scheme_any_case);
    suite_add_tcase(s, token);

    TCase *arklet = tcase_create("arklet");
    tcase_add_checked_fixture(arklet, server_setup, server_teardown);
    tcase_add_test(arklet, test_install_file_url);
    tcase_add_test(arklet, test_install_other_url_forms);
    tcase_add_test(arklet, test_install_refuses_remote_urls);
    tcase_add_test(arklet, test_install_bad_fields);
    tcase_add_test(arklet, test_install_name_mismatch_undone);
    tcase_add_test(arklet, test_install_busy);
    tcase_add_test(arklet, test_uninstall);
    tcase_add_test(arklet, test_switch);
    tcase_add_test(arklet, test_query_all_biz);
    tcase_add_test(arklet, test_health);
    tcase_add_test(arklet, test_keel_ops_verbatim);
    tcase_add_test(arklet, test_admin_failures_map_to_status);
    suite_add_tcase(s, arklet);

    TCase *http = tcase_create("http");
    tcase_add_checked_fixture(http, server_setup, server_teardown);
    tcase_add_test(http, test_malformed_json);
    tcase_add_test(http, test_body_over_limit_declared);
    tcase_add_test(http, test_body_over_limit_chunked);
    tcase_add_test(http, test_body_at_limit_accepted);
    tcase_add_test(http, test_unknown_path);
    tcase_add_test(http, test_wrong_method);
    tcase_add_test(http, test_metrics);
    tcase_add_test(http, test_access_log);
    suite_add_tcase(s, http);

    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 120);
    tcase_add_checked_fixture(threads, server_setup, server_teardown);
    tcase_add_test(threads, test_four_clients_at_once);
    tcase_add_test(threads, test_four_clients_mixed);
    tcase_add_test(threads, test_stop_with_idle_connection);
    suite_add_tcase(s, threads);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(http_admin_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

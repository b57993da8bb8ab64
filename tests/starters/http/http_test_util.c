/* http_test_util.c — see http_test_util.h. */
#include "http_test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int connect_local(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {15, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void parse_response(char *buf, size_t len, test_resp *out)
{
    int status = 0;
    if (len < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return;
    char *eol = strstr(buf, "\r\n");
    char *end = strstr(buf, "\r\n\r\n");
    if (!eol || !end)
        return;
    out->status = status;
    out->headers = strndup(eol + 2, (size_t)(end - eol));
    size_t off = (size_t)(end + 4 - buf);
    out->body_len = len - off;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, buf + off, out->body_len);
    out->body[out->body_len] = '\0';
}

int test_http_raw(unsigned port, const char *raw, size_t len, test_resp *out)
{
    memset(out, 0, sizeof *out);
    int fd = connect_local(port);
    if (fd < 0)
        return -1;
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, raw + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;   /* the server may answer before reading everything */
        sent += (size_t)n;
    }
    size_t cap = 4096, have = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (have + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + have, cap - have - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    buf[have] = '\0';
    close(fd);
    parse_response(buf, have, out);
    free(buf);
    return out->status ? 0 : -1;
}

int test_http(unsigned port, const char *method, const char *path, const char *headers,
              const char *body, test_resp *out)
{
    char *raw = NULL;
    int n;
    if (body)
        n = asprintf(&raw,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, headers ? headers : "", strlen(body), body);
    else
        n = asprintf(&raw, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                     method, path, headers ? headers : "");
    if (n < 0)
        return -1;
    int rc = test_http_raw(port, raw, (size_t)n, out);
    free(raw);
    return rc;
}

int test_conn_request(test_conn *c, const char *method, const char *path, const char *body,
                      test_resp *out)
{
    memset(out, 0, sizeof *out);
    if (c->fd < 0) {
        if ((c->fd = connect_local(c->port)) < 0)
            return -1;
        c->opens++;
    }
    char *raw = NULL;
    int n = asprintf(&raw, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    ssize_t sent = n > 0 ? send(c->fd, raw, (size_t)n, MSG_NOSIGNAL) : -1;
    free(raw);
    size_t cap = 8192, have = 0, need = 0;
    char *buf = malloc(cap);
    char *end = NULL;
    while (sent == n) {
        if (end && have >= need)
            break;
        if (have + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t got = recv(c->fd, buf + have, cap - have - 1, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = '\0';
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            need = (size_t)(end + 4 - buf) + len;
        }
    }
    if (end && have >= need) {
        buf[need] = '\0';
        parse_response(buf, need, out);
    }
    free(buf);
    char v[64];
    if (!out->status || (test_header(out, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0))
        test_conn_close(c);
    return out->status ? 0 : -1;
}

void test_conn_close(test_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

const char *test_header(const test_resp *r, const char *name, char *buf, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t llen = eol ? (size_t)(eol - line) : strlen(line);
        if (llen > nlen && strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, size, "%.*s", (int)(llen - (size_t)(v - line)), v);
            return buf;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

void test_resp_free(test_resp *r)
{
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

keel_status test_services_call(void *user, const char *scene, const char *name,
                               const char *args_json, char **result_json,
                               keel_starter_error *err)
{
    test_services *s = user;
    atomic_fetch_add(&s->calls, 1);
    *result_json = NULL;
    if (strcmp(name, "fail") == 0) {
        keel_starter_error_set(err, "the disk is on fire");
        return KEEL_ERR_IO;
    }
    if (strcmp(name, "missing") == 0) {
        keel_starter_error_set(err, "service 'missing' in scene '%s' not found", scene);
        return KEEL_ERR_NOT_FOUND;
    }
    if (strcmp(name, "drain") == 0) {
        keel_starter_error_set(err, "its versions are being removed");
        return KEEL_ERR_DRAINING;
    }
    if (strcmp(name, "broken") == 0) {
        keel_starter_error_set(err, "its last version failed");
        return KEEL_ERR_BROKEN;
    }
    if (strcmp(name, "bad") == 0) {
        keel_starter_error_set(err, "argument 1: expected i64");
        return KEEL_ERR_INVALID;
    }
    if (strcmp(name, "nap") == 0) {
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    if (strcmp(name, "slow") == 0) {
        int ms = atomic_load(&s->slow_ms);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (asprintf(result_json, "{\"service\":\"%s\",\"scene\":\"%s\",\"args\":%s}", name, scene,
                 args_json) < 0) {
        *result_json = NULL;
        return KEEL_ERR_NOMEM;
    }
    return KEEL_OK;
}

char *test_json(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    return s;
}

void test_gw_open(test_gw *gw, const char *so, const char *config)
{
    memset(gw, 0, sizeof *gw);
    snprintf(gw->work, sizeof gw->work, "/tmp/keel-http-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(gw->work));
    char *cfg = test_json(config);
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(so, gw->work, cfg, test_services_call, NULL, &gw->svc,
                                          &gw->h, &err);
    free(cfg);
    ck_assert_msg(st == KEEL_OK, "open: %d %s", st, err.message);
    cJSON *info = test_gw_info(gw);
    gw->port = (unsigned)test_num(info, "port");
    cJSON_Delete(info);
    ck_assert_uint_gt(gw->port, 0);
}

void test_gw_close(test_gw *gw)
{
    starter_harness_close(gw->h);
    gw->h = NULL;
    test_rmtree(gw->work);
}

cJSON *test_gw_info(test_gw *gw)
{
    char *json = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_admin(gw->h, "info", NULL, &json, &err);
    ck_assert_msg(st == KEEL_OK, "info: %s", err.message);
    cJSON *info = cJSON_Parse(json);
    free(json);
    ck_assert_ptr_nonnull(info);
    return info;
}

const cJSON *test_info_route(const cJSON *info, const char *method, const char *path)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(info, "routes")) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "method");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "path");
        if (cJSON_IsString(m) && cJSON_IsString(p) && strcmp(m->valuestring, method) == 0 &&
            strcmp(p->valuestring, path) == 0)
            return r;
    }
    return NULL;
}

double test_num(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    ck_assert_msg(cJSON_IsNumber(v), "field %s missing", name);
    return v->valuedouble;
}

void test_wait_requests(test_gw *gw, const char *method, const char *path, double n)
{
    double have = -1;
    for (int i = 0; i < 500; i++) {
        cJSON *info = test_gw_info(gw);
        const cJSON *r = test_info_route(info, method, path);
        ck_assert_ptr_nonnull(r);
        have = test_num(r, "requests");
        cJSON_Delete(info);
        if (have >= n)
            return;
        usleep(10000);
    }
    ck_abort_msg("%s %s: %.0f requests counted, expected %.0f", method, path, have, n);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void test_rmtree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

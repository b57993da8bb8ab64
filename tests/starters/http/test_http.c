/* test_http.c — the http starter against real HTTP: routes, scenes, auth,
 * rate limits, body limits, malformed bodies, fallbacks, timeouts, the
 * access log, metrics, module routes, configuration errors, admin ops. */
#include "http_test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const base_config =
    "{'listen': '127.0.0.1:0', 'threads': 2, 'workers': 4, 'max_body_bytes': 1024,"
    " 'timeout_ms': 3000, 'access_log': 'access.log',"
    " 'tokens': {'ops': 's3cret-token-1', 'ci': 'another-token-2'},"
    " 'routes': ["
    "  {'method': 'POST', 'path': '/fund/transfer', 'service': 'transfer', 'scene': 'retail',"
    "   'scene_header': 'X-Keel-Scene', 'scenes': ['retail', 'corporate']},"
    "  {'method': 'GET', 'path': '/fund/transfer', 'service': 'transfer', 'scene': 'retail'},"
    "  {'method': 'GET', 'path': '/ping', 'service': 'ping'},"
    "  {'method': 'POST', 'path': '/secure', 'service': 'transfer', 'auth': 'token'},"
    "  {'method': 'POST', 'path': '/limited', 'service': 'transfer',"
    "   'rate_limit': {'per_second': 1, 'burst': 3}},"
    "  {'method': 'POST', 'path': '/fail', 'service': 'fail',"
    "   'fallback': {'status': 200, 'body': {'fallback': true}}},"
    "  {'method': 'POST', 'path': '/fail-plain', 'service': 'fail'},"
    "  {'method': 'POST', 'path': '/missing', 'service': 'missing'},"
    "  {'method': 'POST', 'path': '/broken', 'service': 'broken'},"
    "  {'method': 'POST', 'path': '/drain', 'service': 'drain',"
    "   'fallback': {'status': 503, 'body': {'retry': 'later'}}},"
    "  {'method': 'POST', 'path': '/bad', 'service': 'bad'}"
    " ]}";

static int request(test_gw *gw, const char *method, const char *path, const char *headers,
                   const char *body, test_resp *r)
{
    int rc = test_http(gw->port, method, path, headers, body, r);
    ck_assert_msg(rc == 0, "%s %s: no response", method, path);
    return r->status;
}

/* The body is one line of JSON with an "error" string. */
static void assert_error_body(const test_resp *r, int status)
{
    ck_assert_ptr_null(strchr(r->body, '\n'));
    cJSON *o = cJSON_Parse(r->body);
    ck_assert_msg(o != NULL, "not JSON: %s", r->body);
    ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "error")));
    ck_assert_int_eq((int)test_num(o, "status"), status);
    cJSON_Delete(o);
}

START_TEST(test_success)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", NULL, "[1, \"two\", {\"x\": 3}]", &r),
                     200);
    cJSON *body = cJSON_Parse(r.body);
    ck_assert_ptr_nonnull(body);
    ck_assert_str_eq(cJSON_GetObjectItem(body, "service")->valuestring, "transfer");
    ck_assert_str_eq(cJSON_GetObjectItem(body, "scene")->valuestring, "retail");
    char *args = cJSON_PrintUnformatted(cJSON_GetObjectItem(body, "args"));
    ck_assert_str_eq(args, "[1,\"two\",{\"x\":3}]");
    free(args);
    cJSON_Delete(body);
    ck_assert_str_eq(test_header(&r, "Content-Type", h, sizeof h), "application/json");
    ck_assert_str_eq(test_header(&r, "X-Keel-Route", h, sizeof h), "POST /fund/transfer");
    ck_assert_str_eq(test_header(&r, "X-Keel-Scene", h, sizeof h), "retail");
    ck_assert_ptr_null(test_header(&r, "Server-Timing", h, sizeof h));   /* 1.1.0 only */
    test_resp_free(&r);

    /* GET without a body: no arguments */
    ck_assert_int_eq(request(&gw, "GET", "/ping", NULL, NULL, &r), 200);
    ck_assert_str_eq(r.body, "{\"service\":\"ping\",\"scene\":\"default\",\"args\":[]}");
    ck_assert_str_eq(test_header(&r, "X-Keel-Scene", h, sizeof h), "default");
    test_resp_free(&r);
    /* the query string is not part of the path */
    ck_assert_int_eq(request(&gw, "GET", "/ping?verbose=1", NULL, NULL, &r), 200);
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 3);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_scenes)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", "X-Keel-Scene: corporate\r\n", "[]", &r),
                     200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"scene\":\"corporate\""));
    ck_assert_str_eq(test_header(&r, "X-Keel-Scene", h, sizeof h), "corporate");
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", "X-Keel-Scene: retail\r\n", "[]", &r),
                     200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"scene\":\"retail\""));
    test_resp_free(&r);
    /* a scene the route does not list: 400, the service is not called */
    int before = atomic_load(&gw.svc.calls);
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", "X-Keel-Scene: wholesale\r\n", "[]", &r),
                     400);
    assert_error_body(&r, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "wholesale"));
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), before);
    /* a route without scene_header ignores the header */
    ck_assert_int_eq(request(&gw, "GET", "/fund/transfer", "X-Keel-Scene: corporate\r\n", NULL, &r),
                     200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"scene\":\"retail\""));
    test_resp_free(&r);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_auth)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    ck_assert_int_eq(request(&gw, "POST", "/secure", NULL, "[]", &r), 401);
    ck_assert_str_eq(test_header(&r, "WWW-Authenticate", h, sizeof h), "Bearer");
    assert_error_body(&r, 401);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/secure", "Authorization: Bearer s3cret-token-\r\n", "[]",
                             &r),
                     401);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/secure", "Authorization: Bearer s3cret-token-11\r\n",
                             "[]", &r),
                     401);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/secure", "Authorization: Basic czNjcmV0\r\n", "[]", &r),
                     401);
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 0);
    ck_assert_int_eq(request(&gw, "POST", "/secure", "Authorization: Bearer s3cret-token-1\r\n",
                             "[]", &r),
                     200);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/secure", "Authorization: bearer another-token-2\r\n",
                             "[]", &r),
                     200);
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 2);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_rate_limit)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(request(&gw, "POST", "/limited", NULL, "[]", &r), 200);
        test_resp_free(&r);
    }
    ck_assert_int_eq(request(&gw, "POST", "/limited", NULL, "[]", &r), 429);
    ck_assert_str_eq(test_header(&r, "Retry-After", h, sizeof h), "1");
    assert_error_body(&r, 429);
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 3);
    /* one token a second: refilled */
    usleep(1100 * 1000);
    ck_assert_int_eq(request(&gw, "POST", "/limited", NULL, "[]", &r), 200);
    test_resp_free(&r);
    /* other routes are not limited */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(request(&gw, "GET", "/ping", NULL, NULL, &r), 200);
        test_resp_free(&r);
    }
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_body_limit)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    /* declared too large: answered from the headers, the body is never sent */
    const char *big = "POST /fund/transfer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: 5000000\r\n\r\n";
    ck_assert_int_eq(test_http_raw(gw.port, big, strlen(big), &r), 0);
    ck_assert_int_eq(r.status, 413);
    assert_error_body(&r, 413);
    test_resp_free(&r);
    /* the same with Expect: 100-continue */
    const char *expect = "POST /fund/transfer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Expect: 100-continue\r\nContent-Length: 2000\r\n\r\n";
    ck_assert_int_eq(test_http_raw(gw.port, expect, strlen(expect), &r), 0);
    ck_assert_int_eq(r.status, 413);
    test_resp_free(&r);
    /* chunked, crossing the limit in the middle */
    char chunk[600];
    memset(chunk, ' ', sizeof chunk);
    char raw[4096];
    int n = snprintf(raw, sizeof raw,
                     "POST /fund/transfer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        n += snprintf(raw + n, sizeof raw - (size_t)n, "%zx\r\n%.*s\r\n", sizeof chunk,
                      (int)sizeof chunk, chunk);
    n += snprintf(raw + n, sizeof raw - (size_t)n, "0\r\n\r\n");
    ck_assert_int_eq(test_http_raw(gw.port, raw, (size_t)n, &r), 0);
    ck_assert_int_eq(r.status, 413);
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 0);
    /* exactly the limit passes */
    char body[1025];
    memset(body, ' ', 1024);
    body[0] = '[';
    memcpy(body + 1019, "1 ]  ", 5);
    body[1024] = '\0';
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", NULL, body, &r), 200);
    test_resp_free(&r);
    /* a small chunked body is fine */
    const char *small = "POST /fund/transfer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n3\r\n[7,\r\n2\r\n8]\r\n0\r\n\r\n";
    ck_assert_int_eq(test_http_raw(gw.port, small, strlen(small), &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"args\":[7,8]"));
    test_resp_free(&r);
    cJSON *info = test_gw_info(&gw);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/fund/transfer"), "status_413"),
                     3);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_bad_body)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    const char *bad[] = {"{\"a\": 1}", "[1, 2", "[1] [2]", "42", "\"text\"", "nope", "   "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(request(&gw, "POST", "/fund/transfer", NULL, bad[i], &r) == 400,
                      "body %s: status %d", bad[i], r.status);
        assert_error_body(&r, 400);
        test_resp_free(&r);
    }
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 0);
    /* an empty body means no arguments */
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer", NULL, "", &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"args\":[]"));
    test_resp_free(&r);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_unknown_route_and_method)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    ck_assert_int_eq(request(&gw, "GET", "/nope", NULL, NULL, &r), 404);
    assert_error_body(&r, 404);
    ck_assert_str_eq(test_header(&r, "X-Keel-Route", h, sizeof h), "-");
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/fund/transfer/extra", NULL, "[]", &r), 404);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "DELETE", "/fund/transfer", NULL, NULL, &r), 405);
    assert_error_body(&r, 405);
    ck_assert_str_eq(test_header(&r, "Allow", h, sizeof h), "POST, GET");
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "GET", "/secure", NULL, NULL, &r), 405);
    ck_assert_str_eq(test_header(&r, "Allow", h, sizeof h), "POST");
    test_resp_free(&r);
    ck_assert_int_eq(atomic_load(&gw.svc.calls), 0);
    cJSON *info = test_gw_info(&gw);
    const cJSON *unrouted = cJSON_GetObjectItem(info, "unrouted");
    ck_assert_int_eq((int)test_num(unrouted, "404"), 2);
    ck_assert_int_eq((int)test_num(unrouted, "405"), 2);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_failures_and_fallbacks)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    char h[128];
    /* failing service with a fallback: the fallback's status and body */
    ck_assert_int_eq(request(&gw, "POST", "/fail", NULL, "[]", &r), 200);
    ck_assert_str_eq(r.body, "{\"fallback\":true}");
    ck_assert_str_eq(test_header(&r, "X-Keel-Fallback", h, sizeof h), "true");
    ck_assert_str_eq(test_header(&r, "X-Keel-Route", h, sizeof h), "POST /fail");
    test_resp_free(&r);
    /* without a fallback: 502 with the reason */
    ck_assert_int_eq(request(&gw, "POST", "/fail-plain", NULL, "[]", &r), 502);
    assert_error_body(&r, 502);
    ck_assert_ptr_nonnull(strstr(r.body, "the disk is on fire"));
    ck_assert_ptr_null(test_header(&r, "X-Keel-Fallback", h, sizeof h));
    test_resp_free(&r);
    /* nothing can serve it now: 503 */
    ck_assert_int_eq(request(&gw, "POST", "/missing", NULL, "[]", &r), 503);
    assert_error_body(&r, 503);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/broken", NULL, "[]", &r), 503);
    test_resp_free(&r);
    /* draining with a fallback */
    ck_assert_int_eq(request(&gw, "POST", "/drain", NULL, "[]", &r), 503);
    ck_assert_str_eq(r.body, "{\"retry\":\"later\"}");
    ck_assert_str_eq(test_header(&r, "X-Keel-Fallback", h, sizeof h), "true");
    test_resp_free(&r);
    /* bad arguments are the client's: 400, never the fallback */
    ck_assert_int_eq(request(&gw, "POST", "/bad", NULL, "[\"x\"]", &r), 400);
    assert_error_body(&r, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "argument 1: expected i64"));
    test_resp_free(&r);
    cJSON *info = test_gw_info(&gw);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/fail"), "fallbacks"), 1);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/drain"), "fallbacks"), 1);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/fail-plain"), "status_5xx"), 1);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(test_timeout)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0,
                 "{'listen': '127.0.0.1:0', 'timeout_ms': 150, 'workers': 4, 'access_log': '',"
                 " 'routes': ["
                 "  {'method': 'POST', 'path': '/slow', 'service': 'slow',"
                 "   'fallback': {'status': 202, 'body': 'queued'}},"
                 "  {'method': 'POST', 'path': '/slow-plain', 'service': 'slow'}]}");
    atomic_store(&gw.svc.slow_ms, 1500);
    test_resp r;
    char h[128];
    double t0 = now_ms();
    ck_assert_int_eq(request(&gw, "POST", "/slow", NULL, "[]", &r), 202);
    ck_assert_msg(now_ms() - t0 < 1200, "the fallback came after the call, not at the timeout");
    ck_assert_str_eq(r.body, "\"queued\"");
    ck_assert_str_eq(test_header(&r, "X-Keel-Fallback", h, sizeof h), "true");
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/slow-plain", NULL, "[]", &r), 504);
    assert_error_body(&r, 504);
    test_resp_free(&r);
    /* fast enough: the result */
    atomic_store(&gw.svc.slow_ms, 0);
    ck_assert_int_eq(request(&gw, "POST", "/slow", NULL, "[]", &r), 200);
    test_resp_free(&r);
    cJSON *info = test_gw_info(&gw);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/slow"), "timeouts"), 1);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/slow-plain"), "timeouts"), 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(info, "access_log")));
    cJSON_Delete(info);
    test_gw_close(&gw);   /* waits for the late calls */
}
END_TEST

START_TEST(test_inline_calls)
{
    /* workers 0: calls on the server threads; a late result is replaced
     * by the fallback once it is back */
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0,
                 "{'listen': '127.0.0.1:0', 'timeout_ms': 100, 'workers': 0, 'threads': 1, 'access_log': '',"
                 " 'routes': ["
                 "  {'method': 'POST', 'path': '/slow', 'service': 'slow',"
                 "   'fallback': {'status': 202, 'body': 'queued'}},"
                 "  {'method': 'POST', 'path': '/slow-plain', 'service': 'slow'},"
                 "  {'method': 'POST', 'path': '/fail', 'service': 'fail'}]}");
    test_resp r;
    ck_assert_int_eq(request(&gw, "POST", "/slow", NULL, "[1]", &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"args\":[1]"));
    test_resp_free(&r);
    atomic_store(&gw.svc.slow_ms, 300);
    double t0 = now_ms();
    ck_assert_int_eq(request(&gw, "POST", "/slow", NULL, "[]", &r), 202);
    ck_assert(now_ms() - t0 >= 290);   /* not interrupted */
    ck_assert_str_eq(r.body, "\"queued\"");
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/slow-plain", NULL, "[]", &r), 504);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "POST", "/fail", NULL, "[]", &r), 502);
    test_resp_free(&r);
    cJSON *info = test_gw_info(&gw);
    ck_assert_int_eq((int)test_num(info, "workers"), 0);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/slow"), "timeouts"), 1);
    ck_assert_int_eq((int)test_num(test_info_route(info, "POST", "/slow"), "status_2xx"), 2);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

/* Lines of a file (0 if absent). */
static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

static void wait_lines(const char *path, int n)
{
    for (int i = 0; i < 500 && count_lines(path) < n; i++)
        usleep(10000);
    ck_assert_int_eq(count_lines(path), n);
}

START_TEST(test_access_log)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    char path[512], rotated[512];
    snprintf(path, sizeof path, "%s/access.log", gw.work);
    snprintf(rotated, sizeof rotated, "%s/access.log.1", gw.work);
    test_resp r;
    request(&gw, "POST", "/fund/transfer", "X-Keel-Scene: corporate\r\n", "[1]", &r);
    test_resp_free(&r);
    request(&gw, "GET", "/no%20such", NULL, NULL, &r);
    test_resp_free(&r);
    request(&gw, "POST", "/secure", NULL, "[]", &r);
    test_resp_free(&r);
    wait_lines(path, 3);
    FILE *f = fopen(path, "r");
    char line[1024];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        char when[64], remote[64], method[16], p[256], route[256], scene[64];
        int status;
        unsigned long bytes, micros;
        int n = sscanf(line, "%63s %63s %15s %255s %d %lu %lu %255s %63s", when, remote, method, p,
                       &status, &bytes, &micros, route, scene);
        ck_assert_msg(n == 9, "line: %s", line);
        ck_assert_ptr_nonnull(strstr(remote, "127.0.0.1:"));
        ck_assert(when[10] == 'T' && when[strlen(when) - 1] == 'Z');
        ck_assert_uint_gt(bytes, 0);
        if (strcmp(p, "/fund/transfer") == 0) {
            ck_assert_int_eq(status, 200);
            ck_assert_str_eq(method, "POST");
            ck_assert_str_eq(route, "POST:/fund/transfer");
            ck_assert_str_eq(scene, "corporate");
            seen |= 1;
        } else if (strcmp(p, "/no%20such") == 0) {
            ck_assert_int_eq(status, 404);
            ck_assert_str_eq(route, "-");
            ck_assert_str_eq(scene, "-");
            seen |= 2;
        } else if (strcmp(p, "/secure") == 0) {
            ck_assert_int_eq(status, 401);
            ck_assert_str_eq(scene, "default");
            seen |= 4;
        }
    }
    fclose(f);
    ck_assert_int_eq(seen, 7);
    /* rotation: move the file away, reopen, new lines go to a new file */
    ck_assert_int_eq(rename(path, rotated), 0);
    char *out = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_admin(gw.h, "reopen_log", NULL, &out, &err), KEEL_OK);
    free(out);
    request(&gw, "GET", "/ping", NULL, NULL, &r);
    test_resp_free(&r);
    request(&gw, "GET", "/ping", NULL, NULL, &r);
    test_resp_free(&r);
    wait_lines(path, 2);
    ck_assert_int_eq(count_lines(rotated), 3);
    cJSON *info = test_gw_info(&gw);
    ck_assert_int_eq((int)test_num(info, "access_log_lines"), 5);
    ck_assert_int_eq((int)test_num(info, "access_log_errors"), 0);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

START_TEST(test_metrics)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    test_resp r;
    for (int i = 0; i < 3; i++) {
        request(&gw, "POST", "/fund/transfer", NULL, "[]", &r);
        test_resp_free(&r);
    }
    request(&gw, "POST", "/fund/transfer", "X-Keel-Scene: nowhere\r\n", "[]", &r);
    test_resp_free(&r);
    request(&gw, "POST", "/fund/transfer", NULL, "{", &r);
    test_resp_free(&r);
    const char *big = "POST /fund/transfer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: 99999\r\n\r\n";
    test_http_raw(gw.port, big, strlen(big), &r);
    test_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        request(&gw, "POST", "/secure", NULL, "[]", &r);
        test_resp_free(&r);
    }
    request(&gw, "POST", "/secure", "Authorization: Bearer s3cret-token-1\r\n", "[]", &r);
    test_resp_free(&r);
    for (int i = 0; i < 5; i++) {   /* burst 3: 2 rejected */
        request(&gw, "POST", "/limited", NULL, "[]", &r);
        test_resp_free(&r);
    }
    for (int i = 0; i < 2; i++) {
        request(&gw, "POST", "/fail", NULL, "[]", &r);
        test_resp_free(&r);
    }
    request(&gw, "POST", "/missing", NULL, "[]", &r);
    test_resp_free(&r);
    request(&gw, "GET", "/unknown", NULL, NULL, &r);
    test_resp_free(&r);
    test_wait_requests(&gw, "POST", "/missing", 1);

    cJSON *info = test_gw_info(&gw);
    struct expect {
        const char *method, *path;
        int requests, s2xx, s4xx, s5xx, s401, s413, s429, fallbacks;
    } want[] = {
        {"POST", "/fund/transfer", 6, 3, 3, 0, 0, 1, 0, 0},
        {"POST", "/secure", 3, 1, 2, 0, 2, 0, 0, 0},
        {"POST", "/limited", 5, 3, 2, 0, 0, 0, 2, 0},
        {"POST", "/fail", 2, 2, 0, 0, 0, 0, 0, 2},
        {"POST", "/missing", 1, 0, 0, 1, 0, 0, 0, 0},
        {"GET", "/ping", 0, 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const cJSON *rt = test_info_route(info, want[i].method, want[i].path);
        ck_assert_ptr_nonnull(rt);
        ck_assert_int_eq((int)test_num(rt, "requests"), want[i].requests);
        ck_assert_int_eq((int)test_num(rt, "status_2xx"), want[i].s2xx);
        ck_assert_int_eq((int)test_num(rt, "status_4xx"), want[i].s4xx);
        ck_assert_int_eq((int)test_num(rt, "status_5xx"), want[i].s5xx);
        ck_assert_int_eq((int)test_num(rt, "status_401"), want[i].s401);
        ck_assert_int_eq((int)test_num(rt, "status_413"), want[i].s413);
        ck_assert_int_eq((int)test_num(rt, "status_429"), want[i].s429);
        ck_assert_int_eq((int)test_num(rt, "fallbacks"), want[i].fallbacks);
        ck_assert_int_eq((int)test_num(rt, "in_flight"), 0);
        const cJSON *lat = cJSON_GetObjectItem(rt, "latency_us");
        int sum = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItem(lat, "buckets")) sum += (int)b->valuedouble;
        ck_assert_int_eq(sum, want[i].requests);
        if (want[i].requests > 0) {
            ck_assert(test_num(lat, "p50") >= 2);
            ck_assert(test_num(lat, "p99") >= test_num(lat, "p50"));
        } else {
            ck_assert(test_num(lat, "p50") == 0);
        }
    }
    ck_assert_int_eq((int)test_num(cJSON_GetObjectItem(info, "unrouted"), "404"), 1);
    ck_assert_int_eq((int)test_num(info, "requests"), 18);
    cJSON_Delete(info);
    test_gw_close(&gw);
}
END_TEST

static const keel_http_api *api_of(test_gw *gw)
{
    return starter_harness_table(gw->h);
}

START_TEST(test_module_routes)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    const keel_http_api *api = api_of(&gw);
    keel_starter_error err = {{0}};
    void *fund = NULL, *fund2 = NULL, *loans = NULL;
    ck_assert_int_eq(starter_harness_bind(gw.h, "fund", "retail", &fund, &err), KEEL_OK);
    ck_assert_int_eq(starter_harness_bind(gw.h, "loans", "lending", &loans, &err), KEEL_OK);
    char why[256];
    test_resp r;
    char h[128];
    char *quote = test_json("{'method': 'POST', 'path': '/fund/quote', 'service': 'quote',"
                            " 'scene': 'retail', 'fallback': {'status': 200, 'body': 0}}");
    ck_assert_int_eq(api->route_add(fund, quote, why, sizeof why), KEEL_OK);
    ck_assert_int_eq(request(&gw, "POST", "/fund/quote", NULL, "[5]", &r), 200);
    ck_assert_str_eq(r.body, "{\"service\":\"quote\",\"scene\":\"retail\",\"args\":[5]}");
    ck_assert_str_eq(test_header(&r, "X-Keel-Route", h, sizeof h), "POST /fund/quote");
    test_resp_free(&r);

    /* a scene the module does not have */
    char *foreign = test_json("{'method': 'POST', 'path': '/fund/x', 'service': 'x',"
                              " 'scene': 'corporate'}");
    ck_assert_int_eq(api->route_add(fund, foreign, why, sizeof why), KEEL_ERR_DENIED);
    ck_assert_ptr_nonnull(strstr(why, "corporate"));
    free(foreign);
    /* someone else's route, the configuration's route */
    ck_assert_int_eq(api->route_add(loans, quote, why, sizeof why), KEEL_ERR_DENIED);
    char *lq = test_json("{'method': 'POST', 'path': '/fund/quote', 'service': 'q',"
                         " 'scene': 'lending'}");
    ck_assert_int_eq(api->route_add(loans, lq, why, sizeof why), KEEL_ERR_EXISTS);
    ck_assert_ptr_nonnull(strstr(why, "fund"));
    free(lq);
    char *cfgroute = test_json("{'method': 'GET', 'path': '/ping', 'service': 'p',"
                               " 'scene': 'retail'}");
    ck_assert_int_eq(api->route_add(fund, cfgroute, why, sizeof why), KEEL_ERR_EXISTS);
    free(cfgroute);
    /* malformed */
    ck_assert_int_eq(api->route_add(fund, "{not json", why, sizeof why), KEEL_ERR_INVALID);
    ck_assert_ptr_null(strchr(why, '\n'));
    char *badpath = test_json("{'method': 'POST', 'path': 'fund', 'service': 'x', 'scene': 'retail'}");
    ck_assert_int_eq(api->route_add(fund, badpath, why, sizeof why), KEEL_ERR_INVALID);
    ck_assert_msg(strstr(why, "route field \"path\"") != NULL, "%s", why);
    free(badpath);
    ck_assert_int_eq(api->route_remove(loans, "POST", "/fund/quote"), KEEL_ERR_DENIED);
    ck_assert_int_eq(api->route_remove(fund, "GET", "/ping"), KEEL_ERR_DENIED);
    ck_assert_int_eq(api->route_remove(fund, "POST", "/nothing"), KEEL_ERR_NOT_FOUND);

    /* the routes op shows the owner */
    char *out = NULL;
    ck_assert_int_eq(starter_harness_admin(gw.h, "routes", NULL, &out, &err), KEEL_OK);
    cJSON *routes = cJSON_Parse(out);
    free(out);
    const cJSON *qr = test_info_route(routes, "POST", "/fund/quote");
    ck_assert_str_eq(cJSON_GetObjectItem(qr, "owner")->valuestring, "fund");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(test_info_route(routes, "GET", "/ping"), "owner")));
    cJSON_Delete(routes);

    /* a new instance of the same module takes the route over; the old
     * instance's unbind leaves it */
    ck_assert_int_eq(starter_harness_bind(gw.h, "fund", "retail", &fund2, &err), KEEL_OK);
    ck_assert_int_eq(api->route_add(fund2, quote, why, sizeof why), KEEL_OK);
    starter_harness_unbind(gw.h, fund);
    ck_assert_int_eq(request(&gw, "POST", "/fund/quote", NULL, "[]", &r), 200);
    test_resp_free(&r);
    /* removed explicitly, then added again, then gone at unbind */
    ck_assert_int_eq(api->route_remove(fund2, "POST", "/fund/quote"), KEEL_OK);
    ck_assert_int_eq(request(&gw, "POST", "/fund/quote", NULL, "[]", &r), 404);
    test_resp_free(&r);
    ck_assert_int_eq(api->route_add(fund2, quote, why, sizeof why), KEEL_OK);
    char *other = test_json("{'method': 'GET', 'path': '/fund/quote', 'service': 'quote',"
                            " 'scene': 'retail'}");
    ck_assert_int_eq(api->route_add(fund2, other, why, sizeof why), KEEL_OK);
    free(other);
    ck_assert_int_eq(request(&gw, "GET", "/fund/quote", NULL, NULL, &r), 200);
    test_resp_free(&r);
    starter_harness_unbind(gw.h, fund2);
    ck_assert_int_eq(request(&gw, "POST", "/fund/quote", NULL, "[]", &r), 404);
    test_resp_free(&r);
    ck_assert_int_eq(request(&gw, "GET", "/fund/quote", NULL, NULL, &r), 404);
    test_resp_free(&r);
    /* the configuration's routes are untouched */
    ck_assert_int_eq(request(&gw, "GET", "/ping", NULL, NULL, &r), 200);
    test_resp_free(&r);
    free(quote);
    starter_harness_unbind(gw.h, loans);
    test_gw_close(&gw);
}
END_TEST

/* Route edits while requests run: every request gets 200 or 404, never a
 * crash or a mixed table. */
typedef struct churn {
    unsigned port;
    atomic_int stop, ok, other;
} churn;

static void *churn_client(void *arg)
{
    churn *c = arg;
    while (!atomic_load(&c->stop)) {
        test_resp r;
        if (test_http(c->port, "POST", "/fund/dyn", NULL, "[]", &r) == 0 &&
            (r.status == 200 || r.status == 404))
            atomic_fetch_add(&c->ok, 1);
        else
            atomic_fetch_add(&c->other, 1);
        test_resp_free(&r);
    }
    return NULL;
}

START_TEST(test_route_churn)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    const keel_http_api *api = api_of(&gw);
    keel_starter_error err = {{0}};
    void *fund = NULL;
    ck_assert_int_eq(starter_harness_bind(gw.h, "fund", "retail", &fund, &err), KEEL_OK);
    churn c = {.port = gw.port};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn_client, &c);
    char *dyn = test_json("{'method': 'POST', 'path': '/fund/dyn', 'service': 'dyn', 'scene': 'retail'}");
    char why[256];
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(api->route_add(fund, dyn, why, sizeof why), KEEL_OK);
        ck_assert_int_eq(api->route_remove(fund, "POST", "/fund/dyn"), KEEL_OK);
    }
    while (atomic_load(&c.ok) < 20)
        usleep(1000);
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(atomic_load(&c.other), 0);
    free(dyn);
    starter_harness_unbind(gw.h, fund);
    test_gw_close(&gw);
}
END_TEST

/* Opening with `config` fails with `status` and a one-line message
 * containing `needle`. */
static void expect_config_error(const char *config, keel_status status, const char *needle)
{
    char work[] = "/tmp/keel-http-cfg-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(work));
    char *cfg = test_json(config);
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(HTTP_SO_1_0, work, cfg, NULL, NULL, NULL, &h, &err);
    free(cfg);
    ck_assert_msg(st == status, "config %s: status %d (%s)", config, st, err.message);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(err.message, needle) != NULL, "config %s: message \"%s\" lacks %s", config,
                  err.message, needle);
    ck_assert_msg(strncmp(err.message, "http: ", 6) == 0, "%s", err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
    /* nothing left behind */
    char log[512];
    snprintf(log, sizeof log, "%s/access.log", work);
    struct stat sb;
    ck_assert_int_ne(stat(log, &sb), 0);
    test_rmtree(work);
}

START_TEST(test_config_errors)
{
    struct {
        const char *config;
        const char *needle;
    } cases[] = {
        {"not json", "http: config: expected a JSON object"},
        {"[]", "expected a JSON object"},
        {"{'listen': '127.0.0.1'}", "config field \"listen\""},
        {"{'listen': '127.0.0.1:99999'}", "port must be an integer 0..65535"},
        {"{'listen': ':8080'}", "config field \"listen\""},
        {"{'listen': '127.0.0.1:80a'}", "config field \"listen\""},
        {"{'listen': 'bad host:80'}", "config field \"listen\""},
        {"{'listen': '::1:80'}", "IPv6 host must be in brackets"},
        {"{'listen': 8080}", "config field \"listen\": expected \"host:port\", got 8080"},
        {"{'lisen': '127.0.0.1:0'}", "config field \"lisen\": unknown field"},
        {"{'threads': 0}", "config field \"threads\": expected an integer 1..64, got 0"},
        {"{'workers': 2.5}", "config field \"workers\""},
        {"{'workers': 257}", "config field \"workers\": expected an integer 0..256, got 257"},
        {"{'max_body_bytes': 'big'}", "config field \"max_body_bytes\""},
        {"{'timeout_ms': -1}", "config field \"timeout_ms\""},
        {"{'access_log': '../../etc/x'}", "config field \"access_log\""},
        {"{'tokens': ['a']}", "config field \"tokens\""},
        {"{'tokens': {'a': 'short'}}", "config field \"tokens.a\""},
        {"{'routes': {}}", "config field \"routes\""},
        {"{'routes': [42]}", "config field \"routes[0]\": expected a route object"},
        {"{'routes': [{'method': 'POST', 'service': 's'}]}", "config field \"routes[0].path\": required"},
        {"{'routes': [{'method': 'FETCH', 'path': '/a', 'service': 's'}]}",
         "config field \"routes[0].method\": expected one of GET, POST"},
        {"{'routes': [{'method': 'GET', 'path': 'a', 'service': 's'}]}", "config field \"routes[0].path\""},
        {"{'routes': [{'method': 'GET', 'path': '/a?b', 'service': 's'}]}", "config field \"routes[0].path\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'metod': 'GET'}]}",
         "config field \"routes[0].metod\": unknown field"},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's'},"
         " {'method': 'GET', 'path': '/a', 'service': 't'}]}",
         "config field \"routes[1]\": GET /a is already routes[0]"},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'auth': 'token'}]}",
         "config field \"routes[0].auth\": \"token\" needs"},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'auth': 'basic'}]}",
         "config field \"routes[0].auth\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'rate_limit': {'per_second': -1}}]}",
         "config field \"routes[0].rate_limit.per_second\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'rate_limit': {'per_second': 1, 'burst': 0}}]}",
         "config field \"routes[0].rate_limit.burst\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'fallback': {'status': 99, 'body': 1}}]}",
         "config field \"routes[0].fallback.status\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'fallback': {'status': 200}}]}",
         "config field \"routes[0].fallback.body\": required"},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'scenes': ['x']}]}",
         "config field \"routes[0].scenes\": needs \"scene_header\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'scene': 'x',"
         " 'scene_header': 'X-S', 'scenes': ['y']}]}",
         "config field \"routes[0].scenes\": must include the route's scene \"x\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': 's', 'scene_header': 'X S'}]}",
         "config field \"routes[0].scene_header\""},
        {"{'routes': [{'method': 'GET', 'path': '/a', 'service': ''}]}", "config field \"routes[0].service\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_config_error(cases[i].config, KEEL_ERR_INVALID, cases[i].needle);

    /* a port somebody else listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{'listen': '127.0.0.1:%u'}", ntohs(sa.sin_port));
    expect_config_error(cfg, KEEL_ERR_IO, "config field \"listen\": cannot listen on 127.0.0.1:");
    close(fd);
}
END_TEST

START_TEST(test_admin_and_tables)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, base_config);
    char *out = NULL;
    keel_starter_error err = {{0}};
    ck_assert_int_eq(starter_harness_admin(gw.h, "explode", NULL, &out, &err), KEEL_ERR_NOT_FOUND);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.message, "info, routes, reopen_log"));
    ck_assert_int_eq(starter_harness_admin(gw.h, "routes", NULL, &out, &err), KEEL_OK);
    cJSON *routes = cJSON_Parse(out);
    free(out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(routes, "routes")), 11);
    const cJSON *ft = test_info_route(routes, "POST", "/fund/transfer");
    ck_assert_str_eq(cJSON_GetObjectItem(ft, "scene_header")->valuestring, "X-Keel-Scene");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(ft, "scenes")), 2);
    ck_assert_ptr_null(cJSON_GetObjectItem(ft, "requests"));   /* no metrics in "routes" */
    cJSON_Delete(routes);
    cJSON *info = test_gw_info(&gw);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "listen")->valuestring, "127.0.0.1:0");
    ck_assert_int_eq((int)test_num(info, "port"), (int)gw.port);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "version")->valuestring, "1.0.0");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(info, "serving")));
    ck_assert_int_eq((int)test_num(info, "tokens"), 2);
    cJSON_Delete(info);
    /* the 1.0.0 table: two slots */
    const keel_starter_def *def = starter_harness_def(gw.h);
    const keel_http_api *api = api_of(&gw);
    ck_assert_str_eq(def->name, "http");
    ck_assert_uint_eq(def->slot_count, 2);
    ck_assert_uint_eq(api->version, 1);
    ck_assert_uint_eq(api->size, offsetof(keel_http_api, route_metrics));
    ck_assert(!KEEL_HTTP_API_HAS(api, route_metrics));
    ck_assert_str_eq(def->slot_signatures[0], "i32(ptr,ptr,ptr,u64)");
    ck_assert_str_eq(def->slot_signatures[1], "i32(ptr,ptr,ptr)");
    test_gw_close(&gw);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("starter_http");
    TCase *tc = tcase_create("gateway");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_success);
    tcase_add_test(tc, test_scenes);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_rate_limit);
    tcase_add_test(tc, test_body_limit);
    tcase_add_test(tc, test_bad_body);
    tcase_add_test(tc, test_unknown_route_and_method);
    tcase_add_test(tc, test_failures_and_fallbacks);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_inline_calls);
    tcase_add_test(tc, test_access_log);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_module_routes);
    tcase_add_test(tc, test_route_churn);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_admin_and_tables);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

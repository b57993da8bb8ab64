/* test_http_load.c — the http starter under traffic: an upgrade in place
 * 1.0.0 → 1.1.0 while clients keep sending requests (no request may
 * fail), and a short run of the real load tool wrk. */
#include "http_test_util.h"

#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const config =
    "{'listen': '127.0.0.1:0', 'threads': 2, 'workers': 4, 'timeout_ms': 3000,"
    " 'routes': ["
    "  {'method': 'POST', 'path': '/fund/transfer', 'service': 'nap', 'scene': 'retail'},"
    "  {'method': 'POST', 'path': '/slow', 'service': 'slow'},"
    "  {'method': 'GET', 'path': '/ping', 'service': 'ping'}]}";

typedef struct traffic {
    unsigned port;
    atomic_int stop;
    atomic_int ok, failed;
    atomic_int timing;     /* responses carrying Server-Timing (1.1.0) */
    atomic_int opens;      /* connections the keep-alive clients opened */
    char last_error[256];
} traffic;

/* Sends requests until told to stop: a new connection each (keep_alive
 * false) or one persistent connection, reconnecting only when the server
 * says "Connection: close". */
static void client_loop(traffic *t, bool keep_alive)
{
    char h[128];
    test_conn conn = {.port = t->port, .fd = -1};
    for (int i = 0; !atomic_load(&t->stop); i++) {
        test_resp r;
        char body[64];
        snprintf(body, sizeof body, "[%d]", i);
        int rc = keep_alive ? test_conn_request(&conn, "POST", "/fund/transfer", body, &r)
                            : test_http(t->port, "POST", "/fund/transfer", NULL, body, &r);
        if (rc == 0 && r.status == 200 && strstr(r.body, body)) {
            atomic_fetch_add(&t->ok, 1);
            if (test_header(&r, "Server-Timing", h, sizeof h))
                atomic_fetch_add(&t->timing, 1);
        } else {
            atomic_fetch_add(&t->failed, 1);
            snprintf(t->last_error, sizeof t->last_error, "rc %d status %d body %.100s", rc,
                     r.status, r.body ? r.body : "");
        }
        test_resp_free(&r);
    }
    test_conn_close(&conn);
    if (keep_alive)
        atomic_fetch_add(&t->opens, conn.opens);
}

static void *client_main(void *arg)
{
    client_loop(arg, false);
    return NULL;
}

static void *keepalive_main(void *arg)
{
    client_loop(arg, true);
    return NULL;
}

static void wait_ok(traffic *t, int n)
{
    for (int i = 0; i < 2000 && atomic_load(&t->ok) < n; i++)
        usleep(5000);
    ck_assert_int_ge(atomic_load(&t->ok), n);
}

typedef struct slow_call {
    unsigned port;
    int status;
} slow_call;

static void *slow_main(void *arg)
{
    slow_call *s = arg;
    test_resp r;
    test_http(s->port, "POST", "/slow", NULL, "[]", &r);
    s->status = r.status;
    test_resp_free(&r);
    return NULL;
}

START_TEST(test_upgrade_under_traffic)
{
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, config);
    keel_starter_error err = {{0}};
    void *fund = NULL;
    ck_assert_int_eq(starter_harness_bind(gw.h, "fund", "retail", &fund, &err), KEEL_OK);
    const keel_http_api *api = starter_harness_table(gw.h);
    char why[256];
    char *quote = test_json("{'method': 'GET', 'path': '/fund/quote', 'service': 'quote', 'scene': 'retail'}");
    ck_assert_int_eq(api->route_add(fund, quote, why, sizeof why), KEEL_OK);
    free(quote);

    traffic t = {.port = gw.port};
    pthread_t clients[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&clients[i], NULL, i < 2 ? client_main : keepalive_main, &t);
    wait_ok(&t, 30);
    ck_assert_int_eq(atomic_load(&t.timing), 0);

    /* a call in progress while the upgrade starts finishes with its answer */
    atomic_store(&gw.svc.slow_ms, 300);
    slow_call sc = {.port = gw.port};
    pthread_t slow;
    pthread_create(&slow, NULL, slow_main, &sc);
    usleep(100 * 1000);

    /* The harness keeps host->name pointing into the old version's .so,
     * which it unloads after the upgrade; keep that .so mapped so that
     * log lines after the upgrade do not read unmapped memory. */
    void *pin = dlopen(HTTP_SO_1_0, RTLD_NOW | RTLD_LOCAL);
    ck_assert_ptr_nonnull(pin);
    ck_assert_msg(starter_harness_upgrade(gw.h, HTTP_SO_1_1, &err) == KEEL_OK, "upgrade: %s",
                  err.message);
    int at_upgrade = atomic_load(&t.ok);
    wait_ok(&t, at_upgrade + 30);
    for (int i = 0; i < 200 && atomic_load(&t.timing) == 0; i++)
        usleep(5000);
    atomic_store(&t.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(clients[i], NULL);
    pthread_join(slow, NULL);
    ck_assert_msg(atomic_load(&t.failed) == 0, "%d of %d requests failed, last: %s",
                  atomic_load(&t.failed), atomic_load(&t.ok) + atomic_load(&t.failed),
                  t.last_error);
    ck_assert_int_eq(sc.status, 200);
    ck_assert_int_gt(atomic_load(&t.timing), 0);
    /* the keep-alive clients were moved to the new server: each opened a
     * second connection after a "Connection: close" */
    ck_assert_int_ge(atomic_load(&t.opens), 4);

    /* 1.1.0: the table grew, the state (routes, module routes, metrics)
     * carried over */
    const keel_starter_def *def = starter_harness_def(gw.h);
    ck_assert_str_eq(def->version, "1.1.0");
    ck_assert_uint_eq(def->slot_count, 4);
    api = starter_harness_table(gw.h);
    ck_assert_uint_eq(api->version, 2);
    ck_assert(KEEL_HTTP_API_HAS(api, route_metrics));
    ck_assert(KEEL_HTTP_API_HAS(api, free));
    test_resp r;
    char h[128];
    ck_assert_int_eq(test_http(gw.port, "GET", "/fund/quote", NULL, NULL, &r), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(test_header(&r, "Server-Timing", h, sizeof h));
    ck_assert_ptr_nonnull(strstr(h, "gateway;dur="));
    test_resp_free(&r);
    char *metrics = NULL;
    ck_assert_int_eq(api->route_metrics(fund, "GET", "/fund/quote", &metrics), KEEL_OK);
    cJSON *m = cJSON_Parse(metrics);
    api->free(metrics);
    ck_assert_int_eq((int)test_num(m, "requests"), 1);
    ck_assert_int_eq((int)test_num(m, "status_2xx"), 1);
    cJSON_Delete(m);
    ck_assert_int_eq(api->route_metrics(fund, "POST", "/fund/transfer", &metrics), KEEL_ERR_DENIED);
    ck_assert_int_eq(api->route_metrics(fund, "GET", "/nothing", &metrics), KEEL_ERR_NOT_FOUND);

    cJSON *info = test_gw_info(&gw);
    ck_assert_str_eq(cJSON_GetObjectItem(info, "version")->valuestring, "1.1.0");
    ck_assert_int_eq((int)test_num(info, "resumes"), 2);
    ck_assert_int_eq((int)test_num(info, "port"), (int)gw.port);
    const cJSON *ft = test_info_route(info, "POST", "/fund/transfer");
    ck_assert_int_eq((int)test_num(ft, "requests"), atomic_load(&t.ok));
    ck_assert_int_eq((int)test_num(ft, "status_2xx"), atomic_load(&t.ok));
    cJSON_Delete(info);
    /* every connection of both servers was accounted for: none open, no
     * request in progress */
    int connections = -1, active = -1;
    for (int i = 0; i < 500 && (connections != 0 || active != 0); i++) {
        usleep(i ? 10000 : 0);
        info = test_gw_info(&gw);
        connections = (int)test_num(info, "connections");
        active = (int)test_num(info, "active");
        cJSON_Delete(info);
    }
    ck_assert_int_eq(connections, 0);
    ck_assert_int_eq(active, 0);
    starter_harness_unbind(gw.h, fund);
    test_gw_close(&gw);
    dlclose(pin);
}
END_TEST

/* Runs argv, returns its stdout (caller frees) and exit status. */
static char *run_capture(char *const argv[], int *status)
{
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = read(pipefd[0], out + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (len + 1 >= cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(pipefd[0]);
    waitpid(pid, status, 0);
    return out;
}

START_TEST(test_wrk)
{
    const char *wrk = "/usr/bin/wrk";
    ck_assert_msg(access(wrk, X_OK) == 0, "wrk is missing (%s): install the wrk package", wrk);
    test_gw gw;
    test_gw_open(&gw, HTTP_SO_1_0, config);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ping", gw.port);
    char *argv[] = {(char *)wrk, "-t1", "-c4", "-d1s", "--latency", url, NULL};
    int status = 0;
    char *out = run_capture(argv, &status);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wrk failed: %s", out);
    ck_assert_msg(strstr(out, "Non-2xx or 3xx responses") == NULL, "wrk saw errors:\n%s", out);
    ck_assert_msg(strstr(out, "Socket errors") == NULL, "wrk saw socket errors:\n%s", out);
    unsigned long requests = 0;
    const char *line = strstr(out, " requests in ");
    ck_assert_msg(line != NULL, "no request count in:\n%s", out);
    while (line > out && line[-1] != '\n')
        line--;
    ck_assert_int_eq(sscanf(line, " %lu requests in", &requests), 1);
    const char *rps = strstr(out, "Requests/sec:");
    ck_assert_ptr_nonnull(rps);
    ck_assert(strtod(rps + strlen("Requests/sec:"), NULL) > 0);
    ck_assert_uint_gt(requests, 0);
    /* every request wrk counted went through the route (it may have sent
     * a few more that were still open when it stopped) */
    test_wait_requests(&gw, "GET", "/ping", (double)requests);
    cJSON *info = test_gw_info(&gw);
    const cJSON *ping = test_info_route(info, "GET", "/ping");
    ck_assert_int_eq((int)test_num(ping, "status_4xx") + (int)test_num(ping, "status_5xx"), 0);
    cJSON_Delete(info);
    free(out);
    test_gw_close(&gw);
}
END_TEST

static Suite *load_suite(void)
{
    Suite *s = suite_create("starter_http_load");
    TCase *tc = tcase_create("load");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_upgrade_under_traffic);
    tcase_add_test(tc, test_wrk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(load_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * http_test_util.h — for the http starter's tests: a tiny raw-socket HTTP
 * client (so tests can send oversized, chunked and malformed requests),
 * a fake service the harness answers calls with, and a gateway opened
 * through the starter harness in a fresh work directory.
 */
#ifndef HTTP_TEST_UTIL_H
#define HTTP_TEST_UTIL_H

#include "starter_harness.h"

#include <cjson/cJSON.h>
#include <keel/starters/http.h>
#include <stdatomic.h>
#include <stddef.h>

#define HTTP_SO_1_0 KEEL_STARTERS_DIR "/http/keel-starter-http-1.0.0.so"
#define HTTP_SO_1_1 KEEL_STARTERS_DIR "/http/keel-starter-http-1.1.0.so"

/* One response. Strings malloc'd, freed by test_resp_free. */
typedef struct test_resp {
    int status;         /* 0: no parsable response */
    char *headers;      /* the header block (status line excluded) */
    char *body;         /* NUL-terminated */
    size_t body_len;
} test_resp;

/* Sends `len` bytes of `raw` (borrowed) to 127.0.0.1:port on a new
 * connection, reads until the server closes, parses. Returns 0 when a
 * status line came back. */
int test_http_raw(unsigned port, const char *raw, size_t len, test_resp *out);

/* A request with "Connection: close". `headers` (may be NULL) holds extra
 * "Name: value\r\n" lines; `body` NULL sends no body. */
int test_http(unsigned port, const char *method, const char *path, const char *headers,
              const char *body, test_resp *out);

/* The value of header `name` (case-insensitive) copied into buf, or NULL. */
const char *test_header(const test_resp *r, const char *name, char *buf, size_t size);

void test_resp_free(test_resp *r);

/* A persistent (keep-alive) connection that behaves like a strict HTTP
 * client: it reconnects only after a response that said
 * "Connection: close"; anything else (reset, EOF before a response) is a
 * failure. */
typedef struct test_conn {
    unsigned port;
    int fd;         /* -1: not connected */
    int opens;      /* connections opened */
} test_conn;

/* One request on c (connects when needed). Returns 0 with a response. */
int test_conn_request(test_conn *c, const char *method, const char *path, const char *body,
                      test_resp *out);
void test_conn_close(test_conn *c);

/* The fake services (by name):
 *   "fail" KEEL_ERR_IO, "missing" _NOT_FOUND, "drain" _DRAINING,
 *   "broken" _BROKEN, "bad" _INVALID, "slow" sleeps slow_ms then echoes,
 *   "nap" sleeps 2 ms then echoes,
 *   anything else echoes {"service":..,"scene":..,"args":..}. */
typedef struct test_services {
    atomic_int calls;
    atomic_int slow_ms;
} test_services;

keel_status test_services_call(void *user, const char *scene, const char *name,
                               const char *args_json, char **result_json,
                               keel_starter_error *err);

/* A gateway under test. */
typedef struct test_gw {
    starter_harness *h;
    char work[256];
    unsigned port;
    test_services svc;
} test_gw;

/* Opens `so` with `config` in which every ' is replaced by " (so tests
 * can write JSON readably). Aborts the test on failure. */
void test_gw_open(test_gw *gw, const char *so, const char *config);
void test_gw_close(test_gw *gw);

/* Replaces ' by " in a copy (caller frees). */
char *test_json(const char *text);

/* The admin "info" object (caller deletes); aborts on failure. */
cJSON *test_gw_info(test_gw *gw);

/* The route `method` `path` in an info object, or NULL. */
const cJSON *test_info_route(const cJSON *info, const char *method, const char *path);

/* A number field of obj (aborts when missing). */
double test_num(const cJSON *obj, const char *name);

/* Waits up to 5 s until the route's "requests" counter reaches n. */
void test_wait_requests(test_gw *gw, const char *method, const char *path, double n);

/* Removes a directory tree. */
void test_rmtree(const char *path);

#endif

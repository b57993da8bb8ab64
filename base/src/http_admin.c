/*
 * The HTTP admin API (http_admin.h) on libmicrohttpd: one thread per
 * connection, a socket bound to a loopback address only, and the bearer
 * token checked before anything else happens. Koupleless arklet commands
 * become admin requests (admin.h); every JSON answer has the arklet shape
 * {"code": "SUCCESS" | "FAILED", "data": ..., "message": "..."}.
 *
 * A request goes through the access handler in three steps: the headers
 * (token, route, method and declared length are checked, and a refusal is
 * sent at once), the body (collected up to 1 MiB), and the end (the body is
 * parsed and the command run). Every request leaves one access-log line.
 */
#include "http_admin.h"

#include <keel/bundle.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
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
#include <time.h>

#include <keel/log.h>

#define BODY_LIMIT ((size_t)1024 * 1024)
#define TOKEN_MIN 16
#define CONNECTION_LIMIT 64u
/* Idle time (no bytes moving) before MHD drops a connection. A command
 * that runs longer (an install waits for the start hook) is not cut: the
 * timeout only counts while MHD waits on the socket. */
#define CONNECTION_TIMEOUT_S 60u
#define LOG_TAG "http"
#define JSON_TYPE "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define QUOTE_MAX 160

struct keel_http {
    keel_base *base;
    char *token;
    size_t token_len;
    struct MHD_Daemon *daemon;
    unsigned port;
    char address[INET6_ADDRSTRLEN + 8]; /* "127.0.0.1:PORT" / "[::1]:PORT" */
    /* Until the daemon runs, MHD's complaints are kept for the error. */
    pthread_mutex_t start_lock;
    atomic_bool running;
    char start_error[256];
};

/* ---- routes ---------------------------------------------------------------------- */

typedef enum route_kind {
    ROUTE_INSTALL,
    ROUTE_UNINSTALL,
    ROUTE_SWITCH,
    ROUTE_QUERY,
    ROUTE_HEALTH,
    ROUTE_KEEL,
    ROUTE_METRICS
} route_kind;

typedef struct route {
    const char *path;
    const char *method;
    route_kind kind;
} route;

static const route routes[] = {
    {"/installBiz", MHD_HTTP_METHOD_POST, ROUTE_INSTALL},
    {"/uninstallBiz", MHD_HTTP_METHOD_POST, ROUTE_UNINSTALL},
    {"/switchBiz", MHD_HTTP_METHOD_POST, ROUTE_SWITCH},
    {"/queryAllBiz", MHD_HTTP_METHOD_POST, ROUTE_QUERY},
    {"/health", MHD_HTTP_METHOD_POST, ROUTE_HEALTH},
    {"/metrics", MHD_HTTP_METHOD_GET, ROUTE_METRICS},
};

static const route keel_route = {"/keel/", MHD_HTTP_METHOD_POST, ROUTE_KEEL};

#define KEEL_PREFIX "/keel/"
#define OP_MAX 32

/* An admin operation name in a /keel/OP path: lower-case letters, digits,
 * '_' and '-', at most OP_MAX - 1 of them. */
static bool valid_op_name(const char *op)
{
    size_t n = strlen(op);
    if (n == 0 || n >= OP_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = op[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The route for `url`, NULL when there is none; for /keel/OP, OP goes into
 * `op` (OP_MAX bytes). */
static const route *find_route(const char *url, char *op)
{
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strcmp(url, routes[i].path) == 0)
            return &routes[i];
    if (strncmp(url, KEEL_PREFIX, strlen(KEEL_PREFIX)) == 0) {
        const char *name = url + strlen(KEEL_PREFIX);
        if (valid_op_name(name)) {
            memcpy(op, name, strlen(name) + 1);
            return &keel_route;
        }
    }
    return NULL;
}

/* ---- one request ----------------------------------------------------------------- */

typedef struct request {
    struct timespec start;
    const route *route;
    char op[OP_MAX];
    char method[16];
    char path[QUOTE_MAX + 8]; /* quoted: safe in a log line */
    char *body;
    size_t size;
    size_t cap;
    bool too_large;
    bool no_memory;
    unsigned status; /* non-zero once a response is queued */
} request;

static double elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
        return 0.0;
    return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static request *request_new(const char *method, const char *url)
{
    request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    if (clock_gettime(CLOCK_MONOTONIC, &req->start) != 0)
        memset(&req->start, 0, sizeof req->start);
    keel_error_quote(req->method, sizeof req->method, method, 8);
    keel_error_quote(req->path, sizeof req->path, url, QUOTE_MAX);
    return req;
}

static void request_free(request *req)
{
    if (req == NULL)
        return;
    free(req->body);
    free(req);
}

/* Appends body bytes; past BODY_LIMIT they are dropped and the request
 * marked too large (MHD cannot answer in the middle of an upload). */
static void request_append(request *req, const char *data, size_t size)
{
    if (req->too_large || req->no_memory)
        return;
    if (size > BODY_LIMIT - req->size) {
        req->too_large = true;
        free(req->body);
        req->body = NULL;
        req->size = req->cap = 0;
        return;
    }
    if (req->size + size + 1 > req->cap) {
        size_t cap = req->cap ? req->cap : 4096;
        while (cap < req->size + size + 1)
            cap *= 2;
        if (cap > BODY_LIMIT + 1)
            cap = BODY_LIMIT + 1;
        char *grown = realloc(req->body, cap);
        if (grown == NULL) {
            req->no_memory = true;
            return;
        }
        req->body = grown;
        req->cap = cap;
    }
    memcpy(req->body + req->size, data, size);
    req->size += size;
    req->body[req->size] = '\0';
}

/* ---- sending --------------------------------------------------------------------- */

static void log_access(const request *req)
{
    keel_log(req->status >= 500 ? KEEL_LOG_WARN : KEEL_LOG_INFO, LOG_TAG, "%s %s %u %.1f ms",
             req->method, req->path, req->status, elapsed_ms(&req->start));
}

/* Queues `body` (malloc'd, taken) as the response, with one optional extra
 * header, and writes the access-log line. */
static enum MHD_Result send_body(struct MHD_Connection *conn, request *req, unsigned status,
                                 const char *type, char *body, const char *header,
                                 const char *value)
{
    req->status = status;
    log_access(req);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(strlen(body), body, &free);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
        (header == NULL || MHD_add_response_header(resp, header, value) == MHD_YES))
        ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Adds `item` (taken; NULL means out of memory) to `obj`. */
static bool add_item(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL)
        return false;
    if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* The JSON text of an arklet answer; `data` (taken) may be NULL for null. */
static char *envelope_text(bool ok, cJSON *data, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    if (doc == NULL || !add_item(doc, "code", cJSON_CreateString(ok ? "SUCCESS" : "FAILED"))) {
        cJSON_Delete(data);
        cJSON_Delete(doc);
        return NULL;
    }
    char *text = NULL;
    if (add_item(doc, "data", data != NULL ? data : cJSON_CreateNull()) &&
        add_item(doc, "message", cJSON_CreateString(message)))
        text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return text;
}

static const char nomem_json[] = "{\"code\":\"FAILED\",\"data\":null,\"message\":\"out of memory\"}";

static enum MHD_Result send_envelope(struct MHD_Connection *conn, request *req, unsigned status,
                                     bool ok, cJSON *data, const char *message,
                                     const char *header, const char *value)
{
    char *text = envelope_text(ok, data, message);
    if (text == NULL) {
        text = strdup(nomem_json);
        if (text == NULL)
            return MHD_NO;
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return send_body(conn, req, status, JSON_TYPE, text, header, value);
}

static enum MHD_Result send_failure(struct MHD_Connection *conn, request *req, unsigned status,
                                    const char *message, const char *header, const char *value)
{
    return send_envelope(conn, req, status, false, NULL, message, header, value);
}

/* ---- replies of commands --------------------------------------------------------- */

typedef struct reply {
    unsigned status;
    bool ok;
    cJSON *data; /* owned; NULL sends null */
    char message[KEEL_ERROR_MESSAGE_MAX];
} reply;

static void reply_fail(reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_fail(reply *r, unsigned status, const char *fmt, ...)
{
    r->status = status;
    r->ok = false;
    cJSON_Delete(r->data);
    r->data = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

static void reply_nomem(reply *r)
{
    reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
}

/* Success with `data` (taken; NULL means out of memory). */
static void reply_ok(reply *r, cJSON *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_ok(reply *r, cJSON *data, const char *fmt, ...)
{
    if (data == NULL) {
        reply_nomem(r);
        return;
    }
    cJSON_Delete(r->data);
    r->status = MHD_HTTP_OK;
    r->ok = true;
    r->data = data;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* `s` (borrowed) made safe for a one-line message, in `buf`. */
static const char *quoted(char *buf, size_t size, const char *s)
{
    keel_error_quote(buf, size, s != NULL ? s : "", QUOTE_MAX);
    return buf;
}

/* ---- talking to the admin -------------------------------------------------------- */

/* The HTTP status for a failed admin operation, from its keel status name. */
static unsigned http_status_for(const char *status_name)
{
    static const struct {
        const char *name;
        unsigned http;
    } map[] = {
        {"invalid", MHD_HTTP_BAD_REQUEST}, {"manifest", MHD_HTTP_BAD_REQUEST},
        {"bundle", MHD_HTTP_BAD_REQUEST},  {"api", MHD_HTTP_BAD_REQUEST},
        {"unsafe", MHD_HTTP_BAD_REQUEST},  {"not-found", MHD_HTTP_NOT_FOUND},
        {"busy", MHD_HTTP_CONFLICT},       {"exists", MHD_HTTP_CONFLICT},
    };
    for (size_t i = 0; status_name != NULL && i < sizeof map / sizeof *map; i++)
        if (strcmp(status_name, map[i].name) == 0)
            return map[i].http;
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static const char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Turns the admin's {"ok": false, "error": {...}} into a failed reply;
 * data is the admin's error object. */
static void reply_admin_error(reply *r, const cJSON *error)
{
    const char *status = json_string(error, "status");
    const char *message = json_string(error, "message");
    reply_fail(r, http_status_for(status), "%s",
               message != NULL ? message : "the admin operation failed without a message");
    r->data = cJSON_Duplicate(error, true);
}

typedef struct admin_answer {
    cJSON *doc;           /* owned */
    const cJSON *result;  /* inside doc */
} admin_answer;

static void admin_answer_free(admin_answer *a)
{
    cJSON_Delete(a->doc);
    a->doc = NULL;
    a->result = NULL;
}

/* Runs admin operation `op` with `args` (taken; NULL means out of memory).
 * True with *out filled (caller frees) when it succeeded; otherwise false
 * with the failure in *r. */
static bool admin_call(keel_http *h, const char *op, cJSON *args, admin_answer *out, reply *r)
{
    out->doc = NULL;
    out->result = NULL;
    cJSON *request_doc = cJSON_CreateObject();
    if (request_doc == NULL || !add_item(request_doc, "op", cJSON_CreateString(op))) {
        cJSON_Delete(args);
        cJSON_Delete(request_doc);
        reply_nomem(r);
        return false;
    }
    char *text = add_item(request_doc, "args", args) ? cJSON_PrintUnformatted(request_doc) : NULL;
    cJSON_Delete(request_doc);
    if (text == NULL) {
        reply_nomem(r);
        return false;
    }
    char *answer = keel_admin_handle(h->base, text, strlen(text), NULL, NULL);
    free(text);
    if (answer == NULL) {
        reply_nomem(r);
        return false;
    }
    cJSON *doc = cJSON_Parse(answer);
    free(answer);
    if (doc == NULL) {
        reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the admin answered %s with malformed JSON", op);
        return false;
    }
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "ok"))) {
        reply_admin_error(r, cJSON_GetObjectItemCaseSensitive(doc, "error"));
        cJSON_Delete(doc);
        return false;
    }
    out->doc = doc;
    out->result = cJSON_GetObjectItemCaseSensitive(doc, "result");
    return true;
}

/* ---- request bodies -------------------------------------------------------------- */

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* The body as a JSON object (caller frees); an empty body is {}. NULL with
 * a 400 (or out of memory) in *r otherwise. */
static cJSON *parse_body(const request *req, reply *r)
{
    if (req->size == 0 || only_space(req->body, req->size)) {
        cJSON *empty = cJSON_CreateObject();
        if (empty == NULL)
            reply_nomem(r);
        return empty;
    }
    const char *end = NULL;
    cJSON *body = cJSON_ParseWithLengthOpts(req->body, req->size, &end, false);
    if (body == NULL || !only_space(end, req->size - (size_t)(end - req->body))) {
        size_t at = end != NULL ? (size_t)(end - req->body) : 0;
        cJSON_Delete(body);
        reply_fail(r, MHD_HTTP_BAD_REQUEST, "request body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        reply_fail(r, MHD_HTTP_BAD_REQUEST, "request body must be a JSON object");
        return NULL;
    }
    return body;
}

/* Field `key` of `body` as a string into *out: NULL when absent, null or
 * "". False with a 400 in *r when it is required and missing, or present
 * and not a string. */
static bool get_string(const cJSON *body, const char *key, bool required, const char **out,
                       reply *r)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, key);
    *out = NULL;
    if (item != NULL && !cJSON_IsNull(item) && !cJSON_IsString(item)) {
        reply_fail(r, MHD_HTTP_BAD_REQUEST, "field \"%s\" must be a string", key);
        return false;
    }
    if (cJSON_IsString(item) && item->valuestring[0] != '\0')
        *out = item->valuestring;
    if (*out == NULL && required) {
        reply_fail(r, MHD_HTTP_BAD_REQUEST, "missing field \"%s\" (a non-empty string)", key);
        return false;
    }
    return true;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes `in` into `out` (`size` bytes). False on a bad escape,
 * an encoded NUL, a query or fragment, or when it does not fit. */
static bool percent_decode(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0'; i++) {
        int c = (unsigned char)in[i];
        if (c == '?' || c == '#')
            return false;
        if (c == '%') {
            int hi = hex_digit(in[i + 1]);
            int lo = hi < 0 ? -1 : hex_digit(in[i + 2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= size)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

/* The bundle path of an arklet bizUrl: "file:///abs/x.keel" (also
 * "file://localhost/abs/x.keel"), or an absolute path as it is. */
static bool bundle_path_from_url(const char *url, char *path, size_t size, reply *r)
{
    static const char scheme[] = "file://";
    char q[QUOTE_MAX + 8];
    const char *rest = NULL;
    if (strncasecmp(url, scheme, strlen(scheme)) == 0) {
        rest = url + strlen(scheme);
        if (strncasecmp(rest, "localhost/", strlen("localhost/")) == 0)
            rest += strlen("localhost");
        if (rest[0] == '/' && percent_decode(rest, path, size))
            return true;
    } else if (url[0] == '/' && strlen(url) < size) {
        memcpy(path, url, strlen(url) + 1);
        return true;
    }
    reply_fail(r, MHD_HTTP_BAD_REQUEST,
               "only local bundle files (file:///... or an absolute path) are supported; "
               "got bizUrl \"%s\"",
               quoted(q, sizeof q, url));
    return false;
}

/* ---- arklet views ---------------------------------------------------------------- */

/* The arklet BizState of a keel instance state. */
static void biz_state(const char *state, char *out, size_t size)
{
    static const struct {
        const char *keel;
        const char *arklet;
    } map[] = {
        {"active", "ACTIVATED"},     {"inactive", "DEACTIVATED"}, {"installed", "RESOLVED"},
        {"starting", "RESOLVED"},    {"stopping", "DEACTIVATED"}, {"uninstalled", "UNRESOLVED"},
        {"broken", "BROKEN"},
    };
    for (size_t i = 0; state != NULL && i < sizeof map / sizeof *map; i++)
        if (strcmp(state, map[i].keel) == 0) {
            snprintf(out, size, "%s", map[i].arklet);
            return;
        }
    if (state == NULL) {
        snprintf(out, size, "UNKNOWN");
        return;
    }
    /* Unknown states pass through, upper-cased. */
    size_t n = 0;
    for (; state[n] != '\0' && n + 1 < size; n++)
        out[n] = (char)toupper((unsigned char)state[n]);
    out[n] = '\0';
}

static cJSON *string_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* The arklet view of a keel module object (borrowed): bizName, bizVersion,
 * bizState, mainClass, webContextPath, and the whole object as "keel". */
static cJSON *biz_view(const cJSON *module)
{
    char state[32];
    biz_state(json_string(module, "state"), state, sizeof state);
    cJSON *view = cJSON_CreateObject();
    if (view == NULL)
        return NULL;
    if (add_item(view, "bizName", string_or_null(json_string(module, "name"))) &&
        add_item(view, "bizVersion", string_or_null(json_string(module, "version"))) &&
        add_item(view, "bizState", cJSON_CreateString(state)) &&
        add_item(view, "mainClass", cJSON_CreateNull()) &&
        add_item(view, "webContextPath", cJSON_CreateNull()) &&
        add_item(view, "keel", cJSON_Duplicate(module, true)))
        return view;
    cJSON_Delete(view);
    return NULL;
}

/* ---- commands -------------------------------------------------------------------- */

/* {"name": name, "version": version} without NULL members. */
static cJSON *name_version_args(const char *name, const char *version)
{
    cJSON *args = cJSON_CreateObject();
    if (args == NULL)
        return NULL;
    if (add_item(args, "name", cJSON_CreateString(name)) &&
        (version == NULL || add_item(args, "version", cJSON_CreateString(version))))
        return args;
    cJSON_Delete(args);
    return NULL;
}

static bool differs(const char *wanted, const char *got)
{
    return wanted != NULL && (got == NULL || strcmp(wanted, got) != 0);
}

/* The bundle installed as name@version, not what bizName/bizVersion asked
 * for: uninstall it again and report. */
static void undo_wrong_install(keel_http *h, const char *name, const char *version,
                               const char *want_name, const char *want_version, reply *r)
{
    char got[2 * QUOTE_MAX + 16], want[2 * QUOTE_MAX + 16], q1[QUOTE_MAX + 8], q2[QUOTE_MAX + 8];
    snprintf(got, sizeof got, "%s@%s", quoted(q1, sizeof q1, name), quoted(q2, sizeof q2, version));
    snprintf(want, sizeof want, "%s@%s", quoted(q1, sizeof q1, want_name ? want_name : name),
             quoted(q2, sizeof q2, want_version ? want_version : version));
    reply undo = {0};
    admin_answer a;
    if (admin_call(h, "uninstall", name_version_args(name, version), &a, &undo)) {
        admin_answer_free(&a);
        reply_fail(r, MHD_HTTP_BAD_REQUEST,
                   "the bundle holds %s, not %s (bizName/bizVersion); uninstalled it again", got,
                   want);
        return;
    }
    reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
               "the bundle holds %s, not %s (bizName/bizVersion); uninstalling it again failed: %s",
               got, want, undo.message);
    cJSON_Delete(undo.data);
}

/* Checks bizName/bizVersion against the bundle's manifest before anything
 * is installed, so a wrong bundle never takes traffic. A bundle that cannot
 * be read is left to the install itself, which says why. */
static bool install_matches(const char *path, const char *want_name, const char *want_version,
                            reply *r)
{
    keel_manifest *m = NULL;
    if (keel_bundle_read_manifest(path, NULL, &m, NULL) != KEEL_OK)
        return true;
    const char *name = keel_manifest_name(m), *version = keel_manifest_version(m);
    bool ok = !differs(want_name, name) && !differs(want_version, version);
    if (!ok) {
        char q1[QUOTE_MAX + 8], q2[QUOTE_MAX + 8], q3[QUOTE_MAX + 8], q4[QUOTE_MAX + 8];
        reply_fail(r, MHD_HTTP_BAD_REQUEST,
                   "the bundle holds %s@%s, not %s@%s (bizName/bizVersion); nothing was installed",
                   quoted(q1, sizeof q1, name), quoted(q2, sizeof q2, version),
                   quoted(q3, sizeof q3, want_name ? want_name : name),
                   quoted(q4, sizeof q4, want_version ? want_version : version));
    }
    keel_manifest_destroy(m);
    return ok;
}

static void command_install(keel_http *h, const cJSON *body, reply *r)
{
    const char *url, *want_name, *want_version;
    if (!get_string(body, "bizUrl", true, &url, r) ||
        !get_string(body, "bizName", false, &want_name, r) ||
        !get_string(body, "bizVersion", false, &want_version, r))
        return;
    char path[PATH_MAX];
    if (!bundle_path_from_url(url, path, sizeof path, r))
        return;
    if ((want_name != NULL || want_version != NULL) && !install_matches(path, want_name, want_version, r))
        return;
    cJSON *args = cJSON_CreateObject();
    if (args != NULL && !add_item(args, "bundle", cJSON_CreateString(path))) {
        cJSON_Delete(args);
        args = NULL;
    }
    admin_answer a;
    if (!admin_call(h, "install", args, &a, r))
        return;
    const char *name = json_string(a.result, "name");
    const char *version = json_string(a.result, "version");
    char q1[QUOTE_MAX + 8], q2[QUOTE_MAX + 8];
    if (name == NULL || version == NULL)
        reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the admin install answered without name and version");
    else if (differs(want_name, name) || differs(want_version, version))
        undo_wrong_install(h, name, version, want_name, want_version, r);
    else
        reply_ok(r, biz_view(a.result), "installed %s@%s", quoted(q1, sizeof q1, name),
                 quoted(q2, sizeof q2, version));
    admin_answer_free(&a);
}

/* uninstall (version optional) and switch (version required). */
static void command_name_version(keel_http *h, const cJSON *body, const char *op,
                                 bool version_required, reply *r)
{
    const char *name, *version;
    if (!get_string(body, "bizName", true, &name, r) ||
        !get_string(body, "bizVersion", version_required, &version, r))
        return;
    admin_answer a;
    if (!admin_call(h, op, name_version_args(name, version), &a, r))
        return;
    reply_ok(r, cJSON_Duplicate(a.result, true), "%s done", op);
    admin_answer_free(&a);
}

/* The arklet views of keel module objects (borrowed); NULL when out of memory. */
static cJSON *biz_list(const cJSON *modules)
{
    cJSON *list = cJSON_CreateArray();
    const cJSON *module;
    cJSON_ArrayForEach(module, modules)
    {
        if (list == NULL)
            break;
        cJSON *view = biz_view(module);
        if (view == NULL || !cJSON_AddItemToArray(list, view)) {
            cJSON_Delete(view);
            cJSON_Delete(list);
            list = NULL;
        }
    }
    return list;
}

static void command_query(keel_http *h, reply *r)
{
    admin_answer a;
    if (!admin_call(h, "list", cJSON_CreateObject(), &a, r))
        return;
    const cJSON *modules = cJSON_GetObjectItemCaseSensitive(a.result, "modules");
    if (!cJSON_IsArray(modules))
        reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the admin list answered without modules");
    else
        reply_ok(r, biz_list(modules), "%d modules", cJSON_GetArraySize(modules));
    admin_answer_free(&a);
}

static void command_health(keel_http *h, reply *r)
{
    admin_answer a;
    if (!admin_call(h, "health", cJSON_CreateObject(), &a, r))
        return;
    cJSON *data = cJSON_CreateObject();
    if (data != NULL && !add_item(data, "healthData", cJSON_Duplicate(a.result, true))) {
        cJSON_Delete(data);
        data = NULL;
    }
    const char *status = json_string(a.result, "status");
    char q[QUOTE_MAX + 8];
    reply_ok(r, data, "%s", quoted(q, sizeof q, status != NULL ? status : "UNKNOWN"));
    admin_answer_free(&a);
}

/* POST /keel/OP: the body is the admin "args" object, the result is data. */
static void command_keel(keel_http *h, const char *op, const cJSON *body, reply *r)
{
    admin_answer a;
    if (!admin_call(h, op, cJSON_Duplicate(body, true), &a, r))
        return;
    reply_ok(r, a.result != NULL ? cJSON_Duplicate(a.result, true) : cJSON_CreateNull(), "%s done",
             op);
    admin_answer_free(&a);
}

static void run_command(keel_http *h, const request *req, const cJSON *body, reply *r)
{
    switch (req->route->kind) {
    case ROUTE_INSTALL: command_install(h, body, r); break;
    case ROUTE_UNINSTALL: command_name_version(h, body, "uninstall", false, r); break;
    case ROUTE_SWITCH: command_name_version(h, body, "switch", true, r); break;
    case ROUTE_QUERY: command_query(h, r); break;
    case ROUTE_HEALTH: command_health(h, r); break;
    case ROUTE_KEEL: command_keel(h, req->op, body, r); break;
    case ROUTE_METRICS: reply_fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics is not a command"); break;
    }
}

/* ---- the access handler ---------------------------------------------------------- */

/* Compares the presented token with ours in time that depends only on the
 * length of ours. */
static bool token_matches(const char *given, const char *want, size_t want_len)
{
    size_t given_len = strlen(given);
    volatile unsigned char diff = given_len != want_len;
    for (size_t i = 0; i < want_len; i++) {
        unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
        diff |= g ^ (unsigned char)want[i];
    }
    return diff == 0;
}

static bool authorized(const keel_http *h, struct MHD_Connection *conn)
{
    static const char scheme[] = "Bearer ";
    const char *value =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (value == NULL || strncasecmp(value, scheme, strlen(scheme)) != 0)
        return false;
    value += strlen(scheme);
    while (*value == ' ')
        value++;
    return token_matches(value, h->token, h->token_len);
}

/* The declared Content-Length, 0 when there is none. */
static unsigned long long declared_length(struct MHD_Connection *conn)
{
    const char *value =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (value == NULL)
        return 0;
    errno = 0;
    unsigned long long n = strtoull(value, NULL, 10);
    return errno == 0 ? n : ULLONG_MAX;
}

/* First call for a request: refuse at once what needs no body to refuse. */
static enum MHD_Result on_headers(keel_http *h, struct MHD_Connection *conn, request *req,
                                  const char *url, const char *method)
{
    if (!authorized(h, conn))
        return send_failure(conn, req, MHD_HTTP_UNAUTHORIZED, "missing or wrong token",
                            MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    req->route = find_route(url, req->op);
    if (req->route == NULL) {
        char message[QUOTE_MAX + 32];
        snprintf(message, sizeof message, "no such endpoint: %s", req->path);
        return send_failure(conn, req, MHD_HTTP_NOT_FOUND, message, NULL, NULL);
    }
    if (strcmp(method, req->route->method) != 0) {
        char message[QUOTE_MAX + 64];
        snprintf(message, sizeof message, "%s takes %s, not %s", req->path, req->route->method,
                 req->method);
        return send_failure(conn, req, MHD_HTTP_METHOD_NOT_ALLOWED, message, MHD_HTTP_HEADER_ALLOW,
                            req->route->method);
    }
    if (declared_length(conn) > BODY_LIMIT)
        return send_failure(conn, req, MHD_HTTP_CONTENT_TOO_LARGE,
                            "request body is larger than 1 MiB", NULL, NULL);
    return MHD_YES;
}

static enum MHD_Result send_metrics(keel_http *h, struct MHD_Connection *conn, request *req)
{
    char *text = keel_base_metrics_text(h->base);
    if (text == NULL)
        return send_failure(conn, req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL, NULL);
    return send_body(conn, req, MHD_HTTP_OK, METRICS_TYPE, text, NULL, NULL);
}

/* Last call for a request: the body is complete. */
static enum MHD_Result on_complete(keel_http *h, struct MHD_Connection *conn, request *req)
{
    if (req->too_large)
        return send_failure(conn, req, MHD_HTTP_CONTENT_TOO_LARGE,
                            "request body is larger than 1 MiB", NULL, NULL);
    if (req->no_memory)
        return send_failure(conn, req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL, NULL);
    if (req->route->kind == ROUTE_METRICS)
        return send_metrics(h, conn, req);
    reply r = {.status = MHD_HTTP_INTERNAL_SERVER_ERROR, .message = "no answer"};
    cJSON *body = parse_body(req, &r);
    if (body != NULL) {
        run_command(h, req, body, &r);
        cJSON_Delete(body);
    }
    return send_envelope(conn, req, r.status, r.ok, r.data, r.message, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    keel_http *h = cls;
    request *req = *req_cls;
    if (req == NULL) {
        req = request_new(method, url);
        if (req == NULL)
            return MHD_NO;
        *req_cls = req;
        return on_headers(h, conn, req, url, method);
    }
    if (req->status != 0) { /* answered early: the rest is dropped */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        request_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return on_complete(h, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode why)
{
    request *req = *req_cls;
    if (req != NULL && req->status == 0)
        keel_log(KEEL_LOG_INFO, LOG_TAG, "%s %s aborted (reason %d) %.1f ms", req->method,
                 req->path, (int)why, elapsed_ms(&req->start));
    request_free(req);
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    keel_http *h = cls;
    if (atomic_load(&h->running)) {
        keel_logv(KEEL_LOG_WARN, LOG_TAG, fmt, ap);
        return;
    }
    if (pthread_mutex_lock(&h->start_lock) != 0)
        return;
    if (h->start_error[0] == '\0') {
        vsnprintf(h->start_error, sizeof h->start_error, fmt, ap);
        h->start_error[strcspn(h->start_error, "\r\n")] = '\0';
    }
    pthread_mutex_unlock(&h->start_lock);
}

/* ---- start and stop -------------------------------------------------------------- */

static bool parse_port(const char *text, unsigned *port)
{
    size_t n = strlen(text);
    if (n == 0 || n > 5 || strspn(text, "0123456789") != n)
        return false;
    unsigned long value = strtoul(text, NULL, 10);
    if (value > 65535)
        return false;
    *port = (unsigned)value;
    return true;
}

/* Parses "127.0.0.1:PORT", "[::1]:PORT" or "localhost:PORT" (any 127/8
 * address) into *addr; everything else is refused. */
static keel_status parse_listen(const char *listen, struct sockaddr_storage *addr, keel_error *err)
{
    char q[QUOTE_MAX + 8];
    if (listen == NULL || listen[0] == '\0')
        return keel_error_set(err, KEEL_ERR_INVALID, "HTTP admin API: no listen address given");
    quoted(q, sizeof q, listen);
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(listen, ':');
    const char *host_start = listen, *host_end = colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return keel_error_set(err, KEEL_ERR_INVALID,
                                  "HTTP admin API listen address %s is not [IPV6]:PORT", q);
        host_start = listen + 1;
        host_end = close;
        colon = close + 1;
    }
    unsigned port;
    if (colon == NULL || !parse_port(colon + 1, &port))
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "HTTP admin API listen address %s is not HOST:PORT (port 0-65535)", q);
    size_t host_len = (size_t)(host_end - host_start);
    if (host_len >= sizeof host)
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "HTTP admin API listens on loopback only; got %s", q);
    memcpy(host, host_start, host_len);
    host[host_len] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");

    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (listen[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1 &&
        (ntohl(v4->sin_addr.s_addr) >> 24) == 127) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return KEEL_OK;
    }
    if (listen[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 &&
        IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return KEEL_OK;
    }
    return keel_error_set(err, KEEL_ERR_INVALID, "HTTP admin API listens on loopback only; got %s",
                          q);
}

static keel_status check_token(const char *token, keel_error *err)
{
    size_t n = token != NULL ? strlen(token) : 0;
    if (n < TOKEN_MIN)
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "HTTP admin token must be at least %d characters; got %zu",
                              TOKEN_MIN, n);
    for (size_t i = 0; i < n; i++)
        if (token[i] <= ' ' || token[i] > '~')
            return keel_error_set(err, KEEL_ERR_INVALID,
                                  "HTTP admin token must be printable ASCII without spaces");
    return KEEL_OK;
}

static void format_address(keel_http *h, const struct sockaddr_storage *addr)
{
    char ip[INET6_ADDRSTRLEN];
    const void *raw = addr->ss_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)addr)->sin_addr;
    if (inet_ntop(addr->ss_family, raw, ip, sizeof ip) == NULL)
        snprintf(ip, sizeof ip, "?");
    snprintf(h->address, sizeof h->address, addr->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
             h->port);
}

static void http_free(keel_http *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->start_lock);
    if (h->token != NULL) {
        memset(h->token, 0, h->token_len);
        free(h->token);
    }
    free(h);
}

static keel_http *http_new(keel_base *base, const char *token)
{
    keel_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    if (pthread_mutex_init(&h->start_lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    h->base = base;
    h->token = strdup(token);
    h->token_len = strlen(token);
    atomic_init(&h->running, false);
    if (h->token == NULL) {
        http_free(h);
        return NULL;
    }
    return h;
}

/* Starts MHD on `addr`; on failure the reason is in err. */
static keel_status start_daemon(keel_http *h, struct sockaddr_storage *addr, keel_error *err)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (addr->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, &on_request, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
                                 MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_NOTIFY_COMPLETED, &on_completed, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, h, MHD_OPTION_END);
    if (h->daemon == NULL) {
        pthread_mutex_lock(&h->start_lock);
        keel_status st = keel_error_set(err, KEEL_ERR_IO, "HTTP admin API cannot listen on %s: %s",
                                        h->address,
                                        h->start_error[0] ? h->start_error : "libmicrohttpd refused to start");
        pthread_mutex_unlock(&h->start_lock);
        return st;
    }
    atomic_store(&h->running, true);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || info->port == 0)
        return keel_error_set(err, KEEL_ERR_IO, "HTTP admin API on %s: cannot tell the bound port",
                              h->address);
    h->port = info->port;
    format_address(h, addr);
    return KEEL_OK;
}

keel_status keel_http_start(keel_base *base, const char *listen, const char *token,
                            keel_http **out, keel_error *err)
{
    if (out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "keel_http_start: out is NULL");
    *out = NULL;
    struct sockaddr_storage addr;
    keel_status st = parse_listen(listen, &addr, err);
    if (st == KEEL_OK)
        st = check_token(token, err);
    if (st != KEEL_OK)
        return st;
    keel_http *h = http_new(base, token);
    if (h == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "HTTP admin API: out of memory");
    h->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                               : ((struct sockaddr_in *)&addr)->sin_port);
    format_address(h, &addr);
    st = start_daemon(h, &addr, err);
    if (st != KEEL_OK) {
        keel_http_stop(h);
        return st;
    }
    keel_log(KEEL_LOG_INFO, LOG_TAG, "HTTP admin API listening on %s", h->address);
    *out = h;
    return KEEL_OK;
}

void keel_http_stop(keel_http *http)
{
    if (http == NULL)
        return;
    if (http->daemon != NULL) {
        MHD_stop_daemon(http->daemon);
        keel_log(KEEL_LOG_INFO, LOG_TAG, "HTTP admin API on %s stopped", http->address);
    }
    http_free(http);
}

unsigned keel_http_port(const keel_http *http)
{
    return http != NULL ? http->port : 0;
}

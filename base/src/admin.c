/*
 * The admin protocol (admin.h): one JSON request in, one JSON response
 * out. Parsing, argument checks, dispatch and the response lines; the
 * operations themselves are in admin_deploy.c and admin_query.c.
 */
#include "admin_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADMIN_QUOTE_MAX 48
#define ADMIN_FIELDS_MAX 6

typedef struct admin_op {
    const char *name;
    keel_admin_op_fn fn;
    const char *fields[ADMIN_FIELDS_MAX];  /* the "args" it accepts */
} admin_op;

static const admin_op admin_ops[] = {
    {"install", keel_admin_install, {"bundle", "activate"}},
    {"uninstall", keel_admin_uninstall, {"name", "version"}},
    {"switch", keel_admin_switch, {"name", "version"}},
    {"rollback", keel_admin_rollback, {"name"}},
    {"route", keel_admin_route, {"name", "primary", "gray", "percent", "by_key"}},
    {"list", keel_admin_list, {0}},
    {"history", keel_admin_history, {"name", "version"}},
    {"call", keel_admin_call, {"service", "scene", "args", "key"}},
    {"publish", keel_admin_publish, {"topic", "scene", "data", "sync"}},
    {"health", keel_admin_health, {0}},
    {"metrics", keel_admin_metrics, {0}},
    {"starters", keel_admin_starters, {0}},
    {"starter.info", keel_admin_starter_info, {"name"}},
    {"starter.enable", keel_admin_starter_enable, {"name", "version", "config"}},
    {"starter.disable", keel_admin_starter_disable, {"name"}},
    {"starter.exec", keel_admin_starter_exec, {"name", "op", "args"}},
    {"market.search", keel_admin_market_search, {"word"}},
};

#define ADMIN_OP_COUNT (sizeof admin_ops / sizeof admin_ops[0])

/* ---- responses ------------------------------------------------------------ */

char *keel_admin_error_text(keel_status status, const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *error = cJSON_CreateObject();
    char *line = message ? strdup(message) : strdup("");
    for (char *c = line; c != NULL && *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    char *text = NULL;
    if (root != NULL && error != NULL && line != NULL && cJSON_AddFalseToObject(root, "ok") &&
        cJSON_AddStringToObject(error, "status", keel_status_name(status)) &&
        cJSON_AddNumberToObject(error, "code", status) &&
        cJSON_AddStringToObject(error, "message", line)) {
        cJSON_AddItemToObject(root, "error", error);
        error = NULL;
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(error);
    cJSON_Delete(root);
    free(line);
    return text;
}

static char *admin_fail(keel_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *admin_fail(keel_status status, const char *fmt, ...)
{
    char message[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return keel_admin_error_text(status, message);
}

static char *admin_success_text(cJSON *result)
{
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (root != NULL && cJSON_AddTrueToObject(root, "ok")) {
        cJSON_AddItemToObject(root, "result", result);
        result = NULL;
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(result);
    cJSON_Delete(root);
    return text;
}

void keel_admin_progress(keel_admin_request *req, const char *text)
{
    if (req->progress != NULL)
        req->progress(req->user, text);
}

/* ---- arguments ---------------------------------------------------------- */

const cJSON *keel_admin_arg(keel_admin_request *req, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(req->args, key);
}

static keel_status admin_arg_wrong(keel_admin_request *req, const char *key, const char *expected)
{
    return keel_error_set(req->err, KEEL_ERR_INVALID, "%s: argument \"%s\" must be %s", req->op,
                          key, expected);
}

keel_status keel_admin_arg_string(keel_admin_request *req, const char *key, int required,
                                  const char **out)
{
    const cJSON *item = keel_admin_arg(req, key);
    if (item == NULL || (cJSON_IsNull(item) && !required)) {
        if (required)
            return keel_error_set(req->err, KEEL_ERR_INVALID, "%s: argument \"%s\" is required",
                                  req->op, key);
        return KEEL_OK;
    }
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
        return admin_arg_wrong(req, key, "a non-empty string");
    *out = item->valuestring;
    return KEEL_OK;
}

keel_status keel_admin_arg_bool(keel_admin_request *req, const char *key, int *out)
{
    const cJSON *item = keel_admin_arg(req, key);
    if (item == NULL)
        return KEEL_OK;
    if (!cJSON_IsBool(item))
        return admin_arg_wrong(req, key, "true or false");
    *out = cJSON_IsTrue(item);
    return KEEL_OK;
}

keel_status keel_admin_arg_uint(keel_admin_request *req, const char *key, unsigned max,
                                unsigned *out)
{
    const cJSON *item = keel_admin_arg(req, key);
    if (item == NULL)
        return KEEL_OK;
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > max ||
        item->valuedouble != (double)(unsigned)item->valuedouble) {
        char expected[64];
        snprintf(expected, sizeof expected, "an integer 0..%u", max);
        return admin_arg_wrong(req, key, expected);
    }
    *out = (unsigned)item->valuedouble;
    return KEEL_OK;
}

/* ---- result builders ---------------------------------------------------- */

static cJSON *admin_target(keel_admin_request *req, cJSON *obj)
{
    return obj != NULL ? obj : req->result;
}

void keel_admin_add_item(keel_admin_request *req, cJSON *obj, const char *key, cJSON *item)
{
    cJSON *target = admin_target(req, obj);
    if (item == NULL || target == NULL) {
        cJSON_Delete(item);
        req->nomem = 1;
        return;
    }
    int ok = key != NULL ? cJSON_AddItemToObject(target, key, item) : cJSON_AddItemToArray(target, item);
    if (!ok) {
        cJSON_Delete(item);
        req->nomem = 1;
    }
}

void keel_admin_add_string(keel_admin_request *req, cJSON *obj, const char *key, const char *value)
{
    keel_admin_add_item(req, obj, key, value ? cJSON_CreateString(value) : cJSON_CreateNull());
}

void keel_admin_add_number(keel_admin_request *req, cJSON *obj, const char *key, double value)
{
    keel_admin_add_item(req, obj, key, cJSON_CreateNumber(value));
}

void keel_admin_add_bool(keel_admin_request *req, cJSON *obj, const char *key, int value)
{
    keel_admin_add_item(req, obj, key, cJSON_CreateBool(value));
}

cJSON *keel_admin_add_array(keel_admin_request *req, cJSON *obj, const char *key)
{
    cJSON *item = cJSON_CreateArray();
    keel_admin_add_item(req, obj, key, item);
    return req->nomem ? NULL : item;
}

cJSON *keel_admin_add_object(keel_admin_request *req, cJSON *obj, const char *key)
{
    cJSON *item = cJSON_CreateObject();
    keel_admin_add_item(req, obj, key, item);
    return req->nomem ? NULL : item;
}

void keel_admin_format_time(int64_t ns, char *buf, size_t size)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns % 1000000000 / 1000000));
}

/* ---- dispatch ----------------------------------------------------------- */

static const admin_op *admin_find_op(const char *name)
{
    for (size_t i = 0; i < ADMIN_OP_COUNT; i++)
        if (strcmp(admin_ops[i].name, name) == 0)
            return &admin_ops[i];
    return NULL;
}

static char *admin_unknown_op(const char *name)
{
    char list[256] = "", quoted[ADMIN_QUOTE_MAX * 4 + 8];
    size_t used = 0;
    for (size_t i = 0; i < ADMIN_OP_COUNT && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 admin_ops[i].name);
    keel_error_quote(quoted, sizeof quoted, name, ADMIN_QUOTE_MAX);
    return admin_fail(KEEL_ERR_INVALID, "unknown operation \"%s\" (expected one of %s)", quoted, list);
}

/* NULL when every argument is one `op` accepts, else the error line. */
static char *admin_check_args(const admin_op *op, const cJSON *args)
{
    for (const cJSON *a = args->child; a != NULL; a = a->next) {
        int known = strncmp(a->string, "x-", 2) == 0; /* extensions are ignored */
        for (size_t i = 0; i < ADMIN_FIELDS_MAX && op->fields[i] != NULL && !known; i++)
            known = strcmp(op->fields[i], a->string) == 0;
        if (known)
            continue;
        char list[128] = "", quoted[ADMIN_QUOTE_MAX * 4 + 8];
        size_t used = 0;
        for (size_t i = 0; i < ADMIN_FIELDS_MAX && op->fields[i] != NULL && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     op->fields[i]);
        keel_error_quote(quoted, sizeof quoted, a->string, ADMIN_QUOTE_MAX);
        return admin_fail(KEEL_ERR_INVALID, "%s: unknown argument \"%s\" (%s%s)", op->name, quoted,
                          list[0] ? "expected " : "it takes no arguments", list);
    }
    return NULL;
}

static char *admin_run(keel_base *base, const admin_op *op, const cJSON *args,
                       keel_progress_fn progress, void *user)
{
    keel_error err = {0};
    keel_admin_request req = {base, op->name, args, progress, user, &err, cJSON_CreateObject(), 0};
    if (req.result == NULL)
        return NULL;
    keel_status st = op->fn(&req);
    if (st == KEEL_OK && req.nomem)
        st = keel_error_set(&err, KEEL_ERR_NOMEM, "%s: out of memory building the answer", op->name);
    if (st != KEEL_OK) {
        cJSON_Delete(req.result);
        if (err.status == KEEL_OK || err.message[0] == '\0')
            keel_error_set(&err, st, "%s failed (%s)", op->name, keel_status_name(st));
        return keel_admin_error_text(st, err.message);
    }
    return admin_success_text(req.result);
}

/* NULL when the request's fields are "op", "args" and "x-..." only. */
static char *admin_check_request(const cJSON *root)
{
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        if (strcmp(c->string, "op") == 0 || strcmp(c->string, "args") == 0 ||
            strncmp(c->string, "x-", 2) == 0)
            continue;
        char quoted[ADMIN_QUOTE_MAX * 4 + 8];
        keel_error_quote(quoted, sizeof quoted, c->string, ADMIN_QUOTE_MAX);
        return admin_fail(KEEL_ERR_INVALID, "the request has an unknown field \"%s\" (expected "
                          "\"op\" and \"args\")", quoted);
    }
    return NULL;
}

static char *admin_dispatch(keel_base *base, const cJSON *root, keel_progress_fn progress,
                            void *user)
{
    const cJSON *op_item = cJSON_GetObjectItemCaseSensitive(root, "op");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args");
    if (!cJSON_IsObject(root) || !cJSON_IsString(op_item))
        return admin_fail(KEEL_ERR_INVALID, "the request needs a string \"op\": "
                          "{\"op\": \"list\", \"args\": {}}");
    char *answer = admin_check_request(root);
    if (answer != NULL)
        return answer;
    const admin_op *op = admin_find_op(op_item->valuestring);
    if (op == NULL)
        return admin_unknown_op(op_item->valuestring);
    if (args != NULL && !cJSON_IsObject(args) && !cJSON_IsNull(args))
        return admin_fail(KEEL_ERR_INVALID, "%s: \"args\" must be an object", op->name);
    cJSON *empty = NULL;
    if (args == NULL || cJSON_IsNull(args))
        args = empty = cJSON_CreateObject();
    if (args == NULL)
        return NULL;
    answer = admin_check_args(op, args);
    if (answer == NULL)
        answer = admin_run(base, op, args, progress, user);
    cJSON_Delete(empty);
    return answer;
}

char *keel_admin_handle(keel_base *base, const char *request, size_t size,
                        keel_progress_fn progress, void *user)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(request, size, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL && end >= request ? (size_t)(end - request) : 0;
        return admin_fail(KEEL_ERR_INVALID, "the request is not valid JSON (near byte %zu); send "
                          "one object per line: {\"op\": \"list\", \"args\": {}}", at);
    }
    while (end < request + size && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end < request + size) {
        cJSON_Delete(root);
        return admin_fail(KEEL_ERR_INVALID, "the request has text after its JSON object (at byte "
                          "%zu); send one object per line", (size_t)(end - request));
    }
    char *answer = admin_dispatch(base, root, progress, user);
    cJSON_Delete(root);
    return answer;
}

/*
 * Shared by the admin operations: the request being handled, argument
 * readers that refuse a wrong field with one line, and result builders
 * that remember running out of memory instead of checking every call.
 *
 * admin.c         the protocol: parsing, dispatch, responses
 * admin_deploy.c  install, uninstall, switch, rollback, route
 * admin_query.c   list, history, call, publish, health, metrics
 * admin_starters.c starters, starter.*, market.search
 */
#ifndef KEEL_BASE_ADMIN_INTERNAL_H
#define KEEL_BASE_ADMIN_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "base_internal.h"

/* One request in progress. All pointers borrowed for the call, except
 * `result`, which the dispatcher creates and frees. */
typedef struct keel_admin_request {
    keel_base *base;
    const char *op;
    const cJSON *args;          /* an object (empty when the request had none) */
    keel_progress_fn progress;  /* may be NULL */
    void *user;
    keel_error *err;
    cJSON *result;              /* the "result" object the operation fills */
    int nomem;                  /* a builder ran out of memory */
} keel_admin_request;

/* An operation: fills req->result and returns KEEL_OK, or sets req->err. */
typedef keel_status (*keel_admin_op_fn)(keel_admin_request *req);

/* Sends a progress line (`text` borrowed). */
void keel_admin_progress(keel_admin_request *req, const char *text);

/* Argument readers. A missing optional field leaves *out as it is; a
 * missing required one or a wrong type is KEEL_ERR_INVALID naming the
 * operation and the field. Strings point into the request (borrowed). */
keel_status keel_admin_arg_string(keel_admin_request *req, const char *key, int required,
                                  const char **out);
keel_status keel_admin_arg_bool(keel_admin_request *req, const char *key, int *out);
keel_status keel_admin_arg_uint(keel_admin_request *req, const char *key, unsigned max,
                                unsigned *out);
/* Any JSON value (borrowed), or NULL when absent. */
const cJSON *keel_admin_arg(keel_admin_request *req, const char *key);

/* Result builders: add to `obj` (req->result when NULL); on failure they
 * set req->nomem. `value` strings are borrowed (copied); NULL strings
 * become JSON null. keel_admin_add_item takes ownership of `item`. */
void keel_admin_add_string(keel_admin_request *req, cJSON *obj, const char *key, const char *value);
void keel_admin_add_number(keel_admin_request *req, cJSON *obj, const char *key, double value);
void keel_admin_add_bool(keel_admin_request *req, cJSON *obj, const char *key, int value);
void keel_admin_add_item(keel_admin_request *req, cJSON *obj, const char *key, cJSON *item);
/* A new array or object added under `key` (NULL: appended to array `obj`);
 * NULL (and req->nomem) when out of memory. Owned by `obj`. */
cJSON *keel_admin_add_array(keel_admin_request *req, cJSON *obj, const char *key);
cJSON *keel_admin_add_object(keel_admin_request *req, cJSON *obj, const char *key);

/* Writes `ns` (CLOCK_REALTIME nanoseconds) as RFC 3339 UTC with
 * milliseconds, "2026-11-21T14:32:01.123Z", into `buf` (caller's, at least
 * 32 bytes). */
void keel_admin_format_time(int64_t ns, char *buf, size_t size);

/* Operations (admin_deploy.c). */
keel_status keel_admin_install(keel_admin_request *req);
keel_status keel_admin_uninstall(keel_admin_request *req);
keel_status keel_admin_switch(keel_admin_request *req);
keel_status keel_admin_rollback(keel_admin_request *req);
keel_status keel_admin_route(keel_admin_request *req);

/* Operations (admin_query.c). */
keel_status keel_admin_list(keel_admin_request *req);
keel_status keel_admin_history(keel_admin_request *req);
keel_status keel_admin_call(keel_admin_request *req);
keel_status keel_admin_publish(keel_admin_request *req);
keel_status keel_admin_health(keel_admin_request *req);
keel_status keel_admin_metrics(keel_admin_request *req);

/* admin_starters.c */
keel_status keel_admin_starters(keel_admin_request *req);
keel_status keel_admin_starter_info(keel_admin_request *req);
keel_status keel_admin_starter_enable(keel_admin_request *req);
keel_status keel_admin_starter_disable(keel_admin_request *req);
keel_status keel_admin_starter_exec(keel_admin_request *req);
keel_status keel_admin_market_search(keel_admin_request *req);

#endif

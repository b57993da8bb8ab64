/*
 * admin_client.h — the client side of keeld's admin socket (see
 * base/src/admin.h for the wire protocol): one JSON request per line,
 * answered by progress lines and one final line. No printing here; callers
 * decide what the operator sees.
 */
#ifndef KEEL_TOOLS_ADMIN_CLIENT_H
#define KEEL_TOOLS_ADMIN_CLIENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* How a request ended. */
typedef enum keel_admin_outcome {
    KEEL_ADMIN_OK = 0,       /* "ok": true; the result is the caller's */
    KEEL_ADMIN_REFUSED,      /* "ok": false; keeld said why (err->message) */
    KEEL_ADMIN_CONNECT,      /* the socket could not be reached */
    KEEL_ADMIN_IO,           /* the connection broke or closed mid-answer */
    KEEL_ADMIN_TIMEOUT,      /* no final answer within the time limit */
    KEEL_ADMIN_PROTOCOL,     /* the answer was not what admin.h describes */
    KEEL_ADMIN_NOMEM         /* out of memory */
} keel_admin_outcome;

/* Why a request failed. `message` is always one line, ready to print after
 * "keel: "; for KEEL_ADMIN_REFUSED it is keeld's own message. */
typedef struct keel_admin_error {
    keel_admin_outcome outcome;
    int code;           /* the keel_status keeld reported, else 0 */
    char status[32];    /* its name ("busy", "bundle", ...), else "" */
    char message[1024];
} keel_admin_error;

/* Receives one progress text (borrowed, valid during the call). */
typedef void (*keel_admin_progress_fn)(void *user, const char *text);

/* One connection; many requests may go over it, one after the other. */
typedef struct keel_admin_conn keel_admin_conn;

/* Connects to the Unix socket `path` (borrowed, copied). `timeout_ms` bounds
 * the wait for each answer (-1: no limit). On KEEL_ADMIN_OK *out is the
 * caller's, released with keel_admin_close; otherwise err says why. */
keel_admin_outcome keel_admin_connect(const char *path, int timeout_ms, keel_admin_conn **out,
                                      keel_admin_error *err);

/* Closes and frees; NULL is fine. */
void keel_admin_close(keel_admin_conn *conn);

/* The request line {"op": OP, "args": ARGS}\n for `op` and `args` (both
 * borrowed; NULL args sends {}). malloc'd, caller frees; NULL when out of
 * memory. *size gets its length, newline included. */
char *keel_admin_request_line(const char *op, const cJSON *args, size_t *size);

/* Sends a request line made by keel_admin_request_line (borrowed) and
 * reads the answer: each progress line goes to `progress` (may be NULL),
 * then on KEEL_ADMIN_OK *result is the final line's "result" (the caller
 * frees it with cJSON_Delete; an absent result becomes an empty object).
 * After IO, TIMEOUT or PROTOCOL outcomes the connection is unusable: close
 * it. */
keel_admin_outcome keel_admin_exchange(keel_admin_conn *conn, const char *line, size_t size,
                                       keel_admin_progress_fn progress, void *user,
                                       cJSON **result, keel_admin_error *err);

/* keel_admin_request_line + keel_admin_exchange. */
keel_admin_outcome keel_admin_request(keel_admin_conn *conn, const char *op, const cJSON *args,
                                      keel_admin_progress_fn progress, void *user,
                                      cJSON **result, keel_admin_error *err);

#endif

/*
 * http_internal.h — the http starter's state and the pieces that share it.
 *
 * Files:
 *   http_config.c   configuration and route objects: parsing, validation
 *   http_routes.c   routes (metrics, rate limit) and the route table
 *   http_calls.c    call workers and the timeout watchdog
 *   http_server.c   the libmicrohttpd daemon: requests, responses, drain
 *   http_log.c      the access log
 *   http_admin.c    admin ops and JSON views of routes and metrics
 *   http_starter.c  the starter definition: lifecycle, clients, slots
 *
 * The state is shared by two code versions during an upgrade (same layout:
 * both are built from this source, state_format HTTP_STATE_FORMAT).
 */
#ifndef KEEL_HTTP_INTERNAL_H
#define KEEL_HTTP_INTERNAL_H

#include <keel/starter.h>
#include <keel/starters/http.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef HTTP_STARTER_VERSION
#error "build with -DHTTP_STARTER_VERSION=\"x.y.z\""
#endif
#ifndef HTTP_TABLE_VERSION
#error "build with -DHTTP_TABLE_VERSION=N"
#endif

#define HTTP_STATE_FORMAT 1
#define HTTP_LATENCY_BUCKETS 32     /* log2 microsecond buckets */
#define HTTP_ERROR_MAX 256

struct MHD_Daemon;
struct MHD_Connection;

/* Per-route counters (all atomics: updated by every server thread). */
typedef struct http_metrics {
    atomic_ullong requests;
    atomic_ullong status_2xx, status_4xx, status_5xx;
    atomic_ullong status_401, status_413, status_429;
    atomic_ullong fallbacks, timeouts;
    atomic_llong in_flight;
    atomic_ullong latency[HTTP_LATENCY_BUCKETS];   /* bucket i: [2^i, 2^(i+1)) µs; 0: < 2 µs */
} http_metrics;

/* One route. Immutable after parsing except the metrics and the bucket.
 * Reference-counted: held by route tables (and so by requests, through
 * the table they started with). */
typedef struct http_route {
    atomic_uint refs;
    char *method;           /* "GET", "POST", ... */
    char *path;             /* exact path, starts with '/' */
    char *service;
    char *scene;            /* the default scene */
    char *scene_header;     /* NULL: the scene is fixed */
    char **scenes;          /* allowed scenes (includes `scene`) */
    size_t scene_count;
    bool auth_token;        /* Authorization: Bearer <one of the tokens> */
    bool limited;           /* rate limit on */
    double per_second, burst;
    pthread_mutex_t bucket_lock;
    double tokens;          /* bucket level; under bucket_lock */
    double refilled_ns;     /* last refill; under bucket_lock */
    bool has_fallback;
    int fallback_status;
    char *fallback_body;    /* compact JSON */
    char *id;               /* "METHOD path" (X-Keel-Route) */
    const void *owner;      /* NULL: configuration; else the client (identity only) */
    char *owner_module;     /* NULL for configuration routes */
    http_metrics metrics;
} http_route;

/* An immutable set of routes, swapped as a whole. */
typedef struct http_table {
    atomic_uint refs;
    size_t count;
    http_route *routes[];
} http_table;

typedef struct http_token {
    char *name;
    char *secret;
    size_t length;
} http_token;

/* Parsed configuration. */
typedef struct http_config {
    char *listen;           /* as configured */
    char *host;             /* host part (brackets removed) */
    unsigned port;
    unsigned threads;       /* libmicrohttpd threads */
    unsigned workers;       /* call worker threads; 0: calls run inline on the
                             * server threads (no preemptive timeout) */
    size_t max_body;
    unsigned timeout_ms;
    char *access_log;       /* absolute path, NULL: disabled */
    http_token *tokens;
    size_t token_count;
    http_route **routes;    /* owned references */
    size_t route_count;
} http_config;

typedef enum http_phase {
    HTTP_PHASE_ADMIT = 0,   /* headers seen, body arriving */
    HTTP_PHASE_QUEUED,      /* waiting for a worker (connection suspended) */
    HTTP_PHASE_RUNNING,     /* a worker is calling the service */
    HTTP_PHASE_DONE,        /* the call returned (connection resumed) */
    HTTP_PHASE_TIMED_OUT,   /* the watchdog answered first (connection resumed) */
    HTTP_PHASE_ANSWERED     /* a response is queued */
} http_phase;

typedef struct http_state http_state;

/* One request, from its headers to its completion. Reference-counted: the
 * connection holds one reference, a queued or running call another. */
typedef struct http_req {
    atomic_uint refs;
    http_state *st;
    struct MHD_Connection *conn;
    http_table *table;      /* reference taken at the headers */
    http_route *route;      /* in table, or NULL (404/405) */
    double start_ns;
    char method[16];
    char *path;
    char remote[64];
    const char *scene;      /* route's scene or `scene_buf` */
    char *scene_buf;
    char *body;
    size_t body_len, body_cap;
    bool too_large;
    bool fallback;
    int status;             /* queued status, 0: none */
    size_t bytes;           /* response body bytes */
    /* the call (under calls.lock while queued/running) */
    http_phase phase;
    keel_status call_status;
    char *result;
    char call_error[HTTP_ERROR_MAX];
    double deadline_ns;
    struct http_req *queue_next;
    struct http_req *live_prev, *live_next;
} http_req;

/* Call workers and the timeout watchdog. */
typedef struct http_calls {
    pthread_mutex_t lock;
    pthread_cond_t work;        /* workers: the queue got a request, or stop */
    pthread_cond_t watch;       /* watchdog: stop (it wakes itself for deadlines) */
    http_req *queue_head, *queue_tail;  /* QUEUED, oldest first */
    http_req *live_head, *live_tail;    /* QUEUED or RUNNING, by deadline */
    bool stopping;
    pthread_t *threads;
    size_t thread_count;
    pthread_t watchdog;
    bool watchdog_running;
    bool running;               /* workers up: requests may be parked */
} http_calls;

/* The access log: one line per request, written under a lock. */
typedef struct http_access_log {
    pthread_mutex_t lock;
    char *path;     /* NULL: disabled */
    int fd;         /* -1: closed */
    atomic_ullong lines, errors;
} http_access_log;

/* A module's client. */
typedef struct http_client {
    http_state *st;
    char *module;
    char *instance;
    char **scenes;
    size_t scene_count;
    struct http_client *next;
} http_client;

struct http_state {
    /* The base's host table: set by create, replaced by each resume (a
     * new code version may get its own); read with http_host(). */
    const keel_starter_host *_Atomic host;
    http_config cfg;

    int listen_fd;                  /* owned; survives upgrades */
    unsigned bound_port;

    pthread_mutex_t table_lock;     /* guards `table` (the pointer swap) */
    http_table *table;
    pthread_mutex_t edit_lock;      /* serializes route edits and `clients` */
    http_client *clients;

    struct MHD_Daemon *daemon;      /* running daemon, NULL when suspended */
    atomic_bool serving;            /* daemon running (for admin readers) */
    atomic_bool closing;            /* responses carry Connection: close */
    atomic_bool no_park;            /* calls run inline (draining) */
    atomic_llong parked;            /* suspended connections not yet resumed */
    atomic_llong active;            /* requests between headers and completion */
    atomic_llong fresh;             /* connections accepted, no request yet */
    atomic_llong connections;       /* open connections */

    http_calls calls;
    http_access_log log;

    atomic_ullong requests;         /* every request */
    atomic_ullong unrouted_404, unrouted_405;
    atomic_ullong resumes;          /* daemons started (1 + upgrades) */
};

static inline const keel_starter_host *http_host(http_state *st)
{
    return atomic_load_explicit(&st->host, memory_order_acquire);
}

/* ---- http_config.c ---- */

/* Parses the gateway configuration `json` (borrowed) into `cfg` (filled;
 * release with http_config_free). `work_dir` (borrowed) anchors a relative
 * access_log. On error: a one-line message in err, cfg left empty. */
keel_status http_config_parse(const char *json, const char *work_dir, http_config *cfg,
                              keel_starter_error *err);
void http_config_free(http_config *cfg);

/* Parses one route object. `kind` is "config" or "route", `base` the field
 * prefix ("routes[2]." or ""); `cfg` supplies the tokens for auth checks.
 * On KEEL_OK *out holds one reference. */
keel_status http_route_parse(const cJSON *obj, const char *kind, const char *base,
                             const http_config *cfg, http_route **out, char *err,
                             size_t err_size);

/* ---- http_routes.c ---- */

void http_route_ref(http_route *r);
void http_route_unref(http_route *r);   /* NULL-safe */

/* Takes one token from the route's bucket at `now_ns`. Returns true when
 * the request may pass; otherwise *retry_after_s is the whole seconds
 * until a token is available (>= 1). */
bool http_route_take(http_route *r, double now_ns, unsigned *retry_after_s);

/* Records a finished request in the route's metrics. */
void http_metrics_record(http_metrics *m, int status, bool fallback, double micros);

/* The p-th percentile (0..100) of the histogram, as the upper bound of its
 * bucket in microseconds; 0 when empty. */
double http_metrics_percentile(const http_metrics *m, double p);

/* A new table holding `count` routes (each gets a reference). */
http_table *http_table_new(http_route *const *routes, size_t count);
void http_table_unref(http_table *t);   /* NULL-safe */

/* The current table with a reference the caller drops (http_table_unref). */
http_table *http_state_table(http_state *st);

/* Replaces the current table with `t` (takes over its reference). */
void http_state_set_table(http_state *st, http_table *t);

/* The route `method` `path` in t, or NULL. */
http_route *http_table_find(const http_table *t, const char *method, const char *path);

/* True when some route of t has `path`; fills `allow` with "GET, POST". */
bool http_table_allow(const http_table *t, const char *path, char *allow, size_t size);

/* ---- http_calls.c ---- */

void http_calls_init(http_calls *c);
void http_calls_destroy(http_calls *c);

/* Starts `workers` call threads and the watchdog (none for 0: inline
 * calls). On error none runs. */
keel_status http_calls_start(http_state *st, unsigned workers, keel_starter_error *err);

/* Stops and joins them (waits for calls in progress). Requests still
 * queued are answered as timed out first. */
void http_calls_stop(http_state *st);

/* Queues req's call (the caller has suspended req->conn and counted it in
 * st->parked). Takes a reference to req. */
void http_calls_submit(http_state *st, http_req *req);

/* Runs req's call on the calling thread: it cannot be interrupted, but a
 * result later than timeout_ms counts as timed out. */
void http_calls_run_inline(http_state *st, http_req *req);

/* ---- http_server.c ---- */

/* Starts libmicrohttpd on st->listen_fd. */
keel_status http_server_start(http_state *st, keel_starter_error *err);

/* Takes the listening socket back (quiesce), lets requests in progress
 * finish (bounded by timeout_ms + 1 s), stops the daemon. */
void http_server_stop(http_state *st);

/* Opens the listening socket of cfg (bind + listen); fills bound_port. */
keel_status http_server_listen(http_state *st, keel_starter_error *err);

void http_req_unref(http_req *req);

/* ---- http_log.c ---- */

keel_status http_log_open(http_access_log *log, const char *path, keel_starter_error *err);
void http_log_close(http_access_log *log);
/* Reopens the file (after rotation). */
keel_status http_log_reopen(http_access_log *log, keel_starter_error *err);
/* Writes one line for a finished request. */
void http_log_request(http_access_log *log, const http_req *req, double micros);

/* ---- http_admin.c ---- */

/* The route's definition (and its metrics when `metrics`). NULL: no memory. */
cJSON *http_route_json(const http_route *r, bool metrics);
keel_status http_admin(http_state *st, const char *op, const char *args_json,
                       char **result_json, keel_starter_error *err);

/* ---- small helpers (http_routes.c) ---- */

double http_now_ns(void);
char *http_strdup(const char *s);

#endif

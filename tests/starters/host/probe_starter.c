/*
 * probe — a starter for the starter host's own tests. Counters per module
 * kept in the state, a slot that reports which code version runs, and a
 * background thread (resume/suspend) that counts ticks, so tests can see
 * upgrades, suspends and state hand-over. Variants by -D:
 *   PROBE_VERSION "x.y.z"   the version it claims
 *   PROBE_FORMAT n          state_format (default 1)
 *   PROBE_EXTRA             1.1.0's extra slot (twice)
 *   PROBE_FAIL_RESUME       resume fails (a broken upgrade)
 */
#include <keel/starter.h>

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PROBE_FORMAT
#define PROBE_FORMAT 1
#endif

typedef struct probe_client probe_client;

typedef struct probe_api {
    uint32_t version;
    uint32_t size;
    keel_status (*add)(probe_client *c, int64_t delta, int64_t *out);
    keel_status (*code_version)(probe_client *c, char *buf, uint64_t size);
    keel_status (*sleep_ms)(probe_client *c, int64_t ms);
#ifdef PROBE_EXTRA
    int64_t (*twice)(probe_client *c, int64_t x);
#endif
} probe_api;

struct probe_client {
    struct probe_state *state;
    char module[64];
    atomic_llong *counter;
};

typedef struct probe_state {
    pthread_mutex_t lock;
    char names[16][64];
    atomic_llong counters[16];
    size_t modules;
    atomic_int clients;
    atomic_llong ticks;
    atomic_int stop;
    pthread_t thread;
    int running;
    int64_t start;
    char resumed_by[16];
} probe_state;

static keel_status probe_add(probe_client *c, int64_t delta, int64_t *out)
{
    int64_t v = atomic_fetch_add(c->counter, delta) + delta;
    if (out)
        *out = v;
    return KEEL_OK;
}

static keel_status probe_code_version(probe_client *c, char *buf, uint64_t size)
{
    (void)c;
    if (!buf || size == 0)
        return KEEL_ERR_INVALID;
    strncpy(buf, PROBE_VERSION, size - 1);
    buf[size - 1] = 0;
    return KEEL_OK;
}

static keel_status probe_sleep_ms(probe_client *c, int64_t ms)
{
    (void)c;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return KEEL_OK;
}

#ifdef PROBE_EXTRA
static int64_t probe_twice(probe_client *c, int64_t x)
{
    (void)c;
    return 2 * x;
}
#endif

static const probe_api probe_table = {
    1, sizeof(probe_api), probe_add, probe_code_version, probe_sleep_ms,
#ifdef PROBE_EXTRA
    probe_twice,
#endif
};

static const char *const probe_signatures[] = {
    "i32(ptr,i64,ptr)", "i32(ptr,ptr,u64)", "i32(ptr,i64)",
#ifdef PROBE_EXTRA
    "i64(ptr,i64)",
#endif
};

static keel_status probe_create(const keel_starter_host *host, const char *config_json, void **state,
                                keel_starter_error *err)
{
    (void)host;
    probe_state *s = calloc(1, sizeof *s);
    if (!s)
        return KEEL_ERR_NOMEM;
    const char *start = strstr(config_json, "\"start\":");
    if (start)
        s->start = strtoll(start + 8, NULL, 10);
    if (strstr(config_json, "\"fail\":true")) {
        keel_starter_error_set(err, "probe: config field \"fail\": asked to fail");
        free(s);
        return KEEL_ERR_INVALID;
    }
    pthread_mutex_init(&s->lock, NULL);
    *state = s;
    return KEEL_OK;
}

__attribute__((unused)) static void *probe_ticker(void *arg)
{
    probe_state *s = arg;
    while (!atomic_load(&s->stop)) {
        atomic_fetch_add(&s->ticks, 1);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static keel_status probe_resume(void *state, const keel_starter_host *host, keel_starter_error *err)
{
    probe_state *s = state;
#ifdef PROBE_FAIL_RESUME
    (void)s;
    keel_starter_error_set(err, "probe %s: resume refused on purpose", host->version);
    return KEEL_ERR_START;
#else
    (void)err;
    snprintf(s->resumed_by, sizeof s->resumed_by, "%s", PROBE_VERSION);
    host->log(host, KEEL_LOG_INFO, "resumed by %s", PROBE_VERSION);
    atomic_store(&s->stop, 0);
    s->running = pthread_create(&s->thread, NULL, probe_ticker, s) == 0;
    return s->running ? KEEL_OK : KEEL_ERR_NOMEM;
#endif
}

static void probe_suspend(void *state)
{
    probe_state *s = state;
    atomic_store(&s->stop, 1);
    if (s->running)
        pthread_join(s->thread, NULL);
    s->running = 0;
}

static void probe_destroy(void *state)
{
    probe_state *s = state;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static keel_status probe_bind(void *state, const keel_starter_binding *who, void **client,
                              keel_starter_error *err)
{
    probe_state *s = state;
    probe_client *c = calloc(1, sizeof *c);
    if (!c)
        return KEEL_ERR_NOMEM;
    pthread_mutex_lock(&s->lock);
    size_t i;
    for (i = 0; i < s->modules && strcmp(s->names[i], who->module) != 0; i++) {
    }
    if (i == s->modules) {
        if (s->modules == 16) {
            pthread_mutex_unlock(&s->lock);
            free(c);
            keel_starter_error_set(err, "probe: at most 16 modules");
            return KEEL_ERR_LIMIT;
        }
        snprintf(s->names[i], sizeof s->names[i], "%s", who->module);
        atomic_store(&s->counters[i], s->start);
        s->modules++;
    }
    c->counter = &s->counters[i];
    pthread_mutex_unlock(&s->lock);
    c->state = s;
    snprintf(c->module, sizeof c->module, "%s", who->module);
    atomic_fetch_add(&s->clients, 1);
    *client = c;
    return KEEL_OK;
}

static void probe_unbind(void *state, void *client)
{
    probe_state *s = state;
    atomic_fetch_sub(&s->clients, 1);
    free(client);
}

static keel_status probe_admin(void *state, const char *op, const char *args, char **result,
                               keel_starter_error *err)
{
    probe_state *s = state;
    (void)args;
    if (strcmp(op, "info") != 0) {
        keel_starter_error_set(err, "probe: unknown op \"%s\" (known: info)", op);
        return KEEL_ERR_NOT_FOUND;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "{\"code\":\"%s\",\"resumed_by\":\"%s\",\"clients\":%d,\"modules\":%zu,"
             "\"ticking\":%s}", PROBE_VERSION, s->resumed_by, atomic_load(&s->clients), s->modules,
             s->running ? "true" : "false");
    *result = strdup(buf);
    return *result ? KEEL_OK : KEEL_ERR_NOMEM;
}

static const keel_starter_def probe_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "probe",
    .version = PROBE_VERSION,
    .state_format = PROBE_FORMAT,
    .table = &probe_table,
    .slot_signatures = probe_signatures,
    .slot_count = sizeof probe_signatures / sizeof *probe_signatures,
    .create = probe_create,
    .resume = probe_resume,
    .suspend = probe_suspend,
    .destroy = probe_destroy,
    .bind = probe_bind,
    .unbind = probe_unbind,
    .admin = probe_admin,
};

KEEL_STARTER(probe_def)

/* kv_redis.c — see kv_redis.h. */
#include "kv_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct kv_redis {
    kv_state *state;
    const kv_config *cfg;        /* st->cfg: host, port, db, password, timeout */
    struct timeval timeout;
    size_t size;                 /* connections in the pool */

    pthread_mutex_t lock;        /* guards the ring of free slots */
    pthread_cond_t cond;         /* a slot was released */
    redisContext **conns;        /* per slot; NULL: not connected. Only the
                                  * thread holding the slot touches it. */
    uint64_t *conn_gen;          /* per slot: `generation` when it connected */
    size_t *free_slots;          /* ring: oldest released first, so every
                                  * connection gets used */
    size_t free_head;
    size_t nfree;

    /* Bumped when a connection breaks: Redis may have restarted, so the
     * other (idle) connections are reopened before their next use instead
     * of failing one call each. */
    atomic_uint_fast64_t generation;

    atomic_size_t connected;     /* open connections */
    atomic_uint_fast64_t reconnects;
    atomic_bool down;            /* the last attempt to reach Redis failed */
};

/* One pooled connection held by the calling thread. */
typedef struct kv_conn {
    size_t slot;
    redisContext *c;
} kv_conn;

/* hiredis writes to sockets with write(2): a peer that went away raises
 * SIGPIPE, which must not kill the base. Block it around socket work and
 * swallow one that this thread raised. */
typedef struct kv_sigpipe {
    sigset_t old;
    bool pending_before;
} kv_sigpipe;

static void kv_sigpipe_block(kv_sigpipe *g)
{
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->pending_before = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
}

static void kv_sigpipe_restore(kv_sigpipe *g)
{
    if (!g->pending_before) {
        sigset_t pipe_set, pending;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        sigemptyset(&pending);
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) == 1) {
            const struct timespec zero = {0, 0};
            while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Runs a command on `c` with SIGPIPE held off. NULL: the connection broke. */
static redisReply *kv_redis_vcommand(redisContext *c, const char *fmt, va_list ap)
{
    kv_sigpipe g;
    kv_sigpipe_block(&g);
    redisReply *rep = redisvCommand(c, fmt, ap);
    kv_sigpipe_restore(&g);
    return rep;
}

/* A hiredis I/O error in words; a read timeout shows as EAGAIN there. */
static void kv_redis_why_io(const kv_redis *r, const redisContext *c, char *why, size_t size)
{
    if (c->err == REDIS_ERR_IO && (strstr(c->errstr, "temporarily unavailable") ||
                                   strstr(c->errstr, "timed out")))
        snprintf(why, size, "no answer within %d ms", r->cfg->redis_timeout_ms);
    else if (c->err == REDIS_ERR_EOF)
        snprintf(why, size, "connection closed by the server");
    else
        snprintf(why, size, "%s", c->errstr[0] ? c->errstr : "I/O error");
}

/* Runs a setup command that must answer status `want` (NULL: any status). */
static bool kv_redis_setup(const kv_redis *r, redisContext *c, const char *what,
                           const char *want, char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = kv_redis_vcommand(c, fmt, ap);
    va_end(ap);
    if (!rep) {
        char io[160];
        kv_redis_why_io(r, c, io, sizeof io);
        snprintf(why, size, "unreachable: %s", io);
        return false;
    }
    bool ok = rep->type == REDIS_REPLY_STATUS && (!want || strcmp(rep->str, want) == 0);
    if (!ok)
        snprintf(why, size, "refused %s: %.200s", what,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return ok;
}

/* Opens one connection: connect with the timeout, AUTH, SELECT, PING. On
 * failure NULL and `why` ("unreachable: ...", "refused AUTH: ..."). */
static redisContext *kv_redis_connect(const kv_redis *r, char *why, size_t size)
{
    const kv_config *cfg = r->cfg;
    kv_sigpipe g;
    kv_sigpipe_block(&g);
    redisContext *c = redisConnectWithTimeout(cfg->redis_host, cfg->redis_port, r->timeout);
    kv_sigpipe_restore(&g);
    if (!c) {
        snprintf(why, size, "unreachable: out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(why, size, "unreachable: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, r->timeout) != REDIS_OK) {
        snprintf(why, size, "unreachable: cannot set the timeout: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);
    bool ok = true;
    if (cfg->redis_password)
        ok = kv_redis_setup(r, c, "AUTH", "OK", why, size, "AUTH %s", cfg->redis_password);
    if (ok && cfg->redis_db != 0)
        ok = kv_redis_setup(r, c, "SELECT", "OK", why, size, "SELECT %d", cfg->redis_db);
    if (ok)
        ok = kv_redis_setup(r, c, "PING", NULL, why, size, "PING");
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Logs (rate-limited) that Redis failed and remembers it is down. */
static void kv_redis_failed(kv_redis *r, const char *what, const char *why)
{
    atomic_store(&r->down, true);
    kv_warn(r->state, &r->state->warn_backend,
            "kv: redis at %s:%d: %s failed: %s (calls fail with KEEL_ERR_IO until it answers)",
            r->cfg->redis_host, r->cfg->redis_port, what, why);
}

/* Redis answered: says so once after it had failed. */
static void kv_redis_answered(kv_redis *r)
{
    if (atomic_load(&r->down) && atomic_exchange(&r->down, false))
        r->state->host->log(r->state->host, KEEL_LOG_INFO, "kv: redis at %s:%d answers again",
                            r->cfg->redis_host, r->cfg->redis_port);
}

/* Puts `slot` back in the ring of free slots and wakes a waiter. */
static void kv_redis_put_slot(kv_redis *r, size_t slot)
{
    pthread_mutex_lock(&r->lock);
    r->free_slots[(r->free_head + r->nfree) % r->size] = slot;
    r->nfree++;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Closes the connection of `slot` (held by the caller). */
static void kv_redis_close_slot(kv_redis *r, size_t slot)
{
    if (!r->conns[slot])
        return;
    redisFree(r->conns[slot]);
    r->conns[slot] = NULL;
    atomic_fetch_sub(&r->connected, 1);
}

/* Takes a slot (waits while all are busy: each holder is bounded by the
 * timeouts) and makes sure it is connected. */
static keel_status kv_redis_acquire(kv_redis *r, const char *what, kv_conn *k)
{
    pthread_mutex_lock(&r->lock);
    while (r->nfree == 0)
        pthread_cond_wait(&r->cond, &r->lock);
    k->slot = r->free_slots[r->free_head];
    r->free_head = (r->free_head + 1) % r->size;
    r->nfree--;
    pthread_mutex_unlock(&r->lock);
    uint64_t gen = atomic_load(&r->generation);
    if (r->conns[k->slot] && r->conn_gen[k->slot] != gen)
        kv_redis_close_slot(r, k->slot);   /* opened before a failure: maybe stale */
    k->c = r->conns[k->slot];
    if (k->c)
        return KEEL_OK;
    char why[256];
    k->c = kv_redis_connect(r, why, sizeof why);
    if (!k->c) {
        kv_redis_failed(r, what, why);
        kv_redis_put_slot(r, k->slot);
        return KEEL_ERR_IO;
    }
    r->conns[k->slot] = k->c;
    r->conn_gen[k->slot] = gen;
    atomic_fetch_add(&r->connected, 1);
    atomic_fetch_add(&r->reconnects, 1);
    return KEEL_OK;
}

/* Gives the slot back; a broken connection is closed (the next holder
 * reconnects) and makes every other one suspect. */
static void kv_redis_release(kv_redis *r, kv_conn *k)
{
    if (k->c && k->c->err) {
        kv_redis_close_slot(r, k->slot);
        atomic_fetch_add(&r->generation, 1);
    }
    kv_redis_put_slot(r, k->slot);
}

/* Maps an error reply to a status. */
static keel_status kv_redis_error_status(kv_redis *r, const char *what, const char *msg,
                                         const char **why)
{
    if (strncmp(msg, "WRONGTYPE", 9) == 0 || strstr(msg, "not an integer"))
        return KEEL_ERR_INVALID;
    if (strstr(msg, "overflow")) {
        if (why)
            *why = "the result would overflow int64";
        return KEEL_ERR_LIMIT;
    }
    if (strncmp(msg, "OOM", 3) == 0) {
        if (why)
            *why = "Redis is out of memory (maxmemory)";
        return KEEL_ERR_LIMIT;
    }
    kv_redis_failed(r, what, msg);
    return KEEL_ERR_IO;
}

/* Runs one command on a held connection. On KEEL_OK *out is the reply
 * (freeReplyObject); error replies are mapped to a status. */
static keel_status kv_redis_run(kv_redis *r, kv_conn *k, const char *what, redisReply **out,
                                const char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = kv_redis_vcommand(k->c, fmt, ap);
    va_end(ap);
    *out = NULL;
    if (!rep) {
        char io[160];
        kv_redis_why_io(r, k->c, io, sizeof io);
        kv_redis_failed(r, what, io);
        return KEEL_ERR_IO;
    }
    kv_redis_answered(r);
    if (rep->type == REDIS_REPLY_ERROR) {
        keel_status st = kv_redis_error_status(r, what, rep->str, why);
        freeReplyObject(rep);
        return st;
    }
    *out = rep;
    return KEEL_OK;
}

/* acquire + run + release for the one-command operations. */
#define KV_REDIS_ONE(r, what, rep, why, ...)                               \
    kv_conn k_;                                                              \
    keel_status st = kv_redis_acquire((r), (what), &k_);                     \
    if (st != KEEL_OK)                                                       \
        return st;                                                           \
    st = kv_redis_run((r), &k_, (what), &(rep), (why), __VA_ARGS__);         \
    kv_redis_release((r), &k_)

keel_status kv_redis_set(kv_redis *r, const char *key, size_t klen, const void *value,
                         size_t len, int64_t ttl_ms, const char **why)
{
    redisReply *rep;
    const char *v = len ? value : "";
    if (ttl_ms > 0) {
        KV_REDIS_ONE(r, "SET", rep, why, "SET %b %b PX %lld", key, klen, v, len,
                     (long long)ttl_ms);
        freeReplyObject(rep);
        return st;
    }
    KV_REDIS_ONE(r, "SET", rep, why, "SET %b %b", key, klen, v, len);
    freeReplyObject(rep);
    return st;
}

keel_status kv_redis_get(kv_redis *r, const char *key, size_t klen, void **value, size_t *len)
{
    redisReply *rep;
    KV_REDIS_ONE(r, "GET", rep, NULL, "GET %b", key, klen);
    if (st != KEEL_OK)
        return st;
    if (rep->type == REDIS_REPLY_NIL) {
        st = KEEL_ERR_NOT_FOUND;
    } else if (rep->type != REDIS_REPLY_STRING) {
        st = KEEL_ERR_INVALID;   /* not a string value: not one the starter wrote */
    } else {
        char *copy = malloc(rep->len + 1);
        if (!copy) {
            st = KEEL_ERR_NOMEM;
        } else {
            memcpy(copy, rep->str, rep->len);
            copy[rep->len] = '\0';
            *value = copy;
            *len = rep->len;
        }
    }
    freeReplyObject(rep);
    return st;
}

keel_status kv_redis_del(kv_redis *r, const char *key, size_t klen)
{
    redisReply *rep;
    KV_REDIS_ONE(r, "DEL", rep, NULL, "DEL %b", key, klen);
    if (st != KEEL_OK)
        return st;
    if (rep->type != REDIS_REPLY_INTEGER)
        st = KEEL_ERR_INTERNAL;
    else if (rep->integer == 0)
        st = KEEL_ERR_NOT_FOUND;
    freeReplyObject(rep);
    return st;
}

keel_status kv_redis_incr(kv_redis *r, const char *key, size_t klen, int64_t delta,
                          int64_t *out, const char **why)
{
    redisReply *rep;
    KV_REDIS_ONE(r, "INCRBY", rep, why, "INCRBY %b %lld", key, klen, (long long)delta);
    if (st != KEEL_OK)
        return st;
    if (rep->type == REDIS_REPLY_INTEGER)
        *out = rep->integer;
    else
        st = KEEL_ERR_INTERNAL;
    freeReplyObject(rep);
    return st;
}

keel_status kv_redis_ttl(kv_redis *r, const char *key, size_t klen, int64_t *ms_left)
{
    redisReply *rep;
    KV_REDIS_ONE(r, "PTTL", rep, NULL, "PTTL %b", key, klen);
    if (st != KEEL_OK)
        return st;
    if (rep->type != REDIS_REPLY_INTEGER)
        st = KEEL_ERR_INTERNAL;
    else if (rep->integer == -2)
        st = KEEL_ERR_NOT_FOUND;
    else if (rep->integer == 0)
        *ms_left = 1;   /* expires within this millisecond: still there */
    else
        *ms_left = rep->integer;   /* -1: no expiry */
    freeReplyObject(rep);
    return st;
}

/* "prefix*" with the glob characters of prefix escaped. malloc'd. */
static char *kv_redis_pattern(const char *prefix, size_t plen, size_t *out_len)
{
    char *p = malloc(plen * 2 + 2);
    if (!p)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < plen; i++) {
        if (prefix[i] != '\0' && strchr("*?[]\\", prefix[i]))
            p[n++] = '\\';
        p[n++] = prefix[i];
    }
    p[n++] = '*';
    p[n] = '\0';
    *out_len = n;
    return p;
}

/* DELs the keys of one SCAN batch (`keys`, an array reply). */
static keel_status kv_redis_del_batch(kv_redis *r, kv_conn *k, const redisReply *keys,
                                      size_t *deleted)
{
    if (keys->elements == 0)
        return KEEL_OK;
    size_t n = keys->elements + 1;
    const char **argv = malloc(n * sizeof *argv);
    size_t *lens = malloc(n * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return KEEL_ERR_NOMEM;
    }
    argv[0] = "DEL";
    lens[0] = 3;
    for (size_t i = 0; i < keys->elements; i++) {
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    kv_sigpipe g;
    kv_sigpipe_block(&g);
    redisReply *rep = redisCommandArgv(k->c, (int)n, argv, lens);
    kv_sigpipe_restore(&g);
    free(argv);
    free(lens);
    keel_status st = KEEL_OK;
    if (!rep) {
        char io[160];
        kv_redis_why_io(r, k->c, io, sizeof io);
        kv_redis_failed(r, "DEL", io);
        return KEEL_ERR_IO;
    }
    if (rep->type == REDIS_REPLY_INTEGER)
        *deleted += (size_t)rep->integer;
    else
        st = rep->type == REDIS_REPLY_ERROR ? kv_redis_error_status(r, "DEL", rep->str, NULL)
                                            : KEEL_ERR_INTERNAL;
    freeReplyObject(rep);
    return st;
}

keel_status kv_redis_flush_prefix(kv_redis *r, const char *prefix, size_t plen, size_t *deleted,
                                  keel_starter_error *err)
{
    *deleted = 0;
    size_t patlen;
    char *pattern = kv_redis_pattern(prefix, plen, &patlen);
    if (!pattern)
        return KEEL_ERR_NOMEM;
    kv_conn k;
    keel_status st = kv_redis_acquire(r, "SCAN", &k);
    bool held = st == KEEL_OK;
    char cursor[32] = "0";
    while (st == KEEL_OK) {
        redisReply *rep;
        st = kv_redis_run(r, &k, "SCAN", &rep, NULL, "SCAN %s MATCH %b COUNT 1000", cursor,
                          pattern, patlen);
        if (st != KEEL_OK)
            break;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY || rep->element[0]->len >= sizeof cursor) {
            freeReplyObject(rep);
            st = KEEL_ERR_INTERNAL;
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        st = kv_redis_del_batch(r, &k, rep->element[1], deleted);
        freeReplyObject(rep);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    if (held)
        kv_redis_release(r, &k);
    free(pattern);
    if (st != KEEL_OK)
        keel_starter_error_set(err, "kv: flush of redis keys \"%.*s*\" at %s:%d failed: %s",
                               (int)plen, prefix, r->cfg->redis_host, r->cfg->redis_port,
                               st == KEEL_ERR_IO ? "redis does not answer"
                               : st == KEEL_ERR_NOMEM ? "out of memory"
                                                      : "unexpected reply");
    return st;
}

int kv_redis_info(kv_redis *r, cJSON *info)
{
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%d", r->cfg->redis_host, r->cfg->redis_port);
    return cJSON_AddStringToObject(info, "redis", addr) &&
           cJSON_AddNumberToObject(info, "db", r->cfg->redis_db) &&
           cJSON_AddNumberToObject(info, "pool", (double)r->size) &&
           cJSON_AddNumberToObject(info, "connected", (double)atomic_load(&r->connected)) &&
           cJSON_AddNumberToObject(info, "connects", (double)atomic_load(&r->reconnects)) &&
           cJSON_AddBoolToObject(info, "reachable", !atomic_load(&r->down));
}

keel_status kv_redis_create(kv_state *st, kv_redis **out, keel_starter_error *err)
{
    *out = NULL;
    kv_redis *r = calloc(1, sizeof *r);
    if (!r)
        return KEEL_ERR_NOMEM;
    r->state = st;
    r->cfg = &st->cfg;
    r->size = (size_t)st->cfg.redis_pool;
    r->timeout.tv_sec = st->cfg.redis_timeout_ms / 1000;
    r->timeout.tv_usec = (st->cfg.redis_timeout_ms % 1000) * 1000;
    atomic_init(&r->connected, 0);
    atomic_init(&r->reconnects, 0);
    atomic_init(&r->down, false);
    atomic_init(&r->generation, 0);
    r->conns = calloc(r->size, sizeof *r->conns);
    r->conn_gen = calloc(r->size, sizeof *r->conn_gen);
    r->free_slots = calloc(r->size, sizeof *r->free_slots);
    bool lock_ok = false, cond_ok = false;
    if (r->conns && r->conn_gen && r->free_slots) {
        lock_ok = pthread_mutex_init(&r->lock, NULL) == 0;
        cond_ok = lock_ok && pthread_cond_init(&r->cond, NULL) == 0;
    }
    if (!cond_ok) {
        if (lock_ok)
            pthread_mutex_destroy(&r->lock);
        free(r->conns);
        free(r->conn_gen);
        free(r->free_slots);
        free(r);
        keel_starter_error_set(err, "kv: out of memory creating the redis pool");
        return KEEL_ERR_NOMEM;
    }
    char why[256];
    redisContext *c = kv_redis_connect(r, why, sizeof why);
    if (!c) {
        keel_starter_error_set(err, "kv: redis at %s:%d %s", st->cfg.redis_host,
                               st->cfg.redis_port, why);
        kv_redis_destroy(r);
        return KEEL_ERR_IO;
    }
    r->conns[0] = c;
    atomic_store(&r->connected, 1);
    atomic_store(&r->reconnects, 1);
    for (size_t i = 0; i < r->size; i++)
        r->free_slots[r->nfree++] = i;
    *out = r;
    return KEEL_OK;
}

void kv_redis_destroy(kv_redis *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->size; i++)
        if (r->conns[i])
            redisFree(r->conns[i]);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r->conns);
    free(r->conn_gen);
    free(r->free_slots);
    free(r);
}

/* kv_mem.c — see kv_mem.h. */
#include "kv_mem.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KV_STRIPES 16u            /* independent locks; a power of two */
#define KV_BUCKETS_MIN 64u        /* per stripe; a power of two */

typedef struct kv_entry {
    struct kv_entry *next;
    uint64_t hash;
    int64_t expires_ms;   /* CLOCK_MONOTONIC ms; 0: never */
    char *value;          /* malloc'd, vlen bytes plus a NUL */
    size_t vlen;
    size_t klen;
    char key[];           /* klen bytes plus a NUL */
} kv_entry;

typedef struct kv_stripe {
    pthread_mutex_t lock;
    kv_entry **buckets;   /* nbuckets chains */
    size_t nbuckets;      /* a power of two */
    size_t count;
} kv_stripe;

struct kv_mem {
    kv_stripe stripes[KV_STRIPES];
    atomic_size_t stored;   /* entries in all stripes (reserved before insertion) */
    atomic_size_t with_ttl; /* entries that have an expiry */
    size_t max_keys;
    kv_stats *stats;

    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;   /* CLOCK_MONOTONIC */
    bool sweep_running;
    bool sweep_stop;
    int64_t sweep_interval_ms;
    pthread_t sweeper;
};

/* FNV-1a with a final mix, so that both the top bits (stripe) and the low
 * bits (bucket) are well spread. */
static uint64_t kv_hash(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static kv_stripe *kv_stripe_of(kv_mem *mem, uint64_t hash)
{
    return &mem->stripes[hash >> 60 & (KV_STRIPES - 1)];
}

static bool kv_entry_expired(const kv_entry *e, int64_t now)
{
    return e->expires_ms != 0 && now >= e->expires_ms;
}

static int64_t kv_expiry(int64_t now, int64_t ttl_ms)
{
    if (ttl_ms <= 0)
        return 0;
    return ttl_ms > INT64_MAX - now ? INT64_MAX : now + ttl_ms;
}

static void kv_entry_free(kv_entry *e)
{
    if (!e)
        return;
    free(e->value);
    free(e);
}

/* A new entry with a copy of the key and no value. */
static kv_entry *kv_entry_new(const char *key, size_t klen, uint64_t hash)
{
    kv_entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return NULL;
    memset(e, 0, sizeof *e);
    e->hash = hash;
    e->klen = klen;
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    return e;
}

/* The link that points at the entry of `key`, or NULL. Stripe locked. */
static kv_entry **kv_stripe_find(kv_stripe *s, uint64_t hash, const char *key, size_t klen)
{
    kv_entry **link = &s->buckets[hash & (s->nbuckets - 1)];
    for (; *link; link = &(*link)->next) {
        kv_entry *e = *link;
        if (e->hash == hash && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return link;
    }
    return NULL;
}

/* Unlinks and frees *link. Stripe locked. */
static void kv_stripe_remove(kv_mem *mem, kv_stripe *s, kv_entry **link)
{
    kv_entry *e = *link;
    *link = e->next;
    s->count--;
    atomic_fetch_sub(&mem->stored, 1);
    if (e->expires_ms)
        atomic_fetch_sub(&mem->with_ttl, 1);
    kv_entry_free(e);
}

/* The live entry of `key`, dropping it when it expired. Stripe locked. */
static kv_entry *kv_stripe_live(kv_mem *mem, kv_stripe *s, uint64_t hash, const char *key,
                                size_t klen, int64_t now)
{
    kv_entry **link = kv_stripe_find(s, hash, key, klen);
    if (!link)
        return NULL;
    if (kv_entry_expired(*link, now)) {
        kv_stripe_remove(mem, s, link);
        atomic_fetch_add(&mem->stats->expired, 1);
        return NULL;
    }
    return *link;
}

/* Doubles the bucket array when chains grow past one entry on average;
 * stays as is when out of memory (chains just get longer). Stripe locked. */
static void kv_stripe_grow(kv_stripe *s)
{
    if (s->count <= s->nbuckets)
        return;
    size_t n = s->nbuckets * 2;
    kv_entry **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        kv_entry *e = s->buckets[i];
        while (e) {
            kv_entry *next = e->next;
            kv_entry **head = &b[e->hash & (n - 1)];
            e->next = *head;
            *head = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Inserts `e` (not present yet). Stripe locked, slot reserved. */
static void kv_stripe_insert(kv_stripe *s, kv_entry *e)
{
    kv_entry **head = &s->buckets[e->hash & (s->nbuckets - 1)];
    e->next = *head;
    *head = e;
    s->count++;
    kv_stripe_grow(s);
}

/* Sets the expiry of `e`, keeping with_ttl right. Stripe locked. */
static void kv_entry_expire_at(kv_mem *mem, kv_entry *e, int64_t expires)
{
    if (!e->expires_ms && expires)
        atomic_fetch_add(&mem->with_ttl, 1);
    else if (e->expires_ms && !expires)
        atomic_fetch_sub(&mem->with_ttl, 1);
    e->expires_ms = expires;
}

/* Takes one of the max_keys places; false when all are taken. */
static bool kv_mem_reserve(kv_mem *mem)
{
    size_t n = atomic_fetch_add(&mem->stored, 1);
    if (n < mem->max_keys)
        return true;
    atomic_fetch_sub(&mem->stored, 1);
    return false;
}

kv_mem *kv_mem_create(size_t max_keys, kv_stats *stats)
{
    kv_mem *mem = calloc(1, sizeof *mem);
    if (!mem)
        return NULL;
    mem->max_keys = max_keys;
    mem->stats = stats;
    atomic_init(&mem->stored, 0);
    atomic_init(&mem->with_ttl, 0);
    size_t ready = 0;
    for (; ready < KV_STRIPES; ready++) {
        kv_stripe *s = &mem->stripes[ready];
        s->nbuckets = KV_BUCKETS_MIN;
        s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
        if (!s->buckets || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->buckets);
            break;
        }
    }
    pthread_condattr_t attr;
    bool cond_ok = false, lock_ok = false;
    if (ready == KV_STRIPES && pthread_condattr_init(&attr) == 0) {
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&mem->sweep_cond, &attr) == 0;
        pthread_condattr_destroy(&attr);
        lock_ok = cond_ok && pthread_mutex_init(&mem->sweep_lock, NULL) == 0;
    }
    if (!lock_ok) {
        if (cond_ok)
            pthread_cond_destroy(&mem->sweep_cond);
        for (size_t i = 0; i < ready; i++) {
            pthread_mutex_destroy(&mem->stripes[i].lock);
            free(mem->stripes[i].buckets);
        }
        free(mem);
        return NULL;
    }
    return mem;
}

void kv_mem_destroy(kv_mem *mem)
{
    if (!mem)
        return;
    for (size_t i = 0; i < KV_STRIPES; i++) {
        kv_stripe *s = &mem->stripes[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            kv_entry *e = s->buckets[b];
            while (e) {
                kv_entry *next = e->next;
                kv_entry_free(e);
                e = next;
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    pthread_cond_destroy(&mem->sweep_cond);
    pthread_mutex_destroy(&mem->sweep_lock);
    free(mem);
}

keel_status kv_mem_set(kv_mem *mem, const char *key, size_t klen, const void *value,
                       size_t len, int64_t ttl_ms, const char **why)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = kv_stripe_of(mem, hash);
    char *val = malloc(len + 1);
    kv_entry *fresh = kv_entry_new(key, klen, hash);
    if (!val || !fresh) {
        free(val);
        kv_entry_free(fresh);
        return KEEL_ERR_NOMEM;
    }
    if (len)
        memcpy(val, value, len);
    val[len] = '\0';
    int64_t now = kv_now_ms();
    int64_t expires = kv_expiry(now, ttl_ms);
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&s->lock);
        kv_entry *e = kv_stripe_live(mem, s, hash, key, klen, now);
        if (e) {
            char *old = e->value;
            e->value = val;
            e->vlen = len;
            kv_entry_expire_at(mem, e, expires);
            pthread_mutex_unlock(&s->lock);
            free(old);
            kv_entry_free(fresh);
            return KEEL_OK;
        }
        if (kv_mem_reserve(mem)) {
            fresh->value = val;
            fresh->vlen = len;
            kv_entry_expire_at(mem, fresh, expires);
            kv_stripe_insert(s, fresh);
            pthread_mutex_unlock(&s->lock);
            return KEEL_OK;
        }
        pthread_mutex_unlock(&s->lock);
        if (attempt == 0 && atomic_load(&mem->with_ttl) > 0)
            kv_mem_sweep(mem);   /* expired entries must not hold places */
    }
    free(val);
    kv_entry_free(fresh);
    if (why)
        *why = "max_keys is reached";
    return KEEL_ERR_LIMIT;
}

keel_status kv_mem_get(kv_mem *mem, const char *key, size_t klen, void **value, size_t *len)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = kv_stripe_of(mem, hash);
    pthread_mutex_lock(&s->lock);
    kv_entry *e = kv_stripe_live(mem, s, hash, key, klen, kv_now_ms());
    if (!e) {
        pthread_mutex_unlock(&s->lock);
        return KEEL_ERR_NOT_FOUND;
    }
    char *copy = malloc(e->vlen + 1);
    if (!copy) {
        pthread_mutex_unlock(&s->lock);
        return KEEL_ERR_NOMEM;
    }
    memcpy(copy, e->value, e->vlen + 1);
    *len = e->vlen;
    pthread_mutex_unlock(&s->lock);
    *value = copy;
    return KEEL_OK;
}

keel_status kv_mem_del(kv_mem *mem, const char *key, size_t klen)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = kv_stripe_of(mem, hash);
    pthread_mutex_lock(&s->lock);
    kv_entry **link = kv_stripe_find(s, hash, key, klen);
    keel_status st = KEEL_ERR_NOT_FOUND;
    if (link) {
        if (kv_entry_expired(*link, kv_now_ms()))
            atomic_fetch_add(&mem->stats->expired, 1);
        else
            st = KEEL_OK;
        kv_stripe_remove(mem, s, link);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* Adds delta to the integer in `e`. Stripe locked. */
static keel_status kv_entry_add(kv_entry *e, int64_t delta, int64_t *out, const char **why)
{
    int64_t cur, sum;
    if (kv_parse_int64(e->value, e->vlen, &cur) != 0)
        return KEEL_ERR_INVALID;
    if (__builtin_add_overflow(cur, delta, &sum)) {
        if (why)
            *why = "the result would overflow int64";
        return KEEL_ERR_LIMIT;
    }
    char text[24];
    size_t n = (size_t)snprintf(text, sizeof text, "%lld", (long long)sum);
    if (n > e->vlen) {
        char *grown = realloc(e->value, n + 1);
        if (!grown)
            return KEEL_ERR_NOMEM;
        e->value = grown;
    }
    memcpy(e->value, text, n + 1);
    e->vlen = n;
    *out = sum;
    return KEEL_OK;
}

keel_status kv_mem_incr(kv_mem *mem, const char *key, size_t klen, int64_t delta, int64_t *out,
                        const char **why)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = kv_stripe_of(mem, hash);
    int64_t now = kv_now_ms();
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&s->lock);
        kv_entry *e = kv_stripe_live(mem, s, hash, key, klen, now);
        if (e) {
            keel_status st = kv_entry_add(e, delta, out, why);
            pthread_mutex_unlock(&s->lock);
            return st;
        }
        if (kv_mem_reserve(mem)) {
            kv_entry *fresh = kv_entry_new(key, klen, hash);
            char text[24];
            size_t n = (size_t)snprintf(text, sizeof text, "%lld", (long long)delta);
            char *val = fresh ? malloc(n + 1) : NULL;
            if (!val) {
                atomic_fetch_sub(&mem->stored, 1);
                pthread_mutex_unlock(&s->lock);
                kv_entry_free(fresh);
                return KEEL_ERR_NOMEM;
            }
            memcpy(val, text, n + 1);
            fresh->value = val;
            fresh->vlen = n;
            kv_stripe_insert(s, fresh);
            pthread_mutex_unlock(&s->lock);
            *out = delta;
            return KEEL_OK;
        }
        pthread_mutex_unlock(&s->lock);
        if (attempt == 0 && atomic_load(&mem->with_ttl) > 0)
            kv_mem_sweep(mem);
    }
    if (why)
        *why = "max_keys is reached";
    return KEEL_ERR_LIMIT;
}

keel_status kv_mem_ttl(kv_mem *mem, const char *key, size_t klen, int64_t *ms_left)
{
    uint64_t hash = kv_hash(key, klen);
    kv_stripe *s = kv_stripe_of(mem, hash);
    int64_t now = kv_now_ms();
    pthread_mutex_lock(&s->lock);
    kv_entry *e = kv_stripe_live(mem, s, hash, key, klen, now);
    keel_status st = KEEL_ERR_NOT_FOUND;
    if (e) {
        *ms_left = e->expires_ms ? e->expires_ms - now : -1;
        st = KEEL_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* Drops the expired entries of one stripe, and the live ones whose key
 * starts with `prefix` when it is not NULL; counts both kinds. */
static void kv_stripe_filter(kv_mem *mem, kv_stripe *s, const char *prefix, size_t plen,
                             int64_t now, size_t *live, size_t *expired)
{
    pthread_mutex_lock(&s->lock);
    for (size_t b = 0; b < s->nbuckets; b++) {
        kv_entry **link = &s->buckets[b];
        while (*link) {
            kv_entry *e = *link;
            bool dead = kv_entry_expired(e, now);
            bool match = prefix && e->klen >= plen && memcmp(e->key, prefix, plen) == 0;
            if (!dead && !match) {
                link = &e->next;
                continue;
            }
            if (dead)
                (*expired)++;
            else
                (*live)++;
            kv_stripe_remove(mem, s, link);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

size_t kv_mem_flush_prefix(kv_mem *mem, const char *prefix, size_t plen)
{
    size_t live = 0, expired = 0;
    int64_t now = kv_now_ms();
    for (size_t i = 0; i < KV_STRIPES; i++)
        kv_stripe_filter(mem, &mem->stripes[i], prefix, plen, now, &live, &expired);
    atomic_fetch_add(&mem->stats->expired, expired);
    return live;
}

size_t kv_mem_sweep(kv_mem *mem)
{
    size_t live = 0, expired = 0;
    int64_t now = kv_now_ms();
    for (size_t i = 0; i < KV_STRIPES; i++)
        kv_stripe_filter(mem, &mem->stripes[i], NULL, 0, now, &live, &expired);
    atomic_fetch_add(&mem->stats->expired, expired);
    return expired;
}

/* Adds 1 to member `name` of `modules`; false when out of memory. */
static bool kv_count_one(cJSON *modules, const char *name)
{
    cJSON *n = cJSON_GetObjectItemCaseSensitive(modules, name);
    if (n) {
        cJSON_SetNumberValue(n, n->valuedouble + 1);
        return true;
    }
    return cJSON_AddNumberToObject(modules, name, 1) != NULL;
}

int64_t kv_mem_count_modules(kv_mem *mem, cJSON *modules)
{
    int64_t total = 0;
    int64_t now = kv_now_ms();
    bool ok = true;
    for (size_t i = 0; i < KV_STRIPES && ok; i++) {
        kv_stripe *s = &mem->stripes[i];
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; b < s->nbuckets && ok; b++) {
            for (kv_entry *e = s->buckets[b]; e && ok; e = e->next) {
                const char *colon = memchr(e->key, ':', e->klen);
                if (kv_entry_expired(e, now) || !colon || colon - e->key > 64)
                    continue;
                char name[65];
                memcpy(name, e->key, (size_t)(colon - e->key));
                name[colon - e->key] = '\0';
                ok = kv_count_one(modules, name);
                total++;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return ok ? total : -1;
}

size_t kv_mem_stored(kv_mem *mem) { return atomic_load(&mem->stored); }

size_t kv_mem_max_keys(const kv_mem *mem) { return mem->max_keys; }

static void *kv_mem_sweeper_main(void *arg)
{
    kv_mem *mem = arg;
    pthread_mutex_lock(&mem->sweep_lock);
    while (!mem->sweep_stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += mem->sweep_interval_ms / 1000;
        deadline.tv_nsec += (mem->sweep_interval_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!mem->sweep_stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&mem->sweep_cond, &mem->sweep_lock, &deadline);
        if (mem->sweep_stop)
            break;
        pthread_mutex_unlock(&mem->sweep_lock);
        if (atomic_load(&mem->with_ttl) > 0)
            kv_mem_sweep(mem);
        pthread_mutex_lock(&mem->sweep_lock);
    }
    pthread_mutex_unlock(&mem->sweep_lock);
    return NULL;
}

keel_status kv_mem_sweeper_start(kv_mem *mem, int64_t interval_ms)
{
    pthread_mutex_lock(&mem->sweep_lock);
    if (mem->sweep_running) {
        pthread_mutex_unlock(&mem->sweep_lock);
        return KEEL_ERR_STATE;
    }
    mem->sweep_stop = false;
    mem->sweep_interval_ms = interval_ms;
    /* The sweeper takes no signal meant for the process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&mem->sweeper, NULL, kv_mem_sweeper_main, mem);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    mem->sweep_running = rc == 0;
    pthread_mutex_unlock(&mem->sweep_lock);
    if (rc == 0)
        return KEEL_OK;
    return rc == EAGAIN ? KEEL_ERR_LIMIT : KEEL_ERR_NOMEM;
}

void kv_mem_sweeper_stop(kv_mem *mem)
{
    pthread_mutex_lock(&mem->sweep_lock);
    if (!mem->sweep_running) {
        pthread_mutex_unlock(&mem->sweep_lock);
        return;
    }
    mem->sweep_stop = true;
    pthread_cond_broadcast(&mem->sweep_cond);
    pthread_mutex_unlock(&mem->sweep_lock);
    pthread_join(mem->sweeper, NULL);
    pthread_mutex_lock(&mem->sweep_lock);
    mem->sweep_running = false;
    pthread_mutex_unlock(&mem->sweep_lock);
}

int kv_parse_int64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    size_t i = 0;
    bool neg = s[0] == '-';
    if (neg && len == 1)
        return -1;
    i = neg ? 1 : 0;
    if (s[i] == '0' && (neg || len - i > 1))
        return -1;   /* "-0", "012" are not canonical */
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v;
    }
    return 0;
}

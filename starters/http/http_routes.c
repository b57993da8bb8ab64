/* http_routes.c — routes (metrics, rate limit) and the immutable route
 * table that requests read while editors swap in a new one. */
#include "http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double http_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

char *http_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void http_route_ref(http_route *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void http_route_unref(http_route *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(r->method);
    free(r->path);
    free(r->service);
    free(r->scene);
    free(r->scene_header);
    for (size_t i = 0; i < r->scene_count; i++)
        free(r->scenes[i]);
    free(r->scenes);
    free(r->fallback_body);
    free(r->id);
    free(r->owner_module);
    pthread_mutex_destroy(&r->bucket_lock);
    free(r);
}

bool http_route_take(http_route *r, double now_ns, unsigned *retry_after_s)
{
    if (!r->limited)
        return true;
    pthread_mutex_lock(&r->bucket_lock);
    double elapsed = (now_ns - r->refilled_ns) / 1e9;
    if (elapsed > 0) {
        r->tokens += elapsed * r->per_second;
        if (r->tokens > r->burst)
            r->tokens = r->burst;
        r->refilled_ns = now_ns;
    }
    bool ok = r->tokens >= 1.0;
    if (ok)
        r->tokens -= 1.0;
    double wait_s = ok ? 0 : (1.0 - r->tokens) / r->per_second;
    pthread_mutex_unlock(&r->bucket_lock);
    if (!ok) {
        unsigned s = (unsigned)wait_s;
        *retry_after_s = (double)s < wait_s || s == 0 ? s + 1 : s;
    }
    return ok;
}

static unsigned latency_bucket(double micros)
{
    unsigned b = 0;
    unsigned long long us = micros < 1 ? 0 : (unsigned long long)micros;
    while (us >= 2 && b + 1 < HTTP_LATENCY_BUCKETS) {
        us >>= 1;
        b++;
    }
    return b;
}

void http_metrics_record(http_metrics *m, int status, bool fallback, double micros)
{
    atomic_fetch_add_explicit(&m->requests, 1, memory_order_relaxed);
    if (status >= 200 && status < 300)
        atomic_fetch_add_explicit(&m->status_2xx, 1, memory_order_relaxed);
    else if (status >= 400 && status < 500)
        atomic_fetch_add_explicit(&m->status_4xx, 1, memory_order_relaxed);
    else if (status >= 500 && status < 600)
        atomic_fetch_add_explicit(&m->status_5xx, 1, memory_order_relaxed);
    if (status == 401)
        atomic_fetch_add_explicit(&m->status_401, 1, memory_order_relaxed);
    else if (status == 413)
        atomic_fetch_add_explicit(&m->status_413, 1, memory_order_relaxed);
    else if (status == 429)
        atomic_fetch_add_explicit(&m->status_429, 1, memory_order_relaxed);
    if (fallback)
        atomic_fetch_add_explicit(&m->fallbacks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency[latency_bucket(micros)], 1, memory_order_relaxed);
}

double http_metrics_percentile(const http_metrics *m, double p)
{
    unsigned long long counts[HTTP_LATENCY_BUCKETS], total = 0;
    for (unsigned i = 0; i < HTTP_LATENCY_BUCKETS; i++) {
        counts[i] = atomic_load_explicit(&m->latency[i], memory_order_relaxed);
        total += counts[i];
    }
    if (total == 0)
        return 0;
    /* the smallest bucket whose cumulative count reaches p% of the total */
    double want = p / 100.0 * (double)total;
    unsigned long long cum = 0;
    for (unsigned i = 0; i < HTTP_LATENCY_BUCKETS; i++) {
        cum += counts[i];
        if ((double)cum >= want && cum > 0)
            return (double)(1ULL << (i + 1));
    }
    return (double)(1ULL << HTTP_LATENCY_BUCKETS);
}

http_table *http_table_new(http_route *const *routes, size_t count)
{
    http_table *t = malloc(sizeof *t + count * sizeof t->routes[0]);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    t->count = count;
    for (size_t i = 0; i < count; i++) {
        t->routes[i] = routes[i];
        http_route_ref(routes[i]);
    }
    return t;
}

void http_table_unref(http_table *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < t->count; i++)
        http_route_unref(t->routes[i]);
    free(t);
}

http_table *http_state_table(http_state *st)
{
    pthread_mutex_lock(&st->table_lock);
    http_table *t = st->table;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&st->table_lock);
    return t;
}

void http_state_set_table(http_state *st, http_table *t)
{
    pthread_mutex_lock(&st->table_lock);
    http_table *old = st->table;
    st->table = t;
    pthread_mutex_unlock(&st->table_lock);
    http_table_unref(old);
}

http_route *http_table_find(const http_table *t, const char *method, const char *path)
{
    for (size_t i = 0; i < t->count; i++) {
        http_route *r = t->routes[i];
        if (strcmp(r->path, path) == 0 && strcmp(r->method, method) == 0)
            return r;
    }
    return NULL;
}

bool http_table_allow(const http_table *t, const char *path, char *allow, size_t size)
{
    size_t len = 0;
    bool found = false;
    allow[0] = '\0';
    for (size_t i = 0; i < t->count; i++) {
        const http_route *r = t->routes[i];
        if (strcmp(r->path, path) != 0)
            continue;
        int n = snprintf(allow + len, size - len, "%s%s", found ? ", " : "", r->method);
        if (n > 0 && (size_t)n < size - len)
            len += (size_t)n;
        found = true;
    }
    return found;
}

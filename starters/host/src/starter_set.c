/* The running starters: see keel/starter_set.h. */
#include <keel/starter_set.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <keel/log.h>
#include <keel/schema.h>
#include "starter_code.h"
#include "starter_table.h"
#include "starter_set_internal.h"

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

keel_status keel_starter_set_create(const keel_starter_set_options *opts, keel_market *market,
                                    keel_starter_set **out, keel_error *err)
{
    *out = NULL;
    if (!opts || !opts->work_dir || !opts->router || !market) {
        keel_market_destroy(market);
        return keel_error_set(err, KEEL_ERR_INVALID, "starter set: work_dir, router and market are "
                              "required");
    }
    keel_starter_set *s = calloc(1, sizeof *s);
    if (!s || !(s->work_dir = strdup(opts->work_dir))) {
        free(s);
        keel_market_destroy(market);
        return keel_error_set(err, KEEL_ERR_NOMEM, "starter set: out of memory");
    }
    if (mkdir(s->work_dir, 0755) != 0 && errno != EEXIST) {
        keel_error_set(err, KEEL_ERR_IO, "starter set: cannot create %s: %s", s->work_dir,
                       strerror(errno));
        free(s->work_dir);
        free(s);
        keel_market_destroy(market);
        return KEEL_ERR_IO;
    }
    s->router = opts->router;
    s->module_status = opts->module_status;
    s->user = opts->user;
    s->drain_timeout_ms = opts->drain_timeout_ms ? opts->drain_timeout_ms : 5000;
    s->market = market;
    pthread_mutex_init(&s->lock, NULL);
    starter_calls_init(&s->calls);
    *out = s;
    return KEEL_OK;
}

const keel_market *keel_starter_set_market(const keel_starter_set *set) { return set->market; }

running_starter *starter_set_find(keel_starter_set *s, const char *name)
{
    for (running_starter *r = s->running; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* Waits for the calls counted in `slot` to leave; 0 when none is inside. */
static int wait_gate_idle(const keel_starter_set *s, starter_gate *g, unsigned slot)
{
    int64_t deadline = now_ms() + s->drain_timeout_ms;
    while (starter_gate_inside(g, slot) != 0) {
        if (now_ms() >= deadline)
            return -1;
        sleep_us(200);
    }
    return 0;
}

static void running_free(running_starter *r)
{
    for (starter_table_entry *t; (t = r->tables);) {
        r->tables = t->next;
        starter_table_destroy(t->table);
        free(t);
    }
    for (retired_code *c; (c = r->retired);) {
        r->retired = c->next;
        starter_code_unload(c->code);
        free(c);
    }
    starter_code_unload(starter_gate_current(&r->gate));
    free(r->name);
    free(r->work_dir);
    free(r->config_json);
    free(r);
}

/* Old code that still had calls inside at an upgrade: unload what is idle
 * now. */
static void retired_sweep(running_starter *r)
{
    for (retired_code **p = &r->retired; *p;) {
        retired_code *c = *p;
        if (starter_gate_inside(&r->gate, c->slot) == 0) {
            *p = c->next;
            starter_code_unload(c->code);
            free(c);
        } else {
            p = &c->next;
        }
    }
}

static keel_status config_check(const keel_market_version *v, const char *name,
                                const char *config_json, keel_error *err)
{
    cJSON *config = cJSON_Parse(config_json);
    if (!cJSON_IsObject(config)) {
        cJSON_Delete(config);
        return keel_error_set(err, KEEL_ERR_INVALID, "starter %s: config: expected a JSON object",
                              name);
    }
    keel_status st = KEEL_OK;
    if (v->config_schema) {
        cJSON *schema = cJSON_Parse(v->config_schema);
        char what[96];
        snprintf(what, sizeof what, "starter %s %s", name, v->version);
        st = schema ? keel_schema_validate(schema, config, what, err)
                    : keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        cJSON_Delete(schema);
    }
    cJSON_Delete(config);
    return st;
}

/* The market version for `range`, with one clear error when there is none. */
static const keel_market_version *market_pick(keel_starter_set *s, const char *name,
                                              const char *range, keel_error *err)
{
    const keel_market_entry *e = keel_market_find(s->market, name);
    if (!e) {
        keel_error_set(err, KEEL_ERR_NOT_FOUND,
                       "starter %s is not in the market (%s); 'keel market search WORD' lists what is",
                       name, *keel_market_path(s->market) ? keel_market_path(s->market) : "no index");
        return NULL;
    }
    if (range && *range) {
        keel_error rerr = {0};
        if (keel_semver_range_check(range, &rerr) != KEEL_OK) {
            keel_error_set(err, KEEL_ERR_INVALID, "starter %s: %s", name, rerr.message);
            return NULL;
        }
    }
    const keel_market_version *v = keel_market_best(e, range);
    if (!v) {
        char list[256];
        keel_error_set(err, KEEL_ERR_NOT_FOUND, "starter %s: no version in the market satisfies "
                       "\"%s\" (it has %s)", name, range, keel_market_version_list(e, list, sizeof list));
        return NULL;
    }
    char api[16];
    snprintf(api, sizeof api, "%d.0.0", KEEL_API_VERSION);
    if (!keel_semver_range_match(v->module_api, api)) {
        keel_error_set(err, KEEL_ERR_API, "starter %s %s needs module-api %s; this base serves %d",
                       name, v->version, v->module_api, KEEL_API_VERSION);
        return NULL;
    }
    return v;
}

static keel_status enable_new(keel_starter_set *s, const char *name, const keel_market_version *v,
                              const char *config_json, keel_error *err)
{
    running_starter *r = calloc(1, sizeof *r);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", s->work_dir, name);
    if (!r || !(r->name = strdup(name)) || !(r->work_dir = strdup(dir)) ||
        !(r->config_json = strdup(config_json))) {
        if (r)
            running_free(r);
        return keel_error_set(err, KEEL_ERR_NOMEM, "starter %s: out of memory", name);
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        running_free(r);
        return keel_error_set(err, KEEL_ERR_IO, "starter %s: cannot create %s: %s", name, dir,
                              strerror(errno));
    }
    starter_code *code;
    keel_status st = starter_code_load(v->library, name, v->version, &code, err);
    if (st != KEEL_OK) {
        running_free(r);
        return st;
    }
    atomic_store(&r->gate.current, code);
    r->set = s;
    starter_host_init(r);
    keel_starter_error serr = {{0}};
    st = code->def->create(&r->host, r->config_json, &r->state, &serr);
    if (st == KEEL_OK && code->def->resume && (st = code->def->resume(r->state, &r->host, &serr)) != KEEL_OK)
        code->def->destroy(r->state);
    if (st != KEEL_OK) {
        keel_error_set(err, st, "starter %s %s: %s", name, v->version,
                       serr.message[0] ? serr.message : "create failed (no reason given)");
        running_free(r);
        return st;
    }
    r->next = s->running;
    s->running = r;
    keel_log(KEEL_LOG_INFO, "starters", "enabled %s %s", name, v->version);
    return KEEL_OK;
}

static keel_status upgrade(keel_starter_set *s, running_starter *r, const keel_market_version *v,
                           keel_error *err)
{
    starter_code *old = starter_gate_current(&r->gate);
    const char *from = old->def->version;
    starter_code *next;
    keel_status st = starter_code_load(v->library, r->name, v->version, &next, err);
    if (st != KEEL_OK)
        return st;
    if ((st = starter_code_compatible(old, next, err)) != KEEL_OK) {
        starter_code_unload(next);
        return st;
    }
    int64_t t0 = now_ms();
    if (old->def->suspend)
        old->def->suspend(r->state);
    r->host.version = next->def->version;
    keel_starter_error serr = {{0}};
    if (next->def->resume && (st = next->def->resume(r->state, &r->host, &serr)) != KEEL_OK) {
        keel_error_set(err, st, "starter %s: %s failed to resume, %s keeps running: %s", r->name,
                       v->version, from, serr.message[0] ? serr.message : "no reason given");
        r->host.version = from;
        keel_starter_error rerr = {{0}};
        if (old->def->resume && old->def->resume(r->state, &r->host, &rerr) != KEEL_OK)
            keel_log(KEEL_LOG_ERROR, "starters", "%s %s could not resume after a failed upgrade: %s",
                     r->name, from, rerr.message);
        starter_code_unload(next);
        return st;
    }
    unsigned slot = starter_gate_swap(&r->gate, next);
    r->upgrades++;
    if (wait_gate_idle(s, &r->gate, slot) != 0) {
        retired_code *c = calloc(1, sizeof *c);
        if (c) {
            c->code = old;
            c->slot = slot;
            c->next = r->retired;
            r->retired = c;
        }
        keel_log(KEEL_LOG_WARN, "starters", "%s %s: %ld calls still inside after %u ms; its code stays "
                 "loaded until they leave", r->name, from, starter_gate_inside(&r->gate, slot),
                 s->drain_timeout_ms);
    } else {
        char was[64];
        snprintf(was, sizeof was, "%s", from);
        starter_code_unload(old);
        keel_log(KEEL_LOG_INFO, "starters", "upgraded %s %s -> %s in place in %lld ms", r->name, was,
                 v->version, (long long)(now_ms() - t0));
    }
    return KEEL_OK;
}

keel_status keel_starter_set_enable(keel_starter_set *s, const char *name, const char *range,
                                    const char *config_json, keel_error *err)
{
    if (!name || !*name)
        return keel_error_set(err, KEEL_ERR_INVALID, "starter name missing");
    pthread_mutex_lock(&s->lock);
    keel_status st;
    running_starter *r = starter_set_find(s, name);
    const keel_market_version *v = market_pick(s, name, range, err);
    if (!v) {
        st = err ? err->status : KEEL_ERR_NOT_FOUND;
        goto out;
    }
    const char *config = config_json ? config_json : r ? r->config_json : "{}";
    if ((st = config_check(v, name, config, err)) != KEEL_OK)
        goto out;
    if (!r) {
        st = enable_new(s, name, v, config, err);
        goto out;
    }
    retired_sweep(r);
    const char *running = starter_gate_current(&r->gate)->def->version;
    if (config_json) {
        cJSON *a = cJSON_Parse(config_json), *b = cJSON_Parse(r->config_json);
        int same = cJSON_Compare(a, b, 1);
        cJSON_Delete(a);
        cJSON_Delete(b);
        if (!same) {
            st = keel_error_set(err, KEEL_ERR_STATE, "starter %s %s runs with another configuration; "
                                "disable it first to change it", name, running);
            goto out;
        }
    }
    st = strcmp(running, v->version) == 0 ? KEEL_OK : upgrade(s, r, v, err);
out:
    pthread_mutex_unlock(&s->lock);
    return st;
}

static void disable_locked(keel_starter_set *s, running_starter *r)
{
    starter_code *c = starter_gate_current(&r->gate);
    if (c->def->suspend)
        c->def->suspend(r->state);
    c->def->destroy(r->state);
    keel_log(KEEL_LOG_INFO, "starters", "disabled %s %s", r->name, c->def->version);
    for (running_starter **p = &s->running; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    running_free(r);
}

keel_status keel_starter_set_disable(keel_starter_set *s, const char *name, keel_error *err)
{
    pthread_mutex_lock(&s->lock);
    keel_status st = KEEL_OK;
    running_starter *r = starter_set_find(s, name);
    if (!r) {
        st = keel_error_set(err, KEEL_ERR_NOT_FOUND, "starter %s is not enabled", name);
    } else if (r->bindings) {
        char who[300] = "";
        size_t used = 0, n = 0;
        for (starter_binding *b = r->bindings; b; b = b->next, n++) {
            int k = snprintf(who + used, sizeof who - used, "%s%s", used ? ", " : "", b->instance);
            if (k > 0 && (size_t)k < sizeof who - used)
                used += (size_t)k;
        }
        st = keel_error_set(err, KEEL_ERR_BUSY, "starter %s is used by %zu instance%s (%s); uninstall "
                            "them first", name, n, n == 1 ? "" : "s", who);
    } else {
        disable_locked(s, r);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

void keel_starter_set_destroy(keel_starter_set *s)
{
    if (!s)
        return;
    while (s->running) {
        running_starter *r = s->running;
        for (starter_binding *b; (b = r->bindings);) {
            keel_log(KEEL_LOG_WARN, "starters", "%s still bound by %s at shutdown; unbinding",
                     r->name, b->instance);
            r->bindings = b->next;
            starter_gate_current(&r->gate)->def->unbind(r->state, b->client);
            free(b->instance);
            free(b);
        }
        disable_locked(s, r);
    }
    starter_calls_destroy(&s->calls);
    keel_market_destroy(s->market);
    pthread_mutex_destroy(&s->lock);
    free(s->work_dir);
    free(s);
}

const char *keel_starter_set_version(keel_starter_set *s, const char *name, char *buf,
                                     size_t size)
{
    pthread_mutex_lock(&s->lock);
    running_starter *r = starter_set_find(s, name);
    if (r)
        snprintf(buf, size, "%s", starter_gate_current(&r->gate)->def->version);
    pthread_mutex_unlock(&s->lock);
    return r ? buf : NULL;
}

keel_status keel_starter_set_check(keel_starter_set *s, const keel_manifest *m, keel_error *err)
{
    size_t n = keel_manifest_requirement_count(m);
    char missing[KEEL_ERROR_MESSAGE_MAX] = "";
    size_t used = 0, count = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        const keel_manifest_requirement *req = keel_manifest_requirement_at(m, i);
        running_starter *r = starter_set_find(s, req->name);
        const char *running = r ? starter_gate_current(&r->gate)->def->version : NULL;
        if (running && keel_semver_range_match(req->range, running))
            continue;
        const keel_market_entry *e = keel_market_find(s->market, req->name);
        char versions[128] = "";
        if (e)
            keel_market_version_list(e, versions, sizeof versions);
        char why[256];
        if (running)
            snprintf(why, sizeof why, "the base runs %s%s%s", running, e ? "; market: " : "", versions);
        else if (e)
            snprintf(why, sizeof why, "not enabled; market: %s", versions);
        else
            snprintf(why, sizeof why, "not in the market");
        int k = snprintf(missing + used, sizeof missing - used, "%s%s %s (%s)", count ? ", " : "",
                         req->name, req->range, why);
        if (k > 0 && (size_t)k < sizeof missing - used)
            used += (size_t)k;
        count++;
    }
    pthread_mutex_unlock(&s->lock);
    if (count == 0)
        return KEEL_OK;
    return keel_error_set(err, KEEL_ERR_NOT_FOUND,
                          "%s@%s requires %zu starter%s the base does not provide: %s; enable them "
                          "with 'keel starter enable NAME[@RANGE]'", keel_manifest_name(m),
                          keel_manifest_version(m), count, count == 1 ? "" : "s", missing);
}

keel_status keel_starter_set_bind(keel_starter_set *s, const keel_starter_binding *who,
                                  const char *name, const char *range, const void **table,
                                  void **client, keel_error *err)
{
    *table = NULL;
    *client = NULL;
    pthread_mutex_lock(&s->lock);
    keel_status st = KEEL_OK;
    running_starter *r = starter_set_find(s, name);
    starter_code *code = r ? starter_gate_current(&r->gate) : NULL;
    starter_binding *b = NULL;
    starter_table_entry *t = NULL;
    if (!r) {
        st = keel_error_set(err, KEEL_ERR_NOT_FOUND, "%s: starter %s is not enabled in this base",
                            who->instance, name);
        goto out;
    }
    if (range && *range && !keel_semver_range_match(range, code->def->version)) {
        st = keel_error_set(err, KEEL_ERR_API, "%s: wants starter %s %s, the base runs %s",
                            who->instance, name, range, code->def->version);
        goto out;
    }
    for (t = r->tables; t && t->slots != code->def->slot_count; t = t->next) {
    }
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t) {
            st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((st = starter_table_create(&r->gate, code, &t->table, err)) != KEEL_OK) {
            free(t);
            goto out;
        }
        t->slots = code->def->slot_count;
        t->next = r->tables;
        r->tables = t;
    }
    b = calloc(1, sizeof *b);
    if (!b || !(b->instance = strdup(who->instance))) {
        free(b);
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        goto out;
    }
    keel_starter_error serr = {{0}};
    if ((st = code->def->bind(r->state, who, &b->client, &serr)) != KEEL_OK) {
        keel_error_set(err, st, "%s: starter %s refused the binding: %s", who->instance, name,
                       serr.message[0] ? serr.message : "no reason given");
        free(b->instance);
        free(b);
        goto out;
    }
    b->next = r->bindings;
    r->bindings = b;
    *table = starter_table_get(t->table);
    *client = b->client;
out:
    pthread_mutex_unlock(&s->lock);
    return st;
}

void keel_starter_set_unbind(keel_starter_set *s, const char *name, void *client)
{
    pthread_mutex_lock(&s->lock);
    running_starter *r = starter_set_find(s, name);
    for (starter_binding **p = r ? &r->bindings : NULL; p && *p; p = &(*p)->next) {
        starter_binding *b = *p;
        if (b->client != client)
            continue;
        *p = b->next;
        starter_gate_current(&r->gate)->def->unbind(r->state, client);
        free(b->instance);
        free(b);
        break;
    }
    pthread_mutex_unlock(&s->lock);
}

keel_status keel_starter_set_exec(keel_starter_set *s, const char *name, const char *op,
                                  const char *args_json, char **result_json, keel_error *err)
{
    *result_json = NULL;
    pthread_mutex_lock(&s->lock);
    keel_status st;
    running_starter *r = starter_set_find(s, name);
    starter_code *code = r ? starter_gate_current(&r->gate) : NULL;
    if (!r) {
        st = keel_error_set(err, KEEL_ERR_NOT_FOUND, "starter %s is not enabled", name);
    } else if (!code->def->admin) {
        st = keel_error_set(err, KEEL_ERR_NOT_FOUND, "starter %s has no operator commands", name);
    } else {
        keel_starter_error serr = {{0}};
        st = code->def->admin(r->state, op, args_json, result_json, &serr);
        size_t n = strlen(name);
        /* Starters usually name themselves ("kv: ..."): no second prefix. */
        if (st != KEEL_OK && strncmp(serr.message, name, n) == 0 && serr.message[n] == ':')
            keel_error_set(err, st, "starter %s", serr.message);
        else if (st != KEEL_OK)
            keel_error_set(err, st, "starter %s: %s", name,
                           serr.message[0] ? serr.message : keel_status_name(st));
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

/* config_starter.c — the config starter: lifecycle (create, destroy, bind,
 * unbind) and the module-facing table (keel/starters/config.h).
 *
 * Built twice: 1.0.0 serves table version 1 (get .. free), 1.1.0
 * (-DCONFIG_TABLE=2) appends `list`. Same state_format: an upgrade in place
 * keeps values, bindings and watches. No background work, so no resume or
 * suspend. */
#include "config_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- lifecycle ------------------------------------------------------------ */

static void state_free(config_state *s)
{
    if (s == NULL)
        return;
    config_client *c = s->clients;
    while (c != NULL) { /* the base unbinds first; this is only a safety net */
        config_client *next = c->next;
        config_client_release(s, c);
        c = next;
    }
    config_table_clear(&s->table);
    pthread_cond_destroy(&s->watch_cond);
    pthread_mutex_destroy(&s->watch_lock);
    pthread_rwlock_destroy(&s->data_lock);
    pthread_mutex_destroy(&s->admin_lock);
    free(s->store_path);
    free(s);
}

static keel_status config_create(const keel_starter_host *host, const char *config_json, void **state,
                                 keel_starter_error *err)
{
    *state = NULL;
    config_options o;
    keel_status st = config_options_parse(config_json, &o, err);
    if (st != KEEL_OK)
        return st;
    config_state *s = calloc(1, sizeof *s);
    if (s == NULL) {
        config_options_free(&o);
        return KEEL_ERR_NOMEM;
    }
    pthread_mutex_init(&s->admin_lock, NULL);
    /* Writers first: module threads reading all the time must not starve
     * the operator's change. Safe because nobody takes the read lock twice
     * (callbacks run with no lock held). */
    pthread_rwlockattr_t rw;
    pthread_rwlockattr_init(&rw);
    pthread_rwlockattr_setkind_np(&rw, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->data_lock, &rw);
    pthread_rwlockattr_destroy(&rw);
    pthread_mutex_init(&s->watch_lock, NULL);
    pthread_cond_init(&s->watch_cond, NULL);
    s->host = host;
    s->max_value = o.max_value;
    const char *dir = host->work_dir != NULL ? host->work_dir : ".";
    size_t len = strlen(dir) + 1 + strlen(o.store) + 1;
    s->store_path = malloc(len);
    if (s->store_path == NULL) {
        st = KEEL_ERR_NOMEM;
        goto fail;
    }
    snprintf(s->store_path, len, "%s/%s", dir, o.store);
    if ((st = config_options_apply_defaults(&o, &s->table, err)) != KEEL_OK)
        goto fail;
    size_t oversized = 0;
    if ((st = config_store_load(s->store_path, &s->table, s->max_value, &oversized, err)) != KEEL_OK)
        goto fail;
    if (oversized > 0)
        host->log(host, KEEL_LOG_WARN, "%zu stored values are larger than max_value_bytes (%zu): kept; "
                  "new values must fit", oversized, s->max_value);
    config_options_free(&o);
    size_t values = 0;
    for (size_t i = 0; i < s->table.count; i++)
        values += config_entry_value(s->table.items[i], NULL) != NULL;
    host->log(host, KEEL_LOG_INFO, "config %s: %zu values (store %s)", STARTER_VERSION, values,
              s->store_path);
    *state = s;
    return KEEL_OK;
fail:
    if (st == KEEL_ERR_NOMEM && err != NULL && err->message[0] == '\0')
        keel_starter_error_set(err, "config: out of memory");
    config_options_free(&o);
    state_free(s);
    return st;
}

static void config_destroy(void *state)
{
    state_free(state);
}

static keel_status config_bind(void *state, const keel_starter_binding *who, void **client,
                               keel_starter_error *err)
{
    config_state *s = state;
    *client = NULL;
    if (who == NULL || who->module == NULL) {
        keel_starter_error_set(err, "config: bind without a module name");
        return KEEL_ERR_INVALID;
    }
    config_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return KEEL_ERR_NOMEM;
    c->state = s;
    c->module = strdup(who->module);
    c->scene = strdup(who->scene != NULL ? who->scene : "default");
    if (c->module == NULL || c->scene == NULL) {
        free(c->module);
        free(c->scene);
        free(c);
        keel_starter_error_set(err, "config: out of memory");
        return KEEL_ERR_NOMEM;
    }
    pthread_mutex_lock(&s->watch_lock);
    c->next = s->clients;
    s->clients = c;
    s->client_count++;
    pthread_mutex_unlock(&s->watch_lock);
    *client = c;
    return KEEL_OK;
}

static void config_unbind(void *state, void *client)
{
    config_client_release(state, client);
}

/* --- slots ----------------------------------------------------------------- */

/* The effective value (malloc'd) of (binding's module, scene, key). */
static keel_status lookup_copy(config_client *c, const char *scene, const char *key, char **out)
{
    *out = NULL;
    if (c == NULL || key == NULL)
        return KEEL_ERR_INVALID;
    const char *sc = scene != NULL ? scene : c->scene;
    if (!config_valid_scene(sc) || !config_valid_key(key))
        return KEEL_ERR_INVALID;
    config_state *s = c->state;
    atomic_fetch_add(&s->reads, 1);
    pthread_rwlock_rdlock(&s->data_lock);
    const char *v = config_table_lookup(&s->table, c->module, sc, key, NULL, NULL);
    char *copy = v != NULL ? strdup(v) : NULL;
    pthread_rwlock_unlock(&s->data_lock);
    if (v == NULL)
        return KEEL_ERR_NOT_FOUND;
    if (copy == NULL)
        return KEEL_ERR_NOMEM;
    *out = copy;
    return KEEL_OK;
}

static keel_status slot_get(keel_config *cfg, const char *scene, const char *key, char **value_json)
{
    if (value_json == NULL)
        return KEEL_ERR_INVALID;
    return lookup_copy(cfg, scene, key, value_json);
}

/* The parsed effective value, or NULL with *st set. */
static cJSON *lookup_parsed(config_client *c, const char *scene, const char *key, keel_status *st)
{
    char *text;
    *st = lookup_copy(c, scene, key, &text);
    if (*st != KEEL_OK)
        return NULL;
    cJSON *v = cJSON_Parse(text);
    free(text);
    if (v == NULL)
        *st = KEEL_ERR_NOMEM; /* stored values always parse */
    return v;
}

static keel_status slot_get_string(keel_config *cfg, const char *scene, const char *key, char *buf,
                                   size_t size)
{
    if (buf == NULL || size == 0)
        return KEEL_ERR_INVALID;
    buf[0] = '\0';
    keel_status st;
    cJSON *v = lookup_parsed(cfg, scene, key, &st);
    if (v == NULL)
        return st;
    if (!cJSON_IsString(v)) {
        st = KEEL_ERR_INVALID;
    } else if (strlen(v->valuestring) >= size) {
        st = KEEL_ERR_LIMIT;
    } else {
        memcpy(buf, v->valuestring, strlen(v->valuestring) + 1);
        st = KEEL_OK;
    }
    cJSON_Delete(v);
    return st;
}

static keel_status slot_get_i64(keel_config *cfg, const char *scene, const char *key, int64_t *value)
{
    if (value == NULL)
        return KEEL_ERR_INVALID;
    keel_status st;
    cJSON *v = lookup_parsed(cfg, scene, key, &st);
    if (v == NULL)
        return st;
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    st = KEEL_ERR_INVALID;
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == floor(d)) {
        *value = (int64_t)d;
        st = KEEL_OK;
    }
    cJSON_Delete(v);
    return st;
}

static keel_status slot_get_bool(keel_config *cfg, const char *scene, const char *key, int *value)
{
    if (value == NULL)
        return KEEL_ERR_INVALID;
    keel_status st;
    cJSON *v = lookup_parsed(cfg, scene, key, &st);
    if (v == NULL)
        return st;
    st = cJSON_IsBool(v) ? KEEL_OK : KEEL_ERR_INVALID;
    if (st == KEEL_OK)
        *value = cJSON_IsTrue(v) ? 1 : 0;
    cJSON_Delete(v);
    return st;
}

static keel_status slot_watch(keel_config *cfg, const char *scene, const char *key,
                              keel_config_change_fn fn, void *user, uint64_t *watch_id)
{
    return config_watch_add(cfg, scene, key, fn, user, watch_id);
}

static keel_status slot_unwatch(keel_config *cfg, uint64_t watch_id)
{
    return config_watch_remove(cfg, watch_id);
}

static void slot_free(void *ptr)
{
    free(ptr);
}

#if CONFIG_TABLE >= 2
/* Every key of the binding's module visible in `scene`: the scene's own
 * values over the module-wide ones, merged in key order. */
static keel_status slot_list(keel_config *cfg, const char *scene, char **values_json)
{
    if (values_json != NULL)
        *values_json = NULL;
    if (cfg == NULL || values_json == NULL)
        return KEEL_ERR_INVALID;
    const char *sc = scene != NULL ? scene : cfg->scene;
    if (!config_valid_scene(sc))
        return KEEL_ERR_INVALID;
    config_state *s = cfg->state;
    atomic_fetch_add(&s->reads, 1);
    cJSON *out = cJSON_CreateObject();
    if (out == NULL)
        return KEEL_ERR_NOMEM;
    bool ok = true;
    pthread_rwlock_rdlock(&s->data_lock);
    const config_table *t = &s->table;
    size_t start = config_table_lower_bound(t, cfg->module), end = start;
    while (end < t->count && strcmp(t->items[end]->module, cfg->module) == 0)
        end++;
    /* Two sorted runs: scene "*" and scene `sc`; merge them by key. */
    size_t wi = start, si = start;
    while (wi < end && strcmp(t->items[wi]->scene, "*") != 0)
        wi++;
    while (si < end && strcmp(t->items[si]->scene, sc) != 0)
        si++;
    bool same = strcmp(sc, "*") == 0;
    for (;;) {
        const config_entry *w = !same && wi < end && strcmp(t->items[wi]->scene, "*") == 0 ? t->items[wi] : NULL;
        const config_entry *e = si < end && strcmp(t->items[si]->scene, sc) == 0 ? t->items[si] : NULL;
        if (w == NULL && e == NULL)
            break;
        int c = w == NULL ? 1 : e == NULL ? -1 : strcmp(w->key, e->key);
        const char *v = NULL, *k = NULL;
        if (c < 0) {
            v = config_entry_value(w, NULL), k = w->key, wi++;
        } else {
            v = config_entry_value(e, NULL), k = e->key, si++;
            if (c == 0) {
                wi++;
                if (v == NULL)
                    v = config_entry_value(w, NULL);
            }
        }
        if (v != NULL && ok)
            ok = cJSON_AddRawToObject(out, k, v) != NULL;
    }
    pthread_rwlock_unlock(&s->data_lock);
    char *text = ok ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (text == NULL)
        return KEEL_ERR_NOMEM;
    *values_json = text;
    return KEEL_OK;
}
#endif

/* --- the def --------------------------------------------------------------- */

static const keel_config_api config_api_table = {
    .version = CONFIG_TABLE,
#if CONFIG_TABLE >= 2
    .size = (uint32_t)sizeof(keel_config_api),
#else
    .size = (uint32_t)offsetof(keel_config_api, list),
#endif
    .get = slot_get,
    .get_string = slot_get_string,
    .get_i64 = slot_get_i64,
    .get_bool = slot_get_bool,
    .watch = slot_watch,
    .unwatch = slot_unwatch,
    .free = slot_free,
#if CONFIG_TABLE >= 2
    .list = slot_list,
#endif
};

static const char *const config_slot_signatures[] = {
    "i32(ptr,ptr,ptr,ptr)",         /* get */
    "i32(ptr,ptr,ptr,ptr,u64)",     /* get_string */
    "i32(ptr,ptr,ptr,ptr)",         /* get_i64 */
    "i32(ptr,ptr,ptr,ptr)",         /* get_bool */
    "i32(ptr,ptr,ptr,ptr,ptr,ptr)", /* watch */
    "i32(ptr,u64)",                 /* unwatch */
    "void(ptr)",                    /* free */
#if CONFIG_TABLE >= 2
    "i32(ptr,ptr,ptr)",             /* list */
#endif
};

static const keel_starter_def config_def = {
    .abi_version = KEEL_STARTER_ABI_VERSION,
    .size = sizeof(keel_starter_def),
    .name = "config",
    .version = STARTER_VERSION,
    .state_format = CONFIG_STATE_FORMAT,
    .table = &config_api_table,
    .slot_signatures = config_slot_signatures,
    .slot_count = sizeof config_slot_signatures / sizeof config_slot_signatures[0],
    .create = config_create,
    .resume = NULL,
    .suspend = NULL,
    .destroy = config_destroy,
    .bind = config_bind,
    .unbind = config_unbind,
    .admin = config_admin,
};

KEEL_STARTER(config_def)

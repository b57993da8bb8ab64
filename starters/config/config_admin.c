/* config_admin.c — the operator's commands (keel config set|get|list|delete,
 * keel starter exec config OP JSON):
 *   set     {"module", "scene"?, "key", "value"}  value: any JSON
 *   get     {"module", "scene"?, "key"}           effective value + source
 *   list    {"module"?}                           every value, every deleted default
 *   delete  {"module", "scene"?, "key"}           the value at exactly that scene
 *   reset   {"module", "scene"?, "key"}           drop the operator's change:
 *                                                 the default applies again
 *   info                                          counters
 * "scene" defaults to "*" (module-wide). Changes are saved before they are
 * visible, then delivered to the module's watchers before the op returns;
 * the result says how many were called ("notified"). */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_OPS "set, get, list, delete, reset, info"

typedef struct op_args {
    const char *module, *scene, *key;
    const cJSON *value;           /* set only */
} op_args;

static const char *source_name(config_source src)
{
    return src == CONFIG_SRC_OPERATOR ? "operator" : src == CONFIG_SRC_DEFAULT ? "default" : "none";
}

static keel_status arg_error(keel_starter_error *err, const char *op, const char *field,
                             const char *expected, const cJSON *got)
{
    char g[80] = "nothing";
    char *text = got != NULL ? cJSON_PrintUnformatted(got) : NULL;
    if (text != NULL)
        snprintf(g, sizeof g, strlen(text) > 60 ? "%.57s..." : "%s", text);
    free(text);
    keel_starter_error_set(err, "config: op \"%s\": field \"%s\": expected %s, got %s", op, field,
                           expected, g);
    return KEEL_ERR_INVALID;
}

/* Parses the args object: "module" (optional for list), "scene" and "key"
 * when want_key, "value" when want_value; nothing else is accepted. */
static keel_status parse_args(const char *op, const char *args_json, bool want_key, bool want_value,
                              bool module_optional, cJSON **root, op_args *a, keel_starter_error *err)
{
    *a = (op_args){.scene = "*"};
    *root = cJSON_Parse(args_json ? args_json : "{}");
    if (!cJSON_IsObject(*root)) {
        cJSON_Delete(*root);
        *root = NULL;
        keel_starter_error_set(err, "config: op \"%s\": arguments must be a JSON object like "
                               "{\"module\": \"notify\", \"scene\": \"retail\", \"key\": \"channel\"%s}",
                               op, want_value ? ", \"value\": \"sms\"" : "");
        return KEEL_ERR_INVALID;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, *root) {
        const char *n = item->string;
        bool known = strcmp(n, "module") == 0 || (want_key && (strcmp(n, "scene") == 0 || strcmp(n, "key") == 0)) ||
                     (want_value && strcmp(n, "value") == 0);
        if (!known) {
            keel_starter_error_set(err, "config: op \"%s\": field \"%.64s\": unknown (known: module%s%s)",
                                   op, n, want_key ? ", scene, key" : "", want_value ? ", value" : "");
            return KEEL_ERR_INVALID;
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(*root, "module");
    if (item != NULL || !module_optional) {
        if (!cJSON_IsString(item) || !config_valid_module(item->valuestring))
            return arg_error(err, op, "module", CONFIG_EXPECT_MODULE, item);
        a->module = item->valuestring;
    }
    if (!want_key)
        return KEEL_OK;
    item = cJSON_GetObjectItemCaseSensitive(*root, "scene");
    if (item != NULL) {
        if (!cJSON_IsString(item) || !config_valid_scene(item->valuestring))
            return arg_error(err, op, "scene", CONFIG_EXPECT_SCENE, item);
        a->scene = item->valuestring;
    }
    item = cJSON_GetObjectItemCaseSensitive(*root, "key");
    if (!cJSON_IsString(item) || !config_valid_key(item->valuestring))
        return arg_error(err, op, "key", CONFIG_EXPECT_KEY, item);
    a->key = item->valuestring;
    if (want_value) {
        a->value = cJSON_GetObjectItemCaseSensitive(*root, "value");
        if (a->value == NULL) {
            keel_starter_error_set(err, "config: op \"%s\": field \"value\": expected any JSON value, got "
                                   "nothing", op);
            return KEEL_ERR_INVALID;
        }
    }
    return KEEL_OK;
}

/* Adds "module", "scene", "key" of `a` to `o`. */
static bool add_names(cJSON *o, const op_args *a)
{
    return cJSON_AddStringToObject(o, "module", a->module) && cJSON_AddStringToObject(o, "scene", a->scene) &&
           cJSON_AddStringToObject(o, "key", a->key);
}

/* o[name] = raw JSON text, or null when `text` is NULL. */
static bool add_value(cJSON *o, const char *name, const char *text)
{
    return text != NULL ? cJSON_AddRawToObject(o, name, text) != NULL : cJSON_AddNullToObject(o, name) != NULL;
}

static keel_status finish(cJSON *o, bool ok, char **result_json, keel_starter_error *err)
{
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL) {
        keel_starter_error_set(err, "config: out of memory");
        return KEEL_ERR_NOMEM;
    }
    *result_json = text;
    return KEEL_OK;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* --- changes ------------------------------------------------------------- */

typedef enum change_kind { CHANGE_SET, CHANGE_DELETE, CHANGE_RESET } change_kind;

/* Applies one change: saves the store with the change first (admin_lock
 * held, no data_lock: readers are not held up by the disk), then updates
 * the table under data_lock. If saving fails nothing changes. *previous
 * gets the exact slot's value before (malloc'd or NULL). On KEEL_OK a SET's
 * new_value belongs to the table. */
static keel_status apply_change(config_state *s, change_kind kind, const op_args *a, char *new_value,
                                char **previous, const char *op, keel_starter_error *err)
{
    *previous = NULL;
    config_entry *e = config_table_find(&s->table, a->module, a->scene, a->key);
    const char *before = config_entry_value(e, NULL);
    if (kind == CHANGE_DELETE && before == NULL) {
        keel_starter_error_set(err, "config: op \"%s\": %s/%s/%s has no value of its own%s", op, a->module,
                               a->scene, a->key, strcmp(a->scene, "*") != 0 ? " (module-wide values are "
                               "deleted with scene \"*\")" : "");
        return KEEL_ERR_NOT_FOUND;
    }
    if (kind == CHANGE_RESET && (e == NULL || (e->op_value == NULL && !e->op_deleted))) {
        keel_starter_error_set(err, "config: op \"%s\": %s/%s/%s has no operator change to reset", op,
                               a->module, a->scene, a->key);
        return KEEL_ERR_NOT_FOUND;
    }
    if (before != NULL && (*previous = strdup(before)) == NULL) {
        keel_starter_error_set(err, "config: out of memory");
        return KEEL_ERR_NOMEM;
    }
    if (e == NULL) { /* SET of a new slot: an empty entry reads as absent */
        pthread_rwlock_wrlock(&s->data_lock);
        e = config_table_upsert(&s->table, a->module, a->scene, a->key);
        pthread_rwlock_unlock(&s->data_lock);
        if (e == NULL) {
            keel_starter_error_set(err, "config: out of memory");
            return KEEL_ERR_NOMEM;
        }
    }
    config_pending next = {e, NULL, false};
    if (kind == CHANGE_SET)
        next.op_value = new_value;
    else if (kind == CHANGE_DELETE)
        next.op_deleted = e->def_value != NULL;
    keel_status st = config_store_save(s->store_path, &s->table, &next, err);

    pthread_rwlock_wrlock(&s->data_lock);
    if (st == KEEL_OK) {
        free(e->op_value);
        e->op_value = kind == CHANGE_SET ? new_value : NULL;
        e->op_deleted = next.op_deleted;
        atomic_fetch_add(&s->changes, 1);
    }
    config_table_prune(&s->table, e);
    pthread_rwlock_unlock(&s->data_lock);
    if (st != KEEL_OK) {
        free(*previous);
        *previous = NULL;
    }
    return st;
}

static keel_status op_change(config_state *s, change_kind kind, const char *op, const char *args_json,
                             char **result_json, keel_starter_error *err)
{
    cJSON *root;
    op_args a;
    keel_status st = parse_args(op, args_json, true, kind == CHANGE_SET, false, &root, &a, err);
    char *new_value = NULL;
    if (st == KEEL_OK && kind == CHANGE_SET) {
        new_value = config_json_compact(a.value);
        if (new_value == NULL) {
            keel_starter_error_set(err, "config: out of memory");
            st = KEEL_ERR_NOMEM;
        } else if (strlen(new_value) > s->max_value) {
            keel_starter_error_set(err, "config: op \"%s\": field \"value\": expected at most %zu bytes of "
                                   "JSON (max_value_bytes), got %zu bytes", op, s->max_value, strlen(new_value));
            st = KEEL_ERR_LIMIT;
        }
    }
    if (st != KEEL_OK) {
        free(new_value);
        cJSON_Delete(root);
        return st;
    }
    pthread_mutex_lock(&s->admin_lock);
    char *previous = NULL;
    st = apply_change(s, kind, &a, new_value, &previous, op, err);
    if (st != KEEL_OK) {
        pthread_mutex_unlock(&s->admin_lock);
        free(new_value);
        cJSON_Delete(root);
        return st;
    }
    /* new_value now belongs to the table. What the exact slot and the
     * lookup give after the change, for the result. */
    pthread_rwlock_rdlock(&s->data_lock);
    config_source src;
    const char *from = NULL;
    char *now = dup_or_null(config_table_lookup(&s->table, a.module, a.scene, a.key, &src, &from));
    char *from_scene = dup_or_null(from);
    pthread_rwlock_unlock(&s->data_lock);
    uint64_t notified = config_watch_deliver(s, a.module, a.scene, a.key);
    pthread_mutex_unlock(&s->admin_lock);

    s->host->log(s->host, KEEL_LOG_INFO, "%s %s/%s/%s: %zu watchers notified", op, a.module, a.scene, a.key,
                 (size_t)notified);
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && add_names(o, &a) && add_value(o, "previous", previous) && add_value(o, "value", now) &&
              cJSON_AddStringToObject(o, "source", now ? source_name(src) : "none") &&
              (from_scene ? cJSON_AddStringToObject(o, "from_scene", from_scene) != NULL
                          : cJSON_AddNullToObject(o, "from_scene") != NULL) &&
              cJSON_AddNumberToObject(o, "notified", (double)notified);
    free(previous);
    free(now);
    free(from_scene);
    cJSON_Delete(root);
    return finish(o, ok, result_json, err);
}

/* --- queries -------------------------------------------------------------- */

static keel_status op_get(config_state *s, const char *args_json, char **result_json, keel_starter_error *err)
{
    cJSON *root;
    op_args a;
    keel_status st = parse_args("get", args_json, true, false, false, &root, &a, err);
    if (st != KEEL_OK) {
        cJSON_Delete(root);
        return st;
    }
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && add_names(o, &a);
    config_source src;
    const char *from = NULL;
    pthread_rwlock_rdlock(&s->data_lock);
    const char *v = config_table_lookup(&s->table, a.module, a.scene, a.key, &src, &from);
    if (v != NULL)
        ok = ok && add_value(o, "value", v) && cJSON_AddStringToObject(o, "source", source_name(src)) &&
             cJSON_AddStringToObject(o, "from_scene", from);
    pthread_rwlock_unlock(&s->data_lock);
    if (v == NULL) {
        keel_starter_error_set(err, "config: %s/%s/%s has no value%s", a.module, a.scene, a.key,
                               strcmp(a.scene, "*") != 0 ? " (neither in the scene nor module-wide)" : "");
        cJSON_Delete(o);
        cJSON_Delete(root);
        return KEEL_ERR_NOT_FOUND;
    }
    cJSON_Delete(root);
    return finish(o, ok, result_json, err);
}

static keel_status op_list(config_state *s, const char *args_json, char **result_json, keel_starter_error *err)
{
    cJSON *root;
    op_args a;
    keel_status st = parse_args("list", args_json, false, false, true, &root, &a, err);
    if (st != KEEL_OK) {
        cJSON_Delete(root);
        return st;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *entries = cJSON_AddArrayToObject(o, "entries");
    cJSON *deleted = cJSON_AddArrayToObject(o, "deleted");
    bool ok = entries != NULL && deleted != NULL;
    pthread_rwlock_rdlock(&s->data_lock);
    const config_table *t = &s->table;
    for (size_t i = a.module ? config_table_lower_bound(t, a.module) : 0; ok && i < t->count; i++) {
        const config_entry *e = t->items[i];
        if (a.module != NULL && strcmp(e->module, a.module) != 0)
            break;
        config_source src;
        const char *v = config_entry_value(e, &src);
        if (v == NULL && !e->op_deleted)
            continue;
        cJSON *item = cJSON_CreateObject();
        ok = item != NULL && cJSON_AddItemToArray(v != NULL ? entries : deleted, item) &&
             cJSON_AddStringToObject(item, "module", e->module) && cJSON_AddStringToObject(item, "scene", e->scene) &&
             cJSON_AddStringToObject(item, "key", e->key);
        if (ok && v != NULL)
            ok = add_value(item, "value", v) && cJSON_AddStringToObject(item, "source", source_name(src));
        else if (ok)
            ok = add_value(item, "default", e->def_value);
    }
    pthread_rwlock_unlock(&s->data_lock);
    cJSON_Delete(root);
    return finish(o, ok, result_json, err);
}

static keel_status op_info(config_state *s, char **result_json, keel_starter_error *err)
{
    size_t keys = 0, defaults = 0, operator_values = 0, deleted = 0;
    pthread_rwlock_rdlock(&s->data_lock);
    for (size_t i = 0; i < s->table.count; i++) {
        const config_entry *e = s->table.items[i];
        keys += config_entry_value(e, NULL) != NULL;
        defaults += e->def_value != NULL;
        operator_values += e->op_value != NULL;
        deleted += e->op_deleted;
    }
    pthread_rwlock_unlock(&s->data_lock);
    pthread_mutex_lock(&s->watch_lock);
    size_t bindings = s->client_count, watchers = s->watch_count;
    pthread_mutex_unlock(&s->watch_lock);
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL && cJSON_AddStringToObject(o, "version", STARTER_VERSION) &&
              cJSON_AddNumberToObject(o, "table_version", CONFIG_TABLE) &&
              cJSON_AddStringToObject(o, "store", s->store_path) &&
              cJSON_AddNumberToObject(o, "max_value_bytes", (double)s->max_value) &&
              cJSON_AddNumberToObject(o, "keys", (double)keys) &&
              cJSON_AddNumberToObject(o, "defaults", (double)defaults) &&
              cJSON_AddNumberToObject(o, "operator_values", (double)operator_values) &&
              cJSON_AddNumberToObject(o, "deleted_defaults", (double)deleted) &&
              cJSON_AddNumberToObject(o, "bindings", (double)bindings) &&
              cJSON_AddNumberToObject(o, "watchers", (double)watchers) &&
              cJSON_AddNumberToObject(o, "changes", (double)atomic_load(&s->changes)) &&
              cJSON_AddNumberToObject(o, "notifications", (double)atomic_load(&s->notifications)) &&
              cJSON_AddNumberToObject(o, "notifications_skipped", (double)atomic_load(&s->callbacks_skipped)) &&
              cJSON_AddNumberToObject(o, "reads", (double)atomic_load(&s->reads));
    return finish(o, ok, result_json, err);
}

keel_status config_admin(void *state, const char *op, const char *args_json, char **result_json,
                         keel_starter_error *err)
{
    config_state *s = state;
    *result_json = NULL;
    if (op == NULL)
        op = "";
    if (strcmp(op, "set") == 0)
        return op_change(s, CHANGE_SET, op, args_json, result_json, err);
    if (strcmp(op, "delete") == 0)
        return op_change(s, CHANGE_DELETE, op, args_json, result_json, err);
    if (strcmp(op, "reset") == 0)
        return op_change(s, CHANGE_RESET, op, args_json, result_json, err);
    if (strcmp(op, "get") == 0)
        return op_get(s, args_json, result_json, err);
    if (strcmp(op, "list") == 0)
        return op_list(s, args_json, result_json, err);
    if (strcmp(op, "info") == 0)
        return op_info(s, result_json, err);
    keel_starter_error_set(err, "config: unknown op \"%.64s\" (known: " KNOWN_OPS ")", op);
    return KEEL_ERR_NOT_FOUND;
}

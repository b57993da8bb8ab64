/* config_table.c — the values of the config starter: a sorted array of
 * (module, scene, key) entries with a default and an operator layer, the
 * lookup with the module-wide fallback, and the name rules. */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

static bool in_set(char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

static bool valid_chars(const char *s, size_t max, const char *extra)
{
    if (s == NULL || *s == '\0')
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= max || !in_set(s[n], extra))
            return false;
    return true;
}

bool config_valid_key(const char *s)
{
    return valid_chars(s, CONFIG_KEY_MAX, "_.-");
}

bool config_valid_scene(const char *s)
{
    return (s != NULL && strcmp(s, "*") == 0) || valid_chars(s, CONFIG_SCENE_MAX, "_.:-");
}

bool config_valid_module(const char *s)
{
    if (s == NULL || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= CONFIG_MODULE_MAX || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool config_valid_store_name(const char *s)
{
    return valid_chars(s, 128, "_.-") && s[0] != '.';
}

char *config_json_compact(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}

/* --- the table ------------------------------------------------------------- */

static int entry_cmp(const config_entry *e, const char *module, const char *scene, const char *key)
{
    int c = strcmp(e->module, module);
    if (c == 0)
        c = strcmp(e->scene, scene);
    if (c == 0)
        c = strcmp(e->key, key);
    return c;
}

/* Index of the first entry >= (module, scene, key); *found when equal. */
static size_t table_search(const config_table *t, const char *module, const char *scene,
                           const char *key, bool *found)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entry_cmp(t->items[mid], module, scene, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < t->count && entry_cmp(t->items[lo], module, scene, key) == 0;
    return lo;
}

size_t config_table_lower_bound(const config_table *t, const char *module)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->items[mid]->module, module) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

config_entry *config_table_find(const config_table *t, const char *module, const char *scene,
                                const char *key)
{
    bool found;
    size_t i = table_search(t, module, scene, key, &found);
    return found ? t->items[i] : NULL;
}

const char *config_entry_value(const config_entry *e, config_source *src)
{
    const char *v = NULL;
    config_source where = CONFIG_SRC_NONE;
    if (e != NULL && e->op_value != NULL) {
        v = e->op_value;
        where = CONFIG_SRC_OPERATOR;
    } else if (e != NULL && !e->op_deleted && e->def_value != NULL) {
        v = e->def_value;
        where = CONFIG_SRC_DEFAULT;
    }
    if (src != NULL)
        *src = where;
    return v;
}

const char *config_table_lookup(const config_table *t, const char *module, const char *scene,
                                const char *key, config_source *src, const char **from_scene)
{
    const char *v = config_entry_value(config_table_find(t, module, scene, key), src);
    const char *from = scene;
    if (v == NULL && strcmp(scene, "*") != 0) {
        v = config_entry_value(config_table_find(t, module, "*", key), src);
        from = "*";
    }
    if (from_scene != NULL)
        *from_scene = v != NULL ? from : NULL;
    return v;
}

config_entry *config_table_upsert(config_table *t, const char *module, const char *scene,
                                  const char *key)
{
    bool found;
    size_t i = table_search(t, module, scene, key, &found);
    if (found)
        return t->items[i];
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        config_entry **items = realloc(t->items, cap * sizeof *items);
        if (items == NULL)
            return NULL;
        t->items = items;
        t->cap = cap;
    }
    config_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->module = strdup(module);
    e->scene = strdup(scene);
    e->key = strdup(key);
    if (!e->module || !e->scene || !e->key) {
        free(e->module);
        free(e->scene);
        free(e->key);
        free(e);
        return NULL;
    }
    memmove(&t->items[i + 1], &t->items[i], (t->count - i) * sizeof *t->items);
    t->items[i] = e;
    t->count++;
    return e;
}

static void entry_free(config_entry *e)
{
    free(e->module);
    free(e->scene);
    free(e->key);
    free(e->def_value);
    free(e->op_value);
    free(e);
}

void config_table_prune(config_table *t, config_entry *e)
{
    if (e == NULL || e->def_value != NULL || e->op_value != NULL || e->op_deleted)
        return;
    bool found;
    size_t i = table_search(t, e->module, e->scene, e->key, &found);
    if (!found || t->items[i] != e)
        return;
    memmove(&t->items[i], &t->items[i + 1], (t->count - i - 1) * sizeof *t->items);
    t->count--;
    entry_free(e);
}

void config_table_clear(config_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        entry_free(t->items[i]);
    free(t->items);
    t->items = NULL;
    t->count = t->cap = 0;
}

/* JSON views of the market and the running starters (keel starter list,
 * info, keel market search) and the enabled set for persistence. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include "starter_set_internal.h"

static cJSON *versions_json(const keel_market_entry *e)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < e->version_count; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(e->versions[i].version));
    return a;
}

static cJSON *bindings_json(const running_starter *r)
{
    cJSON *a = cJSON_CreateArray();
    for (const starter_binding *b = r ? r->bindings : NULL; a && b; b = b->next)
        cJSON_AddItemToArray(a, cJSON_CreateString(b->instance));
    return a;
}

/* One row of `keel starter list` / `keel market search`. */
static cJSON *row_json(const keel_market_entry *e, const running_starter *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", e ? e->name : r->name);
    cJSON_AddBoolToObject(o, "enabled", r != NULL);
    if (r)
        cJSON_AddStringToObject(o, "version", starter_gate_current(&((running_starter *)r)->gate)->def->version);
    else
        cJSON_AddNullToObject(o, "version");
    if (e) {
        cJSON_AddItemToObject(o, "versions", versions_json(e));
        cJSON_AddStringToObject(o, "description", e->description);
        cJSON_AddStringToObject(o, "owner", e->owner);
        cJSON_AddItemToObject(o, "tags", cJSON_Parse(e->tags));
    }
    cJSON_AddItemToObject(o, "bindings", bindings_json(r));
    return o;
}

static char *print_and_free(cJSON *j)
{
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return text;
}

char *keel_starter_set_list_json(keel_starter_set *s)
{
    pthread_mutex_lock(&s->lock);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < keel_market_count(s->market); i++) {
        const keel_market_entry *e = keel_market_at(s->market, i);
        cJSON_AddItemToArray(a, row_json(e, starter_set_find(s, e->name)));
    }
    for (running_starter *r = s->running; a && r; r = r->next)
        if (!keel_market_find(s->market, r->name))
            cJSON_AddItemToArray(a, row_json(NULL, r));
    pthread_mutex_unlock(&s->lock);
    return print_and_free(a);
}

char *keel_starter_set_search_json(keel_starter_set *s, const char *word)
{
    pthread_mutex_lock(&s->lock);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < keel_market_count(s->market); i++) {
        const keel_market_entry *e = keel_market_at(s->market, i);
        if (keel_market_entry_matches(e, word ? word : ""))
            cJSON_AddItemToArray(a, row_json(e, starter_set_find(s, e->name)));
    }
    pthread_mutex_unlock(&s->lock);
    return print_and_free(a);
}

char *keel_starter_set_info_json(keel_starter_set *s, const char *name, keel_error *err)
{
    pthread_mutex_lock(&s->lock);
    const keel_market_entry *e = keel_market_find(s->market, name);
    running_starter *r = starter_set_find(s, name);
    if (!e && !r) {
        pthread_mutex_unlock(&s->lock);
        keel_error_set(err, KEEL_ERR_NOT_FOUND, "starter %s is neither in the market nor enabled; "
                       "'keel market search WORD' lists the market", name);
        return NULL;
    }
    cJSON *o = row_json(e, r);
    if (o && e) {
        cJSON *vs = cJSON_AddArrayToObject(o, "market_versions");
        for (size_t i = 0; vs && i < e->version_count; i++) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "version", e->versions[i].version);
            cJSON_AddStringToObject(v, "library", e->versions[i].library);
            cJSON_AddStringToObject(v, "module_api", e->versions[i].module_api);
            cJSON_AddItemToObject(v, "config_schema", e->versions[i].config_schema
                                                          ? cJSON_Parse(e->versions[i].config_schema)
                                                          : cJSON_CreateNull());
            cJSON_AddItemToArray(vs, v);
        }
    }
    if (o && r) {
        starter_code *c = starter_gate_current(&r->gate);
        cJSON_AddItemToObject(o, "config", cJSON_Parse(r->config_json));
        cJSON_AddStringToObject(o, "library", c->library);
        cJSON_AddNumberToObject(o, "state_format", c->def->state_format);
        cJSON_AddNumberToObject(o, "functions", (double)c->def->slot_count);
        cJSON_AddNumberToObject(o, "upgrades", r->upgrades);
        cJSON_AddStringToObject(o, "work_dir", r->work_dir);
        size_t retired = 0;
        for (retired_code *rc = r->retired; rc; rc = rc->next)
            retired++;
        cJSON_AddNumberToObject(o, "old_versions_loaded", (double)retired);
        char *info = NULL;
        keel_starter_error serr = {{0}};
        if (c->def->admin && c->def->admin(r->state, "info", NULL, &info, &serr) == KEEL_OK && info)
            cJSON_AddItemToObject(o, "status", cJSON_Parse(info));
        free(info);
    }
    pthread_mutex_unlock(&s->lock);
    return print_and_free(o);
}

char *keel_starter_set_enabled_json(keel_starter_set *s)
{
    pthread_mutex_lock(&s->lock);
    cJSON *o = cJSON_CreateObject();
    for (running_starter *r = s->running; o && r; r = r->next) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "version", starter_gate_current(&r->gate)->def->version);
        cJSON_AddItemToObject(e, "config", cJSON_Parse(r->config_json));
        cJSON_AddItemToObject(o, r->name, e);
    }
    pthread_mutex_unlock(&s->lock);
    return print_and_free(o);
}

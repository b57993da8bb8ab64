/* The starter operations of the admin protocol (admin.h): starters,
 * starter.info, starter.enable, starter.disable, starter.exec,
 * market.search. */
#include "admin_internal.h"

#include <stdlib.h>
#include <string.h>

/* Adds the JSON text `text` (malloc'd; freed here) under `key`. */
static keel_status add_json(keel_admin_request *req, const char *key, char *text)
{
    if (text == NULL)
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "%s: out of memory", req->op);
    cJSON *value = cJSON_Parse(text);
    free(text);
    if (value == NULL)
        return keel_error_set(req->err, KEEL_ERR_INTERNAL, "%s: a starter answered malformed JSON",
                              req->op);
    keel_admin_add_item(req, NULL, key, value);
    return KEEL_OK;
}

keel_status keel_admin_starters(keel_admin_request *req)
{
    return add_json(req, "starters", keel_starter_set_list_json(req->base->starters));
}

keel_status keel_admin_market_search(keel_admin_request *req)
{
    const char *word = "";
    keel_status st = keel_admin_arg_string(req, "word", 0, &word);
    if (st != KEEL_OK)
        return st;
    keel_admin_add_string(req, NULL, "market", keel_market_path(keel_starter_set_market(req->base->starters)));
    return add_json(req, "starters", keel_starter_set_search_json(req->base->starters, word));
}

keel_status keel_admin_starter_info(keel_admin_request *req)
{
    const char *name = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st != KEEL_OK)
        return st;
    char *text = keel_starter_set_info_json(req->base->starters, name, req->err);
    if (text == NULL)
        return req->err->status != KEEL_OK ? req->err->status
                                           : keel_error_set(req->err, KEEL_ERR_NOMEM, "out of memory");
    return add_json(req, "starter", text);
}

keel_status keel_admin_starter_enable(keel_admin_request *req)
{
    const char *name = NULL, *version = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "version", 0, &version);
    const cJSON *config = keel_admin_arg(req, "config");
    if (st == KEEL_OK && config != NULL && !cJSON_IsObject(config))
        st = keel_error_set(req->err, KEEL_ERR_INVALID, "starter.enable: argument \"config\" must be "
                            "a JSON object (the starter's configuration)");
    if (st != KEEL_OK)
        return st;
    char *text = config ? cJSON_PrintUnformatted(config) : NULL;
    if (config && !text)
        return keel_error_set(req->err, KEEL_ERR_NOMEM, "out of memory");
    char was[64], now[64];
    const char *before = keel_starter_set_version(req->base->starters, name, was, sizeof was);
    keel_admin_progress(req, "loading the starter");
    st = keel_base_starter_enable(req->base, name, version, text, req->err, now, sizeof now);
    free(text);
    if (st == KEEL_OK) {
        keel_admin_add_string(req, NULL, "name", name);
        keel_admin_add_string(req, NULL, "version", now);
        keel_admin_add_string(req, NULL, "previous", before);
    }
    return st;
}

keel_status keel_admin_starter_disable(keel_admin_request *req)
{
    const char *name = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_base_starter_disable(req->base, name, req->err);
    if (st == KEEL_OK)
        keel_admin_add_string(req, NULL, "disabled", name);
    return st;
}

keel_status keel_admin_starter_exec(keel_admin_request *req)
{
    const char *name = NULL, *op = NULL;
    keel_status st = keel_admin_arg_string(req, "name", 1, &name);
    if (st == KEEL_OK)
        st = keel_admin_arg_string(req, "op", 1, &op);
    const cJSON *args = keel_admin_arg(req, "args");
    if (st == KEEL_OK && args != NULL && !cJSON_IsObject(args))
        st = keel_error_set(req->err, KEEL_ERR_INVALID, "starter.exec: argument \"args\" must be a "
                            "JSON object");
    if (st != KEEL_OK)
        return st;
    char *text = args ? cJSON_PrintUnformatted(args) : NULL;
    char *result = NULL;
    st = keel_starter_set_exec(req->base->starters, name, op, text, &result, req->err);
    free(text);
    if (st != KEEL_OK)
        return st;
    cJSON *value = result ? cJSON_Parse(result) : cJSON_CreateNull();
    keel_admin_add_item(req, NULL, "result", value ? value : cJSON_CreateString(result));
    free(result);
    return KEEL_OK;
}

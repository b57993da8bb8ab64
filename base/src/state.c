/*
 * WORK_DIR/state.json: the deployed set, read at boot and rewritten
 * atomically after every change (see state.h).
 */
#include "state.h"
#include "file_replace.h"
#include "json_text.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <keel/file.h>
#include <keel/manifest.h>

#define STATE_FILE_MAX (64u << 20)
#define STATE_NAME_MAX 64

/* ---- records ------------------------------------------------------------- */

static void state_module_free(keel_state_module *m)
{
    free(m->name);
    free(m->version);
    free(m->bundle);
}

static void state_route_free(keel_state_route *r)
{
    free(r->name);
    free(r->primary);
    free(r->gray);
}

void keel_state_clear(keel_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->module_count; i++)
        state_module_free(&s->modules[i]);
    for (size_t i = 0; i < s->route_count; i++)
        state_route_free(&s->routes[i]);
    free(s->modules);
    free(s->routes);
    memset(s, 0, sizeof *s);
}

keel_state_module *keel_state_find_module(keel_state *s, const char *name, const char *version)
{
    for (size_t i = 0; i < s->module_count; i++)
        if (strcmp(s->modules[i].name, name) == 0 && strcmp(s->modules[i].version, version) == 0)
            return &s->modules[i];
    return NULL;
}

keel_status keel_state_put_module(keel_state *s, const char *name, const char *version,
                                  const char *bundle, int priority, int active)
{
    keel_state_module m = {strdup(name), strdup(version), strdup(bundle), priority, active};
    if (m.name == NULL || m.version == NULL || m.bundle == NULL) {
        state_module_free(&m);
        return KEEL_ERR_NOMEM;
    }
    keel_state_module *old = keel_state_find_module(s, name, version);
    if (old != NULL) {
        state_module_free(old);
        *old = m;
        return KEEL_OK;
    }
    keel_state_module *grown = realloc(s->modules, (s->module_count + 1) * sizeof *grown);
    if (grown == NULL) {
        state_module_free(&m);
        return KEEL_ERR_NOMEM;
    }
    s->modules = grown;
    s->modules[s->module_count++] = m;
    return KEEL_OK;
}

int keel_state_remove_module(keel_state *s, const char *name, const char *version)
{
    keel_state_module *m = keel_state_find_module(s, name, version);
    if (m == NULL)
        return 0;
    state_module_free(m);
    size_t i = (size_t)(m - s->modules);
    memmove(m, m + 1, (s->module_count - i - 1) * sizeof *m);
    s->module_count--;
    return 1;
}

keel_state_route *keel_state_find_route(keel_state *s, const char *name)
{
    for (size_t i = 0; i < s->route_count; i++)
        if (strcmp(s->routes[i].name, name) == 0)
            return &s->routes[i];
    return NULL;
}

keel_status keel_state_put_route(keel_state *s, const keel_state_route *route)
{
    keel_state_route r = {strdup(route->name), strdup(route->primary),
                          route->gray ? strdup(route->gray) : NULL, route->percent, route->by_key};
    if (r.name == NULL || r.primary == NULL || (route->gray != NULL && r.gray == NULL)) {
        state_route_free(&r);
        return KEEL_ERR_NOMEM;
    }
    keel_state_route *old = keel_state_find_route(s, route->name);
    if (old != NULL) {
        state_route_free(old);
        *old = r;
        return KEEL_OK;
    }
    keel_state_route *grown = realloc(s->routes, (s->route_count + 1) * sizeof *grown);
    if (grown == NULL) {
        state_route_free(&r);
        return KEEL_ERR_NOMEM;
    }
    s->routes = grown;
    s->routes[s->route_count++] = r;
    return KEEL_OK;
}

int keel_state_remove_route(keel_state *s, const char *name)
{
    keel_state_route *r = keel_state_find_route(s, name);
    if (r == NULL)
        return 0;
    state_route_free(r);
    size_t i = (size_t)(r - s->routes);
    memmove(r, r + 1, (s->route_count - i - 1) * sizeof *r);
    s->route_count--;
    return 1;
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct state_parser {
    const char *origin;
    keel_error *err;
} state_parser;

static keel_status state_fail(const state_parser *p, const char *field, const char *expected)
{
    return keel_error_set(p->err, KEEL_ERR_INVALID,
                          "%s: field \"%s\" is missing or wrong (expected %s); the deployed set "
                          "cannot be restored: fix or move the file away",
                          p->origin, field, expected);
}

/* As state_fail for field LIST[I].KEY. */
static keel_status state_fail_at(const state_parser *p, const char *list, size_t i, const char *key,
                                 const char *expected)
{
    char field[64];
    snprintf(field, sizeof field, "%s[%zu].%s", list, i, key);
    return state_fail(p, field, expected);
}

static int state_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STATE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

/* A relative path without ".." components. */
static int state_valid_relpath(const char *s)
{
    if (s[0] == '\0' || s[0] == '/')
        return 0;
    for (const char *c = s; c != NULL; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
        if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
            return 0;
    return 1;
}

/* The string member `key` of `obj`, or NULL when absent or not a string. */
static const char *state_string(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int state_int(const cJSON *obj, const char *key, int min, int max, int *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int)item->valuedouble ||
        item->valuedouble < min || item->valuedouble > max)
        return 0;
    *out = (int)item->valuedouble;
    return 1;
}

static int state_bool(const cJSON *obj, const char *key, int *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsBool(item))
        return 0;
    *out = cJSON_IsTrue(item);
    return 1;
}

static keel_status state_parse_module(const state_parser *p, const cJSON *item, size_t i,
                                      keel_state *out)
{
    const char *name = state_string(item, "name"), *version = state_string(item, "version");
    const char *bundle = state_string(item, "bundle");
    int priority = 0, active = 0;
    if (name == NULL || !state_valid_name(name))
        return state_fail_at(p, "modules", i, "name", "a module name");
    if (version == NULL || keel_semver_check(version) != KEEL_OK)
        return state_fail_at(p, "modules", i, "version", "a semantic version");
    if (bundle == NULL || !state_valid_relpath(bundle))
        return state_fail_at(p, "modules", i, "bundle", "a path relative to the work directory");
    if (!state_int(item, "priority", 0, 1000, &priority))
        return state_fail_at(p, "modules", i, "priority", "an integer 0..1000");
    if (!state_bool(item, "active", &active))
        return state_fail_at(p, "modules", i, "active", "true or false");
    if (keel_state_find_module(out, name, version) != NULL)
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: %s@%s is recorded twice; fix or "
                              "move the file away", p->origin, name, version);
    if (keel_state_put_module(out, name, version, bundle, priority, active) != KEEL_OK)
        return keel_error_set(p->err, KEEL_ERR_NOMEM, "%s: out of memory", p->origin);
    return KEEL_OK;
}

static keel_status state_parse_route(const state_parser *p, const cJSON *item, size_t i,
                                     keel_state *out)
{
    keel_state_route r = {(char *)state_string(item, "name"), (char *)state_string(item, "primary"),
                          (char *)state_string(item, "gray"), 0, 0};
    const cJSON *gray = cJSON_GetObjectItemCaseSensitive(item, "gray");
    int percent = 0;
    if (r.name == NULL || !state_valid_name(r.name))
        return state_fail_at(p, "routes", i, "name", "a module name");
    if (r.primary == NULL || keel_semver_check(r.primary) != KEEL_OK)
        return state_fail_at(p, "routes", i, "primary", "a semantic version");
    if ((gray != NULL && !cJSON_IsNull(gray) && r.gray == NULL) ||
        (r.gray != NULL && keel_semver_check(r.gray) != KEEL_OK))
        return state_fail_at(p, "routes", i, "gray", "a semantic version or null");
    if (!state_int(item, "percent", 0, 100, &percent))
        return state_fail_at(p, "routes", i, "percent", "an integer 0..100");
    if (!state_bool(item, "by_key", &r.by_key))
        return state_fail_at(p, "routes", i, "by_key", "true or false");
    r.percent = (unsigned)percent;
    if (keel_state_put_route(out, &r) != KEEL_OK)
        return keel_error_set(p->err, KEEL_ERR_NOMEM, "%s: out of memory", p->origin);
    return KEEL_OK;
}

static keel_status state_parse_root(const state_parser *p, const cJSON *root, keel_state *out)
{
    int format = 0;
    if (!cJSON_IsObject(root))
        return state_fail(p, "(top level)", "a JSON object");
    if (!state_int(root, "format", 0, 1000000, &format))
        return state_fail(p, "format", "1");
    if (format != KEEL_STATE_FORMAT)
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: format %d is not one this keeld "
                              "reads (it reads %d); run the keeld that wrote it", p->origin, format,
                              KEEL_STATE_FORMAT);
    const cJSON *modules = cJSON_GetObjectItemCaseSensitive(root, "modules");
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
    if (!cJSON_IsArray(modules))
        return state_fail(p, "modules", "an array");
    if (routes != NULL && !cJSON_IsArray(routes))
        return state_fail(p, "routes", "an array");
    keel_status st = KEEL_OK;
    size_t i = 0;
    for (const cJSON *m = modules->child; m != NULL && st == KEEL_OK; m = m->next)
        st = state_parse_module(p, m, i++, out);
    i = 0;
    for (const cJSON *r = routes ? routes->child : NULL; r != NULL && st == KEEL_OK; r = r->next)
        st = state_parse_route(p, r, i++, out);
    return st;
}

keel_status keel_state_parse(const char *json, size_t size, const char *origin, keel_state *out,
                             keel_error *err)
{
    memset(out, 0, sizeof *out);
    state_parser p = {origin, err};
    size_t at = 0;
    cJSON *root = keel_json_parse_whole(json, size, &at);
    if (root == NULL) {
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: not valid JSON (near byte %zu); the "
                              "deployed set cannot be restored: fix or move the file away",
                              origin, at);
    }
    keel_status st = state_parse_root(&p, root, out);
    cJSON_Delete(root);
    if (st != KEEL_OK)
        keel_state_clear(out);
    return st;
}

/* ---- files --------------------------------------------------------------- */

static keel_status state_read_text(const char *path, char **text, size_t *size, keel_error *err)
{
    int error = keel_file_read(path, STATE_FILE_MAX, text, size);
    if (error == ENOENT)
        return KEEL_ERR_NOT_FOUND;
    if (error == EFBIG)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: not a readable state file (too large?)",
                              path);
    if (error != 0)
        return keel_error_set(err, error == ENOMEM ? KEEL_ERR_NOMEM : KEEL_ERR_IO,
                              "%s: cannot read it: %s", path, strerror(error));
    return KEEL_OK;
}

keel_status keel_state_read(const char *work_dir, keel_state *out, keel_error *err)
{
    memset(out, 0, sizeof *out);
    char *path = NULL, *text = NULL;
    size_t size = 0;
    if (asprintf(&path, "%s/%s", work_dir, KEEL_STATE_FILE) < 0)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_status st = state_read_text(path, &text, &size, err);
    if (st == KEEL_ERR_NOT_FOUND)
        st = KEEL_OK; /* nothing deployed yet */
    else if (st == KEEL_OK)
        st = keel_state_parse(text, size, path, out, err);
    free(text);
    free(path);
    return st;
}

static cJSON *state_module_json(const keel_state_module *m)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "name", m->name) ||
        !cJSON_AddStringToObject(o, "version", m->version) ||
        !cJSON_AddStringToObject(o, "bundle", m->bundle) ||
        !cJSON_AddNumberToObject(o, "priority", m->priority) ||
        !cJSON_AddBoolToObject(o, "active", m->active)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *state_route_json(const keel_state_route *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "name", r->name) ||
        !cJSON_AddStringToObject(o, "primary", r->primary) ||
        !(r->gray ? cJSON_AddStringToObject(o, "gray", r->gray) : cJSON_AddNullToObject(o, "gray")) ||
        !cJSON_AddNumberToObject(o, "percent", r->percent) ||
        !cJSON_AddBoolToObject(o, "by_key", r->by_key)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static char *state_render(const keel_state *s)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL && cJSON_AddNumberToObject(root, "format", KEEL_STATE_FORMAT) != NULL;
    cJSON *modules = ok ? cJSON_AddArrayToObject(root, "modules") : NULL;
    cJSON *routes = ok ? cJSON_AddArrayToObject(root, "routes") : NULL;
    ok = ok && modules != NULL && routes != NULL;
    for (size_t i = 0; ok && i < s->module_count; i++) {
        cJSON *m = state_module_json(&s->modules[i]);
        ok = m != NULL && cJSON_AddItemToArray(modules, m);
    }
    for (size_t i = 0; ok && i < s->route_count; i++) {
        cJSON *r = state_route_json(&s->routes[i]);
        ok = r != NULL && cJSON_AddItemToArray(routes, r);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

keel_status keel_file_write_atomic(const char *dir, const char *name, const char *text,
                                   keel_error *err)
{
    char *path = NULL, *data = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0 || asprintf(&data, "%s\n", text) < 0) {
        free(path);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory writing %s", name);
    }
    const char *step = "write";
    int error = keel_file_replace(path, data, strlen(data), 0600, &step);
    keel_status st = KEEL_OK;
    if (error != 0 && strcmp(step, "fsync directory") == 0)
        st = keel_error_set(err, KEEL_ERR_IO, "%s: cannot sync the directory: %s", dir,
                            strerror(error));
    else if (error != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "%s: cannot write it (%s: %s)", path, step,
                            strerror(error));
    free(path);
    free(data);
    return st;
}

keel_status keel_state_write(const char *work_dir, const keel_state *s, keel_error *err)
{
    char *text = state_render(s);
    if (text == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory writing the state");
    keel_status st = keel_file_write_atomic(work_dir, KEEL_STATE_FILE, text, err);
    free(text);
    return st;
}

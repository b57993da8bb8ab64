/* http_config.c — the gateway's configuration and route objects: parsing
 * and validation, one clear line naming the field on error. */
#include "http_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_PATH_MAX 1024
#define HTTP_NAME_MAX 255

/* Where an error goes and how fields are named in it. */
typedef struct perr {
    char *buf;
    size_t size;
    const char *kind;   /* "config" or "route" */
    const char *base;   /* field prefix */
} perr;

static keel_status field_error(perr *e, keel_status st, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static keel_status field_error(perr *e, keel_status st, const char *field, const char *fmt, ...)
{
    if (!e->buf || e->size == 0)
        return st;
    int n = snprintf(e->buf, e->size, "http: %s field \"%s%s\": ", e->kind, e->base, field);
    if (n < 0 || (size_t)n >= e->size)
        return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf + n, e->size - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
}

/* A short rendering of what was found, for "got ..." (caller-owned buf). */
static const char *got(const cJSON *item, char *buf, size_t size)
{
    if (!item) {
        snprintf(buf, size, "nothing");
        return buf;
    }
    char *text = cJSON_PrintUnformatted(item);
    if (!text) {
        snprintf(buf, size, "a value");
        return buf;
    }
    size_t max = size > 4 ? size - 4 : 0;
    if (max > 48)
        max = 48;
    if (strlen(text) > max)
        snprintf(buf, size, "%.*s...", (int)max, text);
    else
        snprintf(buf, size, "%s", text);
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    free(text);
    return buf;
}

static bool get_int(const cJSON *item, long long lo, long long hi, long long *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return false;
    *out = (long long)v;
    return true;
}

/* An optional integer field of obj. */
static keel_status int_field(perr *e, const cJSON *obj, const char *name, long long lo,
                             long long hi, long long def, long long *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    char g[64];
    if (!item) {
        *out = def;
        return KEEL_OK;
    }
    if (!get_int(item, lo, hi, out))
        return field_error(e, KEEL_ERR_INVALID, name, "expected an integer %lld..%lld, got %s",
                           lo, hi, got(item, g, sizeof g));
    return KEEL_OK;
}

static bool printable(const char *s, bool allow_space)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x21 || c == 0x7f)
            if (!(allow_space && c == ' '))
                return false;
    }
    return true;
}

/* A string field: required (def NULL) or defaulted; length 1..max unless
 * allow_empty. *out points into the JSON (or at def). */
static keel_status string_field(perr *e, const cJSON *obj, const char *name, const char *def,
                                size_t max, bool allow_empty, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    char g[64];
    if (!item) {
        if (!def)
            return field_error(e, KEEL_ERR_INVALID, name, "required, expected a string");
        *out = def;
        return KEEL_OK;
    }
    if (!cJSON_IsString(item) || !item->valuestring)
        return field_error(e, KEEL_ERR_INVALID, name, "expected a string, got %s",
                           got(item, g, sizeof g));
    size_t len = strlen(item->valuestring);
    if ((len == 0 && !allow_empty) || len > max)
        return field_error(e, KEEL_ERR_INVALID, name, "expected a string of 1..%zu characters, got %s",
                           max, got(item, g, sizeof g));
    if (!printable(item->valuestring, false))
        return field_error(e, KEEL_ERR_INVALID, name,
                           "expected no spaces or control characters, got %s",
                           got(item, g, sizeof g));
    *out = item->valuestring;
    return KEEL_OK;
}

/* Refuses members of obj not in `known` (NULL-terminated). */
static keel_status known_fields(perr *e, const cJSON *obj, const char *const *known,
                                const char *list)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || strcmp(m->string, known[i]) == 0;
        if (!ok)
            return field_error(e, KEEL_ERR_INVALID, m->string, "unknown field (known: %s)", list);
    }
    return KEEL_OK;
}

static const char *const http_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

static bool header_name_ok(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool path_ok(const char *s)
{
    if (s[0] != '/')
        return false;
    for (; *s; s++)
        if (*s == '?' || *s == '#')
            return false;
    return true;
}

static keel_status route_scenes(perr *e, const cJSON *obj, http_route *r)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "scenes");
    char g[64];
    if (!list) {
        r->scenes = calloc(1, sizeof *r->scenes);
        if (!r->scenes || !(r->scenes[0] = http_strdup(r->scene)))
            return KEEL_ERR_NOMEM;
        r->scene_count = 1;
        return KEEL_OK;
    }
    if (!r->scene_header)
        return field_error(e, KEEL_ERR_INVALID, "scenes",
                           "needs \"scene_header\" (the header that chooses among them)");
    int n = cJSON_GetArraySize(list);
    if (!cJSON_IsArray(list) || n < 1 || n > 64)
        return field_error(e, KEEL_ERR_INVALID, "scenes",
                           "expected an array of 1..64 scene names, got %s", got(list, g, sizeof g));
    r->scenes = calloc((size_t)n, sizeof *r->scenes);
    if (!r->scenes)
        return KEEL_ERR_NOMEM;
    bool has_default = false;
    int i = 0;
    for (const cJSON *s = list->child; s; s = s->next, i++) {
        char field[32];
        snprintf(field, sizeof field, "scenes[%d]", i);
        if (!cJSON_IsString(s) || !s->valuestring || !s->valuestring[0] ||
            strlen(s->valuestring) > HTTP_NAME_MAX || !printable(s->valuestring, false))
            return field_error(e, KEEL_ERR_INVALID, field,
                               "expected a scene name (1..%d characters, no spaces), got %s",
                               HTTP_NAME_MAX, got(s, g, sizeof g));
        for (size_t j = 0; j < r->scene_count; j++)
            if (strcmp(r->scenes[j], s->valuestring) == 0)
                return field_error(e, KEEL_ERR_INVALID, field, "scene \"%s\" listed twice",
                                   s->valuestring);
        if (!(r->scenes[r->scene_count] = http_strdup(s->valuestring)))
            return KEEL_ERR_NOMEM;
        r->scene_count++;
        has_default = has_default || strcmp(s->valuestring, r->scene) == 0;
    }
    if (!has_default)
        return field_error(e, KEEL_ERR_INVALID, "scenes", "must include the route's scene \"%s\"",
                           r->scene);
    return KEEL_OK;
}

static keel_status route_rate_limit(perr *e, const cJSON *obj, http_route *r)
{
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(obj, "rate_limit");
    char g[64];
    if (!rl)
        return KEEL_OK;
    if (!cJSON_IsObject(rl))
        return field_error(e, KEEL_ERR_INVALID, "rate_limit",
                           "expected an object {\"per_second\": N, \"burst\": N}, got %s",
                           got(rl, g, sizeof g));
    static const char *const known[] = {"per_second", "burst", NULL};
    char base[96];
    snprintf(base, sizeof base, "%srate_limit.", e->base);
    perr sub = {e->buf, e->size, e->kind, base};
    keel_status st = known_fields(&sub, rl, known, "per_second, burst");
    if (st != KEEL_OK)
        return st;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(rl, "per_second");
    if (!cJSON_IsNumber(ps) || !isfinite(ps->valuedouble) || ps->valuedouble <= 0 ||
        ps->valuedouble > 1e7)
        return field_error(&sub, KEEL_ERR_INVALID, "per_second",
                           "expected a number > 0 and <= 10000000, got %s", got(ps, g, sizeof g));
    long long burst;
    long long def = (long long)ceil(ps->valuedouble);
    if ((st = int_field(&sub, rl, "burst", 1, 10000000, def, &burst)) != KEEL_OK)
        return st;
    r->limited = true;
    r->per_second = ps->valuedouble;
    r->burst = (double)burst;
    r->tokens = r->burst;
    r->refilled_ns = http_now_ns();
    return KEEL_OK;
}

static keel_status route_fallback(perr *e, const cJSON *obj, http_route *r)
{
    const cJSON *fb = cJSON_GetObjectItemCaseSensitive(obj, "fallback");
    char g[64];
    if (!fb)
        return KEEL_OK;
    if (!cJSON_IsObject(fb))
        return field_error(e, KEEL_ERR_INVALID, "fallback",
                           "expected an object {\"status\": N, \"body\": JSON}, got %s",
                           got(fb, g, sizeof g));
    static const char *const known[] = {"status", "body", NULL};
    char base[96];
    snprintf(base, sizeof base, "%sfallback.", e->base);
    perr sub = {e->buf, e->size, e->kind, base};
    keel_status st = known_fields(&sub, fb, known, "status, body");
    if (st != KEEL_OK)
        return st;
    long long status;
    if ((st = int_field(&sub, fb, "status", 100, 599, 200, &status)) != KEEL_OK)
        return st;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(fb, "body");
    if (!body)
        return field_error(&sub, KEEL_ERR_INVALID, "body", "required, expected any JSON value");
    if (!(r->fallback_body = cJSON_PrintUnformatted(body)))
        return KEEL_ERR_NOMEM;
    r->has_fallback = true;
    r->fallback_status = (int)status;
    return KEEL_OK;
}

static keel_status route_fields(perr *e, const cJSON *obj, const http_config *cfg, http_route *r)
{
    static const char *const known[] = {"method", "path", "service", "scene", "scene_header",
                                        "scenes", "auth", "rate_limit", "fallback", NULL};
    char g[64];
    keel_status st = known_fields(e, obj, known,
                                  "method, path, service, scene, scene_header, scenes, auth, "
                                  "rate_limit, fallback");
    if (st != KEEL_OK)
        return st;
    const char *method, *path, *service, *scene, *header = NULL, *auth;
    if ((st = string_field(e, obj, "method", NULL, 16, false, &method)) != KEEL_OK)
        return st;
    bool known_method = false;
    for (size_t i = 0; http_methods[i]; i++)
        known_method = known_method || strcmp(method, http_methods[i]) == 0;
    if (!known_method)
        return field_error(e, KEEL_ERR_INVALID, "method",
                           "expected one of GET, POST, PUT, PATCH, DELETE, got \"%s\"", method);
    if ((st = string_field(e, obj, "path", NULL, HTTP_PATH_MAX, false, &path)) != KEEL_OK)
        return st;
    if (!path_ok(path))
        return field_error(e, KEEL_ERR_INVALID, "path",
                           "expected an absolute path starting with '/' without '?' or '#', "
                           "got \"%s\"", path);
    if ((st = string_field(e, obj, "service", NULL, HTTP_NAME_MAX, false, &service)) != KEEL_OK ||
        (st = string_field(e, obj, "scene", "default", HTTP_NAME_MAX, false, &scene)) != KEEL_OK)
        return st;
    if (cJSON_GetObjectItemCaseSensitive(obj, "scene_header")) {
        if ((st = string_field(e, obj, "scene_header", NULL, 64, false, &header)) != KEEL_OK)
            return st;
        if (!header_name_ok(header))
            return field_error(e, KEEL_ERR_INVALID, "scene_header",
                               "expected a header name (letters, digits, '-', '_'), got \"%s\"",
                               header);
    }
    if ((st = string_field(e, obj, "auth", "none", 16, false, &auth)) != KEEL_OK)
        return st;
    if (strcmp(auth, "none") != 0 && strcmp(auth, "token") != 0)
        return field_error(e, KEEL_ERR_INVALID, "auth", "expected \"none\" or \"token\", got %s",
                           got(cJSON_GetObjectItemCaseSensitive(obj, "auth"), g, sizeof g));
    r->auth_token = strcmp(auth, "token") == 0;
    if (r->auth_token && (!cfg || cfg->token_count == 0))
        return field_error(e, KEEL_ERR_INVALID, "auth",
                           "\"token\" needs at least one entry in the gateway's \"tokens\"");
    if (!(r->method = http_strdup(method)) || !(r->path = http_strdup(path)) ||
        !(r->service = http_strdup(service)) || !(r->scene = http_strdup(scene)) ||
        (header && !(r->scene_header = http_strdup(header))))
        return KEEL_ERR_NOMEM;
    size_t idlen = strlen(method) + strlen(path) + 2;
    if (!(r->id = malloc(idlen)))
        return KEEL_ERR_NOMEM;
    snprintf(r->id, idlen, "%s %s", method, path);
    if ((st = route_scenes(e, obj, r)) != KEEL_OK || (st = route_rate_limit(e, obj, r)) != KEEL_OK ||
        (st = route_fallback(e, obj, r)) != KEEL_OK)
        return st;
    return KEEL_OK;
}

keel_status http_route_parse(const cJSON *obj, const char *kind, const char *base,
                             const http_config *cfg, http_route **out, char *err,
                             size_t err_size)
{
    *out = NULL;
    perr e = {err, err_size, kind, base};
    char g[64];
    if (!cJSON_IsObject(obj)) {
        char field[96];
        snprintf(field, sizeof field, "%s", base);
        size_t n = strlen(field);
        if (n > 0 && field[n - 1] == '.')
            field[n - 1] = '\0';
        perr whole = {err, err_size, kind, ""};
        return field_error(&whole, KEEL_ERR_INVALID, field[0] ? field : "(route)",
                           "expected a route object, got %s", got(obj, g, sizeof g));
    }
    http_route *r = calloc(1, sizeof *r);
    if (!r)
        return KEEL_ERR_NOMEM;
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->bucket_lock, NULL);
    keel_status st = route_fields(&e, obj, cfg, r);
    if (st != KEEL_OK) {
        if (st == KEEL_ERR_NOMEM && err && err_size)
            snprintf(err, err_size, "http: out of memory");
        http_route_unref(r);
        return st;
    }
    *out = r;
    return KEEL_OK;
}

/* "host:port" or "[v6]:port". */
static keel_status parse_listen(perr *e, const char *listen, http_config *cfg)
{
    const char *colon = strrchr(listen, ':');
    const char *why = NULL;
    size_t host_len = colon ? (size_t)(colon - listen) : 0;
    const char *host = listen;
    if (!colon || host_len == 0)
        why = "missing host or port";
    else if (listen[0] == '[') {
        if (host_len < 3 || colon[-1] != ']')
            why = "a bracketed IPv6 host needs \"]\" before the port";
        host++;
        host_len -= 2;
    } else if (memchr(listen, ':', host_len))
        why = "an IPv6 host must be in brackets, e.g. [::1]:8088";
    const char *port = colon ? colon + 1 : "";
    long long p = -1;
    if (!why) {
        char *end = NULL;
        p = *port >= '0' && *port <= '9' ? strtoll(port, &end, 10) : -1;
        if (p < 0 || !end || *end || p > 65535)
            why = "the port must be an integer 0..65535";
    }
    if (!why)
        for (size_t i = 0; i < host_len; i++) {
            char c = host[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == ':' || c == '%'))
                why = "the host has characters a host name or address cannot have";
        }
    if (why)
        return field_error(e, KEEL_ERR_INVALID, "listen",
                           "expected \"host:port\" (port 0..65535; 0 = any free port), got \"%s\": %s",
                           listen, why);
    if (!(cfg->listen = http_strdup(listen)) || !(cfg->host = malloc(host_len + 1)))
        return KEEL_ERR_NOMEM;
    memcpy(cfg->host, host, host_len);
    cfg->host[host_len] = '\0';
    cfg->port = (unsigned)p;
    return KEEL_OK;
}

static keel_status parse_tokens(perr *e, const cJSON *root, http_config *cfg)
{
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    char g[64];
    if (!tokens)
        return KEEL_OK;
    if (!cJSON_IsObject(tokens))
        return field_error(e, KEEL_ERR_INVALID, "tokens",
                           "expected an object {\"name\": \"secret\", ...}, got %s",
                           got(tokens, g, sizeof g));
    size_t n = (size_t)cJSON_GetArraySize(tokens);
    if (n == 0)
        return KEEL_OK;
    if (!(cfg->tokens = calloc(n, sizeof *cfg->tokens)))
        return KEEL_ERR_NOMEM;
    for (const cJSON *t = tokens->child; t; t = t->next) {
        char field[320];
        snprintf(field, sizeof field, "tokens.%s", t->string);
        if (!t->string[0])
            return field_error(e, KEEL_ERR_INVALID, "tokens", "a token name must not be empty");
        if (!cJSON_IsString(t) || !t->valuestring || strlen(t->valuestring) < 8 ||
            strlen(t->valuestring) > 4096 || !printable(t->valuestring, false))
            return field_error(e, KEEL_ERR_INVALID, field,
                               "expected a secret string of 8..4096 printable characters "
                               "without spaces");
        http_token *tok = &cfg->tokens[cfg->token_count++];
        if (!(tok->name = http_strdup(t->string)) || !(tok->secret = http_strdup(t->valuestring)))
            return KEEL_ERR_NOMEM;
        tok->length = strlen(tok->secret);
    }
    return KEEL_OK;
}

static keel_status parse_routes(perr *e, const cJSON *root, http_config *cfg)
{
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
    char g[64];
    if (!routes)
        return KEEL_OK;
    if (!cJSON_IsArray(routes))
        return field_error(e, KEEL_ERR_INVALID, "routes", "expected an array of route objects, got %s",
                           got(routes, g, sizeof g));
    size_t n = (size_t)cJSON_GetArraySize(routes);
    if (n > 4096)
        return field_error(e, KEEL_ERR_INVALID, "routes", "at most 4096 routes, got %zu", n);
    if (n && !(cfg->routes = calloc(n, sizeof *cfg->routes)))
        return KEEL_ERR_NOMEM;
    size_t i = 0;
    for (const cJSON *r = routes->child; r; r = r->next, i++) {
        char base[32];
        snprintf(base, sizeof base, "routes[%zu].", i);
        http_route *route;
        keel_status st = http_route_parse(r, e->kind, base, cfg, &route, e->buf, e->size);
        if (st != KEEL_OK)
            return st;
        cfg->routes[cfg->route_count++] = route;
        for (size_t j = 0; j + 1 < cfg->route_count; j++)
            if (strcmp(cfg->routes[j]->method, route->method) == 0 &&
                strcmp(cfg->routes[j]->path, route->path) == 0) {
                char field[32];
                snprintf(field, sizeof field, "routes[%zu]", i);
                return field_error(e, KEEL_ERR_INVALID, field, "%s is already routes[%zu]",
                                   route->id, j);
            }
    }
    return KEEL_OK;
}

static keel_status parse_access_log(perr *e, const cJSON *root, const char *work_dir,
                                    http_config *cfg)
{
    const char *path;
    keel_status st = string_field(e, root, "access_log", "access.log", 4096, true, &path);
    if (st != KEEL_OK || !path[0])
        return st;
    for (const char *p = path; *p; p++)
        if (p[0] == '.' && p[1] == '.' && (p == path || p[-1] == '/') && (p[2] == '/' || !p[2]))
            return field_error(e, KEEL_ERR_INVALID, "access_log",
                               "expected a file name without \"..\", got \"%s\"", path);
    if (path[0] == '/') {
        cfg->access_log = http_strdup(path);
    } else {
        size_t len = strlen(work_dir) + strlen(path) + 2;
        if ((cfg->access_log = malloc(len)))
            snprintf(cfg->access_log, len, "%s/%s", work_dir, path);
    }
    return cfg->access_log ? KEEL_OK : KEEL_ERR_NOMEM;
}

static keel_status parse_root(perr *e, const cJSON *root, const char *work_dir, http_config *cfg)
{
    static const char *const known[] = {"listen", "threads", "workers", "max_body_bytes",
                                        "timeout_ms", "access_log", "tokens", "routes", NULL};
    keel_status st = known_fields(e, root, known,
                                  "listen, threads, workers, max_body_bytes, timeout_ms, "
                                  "access_log, tokens, routes");
    if (st != KEEL_OK)
        return st;
    const cJSON *listen = cJSON_GetObjectItemCaseSensitive(root, "listen");
    char g[64];
    if (listen && !cJSON_IsString(listen))
        return field_error(e, KEEL_ERR_INVALID, "listen", "expected \"host:port\", got %s",
                           got(listen, g, sizeof g));
    if ((st = parse_listen(e, listen ? listen->valuestring : "127.0.0.1:8088", cfg)) != KEEL_OK)
        return st;
    long long v;
    if ((st = int_field(e, root, "threads", 1, 64, 2, &v)) != KEEL_OK)
        return st;
    cfg->threads = (unsigned)v;
    if ((st = int_field(e, root, "workers", 0, 256, 8, &v)) != KEEL_OK)
        return st;
    cfg->workers = (unsigned)v;
    if ((st = int_field(e, root, "max_body_bytes", 1, 64LL << 20, 65536, &v)) != KEEL_OK)
        return st;
    cfg->max_body = (size_t)v;
    if ((st = int_field(e, root, "timeout_ms", 1, 600000, 5000, &v)) != KEEL_OK)
        return st;
    cfg->timeout_ms = (unsigned)v;
    if ((st = parse_access_log(e, root, work_dir, cfg)) != KEEL_OK ||
        (st = parse_tokens(e, root, cfg)) != KEEL_OK || (st = parse_routes(e, root, cfg)) != KEEL_OK)
        return st;
    return KEEL_OK;
}

keel_status http_config_parse(const char *json, const char *work_dir, http_config *cfg,
                              keel_starter_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    char *buf = err ? err->message : NULL;
    size_t size = err ? sizeof err->message : 0;
    if (buf)
        buf[0] = '\0';
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        keel_starter_error_set(err, "http: config: expected a JSON object, got %.60s",
                               json ? json : "nothing");
        return KEEL_ERR_INVALID;
    }
    perr e = {buf, size, "config", ""};
    keel_status st = parse_root(&e, root, work_dir ? work_dir : ".", cfg);
    cJSON_Delete(root);
    if (st != KEEL_OK) {
        if (st == KEEL_ERR_NOMEM)
            keel_starter_error_set(err, "http: out of memory reading the configuration");
        http_config_free(cfg);
    }
    return st;
}

void http_config_free(http_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->listen);
    free(cfg->host);
    free(cfg->access_log);
    for (size_t i = 0; i < cfg->token_count; i++) {
        free(cfg->tokens[i].name);
        free(cfg->tokens[i].secret);
    }
    free(cfg->tokens);
    for (size_t i = 0; i < cfg->route_count; i++)
        http_route_unref(cfg->routes[i]);
    free(cfg->routes);
    memset(cfg, 0, sizeof *cfg);
}

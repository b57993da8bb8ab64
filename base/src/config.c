/*
 * keeld's configuration: the JSON file, validated field by field in the
 * style of the manifest parser, and the command-line flags.
 */
#include "config.h"
#include "json_text.h"
#include <keel/file.h>
#include <keel/manifest.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_QUOTE_MAX 48
#define CONFIG_FILE_MAX (1u << 20)
#define CONFIG_TOKEN_MIN 16
#define CONFIG_TIMEOUT_MAX 3600000u

typedef struct config_parser {
    const char *origin;
    const char *base_dir;
    keel_base_config *cfg;
    keel_error *err;
} config_parser;

static const char *const config_top_fields[] = {"work_dir", "socket", "log_level", "limits",
                                                "http", "modules", "starters"};
static const char *const config_limit_fields[] = {"max_namespaces", "max_versions",
                                                  "drain_timeout_ms", "stop_timeout_ms",
                                                  "queue_capacity", "overflow"};
static const char *const config_http_fields[] = {"listen", "token"};
static const char *const config_module_fields[] = {"bundle", "activate"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- lifetime ------------------------------------------------------------ */

void keel_base_config_init(keel_base_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = -1;
    cfg->overflow = KEEL_OVERFLOW_REJECT;
}

static void config_free_modules(keel_base_config *cfg)
{
    for (size_t i = 0; i < cfg->module_count; i++)
        free(cfg->modules[i].bundle);
    free(cfg->modules);
    cfg->modules = NULL;
    cfg->module_count = 0;
}

void keel_base_config_destroy(keel_base_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->work_dir);
    free(cfg->socket_path);
    free(cfg->config_path);
    free(cfg->http_listen);
    free(cfg->http_token);
    free(cfg->starters_market);
    free(cfg->starters_enable_json);
    config_free_modules(cfg);
    keel_base_config_init(cfg);
}

/* strdup that keeps NULL as NULL; *ok becomes 0 when out of memory. */
static char *config_dup(const char *s, int *ok)
{
    if (s == NULL)
        return NULL;
    char *copy = strdup(s);
    if (copy == NULL)
        *ok = 0;
    return copy;
}

keel_status keel_base_config_copy(keel_base_config *dst, const keel_base_config *src,
                                  keel_error *err)
{
    int ok = 1;
    *dst = *src;
    dst->modules = NULL;
    dst->module_count = 0;
    dst->work_dir = config_dup(src->work_dir, &ok);
    dst->socket_path = config_dup(src->socket_path, &ok);
    dst->config_path = config_dup(src->config_path, &ok);
    dst->http_listen = config_dup(src->http_listen, &ok);
    dst->http_token = config_dup(src->http_token, &ok);
    dst->starters_market = config_dup(src->starters_market, &ok);
    dst->starters_enable_json = config_dup(src->starters_enable_json, &ok);
    if (ok && src->module_count > 0) {
        dst->modules = calloc(src->module_count, sizeof *dst->modules);
        ok = dst->modules != NULL;
        for (size_t i = 0; ok && i < src->module_count; i++) {
            dst->modules[i].activate = src->modules[i].activate;
            dst->modules[i].bundle = config_dup(src->modules[i].bundle, &ok);
            dst->module_count = i + 1;
        }
    }
    if (ok)
        return KEEL_OK;
    keel_base_config_destroy(dst);
    return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory copying the configuration");
}

/* ---- messages ------------------------------------------------------------ */

static void config_describe(char *buf, size_t size, const cJSON *item)
{
    if (cJSON_IsString(item)) {
        char text[CONFIG_QUOTE_MAX * 4 + 8];
        keel_error_quote(text, sizeof text, item->valuestring, CONFIG_QUOTE_MAX);
        snprintf(buf, size, "\"%s\"", text);
    } else if (cJSON_IsNumber(item)) {
        snprintf(buf, size, "%.17g", item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(buf, size, "null");
    } else if (cJSON_IsArray(item)) {
        snprintf(buf, size, "an array");
    } else {
        snprintf(buf, size, "an object");
    }
}

static keel_status config_fail(const config_parser *p, const char *field, const cJSON *found,
                               const char *problem, const char *expected)
{
    char value[CONFIG_QUOTE_MAX * 4 + 16];
    config_describe(value, sizeof value, found);
    return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: config field \"%s\": %s %s (expected %s)",
                          p->origin, field, value, problem, expected);
}

static keel_status config_nomem(const config_parser *p)
{
    return keel_error_set(p->err, KEEL_ERR_NOMEM, "%s: out of memory reading the configuration",
                          p->origin);
}

/* Refuses keys of `object` not in `known` (and not "x-..."). `where` is
 * the object's field path, "" at the top. */
static keel_status config_check_keys(const config_parser *p, const cJSON *object,
                                     const char *where, const char *const *known, size_t count)
{
    for (const cJSON *child = object->child; child != NULL; child = child->next) {
        int found = strncmp(child->string, "x-", 2) == 0;
        for (size_t i = 0; !found && i < count; i++)
            found = strcmp(child->string, known[i]) == 0;
        if (found)
            continue;
        char list[256];
        keel_error_join(list, sizeof list, known, count);
        char key[CONFIG_QUOTE_MAX * 4 + 8];
        keel_error_quote(key, sizeof key, child->string, CONFIG_QUOTE_MAX);
        return keel_error_set(p->err, KEEL_ERR_INVALID,
                              "%s: config field \"%s%s%s\" is not a known field (expected one of "
                              "%s, or an extension named \"x-...\")",
                              p->origin, where, where[0] ? "." : "", key, list);
    }
    return KEEL_OK;
}

/* ---- typed readers ----------------------------------------------------- */

/* Replaces *out with a copy of a non-empty string field, resolved against
 * the file's directory when `is_path`. */
static keel_status config_read_string(const config_parser *p, const cJSON *item,
                                      const char *field, int is_path, char **out)
{
    if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
        return config_fail(p, field, item, "is not a non-empty string",
                           is_path ? "a path" : "a non-empty string");
    const char *s = item->valuestring;
    char *copy = NULL;
    if (is_path && s[0] != '/' && p->base_dir != NULL) {
        if (asprintf(&copy, "%s/%s", p->base_dir, s) < 0)
            copy = NULL;
    } else {
        copy = strdup(s);
    }
    if (copy == NULL)
        return config_nomem(p);
    free(*out);
    *out = copy;
    return KEEL_OK;
}

static keel_status config_read_uint(const config_parser *p, const cJSON *item, const char *field,
                                    unsigned long min, unsigned long max, unsigned long *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer %lu..%lu", min, max);
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(long long)item->valuedouble)
        return config_fail(p, field, item, "is not an integer", expected);
    if (item->valuedouble < (double)min || item->valuedouble > (double)max)
        return config_fail(p, field, item, "is out of range", expected);
    *out = (unsigned long)item->valuedouble;
    return KEEL_OK;
}

static keel_status config_read_bool(const config_parser *p, const cJSON *item, const char *field,
                                    int *out)
{
    if (!cJSON_IsBool(item))
        return config_fail(p, field, item, "is not a boolean", "true or false");
    *out = cJSON_IsTrue(item);
    return KEEL_OK;
}

/* ---- sections ------------------------------------------------------------ */

static keel_status config_parse_overflow(const config_parser *p, const cJSON *item)
{
    static const char *const names[] = {"reject", "block", "drop-oldest"};
    static const keel_overflow values[] = {KEEL_OVERFLOW_REJECT, KEEL_OVERFLOW_BLOCK,
                                           KEEL_OVERFLOW_DROP_OLDEST};
    for (size_t i = 0; cJSON_IsString(item) && i < COUNT(names); i++)
        if (strcmp(item->valuestring, names[i]) == 0) {
            p->cfg->overflow = values[i];
            return KEEL_OK;
        }
    return config_fail(p, "limits.overflow", item, "is not an overflow policy",
                       "\"reject\", \"block\" or \"drop-oldest\"");
}

static keel_status config_parse_limits(const config_parser *p, const cJSON *limits)
{
    if (!cJSON_IsObject(limits))
        return config_fail(p, "limits", limits, "is not an object", "an object of limits");
    keel_status st = config_check_keys(p, limits, "limits", config_limit_fields,
                                       COUNT(config_limit_fields));
    struct {
        const char *key, *field;
        unsigned long min, max;
    } const specs[] = {
        {"max_namespaces", "limits.max_namespaces", 1, 15},
        {"max_versions", "limits.max_versions", 1, 16},
        {"drain_timeout_ms", "limits.drain_timeout_ms", 1, CONFIG_TIMEOUT_MAX},
        {"stop_timeout_ms", "limits.stop_timeout_ms", 1, CONFIG_TIMEOUT_MAX},
        {"queue_capacity", "limits.queue_capacity", 1, 16777216},
    };
    unsigned long values[COUNT(specs)] = {0};
    for (size_t i = 0; st == KEEL_OK && i < COUNT(specs); i++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(limits, specs[i].key);
        if (item != NULL)
            st = config_read_uint(p, item, specs[i].field, specs[i].min, specs[i].max, &values[i]);
    }
    if (st != KEEL_OK)
        return st;
    keel_base_config *cfg = p->cfg;
    unsigned *targets[] = {&cfg->max_namespaces, &cfg->max_versions, &cfg->drain_timeout_ms,
                           &cfg->stop_timeout_ms};
    for (size_t i = 0; i < COUNT(targets); i++)
        if (values[i] != 0)
            *targets[i] = (unsigned)values[i];
    if (values[4] != 0)
        cfg->queue_capacity = values[4];
    const cJSON *overflow = cJSON_GetObjectItemCaseSensitive(limits, "overflow");
    return overflow != NULL ? config_parse_overflow(p, overflow) : KEEL_OK;
}

static keel_status config_parse_http(const config_parser *p, const cJSON *http)
{
    if (cJSON_IsNull(http)) {
        free(p->cfg->http_listen);
        free(p->cfg->http_token);
        p->cfg->http_listen = p->cfg->http_token = NULL;
        return KEEL_OK;
    }
    if (!cJSON_IsObject(http))
        return config_fail(p, "http", http, "is not an object",
                           "{\"listen\": \"127.0.0.1:PORT\", \"token\": \"...\"} or null");
    keel_status st = config_check_keys(p, http, "http", config_http_fields, COUNT(config_http_fields));
    const cJSON *listen = cJSON_GetObjectItemCaseSensitive(http, "listen");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(http, "token");
    if (st == KEEL_OK && listen == NULL)
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: config field \"http.listen\" is "
                              "missing (expected \"127.0.0.1:PORT\")", p->origin);
    if (st == KEEL_OK && token == NULL)
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: config field \"http.token\" is "
                              "missing (expected a secret of at least %d characters)", p->origin,
                              CONFIG_TOKEN_MIN);
    if (st == KEEL_OK)
        st = config_read_string(p, listen, "http.listen", 0, &p->cfg->http_listen);
    if (st == KEEL_OK && (!cJSON_IsString(token) || strlen(token->valuestring) < CONFIG_TOKEN_MIN))
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: config field \"http.token\" is not a "
                              "string of at least %d characters", p->origin, CONFIG_TOKEN_MIN);
    if (st == KEEL_OK)
        st = config_read_string(p, token, "http.token", 0, &p->cfg->http_token);
    return st;
}

static keel_status config_parse_module(const config_parser *p, const cJSON *item, size_t i,
                                       keel_boot_module *out)
{
    char field[64];
    snprintf(field, sizeof field, "modules[%zu]", i);
    if (!cJSON_IsObject(item))
        return config_fail(p, field, item, "is not an object",
                           "{\"bundle\": \"PATH.keel\", \"activate\": true}");
    keel_status st = config_check_keys(p, item, field, config_module_fields,
                                       COUNT(config_module_fields));
    const cJSON *bundle = cJSON_GetObjectItemCaseSensitive(item, "bundle");
    const cJSON *activate = cJSON_GetObjectItemCaseSensitive(item, "activate");
    if (st == KEEL_OK && bundle == NULL)
        return keel_error_set(p->err, KEEL_ERR_INVALID, "%s: config field \"%s.bundle\" is "
                              "missing (expected the path of a .keel bundle)", p->origin, field);
    snprintf(field, sizeof field, "modules[%zu].bundle", i);
    if (st == KEEL_OK)
        st = config_read_string(p, bundle, field, 1, &out->bundle);
    snprintf(field, sizeof field, "modules[%zu].activate", i);
    out->activate = 1;
    if (st == KEEL_OK && activate != NULL)
        st = config_read_bool(p, activate, field, &out->activate);
    return st;
}

static keel_status config_parse_modules(const config_parser *p, const cJSON *modules)
{
    if (!cJSON_IsArray(modules))
        return config_fail(p, "modules", modules, "is not an array",
                           "an array of {\"bundle\": ..., \"activate\": ...}");
    size_t count = (size_t)cJSON_GetArraySize(modules);
    keel_boot_module *list = count ? calloc(count, sizeof *list) : NULL;
    if (count > 0 && list == NULL)
        return config_nomem(p);
    config_free_modules(p->cfg);
    p->cfg->modules = list;
    keel_status st = KEEL_OK;
    size_t i = 0;
    for (const cJSON *item = modules->child; item != NULL && st == KEEL_OK; item = item->next, i++) {
        p->cfg->module_count = i + 1;
        st = config_parse_module(p, item, i, &list[i]);
    }
    return st;
}

/* "starters": {"market": PATH, "enable": {NAME: {"version": RANGE,
 * "config": {...}}}}. Versions and configurations are checked against the
 * market when the base enables them. */
static keel_status config_parse_starters(const config_parser *p, const cJSON *starters)
{
    static const char *const fields[] = {"market", "enable"};
    static const char *const entry_fields[] = {"version", "config"};
    if (!cJSON_IsObject(starters))
        return config_fail(p, "starters", starters, "is not an object",
                           "an object with \"market\" and \"enable\"");
    keel_status st = config_check_keys(p, starters, "starters", fields, 2);
    const cJSON *market = cJSON_GetObjectItemCaseSensitive(starters, "market");
    if (st == KEEL_OK && market != NULL)
        st = config_read_string(p, market, "starters.market", 1, &p->cfg->starters_market);
    const cJSON *enable = cJSON_GetObjectItemCaseSensitive(starters, "enable");
    if (st != KEEL_OK || enable == NULL)
        return st;
    if (!cJSON_IsObject(enable))
        return config_fail(p, "starters.enable", enable, "is not an object",
                           "an object: starter name -> {\"version\", \"config\"}");
    const cJSON *e;
    cJSON_ArrayForEach(e, enable) {
        char field[160];
        snprintf(field, sizeof field, "starters.enable.%s", e->string);
        if (!cJSON_IsObject(e))
            return config_fail(p, field, e, "is not an object",
                               "{\"version\": \"^1.0\", \"config\": {...}}");
        if ((st = config_check_keys(p, e, field, entry_fields, 2)) != KEEL_OK)
            return st;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "version");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "config");
        if (v != NULL && (!cJSON_IsString(v) || keel_semver_range_check(v->valuestring, NULL) != KEEL_OK)) {
            snprintf(field, sizeof field, "starters.enable.%s.version", e->string);
            return config_fail(p, field, v, "is not a version range", "a range such as \"^1.0\"");
        }
        if (c != NULL && !cJSON_IsObject(c)) {
            snprintf(field, sizeof field, "starters.enable.%s.config", e->string);
            return config_fail(p, field, c, "is not an object", "a JSON object");
        }
    }
    char *text = cJSON_PrintUnformatted(enable);
    if (text == NULL)
        return config_nomem(p);
    free(p->cfg->starters_enable_json);
    p->cfg->starters_enable_json = text;
    return KEEL_OK;
}

static keel_status config_parse_log_level(const config_parser *p, const cJSON *item)
{
    int level = cJSON_IsString(item) ? keel_log_level_parse(item->valuestring) : -1;
    if (level < 0)
        return config_fail(p, "log_level", item, "is not a log level",
                           "\"debug\", \"info\", \"warn\" or \"error\"");
    p->cfg->log_level = level;
    return KEEL_OK;
}

static keel_status config_parse_root(const config_parser *p, const cJSON *root)
{
    keel_status st = config_check_keys(p, root, "", config_top_fields, COUNT(config_top_fields));
    const cJSON *item;
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "work_dir")) != NULL)
        st = config_read_string(p, item, "work_dir", 1, &p->cfg->work_dir);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "socket")) != NULL)
        st = config_read_string(p, item, "socket", 1, &p->cfg->socket_path);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "log_level")) != NULL)
        st = config_parse_log_level(p, item);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "limits")) != NULL)
        st = config_parse_limits(p, item);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "http")) != NULL)
        st = config_parse_http(p, item);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "modules")) != NULL)
        st = config_parse_modules(p, item);
    if (st == KEEL_OK && (item = cJSON_GetObjectItemCaseSensitive(root, "starters")) != NULL)
        st = config_parse_starters(p, item);
    return st;
}

keel_status keel_base_config_parse(keel_base_config *cfg, const char *json, size_t size,
                                   const char *origin, const char *base_dir, keel_error *err)
{
    config_parser p = {origin, base_dir, cfg, err};
    size_t at = 0;
    cJSON *root = keel_json_parse_whole(json, size, &at);
    if (root == NULL) {
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: not valid JSON (near byte %zu)", origin, at);
    }
    keel_status st = cJSON_IsObject(root)
                         ? config_parse_root(&p, root)
                         : config_fail(&p, "(top level)", root, "is not an object",
                                       "a JSON object");
    cJSON_Delete(root);
    return st;
}

/* ---- files --------------------------------------------------------------- */

static keel_status config_read_file(const char *path, char **text, size_t *size, keel_error *err)
{
    int error = keel_file_read(path, CONFIG_FILE_MAX, text, size);
    if (error == EFBIG)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: the configuration is larger than %u bytes",
                              path, CONFIG_FILE_MAX);
    if (error == ENOMEM)
        return keel_error_set(err, KEEL_ERR_NOMEM, "%s: cannot read the configuration", path);
    if (error != 0)
        return keel_error_set(err, KEEL_ERR_IO, "%s: cannot read the configuration: %s", path,
                              strerror(error));
    return KEEL_OK;
}

keel_status keel_base_config_load(keel_base_config *cfg, const char *path, keel_error *err)
{
    char *text = NULL, *dir = NULL;
    size_t size = 0;
    keel_status st = config_read_file(path, &text, &size, err);
    if (st != KEEL_OK)
        return st;
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        dir = strdup(".");
    else
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    char *copy = strdup(path);
    if (dir == NULL || copy == NULL)
        st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory reading %s", path);
    else
        st = keel_base_config_parse(cfg, text, size, path, dir, err);
    if (st == KEEL_OK) {
        free(cfg->config_path);
        cfg->config_path = copy;
        copy = NULL;
    }
    free(copy);
    free(dir);
    free(text);
    return st;
}

/* ---- command line -------------------------------------------------------- */

const char *keel_base_config_usage(void)
{
    return "usage: keeld --work-dir DIR [--socket PATH] [--config FILE] [--log-level LEVEL]\n"
           "             [--http 127.0.0.1:PORT --http-token TOKEN] [--help] [--version]\n"
           "\n"
           "Runs a keel base in the foreground: loads the modules deployed in DIR, serves the\n"
           "admin socket (default DIR/keeld.sock), logs to stderr. SIGTERM or SIGINT stops it.\n"
           "\n"
           "  --work-dir DIR     state, bundles and module files (required, here or in FILE)\n"
           "  --socket PATH      the admin socket (mode 0600)\n"
           "  --config FILE      a JSON configuration file; the flags override it\n"
           "  --log-level LEVEL  debug, info, warn or error\n"
           "  --http ADDR:PORT   serve the HTTP admin API on a loopback address\n"
           "  --http-token TOK   the bearer token HTTP requests must carry (16+ characters)\n"
           "  --help, --version  print this help or the version and exit\n";
}

typedef struct config_flags {
    const char *work_dir, *socket, *config, *log_level, *http, *http_token;
    keel_config_action action;
} config_flags;

/* Matches "--name VALUE" or "--name=VALUE"; advances *i past the value. */
static int config_flag_value(char *const *argv, int argc, int *i, const char *name,
                             const char **value, keel_error *err, keel_status *st)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        *st = keel_error_set(err, KEEL_ERR_INVALID, "%s needs a value (see keeld --help)", name);
        return 1;
    }
    if ((*value)[0] == '\0')
        *st = keel_error_set(err, KEEL_ERR_INVALID, "%s needs a non-empty value", name);
    return 1;
}

static keel_status config_scan_flags(int argc, char *const *argv, config_flags *f, keel_error *err)
{
    memset(f, 0, sizeof *f);
    for (int i = 1; i < argc; i++) {
        keel_status st = KEEL_OK;
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            f->action = KEEL_CONFIG_HELP;
            return KEEL_OK;
        }
        if (strcmp(arg, "--version") == 0) {
            f->action = KEEL_CONFIG_VERSION;
            return KEEL_OK;
        }
        if (!config_flag_value(argv, argc, &i, "--work-dir", &f->work_dir, err, &st) &&
            !config_flag_value(argv, argc, &i, "--socket", &f->socket, err, &st) &&
            !config_flag_value(argv, argc, &i, "--config", &f->config, err, &st) &&
            !config_flag_value(argv, argc, &i, "--log-level", &f->log_level, err, &st) &&
            !config_flag_value(argv, argc, &i, "--http-token", &f->http_token, err, &st) &&
            !config_flag_value(argv, argc, &i, "--http", &f->http, err, &st)) {
            char quoted[CONFIG_QUOTE_MAX * 4 + 8];
            keel_error_quote(quoted, sizeof quoted, arg, CONFIG_QUOTE_MAX);
            return keel_error_set(err, KEEL_ERR_INVALID, "unknown argument \"%s\" (see keeld --help)",
                                  quoted);
        }
        if (st != KEEL_OK)
            return st;
    }
    return KEEL_OK;
}

static keel_status config_replace(char **field, const char *value, keel_error *err)
{
    if (value == NULL)
        return KEEL_OK;
    char *copy = strdup(value);
    if (copy == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    free(*field);
    *field = copy;
    return KEEL_OK;
}

/* Applies the flags over what the file gave. Errors are usage errors. */
static keel_status config_apply_flags(keel_base_config *cfg, const config_flags *f, keel_error *err)
{
    if (f->log_level != NULL) {
        int level = keel_log_level_parse(f->log_level);
        if (level < 0)
            return keel_error_set(err, KEEL_ERR_INVALID, "--log-level: \"%s\" is not a log level "
                                  "(expected debug, info, warn or error)", f->log_level);
        cfg->log_level = level;
    }
    if (f->http_token != NULL && strlen(f->http_token) < CONFIG_TOKEN_MIN)
        return keel_error_set(err, KEEL_ERR_INVALID, "--http-token: the token must have at least "
                              "%d characters", CONFIG_TOKEN_MIN);
    keel_status st = config_replace(&cfg->work_dir, f->work_dir, err);
    if (st == KEEL_OK)
        st = config_replace(&cfg->socket_path, f->socket, err);
    if (st == KEEL_OK)
        st = config_replace(&cfg->http_listen, f->http, err);
    if (st == KEEL_OK)
        st = config_replace(&cfg->http_token, f->http_token, err);
    if (st != KEEL_OK)
        return st;
    if (cfg->work_dir == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "--work-dir DIR is required (or \"work_dir\" "
                              "in the configuration file; see keeld --help)");
    if (cfg->http_listen != NULL && cfg->http_token == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "--http needs --http-token TOKEN (or "
                              "\"http.token\" in the configuration file)");
    if (cfg->http_listen == NULL && cfg->http_token != NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "--http-token is given but the HTTP admin API "
                              "is off; add --http 127.0.0.1:PORT");
    if (cfg->socket_path == NULL && asprintf(&cfg->socket_path, "%s/keeld.sock", cfg->work_dir) < 0) {
        cfg->socket_path = NULL;
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    }
    return KEEL_OK;
}

keel_status keel_base_config_from_args(keel_base_config *cfg, int argc, char *const *argv,
                                       keel_config_action *action, int *usage, keel_error *err)
{
    config_flags flags;
    int usage_error = 1;
    *action = KEEL_CONFIG_RUN;
    keel_status st = config_scan_flags(argc, argv, &flags, err);
    if (st == KEEL_OK && flags.action != KEEL_CONFIG_RUN) {
        *action = flags.action;
    } else if (st == KEEL_OK) {
        if (flags.config != NULL) {
            usage_error = 0;
            st = keel_base_config_load(cfg, flags.config, err);
        }
        if (st == KEEL_OK) {
            usage_error = 1;
            st = config_apply_flags(cfg, &flags, err);
        }
    }
    if (usage != NULL)
        *usage = st != KEEL_OK && usage_error;
    return st;
}

/*
 * manifest.json: parsed with cJSON, then validated field by field so that
 * every refusal tells the operator which field is wrong, what it holds and
 * what would be accepted.
 *
 * The parsed cJSON tree is kept alive inside the manifest: the accessors hand
 * out pointers into it, which keeps ownership in one place.
 */
#include <keel/manifest.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_NAME_MAX 64
#define MANIFEST_SCENE_MAX 64
#define MANIFEST_SERVICE_MAX 128
#define MANIFEST_SIGNATURE_MAX 256
#define MANIFEST_VERSION_MAX 128
#define MANIFEST_PATH_MAX 1024
#define MANIFEST_DEFAULT_SCENE "default"
#define MANIFEST_DEFAULT_PRIORITY 100
#define MANIFEST_DEFAULT_START_TIMEOUT_MS 5000
/* Longest excerpt of a found value quoted back in an error message. */
#define MANIFEST_QUOTE_MAX 48
/* Room for a field path such as services[12].signature or config.a.b[3]. */
#define MANIFEST_FIELD_MAX 160

struct keel_manifest {
    cJSON *root;
    const char *name;
    const char *version;
    const char *library;
    const char *libraries;
    int api;
    keel_isolation isolation;
    int priority;
    int start_timeout_ms;
    const char **scenes;
    size_t scene_count;
    keel_manifest_service *services;
    size_t service_count;
    keel_manifest_subscription *subscriptions;
    size_t subscription_count;
    keel_manifest_call *calls;
    size_t call_count;
    keel_manifest_requirement *requirements;
    size_t requirement_count;
    char *config_json;
    const char **config_keys;
    char **config_values;
    size_t config_count;
};

typedef struct manifest_parser {
    const char *origin;
    keel_error *err;
    keel_manifest *m;
} manifest_parser;

static const char *const manifest_top_fields[] = {
    "name", "version", "api", "library", "libraries", "isolation", "priority",
    "start_timeout_ms", "scenes", "services", "subscribes", "calls", "requires", "config", "build",
};

static const char *const manifest_service_fields[] = {"name", "scene", "signature", "symbol",
                                                      "properties"};
static const char *const manifest_call_fields[] = {"scene", "service", "topic"};
static const char *const manifest_subscription_fields[] = {"topic", "scene"};

/* ---- rendering found values for messages ------------------------------- */

/* snprintf for message fragments where cutting a long field path short is
 * the intended behaviour. */
__attribute__((format(printf, 3, 4)))
static void manifest_format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}


static void manifest_describe(char *buf, size_t size, const cJSON *item)
{
    if (cJSON_IsString(item)) {
        char text[MANIFEST_QUOTE_MAX * 4 + 8];
        keel_error_quote(text, sizeof text, item->valuestring, MANIFEST_QUOTE_MAX);
        snprintf(buf, size, "\"%s\"", text);
    } else if (cJSON_IsNumber(item)) {
        /* Shortest of %.15g/%.17g that reads back the same, as cJSON does. */
        snprintf(buf, size, "%.15g", item->valuedouble);
        if (strtod(buf, NULL) != item->valuedouble)
            snprintf(buf, size, "%.17g", item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        snprintf(buf, size, "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(buf, size, "null");
    } else if (cJSON_IsArray(item)) {
        snprintf(buf, size, "an array");
    } else if (cJSON_IsObject(item)) {
        snprintf(buf, size, "an object");
    } else {
        snprintf(buf, size, "an unreadable value");
    }
}

/* ---- errors ------------------------------------------------------------- */

/* `found` is the offending value already rendered for the message. */
static keel_status manifest_fail_text(const manifest_parser *p, const char *field,
                                      const char *found, const char *problem,
                                      const char *expected)
{
    return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                          "%s: manifest field \"%s\": %s %s (expected %s)",
                          p->origin, field, found, problem, expected);
}

static keel_status manifest_fail(const manifest_parser *p, const char *field, const cJSON *found,
                                 const char *problem, const char *expected)
{
    char value[MANIFEST_QUOTE_MAX * 4 + 16];
    manifest_describe(value, sizeof value, found);
    return manifest_fail_text(p, field, value, problem, expected);
}

static keel_status manifest_fail_missing(const manifest_parser *p, const char *field,
                                         const char *expected)
{
    return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                          "%s: manifest field \"%s\" is missing (expected %s)",
                          p->origin, field, expected);
}

static keel_status manifest_fail_nomem(const manifest_parser *p)
{
    return keel_error_set(p->err, KEEL_ERR_NOMEM, "%s: out of memory while reading the manifest",
                          p->origin);
}

/* ---- character-class checks ------------------------------------------- */

static bool manifest_is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool manifest_is_digit(char c) { return c >= '0' && c <= '9'; }

static bool manifest_is_id_char(char c)
{
    return manifest_is_lower(c) || manifest_is_digit(c) || (c >= 'A' && c <= 'Z') ||
           c == '_' || c == '.' || c == ':' || c == '-';
}

int keel_name_valid(const char *s)
{
    if (s == NULL || !manifest_is_lower(s[0]))
        return false;
    size_t n = 1;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!(manifest_is_lower(c) || manifest_is_digit(c) || c == '_' || c == '-'))
            return false;
    }
    return n <= MANIFEST_NAME_MAX;
}

/* [A-Za-z0-9_.:-]{1,max}: the alphabet of scene ids, service names and
 * topics. */
static bool manifest_valid_id(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!manifest_is_id_char(s[n]))
            return false;
    return n >= 1 && n <= max;
}

/* [A-Za-z_][A-Za-z0-9_]{0,127} */
static bool manifest_valid_symbol(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static bool manifest_valid_signature(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n >= 1 && n <= MANIFEST_SIGNATURE_MAX;
}

/* Returns NULL when `s` is a safe relative path inside the bundle, or the
 * problem with it. Empty and "." components are refused as well as ".."
 * because the bundle reader compares these paths with tar entry names,
 * which it stores in that canonical form. */
static const char *manifest_path_problem(const char *s)
{
    if (s[0] == '\0')
        return "is empty";
    if (s[0] == '/')
        return "is an absolute path";
    if (strlen(s) > MANIFEST_PATH_MAX)
        return "is too long";
    const char *c = s;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return "has a \"..\" component";
        if (len == 0 || (len == 1 && c[0] == '.'))
            return "has an empty or \".\" component";
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
                return "contains a control character";
        if (slash == NULL)
            return NULL;
        c = slash + 1;
    }
}

/* ---- duplicate keys ------------------------------------------------------ */

static int manifest_compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static keel_status manifest_check_duplicates(const manifest_parser *p, const cJSON *node,
                                             const char *path);

static keel_status manifest_check_children(const manifest_parser *p, const cJSON *node,
                                           const char *path)
{
    size_t index = 0;
    for (const cJSON *child = node->child; child != NULL; child = child->next, index++) {
        char sub[MANIFEST_FIELD_MAX];
        if (cJSON_IsObject(node)) {
            char key[MANIFEST_QUOTE_MAX * 4 + 8];
            keel_error_quote(key, sizeof key, child->string, MANIFEST_QUOTE_MAX);
            manifest_format(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        } else {
            snprintf(sub, sizeof sub, "%s[%zu]", path, index);
        }
        keel_status s = manifest_check_duplicates(p, child, sub);
        if (s != KEEL_OK)
            return s;
    }
    return KEEL_OK;
}

/* JSON leaves duplicate keys undefined and cJSON silently keeps the first, so
 * a manifest could say different things to different readers: refuse them
 * anywhere in the document. */
static keel_status manifest_check_duplicates(const manifest_parser *p, const cJSON *node,
                                             const char *path)
{
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return KEEL_OK;
    if (cJSON_IsObject(node)) {
        size_t count = (size_t)cJSON_GetArraySize(node);
        if (count > 1) {
            const char **keys = malloc(count * sizeof *keys);
            if (keys == NULL)
                return manifest_fail_nomem(p);
            size_t n = 0;
            for (const cJSON *child = node->child; child != NULL; child = child->next)
                keys[n++] = child->string;
            qsort(keys, n, sizeof *keys, manifest_compare_keys);
            const char *dup = NULL;
            for (size_t i = 1; i < n && dup == NULL; i++)
                if (strcmp(keys[i - 1], keys[i]) == 0)
                    dup = keys[i];
            if (dup != NULL) {
                char key[MANIFEST_QUOTE_MAX * 4 + 8];
                keel_error_quote(key, sizeof key, dup, MANIFEST_QUOTE_MAX);
                free(keys);
                return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                                      "%s: manifest field \"%s\": key \"%s\" appears twice "
                                      "(expected each key once)",
                                      p->origin, path[0] ? path : "(top level)", key);
            }
            free(keys);
        }
    }
    return manifest_check_children(p, node, path);
}

/* ---- unknown keys ---------------------------------------------------------- */

static bool manifest_key_known(const char *key, const char *const *known, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(key, known[i]) == 0)
            return true;
    return strncmp(key, "x-", 2) == 0;
}

/* `where` is the object's field path, "" for the top level. */
static keel_status manifest_check_known_keys(const manifest_parser *p, const cJSON *object,
                                             const char *where, const char *const *known,
                                             size_t count)
{
    for (const cJSON *child = object->child; child != NULL; child = child->next) {
        if (manifest_key_known(child->string, known, count))
            continue;
        char list[512];
        keel_error_join(list, sizeof list, known, count);
        char key[MANIFEST_QUOTE_MAX * 4 + 8];
        keel_error_quote(key, sizeof key, child->string, MANIFEST_QUOTE_MAX);
        return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                              "%s: manifest field \"%s%s%s\" is not a known field "
                              "(expected one of %s, or an extension named \"x-...\")",
                              p->origin, where, where[0] ? "." : "", key, list);
    }
    return KEEL_OK;
}

/* ---- typed field readers ------------------------------------------------ */

/* Reads an optional string field. *out stays as given when absent. */
static keel_status manifest_get_string(const manifest_parser *p, const cJSON *object,
                                       const char *key, const char *field, bool required,
                                       const char *expected, const char **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (item == NULL) {
        if (required)
            return manifest_fail_missing(p, field, expected);
        return KEEL_OK;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return manifest_fail(p, field, item, "is not a string", expected);
    *out = item->valuestring;
    return KEEL_OK;
}

static bool manifest_is_integer(const cJSON *item, int min, int max)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!(v >= (double)min && v <= (double)max))
        return false;
    return v == (double)(long long)v;
}

static keel_status manifest_get_int(const manifest_parser *p, const cJSON *object,
                                    const char *key, bool required, int min, int max,
                                    const char *expected, int *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    if (item == NULL)
        return required ? manifest_fail_missing(p, key, expected) : KEEL_OK;
    if (!cJSON_IsNumber(item))
        return manifest_fail(p, key, item, "is not an integer", expected);
    if (!manifest_is_integer(item, min, max)) {
        double v = item->valuedouble;
        /* Beyond 2^53 every double is a whole number. */
        bool whole = v >= 9007199254740992.0 || v <= -9007199254740992.0 ||
                     v == (double)(long long)v;
        return manifest_fail(p, key, item, whole ? "is out of range" : "is not an integer",
                             expected);
    }
    *out = (int)item->valuedouble;
    return KEEL_OK;
}

/* Returns the array or object at `key`, NULL when absent, with the type
 * checked. */
static keel_status manifest_get_container(const manifest_parser *p, const cJSON *object,
                                          const char *key, bool want_array,
                                          const char *expected, const cJSON **out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    *out = NULL;
    if (item == NULL)
        return KEEL_OK;
    if (want_array ? !cJSON_IsArray(item) : !cJSON_IsObject(item))
        return manifest_fail(p, key, item, want_array ? "is not an array" : "is not an object",
                             expected);
    *out = item;
    return KEEL_OK;
}

/* ---- individual fields ---------------------------------------------------- */

#define EXPECT_NAME "a name of 1 to 64 characters from [a-z0-9_-] starting with a letter, such as \"greeter\""
#define EXPECT_VERSION "MAJOR.MINOR.PATCH such as 1.2.0"
#define EXPECT_API "an integer >= 1 such as 1"
#define EXPECT_LIBRARY "a relative path without \"..\" such as \"greeter.so\""
#define EXPECT_LIBRARIES "a relative directory path without \"..\" such as \"lib\""
#define EXPECT_ISOLATION "\"shared\" or \"exclusive\""
#define EXPECT_PRIORITY "an integer from 0 to 1000"
#define EXPECT_TIMEOUT "an integer from 1 to 600000"
#define EXPECT_SCENE "a scene id of 1 to 64 characters from [A-Za-z0-9_.:-]"
#define EXPECT_SERVICE_NAME "a service name of 1 to 128 characters from [A-Za-z0-9_.:-]"
#define EXPECT_TOPIC "a topic of 1 to 128 characters from [A-Za-z0-9_.:-]"
#define EXPECT_SYMBOL "the name of a function the module exports (a C identifier)"
#define EXPECT_CALL_TARGET "a name or \"*\" (any)"
#define EXPECT_SIGNATURE "a signature of 1 to 256 printable ASCII characters such as \"i64(i64,str)\""
#define EXPECT_RANGE "a non-empty version range such as \">=1.2.0 <2.0.0\", \"^1.2\" or \"1.x || 2.0.0 - 2.3\""

static keel_status manifest_parse_name(const manifest_parser *p, const cJSON *root)
{
    keel_status s = manifest_get_string(p, root, "name", "name", true, EXPECT_NAME, &p->m->name);
    if (s != KEEL_OK)
        return s;
    if (!keel_name_valid(p->m->name))
        return manifest_fail(p, "name", cJSON_GetObjectItemCaseSensitive(root, "name"),
                             "is not a valid module name", EXPECT_NAME);
    return KEEL_OK;
}

static keel_status manifest_parse_version(const manifest_parser *p, const cJSON *root)
{
    keel_status s = manifest_get_string(p, root, "version", "version", true, EXPECT_VERSION,
                                        &p->m->version);
    if (s != KEEL_OK)
        return s;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (keel_semver_check(p->m->version) != KEEL_OK)
        return manifest_fail(p, "version", item, "is not a semantic version", EXPECT_VERSION);
    if (strlen(p->m->version) > MANIFEST_VERSION_MAX)
        return manifest_fail(p, "version", item, "is longer than 128 characters", EXPECT_VERSION);
    return KEEL_OK;
}

static keel_status manifest_parse_path(const manifest_parser *p, const cJSON *root,
                                       const char *key, bool required, const char *expected,
                                       const char **out)
{
    keel_status s = manifest_get_string(p, root, key, key, required, expected, out);
    if (s != KEEL_OK || *out == NULL)
        return s;
    const char *problem = manifest_path_problem(*out);
    if (problem != NULL)
        return manifest_fail(p, key, cJSON_GetObjectItemCaseSensitive(root, key), problem,
                             expected);
    return KEEL_OK;
}

static keel_status manifest_parse_isolation(const manifest_parser *p, const cJSON *root)
{
    const char *text = NULL;
    keel_status s = manifest_get_string(p, root, "isolation", "isolation", false,
                                        EXPECT_ISOLATION, &text);
    if (s != KEEL_OK)
        return s;
    p->m->isolation = KEEL_ISOLATION_SHARED;
    if (text == NULL || strcmp(text, "shared") == 0)
        return KEEL_OK;
    if (strcmp(text, "exclusive") == 0) {
        p->m->isolation = KEEL_ISOLATION_EXCLUSIVE;
        return KEEL_OK;
    }
    return manifest_fail(p, "isolation", cJSON_GetObjectItemCaseSensitive(root, "isolation"),
                         "is not an isolation mode", EXPECT_ISOLATION);
}

static keel_status manifest_parse_scenes(const manifest_parser *p, const cJSON *root)
{
    const cJSON *array = NULL;
    keel_status s = manifest_get_container(p, root, "scenes", true,
                                           "an array of scene ids such as [\"default\"]", &array);
    if (s != KEEL_OK || array == NULL)
        return s;
    size_t count = (size_t)cJSON_GetArraySize(array);
    if (count == 0)
        return KEEL_OK;
    p->m->scenes = calloc(count, sizeof *p->m->scenes);
    if (p->m->scenes == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = array->child; item != NULL; item = item->next, i++) {
        char field[MANIFEST_FIELD_MAX];
        snprintf(field, sizeof field, "scenes[%zu]", i);
        if (!cJSON_IsString(item))
            return manifest_fail(p, field, item, "is not a string", EXPECT_SCENE);
        if (!manifest_valid_id(item->valuestring, MANIFEST_SCENE_MAX))
            return manifest_fail(p, field, item, "is not a valid scene id", EXPECT_SCENE);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->m->scenes[j], item->valuestring) == 0)
                return manifest_fail(p, field, item, "is listed twice",
                                     "each scene listed once");
        p->m->scenes[i] = item->valuestring;
        p->m->scene_count = i + 1;
    }
    return KEEL_OK;
}

/* Reads the optional "scene" of a service or subscription object. */
static keel_status manifest_parse_item_scene(const manifest_parser *p, const cJSON *object,
                                             const char *prefix, const char **out)
{
    char field[MANIFEST_FIELD_MAX];
    snprintf(field, sizeof field, "%.*s.scene", (int)(sizeof field - 7), prefix);
    *out = MANIFEST_DEFAULT_SCENE;
    keel_status s = manifest_get_string(p, object, "scene", field, false, EXPECT_SCENE, out);
    if (s != KEEL_OK)
        return s;
    if (!manifest_valid_id(*out, MANIFEST_SCENE_MAX))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(object, "scene"),
                             "is not a valid scene id", EXPECT_SCENE);
    return KEEL_OK;
}

static keel_status manifest_parse_service(const manifest_parser *p, const cJSON *item,
                                          size_t index)
{
    char prefix[MANIFEST_FIELD_MAX];
    char field[MANIFEST_FIELD_MAX + 16];
    snprintf(prefix, sizeof prefix, "services[%zu]", index);
    if (!cJSON_IsObject(item))
        return manifest_fail(p, prefix, item, "is not an object",
                             "an object such as {\"name\": \"greet\", \"signature\": \"str(str)\"}");
    keel_status s = manifest_check_known_keys(p, item, prefix, manifest_service_fields,
                                              sizeof manifest_service_fields /
                                                  sizeof *manifest_service_fields);
    if (s != KEEL_OK)
        return s;
    keel_manifest_service *svc = &p->m->services[index];
    snprintf(field, sizeof field, "%s.name", prefix);
    s = manifest_get_string(p, item, "name", field, true, EXPECT_SERVICE_NAME, &svc->name);
    if (s != KEEL_OK)
        return s;
    if (!manifest_valid_id(svc->name, MANIFEST_SERVICE_MAX))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "name"),
                             "is not a valid service name", EXPECT_SERVICE_NAME);
    s = manifest_parse_item_scene(p, item, prefix, &svc->scene);
    if (s != KEEL_OK)
        return s;
    snprintf(field, sizeof field, "%s.signature", prefix);
    s = manifest_get_string(p, item, "signature", field, false, EXPECT_SIGNATURE,
                            &svc->signature);
    if (s != KEEL_OK)
        return s;
    if (svc->signature != NULL && !manifest_valid_signature(svc->signature))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "signature"),
                             "is not a valid signature", EXPECT_SIGNATURE);
    snprintf(field, sizeof field, "%s.symbol", prefix);
    s = manifest_get_string(p, item, "symbol", field, false, EXPECT_SYMBOL, &svc->symbol);
    if (s != KEEL_OK)
        return s;
    if (svc->symbol != NULL && !manifest_valid_symbol(svc->symbol))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "symbol"),
                             "is not a C identifier", EXPECT_SYMBOL);
    const cJSON *props = NULL;
    snprintf(field, sizeof field, "%s.properties", prefix);
    s = manifest_get_container(p, item, "properties", false,
                               "an object such as {\"idempotent\": true}", &props);
    if (s != KEEL_OK)
        return s;
    if (props != NULL && (svc->properties = cJSON_PrintUnformatted(props)) == NULL)
        return manifest_fail_nomem(p);
    for (size_t j = 0; j < index; j++) {
        const keel_manifest_service *other = &p->m->services[j];
        if (strcmp(other->name, svc->name) == 0 && strcmp(other->scene, svc->scene) == 0) {
            snprintf(field, sizeof field, "%s.name", prefix);
            return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "name"),
                                 "is declared twice in the same scene",
                                 "each service once per scene");
        }
    }
    return KEEL_OK;
}

static keel_status manifest_parse_services(const manifest_parser *p, const cJSON *root)
{
    const cJSON *array = NULL;
    keel_status s = manifest_get_container(p, root, "services", true,
                                           "an array of service objects", &array);
    if (s != KEEL_OK || array == NULL)
        return s;
    size_t count = (size_t)cJSON_GetArraySize(array);
    if (count == 0)
        return KEEL_OK;
    p->m->services = calloc(count, sizeof *p->m->services);
    if (p->m->services == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = array->child; item != NULL; item = item->next, i++) {
        s = manifest_parse_service(p, item, i);
        if (s != KEEL_OK)
            return s;
        p->m->service_count = i + 1;
    }
    return KEEL_OK;
}

static keel_status manifest_parse_subscription(const manifest_parser *p, const cJSON *item,
                                               size_t index)
{
    char prefix[MANIFEST_FIELD_MAX];
    char field[MANIFEST_FIELD_MAX + 16];
    snprintf(prefix, sizeof prefix, "subscribes[%zu]", index);
    if (!cJSON_IsObject(item))
        return manifest_fail(p, prefix, item, "is not an object",
                             "an object such as {\"topic\": \"orders.created\"}");
    keel_status s = manifest_check_known_keys(p, item, prefix, manifest_subscription_fields,
                                              sizeof manifest_subscription_fields /
                                                  sizeof *manifest_subscription_fields);
    if (s != KEEL_OK)
        return s;
    keel_manifest_subscription *sub = &p->m->subscriptions[index];
    snprintf(field, sizeof field, "%s.topic", prefix);
    s = manifest_get_string(p, item, "topic", field, true, EXPECT_TOPIC, &sub->topic);
    if (s != KEEL_OK)
        return s;
    if (!manifest_valid_id(sub->topic, MANIFEST_SERVICE_MAX))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "topic"),
                             "is not a valid topic", EXPECT_TOPIC);
    s = manifest_parse_item_scene(p, item, prefix, &sub->scene);
    if (s != KEEL_OK)
        return s;
    for (size_t j = 0; j < index; j++) {
        const keel_manifest_subscription *other = &p->m->subscriptions[j];
        if (strcmp(other->topic, sub->topic) == 0 && strcmp(other->scene, sub->scene) == 0)
            return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "topic"),
                                 "is subscribed twice in the same scene",
                                 "each topic once per scene");
    }
    return KEEL_OK;
}

static keel_status manifest_parse_subscriptions(const manifest_parser *p, const cJSON *root)
{
    const cJSON *array = NULL;
    keel_status s = manifest_get_container(p, root, "subscribes", true,
                                           "an array of subscription objects", &array);
    if (s != KEEL_OK || array == NULL)
        return s;
    size_t count = (size_t)cJSON_GetArraySize(array);
    if (count == 0)
        return KEEL_OK;
    p->m->subscriptions = calloc(count, sizeof *p->m->subscriptions);
    if (p->m->subscriptions == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = array->child; item != NULL; item = item->next, i++) {
        s = manifest_parse_subscription(p, item, i);
        if (s != KEEL_OK)
            return s;
        p->m->subscription_count = i + 1;
    }
    return KEEL_OK;
}

/* Reads "service" or "topic" of a calls entry: a name or "*". */
static keel_status manifest_parse_call_target(const manifest_parser *p, const cJSON *item,
                                              const char *prefix, const char *key,
                                              const char **out)
{
    char field[MANIFEST_FIELD_MAX + 16];
    snprintf(field, sizeof field, "%s.%s", prefix, key);
    keel_status s = manifest_get_string(p, item, key, field, false, EXPECT_CALL_TARGET, out);
    if (s == KEEL_OK && *out != NULL && strcmp(*out, "*") != 0 &&
        !manifest_valid_id(*out, MANIFEST_SERVICE_MAX))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, key),
                             "is not a valid name", EXPECT_CALL_TARGET);
    return s;
}

static keel_status manifest_parse_call(const manifest_parser *p, const cJSON *item, size_t index)
{
    char prefix[MANIFEST_FIELD_MAX];
    char field[MANIFEST_FIELD_MAX + 16];
    snprintf(prefix, sizeof prefix, "calls[%zu]", index);
    if (!cJSON_IsObject(item))
        return manifest_fail(p, prefix, item, "is not an object",
                             "an object such as {\"scene\": \"loud\", \"service\": \"shout\"}");
    keel_status s = manifest_check_known_keys(p, item, prefix, manifest_call_fields,
                                              sizeof manifest_call_fields / sizeof *manifest_call_fields);
    if (s != KEEL_OK)
        return s;
    keel_manifest_call *call = &p->m->calls[index];
    snprintf(field, sizeof field, "%.*s.scene", (int)(sizeof field - 7), prefix);
    s = manifest_get_string(p, item, "scene", field, true, EXPECT_SCENE, &call->scene);
    if (s != KEEL_OK)
        return s;
    if (!manifest_valid_id(call->scene, MANIFEST_SCENE_MAX))
        return manifest_fail(p, field, cJSON_GetObjectItemCaseSensitive(item, "scene"),
                             "is not a valid scene id", EXPECT_SCENE);
    s = manifest_parse_call_target(p, item, prefix, "service", &call->service);
    if (s == KEEL_OK)
        s = manifest_parse_call_target(p, item, prefix, "topic", &call->topic);
    if (s == KEEL_OK && call->service == NULL && call->topic == NULL)
        return manifest_fail_missing(p, prefix, "a \"service\" or a \"topic\" (a name or \"*\")");
    return s;
}

static keel_status manifest_parse_calls(const manifest_parser *p, const cJSON *root)
{
    const cJSON *array = NULL;
    keel_status s = manifest_get_container(p, root, "calls", true,
                                           "an array of {scene, service or topic} objects", &array);
    if (s != KEEL_OK || array == NULL)
        return s;
    size_t count = (size_t)cJSON_GetArraySize(array);
    if (count == 0)
        return KEEL_OK;
    p->m->calls = calloc(count, sizeof *p->m->calls);
    if (p->m->calls == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = array->child; item != NULL; item = item->next, i++) {
        s = manifest_parse_call(p, item, i);
        if (s != KEEL_OK)
            return s;
        p->m->call_count = i + 1;
    }
    return KEEL_OK;
}

/* The range checker's own message already quotes the range and points at
 * the problem; it is kept whole and framed like every other field error. */
static keel_status manifest_check_range(const manifest_parser *p, const char *field,
                                        const char *range)
{
    keel_error range_err;
    keel_error_clear(&range_err);
    if (keel_semver_range_check(range, &range_err) == KEEL_OK)
        return KEEL_OK;
    return keel_error_set(p->err, KEEL_ERR_MANIFEST, "%s: manifest field \"%s\": %s (expected %s)",
                          p->origin, field, range_err.message, EXPECT_RANGE);
}

static keel_status manifest_parse_requires(const manifest_parser *p, const cJSON *root)
{
    const cJSON *object = NULL;
    keel_status s = manifest_get_container(p, root, "requires", false,
                                           "an object mapping module names to version ranges",
                                           &object);
    if (s != KEEL_OK || object == NULL)
        return s;
    size_t count = (size_t)cJSON_GetArraySize(object);
    if (count == 0)
        return KEEL_OK;
    p->m->requirements = calloc(count, sizeof *p->m->requirements);
    if (p->m->requirements == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = object->child; item != NULL; item = item->next, i++) {
        char key[MANIFEST_QUOTE_MAX * 4 + 8];
        char field[MANIFEST_FIELD_MAX];
        keel_error_quote(key, sizeof key, item->string, MANIFEST_QUOTE_MAX);
        manifest_format(field, sizeof field, "requires.%s", key);
        if (!keel_name_valid(item->string)) {
            char quoted[sizeof key + 2];
            snprintf(quoted, sizeof quoted, "\"%s\"", key);
            return manifest_fail_text(p, field, quoted, "is not a valid module name",
                                      EXPECT_NAME);
        }
        if (!cJSON_IsString(item))
            return manifest_fail(p, field, item, "is not a string", EXPECT_RANGE);
        if (item->valuestring[0] == '\0')
            return manifest_fail(p, field, item, "is empty", EXPECT_RANGE);
        s = manifest_check_range(p, field, item->valuestring);
        if (s != KEEL_OK)
            return s;
        p->m->requirements[i].name = item->string;
        p->m->requirements[i].range = item->valuestring;
        p->m->requirement_count = i + 1;
    }
    return KEEL_OK;
}

/* Numbers, booleans, objects and arrays are rendered as compact JSON; strings
 * are handed out as they are, which is what a module reading a setting
 * wants. */
static char *manifest_render_config_value(const cJSON *item)
{
    if (cJSON_IsString(item))
        return strdup(item->valuestring);
    return cJSON_PrintUnformatted(item);
}

static keel_status manifest_parse_config(const manifest_parser *p, const cJSON *root)
{
    const cJSON *object = NULL;
    keel_status s = manifest_get_container(p, root, "config", false,
                                           "an object such as {\"greeting\": \"hello\"}", &object);
    if (s != KEEL_OK)
        return s;
    p->m->config_json = object ? cJSON_PrintUnformatted(object) : strdup("{}");
    if (p->m->config_json == NULL)
        return manifest_fail_nomem(p);
    if (object == NULL)
        return KEEL_OK;
    size_t count = (size_t)cJSON_GetArraySize(object);
    if (count == 0)
        return KEEL_OK;
    p->m->config_keys = calloc(count, sizeof *p->m->config_keys);
    p->m->config_values = calloc(count, sizeof *p->m->config_values);
    if (p->m->config_keys == NULL || p->m->config_values == NULL)
        return manifest_fail_nomem(p);
    size_t i = 0;
    for (const cJSON *item = object->child; item != NULL; item = item->next, i++) {
        p->m->config_keys[i] = item->string;
        p->m->config_values[i] = manifest_render_config_value(item);
        p->m->config_count = i + 1;
        if (p->m->config_values[i] == NULL)
            return manifest_fail_nomem(p);
    }
    return KEEL_OK;
}

static keel_status manifest_parse_build(const manifest_parser *p, const cJSON *root)
{
    const cJSON *object = NULL;
    return manifest_get_container(p, root, "build", false,
                                  "an object describing how the module was built", &object);
}

static keel_status manifest_parse_fields(const manifest_parser *p, const cJSON *root)
{
    keel_manifest *m = p->m;
    m->priority = MANIFEST_DEFAULT_PRIORITY;
    m->start_timeout_ms = MANIFEST_DEFAULT_START_TIMEOUT_MS;
    keel_status s = manifest_check_known_keys(p, root, "", manifest_top_fields,
                                              sizeof manifest_top_fields /
                                                  sizeof *manifest_top_fields);
    if (s == KEEL_OK)
        s = manifest_parse_name(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_version(p, root);
    if (s == KEEL_OK)
        s = manifest_get_int(p, root, "api", true, 1, INT_MAX, EXPECT_API, &m->api);
    if (s == KEEL_OK)
        s = manifest_parse_path(p, root, "library", true, EXPECT_LIBRARY, &m->library);
    if (s == KEEL_OK)
        s = manifest_parse_path(p, root, "libraries", false, EXPECT_LIBRARIES, &m->libraries);
    if (s == KEEL_OK)
        s = manifest_parse_isolation(p, root);
    if (s == KEEL_OK)
        s = manifest_get_int(p, root, "priority", false, 0, 1000, EXPECT_PRIORITY, &m->priority);
    if (s == KEEL_OK)
        s = manifest_get_int(p, root, "start_timeout_ms", false, 1, 600000, EXPECT_TIMEOUT,
                             &m->start_timeout_ms);
    if (s == KEEL_OK)
        s = manifest_parse_scenes(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_services(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_subscriptions(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_calls(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_requires(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_config(p, root);
    if (s == KEEL_OK)
        s = manifest_parse_build(p, root);
    return s;
}

/* ---- JSON text ------------------------------------------------------------ */

static void manifest_locate(const char *json, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (json[i] == '\n') {
            (*line)++;
            *column = 1;
        } else {
            (*column)++;
        }
    }
}

static keel_status manifest_fail_syntax(const manifest_parser *p, const char *json, size_t size,
                                        size_t offset, const char *problem)
{
    size_t line, column;
    if (offset > size)
        offset = size;
    manifest_locate(json, offset, &line, &column);
    return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                          "%s: manifest is not valid JSON: %s at line %zu, column %zu "
                          "(expected a JSON object)",
                          p->origin, problem, line, column);
}

/* JSON forbids raw control characters; refusing them before cJSON sees the
 * text also keeps embedded NUL bytes from silently truncating strings. */
static keel_status manifest_check_bytes(const manifest_parser *p, const char *json, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)json[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            char problem[64];
            snprintf(problem, sizeof problem, "control byte 0x%02x", c);
            return manifest_fail_syntax(p, json, size, i, problem);
        }
    }
    return KEEL_OK;
}

static keel_status manifest_parse_json(const manifest_parser *p, const char *json, size_t size,
                                       cJSON **root)
{
    *root = NULL;
    if (size == 0)
        return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                              "%s: manifest is empty (expected a JSON object)", p->origin);
    keel_status s = manifest_check_bytes(p, json, size);
    if (s != KEEL_OK)
        return s;
    const char *end = NULL;
    cJSON *parsed = cJSON_ParseWithLengthOpts(json, size, &end, false);
    if (parsed == NULL) {
        size_t offset = end != NULL && end >= json ? (size_t)(end - json) : 0;
        return manifest_fail_syntax(p, json, size, offset, "syntax error");
    }
    size_t offset = (size_t)(end - json);
    while (offset < size && (json[offset] == ' ' || json[offset] == '\t' ||
                             json[offset] == '\n' || json[offset] == '\r'))
        offset++;
    if (offset < size) {
        cJSON_Delete(parsed);
        return manifest_fail_syntax(p, json, size, offset, "unexpected text after the object");
    }
    if (!cJSON_IsObject(parsed)) {
        char found[MANIFEST_QUOTE_MAX * 4 + 16];
        manifest_describe(found, sizeof found, parsed);
        cJSON_Delete(parsed);
        return keel_error_set(p->err, KEEL_ERR_MANIFEST,
                              "%s: manifest is %s (expected a JSON object)", p->origin, found);
    }
    *root = parsed;
    return KEEL_OK;
}

/* ---- public ----------------------------------------------------------------- */

keel_status keel_manifest_parse(const char *json, size_t size, const char *origin,
                                keel_manifest **out, keel_error *err)
{
    if (out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "keel_manifest_parse: out is NULL");
    *out = NULL;
    if (origin == NULL)
        origin = "manifest";
    if (json == NULL && size > 0)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: manifest text is NULL", origin);
    manifest_parser p = {origin, err, calloc(1, sizeof(keel_manifest))};
    if (p.m == NULL)
        return manifest_fail_nomem(&p);
    keel_status s = manifest_parse_json(&p, json, size, &p.m->root);
    if (s == KEEL_OK)
        s = manifest_check_duplicates(&p, p.m->root, "");
    if (s == KEEL_OK)
        s = manifest_parse_fields(&p, p.m->root);
    if (s != KEEL_OK) {
        keel_manifest_destroy(p.m);
        return s;
    }
    *out = p.m;
    return KEEL_OK;
}

void keel_manifest_destroy(keel_manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->config_count; i++)
        free(m->config_values[i]);
    free(m->config_values);
    free(m->config_keys);
    free(m->config_json);
    free(m->requirements);
    free(m->subscriptions);
    free(m->calls);
    for (size_t i = 0; i < m->service_count; i++)
        cJSON_free((char *)m->services[i].properties);
    free(m->services);
    free(m->scenes);
    cJSON_Delete(m->root);
    free(m);
}

const char *keel_manifest_name(const keel_manifest *m) { return m->name; }
const char *keel_manifest_version(const keel_manifest *m) { return m->version; }
int keel_manifest_api(const keel_manifest *m) { return m->api; }
const char *keel_manifest_library(const keel_manifest *m) { return m->library; }
const char *keel_manifest_libraries(const keel_manifest *m) { return m->libraries; }
keel_isolation keel_manifest_isolation(const keel_manifest *m) { return m->isolation; }
int keel_manifest_priority(const keel_manifest *m) { return m->priority; }
int keel_manifest_start_timeout_ms(const keel_manifest *m) { return m->start_timeout_ms; }
size_t keel_manifest_scene_count(const keel_manifest *m) { return m->scene_count; }

const char *keel_manifest_scene(const keel_manifest *m, size_t i)
{
    return i < m->scene_count ? m->scenes[i] : NULL;
}

size_t keel_manifest_service_count(const keel_manifest *m) { return m->service_count; }

const keel_manifest_service *keel_manifest_service_at(const keel_manifest *m, size_t i)
{
    return i < m->service_count ? &m->services[i] : NULL;
}

size_t keel_manifest_subscription_count(const keel_manifest *m) { return m->subscription_count; }

const keel_manifest_subscription *keel_manifest_subscription_at(const keel_manifest *m, size_t i)
{
    return i < m->subscription_count ? &m->subscriptions[i] : NULL;
}

size_t keel_manifest_call_count(const keel_manifest *m) { return m->call_count; }

const keel_manifest_call *keel_manifest_call_at(const keel_manifest *m, size_t i)
{
    return i < m->call_count ? &m->calls[i] : NULL;
}

size_t keel_manifest_requirement_count(const keel_manifest *m) { return m->requirement_count; }

const keel_manifest_requirement *keel_manifest_requirement_at(const keel_manifest *m, size_t i)
{
    return i < m->requirement_count ? &m->requirements[i] : NULL;
}

const char *keel_manifest_config_json(const keel_manifest *m) { return m->config_json; }

const char *keel_manifest_config_get(const keel_manifest *m, const char *key)
{
    if (key == NULL)
        return NULL;
    for (size_t i = 0; i < m->config_count; i++)
        if (strcmp(m->config_keys[i], key) == 0)
            return m->config_values[i];
    return NULL;
}

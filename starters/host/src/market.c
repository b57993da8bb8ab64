/* The starter market index: see keel/market.h. */
#include <keel/market.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <keel/file.h>
#include <keel/manifest.h>
#include <keel/schema.h>

#define MARKET_FILE_MAX (64u << 20)

typedef struct market_entry_store {
    keel_market_entry pub;
    keel_market_version *versions;
} market_entry_store;

struct keel_market {
    char *path;
    market_entry_store *entries;
    size_t count;
};

keel_market *keel_market_empty(void)
{
    keel_market *m = calloc(1, sizeof *m);
    if (m && !(m->path = strdup(""))) {
        free(m);
        return NULL;
    }
    return m;
}

void keel_market_destroy(keel_market *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++) {
        market_entry_store *e = &m->entries[i];
        for (size_t j = 0; j < e->pub.version_count; j++) {
            free((char *)e->versions[j].version);
            free((char *)e->versions[j].library);
            free((char *)e->versions[j].module_api);
            free((char *)e->versions[j].config_schema);
        }
        free(e->versions);
        free((char *)e->pub.name);
        free((char *)e->pub.description);
        free((char *)e->pub.owner);
        free((char *)e->pub.tags);
    }
    free(m->entries);
    free(m->path);
    free(m);
}

static char *read_file(const char *path, size_t *size, keel_error *err)
{
    char *text = NULL;
    int error = keel_file_read(path, MARKET_FILE_MAX, &text, size);
    if (error == EFBIG || error == ENOMEM)
        keel_error_set(err, KEEL_ERR_LIMIT, "market index %s: too large or out of memory", path);
    else if (error != 0)
        keel_error_set(err, error == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, "market index %s: %s",
                       path, strerror(error));
    return text;
}

/* A string member; NULL (and an error) when missing or not a string. */
static const char *req_string(const cJSON *obj, const char *key, const char *where, keel_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsString(v) && v->valuestring[0])
        return v->valuestring;
    keel_error_set(err, KEEL_ERR_INVALID, "%s.%s: expected a non-empty string", where, key);
    return NULL;
}

static int cmp_versions(const void *a, const void *b)
{
    return keel_semver_compare(((const keel_market_version *)a)->version,
                               ((const keel_market_version *)b)->version);
}

static keel_status parse_version(const cJSON *v, const char *dir, const char *where,
                                 keel_market_version *out, keel_error *err)
{
    if (!cJSON_IsObject(v))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: expected an object", where);
    const char *version = req_string(v, "version", where, err);
    const char *library = version ? req_string(v, "library", where, err) : NULL;
    if (!library)
        return KEEL_ERR_INVALID;
    if (keel_semver_check(version) != KEEL_OK)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.version: \"%s\" is not a semantic version",
                              where, version);
    const cJSON *api = cJSON_GetObjectItemCaseSensitive(v, "module_api");
    const char *api_range = ">=1";
    if (api) {
        keel_error rerr = {0};
        if (!cJSON_IsString(api) || keel_semver_range_check(api->valuestring, &rerr) != KEEL_OK)
            return keel_error_set(err, KEEL_ERR_INVALID, "%s.module_api: %s", where,
                                  cJSON_IsString(api) ? rerr.message : "expected a version range");
        api_range = api->valuestring;
    }
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(v, "config_schema");
    if (schema) {
        keel_error serr = {0};
        if (keel_schema_check(schema, &serr) != KEEL_OK)
            return keel_error_set(err, KEEL_ERR_INVALID, "%s.config_schema: %s", where, serr.message);
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        if (strcmp(m->string, "version") && strcmp(m->string, "library") &&
            strcmp(m->string, "module_api") && strcmp(m->string, "config_schema") &&
            strcmp(m->string, "changes") && strncmp(m->string, "x-", 2))
            return keel_error_set(err, KEEL_ERR_INVALID,
                                  "%s: unknown field \"%s\" (expected version, library, module_api, "
                                  "config_schema, changes)", where, m->string);
        if (strcmp(m->string, "changes") == 0 && !cJSON_IsString(m))
            return keel_error_set(err, KEEL_ERR_INVALID, "%s.changes: expected a string (what this "
                                  "version changes)", where);
    }
    char lib[PATH_MAX];
    int n = library[0] == '/' ? snprintf(lib, sizeof lib, "%s", library)
                              : snprintf(lib, sizeof lib, "%s/%s", dir, library);
    if (n < 0 || (size_t)n >= sizeof lib)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.library: path too long", where);
    out->version = strdup(version);
    out->library = strdup(lib);
    out->module_api = strdup(api_range);
    out->config_schema = schema ? cJSON_PrintUnformatted(schema) : NULL;
    if (!out->version || !out->library || !out->module_api || (schema && !out->config_schema))
        return keel_error_set(err, KEEL_ERR_NOMEM, "%s: out of memory", where);
    return KEEL_OK;
}

static keel_status parse_entry(keel_market *m, const cJSON *e, const char *dir, size_t idx,
                               keel_error *err)
{
    char where[64];
    snprintf(where, sizeof where, "starters[%zu]", idx);
    if (!cJSON_IsObject(e))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: expected an object", where);
    const char *name = req_string(e, "name", where, err);
    if (!name)
        return KEEL_ERR_INVALID;
    if (!keel_name_valid(name))
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "%s.name: \"%s\" is not a valid name ([a-z][a-z0-9_-]{0,63})", where, name);
    if (keel_market_find(m, name))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.name: \"%s\" is listed twice", where, name);
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(e, "description");
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(e, "owner");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "tags");
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(e, "versions");
    if (desc && !cJSON_IsString(desc))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.description: expected a string", where);
    if (owner && !cJSON_IsString(owner))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.owner: expected a string", where);
    if (tags && !cJSON_IsArray(tags))
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.tags: expected an array of strings", where);
    const cJSON *t;
    cJSON_ArrayForEach(t, tags)
        if (!cJSON_IsString(t))
            return keel_error_set(err, KEEL_ERR_INVALID, "%s.tags: expected an array of strings",
                                  where);
    if (!cJSON_IsArray(versions) || cJSON_GetArraySize(versions) == 0)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s.versions: expected a non-empty array", where);
    market_entry_store *s = &m->entries[m->count];
    memset(s, 0, sizeof *s);
    size_t nv = (size_t)cJSON_GetArraySize(versions);
    s->versions = calloc(nv, sizeof *s->versions);
    s->pub.name = strdup(name);
    s->pub.description = strdup(desc ? desc->valuestring : "");
    s->pub.owner = strdup(owner ? owner->valuestring : "");
    s->pub.tags = tags ? cJSON_PrintUnformatted(tags) : strdup("[]");
    m->count++; /* owned by the market from here: destroy frees partial entries */
    if (!s->versions || !s->pub.name || !s->pub.description || !s->pub.owner || !s->pub.tags)
        return keel_error_set(err, KEEL_ERR_NOMEM, "%s: out of memory", where);
    const cJSON *v;
    cJSON_ArrayForEach(v, versions) {
        char vwhere[96];
        snprintf(vwhere, sizeof vwhere, "%s.versions[%zu]", where, s->pub.version_count);
        keel_market_version *out = &s->versions[s->pub.version_count++];
        keel_status st = parse_version(v, dir, vwhere, out, err);
        if (st != KEEL_OK)
            return st;
        for (size_t j = 0; j + 1 < s->pub.version_count; j++)
            if (keel_semver_compare(s->versions[j].version, out->version) == 0)
                return keel_error_set(err, KEEL_ERR_INVALID, "%s.version: %s is listed twice", vwhere,
                                      out->version);
    }
    qsort(s->versions, s->pub.version_count, sizeof *s->versions, cmp_versions);
    s->pub.versions = s->versions;
    return KEEL_OK;
}

keel_status keel_market_load(const char *path, keel_market **out, keel_error *err)
{
    *out = NULL;
    size_t size = 0;
    char *text = read_file(path, &size, err);
    if (!text)
        return err ? err->status : KEEL_ERR_IO;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        free(text);
        return keel_error_set(err, KEEL_ERR_INVALID, "market index %s: malformed JSON near byte %zu",
                              path, at);
    }
    free(text);
    keel_market *m = calloc(1, sizeof *m);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    keel_status st = KEEL_OK;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "starters");
    if (!m || !(m->path = strdup(path))) {
        st = keel_error_set(err, KEEL_ERR_NOMEM, "market index %s: out of memory", path);
    } else if (!cJSON_IsObject(root) || !cJSON_IsArray(list)) {
        st = keel_error_set(err, KEEL_ERR_INVALID,
                            "market index %s: expected an object with a \"starters\" array", path);
    } else {
        size_t n = (size_t)cJSON_GetArraySize(list);
        m->entries = calloc(n ? n : 1, sizeof *m->entries);
        if (!m->entries)
            st = keel_error_set(err, KEEL_ERR_NOMEM, "market index %s: out of memory", path);
        size_t i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, list) {
            if (st != KEEL_OK)
                break;
            if ((st = parse_entry(m, e, dir, i++, err)) != KEEL_OK)
                keel_error_prefix(err, "market index %s", path);
        }
    }
    cJSON_Delete(root);
    if (st != KEEL_OK) {
        keel_market_destroy(m);
        return st;
    }
    *out = m;
    return KEEL_OK;
}

const char *keel_market_path(const keel_market *m) { return m->path; }
size_t keel_market_count(const keel_market *m) { return m->count; }

const keel_market_entry *keel_market_at(const keel_market *m, size_t i)
{
    return i < m->count ? &m->entries[i].pub : NULL;
}

const keel_market_entry *keel_market_find(const keel_market *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->entries[i].pub.name, name) == 0)
            return &m->entries[i].pub;
    return NULL;
}

const keel_market_version *keel_market_best(const keel_market_entry *entry, const char *range)
{
    for (size_t i = entry->version_count; i-- > 0;) {
        const keel_market_version *v = &entry->versions[i];
        if (!range || !*range || keel_semver_range_match(range, v->version))
            return v;
    }
    return NULL;
}

const char *keel_market_version_list(const keel_market_entry *entry, char *buf, size_t size)
{
    const char *names[64];
    size_t n = entry->version_count < 64 ? entry->version_count : 64;
    for (size_t i = 0; i < n; i++)
        names[i] = entry->versions[i].version;
    return keel_error_join(buf, size, names, n);
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return n == 0;
}

int keel_market_entry_matches(const keel_market_entry *entry, const char *word)
{
    return contains_ci(entry->name, word) || contains_ci(entry->description, word) ||
           contains_ci(entry->owner, word) || contains_ci(entry->tags, word);
}

/* Configuration schemas: see keel/schema.h. */
#include <keel/schema.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {"object", "string", "integer", "number", "boolean",
                                         "array"};
static const char *const keywords[] = {"type", "properties", "required", "additionalProperties",
                                       "enum", "minimum", "maximum", "minLength", "maxLength",
                                       "items", "description", "default"};

static int known(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    return 0;
}

static void path_join(char *out, size_t size, const char *path, const char *key)
{
    snprintf(out, size, "%s%s%s", path, *path ? "." : "", key);
}

static keel_status check_at(const cJSON *schema, const char *path, keel_error *err)
{
    if (!cJSON_IsObject(schema))
        return keel_error_set(err, KEEL_ERR_INVALID, "schema at \"%s\": expected an object",
                              *path ? path : "(root)");
    const cJSON *kw;
    cJSON_ArrayForEach(kw, schema) {
        const char *k = kw->string;
        char where[512];
        path_join(where, sizeof where, path, k);
        if (!known(k, keywords, sizeof keywords / sizeof *keywords))
            return keel_error_set(err, KEEL_ERR_INVALID,
                                  "schema keyword \"%s\" is not supported (use type, properties, "
                                  "required, additionalProperties, enum, minimum, maximum, "
                                  "minLength, maxLength, items, description, default)", where);
        if (strcmp(k, "type") == 0) {
            const cJSON *t;
            if (cJSON_IsString(kw)) {
                if (!known(kw->valuestring, type_names, 6))
                    return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": unknown type \"%s\"",
                                          where, kw->valuestring);
            } else if (cJSON_IsArray(kw) && cJSON_GetArraySize(kw) > 0) {
                cJSON_ArrayForEach(t, kw)
                    if (!cJSON_IsString(t) || !known(t->valuestring, type_names, 6))
                        return keel_error_set(err, KEEL_ERR_INVALID,
                                              "schema \"%s\": unknown type in the list", where);
            } else {
                return keel_error_set(err, KEEL_ERR_INVALID,
                                      "schema \"%s\": expected a type name or a list of them", where);
            }
        } else if (strcmp(k, "properties") == 0) {
            if (!cJSON_IsObject(kw))
                return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": expected an object", where);
            const cJSON *p;
            cJSON_ArrayForEach(p, kw) {
                char sub[512];
                path_join(sub, sizeof sub, path, p->string);
                keel_status st = check_at(p, sub, err);
                if (st != KEEL_OK)
                    return st;
            }
        } else if (strcmp(k, "items") == 0) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[]", path);
            keel_status st = check_at(kw, sub, err);
            if (st != KEEL_OK)
                return st;
        } else if (strcmp(k, "required") == 0 || strcmp(k, "enum") == 0) {
            if (!cJSON_IsArray(kw))
                return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": expected an array", where);
            if (strcmp(k, "required") == 0) {
                const cJSON *r;
                cJSON_ArrayForEach(r, kw)
                    if (!cJSON_IsString(r))
                        return keel_error_set(err, KEEL_ERR_INVALID,
                                              "schema \"%s\": expected property names", where);
            }
        } else if (strcmp(k, "additionalProperties") == 0) {
            if (!cJSON_IsBool(kw))
                return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": expected true or false",
                                      where);
        } else if (strcmp(k, "description") == 0) {
            if (!cJSON_IsString(kw))
                return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": expected a string", where);
        } else if (strcmp(k, "default") != 0) {
            if (!cJSON_IsNumber(kw))
                return keel_error_set(err, KEEL_ERR_INVALID, "schema \"%s\": expected a number", where);
        }
    }
    return KEEL_OK;
}

keel_status keel_schema_check(const cJSON *schema, keel_error *err)
{
    return check_at(schema, "", err);
}

static int is_integer(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && floor(v->valuedouble) == v->valuedouble;
}

static int type_is(const cJSON *v, const char *t)
{
    if (strcmp(t, "object") == 0)
        return cJSON_IsObject(v);
    if (strcmp(t, "array") == 0)
        return cJSON_IsArray(v);
    if (strcmp(t, "string") == 0)
        return cJSON_IsString(v);
    if (strcmp(t, "boolean") == 0)
        return cJSON_IsBool(v);
    if (strcmp(t, "integer") == 0)
        return is_integer(v);
    return cJSON_IsNumber(v);
}

/* The value, quoted and cut, for messages. */
static const char *show(const cJSON *v, char *buf, size_t size)
{
    if (cJSON_IsString(v)) {
        char quoted[128];
        keel_error_quote(quoted, sizeof quoted, v->valuestring, 60);
        snprintf(buf, size, "\"%.*s\"", (int)(size > 3 ? size - 3 : 0), quoted);
        return buf;
    }
    char *text = cJSON_PrintUnformatted(v);
    keel_error_quote(buf, size, text ? text : "?", 60);
    cJSON_free(text);
    return buf;
}

static keel_status fail(keel_error *err, const char *what, const char *path, const cJSON *v,
                        const char *fmt, const char *detail)
{
    char got[160];
    char expected[256];
    snprintf(expected, sizeof expected, fmt, detail);
    if (!*path)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: config: expected %s, got %s", what,
                              expected, show(v, got, sizeof got));
    return keel_error_set(err, KEEL_ERR_INVALID, "%s: config field \"%s\": expected %s, got %s",
                          what, path, expected, show(v, got, sizeof got));
}

static keel_status validate_at(const cJSON *schema, const cJSON *v, const char *what,
                               const char *path, keel_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (cJSON_IsString(type) && !type_is(v, type->valuestring)) {
        const char *article = strchr("aeiou", type->valuestring[0]) ? "an" : "a";
        char expected[64];
        snprintf(expected, sizeof expected, "%s %s", article, type->valuestring);
        return fail(err, what, path, v, "%s", expected);
    }
    if (cJSON_IsArray(type)) {
        const cJSON *t;
        int ok = 0;
        cJSON_ArrayForEach(t, type) ok |= type_is(v, t->valuestring);
        if (!ok) {
            char *list = cJSON_PrintUnformatted(type);
            keel_status st = fail(err, what, path, v, "one of the types %s", list ? list : "?");
            cJSON_free(list);
            return st;
        }
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (cJSON_IsArray(en)) {
        const cJSON *e;
        int ok = 0;
        cJSON_ArrayForEach(e, en) ok |= cJSON_Compare(e, v, 1);
        if (!ok) {
            char *list = cJSON_PrintUnformatted(en);
            keel_status st = fail(err, what, path, v, "one of %s", list ? list : "?");
            cJSON_free(list);
            return st;
        }
    }
    char detail[64];
    if (cJSON_IsNumber(v)) {
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
        if (cJSON_IsNumber(min) && v->valuedouble < min->valuedouble) {
            snprintf(detail, sizeof detail, "%.17g", min->valuedouble);
            return fail(err, what, path, v, "a number >= %s", detail);
        }
        if (cJSON_IsNumber(max) && v->valuedouble > max->valuedouble) {
            snprintf(detail, sizeof detail, "%.17g", max->valuedouble);
            return fail(err, what, path, v, "a number <= %s", detail);
        }
    }
    if (cJSON_IsString(v)) {
        const cJSON *minl = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
        const cJSON *maxl = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
        double len = (double)strlen(v->valuestring);
        if (cJSON_IsNumber(minl) && len < minl->valuedouble) {
            snprintf(detail, sizeof detail, "%.0f", minl->valuedouble);
            return fail(err, what, path, v, "a string of at least %s characters", detail);
        }
        if (cJSON_IsNumber(maxl) && len > maxl->valuedouble) {
            snprintf(detail, sizeof detail, "%.0f", maxl->valuedouble);
            return fail(err, what, path, v, "a string of at most %s characters", detail);
        }
    }
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
        const cJSON *r;
        cJSON_ArrayForEach(r, req) {
            if (!cJSON_IsString(r) || cJSON_GetObjectItemCaseSensitive(v, r->valuestring))
                continue;
            char sub[512];
            path_join(sub, sizeof sub, path, r->valuestring);
            return keel_error_set(err, KEEL_ERR_INVALID, "%s: config field \"%s\" is required", what,
                                  sub);
        }
        const cJSON *extra = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
        const cJSON *m;
        cJSON_ArrayForEach(m, v) {
            char sub[512];
            path_join(sub, sizeof sub, path, m->string);
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            if (ps == NULL) {
                if (cJSON_IsFalse(extra)) {
                    char names[256] = "";
                    const cJSON *p;
                    size_t used = 0;
                    cJSON_ArrayForEach(p, props) {
                        int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "",
                                         p->string);
                        if (n < 0 || (size_t)n >= sizeof names - used)
                            break;
                        used += (size_t)n;
                    }
                    return keel_error_set(err, KEEL_ERR_INVALID,
                                          "%s: config field \"%s\" is not known (known: %s)", what,
                                          sub, names);
                }
                continue;
            }
            keel_status st = validate_at(ps, m, what, sub, err);
            if (st != KEEL_OK)
                return st;
        }
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        if (cJSON_IsObject(items)) {
            int i = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, v) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s[%d]", path, i++);
                keel_status st = validate_at(items, e, what, sub, err);
                if (st != KEEL_OK)
                    return st;
            }
        }
    }
    return KEEL_OK;
}

keel_status keel_schema_validate(const cJSON *schema, const cJSON *value, const char *what,
                                 keel_error *err)
{
    return validate_at(schema, value, what, "", err);
}

/*
 * Unit tests of keel/manifest.h: parsing, field-by-field validation, error
 * messages, and semantic-version checks and precedence.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/manifest.h>

#define ORIGIN "bundle samples/x.keel"

/* ---- helpers ------------------------------------------------------------------- */

/* Builds a manifest JSON object from raw JSON values; NULL omits a field.
 * `extra` is appended verbatim (with a leading comma) when non-NULL. */
static char *make_json(const char *name, const char *version, const char *api,
                       const char *library, const char *extra)
{
    const char *keys[] = {"name", "version", "api", "library"};
    const char *values[] = {name, version, api, library};
    size_t cap = 4096 + (extra ? strlen(extra) : 0);
    char *json = malloc(cap);
    ck_assert_ptr_nonnull(json);
    size_t used = (size_t)snprintf(json, cap, "{");
    const char *sep = "";
    for (size_t i = 0; i < 4; i++) {
        if (values[i] == NULL)
            continue;
        used += (size_t)snprintf(json + used, cap - used, "%s\"%s\": %s", sep, keys[i], values[i]);
        sep = ", ";
    }
    if (extra != NULL)
        used += (size_t)snprintf(json + used, cap - used, "%s%s", sep, extra);
    snprintf(json + used, cap - used, "}");
    return json;
}

/* A valid minimal manifest plus `extra` fields. */
static char *minimal_with(const char *extra)
{
    return make_json("\"greeter\"", "\"1.0.0\"", "1", "\"greeter.so\"", extra);
}

static keel_manifest *parse_ok(const char *json)
{
    keel_manifest *m = NULL;
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_manifest_parse(json, strlen(json), ORIGIN, &m, &err);
    ck_assert_msg(s == KEEL_OK, "expected OK for %s, got %d: %s", json, s, err.message);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* Parses `json`, expects KEEL_ERR_MANIFEST, a one-line message that starts
 * with the origin, and every NULL-terminated fragment in it. */
static void parse_fails_impl(const char *json, ...)
{
    keel_manifest *m = (keel_manifest *)&m;   /* must be reset to NULL */
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_manifest_parse(json, strlen(json), ORIGIN, &m, &err);
    ck_assert_msg(s == KEEL_ERR_MANIFEST, "expected a manifest error for %s, got %d (%s)", json,
                  s, err.message);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.status, KEEL_ERR_MANIFEST);
    ck_assert_msg(strncmp(err.message, ORIGIN ": ", strlen(ORIGIN) + 2) == 0,
                  "message does not start with the origin: %s", err.message);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    va_list ap;
    va_start(ap, json);
    for (const char *frag = va_arg(ap, const char *); frag != NULL; frag = va_arg(ap, const char *))
        ck_assert_msg(strstr(err.message, frag) != NULL, "\"%s\" not in message: %s", frag,
                      err.message);
    va_end(ap);
}

/* Appends the NULL that ends the fragment list. */
#define parse_fails(first, ...) parse_fails_impl(first, __VA_ARGS__, (const char *)NULL)

static void minimal_fails(const char *extra, const char *field)
{
    char *json = minimal_with(extra);
    char quoted[256];
    snprintf(quoted, sizeof quoted, "manifest field \"%s\"", field);
    parse_fails(json, quoted, "expected");
    free(json);
}

static void minimal_ok(const char *extra)
{
    char *json = minimal_with(extra);
    keel_manifest_destroy(parse_ok(json));
    free(json);
}

/* ---- valid manifests -------------------------------------------------------- */

static const char full_manifest[] =
    "{\n"
    "  \"name\": \"greeter\",\n"
    "  \"version\": \"1.2.3-rc.1+build.5\",\n"
    "  \"api\": 1,\n"
    "  \"library\": \"lib/greeter.so\",\n"
    "  \"libraries\": \"lib/private\",\n"
    "  \"isolation\": \"exclusive\",\n"
    "  \"priority\": 7,\n"
    "  \"start_timeout_ms\": 2500,\n"
    "  \"scenes\": [\"default\", \"tenant:a.b-c_d\"],\n"
    "  \"services\": [\n"
    "    {\"name\": \"greet\", \"signature\": \"str(str)\"},\n"
    "    {\"name\": \"greet\", \"scene\": \"tenant:a.b-c_d\", \"x-doc\": \"same name, other scene\"}\n"
    "  ],\n"
    "  \"subscribes\": [{\"topic\": \"orders.created\"}, {\"topic\": \"t\", \"scene\": \"s\"}],\n"
    "  \"requires\": {\"logger\": \">=1.2.0 <2.0.0\", \"store\": \"^1.2\"},\n"
    "  \"config\": {\"greeting\": \"hello\", \"count\": 3, \"ratio\": 0.5, \"loud\": true,\n"
    "             \"none\": null, \"list\": [1, \"a\"], \"nested\": {\"k\": \"v\"}},\n"
    "  \"build\": {\"compiler\": \"gcc\"},\n"
    "  \"x-vendor\": {\"anything\": [1, 2, 3]}\n"
    "}\n";

START_TEST(test_full_manifest_accessors)
{
    keel_manifest *m = parse_ok(full_manifest);
    ck_assert_str_eq(keel_manifest_name(m), "greeter");
    ck_assert_str_eq(keel_manifest_version(m), "1.2.3-rc.1+build.5");
    ck_assert_int_eq(keel_manifest_api(m), 1);
    ck_assert_str_eq(keel_manifest_library(m), "lib/greeter.so");
    ck_assert_str_eq(keel_manifest_libraries(m), "lib/private");
    ck_assert_int_eq(keel_manifest_isolation(m), KEEL_ISOLATION_EXCLUSIVE);
    ck_assert_int_eq(keel_manifest_priority(m), 7);
    ck_assert_int_eq(keel_manifest_start_timeout_ms(m), 2500);

    ck_assert_uint_eq(keel_manifest_scene_count(m), 2);
    ck_assert_str_eq(keel_manifest_scene(m, 0), "default");
    ck_assert_str_eq(keel_manifest_scene(m, 1), "tenant:a.b-c_d");
    ck_assert_ptr_null(keel_manifest_scene(m, 2));

    ck_assert_uint_eq(keel_manifest_service_count(m), 2);
    const keel_manifest_service *svc = keel_manifest_service_at(m, 0);
    ck_assert_str_eq(svc->name, "greet");
    ck_assert_str_eq(svc->scene, "default");
    ck_assert_str_eq(svc->signature, "str(str)");
    svc = keel_manifest_service_at(m, 1);
    ck_assert_str_eq(svc->scene, "tenant:a.b-c_d");
    ck_assert_ptr_null(svc->signature);
    ck_assert_ptr_null(keel_manifest_service_at(m, 2));

    ck_assert_uint_eq(keel_manifest_subscription_count(m), 2);
    ck_assert_str_eq(keel_manifest_subscription_at(m, 0)->topic, "orders.created");
    ck_assert_str_eq(keel_manifest_subscription_at(m, 0)->scene, "default");
    ck_assert_str_eq(keel_manifest_subscription_at(m, 1)->topic, "t");
    ck_assert_str_eq(keel_manifest_subscription_at(m, 1)->scene, "s");
    ck_assert_ptr_null(keel_manifest_subscription_at(m, 2));

    ck_assert_uint_eq(keel_manifest_requirement_count(m), 2);
    ck_assert_str_eq(keel_manifest_requirement_at(m, 0)->name, "logger");
    ck_assert_str_eq(keel_manifest_requirement_at(m, 0)->range, ">=1.2.0 <2.0.0");
    ck_assert_str_eq(keel_manifest_requirement_at(m, 1)->name, "store");
    ck_assert_str_eq(keel_manifest_requirement_at(m, 1)->range, "^1.2");
    ck_assert_ptr_null(keel_manifest_requirement_at(m, 2));
    keel_manifest_destroy(m);
}
END_TEST

START_TEST(test_config_rendering)
{
    keel_manifest *m = parse_ok(full_manifest);
    ck_assert_str_eq(keel_manifest_config_get(m, "greeting"), "hello");
    ck_assert_str_eq(keel_manifest_config_get(m, "count"), "3");
    ck_assert_str_eq(keel_manifest_config_get(m, "ratio"), "0.5");
    ck_assert_str_eq(keel_manifest_config_get(m, "loud"), "true");
    ck_assert_str_eq(keel_manifest_config_get(m, "none"), "null");
    ck_assert_str_eq(keel_manifest_config_get(m, "list"), "[1,\"a\"]");
    ck_assert_str_eq(keel_manifest_config_get(m, "nested"), "{\"k\":\"v\"}");
    ck_assert_ptr_null(keel_manifest_config_get(m, "absent"));
    ck_assert_ptr_null(keel_manifest_config_get(m, NULL));
    ck_assert_str_eq(keel_manifest_config_json(m),
                     "{\"greeting\":\"hello\",\"count\":3,\"ratio\":0.5,\"loud\":true,"
                     "\"none\":null,\"list\":[1,\"a\"],\"nested\":{\"k\":\"v\"}}");
    keel_manifest_destroy(m);
}
END_TEST

START_TEST(test_defaults)
{
    char *json = minimal_with(NULL);
    keel_manifest *m = parse_ok(json);
    free(json);
    ck_assert_str_eq(keel_manifest_name(m), "greeter");
    ck_assert_str_eq(keel_manifest_version(m), "1.0.0");
    ck_assert_int_eq(keel_manifest_api(m), 1);
    ck_assert_str_eq(keel_manifest_library(m), "greeter.so");
    ck_assert_ptr_null(keel_manifest_libraries(m));
    ck_assert_int_eq(keel_manifest_isolation(m), KEEL_ISOLATION_SHARED);
    ck_assert_int_eq(keel_manifest_priority(m), 100);
    ck_assert_int_eq(keel_manifest_start_timeout_ms(m), 5000);
    ck_assert_uint_eq(keel_manifest_scene_count(m), 0);
    ck_assert_uint_eq(keel_manifest_service_count(m), 0);
    ck_assert_uint_eq(keel_manifest_subscription_count(m), 0);
    ck_assert_uint_eq(keel_manifest_requirement_count(m), 0);
    ck_assert_str_eq(keel_manifest_config_json(m), "{}");
    ck_assert_ptr_null(keel_manifest_config_get(m, "greeting"));
    keel_manifest_destroy(m);
}
END_TEST

START_TEST(test_not_nul_terminated)
{
    /* The parser must stop at `size` and ignore what follows. */
    char *json = minimal_with(NULL);
    size_t len = strlen(json);
    char *buf = malloc(len + 16);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, json, len);
    memcpy(buf + len, "GARBAGE{{{", 10);
    keel_manifest *m = NULL;
    keel_error err;
    ck_assert_int_eq(keel_manifest_parse(buf, len, ORIGIN, &m, &err), KEEL_OK);
    ck_assert_str_eq(keel_manifest_name(m), "greeter");
    keel_manifest_destroy(m);
    free(buf);
    free(json);
}
END_TEST

START_TEST(test_explicit_values_accepted)
{
    minimal_ok("\"isolation\": \"shared\"");
    minimal_ok("\"priority\": 0");
    minimal_ok("\"priority\": 1000");
    minimal_ok("\"start_timeout_ms\": 1");
    minimal_ok("\"start_timeout_ms\": 600000");
    minimal_ok("\"scenes\": []");
    minimal_ok("\"services\": []");
    minimal_ok("\"requires\": {}");
    minimal_ok("\"config\": {}");
    minimal_ok("\"x-foo\": 1");
    minimal_ok("\"x-\": null");
    minimal_ok("\"libraries\": \"lib\"");
    char *json = make_json("\"greeter\"", "\"1.0.0\"", "2", "\"greeter.so\"", NULL);
    keel_manifest *m = parse_ok(json);
    ck_assert_int_eq(keel_manifest_api(m), 2);
    keel_manifest_destroy(m);
    free(json);
}
END_TEST

/* ---- name ---------------------------------------------------------------------- */

START_TEST(test_name_missing)
{
    char *json = make_json(NULL, "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"name\" is missing", "expected");
    free(json);
}
END_TEST

static const char *const bad_names[] = {
    "\"Greeter\"", "\"1greeter\"", "\"gr eeter\"", "\"greet.er\"", "\"\"", "\"-x\"",
    "\"greeter/x\"", "42", "null", "[\"greeter\"]",
    "\"a1234567890123456789012345678901234567890123456789012345678901234\"",
};

START_TEST(test_name_invalid)
{
    char *json = make_json(bad_names[_i], "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"name\"", "expected");
    free(json);
}
END_TEST

START_TEST(test_name_limits)
{
    /* 64 characters is the longest name allowed. */
    char *json = make_json("\"a12345678901234567890123456789012345678901234567890123456789012\"",
                           "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    keel_manifest_destroy(parse_ok(json));
    free(json);
    json = make_json("\"a_b-c9\"", "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    keel_manifest_destroy(parse_ok(json));
    free(json);
}
END_TEST

START_TEST(test_name_message_format)
{
    char *json = make_json("\"Bad Name\"", "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    parse_fails(json, ORIGIN ": manifest field \"name\": \"Bad Name\" is not a valid module name "
                      "(expected ");
    free(json);
}
END_TEST

/* ---- version and semver ----------------------------------------------------------- */

START_TEST(test_version_message_format)
{
    char *json = make_json("\"greeter\"", "\"1.2\"", "1", "\"greeter.so\"", NULL);
    parse_fails(json,
                ORIGIN ": manifest field \"version\": \"1.2\" is not a semantic version "
                       "(expected MAJOR.MINOR.PATCH such as 1.2.0)");
    free(json);
}
END_TEST

START_TEST(test_version_missing_or_not_string)
{
    char *json = make_json("\"greeter\"", NULL, "1", "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"version\" is missing");
    free(json);
    json = make_json("\"greeter\"", "1.2", "1", "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"version\": 1.2 is not a string");
    free(json);
}
END_TEST

static const char *const bad_versions[] = {
    "1.2", "1", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3+", "1.2.3-01", "1.2.3-a..b",
    "1.2.3-a.", "1.2.3+a..b", "v1.2.3", "1.2.3.4", " 1.2.3", "1.2.3 ", "", "1.2.3-a_b",
    "1.2.3+b@", "-1.2.3", "1..3", "1.2.x", "1.2.3-α",
};

START_TEST(test_semver_invalid)
{
    ck_assert_msg(keel_semver_check(bad_versions[_i]) != KEEL_OK, "accepted \"%s\"",
                  bad_versions[_i]);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", bad_versions[_i]);
    char *json = make_json("\"greeter\"", quoted, "1", "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"version\"", "is not a semantic version");
    free(json);
}
END_TEST

static const char *const good_versions[] = {
    "0.0.0", "1.2.3", "10.20.30", "1.2.3-alpha", "1.2.3-alpha.1", "1.2.3-0.a-b",
    "1.2.3-x.7.z.92", "1.2.3+build.01", "1.2.3-rc.1+exp.sha.5114f85", "1.0.0-0A.is.legal",
    "99999999999999999999999.0.0", "1.2.3--", "1.2.3-0",
};

START_TEST(test_semver_valid)
{
    ck_assert_msg(keel_semver_check(good_versions[_i]) == KEEL_OK, "refused \"%s\"",
                  good_versions[_i]);
}
END_TEST

START_TEST(test_semver_null)
{
    ck_assert_int_ne(keel_semver_check(NULL), KEEL_OK);
}
END_TEST

/* The precedence example of semver.org section 11, extended at both ends. */
static const char *const ordered_versions[] = {
    "0.0.0",       "0.9.9",       "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta",
    "1.0.0-beta",  "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",   "1.0.0",
    "1.0.1",       "1.1.0",       "1.10.0",       "2.0.0",         "10.0.0",
    "18446744073709551616.0.0",
};

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

START_TEST(test_semver_precedence)
{
    size_t n = sizeof ordered_versions / sizeof *ordered_versions;
    for (size_t j = 0; j < n; j++) {
        int c = sign(keel_semver_compare(ordered_versions[_i], ordered_versions[j]));
        int want = (int)_i < (int)j ? -1 : ((size_t)_i == j ? 0 : 1);
        ck_assert_msg(c == want, "compare(%s, %s) = %d, want %d", ordered_versions[_i],
                      ordered_versions[j], c, want);
    }
}
END_TEST

START_TEST(test_semver_build_ignored)
{
    ck_assert_int_eq(keel_semver_compare("1.0.0+a", "1.0.0+b"), 0);
    ck_assert_int_eq(keel_semver_compare("1.0.0-rc.1+a", "1.0.0-rc.1"), 0);
    ck_assert_int_lt(keel_semver_compare("1.0.0-rc.1+zzz", "1.0.0+aaa"), 0);
    /* Numeric identifiers rank below alphanumeric ones, whatever the text. */
    ck_assert_int_lt(keel_semver_compare("1.0.0-999", "1.0.0-a"), 0);
    ck_assert_int_lt(keel_semver_compare("1.0.0-2", "1.0.0-10"), 0);
    /* Alphanumeric identifiers compare as ASCII text, so "a10" < "a2". */
    ck_assert_int_lt(keel_semver_compare("1.0.0-a10", "1.0.0-a2"), 0);
}
END_TEST

/* ---- semver ranges ------------------------------------------------------------ */

static const struct {
    const char *range;
    const char *version;
    int want;
} range_cases[] = {
    /* exact, with and without "=" */
    {"1.2.3", "1.2.3", 1}, {"1.2.3", "1.2.4", 0}, {"=1.2.3", "1.2.3", 1},
    {"= 1.2.3", "1.2.2", 0}, {"1.2.3-beta.2", "1.2.3-beta.2", 1},
    {"1.2.3-beta.2", "1.2.3-beta.10", 0},
    /* < <= > >= with full versions, spaces after operators */
    {">1.2.3", "1.2.4", 1}, {">1.2.3", "1.2.3", 0}, {">=1.2.3", "1.2.3", 1},
    {">= 1.2.0", "1.1.9", 0}, {"<1.2.3", "1.2.2", 1}, {"<1.2.3", "1.2.3", 0},
    {"<=1.2.3", "1.2.3", 1}, {"<= 1.2.3", "1.2.4", 0},
    {">=1.2.0 <2.0.0", "1.9.9", 1}, {">=1.2.0 <2.0.0", "2.0.0", 0},
    {">=1.2.0  <2.0.0", "1.1.0", 0},
    /* operators with partials */
    {">1.2", "1.2.9", 0}, {">1.2", "1.3.0", 1}, {">1", "1.9.9", 0}, {">1", "2.0.0", 1},
    {"<1.2", "1.1.99", 1}, {"<1.2", "1.2.0", 0}, {"<=1.2", "1.2.99", 1}, {"<=1.2", "1.3.0", 0},
    {">=1.2", "1.2.0", 1}, {">=1", "0.99.0", 0}, {"=1.2", "1.2.3", 1},
    /* caret, including 0.x */
    {"^1.2.3", "1.2.3", 1}, {"^1.2.3", "1.9.0", 1}, {"^1.2.3", "2.0.0", 0},
    {"^1.2.3", "1.2.2", 0}, {"^0.2.3", "0.2.9", 1}, {"^0.2.3", "0.3.0", 0},
    {"^0.2.3", "0.2.2", 0}, {"^0.0.3", "0.0.3", 1}, {"^0.0.3", "0.0.4", 0},
    {"^1.2", "1.2.0", 1}, {"^1.2", "1.99.0", 1}, {"^1.2", "2.0.0", 0}, {"^1.2", "1.1.9", 0},
    {"^0.2", "0.2.5", 1}, {"^0.2", "0.3.0", 0}, {"^0.0", "0.0.9", 1}, {"^0.0", "0.1.0", 0},
    {"^0", "0.9.9", 1}, {"^0", "1.0.0", 0}, {"^1.x", "1.5.0", 1}, {"^*", "3.0.0", 1},
    /* tilde */
    {"~1.2.3", "1.2.9", 1}, {"~1.2.3", "1.3.0", 0}, {"~1.2.3", "1.2.2", 0},
    {"~1.2", "1.2.0", 1}, {"~1.2", "1.3.0", 0}, {"~1", "1.9.0", 1}, {"~1", "2.0.0", 0},
    {"~0.2.3", "0.2.4", 1}, {"~0.2.3", "0.3.0", 0}, {"~ 1.2.3", "1.2.5", 1},
    /* bare partials and wildcards */
    {"1.2", "1.2.7", 1}, {"1.2", "1.3.0", 0}, {"1", "1.0.0", 1}, {"1", "2.0.0", 0},
    {"1.x", "1.99.99", 1}, {"1.x", "2.0.0", 0}, {"1.2.*", "1.2.0", 1}, {"1.2.*", "1.3.0", 0},
    {"1.X", "1.0.0", 1}, {"*", "0.0.0", 1}, {"*", "99.0.0", 1}, {"x", "1.0.0", 1},
    {">*", "1.0.0", 0}, {"<x", "1.0.0", 0}, {">=*", "1.0.0", 1},
    /* hyphen ranges */
    {"1.2.3 - 2.3.4", "1.2.3", 1}, {"1.2.3 - 2.3.4", "2.3.4", 1},
    {"1.2.3 - 2.3.4", "2.3.5", 0}, {"1.2.3 - 2.3.4", "1.2.2", 0},
    {"1.2 - 2.3", "1.2.0", 1}, {"1.2 - 2.3", "2.3.9", 1}, {"1.2 - 2.3", "2.4.0", 0},
    {"1  -  2", "2.9.9", 1}, {"1 - 2", "3.0.0", 0}, {"* - 2.0.0", "0.0.1", 1},
    {"1.2.3 - *", "9.0.0", 1}, {"1.2.3 - 2.3.4-beta", "2.3.4-alpha", 1},
    /* alternatives */
    {"1.2.7 || >=1.2.9 <2.0.0", "1.2.7", 1}, {"1.2.7 || >=1.2.9 <2.0.0", "1.2.8", 0},
    {"1.2.7 || >=1.2.9 <2.0.0", "1.2.9", 1}, {"1.2.7 || >=1.2.9 <2.0.0", "2.0.0", 0},
    {"^1||^3", "2.0.0", 0}, {"^1||^3", "3.1.0", 1}, {"<1.0.0 || >=2.0.0", "0.5.0", 1},
    {"  ^1.2   ||   ~2.0  ", "2.0.5", 1}, {"1.2.3 - 1.4 || 3", "3.2.1", 1},
    /* pre-releases only where a comparator of the set opts in to that core */
    {">=1.2.3-alpha.1", "1.2.3-beta", 1}, {">=1.2.3-alpha.1", "1.2.4-beta", 0},
    {">=1.2.3-alpha.1", "1.2.3", 1}, {">=1.2.3-alpha.1", "1.2.3-alpha.0", 0},
    {"^1.2.0", "1.3.0-rc.1", 0}, {"^1.2.3-beta.2", "1.2.3-beta.4", 1},
    {"^1.2.3-beta.2", "1.2.3-beta.1", 0}, {"^1.2.3-beta.2", "1.2.4-beta.2", 0},
    {"^1.2.3-beta.2", "1.9.0", 1}, {"^0.0.3-beta", "0.0.3-pr.2", 1},
    {"~1.2.3-beta.2", "1.2.3-beta.4", 1}, {"~1.2.3-beta.2", "1.2.4-beta.2", 0},
    {"*", "1.0.0-alpha", 0}, {"<2.0.0", "2.0.0-alpha", 0}, {"<2.0.0", "1.9.0-alpha", 0},
    {">1.2.3-alpha", "1.2.3-alpha.1", 1}, {"1.2.3-alpha - 1.2.3", "1.2.3-beta", 1},
    {"1.x || 1.2.3-rc.1", "1.2.3-rc.2", 0}, {"1.x || 1.2.3-rc.1", "1.2.3-rc.1", 1},
    {">=1.0.0-0 <2", "1.0.0-x", 1}, {">=1.0.0-0 <2", "1.5.0-x", 0},
    /* build metadata is ignored on both sides */
    {">=1.2.3+build", "1.2.3", 1}, {"1.2.3", "1.2.3+exp.sha.5114f85", 1},
    {"1.2.3+build.1", "1.2.3", 1}, {"<1.2.3+b", "1.2.3+a", 0},
    {"^1.2.3-rc.1+b.01", "1.2.3-rc.1+zzz", 1},
    /* numbers beyond 64 bits, and carries when bumping upper bounds */
    {"^99999999999999999999.0.0", "99999999999999999999.5.0", 1},
    {"^99999999999999999999.0.0", "100000000000000000000.0.0", 0},
    {"~9.9", "9.10.0", 0}, {"~9.9", "9.9.99", 1}, {"<=9", "10.0.0", 0}, {"<=9", "9.99.0", 1},
    {">19", "20.0.0", 1}, {">19.9", "19.10.0", 1}, {">19.9", "19.9.9", 0},
    {"<=1.99", "1.100.0", 0}, {"<=1.199", "1.199.3", 1}, {"^1909", "1910.0.0", 0},
    /* an invalid version satisfies nothing */
    {"*", "1.2", 0}, {"1.2.3", "v1.2.3", 0},
};

START_TEST(test_range_match)
{
    const char *range = range_cases[_i].range, *version = range_cases[_i].version;
    keel_error err;
    keel_error_clear(&err);
    ck_assert_msg(keel_semver_range_check(range, &err) == KEEL_OK, "refused \"%s\": %s", range,
                  err.message);
    int got = keel_semver_range_match(range, version);
    ck_assert_msg(got == range_cases[_i].want, "match(\"%s\", \"%s\") = %d, want %d", range,
                  version, got, range_cases[_i].want);
}
END_TEST

static const char *const bad_ranges[] = {
    "", ">", "1.2.3.4", "^", "01.2", "1.2.3 -", "- 1.2", ">=a", "1 ||", "||", ">=1.0.0 <",
    "~>1", "   ", "1.x.3", "1.2-beta", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+",
    "1 - 2 - 3", ">=1 - 2", "1 - ^2", "1 2 - 3", "1.2.3 - 2 3", "1 -2", "1 |2", "1|||2",
    "v1.2.3", "1.2.3 || ", "1.2.3\t", "1..2", "1.", "1.2.", ">=>1", "1.2.3-be\xc3\xa9",
    "=1.2.x-beta", "<=1.2.3.4 || 1",
};

START_TEST(test_range_invalid)
{
    const char *range = bad_ranges[_i];
    keel_error err;
    keel_error_clear(&err);
    ck_assert_int_eq(keel_semver_range_check(range, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(err.status, KEEL_ERR_INVALID);
    char quoted[300], want[320];
    keel_error_quote(quoted, sizeof quoted, range, 64);
    snprintf(want, sizeof want, "version range \"%s\"", quoted);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s not in message: %s", want, err.message);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    if (range[0] != '\0')
        ck_assert_msg(strstr(err.message, " at position ") != NULL, "no position: %s",
                      err.message);
    ck_assert_int_eq(keel_semver_range_match(range, "1.0.0"), 0);
    ck_assert_int_eq(keel_semver_range_check(range, NULL), KEEL_ERR_INVALID);
}
END_TEST

/* The message says what is wrong and where, counting from 1. */
START_TEST(test_range_messages)
{
    static const struct {
        const char *range;
        const char *message;
    } cases[] = {
        {">=a", "version range \">=a\": expected a number, \"x\" or \"*\" at position 3"},
        {"01.2", "version range \"01.2\": a number has a leading zero at position 1"},
        {"1.2.3.4", "a version has at most three numbers at position 6"},
        {"~>1", "expected a number, \"x\" or \"*\" at position 2"},
        {">=1.0.0 <", "an operator is not followed by a version at position 10"},
        {"1 ||", "an alternative is empty at position 5"},
        {"1.2.3 -", "a hyphen range needs a version after \"-\" at position 8"},
        {"1.2-beta", "unexpected character \"-\" at position 4"},
        {"- 1.2", "a hyphen range needs a version before \"-\" at position 1"},
        {"1 - 2 - 3", "expected \"||\" or the end after a hyphen range at position 7"},
        {"1.2.3\"", "unexpected character \"\\\"\" at position 6"},
        {"1.2.3\t", "unexpected character \"\\x09\" at position 6"},
        {"", "version range \"\" is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        keel_error err;
        keel_error_clear(&err);
        ck_assert_int_eq(keel_semver_range_check(cases[i].range, &err), KEEL_ERR_INVALID);
        ck_assert_msg(strstr(err.message, cases[i].message) != NULL, "\"%s\" not in message: %s",
                      cases[i].message, err.message);
    }
}
END_TEST

START_TEST(test_range_null)
{
    keel_error err;
    ck_assert_int_eq(keel_semver_range_check(NULL, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_semver_range_match(NULL, "1.0.0"), 0);
    ck_assert_int_eq(keel_semver_range_match("*", NULL), 0);
}
END_TEST

START_TEST(test_requires_ranges)
{
    char *json = minimal_with("\"requires\": {\"logger\": \"^1.2 || ~2.0.1\", "
                              "\"store\": \"1.0.0 - 2.x\", \"kv\": \">= 1.0.0-rc.1 <2\", "
                              "\"any\": \"*\"}");
    keel_manifest *m = parse_ok(json);
    ck_assert_uint_eq(keel_manifest_requirement_count(m), 4);
    ck_assert_str_eq(keel_manifest_requirement_at(m, 2)->name, "kv");
    ck_assert_str_eq(keel_manifest_requirement_at(m, 2)->range, ">= 1.0.0-rc.1 <2");
    keel_manifest_destroy(m);
    free(json);

    minimal_fails("\"requires\": {\"kv\": \">=1.0 <\"}", "requires.kv");
    minimal_fails("\"requires\": {\"logger\": \"^1\", \"kv\": \"1.2.3.4\"}", "requires.kv");
    json = minimal_with("\"requires\": {\"logger\": \"^1\", \"kv\": \"~>1\"}");
    parse_fails(json, "manifest field \"requires.kv\": version range \"~>1\": ",
                "at position 2", "(expected a non-empty version range such as");
    free(json);
}
END_TEST

/* ---- api ------------------------------------------------------------------------ */

static const struct {
    const char *value;
    const char *problem;
} bad_apis[] = {
    {"\"1\"", "is not an integer"}, {"1.5", "is not an integer"}, {"0", "is out of range"},
    {"-1", "is out of range"}, {"true", "is not an integer"}, {"null", "is not an integer"},
    {"1e300", "is out of range"}, {"[1]", "is not an integer"},
};

START_TEST(test_api_invalid)
{
    char *json = make_json("\"greeter\"", "\"1.0.0\"", bad_apis[_i].value, "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"api\"", bad_apis[_i].problem, "expected an integer >= 1");
    free(json);
}
END_TEST

START_TEST(test_api_missing)
{
    char *json = make_json("\"greeter\"", "\"1.0.0\"", NULL, "\"greeter.so\"", NULL);
    parse_fails(json, "manifest field \"api\" is missing");
    free(json);
}
END_TEST

/* ---- library and libraries ---------------------------------------------------------- */

static const struct {
    const char *value;
    const char *problem;
} bad_paths[] = {
    {"\"/usr/lib/greeter.so\"", "is an absolute path"},
    {"\"../greeter.so\"", "has a \"..\" component"},
    {"\"lib/../../greeter.so\"", "has a \"..\" component"},
    {"\"lib/..\"", "has a \"..\" component"},
    {"\"\"", "is empty"},
    {"\"lib//greeter.so\"", "has an empty or"},
    {"\"./greeter.so\"", "has an empty or"},
    {"\"lib/\"", "has an empty or"},
    {"\"lib/\\tx.so\"", "contains a control character"},
    {"7", "is not a string"},
};

START_TEST(test_library_invalid)
{
    char *json = make_json("\"greeter\"", "\"1.0.0\"", "1", bad_paths[_i].value, NULL);
    parse_fails(json, "manifest field \"library\"", bad_paths[_i].problem, "expected a relative path");
    free(json);
}
END_TEST

START_TEST(test_libraries_invalid)
{
    char extra[128];
    snprintf(extra, sizeof extra, "\"libraries\": %s", bad_paths[_i].value);
    char *json = minimal_with(extra);
    parse_fails(json, "manifest field \"libraries\"", bad_paths[_i].problem);
    free(json);
}
END_TEST

START_TEST(test_library_missing)
{
    char *json = make_json("\"greeter\"", "\"1.0.0\"", "1", NULL, NULL);
    parse_fails(json, "manifest field \"library\" is missing");
    free(json);
}
END_TEST

/* ---- isolation, priority, start_timeout_ms --------------------------------------------- */

START_TEST(test_isolation_invalid)
{
    minimal_fails("\"isolation\": \"bogus\"", "isolation");
    minimal_fails("\"isolation\": \"Shared\"", "isolation");
    minimal_fails("\"isolation\": 1", "isolation");
    char *json = minimal_with("\"isolation\": \"bogus\"");
    parse_fails(json, "\"bogus\" is not an isolation mode", "\"shared\" or \"exclusive\"");
    free(json);
}
END_TEST

START_TEST(test_priority_invalid)
{
    minimal_fails("\"priority\": -1", "priority");
    minimal_fails("\"priority\": 1001", "priority");
    minimal_fails("\"priority\": 1.5", "priority");
    minimal_fails("\"priority\": \"5\"", "priority");
    char *json = minimal_with("\"priority\": 1001");
    parse_fails(json, "1001 is out of range (expected an integer from 0 to 1000)");
    free(json);
}
END_TEST

START_TEST(test_start_timeout_invalid)
{
    minimal_fails("\"start_timeout_ms\": 0", "start_timeout_ms");
    minimal_fails("\"start_timeout_ms\": 600001", "start_timeout_ms");
    minimal_fails("\"start_timeout_ms\": 2.5", "start_timeout_ms");
    minimal_fails("\"start_timeout_ms\": {}", "start_timeout_ms");
}
END_TEST

/* ---- scenes, services, subscribes, requires ----------------------------------------- */

START_TEST(test_scenes_invalid)
{
    minimal_fails("\"scenes\": \"default\"", "scenes");
    minimal_fails("\"scenes\": [1]", "scenes[0]");
    minimal_fails("\"scenes\": [\"ok\", \"bad scene\"]", "scenes[1]");
    minimal_fails("\"scenes\": [\"\"]", "scenes[0]");
    minimal_fails("\"scenes\": [\"a/b\"]", "scenes[0]");
    minimal_fails("\"scenes\": [\"a12345678901234567890123456789012345678901234567890123456789012345\"]",
                  "scenes[0]");
    minimal_fails("\"scenes\": [\"dup\", \"dup\"]", "scenes[1]");
}
END_TEST

START_TEST(test_services_invalid)
{
    minimal_fails("\"services\": {}", "services");
    minimal_fails("\"services\": [\"greet\"]", "services[0]");
    minimal_fails("\"services\": [{\"signature\": \"v()\"}]", "services[0].name");
    minimal_fails("\"services\": [{\"name\": \"bad name\"}]", "services[0].name");
    minimal_fails("\"services\": [{\"name\": 5}]", "services[0].name");
    minimal_fails("\"services\": [{\"name\": \"ok\"}, {\"name\": \"ok\"}]", "services[1].name");
    minimal_fails("\"services\": [{\"name\": \"ok\", \"scene\": \"bad scene\"}]", "services[0].scene");
    minimal_fails("\"services\": [{\"name\": \"ok\", \"signature\": 3}]", "services[0].signature");
    minimal_fails("\"services\": [{\"name\": \"ok\", \"signature\": \"\"}]", "services[0].signature");
    minimal_fails("\"services\": [{\"name\": \"ok\", \"color\": \"red\"}]", "services[0].color");
    char name129[140];
    memset(name129, 'a', 129);
    name129[129] = '\0';
    char extra[200];
    snprintf(extra, sizeof extra, "\"services\": [{\"name\": \"%s\"}]", name129);
    minimal_fails(extra, "services[0].name");
    name129[128] = '\0';
    snprintf(extra, sizeof extra, "\"services\": [{\"name\": \"%s\"}]", name129);
    minimal_ok(extra);
}
END_TEST

START_TEST(test_service_missing_name_message)
{
    char *json = minimal_with("\"services\": [{\"name\": \"a\"}, {\"scene\": \"s\"}]");
    parse_fails(json, "manifest field \"services[1].name\" is missing (expected a service name");
    free(json);
}
END_TEST

START_TEST(test_subscribes_invalid)
{
    minimal_fails("\"subscribes\": \"t\"", "subscribes");
    minimal_fails("\"subscribes\": [{}]", "subscribes[0].topic");
    minimal_fails("\"subscribes\": [{\"topic\": \"a b\"}]", "subscribes[0].topic");
    minimal_fails("\"subscribes\": [{\"topic\": \"t\", \"scene\": 1}]", "subscribes[0].scene");
    minimal_fails("\"subscribes\": [{\"topic\": \"t\", \"extra\": 1}]", "subscribes[0].extra");
    minimal_fails("\"subscribes\": [{\"topic\": \"t\"}, {\"topic\": \"t\", \"scene\": \"default\"}]",
                  "subscribes[1].topic");
}
END_TEST

START_TEST(test_requires_invalid)
{
    minimal_fails("\"requires\": []", "requires");
    minimal_fails("\"requires\": {\"logger\": 1}", "requires.logger");
    minimal_fails("\"requires\": {\"logger\": \"\"}", "requires.logger");
    minimal_fails("\"requires\": {\"Logger\": \">=1.0.0\"}", "requires.Logger");
    char *json = minimal_with("\"requires\": {\"logger\": \"\"}");
    parse_fails(json, "\"\" is empty (expected a non-empty version range");
    free(json);
}
END_TEST

START_TEST(test_config_and_build_invalid)
{
    minimal_fails("\"config\": []", "config");
    minimal_fails("\"config\": \"a=b\"", "config");
    minimal_fails("\"build\": 1", "build");
}
END_TEST

/* ---- document level -------------------------------------------------------------- */

START_TEST(test_unknown_field_refused)
{
    char *json = minimal_with("\"colour\": \"red\"");
    parse_fails(json, "manifest field \"colour\" is not a known field", "\"x-...\"");
    free(json);
    /* Field names are case-sensitive. */
    json = minimal_with("\"Priority\": 5");
    parse_fails(json, "manifest field \"Priority\" is not a known field");
    free(json);
}
END_TEST

START_TEST(test_duplicate_keys_refused)
{
    char *json = minimal_with("\"name\": \"other\"");
    parse_fails(json, "key \"name\" appears twice");
    free(json);
    json = minimal_with("\"config\": {\"a\": {\"b\": 1, \"b\": 2}}");
    parse_fails(json, "manifest field \"config.a\": key \"b\" appears twice");
    free(json);
}
END_TEST

START_TEST(test_malformed_json_line)
{
    parse_fails("{\n  \"name\": \"greeter\",\n  \"version\": oops\n}", "not valid JSON", "line 3");
    parse_fails("{\"name\": \"greeter\",", "not valid JSON", "line 1");
    parse_fails("{\"name\": \"greeter\"} {", "unexpected text", "line 1, column 21");
}
END_TEST

START_TEST(test_not_an_object)
{
    parse_fails("[1, 2]", "manifest is an array (expected a JSON object)");
    parse_fails("\"greeter\"", "manifest is \"greeter\" (expected a JSON object)");
    parse_fails("", "manifest is empty");
    parse_fails("   \n  ", "not valid JSON");
}
END_TEST

START_TEST(test_control_bytes_refused)
{
    /* A raw control byte inside a string, and a NUL within `size`. */
    parse_fails("{\"name\": \"gr\x01" "eeter\"}", "control byte 0x01", "line 1, column 13");
    const char text[] = "{\"name\": \"a\"}\0junk";
    keel_manifest *m = NULL;
    keel_error err;
    ck_assert_int_eq(keel_manifest_parse(text, sizeof text - 1, ORIGIN, &m, &err),
                     KEEL_ERR_MANIFEST);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.message, "control byte 0x00"));
}
END_TEST

START_TEST(test_message_stays_one_line)
{
    /* A value carrying a newline and quotes is escaped in the message. */
    char *json = make_json("\"bad\\nname\\\"x\"", "\"1.0.0\"", "1", "\"greeter.so\"", NULL);
    parse_fails(json, "\"bad\\x0aname\\\"x\"");
    free(json);
    /* A long value is cut short. */
    char extra[400];
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    snprintf(extra, sizeof extra, "\"isolation\": \"%s\"", longname);
    json = minimal_with(extra);
    parse_fails(json, "...\" is not an isolation mode");
    free(json);
}
END_TEST

START_TEST(test_bad_arguments)
{
    keel_error err;
    ck_assert_int_eq(keel_manifest_parse("{}", 2, ORIGIN, NULL, &err), KEEL_ERR_INVALID);
    keel_manifest *m = (keel_manifest *)&m;
    ck_assert_int_eq(keel_manifest_parse(NULL, 5, ORIGIN, &m, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* A NULL error sink is allowed. */
    ck_assert_int_eq(keel_manifest_parse("[]", 2, ORIGIN, &m, NULL), KEEL_ERR_MANIFEST);
    keel_manifest_destroy(NULL);
}
END_TEST

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- calls, symbols and properties ------------------------------------------ */

START_TEST(test_calls_symbol_properties)
{
    char *json = minimal_with(
        "\"services\": [{\"name\": \"greet\", \"symbol\": \"greet_v1\", "
        "\"properties\": {\"idempotent\": true, \"owner\": \"team-a\"}}], "
        "\"calls\": [{\"scene\": \"loud\", \"service\": \"shout\"}, {\"scene\": \"vip\", \"topic\": \"*\"}]");
    keel_manifest *m = parse_ok(json);
    const keel_manifest_service *svc = keel_manifest_service_at(m, 0);
    ck_assert_str_eq(svc->symbol, "greet_v1");
    ck_assert_str_eq(svc->properties, "{\"idempotent\":true,\"owner\":\"team-a\"}");
    ck_assert_uint_eq(keel_manifest_call_count(m), 2);
    const keel_manifest_call *c0 = keel_manifest_call_at(m, 0), *c1 = keel_manifest_call_at(m, 1);
    ck_assert_str_eq(c0->scene, "loud");
    ck_assert_str_eq(c0->service, "shout");
    ck_assert_ptr_null(c0->topic);
    ck_assert_str_eq(c1->scene, "vip");
    ck_assert_str_eq(c1->topic, "*");
    ck_assert_ptr_null(keel_manifest_call_at(m, 2));
    keel_manifest_destroy(m);
    free(json);
}
END_TEST

START_TEST(test_calls_symbol_properties_invalid)
{
    minimal_fails("\"calls\": {\"scene\": \"x\"}", "calls");
    minimal_fails("\"calls\": [{\"service\": \"x\"}]", "calls[0].scene");
    minimal_fails("\"calls\": [{\"scene\": \"bad scene\", \"service\": \"x\"}]", "calls[0].scene");
    minimal_fails("\"calls\": [{\"scene\": \"vip\"}]", "calls[0]");
    minimal_fails("\"calls\": [{\"scene\": \"vip\", \"service\": \"a b\"}]", "calls[0].service");
    minimal_fails("\"calls\": [{\"scene\": \"vip\", \"topic\": 3}]", "calls[0].topic");
    minimal_fails("\"calls\": [{\"scene\": \"vip\", \"service\": \"x\", \"extra\": 1}]", "calls[0].extra");
    minimal_fails("\"services\": [{\"name\": \"g\", \"symbol\": \"1abc\"}]", "services[0].symbol");
    minimal_fails("\"services\": [{\"name\": \"g\", \"properties\": [1]}]", "properties");
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *valid = tcase_create("valid");
    tcase_add_test(valid, test_full_manifest_accessors);
    tcase_add_test(valid, test_config_rendering);
    tcase_add_test(valid, test_defaults);
    tcase_add_test(valid, test_not_nul_terminated);
    tcase_add_test(valid, test_explicit_values_accepted);
    suite_add_tcase(s, valid);

    TCase *fields = tcase_create("fields");
    tcase_add_test(fields, test_calls_symbol_properties);
    tcase_add_test(fields, test_calls_symbol_properties_invalid);
    tcase_add_test(fields, test_name_missing);
    tcase_add_loop_test(fields, test_name_invalid, 0, ARRAY_LEN(bad_names));
    tcase_add_test(fields, test_name_limits);
    tcase_add_test(fields, test_name_message_format);
    tcase_add_test(fields, test_version_message_format);
    tcase_add_test(fields, test_version_missing_or_not_string);
    tcase_add_loop_test(fields, test_api_invalid, 0, ARRAY_LEN(bad_apis));
    tcase_add_test(fields, test_api_missing);
    tcase_add_loop_test(fields, test_library_invalid, 0, ARRAY_LEN(bad_paths));
    tcase_add_loop_test(fields, test_libraries_invalid, 0, ARRAY_LEN(bad_paths));
    tcase_add_test(fields, test_library_missing);
    tcase_add_test(fields, test_isolation_invalid);
    tcase_add_test(fields, test_priority_invalid);
    tcase_add_test(fields, test_start_timeout_invalid);
    tcase_add_test(fields, test_scenes_invalid);
    tcase_add_test(fields, test_services_invalid);
    tcase_add_test(fields, test_service_missing_name_message);
    tcase_add_test(fields, test_subscribes_invalid);
    tcase_add_test(fields, test_requires_invalid);
    tcase_add_test(fields, test_config_and_build_invalid);
    suite_add_tcase(s, fields);

    TCase *document = tcase_create("document");
    tcase_add_test(document, test_unknown_field_refused);
    tcase_add_test(document, test_duplicate_keys_refused);
    tcase_add_test(document, test_malformed_json_line);
    tcase_add_test(document, test_not_an_object);
    tcase_add_test(document, test_control_bytes_refused);
    tcase_add_test(document, test_message_stays_one_line);
    tcase_add_test(document, test_bad_arguments);
    suite_add_tcase(s, document);

    TCase *semver = tcase_create("semver");
    tcase_add_loop_test(semver, test_semver_invalid, 0, ARRAY_LEN(bad_versions));
    tcase_add_loop_test(semver, test_semver_valid, 0, ARRAY_LEN(good_versions));
    tcase_add_test(semver, test_semver_null);
    tcase_add_loop_test(semver, test_semver_precedence, 0, ARRAY_LEN(ordered_versions));
    tcase_add_test(semver, test_semver_build_ignored);
    suite_add_tcase(s, semver);

    TCase *ranges = tcase_create("ranges");
    tcase_add_loop_test(ranges, test_range_match, 0, ARRAY_LEN(range_cases));
    tcase_add_loop_test(ranges, test_range_invalid, 0, ARRAY_LEN(bad_ranges));
    tcase_add_test(ranges, test_range_messages);
    tcase_add_test(ranges, test_range_null);
    tcase_add_test(ranges, test_requires_ranges);
    suite_add_tcase(s, ranges);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(manifest_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

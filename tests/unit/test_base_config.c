/*
 * Unit tests of keeld's configuration (base/src/config.h): the JSON file,
 * validated field by field with one-line errors, and the command line,
 * whose flags override the file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ORIGIN "/etc/keel/keeld.json"

/* ---- helpers ---------------------------------------------------------------- */

static keel_status parse(keel_base_config *cfg, const char *json, keel_error *err)
{
    keel_base_config_init(cfg);
    keel_error_clear(err);
    return keel_base_config_parse(cfg, json, strlen(json), ORIGIN, "/etc/keel", err);
}

/* Expects `json` to be refused with KEEL_ERR_INVALID and a one-line message
 * that starts with the origin and holds `fragment`. */
static void parse_fails(const char *json, const char *fragment)
{
    keel_base_config cfg;
    keel_error err;
    keel_status st = parse(&cfg, json, &err);
    ck_assert_msg(st == KEEL_ERR_INVALID, "expected INVALID for %s, got %d", json, st);
    ck_assert_msg(strncmp(err.message, ORIGIN ": ", strlen(ORIGIN) + 2) == 0,
                  "message does not start with the file: %s", err.message);
    ck_assert_msg(strstr(err.message, fragment) != NULL, "\"%s\" not in: %s", fragment, err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
    keel_base_config_destroy(&cfg);
}

/* A temporary directory holding keeld.json with `json`; returns its path
 * (static storage) and the directory in dir. */
static char config_dir[64];
static char config_file[128];

static const char *write_config(const char *json)
{
    snprintf(config_dir, sizeof config_dir, "/tmp/keel-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(config_dir));
    snprintf(config_file, sizeof config_file, "%s/keeld.json", config_dir);
    FILE *f = fopen(config_file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    ck_assert_int_eq(fclose(f), 0);
    return config_file;
}

static void remove_config(void)
{
    unlink(config_file);
    rmdir(config_dir);
}

/* Runs the command line `args` (NULL-terminated, without argv[0]). */
static keel_status run_args(keel_base_config *cfg, keel_config_action *action, int *usage,
                            keel_error *err, const char **args)
{
    char *argv[32] = {"keeld"};
    int argc = 1;
    for (; args[argc - 1] != NULL; argc++)
        argv[argc] = (char *)args[argc - 1];
    keel_base_config_init(cfg);
    keel_error_clear(err);
    return keel_base_config_from_args(cfg, argc, argv, action, usage, err);
}

/* ---- the file ------------------------------------------------------------------ */

START_TEST(test_full_file)
{
    keel_base_config cfg;
    keel_error err;
    const char *json =
        "{\"work_dir\": \"state\", \"socket\": \"/run/keel.sock\", \"log_level\": \"debug\","
        " \"limits\": {\"max_namespaces\": 8, \"max_versions\": 3, \"drain_timeout_ms\": 250,"
        "   \"stop_timeout_ms\": 100, \"queue_capacity\": 1024, \"overflow\": \"drop-oldest\"},"
        " \"http\": {\"listen\": \"127.0.0.1:8080\", \"token\": \"0123456789abcdef\"},"
        " \"modules\": [{\"bundle\": \"b/greeter.keel\"}, {\"bundle\": \"/abs/x.keel\", \"activate\": false}],"
        " \"starters\": {\"market\": \"m/market.json\", \"enable\": {\"kv\": {\"version\": \"^1.0\"}}},"
        " \"x-owner\": \"platform\"}";
    ck_assert_int_eq(parse(&cfg, json, &err), KEEL_OK);
    ck_assert_str_eq(cfg.work_dir, "/etc/keel/state");
    ck_assert_str_eq(cfg.socket_path, "/run/keel.sock");
    ck_assert_int_eq(cfg.log_level, KEEL_LOG_DEBUG);
    ck_assert_uint_eq(cfg.max_namespaces, 8);
    ck_assert_uint_eq(cfg.max_versions, 3);
    ck_assert_uint_eq(cfg.drain_timeout_ms, 250);
    ck_assert_uint_eq(cfg.stop_timeout_ms, 100);
    ck_assert_uint_eq(cfg.queue_capacity, 1024);
    ck_assert_int_eq(cfg.overflow, KEEL_OVERFLOW_DROP_OLDEST);
    ck_assert_str_eq(cfg.http_listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.http_token, "0123456789abcdef");
    ck_assert_uint_eq(cfg.module_count, 2);
    ck_assert_str_eq(cfg.modules[0].bundle, "/etc/keel/b/greeter.keel");
    ck_assert_int_eq(cfg.modules[0].activate, 1);
    ck_assert_str_eq(cfg.modules[1].bundle, "/abs/x.keel");
    ck_assert_int_eq(cfg.modules[1].activate, 0);
    ck_assert_str_eq(cfg.starters_enable_json, "{\"kv\":{\"version\":\"^1.0\"}}");
    ck_assert_str_eq(cfg.starters_market, "/etc/keel/m/market.json");
    keel_base_config_destroy(&cfg);
}
END_TEST

START_TEST(test_empty_file_keeps_defaults)
{
    keel_base_config cfg;
    keel_error err;
    ck_assert_int_eq(parse(&cfg, "{}", &err), KEEL_OK);
    ck_assert_ptr_null(cfg.work_dir);
    ck_assert_ptr_null(cfg.http_listen);
    ck_assert_int_eq(cfg.log_level, -1);
    ck_assert_uint_eq(cfg.max_versions, 0);
    ck_assert_int_eq(cfg.overflow, KEEL_OVERFLOW_REJECT);
    ck_assert_uint_eq(cfg.module_count, 0);
    ck_assert_int_eq(parse(&cfg, "{\"http\": null}", &err), KEEL_OK);
    ck_assert_ptr_null(cfg.http_listen);
    keel_base_config_destroy(&cfg);
}
END_TEST

START_TEST(test_file_errors)
{
    parse_fails("{\"work_dri\": \"x\"}", "config field \"work_dri\" is not a known field");
    parse_fails("{\"limits\": {\"max_version\": 2}}", "\"limits.max_version\" is not a known field");
    parse_fails("{\"limits\": {\"max_versions\": 0}}", "\"limits.max_versions\": 0 is out of range");
    parse_fails("{\"limits\": {\"max_namespaces\": 16}}", "expected an integer 1..15");
    parse_fails("{\"limits\": {\"drain_timeout_ms\": 1.5}}", "1.5 is not an integer");
    parse_fails("{\"limits\": {\"overflow\": \"drop\"}}", "\"limits.overflow\": \"drop\" is not an overflow policy");
    parse_fails("{\"limits\": []}", "\"limits\": an array is not an object");
    parse_fails("{\"log_level\": \"loud\"}", "\"log_level\": \"loud\" is not a log level");
    parse_fails("{\"work_dir\": 3}", "\"work_dir\": 3 is not a non-empty string");
    parse_fails("{\"work_dir\": \"\"}", "\"work_dir\": \"\" is not a non-empty string");
    parse_fails("{\"http\": {\"listen\": \"127.0.0.1:1\"}}", "\"http.token\" is missing");
    parse_fails("{\"http\": {\"token\": \"0123456789abcdef\"}}", "\"http.listen\" is missing");
    parse_fails("{\"http\": {\"listen\": \"127.0.0.1:1\", \"token\": \"short\"}}",
                "\"http.token\" is not a string of at least 16 characters");
    parse_fails("{\"modules\": {}}", "\"modules\": an object is not an array");
    parse_fails("{\"modules\": [{\"bundle\": \"a.keel\"}, {\"activate\": true}]}",
                "\"modules[1].bundle\" is missing");
    parse_fails("{\"modules\": [{\"bundle\": \"a.keel\", \"activate\": \"yes\"}]}",
                "\"modules[0].activate\": \"yes\" is not a boolean");
    parse_fails("{\"modules\": [{\"bundle\": \"a.keel\", \"when\": 1}]}",
                "\"modules[0].when\" is not a known field");
    parse_fails("{\"starters\": []}", "\"starters\": an array is not an object");
    parse_fails("{\"starters\": {\"markt\": \"m.json\"}}", "\"starters.markt\" is not a known field");
    parse_fails("{\"starters\": {\"market\": \"\"}}", "\"starters.market\": \"\" is not a non-empty string");
    parse_fails("{\"starters\": {\"enable\": [\"kv\"]}}", "\"starters.enable\": an array is not an object");
    parse_fails("{\"starters\": {\"enable\": {\"kv\": \"^1.0\"}}}",
                "\"starters.enable.kv\": \"^1.0\" is not an object");
    parse_fails("{\"starters\": {\"enable\": {\"kv\": {\"versoin\": \"1\"}}}}",
                "\"starters.enable.kv.versoin\" is not a known field");
    parse_fails("{\"starters\": {\"enable\": {\"kv\": {\"version\": \">=>1\"}}}}",
                "\"starters.enable.kv.version\": \">=>1\" is not a version range");
    parse_fails("{\"starters\": {\"enable\": {\"kv\": {\"config\": 3}}}}",
                "\"starters.enable.kv.config\": 3 is not an object");
    parse_fails("[]", "is not an object");
    parse_fails("{\"work_dir\": ", "not valid JSON");
    parse_fails("{} {}", "not valid JSON");
}
END_TEST

START_TEST(test_load_missing_file)
{
    keel_base_config cfg;
    keel_error err;
    keel_base_config_init(&cfg);
    ck_assert_int_eq(keel_base_config_load(&cfg, "/nonexistent/keeld.json", &err), KEEL_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/keeld.json"));
    keel_base_config_destroy(&cfg);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    keel_base_config cfg, copy;
    keel_error err;
    ck_assert_int_eq(parse(&cfg, "{\"work_dir\": \"/w\", \"modules\": [{\"bundle\": \"/a.keel\"}],"
                                 " \"starters\": {\"enable\": {}}}", &err), KEEL_OK);
    ck_assert_int_eq(keel_base_config_copy(&copy, &cfg, &err), KEEL_OK);
    keel_base_config_destroy(&cfg);
    ck_assert_str_eq(copy.work_dir, "/w");
    ck_assert_uint_eq(copy.module_count, 1);
    ck_assert_str_eq(copy.modules[0].bundle, "/a.keel");
    ck_assert_str_eq(copy.starters_enable_json, "{}");
    keel_base_config_destroy(&copy);
}
END_TEST

/* ---- the command line ---------------------------------------------------------- */

START_TEST(test_args_defaults)
{
    keel_base_config cfg;
    keel_config_action action;
    keel_error err;
    int usage = -1;
    const char *args[] = {"--work-dir", "/tmp/kw", NULL};
    ck_assert_int_eq(run_args(&cfg, &action, &usage, &err, args), KEEL_OK);
    ck_assert_int_eq(action, KEEL_CONFIG_RUN);
    ck_assert_int_eq(usage, 0);
    ck_assert_str_eq(cfg.work_dir, "/tmp/kw");
    ck_assert_str_eq(cfg.socket_path, "/tmp/kw/keeld.sock");
    ck_assert_ptr_null(cfg.http_listen);
    ck_assert_ptr_null(cfg.config_path);
    keel_base_config_destroy(&cfg);
}
END_TEST

START_TEST(test_args_override_file)
{
    const char *file = write_config("{\"work_dir\": \"w\", \"socket\": \"s.sock\", \"log_level\": \"warn\","
                                    " \"limits\": {\"max_versions\": 4}}");
    keel_base_config cfg;
    keel_config_action action;
    keel_error err;
    int usage = -1;
    const char *args[] = {"--config", file, "--socket=/tmp/other.sock", "--log-level", "error",
                          "--http", "127.0.0.1:0", "--http-token", "0123456789abcdef", NULL};
    ck_assert_int_eq(run_args(&cfg, &action, &usage, &err, args), KEEL_OK);
    char expected[256];
    snprintf(expected, sizeof expected, "%s/w", config_dir);
    ck_assert_str_eq(cfg.work_dir, expected);
    ck_assert_str_eq(cfg.socket_path, "/tmp/other.sock");
    ck_assert_int_eq(cfg.log_level, KEEL_LOG_ERROR);
    ck_assert_uint_eq(cfg.max_versions, 4);
    ck_assert_str_eq(cfg.http_listen, "127.0.0.1:0");
    ck_assert_str_eq(cfg.config_path, file);
    keel_base_config_destroy(&cfg);
    remove_config();
}
END_TEST

START_TEST(test_args_help_and_version)
{
    keel_base_config cfg;
    keel_config_action action;
    keel_error err;
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(run_args(&cfg, &action, NULL, &err, help), KEEL_OK);
    ck_assert_int_eq(action, KEEL_CONFIG_HELP);
    keel_base_config_destroy(&cfg);
    const char *version[] = {"--work-dir", "/w", "--version", NULL};
    ck_assert_int_eq(run_args(&cfg, &action, NULL, &err, version), KEEL_OK);
    ck_assert_int_eq(action, KEEL_CONFIG_VERSION);
    keel_base_config_destroy(&cfg);
    ck_assert_ptr_nonnull(strstr(keel_base_config_usage(), "--work-dir"));
}
END_TEST

/* Expects a usage error mentioning `fragment`. */
static void args_fail(const char **args, int want_usage, const char *fragment)
{
    keel_base_config cfg;
    keel_config_action action;
    keel_error err;
    int usage = -1;
    ck_assert_int_ne(run_args(&cfg, &action, &usage, &err, args), KEEL_OK);
    ck_assert_int_eq(usage, want_usage);
    ck_assert_msg(strstr(err.message, fragment) != NULL, "\"%s\" not in: %s", fragment, err.message);
    keel_base_config_destroy(&cfg);
}

START_TEST(test_args_errors)
{
    const char *unknown[] = {"--work-dir", "/w", "--frobnicate", NULL};
    args_fail(unknown, 1, "unknown argument \"--frobnicate\"");
    const char *no_dir[] = {"--socket", "/tmp/x.sock", NULL};
    args_fail(no_dir, 1, "--work-dir DIR is required");
    const char *no_value[] = {"--work-dir", NULL};
    args_fail(no_value, 1, "--work-dir needs a value");
    const char *level[] = {"--work-dir", "/w", "--log-level", "chatty", NULL};
    args_fail(level, 1, "\"chatty\" is not a log level");
    const char *no_token[] = {"--work-dir", "/w", "--http", "127.0.0.1:8080", NULL};
    args_fail(no_token, 1, "--http needs --http-token");
    const char *short_token[] = {"--work-dir", "/w", "--http", "127.0.0.1:1", "--http-token", "abc", NULL};
    args_fail(short_token, 1, "at least 16 characters");
    const char *token_only[] = {"--work-dir", "/w", "--http-token", "0123456789abcdef", NULL};
    args_fail(token_only, 1, "the HTTP admin API is off");
    const char *missing_file[] = {"--work-dir", "/w", "--config", "/nonexistent.json", NULL};
    args_fail(missing_file, 0, "/nonexistent.json");
}
END_TEST

START_TEST(test_args_bad_file_is_not_usage)
{
    const char *file = write_config("{\"limits\": {\"overflow\": 3}}");
    const char *args[] = {"--work-dir", "/w", "--config", file, NULL};
    args_fail(args, 0, "\"limits.overflow\": 3 is not an overflow policy");
    remove_config();
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("base_config");
    TCase *file = tcase_create("file");
    tcase_add_test(file, test_full_file);
    tcase_add_test(file, test_empty_file_keeps_defaults);
    tcase_add_test(file, test_file_errors);
    tcase_add_test(file, test_load_missing_file);
    tcase_add_test(file, test_copy_is_deep);
    suite_add_tcase(s, file);
    TCase *args = tcase_create("args");
    tcase_add_test(args, test_args_defaults);
    tcase_add_test(args, test_args_override_file);
    tcase_add_test(args, test_args_help_and_version);
    tcase_add_test(args, test_args_errors);
    tcase_add_test(args, test_args_bad_file_is_not_usage);
    suite_add_tcase(s, args);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(config_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Unit tests of the deployed-set record (base/src/state.h): round trip,
 * a missing file, corrupt files, a leftover temporary file, and the
 * record helpers.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

static char work_dir[64];

static void setup(void)
{
    snprintf(work_dir, sizeof work_dir, "/tmp/keel-state-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work_dir));
}

static void teardown(void)
{
    DIR *dir = opendir(work_dir);
    struct dirent *de;
    while (dir != NULL && (de = readdir(dir)) != NULL) {
        char path[512];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", work_dir, de->d_name);
        unlink(path);
    }
    if (dir != NULL)
        closedir(dir);
    rmdir(work_dir);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static int file_exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", work_dir, name);
    return access(path, F_OK) == 0;
}

/* A state with two versions of greeter, gray-routed, and one of shout. */
static void sample_state(keel_state *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(keel_state_put_module(s, "greeter", "1.0.0", "bundles/greeter-1.0.0.keel", 100, 1), KEEL_OK);
    ck_assert_int_eq(keel_state_put_module(s, "greeter", "2.0.0", "bundles/greeter-2.0.0.keel", 100, 1), KEEL_OK);
    ck_assert_int_eq(keel_state_put_module(s, "shout", "1.0.0-rc.1+b7", "bundles/shout-1.0.0-rc.1+b7.keel", 5, 0), KEEL_OK);
    keel_state_route gray = {"greeter", "1.0.0", "2.0.0", 10, 1};
    ck_assert_int_eq(keel_state_put_route(s, &gray), KEEL_OK);
    keel_state_route plain = {"shout", "1.0.0-rc.1+b7", NULL, 0, 0};
    ck_assert_int_eq(keel_state_put_route(s, &plain), KEEL_OK);
}

/* ---- files ---------------------------------------------------------------------- */

START_TEST(test_missing_file_is_empty)
{
    keel_state s;
    keel_error err;
    keel_error_clear(&err);
    ck_assert_int_eq(keel_state_read(work_dir, &s, &err), KEEL_OK);
    ck_assert_uint_eq(s.module_count, 0);
    ck_assert_uint_eq(s.route_count, 0);
    keel_state_clear(&s);
}
END_TEST

START_TEST(test_round_trip)
{
    keel_state s, back;
    keel_error err;
    sample_state(&s);
    ck_assert_int_eq(keel_state_write(work_dir, &s, &err), KEEL_OK);
    ck_assert(!file_exists(KEEL_STATE_FILE ".tmp"));
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", work_dir, KEEL_STATE_FILE);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(keel_state_read(work_dir, &back, &err), KEEL_OK);
    ck_assert_uint_eq(back.module_count, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(back.modules[i].name, s.modules[i].name);
        ck_assert_str_eq(back.modules[i].version, s.modules[i].version);
        ck_assert_str_eq(back.modules[i].bundle, s.modules[i].bundle);
        ck_assert_int_eq(back.modules[i].priority, s.modules[i].priority);
        ck_assert_int_eq(back.modules[i].active, s.modules[i].active);
    }
    ck_assert_uint_eq(back.route_count, 2);
    keel_state_route *r = keel_state_find_route(&back, "greeter");
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->primary, "1.0.0");
    ck_assert_str_eq(r->gray, "2.0.0");
    ck_assert_uint_eq(r->percent, 10);
    ck_assert_int_eq(r->by_key, 1);
    r = keel_state_find_route(&back, "shout");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(r->gray);
    keel_state_clear(&s);
    keel_state_clear(&back);
}
END_TEST

START_TEST(test_rewrite_replaces)
{
    keel_state s, back;
    keel_error err;
    sample_state(&s);
    ck_assert_int_eq(keel_state_write(work_dir, &s, &err), KEEL_OK);
    ck_assert_int_eq(keel_state_remove_module(&s, "greeter", "1.0.0"), 1);
    ck_assert_int_eq(keel_state_remove_route(&s, "greeter"), 1);
    ck_assert_int_eq(keel_state_write(work_dir, &s, &err), KEEL_OK);
    ck_assert_int_eq(keel_state_read(work_dir, &back, &err), KEEL_OK);
    ck_assert_uint_eq(back.module_count, 2);
    ck_assert_ptr_null(keel_state_find_module(&back, "greeter", "1.0.0"));
    ck_assert_ptr_nonnull(keel_state_find_module(&back, "greeter", "2.0.0"));
    ck_assert_uint_eq(back.route_count, 1);
    keel_state_clear(&s);
    keel_state_clear(&back);
}
END_TEST

START_TEST(test_leftover_temp_ignored)
{
    keel_state s, back;
    keel_error err;
    sample_state(&s);
    ck_assert_int_eq(keel_state_write(work_dir, &s, &err), KEEL_OK);
    /* A crash in the middle of the next write leaves half a temp file. */
    write_file(KEEL_STATE_FILE ".tmp", "{\"format\": 1, \"modules\": [{\"name\": \"gre");
    ck_assert_int_eq(keel_state_read(work_dir, &back, &err), KEEL_OK);
    ck_assert_uint_eq(back.module_count, 3);
    keel_state_clear(&back);
    /* The next write goes through it and leaves none behind. */
    ck_assert_int_eq(keel_state_remove_module(&s, "shout", "1.0.0-rc.1+b7"), 1);
    ck_assert_int_eq(keel_state_write(work_dir, &s, &err), KEEL_OK);
    ck_assert(!file_exists(KEEL_STATE_FILE ".tmp"));
    ck_assert_int_eq(keel_state_read(work_dir, &back, &err), KEEL_OK);
    ck_assert_uint_eq(back.module_count, 2);
    keel_state_clear(&s);
    keel_state_clear(&back);
}
END_TEST

/* Writes `text` as state.json and expects it refused, naming the file
 * and `fragment`, in one line. */
static void read_fails(const char *text, const char *fragment)
{
    keel_state s;
    keel_error err;
    keel_error_clear(&err);
    write_file(KEEL_STATE_FILE, text);
    ck_assert_int_eq(keel_state_read(work_dir, &s, &err), KEEL_ERR_INVALID);
    ck_assert_uint_eq(s.module_count, 0);
    ck_assert_msg(strstr(err.message, KEEL_STATE_FILE) != NULL, "no file name in: %s", err.message);
    ck_assert_msg(strstr(err.message, fragment) != NULL, "\"%s\" not in: %s", fragment, err.message);
    ck_assert_ptr_null(strchr(err.message, '\n'));
}

START_TEST(test_corrupt_files)
{
    read_fails("", "not valid JSON");
    read_fails("{\"format\": 1, \"modules\": [", "not valid JSON");
    read_fails("\x01\x02garbage", "not valid JSON");
    read_fails("{\"format\": 1, \"modules\": []} trailing", "not valid JSON");
    read_fails("[]", "(top level)");
    read_fails("{\"modules\": []}", "\"format\"");
    read_fails("{\"format\": 2, \"modules\": []}", "format 2 is not one this keeld reads");
    read_fails("{\"format\": 1}", "\"modules\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"Bad\", \"version\": \"1.0.0\","
               " \"bundle\": \"bundles/a.keel\", \"priority\": 1, \"active\": true}]}",
               "\"modules[0].name\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"a\", \"version\": \"1.0\","
               " \"bundle\": \"bundles/a.keel\", \"priority\": 1, \"active\": true}]}",
               "\"modules[0].version\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"a\", \"version\": \"1.0.0\","
               " \"bundle\": \"../../etc/passwd\", \"priority\": 1, \"active\": true}]}",
               "\"modules[0].bundle\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"a\", \"version\": \"1.0.0\","
               " \"bundle\": \"/abs.keel\", \"priority\": 1, \"active\": true}]}",
               "\"modules[0].bundle\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"a\", \"version\": \"1.0.0\","
               " \"bundle\": \"bundles/a.keel\", \"priority\": 1}]}", "\"modules[0].active\"");
    read_fails("{\"format\": 1, \"modules\": [{\"name\": \"a\", \"version\": \"1.0.0\","
               " \"bundle\": \"bundles/a.keel\", \"priority\": 1, \"active\": true},"
               " {\"name\": \"a\", \"version\": \"1.0.0\", \"bundle\": \"bundles/a.keel\","
               " \"priority\": 1, \"active\": true}]}", "recorded twice");
    read_fails("{\"format\": 1, \"modules\": [], \"routes\": [{\"name\": \"a\", \"primary\": \"1.0.0\","
               " \"gray\": 3, \"percent\": 10, \"by_key\": false}]}", "\"routes[0].gray\"");
    read_fails("{\"format\": 1, \"modules\": [], \"routes\": [{\"name\": \"a\", \"primary\": \"1.0.0\","
               " \"percent\": 101, \"by_key\": false}]}", "\"routes[0].percent\"");
}
END_TEST

/* ---- records ---------------------------------------------------------------------- */

START_TEST(test_put_replaces)
{
    keel_state s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(keel_state_put_module(&s, "a", "1.0.0", "bundles/a-1.0.0.keel", 1, 0), KEEL_OK);
    ck_assert_int_eq(keel_state_put_module(&s, "a", "1.0.0", "bundles/a-1.0.0.keel", 7, 1), KEEL_OK);
    ck_assert_uint_eq(s.module_count, 1);
    ck_assert_int_eq(s.modules[0].priority, 7);
    ck_assert_int_eq(s.modules[0].active, 1);
    ck_assert_int_eq(keel_state_remove_module(&s, "a", "2.0.0"), 0);
    keel_state_route r = {"a", "1.0.0", NULL, 0, 0};
    ck_assert_int_eq(keel_state_put_route(&s, &r), KEEL_OK);
    r.gray = "2.0.0";
    r.percent = 50;
    ck_assert_int_eq(keel_state_put_route(&s, &r), KEEL_OK);
    ck_assert_uint_eq(s.route_count, 1);
    ck_assert_str_eq(s.routes[0].gray, "2.0.0");
    ck_assert_int_eq(keel_state_remove_route(&s, "b"), 0);
    keel_state_clear(&s);
    ck_assert_uint_eq(s.module_count, 0);
    keel_state_clear(NULL);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *files = tcase_create("files");
    tcase_add_checked_fixture(files, setup, teardown);
    tcase_add_test(files, test_missing_file_is_empty);
    tcase_add_test(files, test_round_trip);
    tcase_add_test(files, test_rewrite_replaces);
    tcase_add_test(files, test_leftover_temp_ignored);
    tcase_add_test(files, test_corrupt_files);
    suite_add_tcase(s, files);
    TCase *records = tcase_create("records");
    tcase_add_test(records, test_put_replaces);
    suite_add_tcase(s, records);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(state_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

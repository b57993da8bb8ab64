/*
 * The starter host against real starter objects (the probe starter in
 * five builds): the market index, configuration schemas, enabling,
 * binding through the upgrade-safe tables, upgrades in place under
 * concurrent calls, refused upgrades, requirement checks, disabling.
 */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <keel/market.h>
#include <keel/schema.h>
#include <keel/starter_set.h>

typedef struct probe_client probe_client;
typedef struct probe_api {
    uint32_t version;
    uint32_t size;
    keel_status (*add)(probe_client *c, int64_t delta, int64_t *out);
    keel_status (*code_version)(probe_client *c, char *buf, uint64_t size);
    keel_status (*sleep_ms)(probe_client *c, int64_t ms);
    int64_t (*twice)(probe_client *c, int64_t x);   /* 1.1.0 */
} probe_api;

static char work[256];
static char vbuf[32];
static keel_router *router;
static keel_starter_set *set;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(work, sizeof work, "/tmp/keel-starter-set-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work));
    keel_router_options ropts = {0};
    keel_error err = {0};
    ck_assert_int_eq(keel_router_create(&ropts, &router, &err), KEEL_OK);
    keel_market *market;
    ck_assert_msg(keel_market_load(PROBE_DIR "/probe-market.json", &market, &err) == KEEL_OK, "%s",
                  err.message);
    keel_starter_set_options opts = {.work_dir = work, .router = router, .drain_timeout_ms = 2000};
    ck_assert_int_eq(keel_starter_set_create(&opts, market, &set, &err), KEEL_OK);
}

static void teardown(void)
{
    keel_starter_set_destroy(set);
    keel_router_destroy(router);
    nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static keel_starter_binding who(const char *module)
{
    static const char *const scenes[] = {"default", NULL};
    static char instance[128];
    snprintf(instance, sizeof instance, "%s@1.0.0", module);
    return (keel_starter_binding){module, "1.0.0", instance, "default", scenes};
}

static const probe_api *bind_probe(const char *module, probe_client **client)
{
    keel_starter_binding w = who(module);
    const void *table = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_starter_set_bind(set, &w, "probe", "^1.0", &table, (void **)client, &err) ==
                      KEEL_OK, "%s", err.message);
    return table;
}

static keel_status enable(const char *range, const char *config, keel_error *err)
{
    return keel_starter_set_enable(set, "probe", range, config, err);
}

/* --- market and schema ------------------------------------------------ */

static keel_status load_text(const char *text, keel_error *err)
{
    char path[300];
    snprintf(path, sizeof path, "%s/m.json", work);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    keel_market *m = NULL;
    keel_status st = keel_market_load(path, &m, err);
    keel_market_destroy(m);
    return st;
}

START_TEST(market_refuses_bad_indexes)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"{\"starters\": [", "malformed JSON"},
        {"{}", "\"starters\" array"},
        {"{\"starters\": [{\"name\": \"Bad\", \"versions\": []}]}", "starters[0].name"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": []}]}", "starters[0].versions"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": [{\"version\": \"1.0\", \"library\": \"x\"}]}]}",
         "starters[0].versions[0].version"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": [{\"version\": \"1.0.0\"}]}]}", ".library"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": [{\"version\": \"1.0.0\", \"library\": \"x\","
         " \"module_api\": \">=>3\"}]}]}", ".module_api"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": [{\"version\": \"1.0.0\", \"library\": \"x\","
         " \"config_schema\": {\"typo\": 1}}]}]}", "\"typo\" is not supported"},
        {"{\"starters\": [{\"name\": \"a\", \"versions\": [{\"version\": \"1.0.0\", \"library\": \"x\"}]},"
         " {\"name\": \"a\", \"versions\": [{\"version\": \"1.0.0\", \"library\": \"x\"}]}]}",
         "listed twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        keel_error err = {0};
        ck_assert_int_ne(load_text(cases[i].text, &err), KEEL_OK);
        ck_assert_msg(strstr(err.message, cases[i].needle), "case %zu: %s", i, err.message);
    }
}
END_TEST

START_TEST(market_finds_and_searches)
{
    const keel_market *m = keel_starter_set_market(set);
    const keel_market_entry *e = keel_market_find(m, "probe");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->version_count, 5);
    ck_assert_str_eq(keel_market_best(e, "^1.0")->version, "1.3.0");
    ck_assert_str_eq(keel_market_best(e, "~1.1")->version, "1.1.0");
    ck_assert_str_eq(keel_market_best(e, NULL)->version, "2.0.0");
    ck_assert_ptr_null(keel_market_best(e, "^3"));
    ck_assert(keel_market_entry_matches(e, "COUNTER"));
    ck_assert(!keel_market_entry_matches(e, "redis"));
    char *found = keel_starter_set_search_json(set, "ticking");
    ck_assert_ptr_nonnull(strstr(found, "\"probe\""));
    ck_assert_ptr_null(strstr(found, "\"future\""));
    free(found);
}
END_TEST

START_TEST(schema_validates_configs)
{
    cJSON *schema = cJSON_Parse(
        "{\"type\": \"object\", \"required\": [\"port\"], \"additionalProperties\": false,"
        " \"properties\": {\"port\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 65535},"
        "  \"mode\": {\"enum\": [\"a\", \"b\"]}, \"name\": {\"type\": \"string\", \"maxLength\": 3},"
        "  \"list\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\":"
        "   {\"path\": {\"type\": \"string\", \"minLength\": 1}}}}}}");
    ck_assert_int_eq(keel_schema_check(schema, NULL), KEEL_OK);
    static const struct {
        const char *config, *needle;
    } cases[] = {
        {"{}", "config field \"port\" is required"},
        {"{\"port\": \"x\"}", "\"port\": expected an integer, got \"x\""},
        {"{\"port\": 70000}", "\"port\": expected a number <= 65535"},
        {"{\"port\": 1.5}", "expected an integer"},
        {"{\"port\": 1, \"mode\": \"c\"}", "\"mode\": expected one of [\"a\",\"b\"]"},
        {"{\"port\": 1, \"name\": \"long\"}", "at most 3 characters"},
        {"{\"port\": 1, \"other\": 1}", "\"other\" is not known (known: port, mode, name, list)"},
        {"{\"port\": 1, \"list\": [{\"path\": \"/a\"}, {\"path\": \"\"}]}", "\"list[1].path\""},
        {"[]", "config: expected an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *v = cJSON_Parse(cases[i].config);
        keel_error err = {0};
        ck_assert_int_eq(keel_schema_validate(schema, v, "starter t", &err), KEEL_ERR_INVALID);
        ck_assert_msg(strstr(err.message, cases[i].needle), "case %zu: %s", i, err.message);
        ck_assert_msg(strncmp(err.message, "starter t: ", 11) == 0, "%s", err.message);
        cJSON_Delete(v);
    }
    cJSON *ok = cJSON_Parse("{\"port\": 8080, \"mode\": \"a\", \"list\": [{\"path\": \"/x\"}]}");
    ck_assert_int_eq(keel_schema_validate(schema, ok, "t", NULL), KEEL_OK);
    cJSON_Delete(ok);
    cJSON_Delete(schema);
}
END_TEST

/* --- enabling ----------------------------------------------------------- */

START_TEST(enable_refuses_what_cannot_run)
{
    keel_error err = {0};
    ck_assert_int_eq(keel_starter_set_enable(set, "nosuch", NULL, NULL, &err), KEEL_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "not in the market"));
    ck_assert_int_eq(enable("^5", NULL, &err), KEEL_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "1.0.0, 1.1.0, 1.2.0, 1.3.0, 2.0.0"));
    ck_assert_int_eq(keel_starter_set_enable(set, "future", NULL, NULL, &err), KEEL_ERR_API);
    ck_assert_ptr_nonnull(strstr(err.message, "module-api >=99"));
    ck_assert_int_eq(enable("1.0.0", "{\"start\": -1}", &err), KEEL_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "starter probe 1.0.0: config field \"start\""), "%s", err.message);
    ck_assert_int_eq(enable("1.0.0", "{\"port\": 1}", &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(enable("1.0.0", "[1]", &err), KEEL_ERR_INVALID);
    /* create itself refuses */
    ck_assert_int_eq(enable("1.0.0", "{\"fail\":true}", &err), KEEL_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "asked to fail"));
    ck_assert_ptr_null(keel_starter_set_version(set, "probe", vbuf, sizeof vbuf));
    ck_assert_int_eq(enable("1.0.0", "{\"start\": 5}", &err), KEEL_OK);
    ck_assert_str_eq(keel_starter_set_version(set, "probe", vbuf, sizeof vbuf), "1.0.0");
    ck_assert_int_eq(enable("1.0.0", "{\"start\": 5}", &err), KEEL_OK); /* nothing to do */
    ck_assert_int_eq(enable("1.0.0", "{\"start\": 6}", &err), KEEL_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(err.message, "disable it first"));
}
END_TEST

START_TEST(bind_calls_through_the_base_table)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.0.0", "{\"start\": 100}", &err), KEEL_OK);
    probe_client *a, *b;
    const probe_api *ta = bind_probe("alpha", &a);
    const probe_api *tb = bind_probe("beta", &b);
    ck_assert_ptr_eq(ta, tb);                 /* one table per layout */
    ck_assert_uint_eq(ta->size, 8 + 3 * sizeof(void *));
    int64_t out = 0;
    ck_assert_int_eq(ta->add(a, 5, &out), KEEL_OK);
    ck_assert_int_eq(out, 105);
    ck_assert_int_eq(tb->add(b, 1, &out), KEEL_OK);
    ck_assert_int_eq(out, 101);
    char buf[16];
    ck_assert_int_eq(ta->code_version(a, buf, sizeof buf), KEEL_OK);
    ck_assert_str_eq(buf, "1.0.0");
    keel_starter_binding w = who("gamma");
    const void *t;
    void *c;
    ck_assert_int_eq(keel_starter_set_bind(set, &w, "probe", "^1.1", &t, &c, &err), KEEL_ERR_API);
    ck_assert_ptr_nonnull(strstr(err.message, "the base runs 1.0.0"));
    ck_assert_int_eq(keel_starter_set_bind(set, &w, "nosuch", NULL, &t, &c, &err), KEEL_ERR_NOT_FOUND);
    char *list = keel_starter_set_list_json(set);
    ck_assert_ptr_nonnull(strstr(list, "\"bindings\":[\"beta@1.0.0\",\"alpha@1.0.0\"]"));
    free(list);
    ck_assert_int_eq(keel_starter_set_disable(set, "probe", &err), KEEL_ERR_BUSY);
    ck_assert_ptr_nonnull(strstr(err.message, "alpha@1.0.0"));
    keel_starter_set_unbind(set, "probe", a);
    keel_starter_set_unbind(set, "probe", b);
    ck_assert_int_eq(keel_starter_set_disable(set, "probe", &err), KEEL_OK);
    ck_assert_int_eq(keel_starter_set_disable(set, "probe", &err), KEEL_ERR_NOT_FOUND);
}
END_TEST

typedef struct caller {
    const probe_api *t;
    probe_client *c;
    atomic_int *stop;
    long calls, failures;
    int64_t added;
    const char *versions;   /* the code versions that may answer, e.g. "1.0.0 1.1.0" */
} caller;

static void *call_loop(void *arg)
{
    caller *k = arg;
    char buf[16];
    while (!atomic_load(k->stop)) {
        int64_t out;
        if (k->t->add(k->c, 1, &out) != KEEL_OK)
            k->failures++;
        else
            k->added++;
        if (k->t->code_version(k->c, buf, sizeof buf) != KEEL_OK || strlen(buf) != 5 ||
            strstr(k->versions, buf) == NULL)
            k->failures++;
        k->calls += 2;
    }
    return NULL;
}

START_TEST(upgrade_in_place_under_calls)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.0.0", NULL, &err), KEEL_OK);
    enum { THREADS = 4 };
    caller k[THREADS];
    pthread_t th[THREADS];
    atomic_int stop = 0;
    probe_client *clients[THREADS];
    for (int i = 0; i < THREADS; i++) {
        k[i] = (caller){bind_probe("alpha", &clients[i]), clients[i], &stop, 0, 0, 0, "1.0.0 1.1.0"};
        pthread_create(&th[i], NULL, call_loop, &k[i]);
    }
    usleep(50000);
    ck_assert_msg(enable("1.1.0", NULL, &err) == KEEL_OK, "%s", err.message);
    usleep(50000);
    atomic_store(&stop, 1);
    long calls = 0;
    int64_t added = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(k[i].failures, 0);
        calls += k[i].calls;
        added += k[i].added;
    }
    ck_assert_int_gt(calls, 1000);
    ck_assert_str_eq(keel_starter_set_version(set, "probe", vbuf, sizeof vbuf), "1.1.0");
    /* The state came along: the counter holds every add. */
    int64_t out;
    ck_assert_int_eq(k[0].t->add(clients[0], 0, &out), KEEL_OK);
    ck_assert_int_eq(out, added);
    char buf[16];
    ck_assert_int_eq(k[0].t->code_version(clients[0], buf, sizeof buf), KEEL_OK);
    ck_assert_str_eq(buf, "1.1.0");
    /* A new binding gets the grown table. */
    probe_client *late;
    const probe_api *t2 = bind_probe("beta", &late);
    ck_assert_ptr_ne(t2, k[0].t);
    ck_assert_uint_eq(t2->size, 8 + 4 * sizeof(void *));
    ck_assert_int_eq(t2->twice(late, 21), 42);
    char *info = keel_starter_set_info_json(set, "probe", &err);
    ck_assert_ptr_nonnull(strstr(info, "\"upgrades\":1"));
    ck_assert_ptr_nonnull(strstr(info, "\"resumed_by\":\"1.1.0\""));
    ck_assert_ptr_nonnull(strstr(info, "\"ticking\":true"));
    free(info);
    for (int i = 0; i < THREADS; i++)
        keel_starter_set_unbind(set, "probe", clients[i]);
    keel_starter_set_unbind(set, "probe", late);
}
END_TEST

/* Many swaps back and forth (1.0.0 <-> 1.3.0 have the same functions)
 * while four threads call: every call succeeds, and no caller ever touches
 * code or bookkeeping of a version already unloaded (ASan/TSan watch). */
START_TEST(swaps_back_and_forth_under_calls)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.0.0", NULL, &err), KEEL_OK);
    enum { THREADS = 4, SWAPS = 60 };
    caller k[THREADS];
    pthread_t th[THREADS];
    atomic_int stop = 0;
    probe_client *clients[THREADS];
    for (int i = 0; i < THREADS; i++) {
        k[i] = (caller){bind_probe("alpha", &clients[i]), clients[i], &stop, 0, 0, 0, "1.0.0 1.3.0"};
        pthread_create(&th[i], NULL, call_loop, &k[i]);
    }
    for (int i = 0; i < SWAPS; i++)
        ck_assert_msg(enable(i % 2 == 0 ? "1.3.0" : "1.0.0", NULL, &err) == KEEL_OK, "swap %d: %s", i,
                      err.message);
    atomic_store(&stop, 1);
    int64_t added = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(k[i].failures, 0);
        added += k[i].added;
    }
    int64_t out;
    ck_assert_int_eq(k[0].t->add(clients[0], 0, &out), KEEL_OK);
    ck_assert_int_eq(out, added);
    char *info = keel_starter_set_info_json(set, "probe", &err);
    ck_assert_ptr_nonnull(strstr(info, "\"upgrades\":60"));
    free(info);
    for (int i = 0; i < THREADS; i++)
        keel_starter_set_unbind(set, "probe", clients[i]);
}
END_TEST

typedef struct sleeper {
    const probe_api *t;
    probe_client *c;
    keel_status st;
} sleeper;

static void *sleep_inside(void *arg)
{
    sleeper *s = arg;
    s->st = s->t->sleep_ms(s->c, 300);
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

START_TEST(upgrade_waits_for_calls_inside_old_code)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.0.0", NULL, &err), KEEL_OK);
    sleeper s = {0};
    s.t = bind_probe("alpha", &s.c);
    pthread_t th;
    pthread_create(&th, NULL, sleep_inside, &s);
    usleep(50000);
    double t0 = now_ms();
    ck_assert_int_eq(enable("1.1.0", NULL, &err), KEEL_OK);
    double waited = now_ms() - t0;
    pthread_join(th, NULL);
    ck_assert_int_eq(s.st, KEEL_OK);
    /* The old code was unloaded only after the call inside it returned. */
    ck_assert_msg(waited >= 150, "upgrade returned after %.0f ms", waited);
    char *info = keel_starter_set_info_json(set, "probe", &err);
    ck_assert_ptr_nonnull(strstr(info, "\"old_versions_loaded\":0"));
    free(info);
    keel_starter_set_unbind(set, "probe", s.c);
}
END_TEST

START_TEST(refused_upgrades_leave_the_running_version)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.1.0", NULL, &err), KEEL_OK);
    probe_client *c;
    const probe_api *t = bind_probe("alpha", &c);
    int64_t out;
    t->add(c, 7, &out);
    ck_assert_int_eq(enable("2.0.0", NULL, &err), KEEL_ERR_STATE);
    ck_assert_msg(strstr(err.message, "state in format 2, the running 1.1.0 in 1"), "%s", err.message);
    ck_assert_int_eq(enable("1.3.0", NULL, &err), KEEL_ERR_STATE);
    ck_assert_msg(strstr(err.message, "1.3.0 has 3 functions, the running 1.1.0 4"), "%s", err.message);
    ck_assert_int_eq(enable("1.2.0", NULL, &err), KEEL_ERR_START);
    ck_assert_msg(strstr(err.message, "1.1.0 keeps running"), "%s", err.message);
    ck_assert_str_eq(keel_starter_set_version(set, "probe", vbuf, sizeof vbuf), "1.1.0");
    char buf[16];
    ck_assert_int_eq(t->code_version(c, buf, sizeof buf), KEEL_OK);
    ck_assert_str_eq(buf, "1.1.0");
    ck_assert_int_eq(t->add(c, 0, &out), KEEL_OK);
    ck_assert_int_eq(out, 7);
    char *info = keel_starter_set_info_json(set, "probe", &err);
    ck_assert_ptr_nonnull(strstr(info, "\"ticking\":true"));
    ck_assert_ptr_nonnull(strstr(info, "\"upgrades\":0"));
    free(info);
    keel_starter_set_unbind(set, "probe", c);
}
END_TEST

static keel_manifest *manifest(const char *requires)
{
    char text[512];
    snprintf(text, sizeof text, "{\"name\": \"m\", \"version\": \"1.0.0\", \"api\": 3, \"library\": "
             "\"m.so\", \"requires\": %s}", requires);
    keel_manifest *m = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_manifest_parse(text, strlen(text), "t", &m, &err) == KEEL_OK, "%s", err.message);
    return m;
}

START_TEST(check_lists_every_missing_starter)
{
    keel_error err = {0};
    ck_assert_int_eq(enable("1.0.0", NULL, &err), KEEL_OK);
    keel_manifest *ok = manifest("{\"probe\": \"^1.0\"}");
    ck_assert_int_eq(keel_starter_set_check(set, ok, &err), KEEL_OK);
    keel_manifest_destroy(ok);
    keel_manifest *bad = manifest("{\"probe\": \"^2.0\", \"future\": \"^1\", \"nosuch\": \"1.x\"}");
    ck_assert_int_eq(keel_starter_set_check(set, bad, &err), KEEL_ERR_NOT_FOUND);
    ck_assert_msg(strstr(err.message, "m@1.0.0 requires 3 starters the base does not provide"), "%s",
                  err.message);
    ck_assert_msg(strstr(err.message, "probe ^2.0 (the base runs 1.0.0; market: 1.0.0, 1.1.0"), "%s",
                  err.message);
    ck_assert_msg(strstr(err.message, "future ^1 (not enabled; market: 1.0.0)"), "%s", err.message);
    ck_assert_msg(strstr(err.message, "nosuch 1.x (not in the market)"), "%s", err.message);
    keel_manifest_destroy(bad);
}
END_TEST

static Suite *starter_set_suite(void)
{
    Suite *s = suite_create("starter_set");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, market_refuses_bad_indexes);
    tcase_add_test(tc, market_finds_and_searches);
    tcase_add_test(tc, schema_validates_configs);
    tcase_add_test(tc, enable_refuses_what_cannot_run);
    tcase_add_test(tc, bind_calls_through_the_base_table);
    tcase_add_test(tc, upgrade_in_place_under_calls);
    tcase_add_test(tc, upgrade_waits_for_calls_inside_old_code);
    tcase_add_test(tc, swaps_back_and_forth_under_calls);
    tcase_add_test(tc, refused_upgrades_leave_the_running_version);
    tcase_add_test(tc, check_lists_every_missing_starter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(starter_set_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

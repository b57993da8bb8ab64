/*
 * The config starter's change callbacks: who is called with which value
 * (the effective one for the watcher's scene: a module-wide change does not
 * clobber a scene's own value), unwatch and unbind stopping them and
 * waiting for a callback in progress, callbacks that call back into the
 * starter, and concurrency (readers while the operator sets; bindings that
 * come and go while changes are delivered).
 */
#include "config_test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Records every call as "scene/key=value;" (value NULL as "NULL"). */
typedef struct recorder {
    pthread_mutex_t lock;
    int calls;
    char log[4096];
} recorder;

static void rec_init(recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

static void on_record(void *user, const char *scene, const char *key, const char *value)
{
    recorder *r = user;
    pthread_mutex_lock(&r->lock);
    r->calls++;
    size_t n = strlen(r->log);
    snprintf(r->log + n, sizeof r->log - n, "%s/%s=%s;", scene, key, value ? value : "NULL");
    pthread_mutex_unlock(&r->lock);
}

/* The log so far (copied into `out`), then cleared. */
static const char *rec_take(recorder *r, char *out, size_t size)
{
    pthread_mutex_lock(&r->lock);
    size_t n = strlen(r->log);
    if (n >= size)
        n = size - 1;
    memcpy(out, r->log, n);
    out[n] = '\0';
    r->log[0] = '\0';
    pthread_mutex_unlock(&r->lock);
    return out;
}

static int notified(cJSON *r)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(r, "notified");
    ck_assert(cJSON_IsNumber(n));
    int v = n->valueint;
    cJSON_Delete(r);
    return v;
}

#define SET(h, args) notified(test_admin((h), "set", (args)))
#define DEL(h, args) notified(test_admin((h), "delete", (args)))

START_TEST(callbacks_carry_the_effective_value_of_their_scene)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NOTIFY_DEFAULTS);
    const keel_config_api *api = test_api(h);
    keel_config *cfg = test_bind(h, "notify", "notify");
    recorder retail, corp, corp_all, wide, own;
    rec_init(&retail);
    rec_init(&corp);
    rec_init(&corp_all);
    rec_init(&wide);
    rec_init(&own);
    uint64_t ids[5] = {0};
    ck_assert_int_eq(api->watch(cfg, "retail", "channel", on_record, &retail, &ids[0]), KEEL_OK);
    ck_assert_int_eq(api->watch(cfg, "corporate", "channel", on_record, &corp, &ids[1]), KEEL_OK);
    ck_assert_int_eq(api->watch(cfg, "corporate", "*", on_record, &corp_all, &ids[2]), KEEL_OK);
    ck_assert_int_eq(api->watch(cfg, "*", "channel", on_record, &wide, &ids[3]), KEEL_OK);
    ck_assert_int_eq(api->watch(cfg, NULL, "channel", on_record, &own, &ids[4]), KEEL_OK);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < i; j++)
            ck_assert(ids[i] != 0 && ids[i] != ids[j]);
    ck_assert_int_eq(test_info_number(h, "watchers"), 5);
    char got[1024];

    /* Module-wide: every scene without its own value; retail keeps sms. */
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"channel\",\"value\":\"push\"}"), 4);
    ck_assert_str_eq(rec_take(&retail, got, sizeof got), "");
    ck_assert_str_eq(rec_take(&corp, got, sizeof got), "corporate/channel=\"push\";");
    ck_assert_str_eq(rec_take(&corp_all, got, sizeof got), "corporate/channel=\"push\";");
    ck_assert_str_eq(rec_take(&wide, got, sizeof got), "*/channel=\"push\";");
    ck_assert_str_eq(rec_take(&own, got, sizeof got), "notify/channel=\"push\";");

    /* A scene's own value reaches that scene only. */
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\",\"value\":\"fax\"}"), 1);
    ck_assert_str_eq(rec_take(&retail, got, sizeof got), "retail/channel=\"fax\";");
    ck_assert_str_eq(rec_take(&wide, got, sizeof got), "");

    /* Other keys reach the all-keys watch of that scene only. */
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"scene\":\"corporate\",\"key\":\"muted\",\"value\":true}"), 1);
    ck_assert_str_eq(rec_take(&corp_all, got, sizeof got), "corporate/muted=true;");
    ck_assert_str_eq(rec_take(&corp, got, sizeof got), "");

    /* Deleting retail's value: retail falls back to the module-wide one. */
    ck_assert_int_eq(DEL(h, "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\"}"), 1);
    ck_assert_str_eq(rec_take(&retail, got, sizeof got), "retail/channel=\"push\";");

    /* Deleting the module-wide value: nothing left anywhere. */
    ck_assert_int_eq(DEL(h, "{\"module\":\"notify\",\"key\":\"channel\"}"), 5);
    ck_assert_str_eq(rec_take(&retail, got, sizeof got), "retail/channel=NULL;");
    ck_assert_str_eq(rec_take(&corp, got, sizeof got), "corporate/channel=NULL;");
    ck_assert_str_eq(rec_take(&corp_all, got, sizeof got), "corporate/channel=NULL;");
    ck_assert_str_eq(rec_take(&wide, got, sizeof got), "*/channel=NULL;");
    ck_assert_str_eq(rec_take(&own, got, sizeof got), "notify/channel=NULL;");

    /* reset brings both defaults back: retail sees its own sms again. */
    ck_assert_int_eq(notified(test_admin(h, "reset", "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\"}")), 1);
    ck_assert_str_eq(rec_take(&retail, got, sizeof got), "retail/channel=\"sms\";");

    /* Another module's change reaches nobody here. */
    ck_assert_int_eq(SET(h, "{\"module\":\"billing\",\"key\":\"channel\",\"value\":1}"), 0);
    ck_assert_int_eq(test_info_number(h, "notifications"), 13);

    /* Bad watches. */
    uint64_t id = 99;
    ck_assert_int_eq(api->watch(cfg, "retail", "a b", on_record, &own, &id), KEEL_ERR_INVALID);
    ck_assert_uint_eq(id, 0);
    ck_assert_int_eq(api->watch(cfg, "re tail", "channel", on_record, &own, &id), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->watch(cfg, "retail", "channel", NULL, &own, &id), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->watch(cfg, "retail", "channel", on_record, &own, NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->watch(NULL, "retail", "channel", on_record, &own, &id), KEEL_ERR_INVALID);
    ck_assert_int_eq(test_info_number(h, "watchers"), 5);

    starter_harness_unbind(h, cfg);
    ck_assert_int_eq(test_info_number(h, "watchers"), 0);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

START_TEST(unwatch_and_unbind_stop_callbacks)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NULL);
    const keel_config_api *api = test_api(h);
    keel_config *a = test_bind(h, "notify", "retail");
    keel_config *b = test_bind(h, "notify", "retail");
    recorder ra, rb;
    rec_init(&ra);
    rec_init(&rb);
    uint64_t ida, idb;
    ck_assert_int_eq(api->watch(a, "*", "*", on_record, &ra, &ida), KEEL_OK);
    ck_assert_int_eq(api->watch(b, "*", "*", on_record, &rb, &idb), KEEL_OK);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"x\",\"value\":1}"), 2);

    ck_assert_int_eq(api->unwatch(a, ida), KEEL_OK);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"x\",\"value\":2}"), 1);
    ck_assert_int_eq(ra.calls, 1);
    ck_assert_int_eq(rb.calls, 2);
    ck_assert_int_eq(api->unwatch(a, ida), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->unwatch(a, idb), KEEL_ERR_NOT_FOUND); /* b's, not a's */
    ck_assert_int_eq(api->unwatch(a, 0), KEEL_ERR_INVALID);

    starter_harness_unbind(h, b);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"x\",\"value\":3}"), 0);
    ck_assert_int_eq(rb.calls, 2);
    ck_assert_int_eq(test_info_number(h, "watchers"), 0);
    ck_assert_int_eq(test_info_number(h, "bindings"), 1);
    starter_harness_unbind(h, a);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

/* --- a callback in progress ------------------------------------------------ */

typedef struct slow {
    atomic_int entered, left;
} slow;

static void on_slow(void *user, const char *scene, const char *key, const char *value)
{
    slow *s = user;
    atomic_store(&s->entered, 1);
    pause_ms(300);
    atomic_store(&s->left, 1);
}

typedef struct admin_job {
    starter_harness *h;
    const char *args;
    int notified;
} admin_job;

static void *admin_thread(void *arg)
{
    admin_job *j = arg;
    char *result = NULL;
    keel_starter_error err = {{0}};
    if (starter_harness_admin(j->h, "set", j->args, &result, &err) == KEEL_OK) {
        cJSON *r = cJSON_Parse(result);
        j->notified = cJSON_GetObjectItemCaseSensitive(r, "notified")->valueint;
        cJSON_Delete(r);
    } else {
        j->notified = -1;
    }
    free(result);
    return NULL;
}

static void wait_entered(slow *s)
{
    for (int i = 0; i < 2000 && !atomic_load(&s->entered); i++)
        pause_ms(1);
    ck_assert(atomic_load(&s->entered));
}

START_TEST(unbind_waits_for_a_callback_in_progress)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NULL);
    keel_config *cfg = test_bind(h, "notify", "retail");
    slow s = {0};
    uint64_t id;
    ck_assert_int_eq(test_api(h)->watch(cfg, NULL, "k", on_slow, &s, &id), KEEL_OK);
    admin_job job = {h, "{\"module\":\"notify\",\"key\":\"k\",\"value\":1}", 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, admin_thread, &job), 0);
    wait_entered(&s);
    starter_harness_unbind(h, cfg); /* the module's code is about to go */
    ck_assert_msg(atomic_load(&s.left), "unbind returned while a callback was still running");
    pthread_join(t, NULL);
    ck_assert_int_eq(job.notified, 1);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

START_TEST(unwatch_waits_for_a_callback_in_progress)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NULL);
    keel_config *cfg = test_bind(h, "notify", "retail");
    slow s = {0};
    uint64_t id;
    ck_assert_int_eq(test_api(h)->watch(cfg, "retail", "*", on_slow, &s, &id), KEEL_OK);
    admin_job job = {h, "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"k\",\"value\":1}", 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, admin_thread, &job), 0);
    wait_entered(&s);
    ck_assert_int_eq(test_api(h)->unwatch(cfg, id), KEEL_OK);
    ck_assert_msg(atomic_load(&s.left), "unwatch returned while its callback was still running");
    pthread_join(t, NULL);
    ck_assert_int_eq(job.notified, 1);
    starter_harness_unbind(h, cfg);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

/* --- callbacks calling back ------------------------------------------------ */

typedef struct reentrant {
    starter_harness *h;
    keel_config *cfg;
    uint64_t self_id, extra_id;
    int calls;
    char seen[64];
    keel_status get_status, unwatch_status, watch_status;
} reentrant;

static void on_reenter(void *user, const char *scene, const char *key, const char *value)
{
    reentrant *r = user;
    const keel_config_api *api = test_api(r->h);
    r->calls++;
    char *now = NULL;
    r->get_status = api->get(r->cfg, scene, key, &now);
    snprintf(r->seen, sizeof r->seen, "%s", now ? now : "NULL");
    api->free(now);
    char buf[32];
    (void)api->get_string(r->cfg, scene, key, buf, sizeof buf);
    r->watch_status = api->watch(r->cfg, scene, "other", on_record, NULL, &r->extra_id);
    r->unwatch_status = api->unwatch(r->cfg, r->self_id); /* itself: once is enough */
}

START_TEST(a_callback_may_call_get_watch_and_unwatch_itself)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NOTIFY_DEFAULTS);
    keel_config *cfg = test_bind(h, "notify", "retail");
    reentrant r = {.h = h, .cfg = cfg};
    ck_assert_int_eq(test_api(h)->watch(cfg, NULL, "channel", on_reenter, &r, &r.self_id), KEEL_OK);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\",\"value\":\"push\"}"), 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.get_status, KEEL_OK);
    ck_assert_str_eq(r.seen, "\"push\""); /* the new value is visible to get */
    ck_assert_int_eq(r.watch_status, KEEL_OK);
    ck_assert_int_eq(r.unwatch_status, KEEL_OK);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\",\"value\":\"fax\"}"), 0);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(test_info_number(h, "watchers"), 1); /* the one it added */
    ck_assert_int_eq(test_api(h)->unwatch(cfg, r.extra_id), KEEL_OK);
    starter_harness_unbind(h, cfg);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

typedef struct self_unbind {
    starter_harness *h;
    keel_config *cfg;
    int calls;
} self_unbind;

static void on_unbind_self(void *user, const char *scene, const char *key, const char *value)
{
    self_unbind *u = user;
    u->calls++;
    starter_harness_unbind(u->h, u->cfg); /* must not wait for itself */
}

START_TEST(an_unbind_from_inside_a_callback_does_not_deadlock)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NULL);
    keel_config *cfg = test_bind(h, "notify", "retail");
    self_unbind u = {h, cfg, 0};
    uint64_t id;
    ck_assert_int_eq(test_api(h)->watch(cfg, NULL, "*", on_unbind_self, &u, &id), KEEL_OK);
    ck_assert_int_eq(test_api(h)->watch(cfg, NULL, "*", on_unbind_self, &u, &id), KEEL_OK);
    /* The second watch is of an unbound binding by the time its turn comes. */
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"k\",\"value\":1}"), 1);
    ck_assert_int_eq(u.calls, 1);
    ck_assert_int_eq(test_info_number(h, "bindings"), 0);
    ck_assert_int_eq(SET(h, "{\"module\":\"notify\",\"key\":\"k\",\"value\":2}"), 0);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

/* --- concurrency ------------------------------------------------------------ */

typedef struct readers {
    starter_harness *h;
    keel_config *cfg;
    atomic_int stop;
    atomic_long reads, bad;
    char first_bad[128];
    atomic_flag noted;
} readers;

static void note_bad(readers *r, const char *what)
{
    atomic_fetch_add(&r->bad, 1);
    if (!atomic_flag_test_and_set(&r->noted))
        snprintf(r->first_bad, sizeof r->first_bad, "%s", what);
}

/* Values the operator writes are "v<digits>"; retail always has one (its
 * own or the module-wide one, which is never deleted). */
static int well_formed(const char *v)
{
    if (v == NULL || strncmp(v, "\"v", 2) != 0)
        return 0;
    size_t n = strlen(v);
    return n > 3 && v[n - 1] == '"';
}

static void *reader_thread(void *arg)
{
    readers *r = arg;
    const keel_config_api *api = test_api(r->h);
    while (!atomic_load(&r->stop)) {
        char *v = NULL;
        keel_status st = api->get(r->cfg, "retail", "channel", &v);
        if (st != KEEL_OK || !well_formed(v))
            note_bad(r, v ? v : "get failed");
        api->free(v);
        char buf[32];
        st = api->get_string(r->cfg, "corporate", "channel", buf, sizeof buf);
        if (st != KEEL_OK || buf[0] != 'v')
            note_bad(r, "get_string");
        char *all = NULL;
        st = api->list(r->cfg, "retail", &all);
        if (st != KEEL_OK || strstr(all, "\"channel\":\"v") == NULL)
            note_bad(r, all ? all : "list failed");
        api->free(all);
        atomic_fetch_add(&r->reads, 3);
    }
    return NULL;
}

static void on_change_reads(void *user, const char *scene, const char *key, const char *value)
{
    readers *r = user;
    char *v = NULL;
    if (test_api(r->h)->get(r->cfg, scene, key, &v) != KEEL_OK || value == NULL || strcmp(v, value) != 0)
        note_bad(r, "callback saw another value than get");
    test_api(r->h)->free(v);
}

/* Watches come and go while the operator's changes are delivered. */
static void *watcher_thread(void *arg)
{
    readers *r = arg;
    const keel_config_api *api = test_api(r->h);
    while (!atomic_load(&r->stop)) {
        uint64_t id;
        if (api->watch(r->cfg, "retail", "channel", on_change_reads, r, &id) != KEEL_OK ||
            api->unwatch(r->cfg, id) != KEEL_OK)
            note_bad(r, "watch/unwatch");
    }
    return NULL;
}

START_TEST(readers_run_while_the_operator_sets)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V2, work, "{\"defaults\": {\"notify\": {\"*\": {\"channel\": \"v0\"}}}}");
    readers r = {.h = h, .noted = ATOMIC_FLAG_INIT};
    r.cfg = test_bind(h, "notify", "retail");
    uint64_t id;
    ck_assert_int_eq(test_api(h)->watch(r.cfg, "retail", "channel", on_change_reads, &r, &id), KEEL_OK);
    pthread_t t[5];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader_thread, &r), 0);
    ck_assert_int_eq(pthread_create(&t[4], NULL, watcher_thread, &r), 0);
    char args[160];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1; i <= 60; i++) {
        const char *scene = i % 3 == 0 ? "*" : "retail";
        snprintf(args, sizeof args, "{\"module\":\"notify\",\"scene\":\"%s\",\"key\":\"channel\",\"value\":\"v%d\"}",
                 scene, i);
        cJSON_Delete(test_admin(h, "set", args));
        if (i % 10 == 0)
            cJSON_Delete(test_admin(h, "delete", "{\"module\":\"notify\",\"scene\":\"retail\",\"key\":\"channel\"}"));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "readers test: 66 changes in %.0f ms (%.1f ms each, saved and delivered), %ld reads by "
            "4 threads meanwhile\n", ms, ms / 66, atomic_load(&r.reads));
    ck_assert_msg(atomic_load(&r.bad) == 0, "%ld bad reads, the first: %s", atomic_load(&r.bad), r.first_bad);
    ck_assert_int_gt(atomic_load(&r.reads), 0);
    /* the steady watch alone: 40 retail sets and 6 deletes */
    ck_assert_int_ge(test_info_number(h, "notifications"), 46);
    ck_assert_int_eq(test_info_number(h, "changes"), 66);
    starter_harness_unbind(h, r.cfg);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

/* A binding's callback touches memory the "module" frees right after
 * unbind: any call after unbind is a use after free (ASan, TSan). */
typedef struct box {
    atomic_long hits;
} box;

static void on_box(void *user, const char *scene, const char *key, const char *value)
{
    box *b = user;
    atomic_fetch_add(&b->hits, 1);
}

typedef struct setter {
    starter_harness *h;
    atomic_int stop;
    atomic_long sets;
} setter;

static void *setter_thread(void *arg)
{
    setter *s = arg;
    char args[128];
    for (long i = 0; !atomic_load(&s->stop); i++) {
        snprintf(args, sizeof args, "{\"module\":\"notify\",\"key\":\"k\",\"value\":%ld}", i);
        cJSON_Delete(test_admin(s->h, "set", args));
        atomic_fetch_add(&s->sets, 1);
    }
    return NULL;
}

START_TEST(bindings_come_and_go_while_changes_are_delivered)
{
    char *work = test_mkwork();
    starter_harness *h = test_open(CONFIG_SO_V1, work, NULL);
    setter s = {.h = h};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, setter_thread, &s), 0);
    long total_hits = 0;
    int i = 0;
    /* At least 200 bindings and 40 changes delivered meanwhile. */
    for (; i < 200 || atomic_load(&s.sets) < 40; i++) {
        keel_config *cfg = test_bind(h, "notify", "retail");
        box *b = calloc(1, sizeof *b);
        uint64_t id;
        ck_assert_int_eq(test_api(h)->watch(cfg, NULL, "*", on_box, b, &id), KEEL_OK);
        ck_assert_int_eq(test_api(h)->watch(cfg, "*", "k", on_box, b, &id), KEEL_OK);
        if (i % 4 == 0)
            pause_ms(1);
        starter_harness_unbind(h, cfg);
        total_hits += atomic_load(&b->hits);
        free(b);
    }
    atomic_store(&s.stop, 1);
    pthread_join(t, NULL);
    ck_assert_int_gt(atomic_load(&s.sets), 0);
    ck_assert_int_eq(test_info_number(h, "bindings"), 0);
    ck_assert_int_eq(test_info_number(h, "watchers"), 0);
    fprintf(stderr, "bindings test: %ld sets, %ld callbacks into %d short-lived bindings\n",
            atomic_load(&s.sets), total_hits, i);
    starter_harness_close(h);
    test_rmtree(work);
}
END_TEST

static Suite *watch_suite(void)
{
    Suite *s = suite_create("starter_config_watch");
    TCase *tc = tcase_create("watch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, callbacks_carry_the_effective_value_of_their_scene);
    tcase_add_test(tc, unwatch_and_unbind_stop_callbacks);
    tcase_add_test(tc, unbind_waits_for_a_callback_in_progress);
    tcase_add_test(tc, unwatch_waits_for_a_callback_in_progress);
    tcase_add_test(tc, a_callback_may_call_get_watch_and_unwatch_itself);
    tcase_add_test(tc, an_unbind_from_inside_a_callback_does_not_deadlock);
    tcase_add_test(tc, readers_run_while_the_operator_sets);
    tcase_add_test(tc, bindings_come_and_go_while_changes_are_delivered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(watch_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

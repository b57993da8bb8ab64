/*
 * The fund samples together (samples/account, transfer, notify): per-scene
 * business rules, cross-scene calls into the ledger, notifications across
 * scenes, compensation, and a hot swap of transfer under continuous
 * traffic that fails no call and neither creates nor loses a cent.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/router.h>
#include <keel/starter_set.h>
#include "test_support.h"

/* What account's configuration opens (samples/account/manifest.json). */
#define START_ALICE INT64_C(100000000000)
#define START_BOB INT64_C(100000000000)
#define START_CAROL INT64_C(0)
#define START_FEES INT64_C(0)
#define START_TOTAL (START_ALICE + START_BOB + START_CAROL + START_FEES)

/* The starters the fund samples require (account: db, notify: config),
 * from the market the build makes, plugged into the loader the way keeld
 * does it. */
static keel_starter_set *fund_starters;

static void fund_plug_starters(keel_loader *l, const char *work)
{
    keel_market *market = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_market_load(KEEL_STARTERS_DIR "/market.json", &market, &err) == KEEL_OK, "%s",
                  err.message);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/starters", work);
    keel_starter_set_options opts = {.work_dir = dir, .router = keel_loader_router(l)};
    ck_assert_msg(keel_starter_set_create(&opts, market, &fund_starters, &err) == KEEL_OK, "%s",
                  err.message);
    ck_assert_msg(keel_starter_set_enable(fund_starters, "db", "^1.0", NULL, &err) == KEEL_OK, "%s",
                  err.message);
    ck_assert_msg(keel_starter_set_enable(fund_starters, "config", "^1.0", NULL, &err) == KEEL_OK, "%s",
                  err.message);
    keel_starter_set_plug(fund_starters, l);
}

static keel_loader *fund_loader(char **work)
{
    *work = test_make_work_dir();
    ck_assert_ptr_nonnull(*work);
    /* Notifications block rather than drop when a queue is full: the test
     * counts every one of them. */
    keel_loader_options opts = {.work_dir = *work, .stop_timeout_ms = 2000, .drain_timeout_ms = 5000,
                                .router = {.overflow = KEEL_OVERFLOW_BLOCK}};
    keel_loader *l = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_loader_create(&opts, &l, &err) == KEEL_OK, "%s", err.message);
    fund_plug_starters(l, *work);
    return l;
}

static keel_instance *install(keel_loader *l, const char *which, int activate)
{
    keel_instance *inst = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_loader_install(l, test_bundle(which), &inst, &err) == KEEL_OK, "%s: %s", which, err.message);
    ck_assert_msg(keel_instance_start(inst, activate, &err) == KEEL_OK, "%s: %s", which, err.message);
    return inst;
}

static void done_loader(keel_loader *l, char *work)
{
    char *leaks = keel_loader_leaks(l);
    ck_assert_msg(leaks == NULL, "leaks: %s", leaks ? leaks : "");
    keel_loader_uninstall_all(l);
    keel_loader_set_starters(l, NULL);
    keel_starter_set_destroy(fund_starters);
    fund_starters = NULL;
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}

/* One JSON call as an operator would make it; the result (malloc'd) or
 * NULL with the status in *st. */
static char *call_raw(keel_loader *l, const char *scene, const char *service, const char *args, keel_status *st)
{
    keel_router_ref *ref = NULL;
    keel_error err = {0};
    ck_assert_int_eq(keel_router_resolve(keel_loader_router(l), NULL, scene, service, &ref, &err), KEEL_OK);
    char *result = NULL;
    *st = keel_router_call_json(ref, NULL, args, strlen(args), &result, &err);
    keel_router_ref_release(ref);
    return result;
}

static char *call(keel_loader *l, const char *scene, const char *service, const char *args)
{
    keel_status st;
    char *result = call_raw(l, scene, service, args, &st);
    ck_assert_msg(st == KEEL_OK, "%s/%s %s: status %d", scene, service, args, (int)st);
    ck_assert_ptr_nonnull(result);
    return result;
}

static int64_t call_int(keel_loader *l, const char *scene, const char *service, const char *args)
{
    char *text = call(l, scene, service, args);
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    ck_assert_msg(end != text && *end == '\0', "%s/%s gave %s, not an integer", scene, service, text);
    free(text);
    return v;
}

static int64_t balance(keel_loader *l, const char *account)
{
    char args[128];
    snprintf(args, sizeof args, "[\"%s\"]", account);
    return call_int(l, "funds", "balance", args);
}

/* The sum of every balance, from one consistent "accounts" snapshot. */
static int64_t ledger_total(keel_loader *l)
{
    char *text = call(l, "funds", "accounts", "[]");
    cJSON *all = cJSON_Parse(text);
    ck_assert_msg(cJSON_IsObject(all), "accounts gave %s", text);
    int64_t sum = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, all) {
        ck_assert(cJSON_IsNumber(a));
        sum += (int64_t)a->valuedouble;
    }
    cJSON_Delete(all);
    free(text);
    return sum;
}

/* A transfer through the router; the parsed result (cJSON_Delete it). */
static cJSON *transfer(keel_loader *l, const char *scene, const char *from, const char *to, int64_t cents)
{
    char args[256];
    snprintf(args, sizeof args, "[\"%s\",\"%s\",%" PRId64 "]", from, to, cents);
    char *text = call(l, scene, "transfer", args);
    cJSON *r = cJSON_Parse(text);
    ck_assert_msg(cJSON_IsObject(r), "%s/transfer gave %s", scene, text);
    free(text);
    return r;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t int_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number \"%s\"", key);
    return (int64_t)v->valuedouble;
}

static int is_true(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Asserts a refused transfer with `error`, and frees it. */
static void expect_refused(cJSON *r, const char *error)
{
    char *text = cJSON_PrintUnformatted(r);
    ck_assert_msg(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok")), "expected a refusal: %s", text);
    ck_assert_msg(str_of(r, "error") && strcmp(str_of(r, "error"), error) == 0, "expected \"%s\": %s", error, text);
    ck_assert_str_eq(str_of(r, "version"), "1.0.0");
    free(text);
    cJSON_Delete(r);
}

static void flush(keel_loader *l)
{
    ck_assert_int_eq(keel_router_flush(keel_loader_router(l), 10000), KEEL_OK);
}

/* --- the rules --------------------------------------------------------------- */

START_TEST(transfers_follow_the_rules_of_their_scene)
{
    char *work;
    keel_loader *l = fund_loader(&work);
    install(l, "samples/account-1.0.0", 1);
    install(l, "samples/notify-1.0.0", 1);
    install(l, "samples/transfer-1.0.0", 1);
    ck_assert_int_eq(ledger_total(l), START_TOTAL);
    ck_assert_int_eq(balance(l, "carol"), 0);
    ck_assert_int_eq(balance(l, "nobody"), -1);

    /* Retail: no fee. */
    cJSON *r = transfer(l, "retail", "alice", "bob", 1000);
    ck_assert(is_true(r, "ok"));
    ck_assert_str_eq(str_of(r, "scene"), "retail");
    ck_assert_str_eq(str_of(r, "from"), "alice");
    ck_assert_str_eq(str_of(r, "to"), "bob");
    ck_assert_int_eq(int_of(r, "amount"), 1000);
    ck_assert_int_eq(int_of(r, "fee"), 0);
    ck_assert_str_eq(str_of(r, "version"), "1.0.0");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(r, "receipt")); /* a v2 feature */
    cJSON_Delete(r);
    ck_assert_int_eq(balance(l, "alice"), START_ALICE - 1000);
    ck_assert_int_eq(balance(l, "bob"), START_BOB + 1000);

    /* Retail limit: 500000 passes, one cent more does not. */
    r = transfer(l, "retail", "alice", "carol", 500000);
    ck_assert(is_true(r, "ok"));
    cJSON_Delete(r);
    expect_refused(transfer(l, "retail", "alice", "carol", 500001), "over limit");
    ck_assert_int_eq(balance(l, "carol"), 500000);

    /* Corporate: a minimum, and a fee of 500 on top, booked to "fees". */
    expect_refused(transfer(l, "corporate", "alice", "bob", 99999), "below minimum");
    r = transfer(l, "corporate", "alice", "carol", 100000);
    ck_assert(is_true(r, "ok"));
    ck_assert_str_eq(str_of(r, "scene"), "corporate");
    ck_assert_int_eq(int_of(r, "fee"), 500);
    cJSON_Delete(r);
    ck_assert_int_eq(balance(l, "alice"), START_ALICE - 1000 - 500000 - 100500);
    ck_assert_int_eq(balance(l, "carol"), 600000);
    ck_assert_int_eq(balance(l, "fees"), 500);
    /* Large corporate amounts have no upper limit. */
    r = transfer(l, "corporate", "bob", "alice", 5000000);
    ck_assert(is_true(r, "ok"));
    cJSON_Delete(r);

    /* Insufficient funds: nothing moves. Carol holds 600000; sending all
     * of it in corporate costs 600500 with the fee. */
    expect_refused(transfer(l, "corporate", "carol", "alice", 600000), "insufficient funds");
    ck_assert_int_eq(balance(l, "carol"), 600000);
    r = transfer(l, "corporate", "carol", "alice", 599500); /* exactly all she has */
    ck_assert(is_true(r, "ok"));
    cJSON_Delete(r);
    ck_assert_int_eq(balance(l, "carol"), 0);
    expect_refused(transfer(l, "retail", "carol", "bob", 1), "insufficient funds");

    /* Bad input. */
    expect_refused(transfer(l, "retail", "alice", "bob", 0), "bad amount");
    expect_refused(transfer(l, "retail", "alice", "bob", -5), "bad amount");
    expect_refused(transfer(l, "retail", "alice", "alice", 5), "same account");
    expect_refused(transfer(l, "retail", "mallory", "bob", 5), "unknown account");
    keel_status st;
    char *text = call_raw(l, "retail", "transfer", "[\"alice\",\"bob\",\"ten\"]", &st);
    ck_assert_int_eq(st, KEEL_ERR_INVALID); /* the signature says i64 */
    ck_assert_ptr_null(text);
    text = call_raw(l, "retail", "transfer", "[\"alice\",\"bob\"]", &st);
    ck_assert_int_eq(st, KEEL_ERR_INVALID);
    /* Names that need escaping come back as valid JSON. */
    r = transfer(l, "retail", "al\\\"ice", "bob", 1);
    ck_assert_str_eq(str_of(r, "from"), "al\"ice");
    cJSON_Delete(r);

    /* The ledger's own codes. */
    ck_assert_int_eq(call_int(l, "funds", "debit", "[\"carol\",1]"), 1);
    ck_assert_int_eq(call_int(l, "funds", "debit", "[\"nobody\",1]"), 2);
    ck_assert_int_eq(call_int(l, "funds", "debit", "[\"alice\",-1]"), 3);
    ck_assert_int_eq(call_int(l, "funds", "credit", "[\"nobody\",1]"), 2);
    ck_assert_int_eq(call_int(l, "funds", "credit", "[\"alice\",0]"), 3);

    /* Nothing was created or lost on the way. */
    ck_assert_int_eq(ledger_total(l), START_TOTAL);

    /* notify heard every successful transfer, in the scene it happened. */
    flush(l);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"retail\"]"), 2);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"corporate\"]"), 3);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"*\"]"), 5);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"vip\"]"), -1);
    text = call(l, "notify", "last", "[]");
    r = cJSON_Parse(text);
    ck_assert_msg(r != NULL, "last gave %s", text);
    ck_assert_str_eq(str_of(r, "scene"), "corporate");
    ck_assert_str_eq(str_of(r, "from"), "carol");
    ck_assert_int_eq(int_of(r, "amount"), 599500);
    cJSON_Delete(r);
    free(text);
    done_loader(l, work);
}
END_TEST

START_TEST(a_failed_credit_is_compensated)
{
    char *work;
    keel_loader *l = fund_loader(&work);
    install(l, "samples/account-1.0.0", 1);
    install(l, "samples/notify-1.0.0", 1);
    install(l, "samples/transfer-1.0.0", 1);
    /* Debit of alice succeeds, the credit of an unknown receiver fails:
     * alice gets everything back, fee included, and the result says so. */
    cJSON *r = transfer(l, "corporate", "alice", "mallory", 200000);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok")));
    ck_assert_str_eq(str_of(r, "error"), "unknown account");
    ck_assert(is_true(r, "compensated"));
    cJSON_Delete(r);
    ck_assert_int_eq(balance(l, "alice"), START_ALICE);
    ck_assert_int_eq(balance(l, "fees"), 0);
    ck_assert_int_eq(ledger_total(l), START_TOTAL);
    flush(l);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"*\"]"), 0); /* nothing to announce */
    keel_status st;
    char *last = call_raw(l, "notify", "last", "[]", &st);
    ck_assert_int_eq(st, KEEL_OK);
    ck_assert_str_eq(last, "null");
    free(last);
    done_loader(l, work);
}
END_TEST

START_TEST(transfer_waits_for_the_ledger_without_a_restart)
{
    char *work;
    keel_loader *l = fund_loader(&work);
    /* transfer resolves the funds services at start, before anyone
     * publishes them: its calls say so, and work once account is there. */
    install(l, "samples/transfer-1.0.0", 1);
    cJSON *r = transfer(l, "retail", "alice", "bob", 10);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok")));
    ck_assert_str_eq(str_of(r, "error"), "ledger unavailable");
    cJSON_Delete(r);
    install(l, "samples/account-1.0.0", 1);
    r = transfer(l, "retail", "alice", "bob", 10);
    ck_assert(is_true(r, "ok"));
    cJSON_Delete(r);
    ck_assert_int_eq(balance(l, "bob"), START_BOB + 10);
    done_loader(l, work);
}
END_TEST

/* --- hot swap under traffic ---------------------------------------------- */

typedef struct traffic {
    keel_router_ref *ref;
    atomic_int stop;
    atomic_ulong by_version[3];  /* [1] 1.0.0, [2] 2.0.0 */
    atomic_ulong failed;
    char first_failure[512];
    atomic_flag failure_noted;
} traffic;

static void note_failure(traffic *t, const char *what)
{
    atomic_fetch_add(&t->failed, 1);
    if (!atomic_flag_test_and_set(&t->failure_noted))
        snprintf(t->first_failure, sizeof t->first_failure, "%s", what);
}

/* Which version answered, judging by the whole result: 0 if it is not a
 * clean, notified success from exactly one version with that version's
 * rules (v1: fee 0, no receipt; v2: fee 1 and a receipt). */
static int answered_by(traffic *t, const char *text)
{
    cJSON *r = cJSON_Parse(text);
    int v = 0, versions = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, r) {
        if (strcmp(item->string, "version") == 0) {
            versions++;
            if (cJSON_IsString(item))
                v = strcmp(item->valuestring, "1.0.0") == 0 ? 1 : strcmp(item->valuestring, "2.0.0") == 0 ? 2 : 0;
        }
    }
    const cJSON *fee = cJSON_GetObjectItemCaseSensitive(r, "fee");
    const char *receipt = str_of(r, "receipt");
    int ok = r != NULL && versions == 1 && is_true(r, "ok") && cJSON_IsNumber(fee) &&
             cJSON_GetObjectItemCaseSensitive(r, "notified") == NULL;
    if (ok && v == 1)
        ok = fee->valuedouble == 0 && receipt == NULL;
    else if (ok && v == 2)
        ok = fee->valuedouble == 1 && receipt != NULL && strncmp(receipt, "R-retail-", 9) == 0;
    if (ok && v == 2)
        ok = strtoul(receipt + 9, NULL, 10) > 0;
    cJSON_Delete(r);
    return ok ? v : 0;
}

static void *transfer_thread(void *arg)
{
    traffic *t = arg;
    static const char args[] = "[\"alice\",\"bob\",1]";
    while (!atomic_load(&t->stop)) {
        char *result = NULL;
        keel_error err = {0};
        keel_status st = keel_router_call_json(t->ref, NULL, args, sizeof args - 1, &result, &err);
        int v = st == KEEL_OK ? answered_by(t, result) : 0;
        if (v == 0) {
            char what[512];
            snprintf(what, sizeof what, "status %d: %.400s", (int)st, st == KEEL_OK ? result : err.message);
            note_failure(t, what);
        } else {
            atomic_fetch_add(&t->by_version[v], 1);
        }
        free(result);
    }
    return NULL;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

START_TEST(switching_transfer_under_traffic_fails_nothing_and_conserves_money)
{
    int rounds = getenv("KEEL_FUND_SWITCHES") ? atoi(getenv("KEEL_FUND_SWITCHES")) : 3;
    if (rounds < 1)
        rounds = 1;
    char *work;
    keel_loader *l = fund_loader(&work);
    install(l, "samples/account-1.0.0", 1);
    install(l, "samples/notify-1.0.0", 1);
    keel_instance *cur = install(l, "samples/transfer-1.0.0", 1);
    int64_t total_before = ledger_total(l);
    traffic t = {.failure_noted = ATOMIC_FLAG_INIT};
    keel_error err = {0};
    ck_assert_int_eq(keel_router_resolve(keel_loader_router(l), NULL, "retail", "transfer", &t.ref, &err), KEEL_OK);
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&threads[i], NULL, transfer_thread, &t), 0);

    /* v1 -> v2, then back and forth: install the other version inactive,
     * switch to it, uninstall the old one (which drains it), all while the
     * three threads keep calling. Odd rounds end on v2. */
    for (int i = 0; i < rounds; i++) {
        pause_ms(150);
        const char *next_version = i % 2 == 0 ? "2.0.0" : "1.0.0";
        keel_instance *next = install(l, i % 2 == 0 ? "samples/transfer-2.0.0" : "samples/transfer-1.0.0", 0);
        ck_assert_int_eq(keel_instance_state_get(next), KEEL_STATE_INACTIVE);
        pause_ms(50);
        ck_assert_msg(keel_loader_switch(l, "transfer", next_version, &err) == KEEL_OK, "%s", err.message);
        ck_assert_int_eq(keel_instance_state_get(next), KEEL_STATE_ACTIVE);
        pause_ms(50);
        ck_assert_msg(keel_loader_uninstall(l, cur, &err) == KEEL_OK, "round %d: %s", i, err.message);
        cur = next;
    }
    pause_ms(150);
    atomic_store(&t.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    keel_router_ref_release(t.ref);

    unsigned long v1 = atomic_load(&t.by_version[1]), v2 = atomic_load(&t.by_version[2]);
    ck_assert_msg(atomic_load(&t.failed) == 0, "%lu failed calls, the first: %s", atomic_load(&t.failed),
                  t.first_failure);
    ck_assert_msg(v1 > 0 && v2 > 0, "both versions answered (v1 %lu, v2 %lu)", v1, v2);

    /* Money is conserved, and every cent is where the rules put it: each
     * v1 call moved 1 cent, each v2 call 1 cent plus a 1-cent fee. */
    ck_assert_int_eq(ledger_total(l), total_before);
    ck_assert_int_eq(balance(l, "bob"), START_BOB + (int64_t)(v1 + v2));
    ck_assert_int_eq(balance(l, "fees"), (int64_t)v2);
    ck_assert_int_eq(balance(l, "alice"), START_ALICE - (int64_t)v1 - 2 * (int64_t)v2);

    /* Every successful transfer was announced, exactly once. */
    flush(l);
    ck_assert_int_eq(call_int(l, "notify", "count", "[\"retail\"]"), (int64_t)(v1 + v2));

    /* The version that stayed is v2 and numbers its receipts in order. */
    cJSON *r = transfer(l, "retail", "alice", "bob", 1);
    ck_assert_str_eq(str_of(r, "version"), "2.0.0");
    ck_assert_int_eq(int_of(r, "fee"), 1);
    unsigned long receipt = strtoul(str_of(r, "receipt") + 9, NULL, 10);
    cJSON_Delete(r);
    r = transfer(l, "retail", "alice", "bob", 1);
    char expect[64];
    snprintf(expect, sizeof expect, "R-retail-%lu", receipt + 1);
    ck_assert_str_eq(str_of(r, "receipt"), expect);
    cJSON_Delete(r);
    r = transfer(l, "retail", "alice", "bob", 100); /* the small-amount fee stops at 100 */
    ck_assert_int_eq(int_of(r, "fee"), 0);
    cJSON_Delete(r);
    fprintf(stderr, "fund switch test: %d switches, transfers v1 %lu v2 %lu, all notified, ledger total %" PRId64
            " unchanged\n", rounds, v1, v2, total_before);
    done_loader(l, work);
}
END_TEST

static Suite *fund_suite(void)
{
    Suite *s = suite_create("fund");
    TCase *rules = tcase_create("rules");
    tcase_set_timeout(rules, 120);
    tcase_add_test(rules, transfers_follow_the_rules_of_their_scene);
    tcase_add_test(rules, a_failed_credit_is_compensated);
    tcase_add_test(rules, transfer_waits_for_the_ledger_without_a_restart);
    suite_add_tcase(s, rules);
    TCase *switching = tcase_create("switching");
    tcase_set_timeout(switching, 600);
    tcase_add_test(switching, switching_transfer_under_traffic_fails_nothing_and_conserves_money);
    suite_add_tcase(s, switching);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fund_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

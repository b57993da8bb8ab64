/*
 * Router integration tests: real modules in real namespaces, switched,
 * drained, gray-routed and called while other threads keep calling them.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keel/loader.h>
#include <keel/router.h>
#include "test_support.h"

/* Mirrors the payload counter.c expects on "ticks". */
typedef struct tick {
    uint64_t seq;
    atomic_uint *seen;
    atomic_uint *by_version;
    atomic_ullong *last_seq;
    atomic_uint *out_of_order;
} tick;

static keel_loader *loader_with(char **work, unsigned drain_ms, keel_overflow overflow)
{
    *work = test_make_work_dir();
    keel_loader_options opts = {.work_dir = *work, .stop_timeout_ms = 2000, .drain_timeout_ms = drain_ms,
                                .router = {.overflow = overflow}};
    keel_loader *l = NULL;
    keel_error err = {0};
    ck_assert_msg(keel_loader_create(&opts, &l, &err) == KEEL_OK, "%s", err.message);
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

static keel_router_ref *operator_ref(keel_loader *l, const char *scene, const char *name)
{
    keel_router_ref *ref = NULL;
    keel_error err = {0};
    ck_assert_int_eq(keel_router_resolve(keel_loader_router(l), NULL, scene, name, &ref, &err), KEEL_OK);
    return ref;
}

static int64_t call_i64(keel_router_ref *ref, keel_status *st)
{
    keel_call call;
    *st = keel_router_enter(ref, NULL, &call);
    if (*st != KEEL_OK)
        return -1;
    int64_t r = ((int64_t (*)(void))call.fn)();
    keel_router_leave(&call);
    return r;
}

static void done_loader(keel_loader *l, char *work)
{
    char *leaks = keel_loader_leaks(l);
    ck_assert_msg(leaks == NULL, "leaks: %s", leaks ? leaks : "");
    keel_loader_destroy(l);
    test_remove_tree(work);
    free(work);
}

/* --- switching under load ------------------------------------------------ */

typedef struct load {
    keel_router_ref *ref;
    atomic_int stop;
    atomic_ulong answered[4];
    atomic_ulong failed;
} load;

static void *caller_thread(void *arg)
{
    load *ld = arg;
    while (!atomic_load(&ld->stop)) {
        keel_status st;
        int64_t v = call_i64(ld->ref, &st);
        if (st != KEEL_OK || v < 1 || v > 2)
            atomic_fetch_add(&ld->failed, 1);
        else
            atomic_fetch_add(&ld->answered[v], 1);
    }
    return NULL;
}

typedef struct feed {
    keel_router *router;
    atomic_int stop;
    uint64_t published;
    uint64_t capacity;
    atomic_uint *seen;
    atomic_uint by_version[4];
    atomic_ullong last_seq;
    atomic_uint out_of_order;
    uint64_t failures;
} feed;

static void *publisher_thread(void *arg)
{
    feed *f = arg;
    while (!atomic_load(&f->stop) && f->published + 1 < f->capacity) {
        tick t = {f->published + 1, f->seen, f->by_version, &f->last_seq, &f->out_of_order};
        keel_error err = {0};
        if (keel_router_publish(f->router, NULL, "counting", "ticks", &t, sizeof t, 0, NULL, &err) == KEEL_OK)
            f->published++;
        else
            f->failures++;
    }
    return NULL;
}

START_TEST(switches_under_load_without_a_failed_call_or_lost_message)
{
    int switches = getenv("KEEL_SWITCHES") ? atoi(getenv("KEEL_SWITCHES")) : 200;
    char *work;
    keel_loader *l = loader_with(&work, 5000, KEEL_OVERFLOW_BLOCK);
    keel_instance *cur = install(l, "modules/counter-1", 1);
    load ld = {.ref = operator_ref(l, "counting", "version")};
    feed f = {.router = keel_loader_router(l), .capacity = 2000000};
    f.seen = calloc(f.capacity, sizeof *f.seen);
    pthread_t callers[3], publisher;
    for (int i = 0; i < 3; i++)
        pthread_create(&callers[i], NULL, caller_thread, &ld);
    pthread_create(&publisher, NULL, publisher_thread, &f);
    keel_error err = {0};
    for (int i = 0; i < switches; i++) {
        keel_instance *next = install(l, i % 2 ? "modules/counter-1" : "modules/counter-2", 0);
        ck_assert_int_eq(keel_instance_state_get(next), KEEL_STATE_INACTIVE);
        ck_assert_msg(keel_loader_switch(l, "counter", keel_instance_version(next), &err) == KEEL_OK, "%s", err.message);
        ck_assert_int_eq(keel_instance_state_get(next), KEEL_STATE_ACTIVE);
        ck_assert_int_eq(keel_instance_state_get(cur), KEEL_STATE_INACTIVE);
        /* Drain, stop, unload and verify the old version, under load. */
        ck_assert_msg(keel_loader_uninstall(l, cur, &err) == KEEL_OK, "switch %d: %s", i, err.message);
        cur = next;
    }
    atomic_store(&ld.stop, 1);
    atomic_store(&f.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(callers[i], NULL);
    pthread_join(publisher, NULL);
    ck_assert_int_eq(keel_router_flush(f.router, 10000), KEEL_OK);
    unsigned long v1 = atomic_load(&ld.answered[1]), v2 = atomic_load(&ld.answered[2]);
    ck_assert_uint_eq(atomic_load(&ld.failed), 0);
    ck_assert_msg(v1 > 0 && v2 > 0, "both versions answered (v1 %lu, v2 %lu)", v1, v2);
    /* Every accepted message exactly once, in order, whatever version. */
    ck_assert_uint_eq(f.failures, 0);
    ck_assert_uint_gt(f.published, 0);
    for (uint64_t s = 1; s <= f.published; s++)
        ck_assert_msg(atomic_load(&f.seen[s]) == 1, "message %lu delivered %u times", (unsigned long)s,
                      atomic_load(&f.seen[s]));
    ck_assert_uint_eq(atomic_load(&f.by_version[1]) + atomic_load(&f.by_version[2]), f.published);
    ck_assert_uint_eq(atomic_load(&f.out_of_order), 0);
    fprintf(stderr, "switch test: %d switches, calls v1 %lu v2 %lu, messages %lu (v1 %u v2 %u)\n",
            switches, v1, v2, (unsigned long)f.published, atomic_load(&f.by_version[1]),
            atomic_load(&f.by_version[2]));
    keel_router_ref_release(ld.ref);
    free(f.seen);
    done_loader(l, work);
}
END_TEST

/* --- drain timeout --------------------------------------------------------- */

typedef struct held {
    keel_router_ref *ref;
    atomic_int release;
    atomic_int entered;
    int64_t answer;
} held;

static void *hold_thread(void *arg)
{
    held *h = arg;
    keel_call call;
    if (keel_router_enter(h->ref, NULL, &call) != KEEL_OK)
        return NULL;
    atomic_store(&h->entered, 1);
    h->answer = ((int64_t (*)(atomic_int *))call.fn)(&h->release);
    keel_router_leave(&call);
    return NULL;
}

/* Starts a call of "hold" on its own thread and returns once it is inside. */
static pthread_t hold_started(held *h)
{
    pthread_t t;
    pthread_create(&t, NULL, hold_thread, h);
    while (!atomic_load(&h->entered))
        usleep(1000);
    return t;
}

START_TEST(a_stuck_call_keeps_the_old_version_loaded_and_reported)
{
    char *work;
    keel_loader *l = loader_with(&work, 200, KEEL_OVERFLOW_REJECT);
    keel_instance *v1 = install(l, "modules/counter-1", 1);
    held h = {.ref = operator_ref(l, "counting", "hold")};
    pthread_t t = hold_started(&h);
    keel_instance *v2 = install(l, "modules/counter-2", 0);
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_switch(l, "counter", "2.0.0", &err), KEEL_OK);
    keel_router_ref *version = operator_ref(l, "counting", "version");
    keel_status st;
    ck_assert_int_eq(call_i64(version, &st), 2); /* new calls go to v2 at once */
    /* The old version cannot drain: it stays loaded, and says why. */
    st = keel_loader_uninstall(l, v1, &err);
    ck_assert_int_eq(st, KEEL_ERR_TIMEOUT);
    ck_assert_msg(strstr(err.message, "counter@1.0.0") && strstr(err.message, "1 call still inside"), "%s", err.message);
    ck_assert_ptr_eq(keel_loader_find(l, "counter", "1.0.0"), v1);
    ck_assert_int_eq(keel_instance_state_get(v1), KEEL_STATE_STOPPING);
    ck_assert_int_eq(access(keel_instance_dir(v1), F_OK), 0);
    ck_assert_int_eq(call_i64(version, &st), 2);
    ck_assert_int_eq(keel_instance_state_get(v2), KEEL_STATE_ACTIVE);
    /* A stopping version cannot be switched back to. */
    ck_assert_int_eq(keel_loader_switch(l, "counter", "1.0.0", &err), KEEL_ERR_STATE);
    /* Released, the call finishes in v1's code, and v1 can go. */
    atomic_store(&h.release, 1);
    pthread_join(t, NULL);
    ck_assert_int_eq(h.answer, 1);
    ck_assert_msg(keel_loader_uninstall(l, v1, &err) == KEEL_OK, "%s", err.message);
    ck_assert_ptr_null(keel_loader_find(l, "counter", "1.0.0"));
    keel_router_ref_release(h.ref);
    keel_router_ref_release(version);
    done_loader(l, work);
}
END_TEST

START_TEST(calls_say_draining_broken_or_not_found)
{
    char *work;
    keel_loader *l = loader_with(&work, 100, KEEL_OVERFLOW_REJECT);
    keel_instance *v1 = install(l, "modules/counter-1", 1);
    held h = {.ref = operator_ref(l, "counting", "hold")};
    pthread_t t = hold_started(&h);
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_uninstall(l, v1, &err), KEEL_ERR_TIMEOUT);
    keel_router_ref *add = operator_ref(l, "counting", "add");
    char *result = NULL;
    ck_assert_int_eq(keel_router_call_json(add, NULL, "[1,2]", 5, &result, &err), KEEL_ERR_DRAINING);
    ck_assert_ptr_nonnull(strstr(err.message, "drained"));
    atomic_store(&h.release, 1);
    pthread_join(t, NULL);
    ck_assert_int_eq(keel_loader_uninstall(l, v1, &err), KEEL_OK);
    ck_assert_int_eq(keel_router_call_json(add, NULL, "[1,2]", 5, &result, &err), KEEL_ERR_NOT_FOUND);
    /* A module whose start failed after publishing: its callers hear why. */
    keel_instance *bad = NULL;
    ck_assert_int_eq(keel_loader_install(l, test_bundle("modules/probe-fail"), &bad, &err), KEEL_OK);
    ck_assert_int_eq(keel_instance_start(bad, 1, &err), KEEL_ERR_START);
    keel_router_ref *probe = operator_ref(l, "probe-fail", "tasks_run");
    keel_call call;
    ck_assert_int_eq(keel_router_enter(probe, NULL, &call), KEEL_ERR_BROKEN);
    ck_assert_int_eq(keel_loader_uninstall(l, bad, &err), KEEL_OK);
    keel_router_ref_release(probe);
    keel_router_ref_release(add);
    keel_router_ref_release(h.ref);
    done_loader(l, work);
}
END_TEST

/* --- scenes ------------------------------------------------------------------ */

START_TEST(same_service_two_scenes_and_cross_scene_rules)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    install(l, "modules/quote-retail", 1);
    install(l, "modules/quote-vip", 1);
    install(l, "modules/counter-1", 1);
    keel_instance *caller = install(l, "modules/caller", 1);
    keel_status st;
    keel_router_ref *retail = operator_ref(l, "retail", "quote"), *vip = operator_ref(l, "vip", "quote");
    ck_assert_int_eq(call_i64(retail, &st), 100);
    ck_assert_int_eq(call_i64(vip, &st), 200);
    /* Through the module API: the caller's own scene is "retail". */
    int64_t (*quote_here)(void) = (int64_t (*)(void))test_service(caller, "retail", "quote_here");
    int64_t (*quote_in)(const char *) = (int64_t (*)(const char *))test_service(caller, "retail", "quote_in");
    ck_assert_int_eq(quote_here(), 100);
    ck_assert_int_eq(quote_in("retail"), 100);
    ck_assert_int_eq(quote_in("vip"), -(int64_t)KEEL_ERR_DENIED); /* not declared */
    /* Declared cross-scene calls and publishes work; undeclared ones do not. */
    char *(*add_json)(const char *, int32_t *) = (char *(*)(const char *, int32_t *))test_service(caller, "retail", "add_json");
    int32_t status = -1;
    char *sum = add_json("[40, 2]", &status);
    ck_assert_int_eq(status, KEEL_OK);
    ck_assert_str_eq(sum, "42");
    free(sum);
    ck_assert_ptr_null(add_json("[\"forty\", 2]", &status));
    ck_assert_int_eq(status, KEEL_ERR_INVALID);
    int32_t (*publish_to)(const char *, const char *, const void *, size_t) =
        (int32_t (*)(const char *, const char *, const void *, size_t))test_service(caller, "retail", "publish_to");
    ck_assert_int_eq(publish_to("vip", "deals", "x", 1), KEEL_ERR_DENIED);
    ck_assert_int_eq(publish_to("retail", "deals", "x", 1), KEEL_OK); /* own scene, no subscriber */
    /* The same names through the router with a module as caller. */
    keel_router_ref *ref = NULL;
    keel_error err = {0};
    ck_assert_int_eq(keel_router_resolve(keel_loader_router(l), keel_instance_route(caller), "vip", "quote", &ref, &err),
                     KEEL_ERR_DENIED);
    ck_assert_msg(strstr(err.message, "caller@1.0.0") && strstr(err.message, "\"calls\""), "%s", err.message);
    keel_router_ref_release(retail);
    keel_router_ref_release(vip);
    done_loader(l, work);
}
END_TEST

/* --- gray release, rollback, versions --------------------------------------- */

START_TEST(gray_release_by_weight_and_by_key)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    install(l, "modules/counter-1", 1);
    keel_instance *v2 = install(l, "modules/counter-2", 0);
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_route(l, "counter", "1.0.0", "2.0.0", 10, 1, &err), KEEL_OK);
    ck_assert_int_eq(keel_instance_state_get(v2), KEEL_STATE_ACTIVE);
    keel_router_ref *ref = operator_ref(l, "counting", "version");
    int counts[3] = {0};
    for (int i = 0; i < 10000; i++) {
        keel_call call;
        ck_assert_int_eq(keel_router_enter(ref, NULL, &call), KEEL_OK);
        counts[((int64_t (*)(void))call.fn)()]++;
        keel_router_leave(&call);
    }
    ck_assert_msg(counts[2] > 700 && counts[2] < 1300, "10%% gray got %d of 10000", counts[2]);
    int keys_on_v2 = 0;
    for (int k = 0; k < 200; k++) {
        char key[32];
        snprintf(key, sizeof key, "customer-%d", k);
        int64_t first = 0;
        for (int i = 0; i < 20; i++) {
            keel_call call;
            ck_assert_int_eq(keel_router_enter(ref, key, &call), KEEL_OK);
            int64_t v = ((int64_t (*)(void))call.fn)();
            keel_router_leave(&call);
            if (i == 0)
                first = v;
            ck_assert_int_eq(v, first); /* same key, same version */
        }
        keys_on_v2 += first == 2;
    }
    ck_assert_msg(keys_on_v2 > 2 && keys_on_v2 < 50, "%d of 200 keys on the gray version", keys_on_v2);
    ck_assert_int_eq(keel_loader_route(l, "counter", "1.0.0", "2.0.0", 101, 0, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_loader_route(l, "counter", "2.0.0", NULL, 0, 0, &err), KEEL_OK);
    keel_status st;
    ck_assert_int_eq(call_i64(ref, &st), 2);
    keel_router_ref_release(ref);
    done_loader(l, work);
}
END_TEST

START_TEST(rollback_and_version_limit)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    keel_instance *v1 = install(l, "modules/counter-1", 1);
    keel_instance *v2 = install(l, "modules/counter-2", 0);
    keel_router_ref *ref = operator_ref(l, "counting", "version");
    keel_error err = {0};
    keel_status st;
    ck_assert_int_eq(keel_loader_rollback(l, "counter", &err), KEEL_ERR_STATE); /* nothing before v1 */
    ck_assert_int_eq(keel_loader_switch(l, "counter", "2.0.0", &err), KEEL_OK);
    ck_assert_int_eq(call_i64(ref, &st), 2);
    ck_assert_int_eq(keel_loader_rollback(l, "counter", &err), KEEL_OK);
    ck_assert_int_eq(call_i64(ref, &st), 1);
    ck_assert_int_eq(keel_instance_state_get(v1), KEEL_STATE_ACTIVE);
    ck_assert_int_eq(keel_instance_state_get(v2), KEEL_STATE_INACTIVE);
    ck_assert_int_eq(keel_loader_rollback(l, "counter", &err), KEEL_OK);
    ck_assert_int_eq(call_i64(ref, &st), 2);
    /* Two versions loaded: a third is refused until one goes. */
    keel_instance *v3 = NULL;
    ck_assert_int_eq(keel_loader_install(l, test_bundle("modules/counter-3"), &v3, &err), KEEL_ERR_LIMIT);
    ck_assert_msg(strstr(err.message, "2 versions loaded"), "%s", err.message);
    ck_assert_int_eq(keel_loader_uninstall(l, v1, &err), KEEL_OK);
    v3 = install(l, "modules/counter-3", 1);
    ck_assert_int_eq(call_i64(ref, &st), 3);
    keel_router_ref_release(ref);
    done_loader(l, work);
}
END_TEST

/* --- metrics -------------------------------------------------------------------- */

typedef struct seen_metrics {
    uint64_t calls_v1, errors_v1, samples_v1;
} seen_metrics;

static void collect(const keel_service_metrics *m, void *user)
{
    seen_metrics *s = user;
    if (strcmp(m->module, "counter") == 0 && strcmp(m->version, "1.0.0") == 0 && strcmp(m->service, "add") == 0) {
        s->calls_v1 = m->calls;
        s->errors_v1 = m->errors;
        s->samples_v1 = m->latency_samples;
    }
}

START_TEST(metrics_count_calls_errors_and_latency)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    install(l, "modules/counter-1", 1);
    keel_router_ref *add = operator_ref(l, "counting", "add");
    keel_error err = {0};
    for (int i = 0; i < 50; i++) {
        char *result = NULL;
        ck_assert_int_eq(keel_router_call_json(add, NULL, "[1,2]", 5, &result, &err), KEEL_OK);
        ck_assert_str_eq(result, "3");
        free(result);
    }
    char *result = NULL;
    ck_assert_int_eq(keel_router_call_json(add, NULL, "[1]", 3, &result, &err), KEEL_ERR_INVALID);
    ck_assert_msg(strstr(err.message, "counter@1.0.0"), "%s", err.message);
    seen_metrics s = {0};
    ck_assert_uint_ge(keel_router_metrics(keel_loader_router(l), collect, &s), 3);
    ck_assert_uint_eq(s.calls_v1, 51);
    ck_assert_uint_eq(s.errors_v1, 1);
    ck_assert_uint_eq(s.samples_v1, 51);
    keel_router_ref_release(add);
    done_loader(l, work);
}
END_TEST

typedef struct listing {
    int found_v1, found_v2;
} listing;

static void list_one(const keel_service_info *info, void *user)
{
    listing *seen = user;
    if (strcmp(info->module, "counter") != 0 || strcmp(info->name, "add") != 0)
        return;
    ck_assert_str_eq(info->scene, "counting");
    ck_assert_str_eq(info->signature, "i64(i64,i64)");
    ck_assert_str_eq(info->properties, "{\"idempotent\":true}");
    if (strcmp(info->version, "1.0.0") == 0) {
        ck_assert_int_eq(info->routed, 1);
        ck_assert_uint_eq(info->share, 90);
        seen->found_v1++;
    } else {
        ck_assert_int_eq(info->routed, 2);
        ck_assert_uint_eq(info->share, 10);
        seen->found_v2++;
    }
}

START_TEST(services_list_their_signature_properties_and_share)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    install(l, "modules/counter-1", 1);
    install(l, "modules/counter-2", 0);
    keel_error err = {0};
    ck_assert_int_eq(keel_loader_route(l, "counter", "1.0.0", "2.0.0", 10, 0, &err), KEEL_OK);
    listing seen = {0};
    ck_assert_uint_ge(keel_router_services(keel_loader_router(l), list_one, &seen), 6);
    ck_assert_int_eq(seen.found_v1, 1);
    ck_assert_int_eq(seen.found_v2, 1);
    done_loader(l, work);
}
END_TEST

static void queue_of_counter(const keel_queue_metrics *m, void *user)
{
    if (strcmp(m->module, "counter") == 0)
        *(keel_mailbox_stats *)user = m->stats;
}

START_TEST(sync_publish_returns_after_delivery_and_queues_are_counted)
{
    char *work;
    keel_loader *l = loader_with(&work, 1000, KEEL_OVERFLOW_REJECT);
    install(l, "modules/counter-1", 1);
    atomic_uint seen[4] = {0}, by_version[4] = {0}, disorder = 0;
    atomic_ullong last = 0;
    keel_error err = {0};
    size_t receivers = 0;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        tick t = {seq, seen, by_version, &last, &disorder};
        ck_assert_int_eq(keel_router_publish(keel_loader_router(l), NULL, "counting", "ticks", &t, sizeof t,
                                             KEEL_PUBLISH_SYNC, &receivers, &err), KEEL_OK);
        ck_assert_uint_eq(receivers, 1);
        ck_assert_uint_eq(atomic_load(&seen[seq]), 1); /* delivered before publish returned */
    }
    /* Nobody subscribes to this topic: accepted, no receivers. */
    ck_assert_int_eq(keel_router_publish(keel_loader_router(l), NULL, "counting", "nobody", "x", 1, 0,
                                         &receivers, &err), KEEL_OK);
    ck_assert_uint_eq(receivers, 0);
    keel_mailbox_stats stats = {0};
    ck_assert_uint_ge(keel_router_queue_metrics(keel_loader_router(l), queue_of_counter, &stats), 1);
    ck_assert_uint_eq(stats.posted, 3);
    ck_assert_uint_eq(stats.delivered, 3);
    ck_assert_uint_eq(stats.rejected + stats.dropped + stats.queued, 0);
    done_loader(l, work);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("routing");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, same_service_two_scenes_and_cross_scene_rules);
    tcase_add_test(tc, gray_release_by_weight_and_by_key);
    tcase_add_test(tc, rollback_and_version_limit);
    tcase_add_test(tc, metrics_count_calls_errors_and_latency);
    tcase_add_test(tc, a_stuck_call_keeps_the_old_version_loaded_and_reported);
    tcase_add_test(tc, calls_say_draining_broken_or_not_found);
    tcase_add_test(tc, services_list_their_signature_properties_and_share);
    tcase_add_test(tc, sync_publish_returns_after_delivery_and_queues_are_counted);
    suite_add_tcase(s, tc);
    TCase *switching = tcase_create("switching");
    tcase_set_timeout(switching, 900);
    tcase_add_test(switching, switches_under_load_without_a_failed_call_or_lost_message);
    suite_add_tcase(s, switching);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

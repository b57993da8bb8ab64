/* test_kv_memory.c — the kv starter with its memory backend, loaded the way
 * the base loads it (starter_harness). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv_test_util.h"

/* get that must succeed with exactly `want` (NUL-terminated text). */
static void expect_value(const keel_kv_api *api, keel_kv *kv, const char *key, const char *want)
{
    void *v = NULL;
    size_t len = 0;
    keel_status st = api->get(kv, key, &v, &len);
    ck_assert_msg(st == KEEL_OK, "get %s: status %d", key, st);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_mem_eq(v, want, len);
    ck_assert_int_eq(((char *)v)[len], '\0');
    api->free(v);
}

static void expect_absent(const keel_kv_api *api, keel_kv *kv, const char *key)
{
    void *v = (void *)1;
    size_t len = 7;
    ck_assert_int_eq(api->get(kv, key, &v, &len), KEEL_ERR_NOT_FOUND);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(len, 0);
}

static void set_text(const keel_kv_api *api, keel_kv *kv, const char *key, const char *value,
                     int64_t ttl)
{
    keel_status st = api->set(kv, key, value, strlen(value), ttl);
    ck_assert_msg(st == KEEL_OK, "set %s: status %d", key, st);
}

START_TEST(test_set_get_del)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    ck_assert_uint_eq(api->version, KEEL_KV_API_VERSION_1);
    ck_assert(!KEEL_KV_API_HAS(api, ttl));
    keel_kv *kv = kvt_bind(&t, "orders");

    expect_absent(api, kv, "greeting");
    set_text(api, kv, "greeting", "hello", 0);
    expect_value(api, kv, "greeting", "hello");
    set_text(api, kv, "greeting", "a longer replacement value", 0);
    expect_value(api, kv, "greeting", "a longer replacement value");
    set_text(api, kv, "greeting", "hi", 0);
    expect_value(api, kv, "greeting", "hi");
    ck_assert_int_eq(api->del(kv, "greeting"), KEEL_OK);
    expect_absent(api, kv, "greeting");
    ck_assert_int_eq(api->del(kv, "greeting"), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->del(kv, "never-set"), KEEL_ERR_NOT_FOUND);

    /* many keys: the stripes' tables grow and keep everything */
    char key[32], val[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "v%d", i * 7);
        set_text(api, kv, key, val, 0);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "v%d", i * 7);
        expect_value(api, kv, key, val);
    }
    ck_assert_double_eq(kvt_info_number(&t, "keys"), 3000);
    ck_assert_double_eq(kvt_info_number(&t, "hits"), 3000 + 3);
    ck_assert_double_eq(kvt_info_number(&t, "misses"), 2);
    ck_assert_double_eq(kvt_info_number(&t, "deletes"), 1);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_binary_values)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, NULL), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "blobs");
    unsigned char bytes[512];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 31);   /* includes 0x00 and 0xff */
    ck_assert_int_eq(api->set(kv, "bin", bytes, sizeof bytes, 0), KEEL_OK);
    void *v = NULL;
    size_t len = 0;
    ck_assert_int_eq(api->get(kv, "bin", &v, &len), KEEL_OK);
    ck_assert_uint_eq(len, sizeof bytes);
    ck_assert_mem_eq(v, bytes, sizeof bytes);
    ck_assert_int_eq(((char *)v)[len], '\0');
    api->free(v);
    api->free(NULL);

    /* an empty value is a value */
    ck_assert_int_eq(api->set(kv, "empty", NULL, 0, 0), KEEL_OK);
    ck_assert_int_eq(api->get(kv, "empty", &v, &len), KEEL_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(((char *)v)[0], '\0');
    api->free(v);

    /* keys are any bytes but NUL, ':' included */
    set_text(api, kv, "a:b:c", "colons", 0);
    set_text(api, kv, "\x01\xff\xc3\xa9 key", "odd bytes", 0);
    expect_value(api, kv, "a:b:c", "colons");
    expect_value(api, kv, "\x01\xff\xc3\xa9 key", "odd bytes");
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_incr)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "counters");
    int64_t out = 0;
    ck_assert_int_eq(api->incr(kv, "n", 5, &out), KEEL_OK);
    ck_assert_int_eq(out, 5);
    ck_assert_int_eq(api->incr(kv, "n", -12, &out), KEEL_OK);
    ck_assert_int_eq(out, -7);
    expect_value(api, kv, "n", "-7");
    ck_assert_int_eq(api->incr(kv, "n", 1000007, &out), KEEL_OK);
    ck_assert_int_eq(out, 1000000);
    expect_value(api, kv, "n", "1000000");

    set_text(api, kv, "s", "41", 0);
    ck_assert_int_eq(api->incr(kv, "s", 1, &out), KEEL_OK);
    ck_assert_int_eq(out, 42);

    const char *not_ints[] = {"abc", "12a", " 1", "1 ", "01", "-0", "+1", "1.5", "", "-",
                              "99999999999999999999"};
    for (size_t i = 0; i < sizeof not_ints / sizeof not_ints[0]; i++) {
        set_text(api, kv, "bad", not_ints[i], 0);
        out = 123;
        ck_assert_msg(api->incr(kv, "bad", 1, &out) == KEEL_ERR_INVALID, "incr of \"%s\"",
                      not_ints[i]);
        ck_assert_int_eq(out, 123);
        expect_value(api, kv, "bad", not_ints[i]);   /* unchanged */
    }

    set_text(api, kv, "max", "9223372036854775807", 0);
    ck_assert_int_eq(api->incr(kv, "max", 1, &out), KEEL_ERR_LIMIT);
    expect_value(api, kv, "max", "9223372036854775807");
    ck_assert_int_eq(api->incr(kv, "max", -1, &out), KEEL_OK);
    ck_assert_int_eq(out, INT64_MAX - 1);
    set_text(api, kv, "min", "-9223372036854775808", 0);
    ck_assert_int_eq(api->incr(kv, "min", -1, &out), KEEL_ERR_LIMIT);
    ck_assert_int_eq(api->incr(kv, "min", 0, &out), KEEL_OK);
    ck_assert_int_eq(out, INT64_MIN);
    ck_assert_int_eq(api->incr(kv, "n", 0, NULL), KEEL_ERR_INVALID);
    ck_assert_double_eq(kvt_info_number(&t, "errors"), 11 + 3);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_ttl_expiry)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "sessions");
    set_text(api, kv, "short", "x", 50);
    set_text(api, kv, "long", "y", 60000);
    set_text(api, kv, "persisted", "z", 50);
    set_text(api, kv, "persisted", "z2", 0);   /* a set without TTL clears it */
    set_text(api, kv, "todel", "w", 50);
    int64_t out;
    ck_assert_int_eq(api->incr(kv, "counter", 1, &out), KEEL_OK);
    set_text(api, kv, "counter", "10", 50);
    ck_assert_int_eq(api->incr(kv, "counter", 1, &out), KEEL_OK);   /* keeps the TTL */
    expect_value(api, kv, "short", "x");
    kvt_sleep_ms(150);
    expect_absent(api, kv, "short");
    expect_absent(api, kv, "counter");
    expect_value(api, kv, "long", "y");
    expect_value(api, kv, "persisted", "z2");
    ck_assert_int_eq(api->del(kv, "todel"), KEEL_ERR_NOT_FOUND);
    /* an expired counter starts again from 0 */
    ck_assert_int_eq(api->incr(kv, "counter", 3, &out), KEEL_OK);
    ck_assert_int_eq(out, 3);
    ck_assert_double_ge(kvt_info_number(&t, "expired"), 3);
    ck_assert_double_eq(kvt_info_number(&t, "keys"), 3);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

/* The sweeper drops expired entries that nobody reads again. */
START_TEST(test_sweeper)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "sessions");
    char key[16];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "s%d", i);
        set_text(api, kv, key, "data", 30);
    }
    set_text(api, kv, "keep", "data", 0);
    ck_assert_double_eq(kvt_info_number(&t, "stored"), 41);
    long long deadline = kvt_now_ms() + 5000;
    while (kvt_info_number(&t, "stored") > 1) {
        ck_assert_msg(kvt_now_ms() < deadline, "the sweeper did not drop expired entries");
        kvt_sleep_ms(20);
    }
    ck_assert_double_eq(kvt_info_number(&t, "expired"), 40);
    ck_assert_double_eq(kvt_info_number(&t, "misses"), 0);   /* nobody read them */
    expect_value(api, kv, "keep", "data");
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_namespacing)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *a = kvt_bind(&t, "moda");
    keel_kv *b = kvt_bind(&t, "modb");
    set_text(api, a, "k", "from a", 0);
    expect_absent(api, b, "k");
    ck_assert_int_eq(api->del(b, "k"), KEEL_ERR_NOT_FOUND);
    set_text(api, b, "k", "from b", 0);
    expect_value(api, a, "k", "from a");
    expect_value(api, b, "k", "from b");
    /* a key that looks like another module's stored key stays a's own */
    set_text(api, a, "modb:k", "a's odd key", 0);
    expect_value(api, b, "k", "from b");
    expect_absent(api, b, "modb:k");
    int64_t out;
    ck_assert_int_eq(api->incr(a, "n", 1, &out), KEEL_OK);
    ck_assert_int_eq(api->incr(b, "n", 10, &out), KEEL_OK);
    ck_assert_int_eq(out, 10);
    ck_assert_int_eq(api->del(a, "k"), KEEL_OK);
    expect_value(api, b, "k", "from b");

    cJSON *info = kvt_info(&t);
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(info, "modules");
    ck_assert(cJSON_IsObject(mods));
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(mods, "moda")->valuedouble, 2);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(mods, "modb")->valuedouble, 2);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "clients")->valuedouble, 2);
    cJSON_Delete(info);

    /* module names that cannot be a prefix are refused */
    void *client = NULL;
    ck_assert_int_eq(starter_harness_bind(t.h, "a:b", NULL, &client, &t.err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(client);
    ck_assert_ptr_nonnull(strstr(t.err.message, "kv: bind"));
    ck_assert_int_eq(starter_harness_bind(t.h, "", NULL, &client, &t.err), KEEL_ERR_INVALID);
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
}
END_TEST

/* Two bindings of one module (v1 and v2 during a switch) share keys. */
START_TEST(test_same_module_shares)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *v1 = kvt_bind(&t, "cart");
    keel_kv *v2 = kvt_bind(&t, "cart");
    ck_assert_ptr_ne(v1, v2);
    set_text(api, v1, "items", "3", 0);
    expect_value(api, v2, "items", "3");
    int64_t out;
    ck_assert_int_eq(api->incr(v2, "items", 2, &out), KEEL_OK);
    expect_value(api, v1, "items", "5");
    starter_harness_unbind(t.h, v1);   /* v1 stops: v2 keeps the data */
    expect_value(api, v2, "items", "5");
    ck_assert_int_eq(api->del(v2, "items"), KEEL_OK);
    keel_kv *v3 = kvt_bind(&t, "cart");
    expect_absent(api, v3, "items");
    starter_harness_unbind(t.h, v2);
    starter_harness_unbind(t.h, v3);
    kvt_close(&t);
}
END_TEST

START_TEST(test_max_keys)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{\"max_keys\": 10}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *a = kvt_bind(&t, "moda");
    keel_kv *b = kvt_bind(&t, "modb");
    char key[16];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set_text(api, a, key, "v", 0);
        snprintf(key, sizeof key, "t%d", i);
        set_text(api, b, key, "v", 400);   /* these expire soon */
    }
    unsigned warns = starter_harness_log_count(t.h, KEEL_LOG_WARN);
    ck_assert_int_eq(api->set(a, "one-too-many", "v", 1, 0), KEEL_ERR_LIMIT);
    ck_assert_uint_eq(starter_harness_log_count(t.h, KEEL_LOG_WARN), warns + 1);
    int64_t out;
    ck_assert_int_eq(api->incr(b, "new-counter", 1, &out), KEEL_ERR_LIMIT);
    expect_absent(api, a, "one-too-many");
    set_text(api, a, "k0", "replacing is fine", 0);   /* not a new key */
    ck_assert_int_eq(api->del(a, "k1"), KEEL_OK);
    set_text(api, a, "one-more", "v", 0);            /* a place was freed */
    ck_assert_int_eq(api->set(a, "again", "v", 1, 0), KEEL_ERR_LIMIT);
    /* expired keys do not hold places, swept or not */
    kvt_sleep_ms(500);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "n%d", i);
        set_text(api, a, key, "v", 0);
    }
    ck_assert_int_eq(api->set(a, "again", "v", 1, 0), KEEL_ERR_LIMIT);
    ck_assert_double_eq(kvt_info_number(&t, "keys"), 10);
    ck_assert_double_eq(kvt_info_number(&t, "max_keys"), 10);
    ck_assert_double_eq(kvt_info_number(&t, "errors"), 4);
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
}
END_TEST

START_TEST(test_value_limit)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{\"max_value_bytes\": 16}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "moda");
    set_text(api, kv, "fits", "0123456789abcdef", 0);
    ck_assert_int_eq(api->set(kv, "fits", "0123456789abcdefg", 17, 0), KEEL_ERR_LIMIT);
    expect_value(api, kv, "fits", "0123456789abcdef");   /* unchanged */
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);

    /* default: 1 MiB */
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    api = kvt_api(&t);
    kv = kvt_bind(&t, "moda");
    size_t mib = 1024 * 1024;
    char *big = malloc(mib + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', mib + 1);
    ck_assert_int_eq(api->set(kv, "big", big, mib, 0), KEEL_OK);
    ck_assert_int_eq(api->set(kv, "bigger", big, mib + 1, 0), KEEL_ERR_LIMIT);
    void *v;
    size_t len;
    ck_assert_int_eq(api->get(kv, "big", &v, &len), KEEL_OK);
    ck_assert_uint_eq(len, mib);
    api->free(v);
    expect_absent(api, kv, "bigger");
    free(big);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_bad_keys)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_1, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "moda");
    char longest[KEEL_KV_KEY_MAX + 2];
    memset(longest, 'k', sizeof longest);
    longest[KEEL_KV_KEY_MAX] = '\0';
    set_text(api, kv, longest, "512 bytes is fine", 0);
    expect_value(api, kv, longest, "512 bytes is fine");
    longest[KEEL_KV_KEY_MAX] = 'k';
    longest[KEEL_KV_KEY_MAX + 1] = '\0';
    const char *bad[] = {NULL, "", longest};
    int64_t out;
    void *v;
    size_t len;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(api->set(kv, bad[i], "v", 1, 0), KEEL_ERR_INVALID);
        ck_assert_int_eq(api->get(kv, bad[i], &v, &len), KEEL_ERR_INVALID);
        ck_assert_int_eq(api->del(kv, bad[i]), KEEL_ERR_INVALID);
        ck_assert_int_eq(api->incr(kv, bad[i], 1, &out), KEEL_ERR_INVALID);
        ck_assert_int_eq(api->ttl(kv, bad[i], &out), KEEL_ERR_INVALID);
    }
    ck_assert_int_eq(api->set(kv, "k", NULL, 3, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->set(kv, "k", "v", 1, -5), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->get(kv, "k", NULL, &len), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->get(kv, "k", &v, NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->ttl(kv, "k", NULL), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->set(NULL, "k", "v", 1, 0), KEEL_ERR_INVALID);
    /* nothing was stored by the refused calls */
    ck_assert_double_eq(kvt_info_number(&t, "keys"), 1);
    ck_assert_double_eq(kvt_info_number(&t, "sets"), 1);
    ck_assert_uint_ge(starter_harness_log_count(t.h, KEEL_LOG_WARN), 1);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
}
END_TEST

START_TEST(test_bad_config)
{
    const struct {
        const char *config;
        const char *message;
    } cases[] = {
        {"{\"max_keys\": \"lots\"}",
         "kv: config field \"max_keys\": expected an integer 1..1000000000, got \"lots\""},
        {"{\"max_keys\": 1.5}", "kv: config field \"max_keys\": expected an integer"},
        {"{\"max_keys\": 0}", "kv: config field \"max_keys\": expected an integer"},
        {"{\"max_value_bytes\": true}",
         "kv: config field \"max_value_bytes\": expected an integer 1..536870912, got true"},
        {"{\"colour\": \"red\"}", "kv: config field \"colour\": unknown field (known: backend"},
        {"{\"backend\": \"redis\", \"redis\": {\"port\": \"abc\"}}",
         "kv: config field \"redis.port\": expected an integer 1..65535, got \"abc\""},
        {"{\"backend\": \"redis\", \"redis\": {\"port\": 70000}}",
         "kv: config field \"redis.port\": expected an integer 1..65535, got 70000"},
        {"{\"backend\": \"mongo\"}",
         "kv: config field \"backend\": expected \"memory\" or \"redis\", got \"mongo\""},
        {"{\"backend\": 1}", "kv: config field \"backend\": expected \"memory\" or \"redis\", got 1"},
        {"{\"redis\": []}", "kv: config field \"redis\": expected an object, got an array"},
        {"{\"redis\": {\"tls\": true}}", "kv: config field \"redis.tls\": unknown field"},
        {"{\"redis\": {\"host\": \"\"}}", "kv: config field \"redis.host\": expected a string"},
        {"{\"redis\": {\"pool\": 0}}", "kv: config field \"redis.pool\": expected an integer 1..64"},
        {"{\"redis\": {\"timeout_ms\": -1}}", "kv: config field \"redis.timeout_ms\""},
        {"{\"redis\": {\"password\": 42}}", "kv: config field \"redis.password\""},
        {"not json", "kv: config is not valid JSON"},
        {"[1, 2]", "kv: config: expected a JSON object, got an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kvt t;
        keel_status st = kvt_open(&t, KV_SO_1_0, cases[i].config);
        ck_assert_msg(st == KEEL_ERR_INVALID, "%s: status %d", cases[i].config, st);
        ck_assert_ptr_null(t.h);
        ck_assert_msg(strncmp(t.err.message, cases[i].message, strlen(cases[i].message)) == 0,
                      "%s: message \"%s\", expected \"%s...\"", cases[i].config, t.err.message,
                      cases[i].message);
        ck_assert_ptr_null(strchr(t.err.message, '\n'));
        kvt_close(&t);
    }
    /* every field at once, valid: accepted */
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0,
                              "{\"backend\": \"memory\", \"max_keys\": 5, \"max_value_bytes\": 8,"
                              " \"redis\": {\"host\": \"localhost\", \"port\": 1, \"db\": 2,"
                              " \"password\": \"p\", \"timeout_ms\": 5, \"pool\": 1}}"),
                     KEEL_OK);
    ck_assert_double_eq(kvt_info_number(&t, "max_keys"), 5);
    ck_assert_double_eq(kvt_info_number(&t, "max_value_bytes"), 8);
    kvt_close(&t);
}
END_TEST

START_TEST(test_admin)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *a = kvt_bind(&t, "moda");
    keel_kv *b = kvt_bind(&t, "modb");
    char key[16];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set_text(api, a, key, "v", 0);
    }
    set_text(api, b, "k0", "v", 0);

    cJSON *info = kvt_info(&t);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(info, "backend")->valuestring, "memory");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(info, "version")->valuestring, "1.0.0");
    const char *numbers[] = {"keys", "hits", "misses", "sets", "deletes", "errors", "expired",
                             "max_keys", "max_value_bytes"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(info, numbers[i])),
                      "info lacks %s", numbers[i]);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "keys")->valuedouble, 26);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "sets")->valuedouble, 26);
    cJSON_Delete(info);

    char *result = NULL;
    ck_assert_int_eq(starter_harness_admin(t.h, "flush", "{\"module\": \"moda\"}", &result, &t.err),
                     KEEL_OK);
    cJSON *r = cJSON_Parse(result);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(r, "deleted")->valuedouble, 25);
    cJSON_Delete(r);
    free(result);
    expect_absent(api, a, "k3");
    expect_value(api, b, "k0", "v");
    ck_assert_double_eq(kvt_info_number(&t, "keys"), 1);

    const char *bad_args[] = {NULL, "{}", "{\"module\": 3}", "{\"module\": \"a:b\"}",
                              "{\"module\": \"moda\", \"x\": 1}", "nope"};
    for (size_t i = 0; i < sizeof bad_args / sizeof bad_args[0]; i++) {
        result = NULL;
        ck_assert_int_eq(starter_harness_admin(t.h, "flush", bad_args[i], &result, &t.err),
                         KEEL_ERR_INVALID);
        ck_assert_ptr_null(result);
        ck_assert_ptr_nonnull(strstr(t.err.message, "kv: flush: expected {\"module\": NAME}"));
    }
    ck_assert_int_eq(starter_harness_admin(t.h, "compact", NULL, &result, &t.err),
                     KEEL_ERR_NOT_FOUND);
    ck_assert_str_eq(t.err.message, "kv: unknown admin op \"compact\" (known: info, flush)");
    expect_value(api, b, "k0", "v");
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
}
END_TEST

/* --- concurrency ------------------------------------------------------- */

enum { WORKERS = 4, ROUNDS = 2000 };

typedef struct worker {
    const keel_kv_api *api;
    keel_kv *kv;
    int id;
    int failures;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char key[32], val[32];
    for (int i = 0; i < ROUNDS; i++) {
        int64_t out;
        if (w->api->incr(w->kv, "total", 1, &out) != KEEL_OK)
            w->failures++;
        snprintf(key, sizeof key, "w%d-%d", w->id, i % 50);
        snprintf(val, sizeof val, "value %d %d", w->id, i);
        if (w->api->set(w->kv, key, val, strlen(val), i % 3 ? 0 : 5000) != KEEL_OK)
            w->failures++;
        void *v = NULL;
        size_t len = 0;
        if (w->api->get(w->kv, key, &v, &len) != KEEL_OK || len != strlen(val) ||
            memcmp(v, val, len) != 0)
            w->failures++;
        w->api->free(v);
        if (i % 7 == 0 && w->api->del(w->kv, key) != KEEL_OK)
            w->failures++;
        if (w->api->get(w->kv, "shared", &v, &len) == KEEL_OK)
            w->api->free(v);
        if (w->api->set(w->kv, "shared", val, strlen(val), 0) != KEEL_OK)
            w->failures++;
    }
    return NULL;
}

START_TEST(test_concurrency)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{}"), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *c1 = kvt_bind(&t, "moda");
    keel_kv *c2 = kvt_bind(&t, "moda");   /* two versions of one module */
    worker w[WORKERS];
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (worker){api, i % 2 ? c2 : c1, i, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    char total[32];
    snprintf(total, sizeof total, "%d", WORKERS * ROUNDS);
    expect_value(api, c1, "total", total);
    ck_assert_double_eq(kvt_info_number(&t, "incrs"), WORKERS * ROUNDS);
    starter_harness_unbind(t.h, c1);
    starter_harness_unbind(t.h, c2);
    kvt_close(&t);
}
END_TEST

/* --- upgrade in place ---------------------------------------------------- */

START_TEST(test_upgrade)
{
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, "{\"max_keys\": 1000}"), KEEL_OK);
    const keel_starter_def *def = starter_harness_def(t.h);
    ck_assert_str_eq(def->version, "1.0.0");
    ck_assert_uint_eq(def->slot_count, 5);
    const keel_kv_api *api = kvt_api(&t);
    ck_assert_uint_eq(api->size, offsetof(keel_kv_api, ttl));
    keel_kv *a = kvt_bind(&t, "moda");
    keel_kv *b = kvt_bind(&t, "modb");
    char key[32], val[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "value-%d", i);
        set_text(api, i % 2 ? a : b, key, val, 0);
    }
    int64_t out;
    ck_assert_int_eq(api->incr(a, "counter", 41, &out), KEEL_OK);
    set_text(api, a, "ttl-long", "L", 30000);
    set_text(api, b, "ttl-short", "S", 1000);

    ck_assert_int_eq(starter_harness_upgrade(t.h, KV_SO_1_1, &t.err), KEEL_OK);
    def = starter_harness_def(t.h);
    ck_assert_str_eq(def->version, "1.1.0");
    ck_assert_uint_eq(def->slot_count, 6);
    ck_assert_str_eq(def->slot_signatures[5], "i32(ptr,ptr,ptr)");
    const keel_kv_api *api2 = kvt_api(&t);   /* the old table is unmapped now */
    ck_assert_uint_eq(api2->version, KEEL_KV_API_VERSION_2);
    ck_assert_uint_eq(api2->size, sizeof(keel_kv_api));
    ck_assert(KEEL_KV_API_HAS(api2, ttl));

    /* every key survived, seen through the clients bound under 1.0.0 */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "value-%d", i);
        expect_value(api2, i % 2 ? a : b, key, val);
        expect_absent(api2, i % 2 ? b : a, key);
    }
    ck_assert_int_eq(api2->incr(a, "counter", 1, &out), KEEL_OK);
    ck_assert_int_eq(out, 42);
    double keys = kvt_info_number(&t, "keys");   /* ttl-short may be gone already */
    ck_assert(keys == 303 || keys == 302);
    cJSON *info = kvt_info(&t);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(info, "version")->valuestring, "1.1.0");
    cJSON_Delete(info);

    /* the new slot */
    int64_t left = 0;
    ck_assert_int_eq(api2->ttl(a, "ttl-long", &left), KEEL_OK);
    ck_assert_int_gt(left, 0);
    ck_assert_int_le(left, 30000);
    ck_assert_int_eq(api2->ttl(a, "k1", &left), KEEL_OK);
    ck_assert_int_eq(left, -1);
    ck_assert_int_eq(api2->ttl(a, "absent", &left), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api2->ttl(b, "ttl-long", &left), KEEL_ERR_NOT_FOUND);   /* a's key */

    /* the sweeper runs again, now with 1.1.0's code */
    long long deadline = kvt_now_ms() + 5000;
    while (kvt_info_number(&t, "stored") > 302) {
        ck_assert_msg(kvt_now_ms() < deadline, "no sweeper after the upgrade");
        kvt_sleep_ms(20);
    }
    ck_assert_int_eq(api2->ttl(b, "ttl-short", &left), KEEL_ERR_NOT_FOUND);
    ck_assert_double_eq(kvt_info_number(&t, "expired"), 1);

    /* new clients bound under 1.1.0 see the same namespace */
    keel_kv *a2 = kvt_bind(&t, "moda");
    expect_value(api2, a2, "k1", "value-1");
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, a2);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
}
END_TEST

START_TEST(test_downgrade_and_failed_upgrade)
{
    /* 1.1.0 -> 1.0.0 (same state format) works on the same state with the
     * smaller table; a version that cannot load leaves the running one. */
    kvt t;
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_1, "{}"), KEEL_OK);
    keel_kv *a = kvt_bind(&t, "moda");
    set_text(kvt_api(&t), a, "k", "v", 0);
    ck_assert_int_eq(starter_harness_upgrade(t.h, KV_SO_1_0, &t.err), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    ck_assert_uint_eq(api->version, KEEL_KV_API_VERSION_1);
    expect_value(api, a, "k", "v");
    ck_assert_int_eq(starter_harness_upgrade(t.h, "/nonexistent/kv.so", &t.err), KEEL_ERR_LOAD);
    expect_value(kvt_api(&t), a, "k", "v");
    starter_harness_unbind(t.h, a);
    kvt_close(&t);
}
END_TEST

static Suite *kv_memory_suite(void)
{
    Suite *s = suite_create("starter_kv");
    TCase *tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_set_get_del);
    tcase_add_test(tc, test_binary_values);
    tcase_add_test(tc, test_incr);
    tcase_add_test(tc, test_ttl_expiry);
    tcase_add_test(tc, test_sweeper);
    tcase_add_test(tc, test_namespacing);
    tcase_add_test(tc, test_same_module_shares);
    tcase_add_test(tc, test_max_keys);
    tcase_add_test(tc, test_value_limit);
    tcase_add_test(tc, test_bad_keys);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_admin);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_upgrade);
    tcase_add_test(tc, test_downgrade_and_failed_upgrade);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kv_memory_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

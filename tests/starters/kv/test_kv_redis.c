/* test_kv_redis.c — the kv starter with its Redis backend, against a real
 * redis-server that each test starts on a free port (and kills). */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kv_test_util.h"

static void expect_value(const keel_kv_api *api, keel_kv *kv, const char *key, const void *want,
                         size_t want_len)
{
    void *v = NULL;
    size_t len = 0;
    keel_status st = api->get(kv, key, &v, &len);
    ck_assert_msg(st == KEEL_OK, "get %s: status %d", key, st);
    ck_assert_uint_eq(len, want_len);
    ck_assert_mem_eq(v, want, len);
    ck_assert_int_eq(((char *)v)[len], '\0');
    api->free(v);
}

static void expect_text(const keel_kv_api *api, keel_kv *kv, const char *key, const char *want)
{
    expect_value(api, kv, key, want, strlen(want));
}

static void expect_absent(const keel_kv_api *api, keel_kv *kv, const char *key)
{
    void *v = (void *)1;
    size_t len = 3;
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

/* The starter's config for the redis `r` (extra: more "redis" members). */
static const char *redis_config(const kvt_redis *r, const char *top, const char *extra,
                                char *buf, size_t size)
{
    snprintf(buf, size,
             "{\"backend\": \"redis\"%s%s, \"redis\": {\"host\": \"127.0.0.1\", \"port\": %d, "
             "\"timeout_ms\": 1000%s%s}}",
             top ? ", " : "", top ? top : "", r->port, extra ? ", " : "", extra ? extra : "");
    return buf;
}

/* A Redis reply of the test's own connection, as a string or NULL. */
static char *redis_get(redisContext *c, const char *key)
{
    redisReply *rep = redisCommand(c, "GET %s", key);
    ck_assert_ptr_nonnull(rep);
    char *s = rep->type == REDIS_REPLY_STRING ? strndup(rep->str, rep->len) : NULL;
    freeReplyObject(rep);
    return s;
}

static long long redis_integer(redisContext *c, const char *cmd, const char *key)
{
    redisReply *rep = redisCommand(c, "%s %s", cmd, key);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

START_TEST(test_functional)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, redis_config(&r, "\"max_value_bytes\": 4096", NULL,
                                                          cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "orders");

    expect_absent(api, kv, "greeting");
    set_text(api, kv, "greeting", "hello", 0);
    expect_text(api, kv, "greeting", "hello");
    set_text(api, kv, "greeting", "replaced", 0);
    expect_text(api, kv, "greeting", "replaced");
    ck_assert_int_eq(api->del(kv, "greeting"), KEEL_OK);
    ck_assert_int_eq(api->del(kv, "greeting"), KEEL_ERR_NOT_FOUND);
    expect_absent(api, kv, "greeting");

    unsigned char bytes[1024];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 13);
    ck_assert_int_eq(api->set(kv, "bin\x01key", bytes, sizeof bytes, 0), KEEL_OK);
    expect_value(api, kv, "bin\x01key", bytes, sizeof bytes);
    ck_assert_int_eq(api->set(kv, "empty", NULL, 0, 0), KEEL_OK);
    expect_value(api, kv, "empty", "", 0);

    int64_t out;
    ck_assert_int_eq(api->incr(kv, "n", 5, &out), KEEL_OK);
    ck_assert_int_eq(out, 5);
    ck_assert_int_eq(api->incr(kv, "n", -8, &out), KEEL_OK);
    ck_assert_int_eq(out, -3);
    expect_text(api, kv, "n", "-3");
    set_text(api, kv, "word", "abc", 0);
    ck_assert_int_eq(api->incr(kv, "word", 1, &out), KEEL_ERR_INVALID);
    expect_text(api, kv, "word", "abc");
    set_text(api, kv, "max", "9223372036854775807", 0);
    ck_assert_int_eq(api->incr(kv, "max", 1, &out), KEEL_ERR_LIMIT);

    /* limits and bad input never reach Redis */
    char big[4097];
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(api->set(kv, "big", big, sizeof big, 0), KEEL_ERR_LIMIT);
    ck_assert_int_eq(api->set(kv, "big", big, sizeof big - 1, 0), KEEL_OK);
    char longkey[KEEL_KV_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    ck_assert_int_eq(api->set(kv, longkey, "v", 1, 0), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->set(kv, "", "v", 1, 0), KEEL_ERR_INVALID);
    void *v = NULL;
    size_t len = 0;
    ck_assert_int_eq(api->get(kv, NULL, &v, &len), KEEL_ERR_INVALID);
    ck_assert_int_eq(api->set(kv, "neg", "v", 1, -1), KEEL_ERR_INVALID);
    longkey[KEEL_KV_KEY_MAX] = '\0';
    set_text(api, kv, longkey, "longest key", 0);
    expect_text(api, kv, longkey, "longest key");

    cJSON *info = kvt_info(&t);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(info, "backend")->valuestring, "redis");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", r.port);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(info, "redis")->valuestring, addr);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "reachable")));
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "errors")->valuedouble, 7);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "misses")->valuedouble, 2);
    cJSON_Delete(info);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_ttl_px)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_1, redis_config(&r, NULL, NULL, cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "sessions");
    redisContext *c = kvt_redis_client(&r, 0);
    set_text(api, kv, "short", "x", 150);
    set_text(api, kv, "long", "y", 60000);
    set_text(api, kv, "forever", "z", 0);
    long long pttl = redis_integer(c, "PTTL", "sessions:short");
    ck_assert_int_gt(pttl, 0);
    ck_assert_int_le(pttl, 150);
    ck_assert_int_eq(redis_integer(c, "PTTL", "sessions:forever"), -1);
    int64_t left;
    ck_assert_int_eq(api->ttl(kv, "long", &left), KEEL_OK);
    ck_assert_int_gt(left, 59000);
    ck_assert_int_le(left, 60000);
    ck_assert_int_eq(api->ttl(kv, "forever", &left), KEEL_OK);
    ck_assert_int_eq(left, -1);
    ck_assert_int_eq(api->ttl(kv, "absent", &left), KEEL_ERR_NOT_FOUND);
    expect_text(api, kv, "short", "x");
    kvt_sleep_ms(250);
    expect_absent(api, kv, "short");
    ck_assert_int_eq(api->ttl(kv, "short", &left), KEEL_ERR_NOT_FOUND);
    ck_assert_int_eq(api->del(kv, "short"), KEEL_ERR_NOT_FOUND);
    /* a set without TTL clears one */
    set_text(api, kv, "long", "y2", 0);
    ck_assert_int_eq(api->ttl(kv, "long", &left), KEEL_OK);
    ck_assert_int_eq(left, -1);
    redisFree(c);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_namespacing_visible)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, redis_config(&r, NULL, NULL, cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *a = kvt_bind(&t, "modA");
    keel_kv *b = kvt_bind(&t, "modB");
    keel_kv *a2 = kvt_bind(&t, "modA");
    set_text(api, a, "k", "from a", 0);
    redisContext *c = kvt_redis_client(&r, 0);
    char *s = redis_get(c, "modA:k");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "from a");
    free(s);
    ck_assert_int_eq(redis_integer(c, "EXISTS", "k"), 0);
    expect_absent(api, b, "k");
    set_text(api, b, "k", "from b", 0);
    expect_text(api, a, "k", "from a");
    expect_text(api, a2, "k", "from a");   /* same module, another binding */
    set_text(api, a, "modB:k", "a's odd key", 0);
    expect_text(api, b, "k", "from b");
    s = redis_get(c, "modA:modB:k");
    ck_assert_ptr_nonnull(s);
    free(s);
    /* a key written by someone else under b's prefix is b's */
    redisReply *rep = redisCommand(c, "SET modB:external hello");
    freeReplyObject(rep);
    expect_text(api, b, "external", "hello");
    expect_absent(api, a, "external");
    redisFree(c);
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, a2);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_password_and_db)
{
    kvt_redis r = {0};
    snprintf(r.password, sizeof r.password, "s3cret");
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0,
                              redis_config(&r, NULL, "\"password\": \"s3cret\", \"db\": 3", cfg,
                                           sizeof cfg)),
                     KEEL_OK);
    keel_kv *a = kvt_bind(&t, "moda");
    set_text(kvt_api(&t), a, "k", "in db 3", 0);
    redisContext *c3 = kvt_redis_client(&r, 3);
    char *s = redis_get(c3, "moda:k");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "in db 3");
    free(s);
    redisContext *c0 = kvt_redis_client(&r, 0);
    ck_assert_int_eq(redis_integer(c0, "EXISTS", "moda:k"), 0);
    redisFree(c0);
    redisFree(c3);
    starter_harness_unbind(t.h, a);
    kvt_close(&t);

    /* a wrong or missing password fails create with one clear line */
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0,
                              redis_config(&r, NULL, "\"password\": \"wrong\"", cfg, sizeof cfg)),
                     KEEL_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "kv: redis at 127.0.0.1:%d refused AUTH: ", r.port);
    ck_assert_msg(strncmp(t.err.message, want, strlen(want)) == 0, "%s", t.err.message);
    kvt_close(&t);
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, redis_config(&r, NULL, NULL, cfg, sizeof cfg)),
                     KEEL_ERR_IO);
    ck_assert_msg(strstr(t.err.message, "refused PING: NOAUTH") != NULL, "%s", t.err.message);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_unreachable_at_create)
{
    kvt_redis closed = {.port = kvt_free_port()};   /* nothing listens there */
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, redis_config(&closed, NULL, NULL, cfg, sizeof cfg)),
                     KEEL_ERR_IO);
    ck_assert_ptr_null(t.h);
    char want[128];
    snprintf(want, sizeof want, "kv: redis at 127.0.0.1:%d unreachable: Connection refused",
             closed.port);
    ck_assert_str_eq(t.err.message, want);
    kvt_close(&t);
}
END_TEST

/* A peer that accepts connections and never answers: create gives up after
 * timeout_ms instead of hanging. */
START_TEST(test_timeout_at_create)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    kvt t;
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"backend\": \"redis\", \"redis\": {\"port\": %d, \"timeout_ms\": 200}}",
             ntohs(addr.sin_port));
    long long start = kvt_now_ms();
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, cfg), KEEL_ERR_IO);
    long long took = kvt_now_ms() - start;
    ck_assert_msg(took >= 150 && took < 3000, "create took %lld ms", took);
    ck_assert_msg(strstr(t.err.message, "unreachable: no answer within 200 ms") != NULL, "%s",
                  t.err.message);
    kvt_close(&t);
    close(fd);
}
END_TEST

/* A fake Redis: answers the PING of create, then closes the connection. */
static void *pong_then_close(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);   /* *1\r\n$4\r\nPING\r\n */
    if (n > 0 && write(fd, "+PONG\r\n", 7) != 7)
        n = -1;
    close(fd);
    return NULL;
}

/* Writing to a connection the server closed raises SIGPIPE, whose default
 * action kills the process: the starter must keep it off the base. */
START_TEST(test_sigpipe)
{
    signal(SIGPIPE, SIG_DFL);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, pong_then_close, &lfd), 0);
    kvt t;
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"backend\": \"redis\", \"max_value_bytes\": 16777216,"
             " \"redis\": {\"port\": %d, \"pool\": 1, \"timeout_ms\": 200}}", ntohs(addr.sin_port));
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, cfg), KEEL_OK);
    pthread_join(th, NULL);
    kvt_sleep_ms(50);
    keel_kv *kv = kvt_bind(&t, "moda");
    size_t size = 16u << 20;
    char *big = calloc(1, size);
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(kvt_api(&t)->set(kv, "big", big, size, 0), KEEL_ERR_IO);
    ck_assert_int_eq(kvt_api(&t)->set(kv, "big", big, size, 0), KEEL_ERR_IO);   /* refused now */
    free(big);
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
    close(lfd);
}
END_TEST

START_TEST(test_redis_goes_away)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_1,
                              redis_config(&r, NULL, "\"pool\": 2", cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *kv = kvt_bind(&t, "moda");
    set_text(api, kv, "k", "before", 0);
    unsigned warns = starter_harness_log_count(t.h, KEEL_LOG_WARN);

    kvt_redis_kill(&r);
    int64_t out;
    void *v = NULL;
    size_t len;
    long long start = kvt_now_ms();
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(api->set(kv, "k", "during", 6, 0), KEEL_ERR_IO);
        ck_assert_int_eq(api->get(kv, "k", &v, &len), KEEL_ERR_IO);
        ck_assert_ptr_null(v);
        ck_assert_int_eq(api->del(kv, "k"), KEEL_ERR_IO);
        ck_assert_int_eq(api->incr(kv, "n", 1, &out), KEEL_ERR_IO);
        ck_assert_int_eq(api->ttl(kv, "k", &out), KEEL_ERR_IO);
    }
    long long took = kvt_now_ms() - start;
    ck_assert_msg(took < 5000, "calls hung while redis was down");
    /* warned, but at most once a second, not 25 times */
    unsigned warned = starter_harness_log_count(t.h, KEEL_LOG_WARN) - warns;
    ck_assert_uint_ge(warned, 1);
    ck_assert_uint_le(warned, 1 + (unsigned)(took / 1000));
    cJSON *info = kvt_info(&t);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(info, "reachable")));
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(info, "errors")->valuedouble, 25);
    cJSON_Delete(info);
    char *result = NULL;
    ck_assert_int_eq(starter_harness_admin(t.h, "flush", "{\"module\": \"moda\"}", &result,
                                           &t.err),
                     KEEL_ERR_IO);
    ck_assert_ptr_null(result);
    ck_assert_ptr_nonnull(strstr(t.err.message, "kv: flush of redis keys"));

    /* back on the same port: calls work again (data is gone: --save '') */
    kvt_redis_start(&r);
    ck_assert_int_eq(api->set(kv, "k", "after", 5, 0), KEEL_OK);   /* the next call reconnects */
    expect_text(api, kv, "k", "after");
    ck_assert_int_eq(api->incr(kv, "n", 2, &out), KEEL_OK);
    ck_assert_int_eq(out, 2);
    info = kvt_info(&t);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "reachable")));
    cJSON_Delete(info);

    /* both pooled connections open, then Redis restarts behind them: the
     * call that finds it gone fails, and the idle connection is reopened
     * instead of failing the next call too */
    expect_text(api, kv, "k", "after");
    expect_text(api, kv, "k", "after");
    ck_assert_double_eq(kvt_info_number(&t, "connected"), 2);
    kvt_redis_kill(&r);
    ck_assert_int_eq(api->get(kv, "k", &v, &len), KEEL_ERR_IO);
    kvt_redis_start(&r);
    ck_assert_int_eq(api->set(kv, "k", "again", 5, 0), KEEL_OK);
    ck_assert_int_eq(api->set(kv, "k", "again", 5, 0), KEEL_OK);
    expect_text(api, kv, "k", "again");
    starter_harness_unbind(t.h, kv);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_flush)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0, redis_config(&r, NULL, NULL, cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *a = kvt_bind(&t, "moda");
    keel_kv *b = kvt_bind(&t, "modab");   /* "moda" is a prefix of its name */
    char key[32];
    for (int i = 0; i < 2500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set_text(api, a, key, "v", 0);
    }
    set_text(api, b, "k1", "v", 0);
    char *result = NULL;
    ck_assert_int_eq(starter_harness_admin(t.h, "flush", "{\"module\": \"moda\"}", &result,
                                           &t.err),
                     KEEL_OK);
    cJSON *res = cJSON_Parse(result);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(res, "deleted")->valuedouble, 2500);
    cJSON_Delete(res);
    free(result);
    redisContext *c = kvt_redis_client(&r, 0);
    ck_assert_int_eq(redis_integer(c, "EXISTS", "moda:k1"), 0);
    ck_assert_int_eq(redis_integer(c, "EXISTS", "modab:k1"), 1);
    redisFree(c);
    expect_absent(api, a, "k7");
    expect_text(api, b, "k1", "v");
    ck_assert_int_eq(starter_harness_admin(t.h, "flush", "{\"module\": \"moda\"}", &result,
                                           &t.err),
                     KEEL_OK);
    ck_assert_ptr_nonnull(strstr(result, "\"deleted\":0"));
    free(result);
    ck_assert_int_eq(starter_harness_admin(t.h, "flush", "{}", &result, &t.err),
                     KEEL_ERR_INVALID);
    ck_assert_int_eq(starter_harness_admin(t.h, "nope", NULL, &result, &t.err),
                     KEEL_ERR_NOT_FOUND);
    starter_harness_unbind(t.h, a);
    starter_harness_unbind(t.h, b);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

enum { WORKERS = 4, ROUNDS = 400 };

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
        snprintf(key, sizeof key, "w%d-%d", w->id, i % 20);
        snprintf(val, sizeof val, "value %d %d", w->id, i);
        if (w->api->set(w->kv, key, val, strlen(val), i % 2 ? 0 : 10000) != KEEL_OK)
            w->failures++;
        void *v = NULL;
        size_t len = 0;
        if (w->api->get(w->kv, key, &v, &len) != KEEL_OK || len != strlen(val) ||
            memcmp(v, val, len) != 0)
            w->failures++;
        w->api->free(v);
    }
    return NULL;
}

START_TEST(test_concurrency)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    /* fewer connections than threads: callers wait for a free one */
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0,
                              redis_config(&r, NULL, "\"pool\": 3", cfg, sizeof cfg)),
                     KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    keel_kv *c1 = kvt_bind(&t, "moda");
    keel_kv *c2 = kvt_bind(&t, "moda");
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
    expect_text(api, c1, "total", total);
    ck_assert_double_le(kvt_info_number(&t, "connected"), 3);
    starter_harness_unbind(t.h, c1);
    starter_harness_unbind(t.h, c2);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

START_TEST(test_upgrade)
{
    kvt_redis r = {0};
    kvt_redis_start(&r);
    kvt t;
    char cfg[512];
    ck_assert_int_eq(kvt_open(&t, KV_SO_1_0,
                              redis_config(&r, NULL, "\"pool\": 1", cfg, sizeof cfg)),
                     KEEL_OK);
    keel_kv *a = kvt_bind(&t, "moda");
    set_text(kvt_api(&t), a, "k", "v", 5000);
    double connects = kvt_info_number(&t, "connects");
    ck_assert_int_eq(starter_harness_upgrade(t.h, KV_SO_1_1, &t.err), KEEL_OK);
    const keel_kv_api *api = kvt_api(&t);
    expect_text(api, a, "k", "v");
    int64_t left;
    ck_assert_int_eq(api->ttl(a, "k", &left), KEEL_OK);
    ck_assert_int_gt(left, 0);
    ck_assert_int_le(left, 5000);
    /* the pool's connections carried over */
    ck_assert_double_eq(kvt_info_number(&t, "connects"), connects);
    starter_harness_unbind(t.h, a);
    kvt_close(&t);
    kvt_redis_stop(&r);
}
END_TEST

static Suite *kv_redis_suite(void)
{
    Suite *s = suite_create("starter_kv_redis");
    TCase *tc = tcase_create("redis");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_functional);
    tcase_add_test(tc, test_ttl_px);
    tcase_add_test(tc, test_namespacing_visible);
    tcase_add_test(tc, test_password_and_db);
    tcase_add_test(tc, test_unreachable_at_create);
    tcase_add_test(tc, test_timeout_at_create);
    tcase_add_test(tc, test_sigpipe);
    tcase_add_test(tc, test_redis_goes_away);
    tcase_add_test(tc, test_flush);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_upgrade);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(kv_redis_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* kv_test_util.h — shared helpers of the kv starter tests: a harness with
 * a fresh work directory, info lookups, and a real redis-server. */
#ifndef KV_TEST_UTIL_H
#define KV_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <keel/starters/kv.h>
#include <sys/types.h>

#include "starter_harness.h"

#define KV_SO_1_0 KEEL_STARTERS_DIR "/kv/keel-starter-kv-1.0.0.so"
#define KV_SO_1_1 KEEL_STARTERS_DIR "/kv/keel-starter-kv-1.1.0.so"

/* One starter under test, in its own temporary directory. */
typedef struct kvt {
    char dir[256];        /* mkdtemp'd; removed by kvt_close */
    char work[300];       /* dir/work: the starter's work_dir */
    starter_harness *h;
    keel_starter_error err;
} kvt;

/* Opens `so` with `config` (borrowed). Returns create's status; on failure
 * t->err says why and t->h is NULL (the directory still needs kvt_close). */
keel_status kvt_open(kvt *t, const char *so, const char *config);

/* The table of the running version. */
const keel_kv_api *kvt_api(const kvt *t);

/* Binds module `module`; fails the test when bind fails. */
keel_kv *kvt_bind(kvt *t, const char *module);

/* Closes the harness (NULL-safe) and removes the directory. */
void kvt_close(kvt *t);

/* The "info" admin result, parsed (caller deletes). Fails the test when
 * the op fails. */
cJSON *kvt_info(kvt *t);

/* A number of info (fails the test when it is missing). */
double kvt_info_number(kvt *t, const char *field);

/* Milliseconds of sleep. */
void kvt_sleep_ms(int ms);

/* Monotonic milliseconds. */
long long kvt_now_ms(void);

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int kvt_free_port(void);

/* A redis-server the test runs. */
typedef struct kvt_redis {
    pid_t pid;            /* 0 when not running */
    int port;
    char dir[256];        /* its --dir and log; removed by kvt_redis_stop */
    char password[64];    /* --requirepass when not empty */
} kvt_redis;

/* Starts /usr/bin/redis-server on r->port (0: pick a free one) with
 * r->password, and waits until it answers PING (fails the test after 10 s
 * or when the binary is missing). It dies with the test process. */
void kvt_redis_start(kvt_redis *r);

/* Kills it (SIGKILL) and reaps it; keeps the directory for a restart. */
void kvt_redis_kill(kvt_redis *r);

/* Kills it if running and removes its directory. */
void kvt_redis_stop(kvt_redis *r);

/* A hiredis connection of the test itself (AUTH'd, db `db`). */
redisContext *kvt_redis_client(const kvt_redis *r, int db);

#endif

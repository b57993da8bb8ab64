/* notify: listens to "transfer.done" in the retail and corporate scenes and
 * keeps what a notification service would need to answer "did it go out?":
 * how many transfers it heard of per scene, and the last one.
 *
 * It lives in its own scene, "notify", and subscribes into the scenes of
 * the transfer module: messages cross scenes only where a subscriber asks
 * for them.
 *
 * Services:
 *   count  i64(str scene)  messages heard in "retail" or "corporate", "*"
 *                          for both; -1 for a scene it does not listen to
 *   last   json()          the payload of the last message (a transfer
 *                          result), or null before the first one
 *
 * A log line every 1000 messages shows it is alive without flooding the
 * base's log under load.
 */
#include <keel/module.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define LAST_MAX 4096

typedef struct listened {
    const char *scene;
    atomic_int_fast64_t heard;
} listened;

static listened scenes[] = {{"retail", 0}, {"corporate", 0}};
#define SCENE_COUNT (sizeof scenes / sizeof scenes[0])

static const keel_api *api;  /* the table the start hook received */
static atomic_int_fast64_t total, skipped;

/* The last payload, copied in under the lock (deliveries of one module may
 * run on several base workers over time). */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_payload[LAST_MAX] = "null";

/* "last" results: copied by the router as soon as the service returns, so
 * one buffer per calling thread. */
static _Thread_local char last_copy[LAST_MAX];

/* Only a JSON object of sane size is kept for "last": anyone may publish
 * on these topics, and a json() result must parse. A full parse is the
 * router's job; this keeps out what is obviously not a transfer result. */
static int looks_like_object(const char *data, size_t size)
{
    if (size < 2 || size >= LAST_MAX || data[0] != '{' || data[size - 1] != '}')
        return 0;
    return memchr(data, '\0', size) == NULL;
}

static void on_transfer_done(keel_ctx *ctx, const keel_message *msg, void *user)
{
    listened *where = user;
    atomic_fetch_add(&where->heard, 1);
    int_fast64_t n = atomic_fetch_add(&total, 1) + 1;
    if (looks_like_object(msg->data, msg->size)) {
        pthread_mutex_lock(&last_lock);
        memcpy(last_payload, msg->data, msg->size);
        last_payload[msg->size] = '\0';
        pthread_mutex_unlock(&last_lock);
    } else {
        atomic_fetch_add(&skipped, 1);
    }
    if (n % 1000 == 0) {
        api->log(ctx, KEEL_LOG_INFO, "%" PRIdFAST64 " transfers notified (retail %" PRIdFAST64
                 ", corporate %" PRIdFAST64 ", %" PRIdFAST64 " payloads not kept)", n,
                 atomic_load(&scenes[0].heard), atomic_load(&scenes[1].heard), atomic_load(&skipped));
    }
}

static int64_t notify_count(const char *scene)
{
    if (scene == NULL)
        return -1;
    if (strcmp(scene, "*") == 0)
        return atomic_load(&total);
    for (size_t i = 0; i < SCENE_COUNT; i++)
        if (strcmp(scenes[i].scene, scene) == 0)
            return atomic_load(&scenes[i].heard);
    return -1;
}

static const char *notify_last(void)
{
    pthread_mutex_lock(&last_lock);
    memcpy(last_copy, last_payload, sizeof last_copy);
    pthread_mutex_unlock(&last_lock);
    return last_copy;
}

static keel_status notify_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    keel_status st = KEEL_OK;
    for (size_t i = 0; i < SCENE_COUNT && st == KEEL_OK; i++)
        st = api->subscribe(ctx, scenes[i].scene, "transfer.done", on_transfer_done, &scenes[i]);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "notify", "count", "i64(str)", (keel_fn)notify_count);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "notify", "last", "json()", (keel_fn)notify_last);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "subscribing or registering failed (status %d)", (int)st);
        return st;
    }
    api->log(ctx, KEEL_LOG_INFO, "listening to transfer.done in retail and corporate");
    return KEEL_OK;
}

static void notify_stop(keel_ctx *ctx, const keel_api *table)
{
    table->log(ctx, KEEL_LOG_INFO, "stopping after %" PRIdFAST64 " transfers (retail %" PRIdFAST64
             ", corporate %" PRIdFAST64 ")", atomic_load(&total), atomic_load(&scenes[0].heard),
             atomic_load(&scenes[1].heard));
}

KEEL_MODULE("notify", notify_start, notify_stop)

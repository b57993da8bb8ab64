/* caller: a module in scene "retail" that calls other modules through the
 * module API (v2): typed calls by reference, JSON calls and publishing,
 * inside its own scene and across scenes it declared (or did not). */
#define _DEFAULT_SOURCE
#include <keel/module.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const keel_api *api;
static keel_ctx *self;
static keel_service_ref *local_quote;

/* Typed call through a reference resolved at start: the "quote" of this
 * module's own scene. Returns the answer, or minus the status. */
static int64_t quote_here(void)
{
    keel_call call;
    keel_status st = api->call_enter(local_quote, NULL, &call);
    if (st != KEEL_OK)
        return -(int64_t)st;
    int64_t r = ((int64_t (*)(void))call.fn)();
    api->call_leave(&call);
    return r;
}

/* Resolves and calls "quote" in `scene` right now. */
static int64_t quote_in(const char *scene)
{
    keel_service_ref *ref = NULL;
    keel_status st = api->service_resolve(self, scene, "quote", &ref);
    if (st != KEEL_OK)
        return -(int64_t)st;
    keel_call call;
    st = api->call_enter(ref, NULL, &call);
    int64_t r = st == KEEL_OK ? ((int64_t (*)(void))call.fn)() : -(int64_t)st;
    if (st == KEEL_OK)
        api->call_leave(&call);
    api->service_release(self, ref);
    return r;
}

/* A JSON call of counting/add: returns the result text (caller frees with
 * free()), or NULL with the status in *status. */
static char *add_json(const char *args, int32_t *status)
{
    char *result = NULL;
    keel_status st = api->call_json(self, "counting", "add", args, &result);
    *status = (int32_t)st;
    if (st != KEEL_OK)
        return NULL;
    char *copy = strdup(result);
    api->free(result);
    return copy;
}

static int32_t publish_to(const char *scene, const char *topic, const void *data, size_t size)
{
    return (int32_t)api->publish(self, scene, topic, data, size, 0);
}

static keel_status caller_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    keel_status st = api->service_resolve(ctx, NULL, "quote", &local_quote);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "retail", "quote_here", "i64()", (keel_fn)quote_here);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "retail", "quote_in", "i64(str)", (keel_fn)quote_in);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "retail", "add_json", "ptr(str,ptr)", (keel_fn)add_json);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "retail", "publish_to", "i32(str,str,bytes)", (keel_fn)publish_to);
    return st;
}

KEEL_MODULE("caller", caller_start, NULL)

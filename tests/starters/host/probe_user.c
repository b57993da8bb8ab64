/*
 * probe-user — a module that binds the probe starter and calls it from
 * its services, for the base's end-to-end starter tests.
 */
#include <keel/module.h>

#include <stdint.h>
#include <string.h>

typedef struct probe_client probe_client;
typedef struct probe_api {
    uint32_t version;
    uint32_t size;
    keel_status (*add)(probe_client *c, int64_t delta, int64_t *out);
    keel_status (*code_version)(probe_client *c, char *buf, uint64_t size);
    keel_status (*sleep_ms)(probe_client *c, int64_t ms);
} probe_api;

static const probe_api *probe;
static probe_client *client;

/* i64(i64): adds to this module's counter in the starter; -1 on error. */
static int64_t bump(int64_t delta)
{
    int64_t out = -1;
    return probe->add(client, delta, &out) == KEEL_OK ? out : -1;
}

/* void(buf): which starter code answered. */
static void code(char *buf, size_t size)
{
    if (probe->code_version(client, buf, size) != KEEL_OK)
        strncpy(buf, "error", size);
}

static keel_status start(keel_ctx *ctx, const keel_api *api)
{
    keel_status st = api->starter_get(ctx, "probe", NULL, (const void **)&probe, (void **)&client);
    if (st != KEEL_OK)
        return st;
    const void *again;
    void *again_client;
    if (api->starter_get(ctx, "probe", NULL, &again, &again_client) != KEEL_OK || again != probe ||
        again_client != client)
        return KEEL_ERR_INTERNAL;
    /* Not in "requires": refused. */
    if (api->starter_get(ctx, "kv", NULL, &again, &again_client) != KEEL_ERR_DENIED)
        return KEEL_ERR_INTERNAL;
    if ((st = api->service_register(ctx, "default", "bump", "i64(i64)", (keel_fn)bump)) != KEEL_OK)
        return st;
    return api->service_register(ctx, "default", "code", "void(buf)", (keel_fn)code);
}

KEEL_MODULE("probe-user", start, NULL)

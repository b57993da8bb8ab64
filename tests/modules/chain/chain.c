/* chain: a module whose private libraries depend on each other. */
#include <keel/module.h>

#include <stdint.h>

int chain_a_value(void);

static int64_t chain_value(void) { return chain_a_value(); }

static keel_status chain_start(keel_ctx *ctx, const keel_api *api)
{
    return api->service_register(ctx, "chain", "value", "i64()", (keel_fn)chain_value);
}

KEEL_MODULE("chain", chain_start, NULL)

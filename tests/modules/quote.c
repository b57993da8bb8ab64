/* quote: one service name, "quote", published in two scenes by two
 * modules with different answers (QUOTE_SCENE, QUOTE_VALUE). */
#include <keel/module.h>

#include <stdint.h>

static int64_t quote(void) { return QUOTE_VALUE; }

static keel_status quote_start(keel_ctx *ctx, const keel_api *api)
{
    return api->service_register(ctx, QUOTE_SCENE, "quote", "i64()", (keel_fn)quote);
}

KEEL_MODULE(QUOTE_NAME, quote_start, NULL)

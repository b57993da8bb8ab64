/* bench-scale template: a small module (about the size of greeter) that
 * bench_scale turns into many distinct modules. The name below is a fixed
 * width placeholder that bench_scale overwrites in a copy of the built .so
 * with "s00000"-style names of the same length; it must occur exactly once
 * in the object. The service is named after the module (api->module_name),
 * so every copy publishes its own route. */
#include <keel/module.h>

#include <stdint.h>
#include <stdio.h>

#define SCALE_PLACEHOLDER "scale-placeholder-000000"

static int64_t calls;
static char label[64];

/* add: "i64(i64,i64)", counting its calls. */
static int64_t add(int64_t a, int64_t b)
{
    calls++;
    return a + b;
}

static keel_status scale_start(keel_ctx *ctx, const keel_api *api)
{
    const char *name = api->module_name(ctx);
    snprintf(label, sizeof label, "%s", name);
    return api->service_register(ctx, "default", label, "i64(i64,i64)", (keel_fn)add);
}

KEEL_MODULE(SCALE_PLACEHOLDER, scale_start, NULL)

/* greeter: the smallest useful module. It publishes "greet" in the default
 * scene, reads its greeting from a bundle resource and its punctuation from
 * its configuration. Built twice (GREETER_V2) to show a hot swap. */
#include <keel/module.h>

#include <stdio.h>
#include <string.h>

#ifdef GREETER_V2
#define GREETER_EDITION "v2"
#else
#define GREETER_EDITION "v1"
#endif

static const keel_api *api;
static keel_ctx *self;
static char greeting[128] = "hello";
static char mark[8] = "";

/* greet: "i32(str,buf)" writes "<greeting>, <who><mark> (greeter v1)". */
static int greet(const char *who, char *out, size_t size)
{
    return snprintf(out, size, "%s, %s%s (greeter %s)", greeting, who, mark, GREETER_EDITION);
}

static keel_status greeter_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    void *text = NULL;
    size_t size = 0;
    if (api->resource_read(ctx, "greeting.txt", &text, &size) == KEEL_OK) {
        snprintf(greeting, sizeof greeting, "%.*s", (int)strcspn(text, "\n"), (const char *)text);
        api->free(text);
    }
    const char *m = api->config_get(ctx, "mark");
    if (m != NULL)
        snprintf(mark, sizeof mark, "%s", m);
    api->log(ctx, KEEL_LOG_INFO, "greeter %s ready with greeting \"%s\"", GREETER_EDITION, greeting);
    return api->service_register(ctx, "default", "greet", "i32(str,buf)", (keel_fn)greet);
}

static void greeter_stop(keel_ctx *ctx, const keel_api *table)
{
    table->log(ctx, KEEL_LOG_INFO, "greeter %s stopping", GREETER_EDITION);
    (void)self;
}

KEEL_MODULE("greeter", greeter_start, greeter_stop)

/* shout: formats text with its private build of libtextfmt.so.1. The other
 * sample (shout/whisper) bundles a different build of the same library;
 * both are loaded at once and each gets its own. */
#include <keel/module.h>

#include "textfmt.h"

/* shout: "void(str,buf)" formats the text. */
static void shout_text(const char *in, char *out, size_t size)
{
    textfmt_apply(in, out, size);
}

static keel_status shout_start(keel_ctx *ctx, const keel_api *api)
{
    api->log(ctx, KEEL_LOG_INFO, "using textfmt flavour %s", textfmt_flavour());
    return api->service_register(ctx, "loud", "shout", "void(str,buf)", (keel_fn)shout_text);
}

KEEL_MODULE("shout", shout_start, NULL)

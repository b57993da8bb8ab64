/* whisper: formats text with its private build of libtextfmt.so.1. The other
 * sample (shout/whisper) bundles a different build of the same library;
 * both are loaded at once and each gets its own. */
#include <keel/module.h>

#include "textfmt.h"

/* whisper: "void(str,buf)" formats the text. */
static void whisper_text(const char *in, char *out, size_t size)
{
    textfmt_apply(in, out, size);
}

static keel_status whisper_start(keel_ctx *ctx, const keel_api *api)
{
    api->log(ctx, KEEL_LOG_INFO, "using textfmt flavour %s", textfmt_flavour());
    return api->service_register(ctx, "quiet", "whisper", "void(str,buf)", (keel_fn)whisper_text);
}

KEEL_MODULE("whisper", whisper_start, NULL)

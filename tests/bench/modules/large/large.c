/* bench-large: the "large" module of bench_deploy. It depends on four
 * private shared libraries, so installing it hashes, stores, loads and
 * relocates five objects instead of one. Its one service
 * touches all four, so the first call pages in code from each. */
#include <keel/module.h>

#include <stdio.h>
#include <string.h>

#include "benchcodec.h"
#include "benchstats.h"
#include "benchsum.h"
#include "benchtext.h"

/* digest: "i32(str,buf)" writes "crc=... b64=... title=... words=N
 * median=M" for the text; returns the length written (as snprintf). */
static int digest(const char *text, char *out, size_t size)
{
    size_t len = strlen(text);
    char b64[96], title[64];
    if (benchcodec_base64_encode(text, len < 64 ? len : 64, b64, sizeof b64) < 0)
        return -1;
    benchtext_title(text, title, sizeof title);
    double lengths[32];
    size_t n = 0;
    for (const char *p = text; *p && n < 32; n++) {
        size_t word = strcspn(p, " ");
        lengths[n] = (double)word;
        p += word + (p[word] == ' ');
    }
    return snprintf(out, size, "crc=%08x b64=%s title=%s words=%zu median=%g",
                    benchsum_crc32(text, len), b64, title, benchtext_words(text),
                    benchstats_percentile(lengths, n, 50));
}

static keel_status large_start(keel_ctx *ctx, const keel_api *api)
{
    /* A module that checks its libraries before it serves. */
    if (benchsum_selftest() || benchcodec_selftest() || benchtext_selftest() ||
        benchstats_selftest()) {
        api->log(ctx, KEEL_LOG_ERROR, "a private library failed its self-test");
        return KEEL_ERR_START;
    }
    return api->service_register(ctx, "default", "digest", "i32(str,buf)", (keel_fn)digest);
}

KEEL_MODULE("bench-large", large_start, NULL)

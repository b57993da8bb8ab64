/* kv_util.c — clock and rate-limited warnings (see kv_state.h). */
#include "kv_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int64_t kv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kv_warn(kv_state *st, kv_limiter *lim, const char *fmt, ...)
{
    int64_t now = kv_now_ms();
    int64_t last = atomic_load(&lim->last_ms);
    if ((last != 0 && now - last < 1000) ||
        !atomic_compare_exchange_strong(&lim->last_ms, &last, now)) {
        atomic_fetch_add(&lim->suppressed, 1);
        return;
    }
    char line[KEEL_STARTER_ERROR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    uint_fast64_t quiet = atomic_exchange(&lim->suppressed, 0);
    if (quiet)
        st->host->log(st->host, KEEL_LOG_WARN, "%s (%llu similar warnings suppressed)", line,
                      (unsigned long long)quiet);
    else
        st->host->log(st->host, KEEL_LOG_WARN, "%s", line);
}

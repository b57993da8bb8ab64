/* clock.h — wall and monotonic time in milliseconds, ISO 8601 text. */
#ifndef KEEL_TIMER_CLOCK_H
#define KEEL_TIMER_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall-clock time (CLOCK_REALTIME), unix ms: ticks are wall times. */
int64_t keel_timer_now_ms(void);

/* Monotonic time in ms, for durations. */
int64_t keel_timer_mono_ms(void);

/* Writes `unix_ms` as "2025-01-31T02:00:00.000Z" into `buf` (caller-owned,
 * at least 32 bytes); returns buf. */
char *keel_timer_iso8601(int64_t unix_ms, char *buf, size_t size);

/* The absolute CLOCK_REALTIME deadline for pthread_cond_timedwait. */
struct timespec keel_timer_deadline(int64_t unix_ms);

#endif

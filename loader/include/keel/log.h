/*
 * keel/log.h — the base's log: one line per event on stderr,
 *   2026-11-21T14:32:01.123Z INFO  [greeter@1.0.0] started in 0.4 ms
 * with the instance on every line that concerns a module.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include <stdarg.h>
#include <keel/module.h>

/* Lines below `level` are dropped. Default KEEL_LOG_INFO; the environment
 * variable KEEL_LOG_LEVEL (debug|info|warn|error) sets the initial value. */
void keel_log_set_level(keel_log_level level);
keel_log_level keel_log_get_level(void);

/* Parses "debug", "info", "warn" or "error" (borrowed). Returns -1 for
 * anything else. */
int keel_log_level_parse(const char *text);

/* Writes one line. `tag` (borrowed, may be NULL) is usually an instance id.
 * Newlines in the message become spaces. Thread-safe. */
void keel_log(keel_log_level level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void keel_logv(keel_log_level level, const char *tag, const char *fmt, va_list ap);

#endif

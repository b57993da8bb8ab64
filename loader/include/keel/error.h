/*
 * keel/error.h — an error: the status plus one line that tells the operator
 * what went wrong and what to do. Used by the loader, the base and the tools.
 */
#ifndef KEEL_ERROR_H
#define KEEL_ERROR_H

#include <keel/module.h>

#define KEEL_ERROR_MESSAGE_MAX 512

typedef struct keel_error {
    keel_status status;
    char message[KEEL_ERROR_MESSAGE_MAX];
} keel_error;

/* Records `status` and a printf-formatted one-line message in `err`
 * (caller-owned; may be NULL, then nothing is recorded). Returns `status`
 * so that callers can write `return keel_error_set(err, ...)`. */
keel_status keel_error_set(keel_error *err, keel_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in `err` with a printf-formatted context and
 * ": ". NULL-safe. Returns err->status (KEEL_OK if err is NULL). */
keel_status keel_error_prefix(keel_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets `err` to KEEL_OK with an empty message. NULL-safe. */
void keel_error_clear(keel_error *err);

/* Writes into `buf` (caller-owned, `size` bytes) a copy of `s` (borrowed)
 * that is safe inside a one-line message: quotes, backslashes, control and
 * non-ASCII bytes escaped, cut after `max` source bytes with "..." added. */
void keel_error_quote(char *buf, size_t size, const char *s, size_t max);

/* Writes "a, b, c" — the `count` names (borrowed) — into the caller's
 * `buf` of `size` bytes, stopping before a name that would not fit.
 * Returns buf. For messages such as "expected one of ...". */
const char *keel_error_join(char *buf, size_t size, const char *const *names, size_t count);

/* A short stable name for a status ("bundle", "manifest", ...): a static
 * string, never NULL. */
const char *keel_status_name(keel_status status);

#endif

/*
 * jobspec.h — reading a job's JSON object (a configuration entry or a
 * module's schedule spec) into a keel_timer_jobspec.
 */
#ifndef KEEL_TIMER_JOBSPEC_H
#define KEEL_TIMER_JOBSPEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "timer_state.h"

/* Longest args text accepted. */
#define KEEL_TIMER_ARGS_MAX 65536

/* True when `name` (borrowed) is [A-Za-z0-9_.-]{1,64}. */
bool keel_timer_name_valid(const char *name);

/* Reads `obj` (borrowed). `config`: a configuration entry ("name" and
 * "module" required, "scene" defaults to "default"); otherwise a module's
 * spec ("name" not allowed, "module" and "scene" optional: NULL when
 * absent, the caller fills them). On KEEL_OK *out owns its strings
 * (keel_timer_jobspec_clear). On KEEL_ERR_INVALID *field names the faulty
 * field and `msg` (caller-owned, `size` bytes) says what is wrong; *out is
 * cleared. KEEL_ERR_NOMEM when out of memory. */
keel_status keel_timer_jobspec_parse(const cJSON *obj, bool config, keel_timer_jobspec *out,
                                     const char **field, char *msg, size_t size);

/* Frees the strings of *spec and zeroes it. NULL-safe. */
void keel_timer_jobspec_clear(keel_timer_jobspec *spec);

/* True when both describe the same call and schedule. */
bool keel_timer_jobspec_equal(const keel_timer_jobspec *a, const keel_timer_jobspec *b);

#endif

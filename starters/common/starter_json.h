/*
 * starter_json.h — small helpers the starters share for their messages.
 * Linked into each starter (a static library); not part of any ABI.
 */
#ifndef KEEL_STARTER_JSON_H
#define KEEL_STARTER_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Writes `value` (borrowed) into the caller's `buf` of `size` bytes as
 * compact JSON for a "got ..." in a one-line message, cut to `max`
 * characters with "..." at the end when longer; "?" when it cannot be
 * printed. Returns buf. */
const char *keel_starter_json_excerpt(const cJSON *value, size_t max, char *buf, size_t size);

#endif

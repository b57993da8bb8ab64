/*
 * keel/schema.h — checks a JSON value against a configuration schema: the
 * subset of JSON Schema that starters' market entries use.
 *
 * Keywords: type ("object", "string", "integer", "number", "boolean",
 * "array"; or an array of them), properties, required, additionalProperties
 * (false), enum, minimum, maximum, minLength, maxLength, items, description
 * and default (informational). Unknown keywords in a schema are refused
 * when the schema itself is checked, so a typo in a market entry is caught
 * when the market loads, not when a config slips through.
 */
#ifndef KEEL_SCHEMA_H
#define KEEL_SCHEMA_H

#include <cjson/cJSON.h>
#include <keel/error.h>

/* KEEL_OK when `schema` (borrowed) uses only the keywords above, with
 * values of the right kinds. Errors name the keyword's path. */
keel_status keel_schema_check(const cJSON *schema, keel_error *err);

/* KEEL_OK when `value` satisfies `schema` (both borrowed). On failure
 * KEEL_ERR_INVALID and one line: `<what>: config field "redis.port":
 * expected an integer <= 65535, got 70000`. `what` (borrowed) names the
 * thing configured, e.g. "starter kv". The first violation is reported. */
keel_status keel_schema_validate(const cJSON *schema, const cJSON *value, const char *what,
                                 keel_error *err);

#endif

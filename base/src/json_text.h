/*
 * Parsing a whole JSON document from a file's bytes, for the base's
 * configuration and state files.
 */
#ifndef KEEL_BASE_JSON_TEXT_H
#define KEEL_BASE_JSON_TEXT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Parses `size` bytes at `json` (borrowed) as one JSON value followed by
 * nothing but whitespace. Returns the tree (caller frees with cJSON_Delete)
 * or NULL, with *error_at set to the byte offset where parsing stopped. */
cJSON *keel_json_parse_whole(const char *json, size_t size, size_t *error_at);

#endif

/*
 * keel/market.h — the starter market: the index of starters the base owner
 * curates (name, versions, description, owner, configuration schema,
 * compatible module-api range). The base loads one index file; the base
 * configuration then enables a subset (keel/starter_set.h).
 *
 * Index format (JSON):
 *   {"market": 1,
 *    "starters": [{"name": "kv", "description": "...", "owner": "...",
 *                  "tags": ["cache"],
 *                  "versions": [{"version": "1.0.0",
 *                                "library": "kv/keel-starter-kv-1.0.0.so",
 *                                "module_api": ">=3",
 *                                "config_schema": {...},
 *                                "changes": "what this version changes"}]}]}
 * "library" is relative to the index file's directory (or absolute).
 * "config_schema" is the JSON-Schema subset of keel/schema.h.
 */
#ifndef KEEL_MARKET_H
#define KEEL_MARKET_H

#include <stddef.h>
#include <keel/error.h>

typedef struct keel_market keel_market;

/* One version of a starter. Strings owned by the market. */
typedef struct keel_market_version {
    const char *version;        /* semver */
    const char *library;        /* absolute path of the .so */
    const char *module_api;     /* range of module-api versions, e.g. ">=3" */
    const char *config_schema;  /* compact JSON, or NULL: any object */
} keel_market_version;

/* One starter. Strings owned by the market; versions sorted ascending. */
typedef struct keel_market_entry {
    const char *name;
    const char *description;
    const char *owner;
    const char *tags;           /* compact JSON array ("[]" when none) */
    const keel_market_version *versions;
    size_t version_count;
} keel_market_entry;

/* Reads and validates the index at `path` (borrowed). Every error names the
 * file and the field (`starters[2].versions[0].version: ...`). On KEEL_OK
 * *out is owned by the caller (keel_market_destroy). */
keel_status keel_market_load(const char *path, keel_market **out, keel_error *err);

/* An empty market (a base without an index). Owned by the caller. */
keel_market *keel_market_empty(void);

/* NULL-safe. */
void keel_market_destroy(keel_market *m);

/* The index file's path ("" for an empty market). Owned by the market. */
const char *keel_market_path(const keel_market *m);

size_t keel_market_count(const keel_market *m);
const keel_market_entry *keel_market_at(const keel_market *m, size_t i);
/* The entry called `name` (borrowed), or NULL. */
const keel_market_entry *keel_market_find(const keel_market *m, const char *name);

/* The highest version of `entry` satisfying `range` (borrowed; NULL or ""
 * = any), or NULL. A range that is an exact version matches only it. */
const keel_market_version *keel_market_best(const keel_market_entry *entry, const char *range);

/* "1.0.0, 1.1.0": every version of `entry`, written into `buf`. */
const char *keel_market_version_list(const keel_market_entry *entry, char *buf, size_t size);

/* Non-zero when `word` (borrowed, case-insensitive) occurs in the entry's
 * name, description, owner or tags. */
int keel_market_entry_matches(const keel_market_entry *entry, const char *word);

#endif

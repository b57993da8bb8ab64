/*
 * keel/manifest.h — a bundle's manifest.json, parsed and validated field by
 * field. Every error names the field and says what is expected.
 */
#ifndef KEEL_MANIFEST_H
#define KEEL_MANIFEST_H

#include <stddef.h>
#include <keel/error.h>

typedef struct keel_manifest keel_manifest;

typedef enum keel_isolation {
    KEEL_ISOLATION_SHARED = 0,    /* may share a namespace group (default) */
    KEEL_ISOLATION_EXCLUSIVE = 1  /* wants a namespace of its own */
} keel_isolation;

/* A service declared in the manifest. Strings are owned by the manifest. */
typedef struct keel_manifest_service {
    const char *name;
    const char *scene;      /* "default" when not given */
    const char *signature;  /* NULL when not given */
    const char *symbol;     /* exported function the loader registers, or NULL
                             * (then the module registers it at start) */
    const char *properties; /* compact JSON object, or NULL */
} keel_manifest_service;

/* A subscription declared in the manifest. Strings owned by the manifest. */
typedef struct keel_manifest_subscription {
    const char *topic;
    const char *scene;      /* "default" when not given */
} keel_manifest_subscription;

/* A declared cross-scene permission ("calls" entry): the module may call
 * `service` and/or publish to `topic` in `scene`; either may be "*" or
 * NULL (not granted). Strings owned by the manifest. */
typedef struct keel_manifest_call {
    const char *scene;
    const char *service;
    const char *topic;
} keel_manifest_call;

/* A required starter. Strings owned by the manifest. */
typedef struct keel_manifest_requirement {
    const char *name;
    const char *range;      /* a semver range such as ">=1.2.0 <2.0.0" or "^1.2" */
} keel_manifest_requirement;

/* Parses `size` bytes of JSON text (borrowed; need not be NUL-terminated).
 * `origin` (borrowed) names the source in error messages, e.g. the bundle
 * path. On KEEL_OK, *out is a new manifest the caller destroys with
 * keel_manifest_destroy. On error, *out is NULL and `err` names the field.
 *
 * Fields: name (string, [a-z][a-z0-9_-]{0,63}), version (semver 2.0.0),
 * api (integer >= 1), library (relative path), libraries (relative dir),
 * isolation ("shared" | "exclusive"), priority (integer 0..1000, default 100),
 * start_timeout_ms (integer 1..600000, default 5000), scenes (array of
 * scene ids), services (array of {name, scene?, signature?, symbol?, properties?}), subscribes
 * (array of {topic, scene?}), calls (array of {scene, service?, topic?}:
 * cross-scene permissions), requires (object name -> range string),
 * config (object), build (object). Unknown top-level fields are refused
 * unless they start with "x-". */
keel_status keel_manifest_parse(const char *json, size_t size, const char *origin,
                                keel_manifest **out, keel_error *err);

/* Non-zero when `s` (borrowed) is a valid module or starter name:
 * [a-z][a-z0-9_-]{0,63}. */
int keel_name_valid(const char *s);

/* Frees a manifest. NULL-safe. */
void keel_manifest_destroy(keel_manifest *m);

/* Accessors. Returned strings are owned by the manifest and live until
 * keel_manifest_destroy. */
const char *keel_manifest_name(const keel_manifest *m);
const char *keel_manifest_version(const keel_manifest *m);
int keel_manifest_api(const keel_manifest *m);
const char *keel_manifest_library(const keel_manifest *m);
/* NULL when the manifest has no "libraries" field. */
const char *keel_manifest_libraries(const keel_manifest *m);
keel_isolation keel_manifest_isolation(const keel_manifest *m);
int keel_manifest_priority(const keel_manifest *m);
int keel_manifest_start_timeout_ms(const keel_manifest *m);
size_t keel_manifest_scene_count(const keel_manifest *m);
const char *keel_manifest_scene(const keel_manifest *m, size_t i);
size_t keel_manifest_service_count(const keel_manifest *m);
const keel_manifest_service *keel_manifest_service_at(const keel_manifest *m, size_t i);
size_t keel_manifest_subscription_count(const keel_manifest *m);
const keel_manifest_subscription *keel_manifest_subscription_at(const keel_manifest *m, size_t i);
size_t keel_manifest_call_count(const keel_manifest *m);
const keel_manifest_call *keel_manifest_call_at(const keel_manifest *m, size_t i);
size_t keel_manifest_requirement_count(const keel_manifest *m);
const keel_manifest_requirement *keel_manifest_requirement_at(const keel_manifest *m, size_t i);
/* The "config" object as compact JSON text ("{}" when absent). */
const char *keel_manifest_config_json(const keel_manifest *m);
/* The value of config key `key` rendered as text (strings as is, numbers and
 * booleans formatted, objects/arrays as compact JSON), NULL if absent. */
const char *keel_manifest_config_get(const keel_manifest *m, const char *key);

/* Semantic-version helpers (semver 2.0.0). */
/* KEEL_OK if `version` (borrowed) is a valid semver string. */
keel_status keel_semver_check(const char *version);
/* <0, 0, >0 like strcmp, by semver precedence (build metadata ignored).
 * Both must be valid. */
int keel_semver_compare(const char *a, const char *b);

/* Semantic-version ranges (a subset of npm's node-semver grammar).
 *
 *   range      := set ( "||" set )*          any set may match
 *   set        := comparator ( " "+ comparator )*   all must hold
 *               | partial " "+ "-" " "+ partial     hyphen range, inclusive
 *   comparator := [ "=" | "<" | "<=" | ">" | ">=" | "^" | "~" ] " "* partial
 *   partial    := part [ "." part [ "." part [ "-" PRERELEASE ] [ "+" BUILD ] ] ]
 *   part       := a number without leading zeros | "x" | "X" | "*"
 *
 * Spaces may surround "||" and the whole range; no set may be empty. A
 * wildcard or a missing part is a wildcard, and no number may follow one
 * ("1.x.3" is refused). A pre-release and build metadata need all three
 * numbers; build metadata is ignored. Meaning, as in node-semver:
 *   1.2.3 =1.2.3    exactly 1.2.3      1.2 1.2.x    >=1.2.0 <1.3.0-0
 *   1 1.x           >=1.0.0 <2.0.0-0   * x          any release
 *   ^1.2.3          >=1.2.3 <2.0.0-0   ^1.2         >=1.2.0 <2.0.0-0
 *   ^0.2.3          >=0.2.3 <0.3.0-0   ^0.0.3       >=0.0.3 <0.0.4-0
 *   ~1.2.3          >=1.2.3 <1.3.0-0   ~1.2         >=1.2.0 <1.3.0-0
 *   ~1              >=1.0.0 <2.0.0-0   >1.2         >=1.3.0
 *   <1.2            <1.2.0-0           <=1.2        <1.3.0-0
 *   1.2 - 2.3.4     >=1.2.0 <=2.3.4    1.2.3 - 2.3  >=1.2.3 <2.4.0-0
 * A version with a pre-release satisfies a set only if some comparator of
 * that set names the same MAJOR.MINOR.PATCH with a pre-release: so
 * ">=1.2.3-alpha.1" matches "1.2.3-beta" but "^1.2.0" not "1.3.0-rc.1". */

/* KEEL_OK if `range` (borrowed) is a valid range; otherwise KEEL_ERR_INVALID
 * and a one-line message in `err` (may be NULL) quoting the range and
 * saying what is wrong at which position (counted from 1). */
keel_status keel_semver_range_check(const char *range, keel_error *err);
/* 1 if `version` satisfies `range`, else 0 (also when either is invalid). */
int keel_semver_range_match(const char *range, const char *version);

#endif

/*
 * The base's starters: the market and the starter set, plugged into the
 * loader (requirements checked at install, api->starter_get), enabled at
 * boot from the configuration and from what operators changed since
 * (WORK_DIR/starters.json), and the admin operations' back end.
 */
#ifndef KEEL_BASE_STARTERS_H
#define KEEL_BASE_STARTERS_H

#include <keel/starter_set.h>

typedef struct keel_base keel_base;

/* Loads the market (cfg starters.market; none: an empty market), creates
 * the starter set and plugs it into the loader. KEEL_ERR_* with one line
 * when the market index is unreadable or malformed. */
keel_status keel_base_starters_create(keel_base *b, keel_error *err);

/* Enables what the configuration and the operators' record ask for. A
 * starter that fails is logged and left out (modules needing it are then
 * refused with the reason). */
void keel_base_starters_boot(keel_base *b);

/* Enables (or upgrades in place) starter `name` and records it. Strings
 * borrowed; `config_json` NULL keeps the running configuration. On KEEL_OK
 * the version now running is copied into the caller's `version` buffer of
 * `size` bytes. */
keel_status keel_base_starter_enable(keel_base *b, const char *name, const char *range,
                                     const char *config_json, keel_error *err, char *version,
                                     size_t size);

/* Disables starter `name` and records it. */
keel_status keel_base_starter_disable(keel_base *b, const char *name, keel_error *err);

/* Why starters asked for by the configuration or the record are not
 * running (one line each, "kv: redis at ... unreachable"), as a malloc'd
 * newline-separated text, or NULL when every one runs. Health reports
 * them and is DEGRADED while there are any. */
char *keel_base_starter_failures(keel_base *b);

/* Frees the set (after every module is gone). NULL-safe on b->starters. */
void keel_base_starters_destroy(keel_base *b);

#endif

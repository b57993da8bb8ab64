/*
 * keeld's configuration: a JSON file (optional) and command-line flags,
 * the flags winning. Every refusal is one line naming the file (or flag)
 * and the field, what it holds and what would be accepted.
 *
 * Configuration file (all fields optional; unknown fields are refused
 * unless they start with "x-"; relative paths are relative to the file's
 * directory):
 *
 *     {
 *       "work_dir": "/var/lib/keel",
 *       "socket": "/run/keel/keeld.sock",        default WORK_DIR/keeld.sock
 *       "log_level": "info",                     debug | info | warn | error
 *       "limits": {
 *         "max_namespaces": 15,                  1..15
 *         "max_versions": 2,                     1..16, versions of one module
 *         "drain_timeout_ms": 5000,              1..3600000
 *         "stop_timeout_ms": 5000,               1..3600000
 *         "queue_capacity": 65536,               1..16777216 messages per subscriber
 *         "overflow": "reject"                   reject | block | drop-oldest
 *       },
 *       "http": {"listen": "127.0.0.1:8080", "token": "at least 16 characters"},
 *       "modules": [{"bundle": "bundles/greeter-1.0.0.keel", "activate": true}],
 *       "starters": {
 *         "market": "starters/market.json",      the market index (keel/market.h)
 *         "enable": {"kv": {"version": "^1.0",   a range (default: the highest)
 *                           "config": {...}}}    checked against the market's schema
 *       }
 *     }
 */
#ifndef KEEL_BASE_CONFIG_H
#define KEEL_BASE_CONFIG_H

#include <stddef.h>
#include <keel/error.h>
#include <keel/log.h>
#include <keel/mailbox.h>

/* A module installed at boot when no version of it is deployed yet. */
typedef struct keel_boot_module {
    char *bundle;   /* path of the .keel file (owned by the config) */
    int activate;   /* start it active (default 1) */
} keel_boot_module;

typedef struct keel_base_config {
    char *work_dir;             /* required before keeld runs */
    char *socket_path;          /* admin socket; default WORK_DIR/keeld.sock */
    char *config_path;          /* the file read, or NULL */
    int log_level;              /* a keel_log_level, or -1: not configured */
    /* Limits; 0 means "the loader's / router's default". */
    unsigned max_namespaces;
    unsigned max_versions;
    unsigned drain_timeout_ms;
    unsigned stop_timeout_ms;
    size_t queue_capacity;
    keel_overflow overflow;
    /* HTTP admin API: both NULL when off, both set when on. */
    char *http_listen;
    char *http_token;
    keel_boot_module *modules;  /* boot modules, in file order */
    size_t module_count;
    char *starters_market;      /* the market index path, or NULL (no market) */
    char *starters_enable_json; /* the "starters.enable" object as compact JSON, or NULL */
} keel_base_config;

/* What the command line asked for. */
typedef enum keel_config_action {
    KEEL_CONFIG_RUN = 0,        /* start the daemon */
    KEEL_CONFIG_HELP,           /* print the usage and exit 0 */
    KEEL_CONFIG_VERSION         /* print the version and exit 0 */
} keel_config_action;

/* Sets `cfg` (caller-owned storage) to the defaults: nothing allocated. */
void keel_base_config_init(keel_base_config *cfg);

/* Frees what `cfg` owns and re-initialises it. NULL-safe. */
void keel_base_config_destroy(keel_base_config *cfg);

/* Deep-copies `src` (borrowed) into `dst` (caller-owned storage, which
 * must not hold anything yet). KEEL_ERR_NOMEM leaves `dst` initialised. */
keel_status keel_base_config_copy(keel_base_config *dst, const keel_base_config *src,
                                  keel_error *err);

/* Applies `size` bytes of JSON text (borrowed) to `cfg`: the fields the
 * text holds replace what `cfg` has. `origin` (borrowed) names the source
 * in messages; relative paths are resolved against `base_dir` (borrowed;
 * NULL: left as they are). KEEL_ERR_INVALID names the field; `cfg` may
 * then be partly updated (destroy it). */
keel_status keel_base_config_parse(keel_base_config *cfg, const char *json, size_t size,
                                   const char *origin, const char *base_dir, keel_error *err);

/* Reads the configuration file at `path` (borrowed) into `cfg`, as
 * keel_base_config_parse with the file's directory for relative paths.
 * KEEL_ERR_IO when it cannot be read. */
keel_status keel_base_config_load(keel_base_config *cfg, const char *path, keel_error *err);

/* Parses keeld's command line (`argv` borrowed) into `cfg`: reads the
 * --config file first, then applies the flags, then the defaults (the
 * socket path). On KEEL_OK *action says what to do. *usage (may be NULL)
 * is set to 1 when the error is a wrong command line (exit code 2) and to
 * 0 for other errors (a bad configuration file: exit code 1). */
keel_status keel_base_config_from_args(keel_base_config *cfg, int argc, char *const *argv,
                                       keel_config_action *action, int *usage, keel_error *err);

/* The usage text printed by --help (static). */
const char *keel_base_config_usage(void);

#endif

/*
 * The base's admin operations, shared by the Unix admin socket and the HTTP
 * admin API: one JSON request in, one JSON response out.
 *
 * Wire format on the admin socket (also what keel_admin_handle takes):
 * one JSON object per line,
 *
 *     {"op": "install", "args": {"bundle": "/abs/x.keel", "activate": true}}
 *
 * answered by zero or more progress lines and exactly one final line:
 *
 *     {"progress": "verifying bundle"}
 *     {"ok": true, "result": {...}}
 *     {"ok": false, "error": {"status": "bundle", "code": 6, "message": "..."}}
 *
 * "status" is keel_status_name() of the keel_status in "code"; "message" is
 * one line for the operator. A connection may carry many requests, one
 * after the other. Lines are at most 1 MiB. A malformed line gets an
 * "invalid" error and the connection stays usable.
 *
 * Operations ("args" fields; * = required):
 *   install    bundle* (absolute path readable by keeld), activate (bool,
 *              default true)  -> {name, version, state, namespace}
 *   uninstall  name*, version (required when several are installed)
 *              -> {uninstalled: "name@version"}
 *   switch     name*, version*  -> {active: "name@version", previous}
 *   rollback   name*  -> {active: "name@version"}
 *   route      name*, primary*, gray, percent (0..100), by_key (bool)
 *              -> {name, primary, gray, percent, by_key}
 *   list       -> {modules: [{name, version, state, namespace, priority,
 *              memory_bytes, reason, services: [{scene, name, signature,
 *              routed, share, properties}]}]}
 *   history    name*, version  -> {instances: [{id, history: [{time
 *              (RFC 3339, UTC, ms), state, note}]}]}
 *   call       service*, scene (default "default"), args (JSON array,
 *              default []), key (routing key)  -> {result: JSON value}
 *   publish    topic*, scene (default "default"), data (string), sync
 *              (bool)  -> {receivers: n}
 *   health     -> {status: "UP" | "DEGRADED" | "BOOTING", uptime_s, modules, active,
 *              broken, leaks: [text...], starters_failed: ["NAME: why"...]}
 *   metrics    -> {text: Prometheus exposition text}
 *   starters   -> {starters: [{name, enabled, version, versions, description,
 *              owner, tags, bindings}]}  (the market and what runs)
 *   starter.info    name*  -> {starter: {... market_versions, config, library,
 *              functions, upgrades, status (the starter's own "info")}}
 *   starter.enable  name*, version (a range; default the highest), config
 *              (object)  -> {name, version, previous}; a running starter
 *              with another version is upgraded in place
 *   starter.disable name*  -> {disabled}; refused while modules use it
 *   starter.exec    name*, op*, args (object)  -> {result}: an operator
 *              command of the starter (e.g. config "set")
 *   market.search   word  -> {market, starters: [...]}
 *
 * Operations on one module are serialised: a second operation on a module
 * while one is running is refused at once with status "busy" and a message
 * that names the operation in progress. Operations on different modules
 * run concurrently. Every successful install, uninstall, switch, rollback
 * and route is recorded durably before the response is sent.
 */
#ifndef KEEL_BASE_ADMIN_H
#define KEEL_BASE_ADMIN_H

#include <stddef.h>

typedef struct keel_base keel_base;

/* Receives progress text (borrowed, valid during the call). */
typedef void (*keel_progress_fn)(void *user, const char *text);

/* Handles one request (`size` bytes of JSON text, borrowed). Returns the
 * final response as a malloc'd, NUL-terminated JSON object text without a
 * newline (caller frees); NULL only when out of memory. `progress` may be
 * NULL. Thread-safe. */
char *keel_admin_handle(keel_base *base, const char *request, size_t size,
                        keel_progress_fn progress, void *user);

/* The metrics in Prometheus text format (per-service calls, errors,
 * in-flight and latency histograms; per-module state and memory; queue
 * counters). malloc'd, caller frees; NULL when out of memory. */
char *keel_base_metrics_text(keel_base *base);

#endif

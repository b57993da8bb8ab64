/*
 * keel_base: the long-lived base — configuration, the loader (and through
 * it the router), durable state, boot-time installs, and the admin
 * operations of admin.h.
 */
#ifndef KEEL_BASE_BASE_H
#define KEEL_BASE_BASE_H

#include <keel/error.h>
#include <keel/loader.h>
#include "admin.h"
#include "config.h"

/* Creates the base: work directory, loader. Nothing is installed yet.
 * `cfg` is borrowed (copied). On KEEL_OK *out is owned by the caller. */
keel_status keel_base_create(const keel_base_config *cfg, keel_base **out, keel_error *err);

/* Brings back the recorded set of modules (priority order, same priority
 * in parallel, active versions and routes restored), then installs the
 * configuration's boot modules that are not installed yet. A module that
 * fails is logged and left out; the others still come up. */
keel_status keel_base_boot(keel_base *base, keel_error *err);

/* Stops modules in reverse priority (drain, stop, unload) and frees.
 * NULL-safe. */
void keel_base_destroy(keel_base *base);

/* The loader (owned by the base). */
keel_loader *keel_base_loader(keel_base *base);

#endif

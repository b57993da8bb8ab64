/*
 * persist.h — the state file: per job the last started tick, written
 * atomically (temporary file, fsync, rename, fsync of the directory) before
 * a tick's call, read at create.
 *
 *   {"format": 1, "jobs": [{"name": "nightly", "spec": "cron 0 2 * * * UTC",
 *                           "last_started": 1735696800000,
 *                           "last_started_iso": "2025-01-01T02:00:00.000Z"}]}
 */
#ifndef KEEL_TIMER_PERSIST_H
#define KEEL_TIMER_PERSIST_H

#include "timer_state.h"

/* Reads st->state_path into the memo (before any job exists). A missing
 * file is an empty state; an unreadable or malformed one is an error (one
 * line naming the file). */
keel_status keel_timer_persist_load(keel_timer_state *st, keel_starter_error *err);

/* Makes sure the changes up to generation `gen` (st->gen when they were
 * made) are on disk: writes the state file unless a writer already covered
 * them. Call without the state lock. A failed write is counted, logged and
 * kept in st->persist_error. */
void keel_timer_persist_sync(keel_timer_state *st, uint64_t gen);

#endif

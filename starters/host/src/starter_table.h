/*
 * The table a module gets for a starter: the base's own copy of the
 * starter's 8-byte header followed by libffi closures, one per slot. Each
 * closure enters whichever code version is current, counts itself inside
 * it, calls the slot there and leaves: so an upgrade can swap the code and
 * wait for the calls inside the old one. Internal to the starter host.
 */
#ifndef KEEL_STARTER_TABLE_H
#define KEEL_STARTER_TABLE_H

#include <stdatomic.h>
#include "starter_code.h"

typedef struct starter_table starter_table;

/* Which code module calls enter, and who is inside. Callers count
 * themselves in inside[epoch & 1] before they read `current`; a swap
 * stores the new code, then moves the epoch on, and the old code is idle
 * once the previous epoch's count has been 0 at some instant (callers only
 * leave it: later ones read the new code). The counters live here, not in
 * the code, because a caller may count itself a moment after reading an
 * old epoch. Lives as long as the tables that use it. */
typedef struct starter_gate {
    _Atomic(starter_code *) current;
    atomic_uint epoch;
    atomic_long inside[2];
} starter_gate;

/* The code calls enter now. */
starter_code *starter_gate_current(starter_gate *g);

/* Makes `next` current; returns the counter slot of the callers that may
 * still be inside the previous code. */
unsigned starter_gate_swap(starter_gate *g, starter_code *next);

/* Calls counted in `slot` now (0: nobody is inside the code it guarded). */
long starter_gate_inside(starter_gate *g, unsigned slot);

/* Creates a table with the slots of `code` (its current layout) that
 * dispatches through `gate` (borrowed; must outlive the table). On KEEL_OK
 * *out is owned by the caller (starter_table_destroy). */
keel_status starter_table_create(starter_gate *gate, const starter_code *code,
                                 starter_table **out, keel_error *err);

/* The table as a module sees it (owned by the table). */
const void *starter_table_get(const starter_table *t);

/* Its slot count. */
size_t starter_table_slots(const starter_table *t);

/* NULL-safe. No module may hold it any more. */
void starter_table_destroy(starter_table *t);

/* Enters the current code: returns it, counted in *slot until
 * starter_gate_leave. */
starter_code *starter_gate_enter(starter_gate *g, unsigned *slot);
void starter_gate_leave(starter_gate *g, unsigned slot);

#endif

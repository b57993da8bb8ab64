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

/* Creates a table with the slots of `code` (its current layout) that
 * dispatches through `*current` (borrowed; must outlive the table). On
 * KEEL_OK *out is owned by the caller (starter_table_destroy). */
keel_status starter_table_create(_Atomic(starter_code *) *current, const starter_code *code,
                                 starter_table **out, keel_error *err);

/* The table as a module sees it (owned by the table). */
const void *starter_table_get(const starter_table *t);

/* Its slot count. */
size_t starter_table_slots(const starter_table *t);

/* NULL-safe. No module may hold it any more. */
void starter_table_destroy(starter_table *t);

/* Enters the current code: returns it with its `inside` count raised;
 * starter_code_leave lowers it. */
starter_code *starter_code_enter(_Atomic(starter_code *) *current);
void starter_code_leave(starter_code *code);

#endif

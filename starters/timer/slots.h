/*
 * slots.h — what modules reach: bind/unbind and the keel_timer_api table of
 * this build (table version TIMER_TABLE_VERSION).
 */
#ifndef KEEL_TIMER_SLOTS_H
#define KEEL_TIMER_SLOTS_H

#include "timer_state.h"

/* The table and its slot signatures (static, in this .so). */
extern const keel_timer_api keel_timer_table;
extern const char *const keel_timer_slot_signatures[];
extern const size_t keel_timer_slot_count;

/* def->bind / def->unbind. */
keel_status keel_timer_bind(void *state, const keel_starter_binding *who, void **client,
                            keel_starter_error *err);
void keel_timer_unbind(void *state, void *client);

/* Frees every client left (destroy). */
void keel_timer_clients_free(keel_timer_state *st);

#endif

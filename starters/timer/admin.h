/*
 * admin.h — operator commands (keel starter exec timer OP [JSON]):
 *   info     counters and settings, with every job
 *   jobs     {"job": NAME}? : the jobs (or one)
 *   run      {"job": NAME}  : calls the job now (manual_runs; ticks untouched)
 *   preview  {"every" | "cron", "timezone"?, "from"? (unix ms), "count"? (1-100)}:
 *            the next fire times of a spec, or why it is invalid
 */
#ifndef KEEL_TIMER_ADMIN_H
#define KEEL_TIMER_ADMIN_H

#include "timer_state.h"

/* def->admin. */
keel_status keel_timer_admin(void *state, const char *op, const char *args_json,
                             char **result_json, keel_starter_error *err);

#endif

/*
 * config.h — the starter's configuration:
 *   {"state_file": "timer.json", "max_jobs": 1000, "catch_up": "once",
 *    "workers": 2, "jobs": [{"name": ..., "module": ..., "scene": ...,
 *    "service": ..., "args": [...], "every" | "cron": ..., "timezone": ...}]}
 */
#ifndef KEEL_TIMER_CONFIG_H
#define KEEL_TIMER_CONFIG_H

#include "timer_state.h"

typedef struct keel_timer_config {
    char *state_path;          /* absolute, or relative to the process */
    size_t max_jobs;
    keel_timer_catch_up catch_up;
    unsigned workers;
    keel_timer_jobspec *jobs;  /* job_count entries */
    size_t job_count;
} keel_timer_config;

/* Reads `config_json` (borrowed); a relative state_file is taken under
 * `work_dir` (borrowed). On KEEL_OK *out owns its contents
 * (keel_timer_config_clear). On error (KEEL_ERR_INVALID, _NOMEM) one line
 * in `err` naming the field, *out cleared. */
keel_status keel_timer_config_read(const char *config_json, const char *work_dir,
                                   keel_timer_config *out, keel_starter_error *err);

/* Frees what *cfg owns. NULL-safe. */
void keel_timer_config_clear(keel_timer_config *cfg);

#endif

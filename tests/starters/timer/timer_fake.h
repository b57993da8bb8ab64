/*
 * timer_fake.h — the base as the timer starter's tests play it: a
 * call_json that records every call (service, scene, the tick passed as
 * args[0] when it is a number, the time, the module status at that moment,
 * concurrency) and a module_status the test drives.
 *
 * Services: "bad" fails with "reconcile exploded"; "slow" sleeps
 * slow_ms; "switch" turns the module SWITCHING inside its first call; any
 * other name answers {"ok":true}.
 */
#ifndef TIMER_FAKE_H
#define TIMER_FAKE_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "starter_harness.h"

#define FAKE_MAX_CALLS 8192

typedef struct fake_call {
    char scene[32];
    char service[32];
    char arg0[64];          /* args[0] as text when it is a string */
    int64_t tick;           /* args[0] when it is a number, else -1 */
    int64_t at_ms;          /* wall time at entry */
    bool while_switching;   /* the module was not SERVING at entry */
} fake_call;

typedef struct fake {
    pthread_mutex_t lock;
    fake_call calls[FAKE_MAX_CALLS];
    size_t ncalls;
    const char *module;                  /* the module status applies to */
    keel_starter_module_status status;   /* under lock */
    int slow_ms;
    int in_flight_slow, max_in_flight_slow;
    bool switched;                       /* "switch" did its switch */
    int64_t switched_at;
} fake;

/* Initialises *f (caller-owned) for module `module` (static string). */
void fake_init(fake *f, const char *module);
void fake_destroy(fake *f);

/* The harness callbacks; `user` is the fake. */
keel_status fake_call_json(void *user, const char *scene, const char *name, const char *args_json,
                           char **result_json, keel_starter_error *err);
keel_starter_module_status fake_status(void *user, const char *module);

void fake_set_status(fake *f, keel_starter_module_status status);
/* Calls of `service` so far. */
size_t fake_count(fake *f, const char *service);
/* Copies the calls of `service` into out (at most max); returns how many. */
size_t fake_calls(fake *f, const char *service, fake_call *out, size_t max);
/* Waits until `service` had `n` calls or `timeout_ms` passed; true if reached. */
bool fake_wait(fake *f, const char *service, size_t n, int timeout_ms);

/* Helpers shared by the tests. */
int64_t now_ms(void);
void sleep_ms(int ms);
/* A fresh directory under /tmp (static buffer per call site: caller copies). */
void make_workdir(char *buf, size_t size);
void remove_tree(const char *dir);
/* The .so of `version` ("1.0.0" / "1.1.0"). */
const char *timer_so(const char *version);
/* Opens the starter (asserts success). */
starter_harness *open_timer(const char *version, const char *workdir, const char *config,
                            fake *f);
/* Runs admin `op` (asserts KEEL_OK) and returns the parsed result (caller deletes). */
cJSON *admin_ok(starter_harness *h, const char *op, const char *args);
/* The "jobs" entry of `name` (caller deletes), asserting it exists. */
cJSON *job_info(starter_harness *h, const char *name);
/* A number field of `obj`, asserting it exists. */
double num(const cJSON *obj, const char *key);

#endif

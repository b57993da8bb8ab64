/*
 * starter_harness.h — loads one starter .so for its own tests, the way the
 * base does (dlopen into the base namespace, create, resume, bind), with a
 * host table whose calls and module states come from the test.
 *
 * Slots are called straight through def->table: the base's upgrade-safe
 * table is tested by the starter host's own tests.
 */
#ifndef STARTER_HARNESS_H
#define STARTER_HARNESS_H

#include <keel/starter.h>

typedef struct starter_harness starter_harness;

/* What the test answers for host->call_json. *result_json must be malloc'd. */
typedef keel_status (*starter_harness_call_fn)(void *user, const char *scene, const char *name,
                                               const char *args_json, char **result_json,
                                               keel_starter_error *err);
/* What the test answers for host->module_status. */
typedef keel_starter_module_status (*starter_harness_status_fn)(void *user, const char *module);

/* dlopens `so_path` (borrowed), checks its def, creates `work_dir`
 * (borrowed) if missing, then create(config_json) and resume. `call`,
 * `status` may be NULL (then call_json answers KEEL_ERR_NOT_FOUND and every
 * module is SERVING). On KEEL_OK *out is owned by the caller
 * (starter_harness_close). */
keel_status starter_harness_open(const char *so_path, const char *work_dir,
                                 const char *config_json, starter_harness_call_fn call,
                                 starter_harness_status_fn status, void *user,
                                 starter_harness **out, keel_starter_error *err);

/* The running version's def and table (owned by its .so). */
const keel_starter_def *starter_harness_def(const starter_harness *h);
const void *starter_harness_table(const starter_harness *h);

/* bind as module `module` (borrowed) in scene `scene` (NULL: "default"). */
keel_status starter_harness_bind(starter_harness *h, const char *module, const char *scene,
                                 void **client, keel_starter_error *err);
void starter_harness_unbind(starter_harness *h, void *client);

/* def->admin, or KEEL_ERR_NOT_FOUND when the starter has none. */
keel_status starter_harness_admin(starter_harness *h, const char *op, const char *args_json,
                                  char **result_json, keel_starter_error *err);

/* Upgrade in place: dlopen `so_path`, check name/state_format, suspend the
 * old code, resume the new one on the same state, dlclose the old code.
 * On failure the old version resumes and keeps running. The caller must
 * make sure no slot call runs inside the old code (the real base waits). */
keel_status starter_harness_upgrade(starter_harness *h, const char *so_path,
                                    keel_starter_error *err);

/* suspend, destroy, dlclose. NULL-safe. Unbind clients first. */
void starter_harness_close(starter_harness *h);

/* Counts lines the starter logged at `level` or above, since open. */
unsigned starter_harness_log_count(const starter_harness *h, keel_log_level level);

#endif

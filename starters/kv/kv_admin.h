/* kv_admin.h — the kv starter's operator commands. */
#ifndef KV_ADMIN_H
#define KV_ADMIN_H

#include "kv_state.h"

/* def->admin: ops "info" and "flush" {"module": NAME}. `op`, `args_json`
 * borrowed; on KEEL_OK *result_json is malloc'd JSON (free()). Unknown op:
 * KEEL_ERR_NOT_FOUND listing the known ones. `version` (borrowed) is the
 * running code's version, reported by info. */
keel_status kv_admin(kv_state *st, const char *version, const char *op, const char *args_json,
                     char **result_json, keel_starter_error *err);

/* True when `name` can be a module name: 1..64 bytes, no ':'. */
int kv_module_name_ok(const char *name);

#endif

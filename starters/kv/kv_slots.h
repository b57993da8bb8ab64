/* kv_slots.h — the functions behind the module-facing table
 * (keel/starters/kv.h): key checks, namespacing, counters, dispatch to the
 * backend. Each one is documented in kv.h. */
#ifndef KV_SLOTS_H
#define KV_SLOTS_H

#include <keel/starters/kv.h>

keel_status kv_slot_set(keel_kv *kv, const char *key, const void *value, size_t len,
                        int64_t ttl_ms);
keel_status kv_slot_get(keel_kv *kv, const char *key, void **value, size_t *len);
keel_status kv_slot_del(keel_kv *kv, const char *key);
keel_status kv_slot_incr(keel_kv *kv, const char *key, int64_t delta, int64_t *out);
void kv_slot_free(void *ptr);
keel_status kv_slot_ttl(keel_kv *kv, const char *key, int64_t *ms_left);

#endif

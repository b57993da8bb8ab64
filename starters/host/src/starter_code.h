/*
 * One loaded version of a starter's code: the .so, its def, its slots with
 * their libffi call descriptions.
 * Internal to the starter host.
 */
#ifndef KEEL_STARTER_CODE_H
#define KEEL_STARTER_CODE_H

#include <stdatomic.h>
#include <ffi.h>
#include <keel/error.h>
#include <keel/starter.h>

#define STARTER_SLOT_MAX_ARGS 12

typedef struct starter_slot {
    ffi_cif cif;
    ffi_type *args[STARTER_SLOT_MAX_ARGS];
    void (*fn)(void);
} starter_slot;

typedef struct starter_code {
    void *so;
    const keel_starter_def *def;
    char *library;
    starter_slot *slots;      /* def->slot_count of them */
} starter_code;

/* dlopens `library` (borrowed) into the base namespace and checks its def:
 * ABI version, `name` and `version` as the market says, hooks present,
 * table layout matching the slot count, every slot signature parseable.
 * On KEEL_OK *out is owned by the caller (starter_code_unload). */
keel_status starter_code_load(const char *library, const char *name, const char *version,
                              starter_code **out, keel_error *err);

/* dlcloses and frees. NULL-safe. Nothing may run inside it. */
void starter_code_unload(starter_code *code);

/* KEEL_OK when `next` can replace `running` in place: same state_format,
 * same major version (0.x: same minor), a table that only grew with the
 * same signatures for the slots both have. */
keel_status starter_code_compatible(const starter_code *running, const starter_code *next,
                                    keel_error *err);

#endif

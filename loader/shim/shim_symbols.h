/*
 * The description of the generated libc shim, shared by the generator's
 * output (libc_shim_symbols.c) and the loader that fills the shim.
 */
#ifndef KEEL_SHIM_SYMBOLS_H
#define KEEL_SHIM_SYMBOLS_H

#include <stddef.h>

typedef enum keel_shim_kind {
    KEEL_SHIM_FUNCTION = 0,  /* a trampoline through the table */
    KEEL_SHIM_DATA = 1,      /* storage that must end up as the base's object */
    KEEL_SHIM_TLS = 2        /* thread-local storage (errno and friends) */
} keel_shim_kind;

typedef struct keel_shim_symbol {
    const char *name;
    const char *version;
    keel_shim_kind kind;
    unsigned long long size;
    int slot;                /* table index for functions, -1 otherwise */
    int is_default;          /* name@@version: what a new link binds to */
} keel_shim_symbol;

extern const keel_shim_symbol keel_shim_symbols[];
extern const size_t keel_shim_symbol_count;
extern const size_t keel_shim_function_slots;
extern const char keel_shim_libc_path[];
extern const char keel_shim_libc_build_id[];

#endif

/*
 * keel/elf_inspect.h — what the loader needs to know about a shared object
 * before it maps it: can it be loaded into this process, and can it be
 * unloaded again.
 */
#ifndef KEEL_ELF_INSPECT_H
#define KEEL_ELF_INSPECT_H

#include <stddef.h>
#include <keel/error.h>

typedef struct keel_elf_info keel_elf_info;

/* Findings that make an object impossible to unload (or to load). */
enum {
    KEEL_ELF_NODELETE = 1u << 0,     /* DF_1_NODELETE */
    KEEL_ELF_UNIQUE = 1u << 1,       /* a STB_GNU_UNIQUE symbol */
    KEEL_ELF_STATIC_TLS = 1u << 2,   /* DF_STATIC_TLS: initial-exec TLS */
    KEEL_ELF_TEXTREL = 1u << 3,      /* text relocations */
    KEEL_ELF_EXECSTACK = 1u << 4     /* PT_GNU_STACK executable */
};

/* Inspects the ELF file at `path` (borrowed). Checks: ELF magic, the same
 * class, data encoding and machine as this process, ET_DYN, a PT_DYNAMIC,
 * section and program headers inside the file. On KEEL_OK, *out is a new
 * info the caller destroys with keel_elf_info_destroy. Not an ELF, wrong
 * class/machine or truncated gives KEEL_ERR_LOAD with a message that names
 * `path` and the reason. */
keel_status keel_elf_inspect(const char *path, keel_elf_info **out, keel_error *err);

/* Frees `info`. NULL-safe. */
void keel_elf_info_destroy(keel_elf_info *info);

/* DT_SONAME, or NULL. Owned by info. */
const char *keel_elf_soname(const keel_elf_info *info);
/* DT_NEEDED entries in order. Owned by info. */
size_t keel_elf_needed_count(const keel_elf_info *info);
const char *keel_elf_needed(const keel_elf_info *info, size_t i);
/* Bitwise OR of KEEL_ELF_* findings. */
unsigned keel_elf_flags(const keel_elf_info *info);
/* Non-zero if the object has a PT_TLS segment. */
int keel_elf_has_tls(const keel_elf_info *info);
/* Non-zero if the dynamic symbol table defines `name` (a global or weak
 * symbol with a section). */
int keel_elf_defines(const keel_elf_info *info, const char *name);
/* The first STB_GNU_UNIQUE symbol name when KEEL_ELF_UNIQUE is set, else
 * NULL. Owned by info. */
const char *keel_elf_unique_symbol(const keel_elf_info *info);

/* Describes `flags` as text like "DF_1_NODELETE, STB_GNU_UNIQUE symbol" into
 * the caller's `buf` of `size` bytes. Returns buf. */
const char *keel_elf_flags_describe(unsigned flags, char *buf, size_t size);

#endif

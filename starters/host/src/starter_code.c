/* Loading and checking one version of a starter: see starter_code.h. */
#include "starter_code.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/manifest.h>

static ffi_type *slot_type(const char *s, size_t n, int ret)
{
    static const struct {
        const char *name;
        ffi_type *type;
    } types[] = {{"i32", &ffi_type_sint32}, {"u32", &ffi_type_uint32}, {"i64", &ffi_type_sint64},
                 {"u64", &ffi_type_uint64}, {"f64", &ffi_type_double}, {"ptr", &ffi_type_pointer}};
    if (ret && n == 4 && strncmp(s, "void", 4) == 0)
        return &ffi_type_void;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strlen(types[i].name) == n && strncmp(s, types[i].name, n) == 0)
            return types[i].type;
    return NULL;
}

/* Parses "RET(ARG,...)" into `slot`. */
static keel_status slot_parse(const char *sig, starter_slot *slot, const char *what, size_t index,
                              keel_error *err)
{
    const char *open = sig ? strchr(sig, '(') : NULL;
    const char *close = open ? strchr(open, ')') : NULL;
    ffi_type *ret = open ? slot_type(sig, (size_t)(open - sig), 1) : NULL;
    if (!ret || !close || close[1] != 0)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: slot %zu signature \"%s\" is not RET(ARG,...)",
                              what, index, sig ? sig : "(null)");
    unsigned nargs = 0;
    const char *p = open + 1;
    while (p < close) {
        const char *comma = memchr(p, ',', (size_t)(close - p));
        const char *end = comma ? comma : close;
        ffi_type *t = slot_type(p, (size_t)(end - p), 0);
        if (!t || nargs == STARTER_SLOT_MAX_ARGS)
            return keel_error_set(err, KEEL_ERR_INVALID,
                                  "%s: slot %zu signature \"%s\": argument %u is not one of i32, u32, "
                                  "i64, u64, f64, ptr (at most %d)", what, index, sig, nargs + 1,
                                  STARTER_SLOT_MAX_ARGS);
        slot->args[nargs++] = t;
        p = comma ? comma + 1 : close;
    }
    if (ffi_prep_cif(&slot->cif, FFI_DEFAULT_ABI, nargs, ret, slot->args) != FFI_OK)
        return keel_error_set(err, KEEL_ERR_INVALID, "%s: slot %zu signature \"%s\" refused by libffi",
                              what, index, sig);
    return KEEL_OK;
}

void starter_code_unload(starter_code *code)
{
    if (!code)
        return;
    if (code->so)
        dlclose(code->so);
    free(code->slots);
    free(code->library);
    free(code);
}

keel_status starter_code_load(const char *library, const char *name, const char *version,
                              starter_code **out, keel_error *err)
{
    *out = NULL;
    starter_code *c = calloc(1, sizeof *c);
    if (!c || !(c->library = strdup(library))) {
        free(c);
        return keel_error_set(err, KEEL_ERR_NOMEM, "starter %s: out of memory", name);
    }
    char what[160];
    snprintf(what, sizeof what, "starter %s %s (%s)", name, version, library);
    keel_status st = KEEL_OK;
    c->so = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!c->so) {
        st = keel_error_set(err, KEEL_ERR_LOAD, "starter %s %s: %s", name, version, dlerror());
        goto fail;
    }
    keel_starter_entry_fn entry = (keel_starter_entry_fn)dlsym(c->so, KEEL_STARTER_ENTRY_SYMBOL);
    const keel_starter_def *d = entry ? entry() : NULL;
    if (!d) {
        st = keel_error_set(err, KEEL_ERR_LOAD, "%s: no %s symbol (not a keel starter)", what,
                            KEEL_STARTER_ENTRY_SYMBOL);
        goto fail;
    }
    if (d->abi_version != KEEL_STARTER_ABI_VERSION || d->size < sizeof(keel_starter_def)) {
        st = keel_error_set(err, KEEL_ERR_API, "%s: built for starter ABI %u, this base serves %d",
                            what, d->abi_version, KEEL_STARTER_ABI_VERSION);
        goto fail;
    }
    if (!d->name || strcmp(d->name, name) != 0 || !d->version || strcmp(d->version, version) != 0) {
        st = keel_error_set(err, KEEL_ERR_INVALID,
                            "%s: the library says it is %s %s; fix the market entry or the build",
                            what, d->name ? d->name : "(no name)", d->version ? d->version : "(none)");
        goto fail;
    }
    if (!d->create || !d->destroy || !d->bind || !d->unbind) {
        st = keel_error_set(err, KEEL_ERR_INVALID, "%s: create, destroy, bind and unbind are required",
                            what);
        goto fail;
    }
    const uint32_t *header = d->table;
    if (!header || d->slot_count == 0 || !d->slot_signatures ||
        header[1] != 8 + d->slot_count * sizeof(void (*)(void))) {
        st = keel_error_set(err, KEEL_ERR_INVALID,
                            "%s: table size %u does not match %zu slots after an 8-byte header", what,
                            header ? header[1] : 0, d->slot_count);
        goto fail;
    }
    c->slots = calloc(d->slot_count, sizeof *c->slots);
    if (!c->slots) {
        st = keel_error_set(err, KEEL_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    void (*const *fns)(void) = (void (*const *)(void))((const char *)d->table + 8);
    for (size_t i = 0; i < d->slot_count; i++) {
        if ((st = slot_parse(d->slot_signatures[i], &c->slots[i], what, i, err)) != KEEL_OK)
            goto fail;
        if (!fns[i]) {
            st = keel_error_set(err, KEEL_ERR_INVALID, "%s: slot %zu is NULL", what, i);
            goto fail;
        }
        c->slots[i].fn = fns[i];
    }
    c->def = d;
    *out = c;
    return KEEL_OK;
fail:
    starter_code_unload(c);
    return st;
}

static long semver_part(const char *v, int which)
{
    char *end;
    long major = strtol(v, &end, 10);
    if (which == 0)
        return major;
    return strtol(end + 1, NULL, 10);
}

keel_status starter_code_compatible(const starter_code *running, const starter_code *next,
                                    keel_error *err)
{
    const keel_starter_def *a = running->def, *b = next->def;
    if (a->state_format != b->state_format)
        return keel_error_set(err, KEEL_ERR_STATE,
                              "starter %s: %s keeps its state in format %u, the running %s in %u; "
                              "an upgrade in place needs the same format (disable, then enable)",
                              a->name, b->version, b->state_format, a->version, a->state_format);
    long amaj = semver_part(a->version, 0), bmaj = semver_part(b->version, 0);
    if (amaj != bmaj || (amaj == 0 && semver_part(a->version, 1) != semver_part(b->version, 1)))
        return keel_error_set(err, KEEL_ERR_STATE,
                              "starter %s: %s -> %s changes the major version; modules bound to %s "
                              "may break (disable, then enable)", a->name, a->version, b->version,
                              a->version);
    if (b->slot_count < a->slot_count)
        return keel_error_set(err, KEEL_ERR_STATE,
                              "starter %s: %s has %zu functions, the running %s %zu; modules may use "
                              "the missing ones (disable, then enable)", a->name, b->version,
                              b->slot_count, a->version, a->slot_count);
    for (size_t i = 0; i < a->slot_count; i++)
        if (strcmp(a->slot_signatures[i], b->slot_signatures[i]) != 0)
            return keel_error_set(err, KEEL_ERR_STATE,
                                  "starter %s: function %zu changes from %s in %s to %s in %s", a->name,
                                  i, a->slot_signatures[i], a->version, b->slot_signatures[i],
                                  b->version);
    return KEEL_OK;
}

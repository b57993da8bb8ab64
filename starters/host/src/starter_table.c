/* Upgrade-safe starter tables: see starter_table.h. */
#include "starter_table.h"

#include <stdlib.h>
#include <string.h>

typedef struct table_slot {
    ffi_cif cif;
    ffi_type *args[STARTER_SLOT_MAX_ARGS];
    ffi_closure *closure;
    void *code;               /* the closure's executable address */
    size_t index;
    _Atomic(starter_code *) *current;
} table_slot;

struct starter_table {
    uint32_t *mem;            /* header + slot pointers: what modules see */
    table_slot *slots;
    size_t count;
};

starter_code *starter_code_enter(_Atomic(starter_code *) *current)
{
    for (;;) {
        starter_code *c = atomic_load(current);
        atomic_fetch_add(&c->inside, 1);
        /* Seen after the increment: the upgrader, which stores the new code
         * before it reads `inside`, either sees us or we see its store. */
        if (atomic_load(current) == c)
            return c;
        atomic_fetch_sub(&c->inside, 1);
    }
}

void starter_code_leave(starter_code *code)
{
    atomic_fetch_sub_explicit(&code->inside, 1, memory_order_release);
}

static void slot_thunk(ffi_cif *cif, void *ret, void **args, void *user)
{
    table_slot *s = user;
    starter_code *c = starter_code_enter(s->current);
    ffi_call(cif, c->slots[s->index].fn, ret, args);
    starter_code_leave(c);
}

void starter_table_destroy(starter_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->count; i++)
        if (t->slots[i].closure)
            ffi_closure_free(t->slots[i].closure);
    free(t->slots);
    free(t->mem);
    free(t);
}

keel_status starter_table_create(_Atomic(starter_code *) *current, const starter_code *code,
                                 starter_table **out, keel_error *err)
{
    *out = NULL;
    size_t n = code->def->slot_count;
    starter_table *t = calloc(1, sizeof *t);
    if (t) {
        t->slots = calloc(n, sizeof *t->slots);
        t->mem = calloc(1, 8 + n * sizeof(void *));
    }
    if (!t || !t->slots || !t->mem) {
        starter_table_destroy(t);
        return keel_error_set(err, KEEL_ERR_NOMEM, "starter %s: out of memory", code->def->name);
    }
    memcpy(t->mem, code->def->table, 8);
    void **entries = (void **)((char *)t->mem + 8);
    for (size_t i = 0; i < n; i++) {
        table_slot *s = &t->slots[i];
        const ffi_cif *src = &code->slots[i].cif;
        memcpy(s->args, code->slots[i].args, sizeof s->args);
        s->index = i;
        s->current = current;
        s->closure = ffi_closure_alloc(sizeof(ffi_closure), &s->code);
        t->count = i + 1;
        if (!s->closure || ffi_prep_cif(&s->cif, src->abi, src->nargs, src->rtype, s->args) != FFI_OK ||
            ffi_prep_closure_loc(s->closure, &s->cif, slot_thunk, s, s->code) != FFI_OK) {
            starter_table_destroy(t);
            return keel_error_set(err, KEEL_ERR_NOMEM, "starter %s: cannot make a trampoline for "
                                  "slot %zu", code->def->name, i);
        }
        entries[i] = s->code;
    }
    *out = t;
    return KEEL_OK;
}

const void *starter_table_get(const starter_table *t) { return t->mem; }
size_t starter_table_slots(const starter_table *t) { return t->count; }

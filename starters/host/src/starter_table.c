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
    starter_gate *gate;
} table_slot;

struct starter_table {
    uint32_t *mem;            /* header + slot pointers: what modules see */
    table_slot *slots;
    size_t count;
};

starter_code *starter_gate_enter(starter_gate *g, unsigned *slot)
{
    for (;;) {
        unsigned e = atomic_load(&g->epoch);
        atomic_fetch_add(&g->inside[e & 1], 1);
        /* Still that epoch after counting ourselves: a swap that moves it
         * on afterwards waits for us; one that moved it before has stored
         * its new code, which the load below sees. */
        if (atomic_load(&g->epoch) == e) {
            *slot = e & 1;
            return atomic_load(&g->current);
        }
        atomic_fetch_sub(&g->inside[e & 1], 1);
    }
}

void starter_gate_leave(starter_gate *g, unsigned slot)
{
    atomic_fetch_sub_explicit(&g->inside[slot], 1, memory_order_release);
}

starter_code *starter_gate_current(starter_gate *g)
{
    return atomic_load(&g->current);
}

unsigned starter_gate_swap(starter_gate *g, starter_code *next)
{
    atomic_store(&g->current, next);
    return atomic_fetch_add(&g->epoch, 1) & 1;
}

long starter_gate_inside(starter_gate *g, unsigned slot)
{
    return atomic_load(&g->inside[slot]);
}

static void slot_thunk(ffi_cif *cif, void *ret, void **args, void *user)
{
    table_slot *s = user;
    unsigned slot;
    starter_code *c = starter_gate_enter(s->gate, &slot);
    ffi_call(cif, c->slots[s->index].fn, ret, args);
    starter_gate_leave(s->gate, slot);
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

keel_status starter_table_create(starter_gate *gate, const starter_code *code,
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
        s->gate = gate;
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

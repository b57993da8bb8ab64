#include "libc_shim.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_symbols.h"

/* A data object of the shim and where the base keeps the real one. */
typedef struct shim_object {
    uintptr_t shim_addr;
    uintptr_t base_addr;
    size_t size;
} shim_object;

struct keel_shim {
    char *path;
    void **functions;          /* one per function slot, the base's address */
    uintptr_t *data;           /* per symbol index: the base's object, or 0 */
    size_t unresolved;
    intptr_t errno_tpoff;      /* the base's errno, relative to the thread pointer */
    intptr_t h_errno_tpoff;
};

struct keel_shim_ns {
    keel_shim *shim;
    void *handle;
    Lmid_t lmid;
    struct link_map *shim_map;
    shim_object *objects;      /* sorted by shim_addr */
    size_t object_count;
};

/* A trampoline target for libc functions the base could not resolve: better
 * a clear abort than a jump to address zero. */
static void shim_unresolved_called(void)
{
    static const char msg[] =
        "keel: a module called a libc function that this base's libc does not provide\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    abort();
}

static int find_libc_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    char *out = data;
    const char *name = info->dlpi_name;
    const char *base = strrchr(name, '/');
    if (strcmp(base ? base + 1 : name, "libc.so.6") != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        const uint8_t *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const uint8_t *desc = p + sizeof *nh + ((nh->n_namesz + 3u) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4) {
                for (uint32_t k = 0; k < nh->n_descsz && k < 64; k++)
                    snprintf(out + 2 * k, 3, "%02x", desc[k]);
                return 1;
            }
            p = desc + ((nh->n_descsz + 3u) & ~3u);
        }
    }
    return 1;
}

static keel_status shim_check_libc(keel_error *err)
{
    char running[129] = "";
    dl_iterate_phdr(find_libc_build_id, running);
    if (strcmp(running, keel_shim_libc_build_id) != 0)
        return keel_error_set(err, KEEL_ERR_LOAD,
                              "the running libc (build-id %s) is not the one keel's libc shim was "
                              "generated from (%s, build-id %s): rebuild keel on this system",
                              running[0] ? running : "unknown", keel_shim_libc_path,
                              keel_shim_libc_build_id);
    return KEEL_OK;
}

static intptr_t thread_pointer_offset(const void *addr)
{
    return (intptr_t)((const char *)addr - (const char *)__builtin_thread_pointer());
}

static keel_status shim_resolve(keel_shim *shim, keel_error *err)
{
    shim->functions = calloc(keel_shim_function_slots + 1, sizeof *shim->functions);
    shim->data = calloc(keel_shim_symbol_count, sizeof *shim->data);
    if (shim->functions == NULL || shim->data == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory resolving the libc shim");
    for (size_t i = 0; i < keel_shim_symbol_count; i++) {
        const keel_shim_symbol *sym = &keel_shim_symbols[i];
        if (sym->kind == KEEL_SHIM_TLS)
            continue;
        /* Resolved in the base's global scope, as a normal link would: an
         * interposed allocator (or a sanitizer's interceptor, which carries
         * no version) then serves modules too. Compat versions are asked
         * for by version. */
        void *addr = sym->is_default ? dlsym(RTLD_DEFAULT, sym->name) : NULL;
        if (addr == NULL)
            addr = dlvsym(RTLD_DEFAULT, sym->name, sym->version);
        if (sym->kind == KEEL_SHIM_FUNCTION) {
            if (sym->slot < 0)
                continue;
            if (addr == NULL) {
                shim->unresolved++;
                addr = (void *)shim_unresolved_called;
            }
            shim->functions[sym->slot] = addr;
        } else {
            shim->data[i] = (uintptr_t)addr;
        }
    }
    shim->errno_tpoff = thread_pointer_offset(&errno);
    shim->h_errno_tpoff = thread_pointer_offset(&h_errno);
    return KEEL_OK;
}

keel_status keel_shim_create(const char *shim_path, keel_shim **out, keel_error *err)
{
    *out = NULL;
    keel_status st = shim_check_libc(err);
    if (st != KEEL_OK)
        return st;
    if (access(shim_path, R_OK) != 0)
        return keel_error_set(err, KEEL_ERR_NOT_FOUND, "libc shim %s: %s (build keel, or set KEEL_LIBC_SHIM)",
                              shim_path, strerror(errno));
    keel_shim *shim = calloc(1, sizeof *shim);
    if (shim == NULL || (shim->path = strdup(shim_path)) == NULL) {
        free(shim);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating the libc shim");
    }
    st = shim_resolve(shim, err);
    if (st != KEEL_OK) {
        keel_shim_destroy(shim);
        return st;
    }
    *out = shim;
    return KEEL_OK;
}

void keel_shim_destroy(keel_shim *shim)
{
    if (shim == NULL)
        return;
    free(shim->functions);
    free(shim->data);
    free(shim->path);
    free(shim);
}

size_t keel_shim_unresolved_count(const keel_shim *shim)
{
    return shim->unresolved;
}

static int object_by_addr(const void *a, const void *b)
{
    const shim_object *x = a, *y = b;
    return (x->shim_addr > y->shim_addr) - (x->shim_addr < y->shim_addr);
}

/* Fills the trampoline table and gives every data object the base's value,
 * so that code running before the GOTs are patched (constructors) already
 * sees the base's stdout, environ and so on. */
static keel_status shim_ns_fill(keel_shim_ns *ns, keel_error *err)
{
    keel_shim *shim = ns->shim;
    void **table = dlsym(ns->handle, "keel_shim_table");
    if (table == NULL)
        return keel_error_set(err, KEEL_ERR_LOAD, "libc shim %s has no trampoline table", shim->path);
    memcpy(table, shim->functions, keel_shim_function_slots * sizeof *table);
    ns->objects = calloc(keel_shim_symbol_count, sizeof *ns->objects);
    if (ns->objects == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory opening a namespace");
    for (size_t i = 0; i < keel_shim_symbol_count; i++) {
        const keel_shim_symbol *sym = &keel_shim_symbols[i];
        if (sym->kind != KEEL_SHIM_DATA || shim->data[i] == 0)
            continue;
        void *mine = dlvsym(ns->handle, sym->name, sym->version);
        if (mine == NULL)
            continue;
        memcpy(mine, (const void *)shim->data[i], sym->size);
        ns->objects[ns->object_count++] =
            (shim_object){(uintptr_t)mine, shim->data[i], sym->size ? sym->size : 8};
    }
    qsort(ns->objects, ns->object_count, sizeof *ns->objects, object_by_addr);
    return KEEL_OK;
}

keel_status keel_shim_ns_open(keel_shim *shim, keel_shim_ns **out, keel_error *err)
{
    *out = NULL;
    keel_shim_ns *ns = calloc(1, sizeof *ns);
    if (ns == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory opening a namespace");
    ns->shim = shim;
    ns->handle = dlmopen(LM_ID_NEWLM, shim->path, RTLD_NOW | RTLD_LOCAL);
    if (ns->handle == NULL) {
        const char *why = dlerror();
        free(ns);
        if (why != NULL && strstr(why, "namespace") != NULL)
            return keel_error_set(err, KEEL_ERR_LIMIT, "no link-map namespace left: %s", why);
        return keel_error_set(err, KEEL_ERR_LOAD, "cannot load the libc shim: %s", why ? why : "?");
    }
    if (dlinfo(ns->handle, RTLD_DI_LMID, &ns->lmid) != 0 ||
        dlinfo(ns->handle, RTLD_DI_LINKMAP, &ns->shim_map) != 0) {
        keel_error_set(err, KEEL_ERR_LOAD, "dlinfo on the libc shim: %s", dlerror());
        keel_shim_ns_close(ns);
        return err ? err->status : KEEL_ERR_LOAD;
    }
    keel_status st = shim_ns_fill(ns, err);
    if (st != KEEL_OK) {
        keel_shim_ns_close(ns);
        return st;
    }
    *out = ns;
    return KEEL_OK;
}

void keel_shim_ns_close(keel_shim_ns *ns)
{
    if (ns == NULL)
        return;
    if (ns->handle != NULL)
        dlclose(ns->handle);
    free(ns->objects);
    free(ns);
}

Lmid_t keel_shim_ns_lmid(const keel_shim_ns *ns)
{
    return ns->lmid;
}

static const shim_object *shim_object_containing(const keel_shim_ns *ns, uintptr_t addr)
{
    size_t lo = 0, hi = ns->object_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const shim_object *o = &ns->objects[mid];
        if (addr < o->shim_addr)
            hi = mid;
        else if (addr >= o->shim_addr + o->size)
            lo = mid + 1;
        else
            return o;
    }
    return NULL;
}

/* The dynamic-section pointers of a loaded object: glibc relocates them in
 * place on this architecture, but be safe for an unrelocated value. */
static uintptr_t dyn_ptr(const struct link_map *lm, ElfW(Addr) v)
{
    return v >= lm->l_addr ? (uintptr_t)v : (uintptr_t)(lm->l_addr + v);
}

typedef struct relro_range {
    uintptr_t start, end;
} relro_range;

static relro_range object_relro(const struct link_map *lm)
{
    relro_range r = {0, 0};
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)lm->l_addr;
    if (lm->l_addr == 0 || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return r;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(lm->l_addr + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_GNU_RELRO) {
            r.start = lm->l_addr + ph[i].p_vaddr;
            r.end = r.start + ph[i].p_memsz;
        }
    return r;
}

/* Writes one GOT slot, lifting RELRO protection for the write. */
static int got_write(uintptr_t *slot, uintptr_t value, relro_range relro)
{
    if (*slot == value)
        return 0;
    uintptr_t a = (uintptr_t)slot;
    int protected_page = a >= relro.start && a < relro.end;
    long page = sysconf(_SC_PAGESIZE);
    void *page_start = (void *)(a & ~((uintptr_t)page - 1));
    if (protected_page && mprotect(page_start, (size_t)page, PROT_READ | PROT_WRITE) != 0)
        return -1;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    if (protected_page)
        mprotect(page_start, (size_t)page, PROT_READ);
    return 1;
}

typedef struct dyn_tables {
    const ElfW(Rela) *rela;
    size_t rela_count;
    const ElfW(Rela) *jmprel;
    size_t jmprel_count;
    const ElfW(Sym) *symtab;
    const char *strtab;
} dyn_tables;

static dyn_tables object_tables(const struct link_map *lm)
{
    dyn_tables t = {0};
    size_t relasz = 0, pltrelsz = 0;
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_RELA: t.rela = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_JMPREL: t.jmprel = (const ElfW(Rela) *)dyn_ptr(lm, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        case DT_SYMTAB: t.symtab = (const ElfW(Sym) *)dyn_ptr(lm, d->d_un.d_ptr); break;
        case DT_STRTAB: t.strtab = (const char *)dyn_ptr(lm, d->d_un.d_ptr); break;
        default: break;
        }
    }
    t.rela_count = t.rela ? relasz / sizeof(ElfW(Rela)) : 0;
    t.jmprel_count = t.jmprel ? pltrelsz / sizeof(ElfW(Rela)) : 0;
    return t;
}

static int patch_relocation(const keel_shim_ns *ns, const struct link_map *lm,
                            const dyn_tables *t, const ElfW(Rela) *r, relro_range relro)
{
    unsigned type = ELF64_R_TYPE(r->r_info);
    uintptr_t *slot = (uintptr_t *)(lm->l_addr + r->r_offset);
    if (type == R_X86_64_GLOB_DAT || type == R_X86_64_64) {
        const shim_object *o = shim_object_containing(ns, *slot);
        if (o == NULL)
            return 0;
        return got_write(slot, o->base_addr + (*slot - o->shim_addr), relro);
    }
    if (type == R_X86_64_TPOFF64 && t->symtab != NULL && t->strtab != NULL) {
        const char *name = t->strtab + t->symtab[ELF64_R_SYM(r->r_info)].st_name;
        if (strcmp(name, "errno") == 0)
            return got_write(slot, (uintptr_t)(ns->shim->errno_tpoff + r->r_addend), relro);
        if (strcmp(name, "__h_errno") == 0)
            return got_write(slot, (uintptr_t)(ns->shim->h_errno_tpoff + r->r_addend), relro);
    }
    return 0;
}

static struct link_map *namespace_head(const keel_shim_ns *ns)
{
    struct link_map *lm = ns->shim_map;
    while (lm->l_prev != NULL)
        lm = lm->l_prev;
    return lm;
}

struct keel_shim_mark {
    size_t count;
    const struct link_map *objects[];   /* sorted */
};

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(const struct link_map *const *)a;
    uintptr_t y = (uintptr_t)*(const struct link_map *const *)b;
    return (x > y) - (x < y);
}

keel_shim_mark *keel_shim_ns_mark(const keel_shim_ns *ns)
{
    size_t n = 0;
    for (struct link_map *lm = namespace_head(ns); lm != NULL; lm = lm->l_next)
        n++;
    keel_shim_mark *m = malloc(sizeof *m + n * sizeof m->objects[0]);
    if (m == NULL)
        return NULL;
    m->count = 0;
    for (struct link_map *lm = namespace_head(ns); lm != NULL && m->count < n; lm = lm->l_next)
        m->objects[m->count++] = lm;
    qsort(m->objects, m->count, sizeof m->objects[0], by_address);
    return m;
}

void keel_shim_mark_free(keel_shim_mark *mark)
{
    free(mark);
}

static int mark_holds(const keel_shim_mark *mark, const struct link_map *lm)
{
    return mark != NULL &&
           bsearch(&lm, mark->objects, mark->count, sizeof mark->objects[0], by_address) != NULL;
}

int keel_shim_ns_patch(keel_shim_ns *ns, const keel_shim_mark *since, keel_error *err)
{
    int changed = 0;
    for (struct link_map *lm = namespace_head(ns); lm != NULL; lm = lm->l_next) {
        if (lm == ns->shim_map || lm->l_ld == NULL || mark_holds(since, lm))
            continue;
        dyn_tables t = object_tables(lm);
        relro_range relro = object_relro(lm);
        const ElfW(Rela) *lists[2] = {t.rela, t.jmprel};
        size_t counts[2] = {t.rela_count, t.jmprel_count};
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < counts[k]; i++) {
                int rc = patch_relocation(ns, lm, &t, &lists[k][i], relro);
                if (rc < 0) {
                    keel_error_set(err, KEEL_ERR_LOAD, "%s: cannot redirect a libc data reference: %s",
                                   lm->l_name, strerror(errno));
                    return -1;
                }
                changed += rc;
            }
    }
    return changed;
}

size_t keel_shim_ns_objects(const keel_shim_ns *ns, char **names)
{
    size_t count = 0, len = 0;
    char *list = NULL;
    for (struct link_map *lm = namespace_head(ns); lm != NULL; lm = lm->l_next) {
        count++;
        if (names == NULL || lm == ns->shim_map)
            continue;
        const char *name = lm->l_name[0] ? lm->l_name : "(unnamed)";
        size_t add = strlen(name) + 2;
        char *grown = realloc(list, len + add + 1);
        if (grown == NULL)
            break;
        list = grown;
        len += (size_t)snprintf(list + len, add + 1, "%s%s", len ? ", " : "", name);
    }
    if (names != NULL)
        *names = list;
    else
        free(list);
    return count;
}

/*
 * shimgen — generates the libc shim that keel loads into every module
 * namespace (see DESIGN.md, decision 2).
 *
 * Input: the libc.so.6 the base links against. Output:
 *   libc_shim.S         every exported function of that libc as a one-jump
 *                       trampoline through a table, every data and TLS
 *                       object as storage of the same size, all with the
 *                       same symbol versions, plus a no-op __libc_early_init;
 *   libc_shim.map       the version script that defines libc's version nodes;
 *   libc_shim_symbols.c the table description the base fills at run time.
 *
 * Usage: shimgen LIBC OUT.S OUT.map OUT.c
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct image {
    const uint8_t *bytes;
    size_t size;
    const char *path;
} image;

typedef struct symbol {
    const char *name;
    const char *version;
    int is_default;   /* name@@version rather than name@version */
    int is_weak;
    int kind;         /* 0 function, 1 data object, 2 TLS object */
    uint64_t size;
} symbol;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("shimgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const void *image_at(const image *img, uint64_t off, uint64_t len)
{
    if (off > img->size || len > img->size - off)
        die("%s: offset %llu+%llu beyond the end of the file", img->path,
            (unsigned long long)off, (unsigned long long)len);
    return img->bytes + off;
}

static image image_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("%s: %s", path, strerror(errno));
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        die("%s: mmap: %s", path, strerror(errno));
    close(fd);
    image img = {p, (size_t)st.st_size, path};
    const Elf64_Ehdr *eh = image_at(&img, 0, sizeof *eh);
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        die("%s: not a 64-bit ELF file", path);
    return img;
}

static const Elf64_Shdr *section_of_type(const image *img, uint32_t type)
{
    const Elf64_Ehdr *eh = image_at(img, 0, sizeof *eh);
    const Elf64_Shdr *sh = image_at(img, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh);
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == type)
            return &sh[i];
    die("%s: no section of type %u", img->path, type);
    return NULL;
}

/* Version index -> name, from SHT_GNU_verdef. Also writes the version
 * script lines (a node per definition, with its parent). */
typedef struct version_table {
    const char *names[512];
} version_table;

static void versions_read(const image *img, version_table *vt, FILE *map)
{
    const Elf64_Shdr *vd_sh = section_of_type(img, SHT_GNU_verdef);
    const Elf64_Ehdr *eh = image_at(img, 0, sizeof *eh);
    const Elf64_Shdr *shdrs = image_at(img, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *shdrs);
    const Elf64_Shdr *str_sh = &shdrs[vd_sh->sh_link];
    const char *strtab = image_at(img, str_sh->sh_offset, str_sh->sh_size);
    uint64_t off = vd_sh->sh_offset;
    for (uint64_t n = 0; n < vd_sh->sh_info; n++) {
        const Elf64_Verdef *vd = image_at(img, off, sizeof *vd);
        const Elf64_Verdaux *aux = image_at(img, off + vd->vd_aux, sizeof *aux);
        if (vd->vd_ndx >= 512)
            die("%s: version index %u too large", img->path, vd->vd_ndx);
        const char *name = strtab + aux->vda_name;
        vt->names[vd->vd_ndx] = name;
        if (!(vd->vd_flags & VER_FLG_BASE)) {
            if (vd->vd_cnt > 1) {
                const Elf64_Verdaux *parent =
                    image_at(img, off + vd->vd_aux + aux->vda_next, sizeof *parent);
                fprintf(map, "%s { } %s;\n", name, strtab + parent->vda_name);
            } else {
                fprintf(map, "%s { };\n", name);
            }
        }
        if (vd->vd_next == 0)
            break;
        off += vd->vd_next;
    }
}

static size_t symbols_read(const image *img, const version_table *vt, symbol **out)
{
    const Elf64_Shdr *ds = section_of_type(img, SHT_DYNSYM);
    const Elf64_Shdr *vs = section_of_type(img, SHT_GNU_versym);
    const Elf64_Ehdr *eh = image_at(img, 0, sizeof *eh);
    const Elf64_Shdr *shdrs = image_at(img, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *shdrs);
    const char *strtab = image_at(img, shdrs[ds->sh_link].sh_offset, shdrs[ds->sh_link].sh_size);
    size_t count = ds->sh_size / sizeof(Elf64_Sym);
    const Elf64_Sym *syms = image_at(img, ds->sh_offset, ds->sh_size);
    const Elf64_Half *versym = image_at(img, vs->sh_offset, count * sizeof(Elf64_Half));
    symbol *list = calloc(count, sizeof *list);
    if (list == NULL)
        die("out of memory");
    size_t n = 0;
    for (size_t i = 1; i < count; i++) {
        const Elf64_Sym *s = &syms[i];
        int bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);
        if (s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
            continue;
        unsigned vidx = versym[i] & 0x7fff;
        const char *name = strtab + s->st_name;
        const char *version = vidx < 512 ? vt->names[vidx] : NULL;
        if (version == NULL)
            die("%s: symbol %s has unknown version index %u", img->path, name, vidx);
        if (s->st_shndx == SHN_ABS && strcmp(name, version) == 0)
            continue; /* the version node's own marker symbol */
        symbol sym = {name, version, !(versym[i] & 0x8000), bind == STB_WEAK, 0, s->st_size};
        if (type == STT_FUNC || type == STT_GNU_IFUNC)
            sym.kind = 0;
        else if (type == STT_OBJECT)
            sym.kind = 1;
        else if (type == STT_TLS)
            sym.kind = 2;
        else
            continue;
        list[n++] = sym;
    }
    *out = list;
    return n;
}

static void emit_symver(FILE *s, const char *local, const symbol *sym)
{
    if (sym->is_weak)
        fprintf(s, "\t.weak %s\n", local);
    else
        fprintf(s, "\t.globl %s\n", local);
    fprintf(s, "\t.symver %s, %s%s%s\n", local, sym->name, sym->is_default ? "@@" : "@",
            sym->version);
}

static void emit_assembly(FILE *s, const symbol *syms, size_t n)
{
    fputs("/* Generated by shimgen: do not edit. */\n", s);
    fputs("\t.section .note.GNU-stack,\"\",@progbits\n", s);
    size_t fn = 0;
    fputs("\t.text\n", s);
    for (size_t i = 0; i < n; i++) {
        const symbol *sym = &syms[i];
        if (sym->kind != 0)
            continue;
        char local[64];
        snprintf(local, sizeof local, "keel_shim_f%zu", i);
        fputs("\t.p2align 3\n", s);
        emit_symver(s, local, sym);
        fprintf(s, "\t.type %s, @function\n%s:\n", local, local);
        if (strcmp(sym->name, "__libc_early_init") == 0)
            fputs("\tret\n", s); /* the base's libc is already initialised */
        else
            fprintf(s, "\tjmp *.Lkeel_table+%zu(%%rip)\n", fn * 8);
        fprintf(s, "\t.size %s, .-%s\n", local, local);
        fn++;
    }
    fputs("\t.data\n\t.p2align 6\n", s);
    fputs("\t.globl keel_shim_table\n\t.type keel_shim_table, @object\n", s);
    fprintf(s, "keel_shim_table:\n.Lkeel_table:\n\t.zero %zu\n\t.size keel_shim_table, %zu\n", fn * 8 + 8,
            fn * 8 + 8);
    for (size_t i = 0; i < n; i++) {
        const symbol *sym = &syms[i];
        if (sym->kind != 1)
            continue;
        char local[64];
        snprintf(local, sizeof local, "keel_shim_d%zu", i);
        uint64_t size = sym->size ? sym->size : 8;
        fputs("\t.p2align 5\n", s);
        emit_symver(s, local, sym);
        fprintf(s, "\t.type %s, @object\n\t.size %s, %llu\n%s:\n\t.zero %llu\n", local, local,
                (unsigned long long)size, local, (unsigned long long)size);
    }
    fputs("\t.section .tbss,\"awT\",@nobits\n", s);
    for (size_t i = 0; i < n; i++) {
        const symbol *sym = &syms[i];
        if (sym->kind != 2)
            continue;
        char local[64];
        snprintf(local, sizeof local, "keel_shim_t%zu", i);
        uint64_t size = sym->size ? sym->size : 8;
        fputs("\t.p2align 3\n", s);
        emit_symver(s, local, sym);
        fprintf(s, "\t.type %s, @tls_object\n\t.size %s, %llu\n%s:\n\t.zero %llu\n", local, local,
                (unsigned long long)size, local, (unsigned long long)size);
    }
}

/* The GNU build-id of libc as lower-case hex, so that the base can tell at
 * start whether the libc it runs on is the one the shim was made from. */
static void build_id_hex(const image *img, char *out, size_t size)
{
    const Elf64_Ehdr *eh = image_at(img, 0, sizeof *eh);
    const Elf64_Shdr *sh = image_at(img, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh);
    out[0] = '\0';
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_NOTE)
            continue;
        uint64_t off = sh[i].sh_offset, end = off + sh[i].sh_size;
        while (off + sizeof(Elf64_Nhdr) <= end) {
            const Elf64_Nhdr *nh = image_at(img, off, sizeof *nh);
            uint64_t name_off = off + sizeof *nh;
            uint64_t desc_off = name_off + ((nh->n_namesz + 3u) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4) {
                const uint8_t *d = image_at(img, desc_off, nh->n_descsz);
                for (uint32_t k = 0; k < nh->n_descsz && 2 * k + 2 < size; k++)
                    snprintf(out + 2 * k, 3, "%02x", d[k]);
                return;
            }
            off = desc_off + ((nh->n_descsz + 3u) & ~3u);
        }
    }
}

static void emit_table(FILE *c, const symbol *syms, size_t n, const image *img)
{
    char build_id[129];
    build_id_hex(img, build_id, sizeof build_id);
    fputs("/* Generated by shimgen: do not edit. */\n#include \"shim_symbols.h\"\n\n", c);
    fprintf(c, "const char keel_shim_libc_path[] = \"%s\";\n", img->path);
    fprintf(c, "const char keel_shim_libc_build_id[] = \"%s\";\n", build_id);
    static const char *kinds[] = {"KEEL_SHIM_FUNCTION", "KEEL_SHIM_DATA", "KEEL_SHIM_TLS"};
    size_t fn = 0;
    fputs("const keel_shim_symbol keel_shim_symbols[] = {\n", c);
    for (size_t i = 0; i < n; i++) {
        const symbol *sym = &syms[i];
        int slot = -1;
        if (sym->kind == 0 && strcmp(sym->name, "__libc_early_init") != 0)
            slot = (int)fn;
        if (sym->kind == 0)
            fn++;
        fprintf(c, "    {\"%s\", \"%s\", %s, %llu, %d, %d},\n", sym->name, sym->version,
                kinds[sym->kind], (unsigned long long)sym->size, slot, sym->is_default);
    }
    fputs("};\n", c);
    fprintf(c, "const size_t keel_shim_symbol_count = %zu;\n", n);
    fprintf(c, "const size_t keel_shim_function_slots = %zu;\n", fn);
}

int main(int argc, char **argv)
{
    if (argc != 5)
        die("usage: shimgen LIBC OUT.S OUT.map OUT.c");
    image img = image_open(argv[1]);
    FILE *map = fopen(argv[3], "w");
    if (map == NULL)
        die("%s: %s", argv[3], strerror(errno));
    version_table vt = {{0}};
    versions_read(&img, &vt, map);
    fputs("KEEL_SHIM { global: keel_shim_table; local: *; };\n", map);
    symbol *syms = NULL;
    size_t n = symbols_read(&img, &vt, &syms);
    FILE *s = fopen(argv[2], "w");
    FILE *c = fopen(argv[4], "w");
    if (s == NULL || c == NULL)
        die("cannot write outputs: %s", strerror(errno));
    emit_assembly(s, syms, n);
    emit_table(c, syms, n, &img);
    if (fclose(s) != 0 || fclose(c) != 0 || fclose(map) != 0)
        die("write failed: %s", strerror(errno));
    free(syms);
    return 0;
}

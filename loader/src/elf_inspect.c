/*
 * elf_inspect.c — reads the ELF headers, the dynamic section and the dynamic
 * symbol table of a shared object without loading it.
 *
 * The file is mapped read-only and every structure is copied out with
 * read_at() after its offset and size were checked against the file size,
 * so a truncated or corrupt file gives a KEEL_ERR_LOAD error and never an
 * over-read or a misaligned access.
 */
#include <keel/elf_inspect.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the host this base runs on ---------------------------------------- */

#if defined(__x86_64__) && defined(__LP64__)
#define HOST_MACHINE EM_X86_64
#define HOST_MACHINE_NAME "x86_64"
#elif defined(__aarch64__) && defined(__LP64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_MACHINE_NAME "aarch64"
#else
#error "keel inspects shared objects for x86_64 and aarch64 (LP64) hosts only"
#endif

#define HOST_CLASS ELFCLASS64
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

typedef Elf64_Ehdr elf_ehdr;
typedef Elf64_Phdr elf_phdr;
typedef Elf64_Shdr elf_shdr;
typedef Elf64_Dyn elf_dyn;
typedef Elf64_Sym elf_sym;
typedef Elf64_Addr elf_addr;
#define ELF_SYM_BIND(info) ELF64_ST_BIND(info)

#ifndef DF_1_PIE
#define DF_1_PIE 0x08000000
#endif

/* Under AddressSanitizer the file is read into the heap instead of mapped,
 * so that ASan reports any read past its end (it does not watch mappings). */
#if defined(__SANITIZE_ADDRESS__)
#define KEEL_ELF_READ_INTO_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_ELF_READ_INTO_HEAP 1
#endif
#endif
#ifndef KEEL_ELF_READ_INTO_HEAP
#define KEEL_ELF_READ_INTO_HEAP 0
#endif

/* ---- the result -------------------------------------------------------- */

struct keel_elf_info {
    char *soname;
    char **needed;
    size_t needed_count;
    unsigned flags;
    int has_tls;
    char **defined; /* sorted with strcmp */
    size_t defined_count;
    char *unique_symbol;
};

/* ---- the mapped file and bounds-checked reads -------------------------- */

typedef struct elf_file {
    const char *path;
    const unsigned char *data;
    size_t size;
    keel_error *err;
} elf_file;

/* A byte range of the file already known to lie inside it. */
typedef struct elf_region {
    uint64_t offset;
    uint64_t size;
} elf_region;

/* What the dynamic section says. */
typedef struct elf_dynamic {
    size_t entries;     /* entries before DT_NULL (or the end) */
    size_t needed_count;
    bool has_soname, has_strtab, has_strsz, has_symtab, has_syment;
    bool has_hash, has_gnu_hash, textrel;
    uint64_t soname, strtab, strsz, symtab, syment, hash, gnu_hash;
    uint64_t flags, flags_1;
} elf_dynamic;

typedef struct elf_parse {
    elf_file file;
    elf_ehdr eh;
    elf_phdr *ph;
    size_t phnum;
    uint64_t shnum;
    elf_region dyn_region;
    elf_dynamic dyn;
    elf_region strtab;
} elf_parse;

static bool range_ok(size_t file_size, uint64_t offset, uint64_t size)
{
    return offset <= file_size && size <= file_size - offset;
}

/* Copies `size` bytes at `offset` into `dst` if they lie inside the file. */
static bool read_at(const elf_file *f, uint64_t offset, void *dst, size_t size)
{
    if (!range_ok(f->size, offset, size))
        return false;
    memcpy(dst, f->data + offset, size);
    return true;
}

/* Copies `size` bytes at `rel` inside `region`, if they lie inside it. */
static bool read_in_region(const elf_file *f, elf_region region, uint64_t rel, void *dst,
                           size_t size)
{
    if (rel > region.size || size > region.size - rel)
        return false;
    return read_at(f, region.offset + rel, dst, size);
}

static keel_status load_error(const elf_file *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records KEEL_ERR_LOAD with "<path>: <message>". */
static keel_status load_error(const elf_file *f, const char *fmt, ...)
{
    char message[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return keel_error_set(f->err, KEEL_ERR_LOAD, "%s: %s", f->path, message);
}

static keel_status nomem_error(const elf_file *f)
{
    return keel_error_set(f->err, KEEL_ERR_NOMEM, "%s: out of memory while inspecting", f->path);
}

static keel_status open_error(const elf_file *f, const char *what, int errnum)
{
    keel_status status = errnum == ENOENT || errnum == ENOTDIR ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO;
    return keel_error_set(f->err, status, "%s: cannot %s: %s", f->path, what, strerror(errnum));
}

/* Reads the whole file into a heap buffer (see KEEL_ELF_READ_INTO_HEAP). */
static keel_status read_into_heap(elf_file *f, int fd, size_t size)
{
    unsigned char *data = malloc(size);
    if (data == NULL)
        return nomem_error(f);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, data + done, size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int errnum = n < 0 ? errno : 0;
            free(data);
            if (errnum != 0)
                return open_error(f, "read", errnum);
            return load_error(f, "truncated (the file shrank to %zu bytes while being read)",
                              done);
        }
        done += (size_t)n;
    }
    f->data = data;
    f->size = size;
    return KEEL_OK;
}

static keel_status map_read_only(elf_file *f, int fd, size_t size)
{
    void *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED)
        return open_error(f, "map", errno);
    f->data = data;
    f->size = size;
    return KEEL_OK;
}

static keel_status map_file(elf_file *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return open_error(f, "open", errno);
    struct stat st;
    keel_status status = KEEL_OK;
    if (fstat(fd, &st) != 0)
        status = open_error(f, "stat", errno);
    else if (!S_ISREG(st.st_mode))
        status = load_error(f, "not a regular file");
    else if (st.st_size == 0)
        status = load_error(f, "not an ELF file (empty file)");
    else if ((uintmax_t)st.st_size > SIZE_MAX)
        status = load_error(f, "file too large to inspect");
    else if (KEEL_ELF_READ_INTO_HEAP)
        status = read_into_heap(f, fd, (size_t)st.st_size);
    else
        status = map_read_only(f, fd, (size_t)st.st_size);
    /* Read-only descriptor: a failing close loses nothing; the data stays. */
    (void)close(fd);
    return status;
}

static void unmap_file(elf_file *f)
{
    if (f->data == NULL)
        return;
    if (KEEL_ELF_READ_INTO_HEAP)
        free((void *)f->data);
    else
        (void)munmap((void *)f->data, f->size);
    f->data = NULL;
}

/* ---- names for messages ------------------------------------------------ */

static const char *class_name(unsigned char elf_class)
{
    switch (elf_class) {
    case ELFCLASS32: return "ELFCLASS32";
    case ELFCLASS64: return "ELFCLASS64";
    case ELFCLASSNONE: return "ELFCLASSNONE";
    }
    return "an unknown ELF class";
}

static const char *data_name(unsigned char data)
{
    switch (data) {
    case ELFDATA2LSB: return "little-endian (ELFDATA2LSB)";
    case ELFDATA2MSB: return "big-endian (ELFDATA2MSB)";
    }
    return "an unknown byte order";
}

static const char *machine_name(unsigned machine)
{
    switch (machine) {
    case EM_386: return "i386";
    case EM_X86_64: return "x86_64";
    case EM_ARM: return "arm";
    case EM_AARCH64: return "aarch64";
    case EM_PPC: return "ppc";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    case EM_MIPS: return "mips";
    case EM_SPARCV9: return "sparcv9";
    case EM_RISCV: return "riscv";
#ifdef EM_LOONGARCH
    case EM_LOONGARCH: return "loongarch";
#endif
    }
    return "unknown";
}

static const char *type_name(unsigned type)
{
    switch (type) {
    case ET_NONE: return "ET_NONE";
    case ET_REL: return "ET_REL";
    case ET_EXEC: return "ET_EXEC";
    case ET_DYN: return "ET_DYN";
    case ET_CORE: return "ET_CORE";
    }
    return NULL;
}

static const char *segment_name(uint32_t type)
{
    switch (type) {
    case PT_LOAD: return "PT_LOAD";
    case PT_DYNAMIC: return "PT_DYNAMIC";
    case PT_INTERP: return "PT_INTERP";
    case PT_NOTE: return "PT_NOTE";
    case PT_PHDR: return "PT_PHDR";
    case PT_TLS: return "PT_TLS";
    case PT_GNU_EH_FRAME: return "PT_GNU_EH_FRAME";
    case PT_GNU_STACK: return "PT_GNU_STACK";
    case PT_GNU_RELRO: return "PT_GNU_RELRO";
    }
    return "other";
}

/* ---- the ELF header ---------------------------------------------------- */

static keel_status check_ident(const elf_file *f)
{
    const unsigned char *ident = f->data;
    if (f->size < SELFMAG || memcmp(ident, ELFMAG, SELFMAG) != 0)
        return load_error(f, "not an ELF file (bad magic)");
    if (f->size < EI_NIDENT)
        return load_error(f, "truncated (the ELF identification needs %d bytes, the file has %zu)",
                          EI_NIDENT, f->size);
    if (ident[EI_CLASS] != HOST_CLASS)
        return load_error(f, "built for %s, this base is %s", class_name(ident[EI_CLASS]),
                          class_name(HOST_CLASS));
    if (ident[EI_DATA] != HOST_DATA)
        return load_error(f, "built for %s, this base is %s", data_name(ident[EI_DATA]),
                          data_name(HOST_DATA));
    if (ident[EI_VERSION] != EV_CURRENT)
        return load_error(f, "unsupported ELF version %u", ident[EI_VERSION]);
    if (ident[EI_OSABI] != ELFOSABI_SYSV && ident[EI_OSABI] != ELFOSABI_GNU)
        return load_error(f, "OS ABI %u is not supported (expected SYSV or GNU/Linux)",
                          ident[EI_OSABI]);
    return KEEL_OK;
}

static keel_status read_elf_header(elf_parse *p)
{
    const elf_file *f = &p->file;
    keel_status status = check_ident(f);
    if (status != KEEL_OK)
        return status;
    if (!read_at(f, 0, &p->eh, sizeof p->eh))
        return load_error(f, "truncated (the ELF header needs %zu bytes, the file has %zu)",
                          sizeof p->eh, f->size);
    if (p->eh.e_machine != HOST_MACHINE)
        return load_error(f, "machine %u (%s) does not match this base (%s)", p->eh.e_machine,
                          machine_name(p->eh.e_machine), HOST_MACHINE_NAME);
    if (p->eh.e_type != ET_DYN) {
        const char *name = type_name(p->eh.e_type);
        if (name != NULL)
            return load_error(f, "%s is not a shared object", name);
        return load_error(f, "ELF type %u is not a shared object", p->eh.e_type);
    }
    return KEEL_OK;
}

/* ---- program and section headers --------------------------------------- */

static keel_status read_program_headers(elf_parse *p)
{
    const elf_file *f = &p->file;
    const elf_ehdr *eh = &p->eh;
    if (eh->e_phnum == 0)
        return load_error(f, "has no program headers");
    if (eh->e_phnum == PN_XNUM)
        return load_error(f, "uses extended program header numbering, which is not supported");
    if (eh->e_phentsize != sizeof(elf_phdr))
        return load_error(f, "malformed (program header size %u, expected %zu)", eh->e_phentsize,
                          sizeof(elf_phdr));
    p->phnum = eh->e_phnum;
    p->ph = calloc(p->phnum, sizeof *p->ph);
    if (p->ph == NULL)
        return nomem_error(f);
    for (size_t i = 0; i < p->phnum; i++) {
        uint64_t offset;
        if (__builtin_add_overflow(eh->e_phoff, (uint64_t)i * sizeof(elf_phdr), &offset) ||
            !read_at(f, offset, &p->ph[i], sizeof p->ph[i]))
            return load_error(f, "truncated (program header %zu lies beyond the end of the "
                              "%zu-byte file)", i, f->size);
    }
    return KEEL_OK;
}

/* Checks that the section header table lies inside the file and records the
 * number of sections (0 when there is no table). */
static keel_status check_section_headers(elf_parse *p)
{
    const elf_file *f = &p->file;
    const elf_ehdr *eh = &p->eh;
    p->shnum = 0;
    if (eh->e_shoff == 0)
        return KEEL_OK;
    if (eh->e_shentsize != sizeof(elf_shdr))
        return load_error(f, "malformed (section header size %u, expected %zu)", eh->e_shentsize,
                          sizeof(elf_shdr));
    uint64_t count = eh->e_shnum;
    if (count == 0) {
        /* Extended numbering: the real count is in section 0's sh_size. */
        elf_shdr first;
        if (!read_at(f, eh->e_shoff, &first, sizeof first))
            return load_error(f, "truncated (section header 0 lies beyond the end of the "
                              "%zu-byte file)", f->size);
        count = first.sh_size;
    }
    uint64_t table_size;
    if (__builtin_mul_overflow(count, (uint64_t)sizeof(elf_shdr), &table_size) ||
        !range_ok(f->size, eh->e_shoff, table_size))
        return load_error(f, "truncated (the section header table of %llu entries at offset "
                          "%llu lies beyond the end of the %zu-byte file)",
                          (unsigned long long)count, (unsigned long long)eh->e_shoff, f->size);
    p->shnum = count;
    return KEEL_OK;
}

/* Checks every segment's file range and records PT_DYNAMIC, PT_TLS and the
 * stack permissions. */
static keel_status scan_segments(elf_parse *p, keel_elf_info *info)
{
    const elf_file *f = &p->file;
    bool have_dynamic = false, have_gnu_stack = false, have_load = false;
    for (size_t i = 0; i < p->phnum; i++) {
        const elf_phdr *ph = &p->ph[i];
        if (ph->p_filesz > 0 && !range_ok(f->size, ph->p_offset, ph->p_filesz))
            return load_error(f, "truncated (segment %zu [%s] lies beyond the end of the "
                              "%zu-byte file)", i, segment_name(ph->p_type), f->size);
        switch (ph->p_type) {
        case PT_LOAD:
            have_load = true;
            break;
        case PT_DYNAMIC:
            if (!have_dynamic) {
                have_dynamic = true;
                p->dyn_region = (elf_region){ ph->p_offset, ph->p_filesz };
            }
            break;
        case PT_TLS:
            info->has_tls = 1;
            break;
        case PT_GNU_STACK:
            have_gnu_stack = true;
            if (ph->p_flags & PF_X)
                info->flags |= KEEL_ELF_EXECSTACK;
            break;
        default:
            break;
        }
    }
    if (!have_load)
        return load_error(f, "has no PT_LOAD segment");
    if (!have_dynamic)
        return load_error(f, "has no PT_DYNAMIC segment (not a dynamically linked object)");
    if (p->dyn_region.size < sizeof(elf_dyn))
        return load_error(f, "malformed (the PT_DYNAMIC segment is empty)");
    /* Without PT_GNU_STACK the dynamic loader makes the stack executable
     * (DEFAULT_STACK_PERMS includes PF_X on x86_64 and aarch64). */
    if (!have_gnu_stack)
        info->flags |= KEEL_ELF_EXECSTACK;
    return KEEL_OK;
}

/* Maps a link-time address to the file bytes of the PT_LOAD segment holding
 * it: from the address to the end of the segment's file part. */
static bool address_to_region(const elf_parse *p, uint64_t address, elf_region *out)
{
    for (size_t i = 0; i < p->phnum; i++) {
        const elf_phdr *ph = &p->ph[i];
        if (ph->p_type != PT_LOAD || address < ph->p_vaddr)
            continue;
        uint64_t delta = address - ph->p_vaddr;
        if (delta >= ph->p_filesz)
            continue;
        *out = (elf_region){ ph->p_offset + delta, ph->p_filesz - delta };
        return true;
    }
    return false;
}

/* ---- the dynamic section ----------------------------------------------- */

static bool read_dyn(const elf_parse *p, size_t i, elf_dyn *out)
{
    return read_in_region(&p->file, p->dyn_region, (uint64_t)i * sizeof(elf_dyn), out,
                          sizeof *out);
}

static void record_dyn(elf_dynamic *d, const elf_dyn *e)
{
    uint64_t v = e->d_un.d_val;
    switch (e->d_tag) {
    case DT_NEEDED: d->needed_count++; break;
    case DT_SONAME: if (!d->has_soname) { d->has_soname = true; d->soname = v; } break;
    case DT_STRTAB: d->has_strtab = true; d->strtab = v; break;
    case DT_STRSZ: d->has_strsz = true; d->strsz = v; break;
    case DT_SYMTAB: d->has_symtab = true; d->symtab = v; break;
    case DT_SYMENT: d->has_syment = true; d->syment = v; break;
    case DT_HASH: d->has_hash = true; d->hash = v; break;
    case DT_GNU_HASH: d->has_gnu_hash = true; d->gnu_hash = v; break;
    case DT_TEXTREL: d->textrel = true; break;
    case DT_FLAGS: d->flags |= v; break;
    case DT_FLAGS_1: d->flags_1 |= v; break;
    default: break;
    }
}

static keel_status read_dynamic(elf_parse *p, keel_elf_info *info)
{
    const elf_file *f = &p->file;
    elf_dynamic *d = &p->dyn;
    size_t capacity = (size_t)(p->dyn_region.size / sizeof(elf_dyn));
    size_t i = 0;
    for (; i < capacity; i++) {
        elf_dyn e;
        if (!read_dyn(p, i, &e))
            return load_error(f, "truncated (dynamic entry %zu lies beyond the end of the "
                              "%zu-byte file)", i, f->size);
        if (e.d_tag == DT_NULL)
            break;
        record_dyn(d, &e);
    }
    d->entries = i;
    if (d->flags_1 & DF_1_PIE)
        return load_error(f, "is a position-independent executable (DF_1_PIE), "
                          "not a shared object");
    if (d->has_syment && d->syment != sizeof(elf_sym))
        return load_error(f, "malformed (DT_SYMENT %llu, expected %zu)",
                          (unsigned long long)d->syment, sizeof(elf_sym));
    if (d->flags_1 & DF_1_NODELETE)
        info->flags |= KEEL_ELF_NODELETE;
    if (d->flags & DF_STATIC_TLS)
        info->flags |= KEEL_ELF_STATIC_TLS;
    if (d->textrel || (d->flags & DF_TEXTREL))
        info->flags |= KEEL_ELF_TEXTREL;
    return KEEL_OK;
}

/* ---- strings ------------------------------------------------------------ */

static keel_status locate_string_table(elf_parse *p)
{
    const elf_file *f = &p->file;
    const elf_dynamic *d = &p->dyn;
    p->strtab = (elf_region){ 0, 0 };
    if (!d->has_strtab) {
        if (d->has_soname || d->needed_count > 0 || d->has_symtab)
            return load_error(f, "malformed (names are used but there is no DT_STRTAB)");
        return KEEL_OK;
    }
    if (!address_to_region(p, d->strtab, &p->strtab))
        return load_error(f, "malformed (DT_STRTAB address 0x%llx is not in a PT_LOAD segment)",
                          (unsigned long long)d->strtab);
    if (d->has_strsz && d->strsz < p->strtab.size)
        p->strtab.size = d->strsz;
    return KEEL_OK;
}

/* Finds the NUL-terminated string at `offset` in the dynamic string table;
 * `what` names its user for the message. */
static keel_status string_at(const elf_parse *p, const char *what, uint64_t offset,
                             const char **out)
{
    const elf_file *f = &p->file;
    if (offset >= p->strtab.size)
        return load_error(f, "malformed (%s name offset %llu lies outside the %llu-byte string "
                          "table)", what, (unsigned long long)offset,
                          (unsigned long long)p->strtab.size);
    const char *s = (const char *)f->data + p->strtab.offset + offset;
    if (memchr(s, '\0', (size_t)(p->strtab.size - offset)) == NULL)
        return load_error(f, "malformed (%s name at offset %llu is not NUL-terminated)", what,
                          (unsigned long long)offset);
    *out = s;
    return KEEL_OK;
}

static keel_status copy_string_at(const elf_parse *p, const char *what, uint64_t offset,
                                  char **out)
{
    const char *s = NULL;
    keel_status status = string_at(p, what, offset, &s);
    if (status != KEEL_OK)
        return status;
    *out = strdup(s);
    return *out != NULL ? KEEL_OK : nomem_error(&p->file);
}

static keel_status collect_names(elf_parse *p, keel_elf_info *info)
{
    const elf_dynamic *d = &p->dyn;
    keel_status status = KEEL_OK;
    if (d->has_soname) {
        status = copy_string_at(p, "DT_SONAME", d->soname, &info->soname);
        if (status != KEEL_OK)
            return status;
    }
    if (d->needed_count == 0)
        return KEEL_OK;
    info->needed = calloc(d->needed_count, sizeof *info->needed);
    if (info->needed == NULL)
        return nomem_error(&p->file);
    for (size_t i = 0; i < d->entries && info->needed_count < d->needed_count; i++) {
        elf_dyn e;
        if (!read_dyn(p, i, &e))
            return load_error(&p->file, "truncated (dynamic entry %zu)", i);
        if (e.d_tag != DT_NEEDED)
            continue;
        status = copy_string_at(p, "DT_NEEDED", e.d_un.d_val, &info->needed[info->needed_count]);
        if (status != KEEL_OK)
            return status;
        info->needed_count++;
    }
    return KEEL_OK;
}

/* ---- the dynamic symbol table ------------------------------------------ */

static keel_status hash_region(const elf_parse *p, const char *tag, uint64_t address,
                               elf_region *out)
{
    if (!address_to_region(p, address, out))
        return load_error(&p->file, "malformed (%s address 0x%llx is not in a PT_LOAD segment)",
                          tag, (unsigned long long)address);
    return KEEL_OK;
}

/* DT_HASH: the symbol count is nchain, the second word. */
static keel_status count_from_hash(const elf_parse *p, uint64_t *count)
{
    elf_region r = {0};
    keel_status status = hash_region(p, "DT_HASH", p->dyn.hash, &r);
    if (status != KEEL_OK)
        return status;
    uint32_t header[2];
    if (!read_in_region(&p->file, r, 0, header, sizeof header))
        return load_error(&p->file, "malformed (DT_HASH table is cut short)");
    *count = header[1];
    return KEEL_OK;
}

/* DT_GNU_HASH: symbols below symoffset are unhashed; the last hashed symbol
 * ends the chain of the highest bucket (its hash value has bit 0 set). */
static keel_status count_from_gnu_hash(const elf_parse *p, uint64_t *count)
{
    const elf_file *f = &p->file;
    elf_region r = {0};
    keel_status status = hash_region(p, "DT_GNU_HASH", p->dyn.gnu_hash, &r);
    if (status != KEEL_OK)
        return status;
    uint32_t header[4]; /* nbuckets, symoffset, bloom_size, bloom_shift */
    if (!read_in_region(f, r, 0, header, sizeof header))
        return load_error(f, "malformed (DT_GNU_HASH header is cut short)");
    uint64_t buckets = sizeof header + (uint64_t)header[2] * sizeof(elf_addr);
    uint64_t chains = buckets + (uint64_t)header[0] * sizeof(uint32_t);
    if (chains > r.size)
        return load_error(f, "malformed (DT_GNU_HASH buckets are cut short)");
    uint32_t last = 0;
    for (uint32_t b = 0; b < header[0]; b++) {
        uint32_t sym;
        if (!read_in_region(f, r, buckets + (uint64_t)b * sizeof sym, &sym, sizeof sym))
            return load_error(f, "malformed (DT_GNU_HASH buckets are cut short)");
        if (sym > last)
            last = sym;
    }
    if (last < header[1]) {
        *count = header[1];
        return KEEL_OK;
    }
    for (uint64_t index = last;; index++) {
        uint32_t hash;
        if (!read_in_region(f, r, chains + (index - header[1]) * sizeof hash, &hash, sizeof hash))
            return load_error(f, "malformed (DT_GNU_HASH chain runs off its segment)");
        if (hash & 1u) {
            *count = index + 1;
            return KEEL_OK;
        }
    }
}

/* No hash table: use the .dynsym section header, if there is one. */
static keel_status count_from_sections(const elf_parse *p, uint64_t *count)
{
    const elf_file *f = &p->file;
    for (uint64_t i = 0; i < p->shnum; i++) {
        elf_shdr sh;
        if (!read_at(f, p->eh.e_shoff + i * sizeof sh, &sh, sizeof sh))
            return load_error(f, "truncated (section header %llu)", (unsigned long long)i);
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_entsize != sizeof(elf_sym))
            return load_error(f, "malformed (.dynsym entry size %llu, expected %zu)",
                              (unsigned long long)sh.sh_entsize, sizeof(elf_sym));
        *count = sh.sh_size / sizeof(elf_sym);
        return KEEL_OK;
    }
    return load_error(f, "malformed (no DT_GNU_HASH, DT_HASH or .dynsym section gives the number "
                      "of dynamic symbols)");
}

static keel_status count_symbols(const elf_parse *p, uint64_t *count)
{
    if (p->dyn.has_gnu_hash)
        return count_from_gnu_hash(p, count);
    if (p->dyn.has_hash)
        return count_from_hash(p, count);
    return count_from_sections(p, count);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Records one defined symbol: its name for keel_elf_defines, and the first
 * STB_GNU_UNIQUE one. */
static keel_status record_symbol(const elf_parse *p, const elf_sym *sym, keel_elf_info *info)
{
    unsigned bind = ELF_SYM_BIND(sym->st_info);
    if (sym->st_shndx == SHN_UNDEF || sym->st_name == 0)
        return KEEL_OK;
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
        return KEEL_OK;
    const char *name = NULL;
    keel_status status = string_at(p, "dynamic symbol", sym->st_name, &name);
    if (status != KEEL_OK)
        return status;
    if (bind == STB_GNU_UNIQUE && info->unique_symbol == NULL) {
        info->flags |= KEEL_ELF_UNIQUE;
        info->unique_symbol = strdup(name);
        if (info->unique_symbol == NULL)
            return nomem_error(&p->file);
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return nomem_error(&p->file);
    info->defined[info->defined_count++] = copy;
    return KEEL_OK;
}

static keel_status collect_symbols(elf_parse *p, keel_elf_info *info)
{
    const elf_file *f = &p->file;
    if (!p->dyn.has_symtab)
        return KEEL_OK;
    elf_region table = {0};
    if (!address_to_region(p, p->dyn.symtab, &table))
        return load_error(f, "malformed (DT_SYMTAB address 0x%llx is not in a PT_LOAD segment)",
                          (unsigned long long)p->dyn.symtab);
    uint64_t count = 0;
    keel_status status = count_symbols(p, &count);
    if (status != KEEL_OK)
        return status;
    if (count > table.size / sizeof(elf_sym))
        return load_error(f, "malformed (%llu dynamic symbols do not fit in their segment)",
                          (unsigned long long)count);
    if (count <= 1)
        return KEEL_OK;
    info->defined = calloc((size_t)count, sizeof *info->defined);
    if (info->defined == NULL)
        return nomem_error(f);
    for (uint64_t i = 1; i < count; i++) { /* symbol 0 is the null symbol */
        elf_sym sym;
        if (!read_in_region(f, table, i * sizeof sym, &sym, sizeof sym))
            return load_error(f, "truncated (dynamic symbol %llu)", (unsigned long long)i);
        status = record_symbol(p, &sym, info);
        if (status != KEEL_OK)
            return status;
    }
    qsort(info->defined, info->defined_count, sizeof *info->defined, compare_names);
    return KEEL_OK;
}

/* ---- the public functions ---------------------------------------------- */

static keel_status inspect_mapped(elf_parse *p, keel_elf_info *info)
{
    keel_status status = read_elf_header(p);
    if (status == KEEL_OK)
        status = read_program_headers(p);
    if (status == KEEL_OK)
        status = check_section_headers(p);
    if (status == KEEL_OK)
        status = scan_segments(p, info);
    if (status == KEEL_OK)
        status = read_dynamic(p, info);
    if (status == KEEL_OK)
        status = locate_string_table(p);
    if (status == KEEL_OK)
        status = collect_names(p, info);
    if (status == KEEL_OK)
        status = collect_symbols(p, info);
    return status;
}

keel_status keel_elf_inspect(const char *path, keel_elf_info **out, keel_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "keel_elf_inspect: %s is NULL",
                              path == NULL ? "path" : "out");
    elf_parse p = { .file = { .path = path, .err = err } };
    keel_status status = map_file(&p.file);
    if (status != KEEL_OK)
        return status;
    keel_elf_info *info = calloc(1, sizeof *info);
    if (info == NULL)
        status = nomem_error(&p.file);
    else
        status = inspect_mapped(&p, info);
    free(p.ph);
    unmap_file(&p.file);
    if (status != KEEL_OK) {
        keel_elf_info_destroy(info);
        return status;
    }
    *out = info;
    return KEEL_OK;
}

static void free_strings(char **strings, size_t count)
{
    if (strings == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

void keel_elf_info_destroy(keel_elf_info *info)
{
    if (info == NULL)
        return;
    free(info->soname);
    free_strings(info->needed, info->needed_count);
    free_strings(info->defined, info->defined_count);
    free(info->unique_symbol);
    free(info);
}

const char *keel_elf_soname(const keel_elf_info *info)
{
    return info != NULL ? info->soname : NULL;
}

size_t keel_elf_needed_count(const keel_elf_info *info)
{
    return info != NULL ? info->needed_count : 0;
}

const char *keel_elf_needed(const keel_elf_info *info, size_t i)
{
    if (info == NULL || i >= info->needed_count)
        return NULL;
    return info->needed[i];
}

unsigned keel_elf_flags(const keel_elf_info *info)
{
    return info != NULL ? info->flags : 0;
}

int keel_elf_has_tls(const keel_elf_info *info)
{
    return info != NULL && info->has_tls;
}

int keel_elf_defines(const keel_elf_info *info, const char *name)
{
    if (info == NULL || name == NULL || info->defined_count == 0)
        return 0;
    return bsearch(&name, info->defined, info->defined_count, sizeof *info->defined,
                   compare_names) != NULL;
}

const char *keel_elf_unique_symbol(const keel_elf_info *info)
{
    if (info == NULL || !(info->flags & KEEL_ELF_UNIQUE))
        return NULL;
    return info->unique_symbol;
}

/* Appends `text` to the NUL-terminated `buf`, truncating at `size`. */
static void append_text(char *buf, size_t size, size_t *len, const char *text)
{
    int n = snprintf(buf + *len, size - *len, "%s", text);
    if (n < 0)
        return;
    *len = (size_t)n < size - *len ? *len + (size_t)n : size - 1;
}

const char *keel_elf_flags_describe(unsigned flags, char *buf, size_t size)
{
    static const struct {
        unsigned flag;
        const char *text;
    } names[] = {
        { KEEL_ELF_NODELETE, "DF_1_NODELETE" },
        { KEEL_ELF_UNIQUE, "STB_GNU_UNIQUE symbol" },
        { KEEL_ELF_STATIC_TLS, "DF_STATIC_TLS" },
        { KEEL_ELF_TEXTREL, "text relocations" },
        { KEEL_ELF_EXECSTACK, "executable stack" },
    };
    if (buf == NULL || size == 0)
        return buf;
    size_t len = 0;
    buf[0] = '\0';
    if (flags == 0) {
        append_text(buf, size, &len, "none");
        return buf;
    }
    unsigned known = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        known |= names[i].flag;
        if (!(flags & names[i].flag))
            continue;
        if (len > 0)
            append_text(buf, size, &len, ", ");
        append_text(buf, size, &len, names[i].text);
    }
    if (flags & ~known) {
        char unknown[32];
        snprintf(unknown, sizeof unknown, "unknown 0x%x", flags & ~known);
        if (len > 0)
            append_text(buf, size, &len, ", ");
        append_text(buf, size, &len, unknown);
    }
    return buf;
}

/*
 * test_elf.c — keel_elf_inspect on real shared objects built as fixtures
 * (tests/fixtures), on damaged copies of them and on files that are not
 * shared objects at all.
 */
#include <keel/elf_inspect.h>

#include <check.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KEEL_FIXTURE_DIR
#error "KEEL_FIXTURE_DIR must name the build directory of tests/fixtures"
#endif

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define OTHER_MACHINE EM_AARCH64
#define OTHER_MACHINE_TEXT "machine 183 (aarch64) does not match this base (x86_64)"
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define OTHER_MACHINE EM_X86_64
#define OTHER_MACHINE_TEXT "machine 62 (x86_64) does not match this base (aarch64)"
#else
#error "unsupported host"
#endif

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[PATH_MAX];

static void fixture_path(const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", KEEL_FIXTURE_DIR, name);
    ck_assert(n > 0 && (size_t)n < size);
}

static void temp_path(const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", tmpdir, name);
    ck_assert(n > 0 && (size_t)n < size);
}

static unsigned char *read_whole(const char *path, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "cannot open fixture %s", path);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert(st.st_size > 0);
    unsigned char *data = malloc((size_t)st.st_size);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(pread(fd, data, (size_t)st.st_size, 0), st.st_size);
    ck_assert_int_eq(close(fd), 0);
    *size = (size_t)st.st_size;
    return data;
}

static void write_whole(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "cannot create %s", path);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    ck_assert_int_eq(close(fd), 0);
}

static unsigned char *read_plain(size_t *size)
{
    char path[PATH_MAX];
    fixture_path("libfixture_plain.so", path, sizeof path);
    return read_whole(path, size);
}

static Elf64_Ehdr header_of(const unsigned char *data, size_t size)
{
    Elf64_Ehdr eh;
    ck_assert(size >= sizeof eh);
    memcpy(&eh, data, sizeof eh);
    return eh;
}

static Elf64_Phdr program_header(const unsigned char *data, size_t size, size_t i)
{
    Elf64_Ehdr eh = header_of(data, size);
    Elf64_Phdr ph;
    ck_assert(i < eh.e_phnum);
    ck_assert(eh.e_phoff + (i + 1) * sizeof ph <= size);
    memcpy(&ph, data + eh.e_phoff + i * sizeof ph, sizeof ph);
    return ph;
}

/* The file offset of the first dynamic entry tagged `tag`. */
static size_t dynamic_entry_offset(const unsigned char *data, size_t size, int64_t tag)
{
    Elf64_Ehdr eh = header_of(data, size);
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = program_header(data, size, i);
        if (ph.p_type != PT_DYNAMIC)
            continue;
        ck_assert(ph.p_offset + ph.p_filesz <= size);
        for (size_t at = ph.p_offset; at + sizeof(Elf64_Dyn) <= ph.p_offset + ph.p_filesz;
             at += sizeof(Elf64_Dyn)) {
            Elf64_Dyn d;
            memcpy(&d, data + at, sizeof d);
            if (d.d_tag == tag)
                return at;
            if (d.d_tag == DT_NULL)
                break;
        }
    }
    ck_abort_msg("no dynamic entry with tag %lld", (long long)tag);
    return 0;
}

/* Rewrites the dynamic entry tagged `tag` as {new_tag, value}. */
static void patch_dynamic_entry(unsigned char *data, size_t size, int64_t tag, int64_t new_tag,
                                uint64_t value)
{
    size_t at = dynamic_entry_offset(data, size, tag);
    Elf64_Dyn d = { .d_tag = new_tag, .d_un.d_val = value };
    memcpy(data + at, &d, sizeof d);
}

/* Inspects a fixture that must be accepted. */
static keel_elf_info *inspect_fixture(const char *name)
{
    char path[PATH_MAX];
    fixture_path(name, path, sizeof path);
    keel_error err = { 0 };
    keel_elf_info *info = NULL;
    keel_status status = keel_elf_inspect(path, &info, &err);
    ck_assert_msg(status == KEEL_OK, "%s: status %d: %s", name, status, err.message);
    ck_assert_ptr_nonnull(info);
    return info;
}

/* Inspects `path`, which must be refused with `expected`; checks that the
 * message is one line naming the path and containing `text`. */
static void expect_refused(const char *path, keel_status expected, const char *text)
{
    keel_error err = { 0 };
    keel_elf_info *info = (keel_elf_info *)&err; /* must be overwritten */
    keel_status status = keel_elf_inspect(path, &info, &err);
    ck_assert_msg(status == expected, "%s: status %d, expected %d (%s)", path, status, expected,
                  err.message);
    ck_assert_int_eq(err.status, expected);
    ck_assert_ptr_null(info);
    ck_assert_msg(strstr(err.message, path) == err.message, "message does not start with the path: %s",
                  err.message);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    if (text != NULL)
        ck_assert_msg(strstr(err.message, text) != NULL, "message lacks \"%s\": %s", text,
                      err.message);
}

/* Writes a copy of the plain fixture with `patch` applied and returns its
 * path in `path`. */
static void write_patched_plain(const char *name, size_t offset, const void *patch, size_t len,
                                char *path, size_t path_size)
{
    size_t size;
    unsigned char *data = read_plain(&size);
    ck_assert(offset + len <= size);
    memcpy(data + offset, patch, len);
    temp_path(name, path, path_size);
    write_whole(path, data, size);
    free(data);
}

static void make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(tmpdir, sizeof tmpdir, "%s/keel-test-elf-XXXXXX",
                     base != NULL && base[0] != '\0' ? base : "/tmp");
    ck_assert(n > 0 && (size_t)n < sizeof tmpdir);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *dir = opendir(tmpdir);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", tmpdir, entry->d_name);
        if (n > 0 && (size_t)n < sizeof path && unlink(path) != 0)
            perror(path);
    }
    closedir(dir);
    if (rmdir(tmpdir) != 0)
        perror(tmpdir);
}

/* A small deterministic generator (xorshift64*), so runs are reproducible. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* ---- well-formed fixtures ---------------------------------------------- */

START_TEST(test_plain_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_plain.so");
    ck_assert_pstr_eq(keel_elf_soname(info), "libplain.so.1");
    size_t count = keel_elf_needed_count(info);
    ck_assert_uint_ge(count, 1);
    int has_libm = 0;
    for (size_t i = 0; i < count; i++) {
        ck_assert_ptr_nonnull(keel_elf_needed(info, i));
        if (strcmp(keel_elf_needed(info, i), "libm.so.6") == 0)
            has_libm = 1;
    }
    ck_assert_msg(has_libm, "DT_NEEDED lacks libm.so.6");
    ck_assert_ptr_null(keel_elf_needed(info, count));
    ck_assert_int_ne(keel_elf_has_tls(info), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_plain_fn"), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_plain_tls"), 0);
    ck_assert_int_eq(keel_elf_defines(info, "keel_no_such_symbol"), 0);
    ck_assert_int_eq(keel_elf_defines(info, ""), 0);
    ck_assert_int_eq(keel_elf_defines(info, NULL), 0);
    /* cbrt is imported from libm, not defined here */
    ck_assert_int_eq(keel_elf_defines(info, "cbrt"), 0);
    ck_assert_uint_eq(keel_elf_flags(info), 0);
    ck_assert_ptr_null(keel_elf_unique_symbol(info));
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_nodelete_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_nodelete.so");
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_NODELETE);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_nodelete_fn"), 0);
    ck_assert_int_eq(keel_elf_has_tls(info), 0);
    ck_assert_pstr_eq(keel_elf_soname(info), "libfixture_nodelete.so");
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_unique_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_unique.so");
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_UNIQUE);
    ck_assert_pstr_eq(keel_elf_unique_symbol(info), "keel_fixture_unique_sym");
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_unique_sym"), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_unique_fn"), 0);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_static_tls_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_static_tls.so");
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_STATIC_TLS);
    ck_assert_int_ne(keel_elf_has_tls(info), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_ie_tls"), 0);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_execstack_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_execstack.so");
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_EXECSTACK);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_execstack_fn"), 0);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_textrel_fixture)
{
    keel_elf_info *info = inspect_fixture("libfixture_textrel.so");
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_TEXTREL);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_textrel_ref"), 0);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_sysv_hash_fixture)
{
    /* only DT_HASH gives the symbol count here */
    keel_elf_info *info = inspect_fixture("libfixture_sysv_hash.so");
    ck_assert_uint_eq(keel_elf_flags(info), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_sysv_hash_fn"), 0);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_sysv_hash_data"), 0);
    ck_assert_int_eq(keel_elf_defines(info, "keel_fixture_plain_fn"), 0);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_not_elf)
{
    char path[PATH_MAX];
    fixture_path("not_elf.so", path, sizeof path);
    expect_refused(path, KEEL_ERR_LOAD, ": not an ELF file (bad magic)");
}
END_TEST

START_TEST(test_missing_file)
{
    char path[PATH_MAX];
    fixture_path("libdoes_not_exist.so", path, sizeof path);
    expect_refused(path, KEEL_ERR_NOT_FOUND, "No such file");
}
END_TEST

START_TEST(test_directory)
{
    expect_refused(KEEL_FIXTURE_DIR, KEEL_ERR_LOAD, "not a regular file");
}
END_TEST

START_TEST(test_running_executable)
{
    /* The test program is an executable: ET_EXEC, or ET_DYN with DF_1_PIE. */
    expect_refused("/proc/self/exe", KEEL_ERR_LOAD, "not a shared object");
}
END_TEST

START_TEST(test_invalid_arguments)
{
    keel_error err = { 0 };
    keel_elf_info *info = (keel_elf_info *)&err;
    ck_assert_int_eq(keel_elf_inspect(NULL, &info, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(info);
    ck_assert_ptr_nonnull(strstr(err.message, "path"));
    char path[PATH_MAX];
    fixture_path("libfixture_plain.so", path, sizeof path);
    ck_assert_int_eq(keel_elf_inspect(path, NULL, &err), KEEL_ERR_INVALID);
    /* a NULL error is allowed */
    ck_assert_int_eq(keel_elf_inspect(path, &info, NULL), KEEL_OK);
    keel_elf_info_destroy(info);
}
END_TEST

START_TEST(test_null_info)
{
    keel_elf_info_destroy(NULL);
    ck_assert_ptr_null(keel_elf_soname(NULL));
    ck_assert_uint_eq(keel_elf_needed_count(NULL), 0);
    ck_assert_ptr_null(keel_elf_needed(NULL, 0));
    ck_assert_uint_eq(keel_elf_flags(NULL), 0);
    ck_assert_int_eq(keel_elf_has_tls(NULL), 0);
    ck_assert_int_eq(keel_elf_defines(NULL, "x"), 0);
    ck_assert_ptr_null(keel_elf_unique_symbol(NULL));
}
END_TEST

START_TEST(test_flags_describe)
{
    char buf[256];
    ck_assert_str_eq(keel_elf_flags_describe(0, buf, sizeof buf), "none");
    ck_assert_ptr_eq(keel_elf_flags_describe(KEEL_ELF_NODELETE, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "DF_1_NODELETE");
    ck_assert_str_eq(keel_elf_flags_describe(KEEL_ELF_NODELETE | KEEL_ELF_UNIQUE, buf, sizeof buf),
                     "DF_1_NODELETE, STB_GNU_UNIQUE symbol");
    ck_assert_str_eq(keel_elf_flags_describe(KEEL_ELF_STATIC_TLS | KEEL_ELF_TEXTREL |
                                             KEEL_ELF_EXECSTACK, buf, sizeof buf),
                     "DF_STATIC_TLS, text relocations, executable stack");
    ck_assert_str_eq(keel_elf_flags_describe(1u << 9, buf, sizeof buf), "unknown 0x200");
    /* truncation keeps a NUL-terminated prefix */
    char small[8];
    memset(small, 'x', sizeof small);
    keel_elf_flags_describe(KEEL_ELF_NODELETE | KEEL_ELF_UNIQUE, small, sizeof small);
    ck_assert_str_eq(small, "DF_1_NO");
    char one = 'x';
    ck_assert_str_eq(keel_elf_flags_describe(KEEL_ELF_NODELETE, &one, 1), "");
    char untouched = 'x';
    keel_elf_flags_describe(KEEL_ELF_NODELETE, &untouched, 0);
    ck_assert_int_eq(untouched, 'x');
}
END_TEST

/* ---- damaged copies of the plain fixture ------------------------------- */

START_TEST(test_wrong_class)
{
    char path[PATH_MAX];
    unsigned char elf_class = ELFCLASS32;
    write_patched_plain("class32.so", EI_CLASS, &elf_class, 1, path, sizeof path);
    expect_refused(path, KEEL_ERR_LOAD, ": built for ELFCLASS32, this base is ELFCLASS64");
}
END_TEST

START_TEST(test_wrong_byte_order)
{
    char path[PATH_MAX];
    unsigned char data = ELFDATA2MSB;
    write_patched_plain("msb.so", EI_DATA, &data, 1, path, sizeof path);
    expect_refused(path, KEEL_ERR_LOAD, "built for big-endian");
}
END_TEST

START_TEST(test_wrong_machine)
{
    char path[PATH_MAX];
    uint16_t machine = OTHER_MACHINE;
    write_patched_plain("machine.so", offsetof(Elf64_Ehdr, e_machine), &machine, sizeof machine,
                        path, sizeof path);
    expect_refused(path, KEEL_ERR_LOAD, OTHER_MACHINE_TEXT);
}
END_TEST

START_TEST(test_exec_type)
{
    char path[PATH_MAX];
    uint16_t type = ET_EXEC;
    write_patched_plain("exec.so", offsetof(Elf64_Ehdr, e_type), &type, sizeof type, path,
                        sizeof path);
    expect_refused(path, KEEL_ERR_LOAD, ": ET_EXEC is not a shared object");
}
END_TEST

START_TEST(test_truncated_program_header)
{
    size_t size;
    unsigned char *data = read_plain(&size);
    Elf64_Ehdr eh = header_of(data, size);
    ck_assert_uint_gt(eh.e_phnum, 4);
    size_t cut = eh.e_phoff + 3 * sizeof(Elf64_Phdr) + 10;
    char path[PATH_MAX];
    temp_path("cut.so", path, sizeof path);
    write_whole(path, data, cut);
    char expected[128];
    snprintf(expected, sizeof expected,
             ": truncated (program header 3 lies beyond the end of the %zu-byte file)", cut);
    expect_refused(path, KEEL_ERR_LOAD, expected);
    free(data);
}
END_TEST

START_TEST(test_truncated_prefixes)
{
    size_t size;
    unsigned char *data = read_plain(&size);
    Elf64_Ehdr eh = header_of(data, size);
    /* GNU ld puts the section header table last, so every strict prefix
     * lacks part of it (or more) and must be refused. */
    ck_assert_uint_eq(eh.e_shoff + (size_t)eh.e_shnum * sizeof(Elf64_Shdr), size);
    char path[PATH_MAX];
    temp_path("prefix.so", path, sizeof path);
    size_t headers_end = eh.e_phoff + (size_t)eh.e_phnum * sizeof(Elf64_Phdr);
    size_t tried = 0;
    for (size_t len = 0; len < size; len++) {
        int every_byte = len <= headers_end + 8;
        int spread = len % (size / 64 + 1) == 0;
        if (!every_byte && !spread && len != size - 1)
            continue;
        write_whole(path, data, len);
        expect_refused(path, KEEL_ERR_LOAD, NULL);
        tried++;
    }
    ck_assert_uint_gt(tried, headers_end + 64);
    write_whole(path, data, size);
    keel_error err = { 0 };
    keel_elf_info *info = NULL;
    ck_assert_int_eq(keel_elf_inspect(path, &info, &err), KEEL_OK);
    keel_elf_info_destroy(info);
    free(data);
}
END_TEST

/* The byte ranges worth damaging: ELF and program headers, the first
 * PT_LOAD (hash tables, .dynsym, .dynstr) and the dynamic section. */
typedef struct byte_range {
    size_t offset, size;
} byte_range;

static size_t fuzz_ranges(const unsigned char *data, size_t size, byte_range ranges[3])
{
    Elf64_Ehdr eh = header_of(data, size);
    size_t n = 0;
    ranges[n++] = (byte_range){ 0, eh.e_phoff + (size_t)eh.e_phnum * sizeof(Elf64_Phdr) };
    int have_load = 0, have_dynamic = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = program_header(data, size, i);
        ck_assert(ph.p_offset + ph.p_filesz <= size);
        if (ph.p_type == PT_LOAD && !have_load) {
            have_load = 1;
            ranges[n++] = (byte_range){ ph.p_offset, ph.p_filesz };
        } else if (ph.p_type == PT_DYNAMIC && !have_dynamic) {
            have_dynamic = 1;
            ranges[n++] = (byte_range){ ph.p_offset, ph.p_filesz };
        }
    }
    ck_assert(have_load && have_dynamic);
    return n;
}

/* Calls every accessor, so that ASan sees any bad pointer in a result. */
static void use_info(const keel_elf_info *info)
{
    char buf[128];
    const char *soname = keel_elf_soname(info);
    if (soname != NULL)
        ck_assert_uint_lt(strlen(soname), 1u << 20);
    for (size_t i = 0; i < keel_elf_needed_count(info); i++)
        ck_assert_ptr_nonnull(keel_elf_needed(info, i));
    (void)keel_elf_defines(info, "keel_fixture_plain_fn");
    (void)keel_elf_has_tls(info);
    const char *unique = keel_elf_unique_symbol(info);
    if (unique != NULL)
        ck_assert_uint_lt(strlen(unique), 1u << 20);
    keel_elf_flags_describe(keel_elf_flags(info), buf, sizeof buf);
}

START_TEST(test_fuzz_flipped_bytes)
{
    size_t size;
    unsigned char *original = read_plain(&size);
    unsigned char *work = malloc(size);
    ck_assert_ptr_nonnull(work);
    byte_range ranges[3];
    size_t range_count = fuzz_ranges(original, size, ranges);
    char path[PATH_MAX];
    temp_path("fuzz.so", path, sizeof path);
    rng_state = 0x6b65656c2d656c66ULL; /* fixed seed: "keel-elf" */
    int accepted = 0, refused = 0;
    for (int iteration = 0; iteration < 2000; iteration++) {
        memcpy(work, original, size);
        int flips = 1 + (int)(rng_next() % 4);
        for (int f = 0; f < flips; f++) {
            const byte_range *r = &ranges[rng_next() % range_count];
            size_t at = r->offset + (size_t)(rng_next() % r->size);
            work[at] ^= (unsigned char)(1 + rng_next() % 255);
        }
        write_whole(path, work, size);
        keel_error err = { 0 };
        keel_elf_info *info = NULL;
        keel_status status = keel_elf_inspect(path, &info, &err);
        if (status == KEEL_OK) {
            accepted++;
            use_info(info);
            keel_elf_info_destroy(info);
            continue;
        }
        refused++;
        ck_assert_msg(status == KEEL_ERR_LOAD, "iteration %d: status %d (%s)", iteration, status,
                      err.message);
        ck_assert_ptr_null(info);
        ck_assert(strstr(err.message, path) == err.message);
        ck_assert(strchr(err.message, '\n') == NULL);
    }
    /* both outcomes must occur, or the loop tested nothing */
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(refused, 0);
    free(work);
    free(original);
}
END_TEST

START_TEST(test_symbols_from_section_headers)
{
    /* Without DT_GNU_HASH (retagged as DT_DEBUG) the .dynsym section header
     * gives the symbol count. */
    size_t size;
    unsigned char *data = read_plain(&size);
    patch_dynamic_entry(data, size, DT_GNU_HASH, DT_DEBUG, 0);
    char path[PATH_MAX];
    temp_path("nohash.so", path, sizeof path);
    write_whole(path, data, size);
    keel_error err = { 0 };
    keel_elf_info *info = NULL;
    ck_assert_msg(keel_elf_inspect(path, &info, &err) == KEEL_OK, "%s", err.message);
    ck_assert_int_ne(keel_elf_defines(info, "keel_fixture_plain_fn"), 0);
    ck_assert_int_eq(keel_elf_defines(info, "cbrt"), 0);
    keel_elf_info_destroy(info);

    /* and without section headers nothing does */
    uint64_t no_sections = 0;
    memcpy(data + offsetof(Elf64_Ehdr, e_shoff), &no_sections, sizeof no_sections);
    write_whole(path, data, size);
    expect_refused(path, KEEL_ERR_LOAD, "number of dynamic symbols");
    free(data);
}
END_TEST

START_TEST(test_needed_outside_string_table)
{
    size_t size;
    unsigned char *data = read_plain(&size);
    patch_dynamic_entry(data, size, DT_NEEDED, DT_NEEDED, 0x7fffffff);
    char path[PATH_MAX];
    temp_path("needed.so", path, sizeof path);
    write_whole(path, data, size);
    expect_refused(path, KEEL_ERR_LOAD, "DT_NEEDED name offset 2147483647 lies outside");
    free(data);
}
END_TEST

START_TEST(test_string_table_size_respected)
{
    /* DT_STRSZ cut to end inside the soname: it is no longer terminated
     * within the string table. */
    size_t size;
    unsigned char *data = read_plain(&size);
    Elf64_Dyn soname;
    memcpy(&soname, data + dynamic_entry_offset(data, size, DT_SONAME), sizeof soname);
    patch_dynamic_entry(data, size, DT_STRSZ, DT_STRSZ, soname.d_un.d_val + 3);
    char path[PATH_MAX];
    temp_path("strsz.so", path, sizeof path);
    write_whole(path, data, size);
    expect_refused(path, KEEL_ERR_LOAD, "DT_SONAME name at offset");
    free(data);
}
END_TEST

START_TEST(test_flags_from_patched_dynamic)
{
    /* DT_FLAGS_1 and DT_FLAGS written over the DT_SONAME entry */
    size_t size;
    unsigned char *data = read_plain(&size);
    patch_dynamic_entry(data, size, DT_SONAME, DT_FLAGS_1, DF_1_NODELETE);
    char path[PATH_MAX];
    temp_path("flags1.so", path, sizeof path);
    write_whole(path, data, size);
    keel_error err = { 0 };
    keel_elf_info *info = NULL;
    ck_assert_msg(keel_elf_inspect(path, &info, &err) == KEEL_OK, "%s", err.message);
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_NODELETE);
    ck_assert_ptr_null(keel_elf_soname(info));
    keel_elf_info_destroy(info);

    patch_dynamic_entry(data, size, DT_FLAGS_1, DT_FLAGS, DF_TEXTREL | DF_STATIC_TLS);
    write_whole(path, data, size);
    ck_assert_msg(keel_elf_inspect(path, &info, &err) == KEEL_OK, "%s", err.message);
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_TEXTREL | KEEL_ELF_STATIC_TLS);
    keel_elf_info_destroy(info);

    patch_dynamic_entry(data, size, DT_FLAGS, DT_FLAGS_1, DF_1_PIE);
    write_whole(path, data, size);
    expect_refused(path, KEEL_ERR_LOAD, "DF_1_PIE");
    free(data);
}
END_TEST

START_TEST(test_missing_gnu_stack)
{
    /* Without PT_GNU_STACK the dynamic loader makes the stack executable. */
    size_t size;
    unsigned char *data = read_plain(&size);
    Elf64_Ehdr eh = header_of(data, size);
    int patched = 0;
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = program_header(data, size, i);
        if (ph.p_type != PT_GNU_STACK)
            continue;
        ph.p_type = PT_NULL;
        memcpy(data + eh.e_phoff + i * sizeof ph, &ph, sizeof ph);
        patched = 1;
    }
    ck_assert(patched);
    char path[PATH_MAX];
    temp_path("nostack.so", path, sizeof path);
    write_whole(path, data, size);
    keel_error err = { 0 };
    keel_elf_info *info = NULL;
    ck_assert_msg(keel_elf_inspect(path, &info, &err) == KEEL_OK, "%s", err.message);
    ck_assert_uint_eq(keel_elf_flags(info), KEEL_ELF_EXECSTACK);
    keel_elf_info_destroy(info);
    free(data);
}
END_TEST

START_TEST(test_empty_file)
{
    char path[PATH_MAX];
    temp_path("empty.so", path, sizeof path);
    write_whole(path, "", 0);
    expect_refused(path, KEEL_ERR_LOAD, "not an ELF file");
}
END_TEST

START_TEST(test_no_dynamic_segment)
{
    size_t size;
    unsigned char *data = read_plain(&size);
    Elf64_Ehdr eh = header_of(data, size);
    for (size_t i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph = program_header(data, size, i);
        if (ph.p_type != PT_DYNAMIC)
            continue;
        ph.p_type = PT_NULL;
        memcpy(data + eh.e_phoff + i * sizeof ph, &ph, sizeof ph);
    }
    char path[PATH_MAX];
    temp_path("nodyn.so", path, sizeof path);
    write_whole(path, data, size);
    expect_refused(path, KEEL_ERR_LOAD, "no PT_DYNAMIC");
    free(data);
}
END_TEST

static Suite *elf_suite(void)
{
    Suite *s = suite_create("elf");

    TCase *fixtures = tcase_create("fixtures");
    tcase_add_test(fixtures, test_plain_fixture);
    tcase_add_test(fixtures, test_nodelete_fixture);
    tcase_add_test(fixtures, test_unique_fixture);
    tcase_add_test(fixtures, test_static_tls_fixture);
    tcase_add_test(fixtures, test_execstack_fixture);
    tcase_add_test(fixtures, test_textrel_fixture);
    tcase_add_test(fixtures, test_sysv_hash_fixture);
    tcase_add_test(fixtures, test_not_elf);
    tcase_add_test(fixtures, test_missing_file);
    tcase_add_test(fixtures, test_directory);
    tcase_add_test(fixtures, test_running_executable);
    tcase_add_test(fixtures, test_invalid_arguments);
    tcase_add_test(fixtures, test_null_info);
    tcase_add_test(fixtures, test_flags_describe);
    suite_add_tcase(s, fixtures);

    TCase *damaged = tcase_create("damaged");
    tcase_add_checked_fixture(damaged, make_tmpdir, remove_tmpdir);
    tcase_set_timeout(damaged, 120);
    tcase_add_test(damaged, test_wrong_class);
    tcase_add_test(damaged, test_wrong_byte_order);
    tcase_add_test(damaged, test_wrong_machine);
    tcase_add_test(damaged, test_exec_type);
    tcase_add_test(damaged, test_truncated_program_header);
    tcase_add_test(damaged, test_truncated_prefixes);
    tcase_add_test(damaged, test_fuzz_flipped_bytes);
    tcase_add_test(damaged, test_symbols_from_section_headers);
    tcase_add_test(damaged, test_needed_outside_string_table);
    tcase_add_test(damaged, test_string_table_size_respected);
    tcase_add_test(damaged, test_flags_from_patched_dynamic);
    tcase_add_test(damaged, test_missing_gnu_stack);
    tcase_add_test(damaged, test_empty_file);
    tcase_add_test(damaged, test_no_dynamic_segment);
    suite_add_tcase(s, damaged);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(elf_suite());
    srunner_run_all(runner, CK_ENV);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

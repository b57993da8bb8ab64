/*
 * Unit tests of keel/bundle.h: packing, extracting, and refusing every kind
 * of unsafe or corrupt bundle without leaving anything behind.
 *
 * Good bundles are made with keel_bundle_pack from a temporary module
 * directory; hostile ones are written entry by entry with libarchive here.
 */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <keel/bundle.h>

/* ---- workspace --------------------------------------------------------------------- */

static char g_root[PATH_MAX];     /* per-test temporary directory */
static char g_module[PATH_MAX];   /* a module directory to pack */
static char g_bundle[PATH_MAX];   /* the bundle under test */
static char g_out[PATH_MAX];      /* the parent of every destination */
static char g_dest[PATH_MAX];     /* the destination directory */

static void path_join(char *buf, const char *a, const char *b)
{
    int n = snprintf(buf, PATH_MAX, "%s/%s", a, b);
    ck_assert(n > 0 && n < PATH_MAX);
}

static void workspace_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/keel-test-bundle-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
    path_join(g_module, g_root, "module");
    path_join(g_bundle, g_root, "greeter.keel");
    path_join(g_out, g_root, "out");
    path_join(g_dest, g_out, "greeter");
    ck_assert_int_eq(mkdir(g_module, 0755), 0);
    ck_assert_int_eq(mkdir(g_out, 0755), 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static void workspace_teardown(void)
{
    nftw(g_root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- files ------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t size, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(close(fd), 0);
}

static void module_file(const char *rel, const char *text, mode_t mode)
{
    char path[PATH_MAX];
    path_join(path, g_module, rel);
    write_bytes(path, text, strlen(text), mode);
}

static void module_dir(const char *rel)
{
    char path[PATH_MAX];
    path_join(path, g_module, rel);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void module_symlink(const char *rel, const char *target)
{
    char path[PATH_MAX];
    path_join(path, g_module, rel);
    ck_assert_int_eq(symlink(target, path), 0);
}

/* Reads a whole file; the caller frees. */
static char *read_bytes(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    rewind(f);
    char *data = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(data);
    ck_assert_uint_eq(fread(data, 1, (size_t)len, f), (size_t)len);
    data[len] = '\0';
    fclose(f);
    *size = (size_t)len;
    return data;
}

static const char manifest_text[] =
    "{\"name\": \"greeter\", \"version\": \"1.0.0\", \"api\": 1,\n"
    " \"library\": \"greeter.so\", \"libraries\": \"lib\",\n"
    " \"config\": {\"greeting\": \"hello\"}}\n";

/* A module directory with a library, a private library directory holding a
 * versioned library and its symlink, a nested resource and an empty dir. */
static void make_module(void)
{
    module_file("manifest.json", manifest_text, 0644);
    module_file("greeter.so", "\177ELF not really, but the format does not care\n", 0755);
    module_dir("lib");
    module_file("lib/libhelper.so.1", "helper library bytes\n", 0755);
    module_symlink("lib/libhelper.so", "libhelper.so.1");
    module_dir("res");
    module_dir("res/strings");
    module_file("res/strings/en.txt", "hello, world\n", 0600);
    module_dir("empty");
}

/* Asserts that the destination is absent and its parent holds nothing, in
 * particular no "<dest>.tmp-*" left over. */
static void assert_nothing_left(void)
{
    struct stat st;
    ck_assert_msg(lstat(g_dest, &st) != 0 && errno == ENOENT, "destination %s exists", g_dest);
    DIR *dir = opendir(g_out);
    ck_assert_ptr_nonnull(dir);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        ck_assert_msg(strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0,
                      "left behind in %s: %s", g_out, d->d_name);
    }
    closedir(dir);
}

/* No "<out>.tmp-*" files beside a bundle path. */
static void assert_no_pack_temp(const char *dir_path)
{
    DIR *dir = opendir(dir_path);
    ck_assert_ptr_nonnull(dir);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL)
        ck_assert_msg(strstr(d->d_name, ".tmp-") == NULL, "left behind: %s", d->d_name);
    closedir(dir);
}

static void assert_contains(const char *message, const char *fragment)
{
    ck_assert_msg(strstr(message, fragment) != NULL, "\"%s\" not in message: %s", fragment,
                  message);
}

/* ---- SHA-256 ------------------------------------------------------------------ */

static void sha256_hex(const void *data, size_t size, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(data, size, digest, &len, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(len, 32);
    for (unsigned int i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

/* ---- hand-made tarballs ------------------------------------------------------------ */

typedef enum tb_type { TB_FILE, TB_DIR, TB_SYMLINK, TB_HARDLINK, TB_CHR, TB_BLK, TB_FIFO } tb_type;
typedef enum tb_digest { TB_DIGEST_OK, TB_DIGEST_NONE, TB_DIGEST_WRONG } tb_digest;

typedef struct tb_entry {
    tb_type type;
    const char *name;
    const char *data;     /* file content; NULL is empty */
    const char *target;   /* link target */
    tb_digest digest;     /* how keel-digests.json lists this file */
} tb_entry;

typedef struct tb_options {
    bool no_digests;            /* write no keel-digests.json */
    const char *extra_digest;   /* also list this (absent) path */
    const char *digests_text;   /* use this as keel-digests.json verbatim */
    bool no_gzip;               /* a plain tar */
} tb_options;

static void tb_header(struct archive *a, const tb_entry *e, size_t size)
{
    struct archive_entry *ae = archive_entry_new();
    ck_assert_ptr_nonnull(ae);
    archive_entry_set_pathname(ae, e->name);
    archive_entry_set_mtime(ae, 0, 0);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    switch (e->type) {
    case TB_FILE:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, (la_int64_t)size);
        break;
    case TB_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, 0755);
        break;
    case TB_SYMLINK:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink(ae, e->target);
        break;
    case TB_HARDLINK:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_hardlink(ae, e->target);
        break;
    case TB_CHR:
    case TB_BLK:
        archive_entry_set_filetype(ae, e->type == TB_CHR ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_rdevmajor(ae, 1);
        archive_entry_set_rdevminor(ae, 3);
        break;
    case TB_FIFO:
        archive_entry_set_filetype(ae, AE_IFIFO);
        archive_entry_set_perm(ae, 0644);
        break;
    }
    ck_assert_msg(archive_write_header(a, ae) == ARCHIVE_OK, "header %s: %s", e->name,
                  archive_error_string(a));
    archive_entry_free(ae);
}

static void tb_add(struct archive *a, const tb_entry *e)
{
    const char *data = e->data ? e->data : "";
    size_t size = e->type == TB_FILE ? strlen(data) : 0;
    tb_header(a, e, size);
    if (size > 0)
        ck_assert_int_eq(archive_write_data(a, data, size), (la_ssize_t)size);
}

/* The digest list for `entries`, following each entry's `digest` field. */
static char *tb_digests(const tb_entry *entries, size_t count, const char *extra)
{
    size_t cap = 256 + count * 160 + (extra ? strlen(extra) : 0);
    char *json = malloc(cap);
    ck_assert_ptr_nonnull(json);
    size_t used = (size_t)snprintf(json, cap, "{");
    const char *sep = "";
    for (size_t i = 0; i < count; i++) {
        const tb_entry *e = &entries[i];
        if (e->type != TB_FILE || e->digest == TB_DIGEST_NONE)
            continue;
        const char *data = e->data ? e->data : "";
        char hex[65];
        if (e->digest == TB_DIGEST_WRONG)
            sha256_hex("something else", 14, hex);
        else
            sha256_hex(data, strlen(data), hex);
        used += (size_t)snprintf(json + used, cap - used, "%s\"%s\": \"%s\"", sep, e->name, hex);
        sep = ", ";
    }
    if (extra != NULL) {
        char hex[65];
        sha256_hex(extra, strlen(extra), hex);
        used += (size_t)snprintf(json + used, cap - used, "%s\"%s\": \"%s\"", sep, extra, hex);
    }
    snprintf(json + used, cap - used, "}");
    return json;
}

/* Writes `entries` to `path` as a tarball; keel-digests.json goes last. */
static void tb_write(const char *path, const tb_entry *entries, size_t count, const tb_options *opt)
{
    static const tb_options defaults = {0};
    if (opt == NULL)
        opt = &defaults;
    struct archive *a = archive_write_new();
    ck_assert_ptr_nonnull(a);
    if (!opt->no_gzip)
        ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < count; i++)
        tb_add(a, &entries[i]);
    if (!opt->no_digests) {
        char *generated = tb_digests(entries, count, opt->extra_digest);
        tb_entry digests = {TB_FILE, KEEL_BUNDLE_DIGESTS,
                            opt->digests_text ? opt->digests_text : generated, NULL, 0};
        tb_add(a, &digests);
        free(generated);
    }
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

#define MANIFEST_ENTRY {TB_FILE, "manifest.json", manifest_text, NULL, TB_DIGEST_OK}
#define LIBRARY_ENTRY {TB_FILE, "greeter.so", "library bytes", NULL, TB_DIGEST_OK}
#define LIB_DIR_ENTRY {TB_DIR, "lib", NULL, NULL, TB_DIGEST_OK}
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Extracts g_bundle into g_dest expecting `status`; the message must name
 * the bundle and contain every NULL-terminated fragment, and nothing may be
 * left behind. */
static void extract_fails_impl(const keel_bundle_limits *limits, keel_status status, ...)
{
    keel_manifest *m = (keel_manifest *)&m;
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_bundle_extract(g_bundle, g_dest, limits, &m, &err);
    ck_assert_msg(s == status, "status %d (%s), want %d: %s", s, keel_status_name(s), status,
                  err.message);
    ck_assert_int_eq(err.status, status);
    ck_assert_ptr_null(m);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    assert_contains(err.message, g_bundle);
    va_list ap;
    va_start(ap, status);
    for (const char *frag = va_arg(ap, const char *); frag != NULL; frag = va_arg(ap, const char *))
        assert_contains(err.message, frag);
    va_end(ap);
    assert_nothing_left();
}

/* Appends the NULL that ends the fragment list. */
#define extract_fails(first, ...) extract_fails_impl(first, __VA_ARGS__, (const char *)NULL)

static void pack_module(void)
{
    keel_error err;
    keel_status s = keel_bundle_pack(g_module, g_bundle, &err);
    ck_assert_msg(s == KEEL_OK, "pack failed: %s", err.message);
}

static void assert_same_file(const char *rel)
{
    char a[PATH_MAX], b[PATH_MAX];
    path_join(a, g_module, rel);
    path_join(b, g_dest, rel);
    size_t asize, bsize;
    char *adata = read_bytes(a, &asize);
    char *bdata = read_bytes(b, &bsize);
    ck_assert_uint_eq(asize, bsize);
    ck_assert_msg(memcmp(adata, bdata, asize) == 0, "%s differs after extraction", rel);
    free(adata);
    free(bdata);
}

static mode_t dest_mode(const char *rel)
{
    char path[PATH_MAX];
    path_join(path, g_dest, rel);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    return st.st_mode;
}

/* ---- good bundles --------------------------------------------------------------- */

START_TEST(test_pack_extract_roundtrip)
{
    make_module();
    pack_module();
    keel_manifest *m = NULL;
    keel_error err;
    keel_status s = keel_bundle_extract(g_bundle, g_dest, NULL, &m, &err);
    ck_assert_msg(s == KEEL_OK, "extract failed: %s", err.message);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(keel_manifest_name(m), "greeter");
    ck_assert_str_eq(keel_manifest_config_get(m, "greeting"), "hello");
    keel_manifest_destroy(m);

    assert_same_file("manifest.json");
    assert_same_file("greeter.so");
    assert_same_file("lib/libhelper.so.1");
    assert_same_file("res/strings/en.txt");
    ck_assert_int_eq(dest_mode("greeter.so") & 07777, 0755);
    ck_assert_int_eq(dest_mode("res/strings/en.txt") & 07777, 0644);
    ck_assert(S_ISDIR(dest_mode("empty")));
    ck_assert(S_ISLNK(dest_mode("lib/libhelper.so")));
    char path[PATH_MAX], target[PATH_MAX];
    path_join(path, g_dest, "lib/libhelper.so");
    ssize_t n = readlink(path, target, sizeof target - 1);
    ck_assert_int_gt(n, 0);
    target[n] = '\0';
    ck_assert_str_eq(target, "libhelper.so.1");

    /* The digest list came along and covers every regular file. */
    path_join(path, g_dest, KEEL_BUNDLE_DIGESTS);
    size_t size;
    char *digests = read_bytes(path, &size);
    char hex[65];
    sha256_hex(manifest_text, strlen(manifest_text), hex);
    assert_contains(digests, hex);
    assert_contains(digests, "\"res/strings/en.txt\"");
    ck_assert_ptr_null(strstr(digests, "libhelper.so\""));
    free(digests);
    assert_no_pack_temp(g_root);
    assert_no_pack_temp(g_out);
}
END_TEST

START_TEST(test_read_manifest)
{
    make_module();
    pack_module();
    keel_manifest *m = NULL;
    keel_error err;
    keel_status s = keel_bundle_read_manifest(g_bundle, NULL, &m, &err);
    ck_assert_msg(s == KEEL_OK, "%s", err.message);
    ck_assert_str_eq(keel_manifest_name(m), "greeter");
    ck_assert_str_eq(keel_manifest_version(m), "1.0.0");
    keel_manifest_destroy(m);
    /* A NULL manifest pointer only validates. */
    ck_assert_int_eq(keel_bundle_read_manifest(g_bundle, NULL, NULL, &err), KEEL_OK);
}
END_TEST

START_TEST(test_read_manifest_checks_its_digest)
{
    tb_entry entries[] = {
        {TB_FILE, "manifest.json", manifest_text, NULL, TB_DIGEST_WRONG},
        LIBRARY_ENTRY,
        LIB_DIR_ENTRY,
    };
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_manifest *m = (keel_manifest *)&m;
    keel_error err;
    ck_assert_int_eq(keel_bundle_read_manifest(g_bundle, NULL, &m, &err), KEEL_ERR_BUNDLE);
    ck_assert_ptr_null(m);
    assert_contains(err.message, g_bundle);
    assert_contains(err.message, "\"manifest.json\" does not match its digest");
}
END_TEST

START_TEST(test_read_manifest_ignores_other_files)
{
    /* Only the manifest's digest is checked by read_manifest; extract checks all. */
    tb_entry entries[] = {
        MANIFEST_ENTRY,
        {TB_FILE, "greeter.so", "library bytes", NULL, TB_DIGEST_WRONG},
        LIB_DIR_ENTRY,
    };
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_manifest *m = NULL;
    keel_error err;
    ck_assert_int_eq(keel_bundle_read_manifest(g_bundle, NULL, &m, &err), KEEL_OK);
    keel_manifest_destroy(m);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "\"greeter.so\" does not match its digest");
}
END_TEST

START_TEST(test_pack_deterministic)
{
    make_module();
    pack_module();
    size_t size1, size2;
    char *first = read_bytes(g_bundle, &size1);
    /* Later mtimes and a different atime must not change a byte. */
    char path[PATH_MAX];
    path_join(path, g_module, "greeter.so");
    struct timespec times[2] = {{12345, 0}, {67890, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
    char second_path[PATH_MAX];
    path_join(second_path, g_root, "second.keel");
    keel_error err;
    ck_assert_int_eq(keel_bundle_pack(g_module, second_path, &err), KEEL_OK);
    char *second = read_bytes(second_path, &size2);
    ck_assert_uint_eq(size1, size2);
    ck_assert_msg(memcmp(first, second, size1) == 0, "two packs of one tree differ");
    free(first);
    free(second);
}
END_TEST

START_TEST(test_pack_mtime_and_owner)
{
    make_module();
    ck_assert_int_eq(setenv("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
    pack_module();
    ck_assert_int_eq(unsetenv("SOURCE_DATE_EPOCH"), 0);
    struct archive *a = archive_read_new();
    ck_assert_int_eq(archive_read_support_filter_gzip(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_read_support_format_tar(a), ARCHIVE_OK);
    ck_assert_int_eq(archive_read_open_filename(a, g_bundle, 4096), ARCHIVE_OK);
    struct archive_entry *ae;
    int count = 0;
    char order[2][64] = {"", ""};
    while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
        ck_assert_int_eq(archive_entry_mtime(ae), 1700000000);
        ck_assert_int_eq(archive_entry_uid(ae), 0);
        ck_assert_int_eq(archive_entry_gid(ae), 0);
        ck_assert_str_eq(archive_entry_uname(ae), "root");
        ck_assert_str_eq(archive_entry_gname(ae), "root");
        if (count < 2)
            snprintf(order[count], sizeof order[count], "%s", archive_entry_pathname(ae));
        count++;
    }
    archive_read_free(a);
    ck_assert_str_eq(order[0], KEEL_BUNDLE_MANIFEST);
    ck_assert_str_eq(order[1], KEEL_BUNDLE_DIGESTS);
    /* manifest, digests, greeter.so, empty, lib + 2, res, res/strings + 1 */
    ck_assert_int_eq(count, 10);
}
END_TEST

START_TEST(test_pack_bad_source_date_epoch)
{
    make_module();
    ck_assert_int_eq(setenv("SOURCE_DATE_EPOCH", "yesterday", 1), 0);
    keel_error err;
    ck_assert_int_eq(keel_bundle_pack(g_module, g_bundle, &err), KEEL_ERR_INVALID);
    unsetenv("SOURCE_DATE_EPOCH");
    assert_contains(err.message, "SOURCE_DATE_EPOCH");
    ck_assert_int_ne(access(g_bundle, F_OK), 0);
}
END_TEST

START_TEST(test_pack_output_inside_dir)
{
    make_module();
    char inside[PATH_MAX];
    path_join(inside, g_module, "greeter.keel");
    keel_error err;
    ck_assert_int_eq(keel_bundle_pack(g_module, inside, &err), KEEL_OK);
    size_t size1, size2;
    char *first = read_bytes(inside, &size1);
    /* Packing again must not swallow the previous output. */
    ck_assert_int_eq(keel_bundle_pack(g_module, inside, &err), KEEL_OK);
    char *second = read_bytes(inside, &size2);
    ck_assert_uint_eq(size1, size2);
    ck_assert(memcmp(first, second, size1) == 0);
    free(first);
    free(second);
    assert_no_pack_temp(g_module);
    ck_assert_int_eq(keel_bundle_extract(inside, g_dest, NULL, NULL, &err), KEEL_OK);
    char path[PATH_MAX];
    path_join(path, g_dest, "greeter.keel");
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_extract_into_existing_dest)
{
    make_module();
    pack_module();
    ck_assert_int_eq(mkdir(g_dest, 0755), 0);
    keel_manifest *m = (keel_manifest *)&m;
    keel_error err;
    ck_assert_int_eq(keel_bundle_extract(g_bundle, g_dest, NULL, &m, &err), KEEL_ERR_EXISTS);
    ck_assert_ptr_null(m);
    assert_contains(err.message, g_bundle);
    assert_contains(err.message, "already exists");
    /* dest is left as it was (empty) and nothing else appeared. */
    ck_assert_int_eq(rmdir(g_dest), 0);
    assert_nothing_left();
}
END_TEST

START_TEST(test_extract_dest_parent_missing)
{
    make_module();
    pack_module();
    char dest[PATH_MAX];
    path_join(dest, g_out, "missing/greeter");
    keel_error err;
    keel_status s = keel_bundle_extract(g_bundle, dest, NULL, NULL, &err);
    ck_assert_int_eq(s, KEEL_ERR_NOT_FOUND);
    assert_contains(err.message, g_bundle);
    assert_nothing_left();
}
END_TEST

START_TEST(test_extract_without_dir_entries)
{
    /* Directories are optional in the tar; "./" prefixes are tolerated. */
    tb_entry entries[] = {
        {TB_DIR, "./", NULL, NULL, TB_DIGEST_OK},
        MANIFEST_ENTRY,
        {TB_FILE, "./greeter.so", "library bytes", NULL, TB_DIGEST_NONE},
        {TB_FILE, "lib/deep/down/x.txt", "x", NULL, TB_DIGEST_OK},
    };
    /* The digest key is the canonical name, without "./". */
    char *digests = tb_digests(entries, N(entries), NULL);
    char hex[65];
    sha256_hex("library bytes", 13, hex);
    char text[1024];
    snprintf(text, sizeof text, "{\"greeter.so\": \"%s\", %s", hex, digests + 1);
    free(digests);
    tb_options opt = {.digests_text = text};
    tb_write(g_bundle, entries, N(entries), &opt);
    keel_error err;
    keel_status s = keel_bundle_extract(g_bundle, g_dest, NULL, NULL, &err);
    ck_assert_msg(s == KEEL_OK, "%s", err.message);
    ck_assert(S_ISREG(dest_mode("lib/deep/down/x.txt")));
    ck_assert(S_ISREG(dest_mode("greeter.so")));
}
END_TEST

START_TEST(test_extract_limits_exact)
{
    /* Limits are inclusive: a file of exactly max_file_size passes. */
    tb_entry entries[] = {MANIFEST_ENTRY, {TB_FILE, "greeter.so", "12345678", NULL, 0}, LIB_DIR_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_bundle_limits limits = {.max_file_size = 4096, .max_entries = 4};
    keel_error err;
    ck_assert_msg(keel_bundle_extract(g_bundle, g_dest, &limits, NULL, &err) == KEEL_OK, "%s",
                  err.message);
}
END_TEST

START_TEST(test_extract_inside_symlink_chain_ok)
{
    /* Links that stay inside, including to directories and through links. */
    tb_entry entries[] = {
        MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
        {TB_FILE, "lib/real/x.so.1", "x", NULL, 0},
        {TB_SYMLINK, "lib/x.so", NULL, "real/x.so.1", 0},
        {TB_SYMLINK, "lib/dir", NULL, "real", 0},
        {TB_SYMLINK, "top", NULL, "lib/dir/../x.so", 0},
        {TB_SYMLINK, "dangling", NULL, "not/there", 0},
    };
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_error err;
    ck_assert_msg(keel_bundle_extract(g_bundle, g_dest, NULL, NULL, &err) == KEEL_OK, "%s",
                  err.message);
    ck_assert(S_ISLNK(dest_mode("top")));
}
END_TEST

/* ---- hostile or broken bundles --------------------------------------------------- */

START_TEST(test_refuse_absolute_path)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "/tmp/keel-evil", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"/tmp/keel-evil\"", "absolute");
    ck_assert_int_ne(access("/tmp/keel-evil", F_OK), 0);
}
END_TEST

START_TEST(test_refuse_dotdot)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "../evil", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"../evil\"", "\"..\"");
    char path[PATH_MAX];
    path_join(path, g_out, "evil");
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_refuse_inner_dotdot)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "a/../../evil", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"a/../../evil\"", "\"..\"");
}
END_TEST

START_TEST(test_refuse_symlink_dotdot)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_SYMLINK, "lib/passwd", NULL, "../../etc/passwd", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"lib/passwd\"", "leaves the bundle",
                  "../../etc/passwd");
}
END_TEST

START_TEST(test_refuse_symlink_absolute)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_SYMLINK, "passwd", NULL, "/etc/passwd", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"passwd\"", "absolute", "/etc/passwd");
}
END_TEST

START_TEST(test_refuse_symlink_chain_escape)
{
    /* Each link looks harmless alone; together "up" resolves to the parent
     * of the bundle. */
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_SYMLINK, "here", NULL, ".", 0},
                          {TB_SYMLINK, "up", NULL, "here/..", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"up\"", "leaves the bundle");
}
END_TEST

START_TEST(test_refuse_symlink_loop)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_SYMLINK, "ping", NULL, "pong", 0},
                          {TB_SYMLINK, "pong", NULL, "ping", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"ping\"", "loops");
}
END_TEST

START_TEST(test_refuse_write_through_symlink)
{
    /* A file placed "under" a symlinked directory must not be written
     * through the link. */
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_DIR, "real", NULL, NULL, 0},
                          {TB_SYMLINK, "alias", NULL, "real", 0},
                          {TB_FILE, "alias/x.txt", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"alias/x.txt\"");
}
END_TEST

START_TEST(test_refuse_hardlink)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_HARDLINK, "copy.so", NULL, "greeter.so", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"copy.so\"", "hard link");
}
END_TEST

START_TEST(test_refuse_char_device)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_CHR, "null", NULL, NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"null\"", "character device");
}
END_TEST

START_TEST(test_refuse_block_device)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_BLK, "disk", NULL, NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"disk\"", "block device");
}
END_TEST

START_TEST(test_refuse_fifo)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FIFO, "pipe", NULL, NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"pipe\"", "fifo");
}
END_TEST

START_TEST(test_refuse_duplicate)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "greeter.so", "library bytes", NULL, TB_DIGEST_NONE}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"greeter.so\"", "twice");
}
END_TEST

START_TEST(test_refuse_duplicate_spelled_differently)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "./greeter.so", "other bytes", NULL, TB_DIGEST_NONE}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"./greeter.so\"", "twice");
}
END_TEST

START_TEST(test_refuse_file_too_big)
{
    /* The limit lets the manifest through; the library is one byte over. */
    keel_bundle_limits limits = {.max_file_size = strlen(manifest_text)};
    tb_entry big[] = {MANIFEST_ENTRY, LIB_DIR_ENTRY,
                      {TB_FILE, "greeter.so", NULL, NULL, 0}};
    char *data = malloc(limits.max_file_size + 2);
    ck_assert_ptr_nonnull(data);
    memset(data, 'x', limits.max_file_size + 1);
    data[limits.max_file_size + 1] = '\0';
    big[2].data = data;
    tb_write(g_bundle, big, N(big), NULL);
    extract_fails(&limits, KEEL_ERR_BUNDLE, "entry \"greeter.so\"", "limit");
    free(data);
}
END_TEST

START_TEST(test_refuse_too_many_entries)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "a.txt", "a", NULL, 0}, {TB_FILE, "b.txt", "b", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_bundle_limits limits = {.max_entries = 4};
    /* Entry five of six (the digest list is the sixth) is one too many. */
    extract_fails(&limits, KEEL_ERR_BUNDLE, "entry \"b.txt\"", "limit of 4 entries");
}
END_TEST

START_TEST(test_refuse_total_too_big)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "a.txt", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    keel_bundle_limits limits = {.max_total_size = strlen(manifest_text) + 13 + 10};
    extract_fails(&limits, KEEL_ERR_BUNDLE, "entry \"a.txt\"", "in total");
}
END_TEST

START_TEST(test_refuse_digest_mismatch)
{
    make_module();
    /* Pack, then tamper: rebuild the bundle with one file changed but the
     * digest list of the original. */
    pack_module();
    struct archive *in = archive_read_new();
    ck_assert_int_eq(archive_read_support_filter_gzip(in), ARCHIVE_OK);
    ck_assert_int_eq(archive_read_support_format_tar(in), ARCHIVE_OK);
    ck_assert_int_eq(archive_read_open_filename(in, g_bundle, 4096), ARCHIVE_OK);
    char tampered[PATH_MAX];
    path_join(tampered, g_root, "tampered.keel");
    struct archive *out = archive_write_new();
    ck_assert_int_eq(archive_write_add_filter_gzip(out), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_set_format_pax_restricted(out), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_open_filename(out, tampered), ARCHIVE_OK);
    struct archive_entry *ae;
    while (archive_read_next_header(in, &ae) == ARCHIVE_OK) {
        char buf[4096];
        la_ssize_t n = archive_read_data(in, buf, sizeof buf);
        ck_assert_int_ge(n, 0);
        if (strcmp(archive_entry_pathname(ae), "res/strings/en.txt") == 0)
            buf[0] ^= 1;
        ck_assert_int_eq(archive_write_header(out, ae), ARCHIVE_OK);
        if (n > 0)
            ck_assert_int_eq(archive_write_data(out, buf, (size_t)n), n);
    }
    archive_read_free(in);
    ck_assert_int_eq(archive_write_close(out), ARCHIVE_OK);
    archive_write_free(out);
    ck_assert_int_eq(rename(tampered, g_bundle), 0);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"res/strings/en.txt\"", "does not match");
}
END_TEST

START_TEST(test_refuse_file_without_digest)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "lib/smuggled.so", "x", NULL, TB_DIGEST_NONE}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"lib/smuggled.so\"", "no digest");
}
END_TEST

START_TEST(test_refuse_digest_of_missing_file)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_options opt = {.extra_digest = "lib/gone.so"};
    tb_write(g_bundle, entries, N(entries), &opt);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "keel-digests.json", "\"lib/gone.so\"",
                  "not a file of the bundle");
}
END_TEST

START_TEST(test_refuse_digest_of_symlink)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_SYMLINK, "lib/alias.so", NULL, "../greeter.so", 0}};
    tb_options opt = {.extra_digest = "lib/alias.so"};
    tb_write(g_bundle, entries, N(entries), &opt);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "\"lib/alias.so\"", "not a file of the bundle");
}
END_TEST

START_TEST(test_refuse_no_digests)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_options opt = {.no_digests = true};
    tb_write(g_bundle, entries, N(entries), &opt);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "no keel-digests.json");
}
END_TEST

START_TEST(test_refuse_bad_digests_file)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_options opt = {.digests_text = "[\"not an object\"]"};
    tb_write(g_bundle, entries, N(entries), &opt);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"keel-digests.json\"", "JSON object");
    tb_options upper = {.digests_text = "{\"greeter.so\": \"ABCDEF\"}"};
    tb_write(g_bundle, entries, N(entries), &upper);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"keel-digests.json\"", "\"greeter.so\"",
                  "64 lower-case hex");
}
END_TEST

START_TEST(test_refuse_no_manifest)
{
    tb_entry entries[] = {LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "no manifest.json");
    keel_error err;
    ck_assert_int_eq(keel_bundle_read_manifest(g_bundle, NULL, NULL, &err), KEEL_ERR_BUNDLE);
    assert_contains(err.message, "no manifest.json");
}
END_TEST

START_TEST(test_refuse_manifest_in_subdir_only)
{
    tb_entry entries[] = {{TB_FILE, "sub/manifest.json", manifest_text, NULL, 0},
                          LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "no manifest.json");
}
END_TEST

START_TEST(test_refuse_invalid_manifest)
{
    tb_entry entries[] = {{TB_FILE, "manifest.json",
                           "{\"name\": \"greeter\", \"version\": \"1.2\", \"api\": 1, "
                           "\"library\": \"greeter.so\"}", NULL, 0},
                          LIBRARY_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_MANIFEST, "manifest field \"version\"", "\"1.2\"");
    char expected[PATH_MAX + 64];
    snprintf(expected, sizeof expected, "bundle %s: manifest field \"version\"", g_bundle);
    keel_error err;
    ck_assert_int_eq(keel_bundle_read_manifest(g_bundle, NULL, NULL, &err), KEEL_ERR_MANIFEST);
    assert_contains(err.message, expected);
}
END_TEST

START_TEST(test_refuse_empty_manifest)
{
    tb_entry entries[] = {{TB_FILE, "manifest.json", "", NULL, 0}, LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_MANIFEST, "manifest is empty");
}
END_TEST

START_TEST(test_refuse_manifest_not_regular)
{
    tb_entry entries[] = {{TB_SYMLINK, "manifest.json", NULL, "other.json", 0},
                          LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"manifest.json\"", "regular file");
}
END_TEST

START_TEST(test_refuse_not_gzip)
{
    write_bytes(g_bundle, "just some text, not a bundle\n", 29, 0644);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "gzip");
}
END_TEST

START_TEST(test_refuse_plain_tar)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY};
    tb_options opt = {.no_gzip = true};
    tb_write(g_bundle, entries, N(entries), &opt);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "not gzip-compressed");
}
END_TEST

START_TEST(test_refuse_truncated)
{
    make_module();
    /* Make the bundle big enough that half of it cuts through file data. */
    char *noise = malloc(200001);
    ck_assert_ptr_nonnull(noise);
    unsigned state = 12345;
    for (size_t i = 0; i < 200000; i++) {
        state = state * 1103515245u + 12345u;
        noise[i] = (char)('a' + (state >> 16) % 26);
    }
    noise[200000] = '\0';
    module_file("res/noise.txt", noise, 0644);
    free(noise);
    pack_module();
    struct stat st;
    ck_assert_int_eq(stat(g_bundle, &st), 0);
    ck_assert_int_eq(truncate(g_bundle, st.st_size / 2), 0);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "truncated");
}
END_TEST

START_TEST(test_refuse_empty_file)
{
    write_bytes(g_bundle, "", 0, 0644);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "empty");
}
END_TEST

START_TEST(test_refuse_missing_bundle)
{
    keel_error err;
    ck_assert_int_eq(keel_bundle_extract(g_bundle, g_dest, NULL, NULL, &err), KEEL_ERR_NOT_FOUND);
    assert_contains(err.message, g_bundle);
    assert_nothing_left();
}
END_TEST

START_TEST(test_refuse_missing_library)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIB_DIR_ENTRY, {TB_FILE, "other.so", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"greeter.so\"", "\"library\"",
                  "not in the bundle");
}
END_TEST

START_TEST(test_refuse_library_is_symlink)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIB_DIR_ENTRY, {TB_FILE, "real.so", "x", NULL, 0},
                          {TB_SYMLINK, "greeter.so", NULL, "real.so", 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"greeter.so\"", "not a regular file");
}
END_TEST

START_TEST(test_refuse_libraries_not_dir)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, {TB_FILE, "lib", "not a dir", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"lib\"", "\"libraries\"");
}
END_TEST

START_TEST(test_refuse_control_chars_in_name)
{
    tb_entry entries[] = {MANIFEST_ENTRY, LIBRARY_ENTRY, LIB_DIR_ENTRY,
                          {TB_FILE, "evil\nname", "x", NULL, 0}};
    tb_write(g_bundle, entries, N(entries), NULL);
    extract_fails(NULL, KEEL_ERR_BUNDLE, "entry \"evil\\x0aname\"", "control character");
}
END_TEST

/* ---- pack refusals -------------------------------------------------------------- */

static void pack_fails_impl(keel_status status, ...)
{
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_bundle_pack(g_module, g_bundle, &err);
    ck_assert_msg(s == status, "pack status %d, want %d: %s", s, status, err.message);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    assert_contains(err.message, g_module);
    va_list ap;
    va_start(ap, status);
    for (const char *frag = va_arg(ap, const char *); frag != NULL; frag = va_arg(ap, const char *))
        assert_contains(err.message, frag);
    va_end(ap);
    ck_assert_msg(access(g_bundle, F_OK) != 0, "a bundle was written");
    assert_no_pack_temp(g_root);
}

/* Appends the NULL that ends the fragment list. */
#define pack_fails(first, ...) pack_fails_impl(first, __VA_ARGS__, (const char *)NULL)

START_TEST(test_pack_refuses_invalid_manifest)
{
    make_module();
    module_file("manifest.json", "{\"name\": \"Greeter\", \"version\": \"1.0.0\", \"api\": 1, "
                                 "\"library\": \"greeter.so\"}", 0644);
    pack_fails(KEEL_ERR_MANIFEST, "manifest.json: manifest field \"name\"", "\"Greeter\"");
}
END_TEST

START_TEST(test_pack_refuses_missing_manifest)
{
    module_file("greeter.so", "x", 0755);
    pack_fails(KEEL_ERR_NOT_FOUND, "manifest.json");
}
END_TEST

START_TEST(test_pack_refuses_missing_library)
{
    make_module();
    char path[PATH_MAX];
    path_join(path, g_module, "greeter.so");
    ck_assert_int_eq(unlink(path), 0);
    pack_fails(KEEL_ERR_NOT_FOUND, "entry \"greeter.so\"", "missing");
}
END_TEST

START_TEST(test_pack_refuses_symlink_dotdot)
{
    make_module();
    module_symlink("lib/escape", "../../outside");
    pack_fails(KEEL_ERR_BUNDLE, "entry \"lib/escape\"", "leaves the module directory");
}
END_TEST

START_TEST(test_pack_refuses_symlink_absolute)
{
    make_module();
    module_symlink("passwd", "/etc/passwd");
    pack_fails(KEEL_ERR_BUNDLE, "entry \"passwd\"", "absolute");
}
END_TEST

START_TEST(test_pack_refuses_symlink_chain)
{
    make_module();
    module_symlink("here", ".");
    module_symlink("up", "here/..");
    pack_fails(KEEL_ERR_BUNDLE, "entry \"up\"", "leaves the module directory");
}
END_TEST

START_TEST(test_pack_refuses_fifo)
{
    make_module();
    char path[PATH_MAX];
    path_join(path, g_module, "res/pipe");
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    pack_fails(KEEL_ERR_BUNDLE, "entry \"res/pipe\"", "fifo");
}
END_TEST

START_TEST(test_pack_replaces_stale_digests)
{
    /* A directory extracted from a bundle holds keel-digests.json; packing it
     * again regenerates the list rather than carrying the old one. */
    make_module();
    module_file(KEEL_BUNDLE_DIGESTS, "{\"stale\": true}", 0644);
    pack_module();
    keel_error err;
    ck_assert_msg(keel_bundle_extract(g_bundle, g_dest, NULL, NULL, &err) == KEEL_OK, "%s",
                  err.message);
    char path[PATH_MAX];
    path_join(path, g_dest, KEEL_BUNDLE_DIGESTS);
    size_t size;
    char *text = read_bytes(path, &size);
    ck_assert_ptr_null(strstr(text, "stale"));
    free(text);
}
END_TEST

static Suite *bundle_suite(void)
{
    Suite *s = suite_create("bundle");
    TCase *good = tcase_create("good");
    tcase_add_checked_fixture(good, workspace_setup, workspace_teardown);
    tcase_add_test(good, test_pack_extract_roundtrip);
    tcase_add_test(good, test_read_manifest);
    tcase_add_test(good, test_read_manifest_checks_its_digest);
    tcase_add_test(good, test_read_manifest_ignores_other_files);
    tcase_add_test(good, test_pack_deterministic);
    tcase_add_test(good, test_pack_mtime_and_owner);
    tcase_add_test(good, test_pack_bad_source_date_epoch);
    tcase_add_test(good, test_pack_output_inside_dir);
    tcase_add_test(good, test_extract_into_existing_dest);
    tcase_add_test(good, test_extract_dest_parent_missing);
    tcase_add_test(good, test_extract_without_dir_entries);
    tcase_add_test(good, test_extract_limits_exact);
    tcase_add_test(good, test_extract_inside_symlink_chain_ok);
    suite_add_tcase(s, good);

    TCase *bad = tcase_create("refused");
    tcase_add_checked_fixture(bad, workspace_setup, workspace_teardown);
    tcase_add_test(bad, test_refuse_absolute_path);
    tcase_add_test(bad, test_refuse_dotdot);
    tcase_add_test(bad, test_refuse_inner_dotdot);
    tcase_add_test(bad, test_refuse_symlink_dotdot);
    tcase_add_test(bad, test_refuse_symlink_absolute);
    tcase_add_test(bad, test_refuse_symlink_chain_escape);
    tcase_add_test(bad, test_refuse_symlink_loop);
    tcase_add_test(bad, test_refuse_write_through_symlink);
    tcase_add_test(bad, test_refuse_hardlink);
    tcase_add_test(bad, test_refuse_char_device);
    tcase_add_test(bad, test_refuse_block_device);
    tcase_add_test(bad, test_refuse_fifo);
    tcase_add_test(bad, test_refuse_duplicate);
    tcase_add_test(bad, test_refuse_duplicate_spelled_differently);
    tcase_add_test(bad, test_refuse_file_too_big);
    tcase_add_test(bad, test_refuse_too_many_entries);
    tcase_add_test(bad, test_refuse_total_too_big);
    tcase_add_test(bad, test_refuse_digest_mismatch);
    tcase_add_test(bad, test_refuse_file_without_digest);
    tcase_add_test(bad, test_refuse_digest_of_missing_file);
    tcase_add_test(bad, test_refuse_digest_of_symlink);
    tcase_add_test(bad, test_refuse_no_digests);
    tcase_add_test(bad, test_refuse_bad_digests_file);
    tcase_add_test(bad, test_refuse_no_manifest);
    tcase_add_test(bad, test_refuse_manifest_in_subdir_only);
    tcase_add_test(bad, test_refuse_invalid_manifest);
    tcase_add_test(bad, test_refuse_empty_manifest);
    tcase_add_test(bad, test_refuse_manifest_not_regular);
    tcase_add_test(bad, test_refuse_not_gzip);
    tcase_add_test(bad, test_refuse_plain_tar);
    tcase_add_test(bad, test_refuse_truncated);
    tcase_add_test(bad, test_refuse_empty_file);
    tcase_add_test(bad, test_refuse_missing_bundle);
    tcase_add_test(bad, test_refuse_missing_library);
    tcase_add_test(bad, test_refuse_library_is_symlink);
    tcase_add_test(bad, test_refuse_libraries_not_dir);
    tcase_add_test(bad, test_refuse_control_chars_in_name);
    suite_add_tcase(s, bad);

    TCase *pack = tcase_create("pack");
    tcase_add_checked_fixture(pack, workspace_setup, workspace_teardown);
    tcase_add_test(pack, test_pack_refuses_invalid_manifest);
    tcase_add_test(pack, test_pack_refuses_missing_manifest);
    tcase_add_test(pack, test_pack_refuses_missing_library);
    tcase_add_test(pack, test_pack_refuses_symlink_dotdot);
    tcase_add_test(pack, test_pack_refuses_symlink_absolute);
    tcase_add_test(pack, test_pack_refuses_symlink_chain);
    tcase_add_test(pack, test_pack_refuses_fifo);
    tcase_add_test(pack, test_pack_replaces_stale_digests);
    suite_add_tcase(s, pack);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(bundle_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

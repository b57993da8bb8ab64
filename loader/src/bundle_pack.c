/*
 * Packing a module directory into a .keel bundle.
 *
 * The output must be byte-for-byte reproducible (so that a bundle can be
 * rebuilt and compared), hence: entries in strcmp order, fixed owner, mode
 * and mtime, no gzip timestamp. Everything the reader would refuse is refused
 * here first, so a bundle that packs also installs.
 */
#include <keel/bundle.h>
#include <keel/digest.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_MANIFEST_MAX (1u << 20)
#define PACK_NAME_MAX 1024
#define PACK_DEPTH_MAX 64
#define PACK_IO_BLOCK 65536
#define PACK_SHOWN_MAX 200

typedef enum pack_kind { PACK_FILE, PACK_DIR, PACK_SYMLINK } pack_kind;

typedef struct pack_item {
    char *path;      /* relative to the module directory */
    pack_kind kind;
    mode_t mode;     /* 0644 or 0755 for files */
    uint64_t size;
    char *target;    /* symlinks only */
    char sha256[KEEL_SHA256_HEX + 1];
} pack_item;

typedef struct packer {
    char shown[PACK_SHOWN_MAX * 4 + 8];  /* the directory, safe for one line */
    keel_error *err;
    int dir_fd;
    char *real_dir;             /* realpath of the directory */
    pack_item *items;
    size_t count;
    size_t capacity;
    bool skip_output;           /* the output already exists inside the tree */
    dev_t output_dev;
    ino_t output_ino;
    time_t mtime;
    char *manifest;
    size_t manifest_size;
    char manifest_sha256[KEEL_SHA256_HEX + 1];
} packer;

/* ---- messages ------------------------------------------------------------ */


/* "module directory DIR: entry "PATH" DETAIL", or without the entry part. */
__attribute__((format(printf, 4, 5)))
static keel_status pack_fail(const packer *p, keel_status status, const char *entry,
                             const char *fmt, ...)
{
    char detail[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (entry == NULL)
        return keel_error_set(p->err, status, "module directory %s: %s", p->shown, detail);
    char name[PACK_SHOWN_MAX * 4 + 8];
    keel_error_quote(name, sizeof name, entry, PACK_SHOWN_MAX);
    return keel_error_set(p->err, status, "module directory %s: entry \"%s\" %s", p->shown, name,
                          detail);
}

static keel_status pack_fail_errno(const packer *p, const char *entry, const char *what)
{
    int saved = errno;
    return pack_fail(p, saved == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, entry,
                     "cannot be read (%s: %s)", what, strerror(saved));
}

/* ---- the item list --------------------------------------------------------- */

static pack_item *pack_add(packer *p, const char *path, pack_kind kind)
{
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? p->capacity * 2 : 64;
        pack_item *items = realloc(p->items, capacity * sizeof *items);
        if (items == NULL)
            return NULL;
        p->items = items;
        p->capacity = capacity;
    }
    char *copy = strdup(path);
    if (copy == NULL)
        return NULL;
    pack_item *item = &p->items[p->count++];
    *item = (pack_item){.path = copy, .kind = kind};
    return item;
}

static const pack_item *pack_find(const packer *p, const char *path)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->items[i].path, path) == 0)
            return &p->items[i];
    return NULL;
}

/* ---- hashing -------------------------------------------------------------- */

/* Reads the regular file `path` of the tree in blocks, hashing it and, when
 * `a` is non-NULL, writing it as the data of the current archive entry.
 * `expect_size` guards against a file changing between walk and write. */
static keel_status pack_stream_file(packer *p, const char *path, uint64_t expect_size,
                                    struct archive *a, char *hex)
{
    int fd = openat(p->dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pack_fail_errno(p, path, "open");
    char *block = malloc(PACK_IO_BLOCK);
    keel_sha256 *h = keel_sha256_new();
    keel_status s = KEEL_OK;
    if (block == NULL || h == NULL)
        s = pack_fail(p, KEEL_ERR_NOMEM, path, "cannot be hashed: out of memory");
    uint64_t size = 0;
    while (s == KEEL_OK) {
        ssize_t n = read(fd, block, PACK_IO_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s = pack_fail_errno(p, path, "read");
            break;
        }
        if (n == 0)
            break;
        size += (uint64_t)n;
        if (size > expect_size)
            break;
        if (keel_sha256_update(h, block, (size_t)n) != 0)
            s = pack_fail(p, KEEL_ERR_INTERNAL, path, "cannot be hashed (OpenSSL SHA-256 failed)");
        else if (a != NULL && archive_write_data(a, block, (size_t)n) != n)
            s = pack_fail(p, KEEL_ERR_IO, path, "cannot be written to the bundle: %s",
                          archive_error_string(a) ? archive_error_string(a) : "unknown error");
    }
    if (s == KEEL_OK && size != expect_size)
        s = pack_fail(p, KEEL_ERR_IO, path, "changed size while being packed");
    if (h != NULL && keel_sha256_finish(h, hex) != 0 && s == KEEL_OK)
        s = pack_fail(p, KEEL_ERR_INTERNAL, path, "cannot be hashed (OpenSSL SHA-256 failed)");
    free(block);
    close(fd);
    return s;
}

/* ---- the manifest ------------------------------------------------------------- */

static keel_status pack_read_manifest(packer *p)
{
    int fd = openat(p->dir_fd, KEEL_BUNDLE_MANIFEST, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pack_fail(p, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, NULL,
                         "has no readable %s (%s)", KEEL_BUNDLE_MANIFEST, strerror(errno));
    struct stat st;
    keel_status s = KEEL_OK;
    if (fstat(fd, &st) != 0)
        s = pack_fail_errno(p, KEEL_BUNDLE_MANIFEST, "stat");
    else if (!S_ISREG(st.st_mode))
        s = pack_fail(p, KEEL_ERR_MANIFEST, KEEL_BUNDLE_MANIFEST, "is not a regular file");
    else if ((uint64_t)st.st_size > PACK_MANIFEST_MAX)
        s = pack_fail(p, KEEL_ERR_MANIFEST, KEEL_BUNDLE_MANIFEST,
                      "is larger than %u bytes", PACK_MANIFEST_MAX);
    if (s == KEEL_OK && (p->manifest = malloc((size_t)st.st_size + 1)) == NULL)
        s = pack_fail(p, KEEL_ERR_NOMEM, KEEL_BUNDLE_MANIFEST, "cannot be read: out of memory");
    while (s == KEEL_OK && p->manifest_size < (size_t)st.st_size) {
        ssize_t n = read(fd, p->manifest + p->manifest_size,
                         (size_t)st.st_size - p->manifest_size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            s = n < 0 ? pack_fail_errno(p, KEEL_BUNDLE_MANIFEST, "read")
                      : pack_fail(p, KEEL_ERR_IO, KEEL_BUNDLE_MANIFEST, "shrank while being read");
        else
            p->manifest_size += (size_t)n;
    }
    close(fd);
    if (s != KEEL_OK)
        return s;
    if (!keel_sha256_buffer(p->manifest, p->manifest_size, p->manifest_sha256) == 0)
        return pack_fail(p, KEEL_ERR_INTERNAL, KEEL_BUNDLE_MANIFEST,
                         "cannot be hashed (OpenSSL SHA-256 failed)");
    return KEEL_OK;
}

static keel_status pack_parse_manifest(packer *p, const char *dir, keel_manifest **m)
{
    size_t len = strlen(dir);
    const char *sep = len > 0 && dir[len - 1] == '/' ? "" : "/";
    char origin[PACK_SHOWN_MAX * 4 + 32];
    snprintf(origin, sizeof origin, "%s%s%s", p->shown, sep, KEEL_BUNDLE_MANIFEST);
    return keel_manifest_parse(p->manifest, p->manifest_size, origin, m, p->err);
}

/* ---- walking the tree --------------------------------------------------------- */

static int pack_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of directory `fd` (consumed), without "." and "..", sorted by
 * byte value so the order never depends on the locale. */
static keel_status pack_list_dir(packer *p, const char *rel, int fd, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return pack_fail_errno(p, rel[0] ? rel : ".", "opendir");
    }
    size_t capacity = 0;
    keel_status s = KEEL_OK;
    struct dirent *d;
    errno = 0;
    while (s == KEEL_OK && (d = readdir(dir)) != NULL) {
        if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
            continue;
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            char **grown = realloc(*names, capacity * sizeof *grown);
            if (grown == NULL) {
                s = pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be listed: out of memory");
                break;
            }
            *names = grown;
        }
        if (((*names)[*count] = strdup(d->d_name)) == NULL)
            s = pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be listed: out of memory");
        else
            (*count)++;
        errno = 0;
    }
    if (s == KEEL_OK && errno != 0)
        s = pack_fail_errno(p, rel[0] ? rel : ".", "readdir");
    closedir(dir);
    if (*names != NULL)
        qsort(*names, *count, sizeof **names, pack_compare_names);
    return s;
}

static void pack_free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* The same lexical rule the reader applies to symlink targets. */
static const char *pack_target_problem(const char *link_path, const char *target)
{
    if (target[0] == '\0')
        return "is a symlink without a target";
    if (target[0] == '/')
        return "is a symlink to an absolute path";
    if (strlen(target) > PACK_NAME_MAX)
        return "is a symlink with a target longer than 1024 bytes";
    long depth = 0;
    for (const char *c = link_path; *c != '\0'; c++)
        if (*c == '/')
            depth++;
    for (const char *c = target; *c != '\0';) {
        size_t len = strcspn(c, "/");
        if ((unsigned char)*c < 0x20)
            return "is a symlink with a control character in its target";
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return "is a symlink whose target leaves the module directory";
        } else if (len > 0 && !(len == 1 && c[0] == '.')) {
            depth++;
        }
        c += len;
        if (*c == '/')
            c++;
    }
    return NULL;
}

/* Where the link really leads, when it leads somewhere: catches chains such
 * as "a -> ." plus "b -> a/.." that look harmless one by one. */
static keel_status pack_check_link_resolution(packer *p, const char *path)
{
    size_t len = strlen(p->real_dir) + 1 + strlen(path) + 1;
    char *full = malloc(len);
    if (full == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, path, "cannot be checked: out of memory");
    snprintf(full, len, "%s/%s", p->real_dir, path);
    char *real = realpath(full, NULL);
    int saved = errno;
    free(full);
    if (real == NULL) {
        if (saved == ENOENT || saved == ENOTDIR)
            return KEEL_OK;   /* dangling: nothing to escape to */
        return pack_fail(p, KEEL_ERR_BUNDLE, path, "is a symlink that cannot be resolved (%s)",
                         strerror(saved));
    }
    size_t root_len = strlen(p->real_dir);
    bool inside = strncmp(real, p->real_dir, root_len) == 0 &&
                  (real[root_len] == '/' || real[root_len] == '\0' ||
                   strcmp(p->real_dir, "/") == 0);
    free(real);
    if (!inside)
        return pack_fail(p, KEEL_ERR_BUNDLE, path,
                         "is a symlink whose target leaves the module directory");
    return KEEL_OK;
}

static keel_status pack_add_symlink(packer *p, int fd, const char *name, const char *rel)
{
    char target[PACK_NAME_MAX + 2];
    ssize_t n = readlinkat(fd, name, target, sizeof target);
    if (n < 0)
        return pack_fail_errno(p, rel, "readlink");
    if ((size_t)n >= sizeof target)
        return pack_fail(p, KEEL_ERR_BUNDLE, rel,
                         "is a symlink with a target longer than 1024 bytes");
    target[n] = '\0';
    const char *problem = pack_target_problem(rel, target);
    if (problem != NULL) {
        char shown[PACK_SHOWN_MAX * 4 + 8];
        keel_error_quote(shown, sizeof shown, target, PACK_SHOWN_MAX);
        return pack_fail(p, KEEL_ERR_BUNDLE, rel,
                         "%s (target \"%s\"; links must stay inside the module directory)",
                         problem, shown);
    }
    keel_status s = pack_check_link_resolution(p, rel);
    if (s != KEEL_OK)
        return s;
    pack_item *item = pack_add(p, rel, PACK_SYMLINK);
    if (item == NULL || (item->target = strdup(target)) == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, rel, "cannot be recorded: out of memory");
    return KEEL_OK;
}

static const char *pack_type_name(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "a fifo";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "of an unknown type";
}

static bool pack_name_ok(const char *name)
{
    for (const char *c = name; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

static keel_status pack_walk(packer *p, int fd, const char *rel, int depth);

/* Adds one directory entry `name` of directory `fd` (whose path is `rel`). */
static keel_status pack_visit(packer *p, int fd, const char *rel, const char *name, int depth)
{
    char path[PACK_NAME_MAX + 1];
    int n = snprintf(path, sizeof path, "%s%s%s", rel, rel[0] ? "/" : "", name);
    if (n < 0 || (size_t)n >= sizeof path)
        return pack_fail(p, KEEL_ERR_BUNDLE, name, "has a path longer than 1024 bytes");
    if (!pack_name_ok(name))
        return pack_fail(p, KEEL_ERR_BUNDLE, path, "has a control character in its name");
    if (depth == 0 && (strcmp(name, KEEL_BUNDLE_MANIFEST) == 0 ||
                       strcmp(name, KEEL_BUNDLE_DIGESTS) == 0))
        return KEEL_OK;   /* added first, or generated */
    struct stat st;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return pack_fail_errno(p, path, "stat");
    if (p->skip_output && st.st_dev == p->output_dev && st.st_ino == p->output_ino)
        return KEEL_OK;
    if (S_ISLNK(st.st_mode))
        return pack_add_symlink(p, fd, name, path);
    if (S_ISREG(st.st_mode)) {
        pack_item *item = pack_add(p, path, PACK_FILE);
        if (item == NULL)
            return pack_fail(p, KEEL_ERR_NOMEM, path, "cannot be recorded: out of memory");
        item->mode = (st.st_mode & 0111) ? 0755 : 0644;
        item->size = (uint64_t)st.st_size;
        return KEEL_OK;
    }
    if (!S_ISDIR(st.st_mode))
        return pack_fail(p, KEEL_ERR_BUNDLE, path,
                         "is %s (bundles hold only files, directories and symlinks)",
                         pack_type_name(st.st_mode));
    if (pack_add(p, path, PACK_DIR) == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, path, "cannot be recorded: out of memory");
    int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return pack_fail_errno(p, path, "open");
    return pack_walk(p, sub, path, depth + 1);
}

/* Walks directory `fd` (consumed) recursively in sorted order. */
static keel_status pack_walk(packer *p, int fd, const char *rel, int depth)
{
    if (depth > PACK_DEPTH_MAX) {
        close(fd);
        return pack_fail(p, KEEL_ERR_BUNDLE, rel, "is nested more than 64 directories deep");
    }
    char **names;
    size_t count;
    int list_fd = dup(fd);
    if (list_fd < 0) {
        close(fd);
        return pack_fail_errno(p, rel[0] ? rel : ".", "dup");
    }
    keel_status s = pack_list_dir(p, rel, list_fd, &names, &count);
    for (size_t i = 0; s == KEEL_OK && i < count; i++)
        s = pack_visit(p, fd, rel, names[i], depth);
    pack_free_names(names, count);
    close(fd);
    return s;
}

static keel_status pack_check_library(packer *p, const keel_manifest *m)
{
    const char *library = keel_manifest_library(m);
    const pack_item *item = pack_find(p, library);
    if (item == NULL || item->kind != PACK_FILE)
        return pack_fail(p, KEEL_ERR_NOT_FOUND, library,
                         "is named as \"library\" in %s but is %s", KEEL_BUNDLE_MANIFEST,
                         item == NULL ? "missing" : "not a regular file");
    const char *libraries = keel_manifest_libraries(m);
    if (libraries == NULL)
        return KEEL_OK;
    item = pack_find(p, libraries);
    if (item == NULL || item->kind != PACK_DIR)
        return pack_fail(p, KEEL_ERR_NOT_FOUND, libraries,
                         "is named as \"libraries\" in %s but is %s", KEEL_BUNDLE_MANIFEST,
                         item == NULL ? "missing" : "not a directory");
    return KEEL_OK;
}

/* ---- the digest list ------------------------------------------------------ */

typedef struct pack_digest {
    const char *path;
    const char *sha256;
} pack_digest;

static int pack_compare_digests(const void *a, const void *b)
{
    return strcmp(((const pack_digest *)a)->path, ((const pack_digest *)b)->path);
}

static keel_status pack_hash_files(packer *p)
{
    for (size_t i = 0; i < p->count; i++) {
        pack_item *item = &p->items[i];
        if (item->kind != PACK_FILE)
            continue;
        keel_status s = pack_stream_file(p, item->path, item->size, NULL, item->sha256);
        if (s != KEEL_OK)
            return s;
    }
    return KEEL_OK;
}

/* Renders the digest list as JSON text with keys in byte order. */
static keel_status pack_digest_json(packer *p, char **out)
{
    *out = NULL;
    pack_digest *list = malloc((p->count + 1) * sizeof *list);
    cJSON *root = cJSON_CreateObject();
    keel_status s = KEEL_OK;
    if (list == NULL || root == NULL)
        s = pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be packed: out of memory");
    size_t n = 0;
    if (s == KEEL_OK) {
        list[n++] = (pack_digest){KEEL_BUNDLE_MANIFEST, p->manifest_sha256};
        for (size_t i = 0; i < p->count; i++)
            if (p->items[i].kind == PACK_FILE)
                list[n++] = (pack_digest){p->items[i].path, p->items[i].sha256};
        qsort(list, n, sizeof *list, pack_compare_digests);
    }
    for (size_t i = 0; s == KEEL_OK && i < n; i++)
        if (cJSON_AddStringToObject(root, list[i].path, list[i].sha256) == NULL)
            s = pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be packed: out of memory");
    if (s == KEEL_OK && (*out = cJSON_Print(root)) == NULL)
        s = pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be packed: out of memory");
    cJSON_Delete(root);
    free(list);
    return s;
}

/* ---- writing the archive ----------------------------------------------------- */

static keel_status pack_archive_error(packer *p, struct archive *a, const char *entry)
{
    const char *msg = archive_error_string(a);
    return pack_fail(p, KEEL_ERR_IO, entry, "cannot be written to the bundle: %s",
                     msg ? msg : "unknown libarchive error");
}

static keel_status pack_write_header(packer *p, struct archive *a, const char *path,
                                     mode_t type, mode_t perm, uint64_t size, const char *target)
{
    struct archive_entry *ae = archive_entry_new();
    if (ae == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, path, "cannot be packed: out of memory");
    archive_entry_set_pathname(ae, path);
    archive_entry_set_filetype(ae, type);
    archive_entry_set_perm(ae, perm);
    archive_entry_set_size(ae, (la_int64_t)size);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_set_uname(ae, "root");
    archive_entry_set_gname(ae, "root");
    archive_entry_set_mtime(ae, p->mtime, 0);
    if (target != NULL)
        archive_entry_set_symlink(ae, target);
    keel_status s = KEEL_OK;
    if (archive_write_header(a, ae) != ARCHIVE_OK)
        s = pack_archive_error(p, a, path);
    archive_entry_free(ae);
    return s;
}

static keel_status pack_write_buffer(packer *p, struct archive *a, const char *path,
                                     const char *data, size_t size)
{
    keel_status s = pack_write_header(p, a, path, AE_IFREG, 0644, size, NULL);
    if (s == KEEL_OK && size > 0 && archive_write_data(a, data, size) != (la_ssize_t)size)
        s = pack_archive_error(p, a, path);
    return s;
}

static keel_status pack_write_item(packer *p, struct archive *a, const pack_item *item)
{
    if (item->kind == PACK_DIR)
        return pack_write_header(p, a, item->path, AE_IFDIR, 0755, 0, NULL);
    if (item->kind == PACK_SYMLINK)
        return pack_write_header(p, a, item->path, AE_IFLNK, 0777, 0, item->target);
    keel_status s = pack_write_header(p, a, item->path, AE_IFREG, item->mode, item->size, NULL);
    char sha256[KEEL_SHA256_HEX + 1];
    if (s == KEEL_OK)
        s = pack_stream_file(p, item->path, item->size, a, sha256);
    if (s == KEEL_OK && strcmp(sha256, item->sha256) != 0)
        s = pack_fail(p, KEEL_ERR_IO, item->path, "changed while being packed");
    return s;
}

static keel_status pack_write_entries(packer *p, struct archive *a, const char *digests)
{
    keel_status s = pack_write_buffer(p, a, KEEL_BUNDLE_MANIFEST, p->manifest, p->manifest_size);
    if (s == KEEL_OK)
        s = pack_write_buffer(p, a, KEEL_BUNDLE_DIGESTS, digests, strlen(digests));
    for (size_t i = 0; s == KEEL_OK && i < p->count; i++)
        s = pack_write_item(p, a, &p->items[i]);
    return s;
}

static keel_status pack_write_archive(packer *p, int fd, const char *digests)
{
    struct archive *a = archive_write_new();
    if (a == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be packed: out of memory");
    keel_status s = KEEL_OK;
    /* No gzip timestamp, and no padding of the last block: both would make
     * two packs of the same tree differ or grow for no reason. */
    if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK)
        s = pack_archive_error(p, a, NULL);
    if (s == KEEL_OK)
        s = pack_write_entries(p, a, digests);
    if (s == KEEL_OK && archive_write_close(a) != ARCHIVE_OK)
        s = pack_archive_error(p, a, NULL);
    archive_write_free(a);
    return s;
}

/* Writes the bundle to `<out>.tmp-XXXXXX` and renames it over `out`. */
static keel_status pack_write_output(packer *p, const char *out, const char *digests)
{
    size_t len = strlen(out) + sizeof ".tmp-XXXXXX";
    char *tmp = malloc(len);
    if (tmp == NULL)
        return pack_fail(p, KEEL_ERR_NOMEM, NULL, "cannot be packed: out of memory");
    snprintf(tmp, len, "%s.tmp-XXXXXX", out);
    int fd = mkostemp(tmp, O_CLOEXEC);
    keel_status s = KEEL_OK;
    if (fd < 0) {
        s = pack_fail(p, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, NULL,
                      "cannot be packed into %s: %s", out, strerror(errno));
        free(tmp);
        return s;
    }
    s = pack_write_archive(p, fd, digests);
    if (s == KEEL_OK && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        s = pack_fail(p, KEEL_ERR_IO, NULL, "cannot be packed into %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && s == KEEL_OK)
        s = pack_fail(p, KEEL_ERR_IO, NULL, "cannot be packed into %s: %s", tmp, strerror(errno));
    if (s == KEEL_OK && rename(tmp, out) != 0)
        s = pack_fail(p, KEEL_ERR_IO, NULL, "cannot be packed into %s: %s", out, strerror(errno));
    if (s != KEEL_OK)
        unlink(tmp);
    free(tmp);
    return s;
}

/* ---- setup ------------------------------------------------------------------ */

/* SOURCE_DATE_EPOCH (reproducible-builds.org) or 0. */
static keel_status pack_choose_mtime(packer *p)
{
    p->mtime = 0;
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    if (epoch == NULL || epoch[0] == '\0')
        return KEEL_OK;
    char *end;
    errno = 0;
    long long v = strtoll(epoch, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || epoch[0] < '0' || epoch[0] > '9') {
        char shown[PACK_SHOWN_MAX * 4 + 8];
        keel_error_quote(shown, sizeof shown, epoch, PACK_SHOWN_MAX);
        return pack_fail(p, KEEL_ERR_INVALID, NULL,
                         "cannot be packed: SOURCE_DATE_EPOCH \"%s\" is not a number of seconds",
                         shown);
    }
    p->mtime = (time_t)v;
    return KEEL_OK;
}

static keel_status pack_open_dir(packer *p, const char *dir, const char *out)
{
    p->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dir_fd < 0)
        return pack_fail(p, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, NULL,
                         "cannot be opened: %s", strerror(errno));
    p->real_dir = realpath(dir, NULL);
    if (p->real_dir == NULL)
        return pack_fail(p, KEEL_ERR_IO, NULL, "cannot be resolved: %s", strerror(errno));
    struct stat st;
    if (stat(out, &st) == 0) {
        p->skip_output = true;
        p->output_dev = st.st_dev;
        p->output_ino = st.st_ino;
    }
    return KEEL_OK;
}

static void pack_free(packer *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->items[i].path);
        free(p->items[i].target);
    }
    free(p->items);
    free(p->manifest);
    free(p->real_dir);
    if (p->dir_fd >= 0)
        close(p->dir_fd);
}

keel_status keel_bundle_pack(const char *dir, const char *out_path, keel_error *err)
{
    if (dir == NULL || out_path == NULL || out_path[0] == '\0')
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "keel_bundle_pack: a module directory and an output path are required");
    packer p = {.err = err, .dir_fd = -1};
    keel_error_quote(p.shown, sizeof p.shown, dir, PACK_SHOWN_MAX);
    keel_manifest *m = NULL;
    char *digests = NULL;
    keel_status s = pack_choose_mtime(&p);
    if (s == KEEL_OK)
        s = pack_open_dir(&p, dir, out_path);
    if (s == KEEL_OK)
        s = pack_read_manifest(&p);
    if (s == KEEL_OK)
        s = pack_parse_manifest(&p, dir, &m);
    if (s == KEEL_OK) {
        int walk_fd = dup(p.dir_fd);
        s = walk_fd < 0 ? pack_fail_errno(&p, ".", "dup") : pack_walk(&p, walk_fd, "", 0);
    }
    if (s == KEEL_OK)
        s = pack_check_library(&p, m);
    if (s == KEEL_OK)
        s = pack_hash_files(&p);
    if (s == KEEL_OK)
        s = pack_digest_json(&p, &digests);
    if (s == KEEL_OK)
        s = pack_write_output(&p, out_path, digests);
    free(digests);
    keel_manifest_destroy(m);
    pack_free(&p);
    return s;
}

/*
 * Reading .keel bundles. A bundle comes from outside, so every entry is
 * treated as hostile: names are canonicalised and checked before anything is
 * created, files are written by hand (never through libarchive's disk
 * writer, which follows its own policy), nothing is ever opened through a
 * symlink, and the whole extraction happens in a temporary directory that is
 * removed on any failure and renamed into place only when every check passed.
 */
#include <keel/bundle.h>
#include <keel/digest.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUNDLE_DEFAULT_MAX_FILE_SIZE (256ull << 20)
#define BUNDLE_DEFAULT_MAX_TOTAL_SIZE (1ull << 30)
#define BUNDLE_DEFAULT_MAX_ENTRIES 10000u
/* The manifest and digest list are held in memory, so they get caps of their
 * own well below the file-size limit. */
#define BUNDLE_MANIFEST_MAX (1u << 20)
#define BUNDLE_DIGESTS_MAX (16u << 20)
/* Entry names and link targets longer than this are refused: they only
 * serve to overflow paths once the bundle is installed somewhere deep. */
#define BUNDLE_NAME_MAX 1024
#define BUNDLE_COMPONENT_MAX 255
/* The kernel's own limit on symlinks followed during one lookup. */
#define BUNDLE_SYMLINK_HOPS 40
#define BUNDLE_SHOWN_MAX 200
#define BUNDLE_IO_BLOCK 65536

typedef enum bundle_kind { BUNDLE_FILE, BUNDLE_DIR, BUNDLE_SYMLINK } bundle_kind;

typedef struct bundle_entry {
    char *path;          /* canonical: no "", "." or ".." components */
    bundle_kind kind;
    bool has_digest;     /* listed in the digest file */
    char sha256[KEEL_SHA256_HEX + 1];
} bundle_entry;

typedef struct bundle_reader {
    char shown[BUNDLE_SHOWN_MAX * 4 + 8];  /* the bundle path, safe for one line */
    keel_error *err;
    keel_bundle_limits limits;
    bool extract;               /* false: only the manifest is wanted */
    int root_fd;                /* the temporary directory; -1 when not extracting */
    int archive_fd;
    struct archive *archive;
    bundle_entry *entries;
    size_t count;
    size_t capacity;
    size_t *slots;              /* hash of entry paths: index + 1, 0 = free */
    size_t slot_count;
    uint64_t total_size;
    char *manifest;
    size_t manifest_size;
    char *digests;
    size_t digests_size;
} bundle_reader;

/* A growable in-memory copy of the manifest or digest entry. */
typedef struct bundle_buffer {
    char **data;
    size_t *size;
    size_t max;
} bundle_buffer;

/* ---- messages ----------------------------------------------------------- */


/* Sets "bundle PATH: entry "NAME" DETAIL" (or without the entry part when
 * `entry` is NULL). */
__attribute__((format(printf, 4, 5)))
static keel_status bundle_fail(const bundle_reader *r, keel_status status, const char *entry,
                               const char *fmt, ...)
{
    char detail[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (entry == NULL)
        return keel_error_set(r->err, status, "bundle %s: %s", r->shown, detail);
    char name[BUNDLE_SHOWN_MAX * 4 + 8];
    keel_error_quote(name, sizeof name, entry, BUNDLE_SHOWN_MAX);
    return keel_error_set(r->err, status, "bundle %s: entry \"%s\" %s", r->shown, name, detail);
}

static const char *bundle_archive_message(struct archive *a)
{
    const char *msg = archive_error_string(a);
    return msg != NULL ? msg : "unknown libarchive error";
}

/* ---- the entry table ------------------------------------------------------ */

static size_t bundle_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static bundle_entry *bundle_find(const bundle_reader *r, const char *path)
{
    if (r->slot_count == 0)
        return NULL;
    size_t mask = r->slot_count - 1;
    for (size_t i = bundle_hash(path) & mask; r->slots[i] != 0; i = (i + 1) & mask) {
        bundle_entry *e = &r->entries[r->slots[i] - 1];
        if (strcmp(e->path, path) == 0)
            return e;
    }
    return NULL;
}

static void bundle_slot_insert(size_t *slots, size_t slot_count, const char *path, size_t index)
{
    size_t mask = slot_count - 1;
    size_t i = bundle_hash(path) & mask;
    while (slots[i] != 0)
        i = (i + 1) & mask;
    slots[i] = index + 1;
}

static bool bundle_grow(bundle_reader *r)
{
    if (r->count == r->capacity) {
        size_t capacity = r->capacity ? r->capacity * 2 : 64;
        bundle_entry *entries = realloc(r->entries, capacity * sizeof *entries);
        if (entries == NULL)
            return false;
        r->entries = entries;
        r->capacity = capacity;
    }
    if ((r->count + 1) * 2 > r->slot_count) {
        size_t slot_count = r->slot_count ? r->slot_count * 2 : 128;
        size_t *slots = calloc(slot_count, sizeof *slots);
        if (slots == NULL)
            return false;
        for (size_t i = 0; i < r->count; i++)
            bundle_slot_insert(slots, slot_count, r->entries[i].path, i);
        free(r->slots);
        r->slots = slots;
        r->slot_count = slot_count;
    }
    return true;
}

static bundle_entry *bundle_add(bundle_reader *r, const char *path, bundle_kind kind)
{
    if (!bundle_grow(r))
        return NULL;
    char *copy = strdup(path);
    if (copy == NULL)
        return NULL;
    bundle_entry *e = &r->entries[r->count];
    *e = (bundle_entry){.path = copy, .kind = kind};
    bundle_slot_insert(r->slots, r->slot_count, copy, r->count);
    r->count++;
    return e;
}

/* ---- names ------------------------------------------------------------------- */

/* Canonicalises a tar entry name into `out` (BUNDLE_NAME_MAX + 1 bytes):
 * "./a//b/" becomes "a/b". Returns NULL or the reason the name is refused. */
static const char *bundle_canonical_name(const char *raw, char *out)
{
    if (raw == NULL || raw[0] == '\0')
        return "has an empty name";
    if (raw[0] == '/')
        return "is an absolute path (entries must be relative)";
    if (strlen(raw) > BUNDLE_NAME_MAX)
        return "has a name longer than 1024 bytes";
    size_t o = 0;
    const char *c = raw;
    while (*c != '\0') {
        size_t len = strcspn(c, "/");
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
                return "has a control character in its name";
        if (len == 2 && c[0] == '.' && c[1] == '.')
            return "has a \"..\" component (entries must stay inside the bundle)";
        if (len > BUNDLE_COMPONENT_MAX)
            return "has a path component longer than 255 bytes";
        if (len > 0 && !(len == 1 && c[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, c, len);
            o += len;
        }
        c += len;
        if (*c == '/')
            c++;
    }
    out[o] = '\0';
    return NULL;
}

/* Lexical check of a link target against the link's own directory: a
 * relative target that climbs above the bundle root with ".." is refused. */
static const char *bundle_target_problem(const char *link_path, const char *target)
{
    if (target == NULL || target[0] == '\0')
        return "is a symlink without a target";
    if (strlen(target) > BUNDLE_NAME_MAX)
        return "is a symlink with a target longer than 1024 bytes";
    if (target[0] == '/')
        return "is a symlink to an absolute path";
    for (const char *c = target; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return "is a symlink with a control character in its target";
    long depth = 0;
    for (const char *c = link_path; *c != '\0'; c++)
        if (*c == '/')
            depth++;
    for (const char *c = target; *c != '\0';) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return "is a symlink whose target leaves the bundle";
        } else if (len > 0 && !(len == 1 && c[0] == '.')) {
            depth++;
        }
        c += len;
        if (*c == '/')
            c++;
    }
    return NULL;
}

/* ---- the file system side ------------------------------------------------ */

/* The parent walk fails with these when a component is a file or a symlink:
 * entries are never written through a link. */
static keel_status bundle_fail_parent(const bundle_reader *r, const char *entry)
{
    if (errno == ENOTDIR || errno == ELOOP || errno == EEXIST)
        return bundle_fail(r, KEEL_ERR_BUNDLE, entry,
                           "lies under an entry that is not a directory (entries are never "
                           "written through a symlink)");
    return bundle_fail(r, KEEL_ERR_IO, entry, "cannot be extracted (parent directory: %s)",
                       strerror(errno));
}

static keel_status bundle_fail_errno(const bundle_reader *r, const char *entry, const char *what)
{
    int saved = errno;
    keel_status status = KEEL_ERR_IO;
    if (saved == EEXIST || saved == ENOTDIR || saved == ELOOP || saved == EISDIR)
        status = KEEL_ERR_BUNDLE;
    if (status == KEEL_ERR_BUNDLE)
        return bundle_fail(r, status, entry, "conflicts with another entry (%s: %s)", what,
                           strerror(saved));
    return bundle_fail(r, status, entry, "cannot be extracted (%s: %s)", what, strerror(saved));
}

/* Opens (creating as needed) the directory holding `path` inside the
 * temporary root, never following a symlink, and returns its fd; *base
 * points at the last component of `path`. -1 with errno set on failure. */
static int bundle_open_parent(const bundle_reader *r, const char *path, const char **base)
{
    char buf[BUNDLE_NAME_MAX + 1];
    snprintf(buf, sizeof buf, "%s", path);
    const char *last = strrchr(path, '/');
    *base = last ? last + 1 : path;
    int fd = dup(r->root_fd);
    if (fd < 0 || last == NULL)
        return fd;
    buf[last - path] = '\0';
    for (char *c = buf; c != NULL && fd >= 0;) {
        char *slash = strchr(c, '/');
        if (slash != NULL)
            *slash = '\0';
        if (mkdirat(fd, c, 0755) != 0 && errno != EEXIST) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        close(fd);
        errno = saved;
        fd = next;
        c = slash ? slash + 1 : NULL;
    }
    return fd;
}

static bool bundle_write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        size -= (size_t)n;
    }
    return true;
}

/* Removes `name` under `parent_fd` recursively without following links. */
static void bundle_remove_tree(int parent_fd, const char *name)
{
    if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
        return;
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    /* Deleting while reading may make readdir skip names, so sweep until a
     * pass finds nothing left. */
    for (bool removed = true; removed;) {
        removed = false;
        struct dirent *d;
        while ((d = readdir(dir)) != NULL) {
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            bundle_remove_tree(dirfd(dir), d->d_name);
            removed = true;
        }
        rewinddir(dir);
    }
    closedir(dir);
    unlinkat(parent_fd, name, AT_REMOVEDIR);
}

/* ---- hashing ------------------------------------------------------------------ */

/* ---- entries -------------------------------------------------------------- */

static bool bundle_buffer_append(bundle_buffer *b, const void *data, size_t size)
{
    if (*b->size + size > b->max)
        return false;
    char *grown = realloc(*b->data, *b->size + size + 1);
    if (grown == NULL)
        return false;
    memcpy(grown + *b->size, data, size);
    *b->size += size;
    grown[*b->size] = '\0';
    *b->data = grown;
    return true;
}

/* Checks the running sizes of one file and of the whole bundle. */
static keel_status bundle_account(bundle_reader *r, const char *name, uint64_t file_size,
                                  uint64_t added)
{
    if (file_size > r->limits.max_file_size)
        return bundle_fail(r, KEEL_ERR_BUNDLE, name,
                           "is larger than the limit of %llu bytes per file",
                           (unsigned long long)r->limits.max_file_size);
    r->total_size += added;
    if (r->total_size > r->limits.max_total_size)
        return bundle_fail(r, KEEL_ERR_BUNDLE, name,
                           "takes the bundle over the limit of %llu bytes in total",
                           (unsigned long long)r->limits.max_total_size);
    return KEEL_OK;
}

/* Streams the data of the current entry to `fd` (may be -1), into `buffer`
 * (may be NULL) and through SHA-256. */
static keel_status bundle_stream(bundle_reader *r, const char *name, int fd, bundle_buffer *buffer,
                                 char *hex)
{
    keel_sha256 *md = keel_sha256_new();
    if (md == NULL)
        return bundle_fail(r, KEEL_ERR_INTERNAL, name, "cannot be hashed (OpenSSL SHA-256 failed)");
    char *block = malloc(BUNDLE_IO_BLOCK);
    if (block == NULL) {
        keel_sha256_free(md);
        return bundle_fail(r, KEEL_ERR_NOMEM, name, "cannot be read: out of memory");
    }
    uint64_t size = 0;
    keel_status s = KEEL_OK;
    for (;;) {
        la_ssize_t n = archive_read_data(r->archive, block, BUNDLE_IO_BLOCK);
        if (n == 0)
            break;
        if (n < 0) {
            s = bundle_fail(r, KEEL_ERR_BUNDLE, name,
                            "cannot be read: %s (the bundle is truncated or corrupt)",
                            bundle_archive_message(r->archive));
            break;
        }
        size += (uint64_t)n;
        s = bundle_account(r, name, size, (uint64_t)n);
        if (s != KEEL_OK)
            break;
        if (keel_sha256_update(md, block, (size_t)n) != 0) {
            s = bundle_fail(r, KEEL_ERR_INTERNAL, name, "cannot be hashed (OpenSSL SHA-256 failed)");
            break;
        }
        if (buffer != NULL && !bundle_buffer_append(buffer, block, (size_t)n)) {
            s = bundle_fail(r, KEEL_ERR_BUNDLE, name, "is larger than %zu bytes or memory ran out",
                            buffer->max);
            break;
        }
        if (fd >= 0 && !bundle_write_all(fd, block, (size_t)n)) {
            s = bundle_fail_errno(r, name, "write");
            break;
        }
    }
    if (s == KEEL_OK && keel_sha256_finish(md, hex) != 0)
        s = bundle_fail(r, KEEL_ERR_INTERNAL, name, "cannot be hashed (OpenSSL SHA-256 failed)");
    else if (s != KEEL_OK)
        keel_sha256_free(md);
    free(block);
    return s;
}

static keel_status bundle_read_file(bundle_reader *r, struct archive_entry *ae, const char *raw,
                                    bundle_entry *e)
{
    if (archive_entry_size_is_set(ae) && archive_entry_size(ae) >= 0) {
        keel_status s = bundle_account(r, raw, (uint64_t)archive_entry_size(ae), 0);
        if (s != KEEL_OK)
            return s;
    }
    bool is_manifest = strcmp(e->path, KEEL_BUNDLE_MANIFEST) == 0;
    bool is_digests = strcmp(e->path, KEEL_BUNDLE_DIGESTS) == 0;
    bundle_buffer manifest = {&r->manifest, &r->manifest_size, BUNDLE_MANIFEST_MAX};
    bundle_buffer digests = {&r->digests, &r->digests_size, BUNDLE_DIGESTS_MAX};
    bundle_buffer *buffer = is_manifest ? &manifest : is_digests ? &digests : NULL;
    if (!r->extract && buffer == NULL)
        return KEEL_OK;
    /* Allocated up front so that an empty entry still counts as present. */
    if (buffer != NULL && *buffer->data == NULL && (*buffer->data = calloc(1, 1)) == NULL)
        return bundle_fail(r, KEEL_ERR_NOMEM, raw, "cannot be read: out of memory");
    int fd = -1;
    if (r->extract) {
        const char *base;
        int parent = bundle_open_parent(r, e->path, &base);
        if (parent < 0)
            return bundle_fail_parent(r, raw);
        fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            keel_status s = bundle_fail_errno(r, raw, "create");
            close(parent);
            return s;
        }
        close(parent);
    }
    keel_status s = bundle_stream(r, raw, fd, buffer, e->sha256);
    if (fd >= 0) {
        mode_t mode = (archive_entry_perm(ae) & 0111) ? 0755 : 0644;
        if (s == KEEL_OK && fchmod(fd, mode) != 0)
            s = bundle_fail_errno(r, raw, "chmod");
        if (close(fd) != 0 && s == KEEL_OK)
            s = bundle_fail_errno(r, raw, "close");
    }
    return s;
}

static keel_status bundle_make_dir(bundle_reader *r, const char *raw, const bundle_entry *e)
{
    if (!r->extract)
        return KEEL_OK;
    const char *base;
    int parent = bundle_open_parent(r, e->path, &base);
    if (parent < 0)
        return bundle_fail_parent(r, raw);
    keel_status s = KEEL_OK;
    if (mkdirat(parent, base, 0755) != 0) {
        int saved = errno;
        struct stat st;
        /* An earlier entry may already have created it as a parent. */
        bool made_before = saved == EEXIST &&
                           fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                           S_ISDIR(st.st_mode);
        if (!made_before) {
            errno = saved;
            s = bundle_fail_errno(r, raw, "mkdir");
        }
    }
    close(parent);
    return s;
}

static keel_status bundle_make_symlink(bundle_reader *r, struct archive_entry *ae, const char *raw,
                                       const bundle_entry *e)
{
    const char *target = archive_entry_symlink(ae);
    const char *problem = bundle_target_problem(e->path, target);
    if (problem != NULL) {
        char shown[BUNDLE_SHOWN_MAX * 4 + 8];
        keel_error_quote(shown, sizeof shown, target ? target : "", BUNDLE_SHOWN_MAX);
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw,
                           "%s (target \"%s\"; links must stay inside the bundle)", problem, shown);
    }
    if (!r->extract)
        return KEEL_OK;
    const char *base;
    int parent = bundle_open_parent(r, e->path, &base);
    if (parent < 0)
        return bundle_fail_parent(r, raw);
    keel_status s = KEEL_OK;
    if (symlinkat(target, parent, base) != 0)
        s = bundle_fail_errno(r, raw, "symlink");
    close(parent);
    return s;
}

static const char *bundle_type_name(mode_t type)
{
    switch (type) {
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a fifo";
    case AE_IFSOCK: return "a socket";
    default: return "of an unknown type";
    }
}

/* Refuses entry kinds a bundle may not hold; sets *kind otherwise. */
static keel_status bundle_entry_kind(bundle_reader *r, struct archive_entry *ae, const char *raw,
                                     bundle_kind *kind)
{
    if (archive_entry_hardlink(ae) != NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw, "is a hard link (bundles may not hold hard links)");
    mode_t type = archive_entry_filetype(ae);
    if (type == AE_IFREG)
        *kind = BUNDLE_FILE;
    else if (type == AE_IFDIR)
        *kind = BUNDLE_DIR;
    else if (type == AE_IFLNK)
        *kind = BUNDLE_SYMLINK;
    else
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw,
                           "is %s (bundles hold only files, directories and symlinks)",
                           bundle_type_name(type));
    return KEEL_OK;
}

static keel_status bundle_handle_entry(bundle_reader *r, struct archive_entry *ae)
{
    const char *raw = archive_entry_pathname(ae);
    char path[BUNDLE_NAME_MAX + 1];
    const char *problem = bundle_canonical_name(raw, path);
    if (problem != NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw ? raw : "", "%s", problem);
    bundle_kind kind = BUNDLE_FILE;
    keel_status s = bundle_entry_kind(r, ae, raw, &kind);
    if (s != KEEL_OK)
        return s;
    if (path[0] == '\0') {
        if (kind == BUNDLE_DIR)
            return KEEL_OK;   /* "./", the root itself */
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw, "names the bundle root but is not a directory");
    }
    if (bundle_find(r, path) != NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw, "appears twice in the bundle");
    bool special = strcmp(path, KEEL_BUNDLE_MANIFEST) == 0 || strcmp(path, KEEL_BUNDLE_DIGESTS) == 0;
    if (special && kind != BUNDLE_FILE)
        return bundle_fail(r, KEEL_ERR_BUNDLE, raw, "must be a regular file");
    bundle_entry *e = bundle_add(r, path, kind);
    if (e == NULL)
        return bundle_fail(r, KEEL_ERR_NOMEM, raw, "cannot be recorded: out of memory");
    if (kind == BUNDLE_FILE)
        return bundle_read_file(r, ae, raw, e);
    if (kind == BUNDLE_DIR)
        return bundle_make_dir(r, raw, e);
    return bundle_make_symlink(r, ae, raw, e);
}

/* ---- the archive ---------------------------------------------------------------- */

static keel_status bundle_open(bundle_reader *r, const char *path)
{
    r->archive_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->archive_fd < 0)
        return bundle_fail(r, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, NULL,
                           "cannot be opened: %s", strerror(errno));
    struct stat st;
    if (fstat(r->archive_fd, &st) != 0)
        return bundle_fail(r, KEEL_ERR_IO, NULL, "cannot be read: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "is not a regular file");
    if (st.st_size == 0)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "is an empty file (expected a gzip'd tar)");
    r->archive = archive_read_new();
    if (r->archive == NULL)
        return bundle_fail(r, KEEL_ERR_NOMEM, NULL, "cannot be read: out of memory");
    if (archive_read_support_filter_gzip(r->archive) != ARCHIVE_OK ||
        archive_read_support_format_tar(r->archive) != ARCHIVE_OK)
        return bundle_fail(r, KEEL_ERR_INTERNAL, NULL, "cannot be read: %s",
                           bundle_archive_message(r->archive));
    if (archive_read_open_fd(r->archive, r->archive_fd, BUNDLE_IO_BLOCK) != ARCHIVE_OK)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "is not a gzip'd tar: %s",
                           bundle_archive_message(r->archive));
    return KEEL_OK;
}

/* libarchive accepts uncompressed input whatever filters are enabled, so the
 * filter chain is checked by hand: exactly gzip over the raw file. */
static keel_status bundle_check_filter(bundle_reader *r)
{
    if (archive_filter_count(r->archive) != 2 ||
        archive_filter_code(r->archive, 0) != ARCHIVE_FILTER_GZIP)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL,
                           "is not gzip-compressed (expected a gzip'd tar)");
    return KEEL_OK;
}

static keel_status bundle_next(bundle_reader *r, struct archive_entry **ae, bool *done)
{
    int rc = archive_read_next_header(r->archive, ae);
    *done = rc == ARCHIVE_EOF;
    if (*done)
        return KEEL_OK;
    if (rc == ARCHIVE_OK)
        return KEEL_OK;
    const char *after = r->count ? r->entries[r->count - 1].path : NULL;
    if (after != NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL,
                           "is truncated or corrupt after entry \"%.200s\": %s", after,
                           bundle_archive_message(r->archive));
    return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "is not a gzip'd tar: %s",
                       bundle_archive_message(r->archive));
}

static keel_status bundle_read_entries(bundle_reader *r)
{
    for (uint64_t n = 0;; n++) {
        struct archive_entry *ae;
        bool done;
        keel_status s = bundle_next(r, &ae, &done);
        if (s != KEEL_OK || done)
            return s;
        if (n == 0 && (s = bundle_check_filter(r)) != KEEL_OK)
            return s;
        if (n >= r->limits.max_entries)
            return bundle_fail(r, KEEL_ERR_BUNDLE, archive_entry_pathname(ae),
                               "is over the limit of %lu entries per bundle",
                               (unsigned long)r->limits.max_entries);
        s = bundle_handle_entry(r, ae);
        if (s != KEEL_OK)
            return s;
        if (!r->extract && r->manifest != NULL && r->digests != NULL)
            return KEEL_OK;
    }
}

/* ---- digests ---------------------------------------------------------------- */

static bool bundle_is_sha256_hex(const cJSON *item)
{
    if (!cJSON_IsString(item) || strlen(item->valuestring) != KEEL_SHA256_HEX)
        return false;
    for (const char *c = item->valuestring; *c != '\0'; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static keel_status bundle_parse_digests(bundle_reader *r, cJSON **out)
{
    *out = NULL;
    if (r->digests == NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "has no %s (the list of file digests)",
                           KEEL_BUNDLE_DIGESTS);
    cJSON *root = cJSON_ParseWithLength(r->digests, r->digests_size);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bundle_fail(r, KEEL_ERR_BUNDLE, KEEL_BUNDLE_DIGESTS,
                           "is not a JSON object mapping paths to SHA-256 digests");
    }
    for (const cJSON *item = root->child; item != NULL; item = item->next) {
        if (!bundle_is_sha256_hex(item)) {
            char key[BUNDLE_SHOWN_MAX * 4 + 8];
            keel_error_quote(key, sizeof key, item->string, BUNDLE_SHOWN_MAX);
            cJSON_Delete(root);
            return bundle_fail(r, KEEL_ERR_BUNDLE, KEEL_BUNDLE_DIGESTS,
                               "gives \"%s\" a digest that is not 64 lower-case hex digits", key);
        }
    }
    *out = root;
    return KEEL_OK;
}

static keel_status bundle_check_digest(bundle_reader *r, bundle_entry *e, const cJSON *item)
{
    if (e == NULL || e->kind != BUNDLE_FILE || strcmp(item->string, KEEL_BUNDLE_DIGESTS) == 0) {
        char key[BUNDLE_SHOWN_MAX * 4 + 8];
        keel_error_quote(key, sizeof key, item->string, BUNDLE_SHOWN_MAX);
        return bundle_fail(r, KEEL_ERR_BUNDLE, KEEL_BUNDLE_DIGESTS,
                           "lists \"%s\", which is not a file of the bundle", key);
    }
    if (e->has_digest)
        return bundle_fail(r, KEEL_ERR_BUNDLE, KEEL_BUNDLE_DIGESTS, "lists \"%.200s\" twice",
                           e->path);
    e->has_digest = true;
    if (strcmp(e->sha256, item->valuestring) != 0)
        return bundle_fail(r, KEEL_ERR_BUNDLE, e->path,
                           "does not match its digest (SHA-256 %s, %s says %s)", e->sha256,
                           KEEL_BUNDLE_DIGESTS, item->valuestring);
    return KEEL_OK;
}

/* Every regular file but the digest list itself has exactly one matching
 * digest, and every digest names such a file. */
static keel_status bundle_verify_all(bundle_reader *r, const cJSON *digests)
{
    for (const cJSON *item = digests->child; item != NULL; item = item->next) {
        keel_status s = bundle_check_digest(r, bundle_find(r, item->string), item);
        if (s != KEEL_OK)
            return s;
    }
    for (size_t i = 0; i < r->count; i++) {
        const bundle_entry *e = &r->entries[i];
        if (e->kind == BUNDLE_FILE && !e->has_digest && strcmp(e->path, KEEL_BUNDLE_DIGESTS) != 0)
            return bundle_fail(r, KEEL_ERR_BUNDLE, e->path, "has no digest in %s",
                               KEEL_BUNDLE_DIGESTS);
    }
    return KEEL_OK;
}

static keel_status bundle_verify_manifest_only(bundle_reader *r, const cJSON *digests)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(digests, KEEL_BUNDLE_MANIFEST);
    bundle_entry *e = bundle_find(r, KEEL_BUNDLE_MANIFEST);
    if (item == NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, KEEL_BUNDLE_MANIFEST, "has no digest in %s",
                           KEEL_BUNDLE_DIGESTS);
    return bundle_check_digest(r, e, item);
}

static keel_status bundle_verify(bundle_reader *r)
{
    if (r->manifest == NULL)
        return bundle_fail(r, KEEL_ERR_BUNDLE, NULL, "has no %s at its top level",
                           KEEL_BUNDLE_MANIFEST);
    cJSON *digests;
    keel_status s = bundle_parse_digests(r, &digests);
    if (s != KEEL_OK)
        return s;
    s = r->extract ? bundle_verify_all(r, digests) : bundle_verify_manifest_only(r, digests);
    cJSON_Delete(digests);
    return s;
}

/* ---- checks on the extracted tree ------------------------------------------ */

/* One emulated path lookup inside the extracted tree. */
typedef struct bundle_walk {
    char *pending;                            /* what is left to resolve (malloc'd) */
    char resolved[BUNDLE_NAME_MAX * 2 + 2];   /* resolved so far; never holds a link */
    size_t rlen;
    int hops;                                 /* symlinks followed */
} bundle_walk;

typedef enum bundle_step {
    BUNDLE_STEP_NEXT,     /* keep going */
    BUNDLE_STEP_DONE,     /* resolved, or the lookup fails: either way it stays inside */
    BUNDLE_STEP_ESCAPES,  /* climbs above the root, is absolute, or loops */
    BUNDLE_STEP_NOMEM
} bundle_step;

/* Moves the first component of w->pending into `component`; returns its
 * length (which may exceed the buffer, then `component` is cut short). */
static size_t bundle_walk_take(bundle_walk *w, char *component, size_t size)
{
    size_t len = strcspn(w->pending, "/");
    snprintf(component, size, "%.*s", (int)len, w->pending);
    const char *next = w->pending + len + (w->pending[len] == '/');
    memmove(w->pending, next, strlen(next) + 1);
    return len;
}

/* Replaces the symlink just appended to w->resolved (whose previous length
 * was `before`) by its target, put in front of what is pending. */
static bundle_step bundle_walk_follow(bundle_walk *w, int root_fd, size_t before)
{
    char target[BUNDLE_NAME_MAX + 2];
    ssize_t n = readlinkat(root_fd, w->resolved, target, sizeof target);
    if (++w->hops > BUNDLE_SYMLINK_HOPS || n <= 0 || (size_t)n >= sizeof target ||
        target[0] == '/')
        return BUNDLE_STEP_ESCAPES;
    target[n] = '\0';
    w->rlen = before;
    w->resolved[before] = '\0';
    size_t size = (size_t)n + 1 + strlen(w->pending) + 1;
    char *joined = malloc(size);
    if (joined == NULL)
        return BUNDLE_STEP_NOMEM;
    snprintf(joined, size, "%s/%s", target, w->pending);
    free(w->pending);
    w->pending = joined;
    return BUNDLE_STEP_NEXT;
}

static bundle_step bundle_walk_step(bundle_walk *w, int root_fd)
{
    char component[BUNDLE_COMPONENT_MAX + 1];
    size_t len = bundle_walk_take(w, component, sizeof component);
    if (len > BUNDLE_COMPONENT_MAX)
        return BUNDLE_STEP_DONE;   /* the kernel refuses such a name */
    if (len == 0 || strcmp(component, ".") == 0)
        return BUNDLE_STEP_NEXT;
    if (strcmp(component, "..") == 0) {
        if (w->rlen == 0)
            return BUNDLE_STEP_ESCAPES;
        char *slash = strrchr(w->resolved, '/');
        w->rlen = slash ? (size_t)(slash - w->resolved) : 0;
        w->resolved[w->rlen] = '\0';
        return BUNDLE_STEP_NEXT;
    }
    size_t before = w->rlen;
    if (before + 1 + len + 1 > sizeof w->resolved)
        return BUNDLE_STEP_DONE;   /* longer than PATH_MAX allows here: fails */
    w->rlen += (size_t)snprintf(w->resolved + before, sizeof w->resolved - before, "%s%s",
                                before ? "/" : "", component);
    struct stat st;
    if (fstatat(root_fd, w->resolved, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return BUNDLE_STEP_DONE;   /* dangling: nothing to escape to */
    if (S_ISLNK(st.st_mode))
        return bundle_walk_follow(w, root_fd, before);
    if (!S_ISDIR(st.st_mode) && w->pending[0] != '\0')
        return BUNDLE_STEP_DONE;   /* a file used as a directory: fails */
    return BUNDLE_STEP_NEXT;
}

/* Follows the symlink at `path` the way the kernel would, inside the
 * extracted tree, and refuses it if the lookup would leave the tree. The
 * lexical check at entry time cannot see that "a -> ." followed by
 * "b -> a/.." climbs out; this walk can. */
static keel_status bundle_resolve_link(bundle_reader *r, const char *path)
{
    bundle_walk w = {.pending = strdup(path)};
    bundle_step step = w.pending ? BUNDLE_STEP_NEXT : BUNDLE_STEP_NOMEM;
    while (step == BUNDLE_STEP_NEXT && w.pending[0] != '\0')
        step = bundle_walk_step(&w, r->root_fd);
    free(w.pending);
    if (step == BUNDLE_STEP_ESCAPES)
        return bundle_fail(r, KEEL_ERR_BUNDLE, path,
                           "is a symlink whose target leaves the bundle or loops");
    if (step == BUNDLE_STEP_NOMEM)
        return bundle_fail(r, KEEL_ERR_NOMEM, path, "cannot be checked: out of memory");
    return KEEL_OK;
}

static keel_status bundle_check_links(bundle_reader *r)
{
    for (size_t i = 0; i < r->count; i++) {
        if (r->entries[i].kind != BUNDLE_SYMLINK)
            continue;
        keel_status s = bundle_resolve_link(r, r->entries[i].path);
        if (s != KEEL_OK)
            return s;
    }
    return KEEL_OK;
}

static keel_status bundle_check_library(bundle_reader *r, const keel_manifest *m)
{
    const char *library = keel_manifest_library(m);
    const bundle_entry *e = bundle_find(r, library);
    if (e == NULL || e->kind != BUNDLE_FILE)
        return bundle_fail(r, KEEL_ERR_BUNDLE, library,
                           "is named as \"library\" in the manifest but is %s",
                           e == NULL ? "not in the bundle" : "not a regular file");
    const char *libraries = keel_manifest_libraries(m);
    struct stat st;
    if (libraries != NULL &&
        (fstatat(r->root_fd, libraries, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)))
        return bundle_fail(r, KEEL_ERR_BUNDLE, libraries,
                           "is named as \"libraries\" in the manifest but is not a directory "
                           "of the bundle");
    return KEEL_OK;
}

static keel_status bundle_parse_manifest(bundle_reader *r, keel_manifest **out)
{
    char origin[sizeof r->shown + 8];
    snprintf(origin, sizeof origin, "bundle %s", r->shown);
    return keel_manifest_parse(r->manifest, r->manifest_size, origin, out, r->err);
}

/* ---- the reader ---------------------------------------------------------------- */

static void bundle_reader_init(bundle_reader *r, const char *path,
                               const keel_bundle_limits *limits, bool extract, keel_error *err)
{
    *r = (bundle_reader){.err = err, .extract = extract, .root_fd = -1, .archive_fd = -1};
    keel_error_quote(r->shown, sizeof r->shown, path, BUNDLE_SHOWN_MAX);
    if (limits != NULL)
        r->limits = *limits;
    if (r->limits.max_file_size == 0)
        r->limits.max_file_size = BUNDLE_DEFAULT_MAX_FILE_SIZE;
    if (r->limits.max_total_size == 0)
        r->limits.max_total_size = BUNDLE_DEFAULT_MAX_TOTAL_SIZE;
    if (r->limits.max_entries == 0)
        r->limits.max_entries = BUNDLE_DEFAULT_MAX_ENTRIES;
}

static void bundle_reader_free(bundle_reader *r)
{
    if (r->archive != NULL)
        archive_read_free(r->archive);
    if (r->archive_fd >= 0)
        close(r->archive_fd);
    if (r->root_fd >= 0)
        close(r->root_fd);
    for (size_t i = 0; i < r->count; i++)
        free(r->entries[i].path);
    free(r->entries);
    free(r->slots);
    free(r->manifest);
    free(r->digests);
}

/* Reads the archive and runs every check; on KEEL_OK *out is the manifest. */
static keel_status bundle_run(bundle_reader *r, const char *path, keel_manifest **out)
{
    *out = NULL;
    keel_status s = bundle_open(r, path);
    if (s == KEEL_OK)
        s = bundle_read_entries(r);
    if (s == KEEL_OK)
        s = bundle_verify(r);
    if (s == KEEL_OK)
        s = bundle_parse_manifest(r, out);
    if (s == KEEL_OK && r->extract)
        s = bundle_check_links(r);
    if (s == KEEL_OK && r->extract)
        s = bundle_check_library(r, *out);
    if (s != KEEL_OK) {
        keel_manifest_destroy(*out);
        *out = NULL;
    }
    return s;
}

/* Moves the finished tree into place; never replaces an existing dest. */
static keel_status bundle_publish(bundle_reader *r, const char *tmp, const char *dest)
{
    if (fchmod(r->root_fd, 0755) != 0)
        return bundle_fail(r, KEEL_ERR_IO, NULL, "cannot set permissions on %s: %s", tmp,
                           strerror(errno));
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) == 0)
        return KEEL_OK;
    int saved = errno;
    if (saved == EINVAL || saved == ENOSYS) {
        /* The file system cannot refuse replacement itself; check first. */
        struct stat st;
        if (lstat(dest, &st) == 0)
            saved = EEXIST;
        else if (rename(tmp, dest) == 0)
            return KEEL_OK;
        else
            saved = errno;
    }
    if (saved == EEXIST || saved == ENOTEMPTY)
        return bundle_fail(r, KEEL_ERR_EXISTS, NULL, "cannot be extracted to %s: it already exists",
                           dest);
    return bundle_fail(r, KEEL_ERR_IO, NULL, "cannot be moved into %s: %s", dest, strerror(saved));
}

/* Creates `<dest>.tmp-XXXXXX` beside dest; *tmp is malloc'd. */
static keel_status bundle_make_temp(bundle_reader *r, const char *dest, char **tmp)
{
    size_t len = strlen(dest);
    *tmp = malloc(len + sizeof ".tmp-XXXXXX");
    if (*tmp == NULL)
        return bundle_fail(r, KEEL_ERR_NOMEM, NULL, "cannot be extracted: out of memory");
    snprintf(*tmp, len + sizeof ".tmp-XXXXXX", "%s.tmp-XXXXXX", dest);
    if (mkdtemp(*tmp) == NULL) {
        free(*tmp);
        *tmp = NULL;
        return bundle_fail(r, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO, NULL,
                           "cannot be extracted beside %s: %s", dest, strerror(errno));
    }
    r->root_fd = open(*tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (r->root_fd < 0)
        return bundle_fail(r, KEEL_ERR_IO, NULL, "cannot open %s: %s", *tmp, strerror(errno));
    return KEEL_OK;
}

/* dest without trailing slashes, so that "<dest>.tmp-..." is a sibling. */
static char *bundle_trim_dest(const char *dest)
{
    size_t len = strlen(dest);
    while (len > 1 && dest[len - 1] == '/')
        len--;
    return strndup(dest, len);
}

keel_status keel_bundle_extract(const char *path, const char *dest_dir,
                                const keel_bundle_limits *limits,
                                keel_manifest **manifest, keel_error *err)
{
    if (manifest != NULL)
        *manifest = NULL;
    if (path == NULL || dest_dir == NULL || dest_dir[0] == '\0')
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "keel_bundle_extract: a bundle path and a destination are required");
    bundle_reader r;
    bundle_reader_init(&r, path, limits, true, err);
    char *dest = bundle_trim_dest(dest_dir);
    if (dest == NULL)
        return bundle_fail(&r, KEEL_ERR_NOMEM, NULL, "cannot be extracted: out of memory");
    struct stat st;
    char *tmp = NULL;
    keel_manifest *m = NULL;
    keel_status s;
    if (lstat(dest, &st) == 0)
        s = bundle_fail(&r, KEEL_ERR_EXISTS, NULL, "cannot be extracted to %s: it already exists",
                        dest);
    else
        s = bundle_make_temp(&r, dest, &tmp);
    if (s == KEEL_OK)
        s = bundle_run(&r, path, &m);
    if (s == KEEL_OK)
        s = bundle_publish(&r, tmp, dest);
    if (s != KEEL_OK && tmp != NULL)
        bundle_remove_tree(AT_FDCWD, tmp);
    bundle_reader_free(&r);
    free(tmp);
    free(dest);
    if (s != KEEL_OK) {
        keel_manifest_destroy(m);
        return s;
    }
    if (manifest != NULL)
        *manifest = m;
    else
        keel_manifest_destroy(m);
    return KEEL_OK;
}

keel_status keel_bundle_read_manifest(const char *path, const keel_bundle_limits *limits,
                                      keel_manifest **manifest, keel_error *err)
{
    if (manifest != NULL)
        *manifest = NULL;
    if (path == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "keel_bundle_read_manifest: path is NULL");
    bundle_reader r;
    bundle_reader_init(&r, path, limits, false, err);
    keel_manifest *m = NULL;
    keel_status s = bundle_run(&r, path, &m);
    bundle_reader_free(&r);
    if (s != KEEL_OK)
        return s;
    if (manifest != NULL)
        *manifest = m;
    else
        keel_manifest_destroy(m);
    return KEEL_OK;
}

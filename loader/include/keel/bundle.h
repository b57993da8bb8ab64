/*
 * keel/bundle.h — the .keel bundle format: a gzip'd tar with manifest.json at
 * the root, the module .so, its private libraries and resources, and
 * KEEL_BUNDLE_DIGESTS, a JSON object mapping every other file's path to its
 * SHA-256 (lower-case hex).
 */
#ifndef KEEL_BUNDLE_H
#define KEEL_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <keel/error.h>
#include <keel/manifest.h>

#define KEEL_BUNDLE_MANIFEST "manifest.json"
#define KEEL_BUNDLE_DIGESTS "keel-digests.json"

/* Limits applied while reading a bundle. Zero fields take the defaults. */
typedef struct keel_bundle_limits {
    uint64_t max_file_size;   /* default 256 MiB */
    uint64_t max_total_size;  /* default 1 GiB */
    uint32_t max_entries;     /* default 10000 */
} keel_bundle_limits;

/* Reads the bundle at `path` (borrowed), validates the manifest, verifies
 * every digest, and extracts the files into the new directory `dest_dir`
 * (borrowed; must not exist; its parent must). Extraction goes to a
 * temporary sibling that is renamed to `dest_dir` only when everything
 * checked out, so on any error nothing is left behind.
 *
 * Refused (KEEL_ERR_BUNDLE, message names the bundle and the entry):
 * not a gzip'd tar, truncated, absolute paths, ".." components, symlinks
 * whose target leaves the bundle, hard links, device/fifo/socket entries,
 * duplicate entries, a file over max_file_size or a total over
 * max_total_size or more than max_entries entries, a missing or extra
 * digest, a digest mismatch, a missing manifest or library file.
 * A bad manifest gives KEEL_ERR_MANIFEST.
 *
 * `limits` may be NULL (defaults). On KEEL_OK, *manifest (if non-NULL) is a
 * new manifest the caller destroys with keel_manifest_destroy. */
keel_status keel_bundle_extract(const char *path, const char *dest_dir,
                                const keel_bundle_limits *limits,
                                keel_manifest **manifest, keel_error *err);

/* Reads only the manifest of the bundle at `path` (the digest of the
 * manifest is still verified). *manifest as for keel_bundle_extract. */
keel_status keel_bundle_read_manifest(const char *path, const keel_bundle_limits *limits,
                                      keel_manifest **manifest, keel_error *err);

/* Packs module directory `dir` (borrowed) into the bundle `out_path`
 * (borrowed): validates dir/manifest.json, checks that "library" exists,
 * records a SHA-256 of every file, and writes a gzip'd tar atomically
 * (temporary file + rename). Symlinks inside `dir` are stored as links when
 * they stay inside it, and refused otherwise. Files are added in sorted
 * order with fixed owner and mtime so the same input gives the same bytes. */
keel_status keel_bundle_pack(const char *dir, const char *out_path, keel_error *err);

#endif

/*
 * keel/digest.h — SHA-256 as lower-case hex, the digest bundles record for
 * every file and the loader uses to tell private libraries apart.
 */
#ifndef KEEL_DIGEST_H
#define KEEL_DIGEST_H

#include <stddef.h>

#define KEEL_SHA256_HEX 64

typedef struct keel_sha256 keel_sha256;

/* A new hash in progress; NULL when out of memory or OpenSSL fails. Ends
 * with keel_sha256_finish (or keel_sha256_free to abandon it). */
keel_sha256 *keel_sha256_new(void);

/* Adds `size` bytes of `data` (borrowed). Returns 0, or -1 on failure. */
int keel_sha256_update(keel_sha256 *h, const void *data, size_t size);

/* Writes the digest as KEEL_SHA256_HEX hex digits and a NUL into the
 * caller's `hex` and frees `h`. Returns 0, or -1 (hex is then ""). */
int keel_sha256_finish(keel_sha256 *h, char hex[KEEL_SHA256_HEX + 1]);

/* Abandons a hash. NULL-safe. */
void keel_sha256_free(keel_sha256 *h);

/* The digest of `size` bytes at `data`, or of the file at `path` (both
 * borrowed). Return 0, or -1 (errno tells why for a file). */
int keel_sha256_buffer(const void *data, size_t size, char hex[KEEL_SHA256_HEX + 1]);
int keel_sha256_file(const char *path, char hex[KEEL_SHA256_HEX + 1]);

#endif

/* benchsum: checksums and hashes; one of the four private libraries of the
 * bench-large module (its own SONAME, libbenchsum.so.1). */
#ifndef BENCHSUM_H
#define BENCHSUM_H
#include <stddef.h>
#include <stdint.h>
uint32_t benchsum_crc32(const void *data, size_t size);
uint32_t benchsum_adler32(const void *data, size_t size);
uint64_t benchsum_fnv1a64(const void *data, size_t size);
/* A 64-bit mixing hash (murmur-style finaliser over 8-byte blocks). */
uint64_t benchsum_mix64(const void *data, size_t size, uint64_t seed);
/* 0 when every function gives its known answer for a known input. */
int benchsum_selftest(void);
#endif

#include "benchsum.h"

#include <string.h>

/* Built on first use rather than stored: real code, not just a table. */
static uint32_t crc_table[256];
static int crc_ready;

static void crc_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t benchsum_crc32(const void *data, size_t size)
{
    if (!crc_ready)
        crc_build();
    const unsigned char *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t benchsum_adler32(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint32_t a = 1, b = 0;
    while (size > 0) {
        size_t block = size < 5552 ? size : 5552; /* no overflow before the modulo */
        size -= block;
        while (block-- > 0) {
            a += *p++;
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
    }
    return (b << 16) | a;
}

uint64_t benchsum_fnv1a64(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t benchsum_mix64(const void *data, size_t size, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (size * 0x87c37b91114253d5ull);
    size_t blocks = size / 8;
    for (size_t i = 0; i < blocks; i++) {
        uint64_t k;
        memcpy(&k, p + 8 * i, 8);
        k *= 0x87c37b91114253d5ull;
        k = rotl64(k, 31);
        k *= 0x4cf5ad432745937full;
        h ^= k;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    uint64_t tail = 0;
    for (size_t i = size & 7; i > 0; i--)
        tail = (tail << 8) | p[blocks * 8 + i - 1];
    h ^= tail * 0x4cf5ad432745937full;
    return fmix64(h);
}

int benchsum_selftest(void)
{
    static const char text[] = "123456789";
    int bad = 0;
    bad |= benchsum_crc32(text, 9) != 0xCBF43926u;
    bad |= benchsum_adler32("Wikipedia", 9) != 0x11E60398u;
    bad |= benchsum_fnv1a64("", 0) != 0xcbf29ce484222325ull;
    bad |= benchsum_mix64(text, 9, 1) == benchsum_mix64(text, 9, 2);
    return bad;
}

#include <keel/digest.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

struct keel_sha256 {
    EVP_MD_CTX *md;
};

keel_sha256 *keel_sha256_new(void)
{
    keel_sha256 *h = malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        keel_sha256_free(h);
        return NULL;
    }
    return h;
}

int keel_sha256_update(keel_sha256 *h, const void *data, size_t size)
{
    return EVP_DigestUpdate(h->md, data, size) == 1 ? 0 : -1;
}

int keel_sha256_finish(keel_sha256 *h, char hex[KEEL_SHA256_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(h->md, digest, &len) == 1 && len == KEEL_SHA256_HEX / 2;
    keel_sha256_free(h);
    for (unsigned int i = 0; ok && i < len; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[ok ? KEEL_SHA256_HEX : 0] = '\0';
    return ok ? 0 : -1;
}

void keel_sha256_free(keel_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

int keel_sha256_buffer(const void *data, size_t size, char hex[KEEL_SHA256_HEX + 1])
{
    keel_sha256 *h = keel_sha256_new();
    if (h == NULL || keel_sha256_update(h, data, size) != 0) {
        keel_sha256_free(h);
        hex[0] = '\0';
        return -1;
    }
    return keel_sha256_finish(h, hex);
}

int keel_sha256_file(const char *path, char hex[KEEL_SHA256_HEX + 1])
{
    hex[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    keel_sha256 *h = keel_sha256_new();
    char block[65536];
    ssize_t n = h == NULL ? -1 : 0;
    while (h != NULL && ((n = read(fd, block, sizeof block)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0 && keel_sha256_update(h, block, (size_t)n) != 0) {
            n = -1;
            break;
        }
    int saved = errno;
    close(fd);
    if (n != 0) {
        keel_sha256_free(h);
        errno = h == NULL ? ENOMEM : saved;
        return -1;
    }
    return keel_sha256_finish(h, hex);
}

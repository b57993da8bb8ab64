/* benchcodec: text encodings; a private library of bench-large
 * (libbenchcodec.so.1). All functions write a NUL-terminated result into
 * the caller's buffer and return its length, or -1 when it does not fit
 * (or the input is malformed). */
#ifndef BENCHCODEC_H
#define BENCHCODEC_H
#include <stddef.h>
long benchcodec_base64_encode(const void *data, size_t size, char *out, size_t cap);
long benchcodec_base64_decode(const char *text, void *out, size_t cap);
long benchcodec_hex_encode(const void *data, size_t size, char *out, size_t cap);
long benchcodec_hex_decode(const char *text, void *out, size_t cap);
/* RFC 3986 percent-encoding of everything but unreserved characters. */
long benchcodec_url_encode(const char *text, char *out, size_t cap);
/* Run-length encoding "aaab" -> "3a1b", and back. */
long benchcodec_rle_encode(const char *text, char *out, size_t cap);
long benchcodec_rle_decode(const char *text, char *out, size_t cap);
int benchcodec_selftest(void);
#endif

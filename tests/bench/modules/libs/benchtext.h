/* benchtext: text transforms; a private library of bench-large
 * (libbenchtext.so.1). Functions writing into `out` truncate to `size` and
 * NUL-terminate. */
#ifndef BENCHTEXT_H
#define BENCHTEXT_H
#include <stddef.h>
#include <stdint.h>
void benchtext_upper(const char *in, char *out, size_t size);
void benchtext_title(const char *in, char *out, size_t size);
void benchtext_reverse(const char *in, char *out, size_t size);
void benchtext_rot13(const char *in, char *out, size_t size);
/* Copies `in` without leading/trailing blanks and with runs of blanks
 * squeezed to one space. */
void benchtext_squeeze(const char *in, char *out, size_t size);
size_t benchtext_words(const char *in);
/* FNV-1a (32-bit) of the squeezed, upper-cased text: equal for texts
 * that differ only in case and spacing. */
uint32_t benchtext_signature(const char *in);
int benchtext_selftest(void);
#endif

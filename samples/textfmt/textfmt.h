/* textfmt: a tiny text-formatting library that two sample modules bundle
 * privately, in two different builds with the same SONAME. */
#ifndef TEXTFMT_H
#define TEXTFMT_H
#include <stddef.h>
/* Formats `in` (borrowed) into the caller's `out` of `size` bytes. */
void textfmt_apply(const char *in, char *out, size_t size);
/* Which build this is: "upper" or "lower". Static string. */
const char *textfmt_flavour(void);
#endif

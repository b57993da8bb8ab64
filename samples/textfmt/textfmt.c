#include "textfmt.h"

#include <ctype.h>
#include <stdio.h>

#if defined(TEXTFMT_UPPER)
#define FLAVOUR "upper"
#define CONVERT toupper
#define SUFFIX "!"
#else
#define FLAVOUR "lower"
#define CONVERT tolower
#define SUFFIX "..."
#endif

void textfmt_apply(const char *in, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)CONVERT((unsigned char)in[i]);
    out[i] = '\0';
    snprintf(out + i, size - i, "%s", SUFFIX);
}

const char *textfmt_flavour(void)
{
    return FLAVOUR;
}

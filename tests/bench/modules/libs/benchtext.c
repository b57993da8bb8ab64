#include "benchtext.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef int (*char_map)(int c);

static void map_text(const char *in, char *out, size_t size, char_map map)
{
    if (size == 0)
        return;
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)map((unsigned char)in[i]);
    out[i] = '\0';
}

void benchtext_upper(const char *in, char *out, size_t size)
{
    map_text(in, out, size, toupper);
}

static int rot13(int c)
{
    if (c >= 'a' && c <= 'z')
        return 'a' + (c - 'a' + 13) % 26;
    if (c >= 'A' && c <= 'Z')
        return 'A' + (c - 'A' + 13) % 26;
    return c;
}

void benchtext_rot13(const char *in, char *out, size_t size)
{
    map_text(in, out, size, rot13);
}

void benchtext_title(const char *in, char *out, size_t size)
{
    if (size == 0)
        return;
    int start = 1;
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (char)(start ? toupper(c) : tolower(c));
        start = isspace(c) || c == '-';
    }
    out[i] = '\0';
}

void benchtext_reverse(const char *in, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t n = strlen(in);
    if (n > size - 1)
        n = size - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = in[n - 1 - i];
    out[n] = '\0';
}

void benchtext_squeeze(const char *in, char *out, size_t size)
{
    if (size == 0)
        return;
    size_t o = 0;
    int blank = 0;
    while (isspace((unsigned char)*in))
        in++;
    for (; *in && o + 1 < size; in++) {
        if (isspace((unsigned char)*in)) {
            blank = 1;
            continue;
        }
        if (blank && o + 2 < size)
            out[o++] = ' ';
        blank = 0;
        out[o++] = *in;
    }
    out[o] = '\0';
}

size_t benchtext_words(const char *in)
{
    size_t n = 0;
    int inside = 0;
    for (; *in; in++) {
        int space = isspace((unsigned char)*in);
        n += !space && !inside;
        inside = !space;
    }
    return n;
}

uint32_t benchtext_signature(const char *in)
{
    size_t cap = strlen(in) + 1;
    char *squeezed = malloc(cap), *upper = malloc(cap);
    uint32_t hash = 0;
    if (squeezed != NULL && upper != NULL) {
        benchtext_squeeze(in, squeezed, cap);
        benchtext_upper(squeezed, upper, cap);
        hash = 2166136261u;
        for (const unsigned char *p = (const unsigned char *)upper; *p; p++)
            hash = (hash ^ *p) * 16777619u;
    }
    free(squeezed);
    free(upper);
    return hash;
}

int benchtext_selftest(void)
{
    char out[64];
    int bad = 0;
    benchtext_title("hot  SWAP", out, sizeof out);
    bad |= strcmp(out, "Hot  Swap") != 0;
    benchtext_squeeze("  a \t b  ", out, sizeof out);
    bad |= strcmp(out, "a b") != 0;
    benchtext_reverse("keel", out, sizeof out);
    bad |= strcmp(out, "leek") != 0;
    benchtext_rot13("Keel", out, sizeof out);
    bad |= strcmp(out, "Xrry") != 0;
    bad |= benchtext_words(" one two  three ") != 3;
    bad |= benchtext_signature("a  b") != benchtext_signature(" A B ");
    return bad;
}

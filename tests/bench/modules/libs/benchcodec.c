#include "benchcodec.h"

#include <stdio.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

long benchcodec_base64_encode(const void *data, size_t size, char *out, size_t cap)
{
    const unsigned char *p = data;
    size_t need = (size + 2) / 3 * 4;
    if (need + 1 > cap)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < size; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < size)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < size)
            v |= p[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < size ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < size ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return (long)o;
}

static int b64_value(char c)
{
    const char *hit = c ? strchr(b64, c) : NULL;
    return hit ? (int)(hit - b64) : -1;
}

long benchcodec_base64_decode(const char *text, void *out, size_t cap)
{
    unsigned char *o = out;
    size_t len = strlen(text), n = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = text[i + k] == '=' ? 0 : b64_value(text[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return -1;
        unsigned w = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        int bytes = text[i + 2] == '=' ? 1 : text[i + 3] == '=' ? 2 : 3;
        if (n + (size_t)bytes + 1 > cap)
            return -1;
        for (int k = 0; k < bytes; k++)
            o[n++] = (unsigned char)(w >> (16 - 8 * k));
    }
    o[n] = 0;
    return (long)n;
}

long benchcodec_hex_encode(const void *data, size_t size, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    if (2 * size + 1 > cap)
        return -1;
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * size] = '\0';
    return (long)(2 * size);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long benchcodec_hex_decode(const char *text, void *out, size_t cap)
{
    unsigned char *o = out;
    size_t len = strlen(text);
    if (len % 2 != 0 || len / 2 + 1 > cap)
        return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    o[len / 2] = 0;
    return (long)(len / 2);
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

long benchcodec_url_encode(const char *text, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (o + (unreserved(*p) ? 1 : 3) + 1 > cap)
            return -1;
        if (unreserved(*p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *p);
    }
    out[o] = '\0';
    return (long)o;
}

long benchcodec_rle_encode(const char *text, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; text[i] != '\0';) {
        size_t run = 1;
        while (text[i + run] == text[i])
            run++;
        int n = snprintf(out + o, cap > o ? cap - o : 0, "%zu%c", run, text[i]);
        if (n < 0 || o + (size_t)n + 1 > cap)
            return -1;
        o += (size_t)n;
        i += run;
    }
    if (o + 1 > cap)
        return -1;
    out[o] = '\0';
    return (long)o;
}

long benchcodec_rle_decode(const char *text, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = text;
    while (*p) {
        size_t run = 0;
        while (*p >= '0' && *p <= '9')
            run = run * 10 + (size_t)(*p++ - '0');
        if (run == 0 || *p == '\0' || o + run + 1 > cap)
            return -1;
        memset(out + o, *p++, run);
        o += run;
    }
    out[o] = '\0';
    return (long)o;
}

int benchcodec_selftest(void)
{
    char a[64], b[64];
    int bad = 0;
    bad |= benchcodec_base64_encode("keel", 4, a, sizeof a) != 8 || strcmp(a, "a2VlbA==") != 0;
    bad |= benchcodec_base64_decode(a, b, sizeof b) != 4 || strcmp(b, "keel") != 0;
    bad |= benchcodec_hex_encode("\x01\xab", 2, a, sizeof a) != 4 || strcmp(a, "01ab") != 0;
    bad |= benchcodec_hex_decode("4b65", b, sizeof b) != 2 || strcmp(b, "Ke") != 0;
    bad |= benchcodec_url_encode("a b/c", a, sizeof a) < 0 || strcmp(a, "a%20b%2Fc") != 0;
    bad |= benchcodec_rle_encode("aaab", a, sizeof a) < 0 || strcmp(a, "3a1b") != 0;
    bad |= benchcodec_rle_decode(a, b, sizeof b) != 4 || strcmp(b, "aaab") != 0;
    return bad;
}

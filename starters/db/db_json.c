/* db_json.c — the bounded output buffer results are written into, JSON
 * string escaping and base64 (for BLOB values). Results are written here
 * rather than through cJSON so that INTEGER values stay exact over the
 * whole int64 range. */
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

keel_status db_buf_append(db_buf *b, const char *s, size_t n)
{
    if (b->max && b->len + n > b->max)
        return KEEL_ERR_LIMIT;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return KEEL_ERR_NOMEM;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return KEEL_OK;
}

keel_status db_buf_puts(db_buf *b, const char *s)
{
    return db_buf_append(b, s, strlen(s));
}

char *db_buf_take(db_buf *b)
{
    char *data = b->data;
    if (!data)
        data = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void db_buf_clear(db_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

keel_status db_json_string(db_buf *b, const char *s, size_t n)
{
    keel_status st = db_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, written in one go */
    for (size_t i = 0; i < n && st == KEEL_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        st = db_buf_append(b, s + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"': memcpy(esc, "\\\"", 3); break;
        case '\\': memcpy(esc, "\\\\", 3); break;
        case '\n': memcpy(esc, "\\n", 3); break;
        case '\r': memcpy(esc, "\\r", 3); break;
        case '\t': memcpy(esc, "\\t", 3); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); break;
        }
        if (st == KEEL_OK)
            st = db_buf_puts(b, esc);
    }
    if (st == KEEL_OK)
        st = db_buf_append(b, s + n - run, run);
    if (st == KEEL_OK)
        st = db_buf_append(b, "\"", 1);
    return st;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

keel_status db_json_base64(db_buf *b, const unsigned char *data, size_t n)
{
    keel_status st = KEEL_OK;
    for (size_t i = 0; i < n && st == KEEL_OK; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < n)
            v |= data[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63],
                     i + 1 < n ? b64[(v >> 6) & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
        st = db_buf_append(b, q, 4);
    }
    return st;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

keel_status db_json_base64_decode(const char *text, unsigned char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (len % 4 != 0)
        return KEEL_ERR_INVALID;
    if (len == 0)
        return KEEL_OK;
    size_t pad = text[len - 1] == '=' ? (text[len - 2] == '=' ? 2 : 1) : 0;
    unsigned char *data = malloc(len / 4 * 3);
    if (!data)
        return KEEL_ERR_NOMEM;
    size_t w = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = b64_value(text[i + k]);
            if (v[k] < 0 && !(last && text[i + k] == '=' && k >= 4 - (int)pad)) {
                free(data);
                return KEEL_ERR_INVALID;
            }
        }
        unsigned bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 |
                        (unsigned)(v[2] < 0 ? 0 : v[2]) << 6 | (unsigned)(v[3] < 0 ? 0 : v[3]);
        data[w++] = (unsigned char)(bits >> 16);
        if (v[2] >= 0)
            data[w++] = (unsigned char)(bits >> 8);
        if (v[3] >= 0)
            data[w++] = (unsigned char)bits;
    }
    *out = data;
    *n = w;
    return KEEL_OK;
}

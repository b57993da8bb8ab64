#include <keel/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

keel_status keel_error_set(keel_error *err, keel_status status, const char *fmt, ...)
{
    if (err == NULL)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}

keel_status keel_error_prefix(keel_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return KEEL_OK;
    char prefix[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* prefix + ": " + old message, cut to the buffer (the end goes first). */
    size_t plen = strnlen(prefix, sizeof err->message - 3) + 2;
    size_t room = sizeof err->message - plen - 1;
    size_t mlen = strnlen(err->message, room);
    memmove(err->message + plen, err->message, mlen);
    memcpy(err->message, prefix, plen - 2);
    memcpy(err->message + plen - 2, ": ", 2);
    err->message[plen + mlen] = '\0';
    return err->status;
}

void keel_error_clear(keel_error *err)
{
    if (err == NULL)
        return;
    err->status = KEEL_OK;
    err->message[0] = '\0';
}

const char *keel_status_name(keel_status status)
{
    switch (status) {
    case KEEL_OK: return "ok";
    case KEEL_ERR_INVALID: return "invalid";
    case KEEL_ERR_NOMEM: return "nomem";
    case KEEL_ERR_NOT_FOUND: return "not-found";
    case KEEL_ERR_EXISTS: return "exists";
    case KEEL_ERR_IO: return "io";
    case KEEL_ERR_BUNDLE: return "bundle";
    case KEEL_ERR_MANIFEST: return "manifest";
    case KEEL_ERR_API: return "api";
    case KEEL_ERR_LOAD: return "load";
    case KEEL_ERR_UNSAFE: return "unsafe";
    case KEEL_ERR_START: return "start";
    case KEEL_ERR_TIMEOUT: return "timeout";
    case KEEL_ERR_BUSY: return "busy";
    case KEEL_ERR_LIMIT: return "limit";
    case KEEL_ERR_STATE: return "state";
    case KEEL_ERR_LEAK: return "leak";
    case KEEL_ERR_INTERNAL: return "internal";
    case KEEL_ERR_DENIED: return "denied";
    case KEEL_ERR_DRAINING: return "draining";
    case KEEL_ERR_BROKEN: return "broken";
    }
    return "unknown";
}

void keel_error_quote(char *buf, size_t size, const char *s, size_t max)
{
    size_t o = 0;
    size_t i = 0;
    for (; i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        char piece[8];
        if (c == '"' || c == '\\')
            snprintf(piece, sizeof piece, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            snprintf(piece, sizeof piece, "\\x%02x", c);
        else
            snprintf(piece, sizeof piece, "%c", c);
        size_t n = strlen(piece);
        if (o + n + 4 >= size)
            break;
        memcpy(buf + o, piece, n);
        o += n;
    }
    if (s[i] != '\0' && o + 4 <= size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

const char *keel_error_join(char *buf, size_t size, const char *const *names, size_t count)
{
    size_t used = 0;
    if (size > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < count && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

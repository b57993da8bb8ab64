/* http_log.c — the access log: one line per finished request,
 *
 *   TIME REMOTE METHOD PATH STATUS BYTES MICROSECONDS ROUTE SCENE
 *   2024-05-01T10:00:00.123Z 127.0.0.1:43210 POST /fund/transfer 200 57 812 POST:/fund/transfer retail
 *
 * fields separated by one space, none containing one (bytes outside
 * printable ASCII, spaces and '%' are written as %XX); "-" for none;
 * STATUS 0 when the connection ended before a response. Written with one
 * write(2) under a lock; reopen after rotation. */
#include "http_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

keel_status http_log_open(http_access_log *log, const char *path, keel_starter_error *err)
{
    pthread_mutex_init(&log->lock, NULL);
    log->fd = -1;
    log->path = NULL;
    atomic_init(&log->lines, 0);
    atomic_init(&log->errors, 0);
    if (!path)
        return KEEL_OK;
    if (!(log->path = strdup(path))) {
        keel_starter_error_set(err, "http: out of memory");
        return KEEL_ERR_NOMEM;
    }
    if ((log->fd = open_log(path)) < 0) {
        keel_starter_error_set(err, "http: config field \"access_log\": cannot open %s: %s", path,
                               strerror(errno));
        free(log->path);
        log->path = NULL;
        return KEEL_ERR_IO;
    }
    return KEEL_OK;
}

void http_log_close(http_access_log *log)
{
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    free(log->path);
    log->path = NULL;
    pthread_mutex_destroy(&log->lock);
}

keel_status http_log_reopen(http_access_log *log, keel_starter_error *err)
{
    if (!log->path)
        return KEEL_OK;
    int fd = open_log(log->path);
    if (fd < 0) {
        keel_starter_error_set(err, "http: cannot reopen the access log %s: %s", log->path,
                               strerror(errno));
        return KEEL_ERR_IO;
    }
    pthread_mutex_lock(&log->lock);
    int old = log->fd;
    log->fd = fd;
    pthread_mutex_unlock(&log->lock);
    if (old >= 0)
        close(old);
    return KEEL_OK;
}

/* Appends `s` escaped (at most `max` source bytes) to buf at *len. */
static void put_field(char *buf, size_t size, size_t *len, const char *s, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s || !*s)
        s = "-";
    for (size_t i = 0; s[i] && i < max && *len + 4 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            buf[(*len)++] = '%';
            buf[(*len)++] = hex[c >> 4];
            buf[(*len)++] = hex[c & 15];
        } else {
            buf[(*len)++] = (char)c;
        }
    }
    if (*len + 1 < size)
        buf[(*len)++] = ' ';
}

void http_log_request(http_access_log *log, const http_req *req, double micros)
{
    if (!log->path)
        return;
    char line[8192];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t len = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(line + len, sizeof line - len, ".%03ldZ ", now.tv_nsec / 1000000L);
    put_field(line, sizeof line, &len, req->remote, 64);
    put_field(line, sizeof line, &len, req->method, 16);
    put_field(line, sizeof line, &len, req->path, 512);
    int n = snprintf(line + len, sizeof line - len, "%d %zu %.0f ", req->status, req->bytes,
                     micros < 0 ? 0 : micros);
    len += n > 0 ? (size_t)n : 0;
    char route[1100] = "-";
    if (req->route)
        snprintf(route, sizeof route, "%s:%s", req->route->method, req->route->path);
    put_field(line, sizeof line, &len, route, 600);
    put_field(line, sizeof line, &len, req->route ? req->scene : NULL, 256);
    line[len - 1] = '\n';   /* the last field's separator */
    pthread_mutex_lock(&log->lock);
    ssize_t w = log->fd >= 0 ? write(log->fd, line, len) : -1;
    pthread_mutex_unlock(&log->lock);
    if (w == (ssize_t)len)
        atomic_fetch_add_explicit(&log->lines, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&log->errors, 1, memory_order_relaxed);
}

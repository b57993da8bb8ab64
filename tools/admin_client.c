/*
 * The client side of keeld's admin socket: connect, send one line, read
 * progress lines and the final answer.
 */
#include "admin_client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* keeld's lines are at most 1 MiB; be lenient with what we accept. */
#define ADMIN_LINE_MAX (64u << 20)
#define ADMIN_BUF_INITIAL 4096u

struct keel_admin_conn {
    int fd;
    int timeout_ms;
    char *path;
    char *buf;      /* bytes received, not yet consumed: buf[start..len) */
    size_t start;
    size_t len;
    size_t cap;
};

static keel_admin_outcome admin_fail(keel_admin_error *err, keel_admin_outcome outcome,
                                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static keel_admin_outcome admin_fail(keel_admin_error *err, keel_admin_outcome outcome,
                                     const char *fmt, ...)
{
    err->outcome = outcome;
    err->code = 0;
    err->status[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    for (char *c = err->message; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return outcome;
}

static int64_t admin_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

keel_admin_outcome keel_admin_connect(const char *path, int timeout_ms, keel_admin_conn **out,
                                      keel_admin_error *err)
{
    *out = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        return admin_fail(err, KEEL_ADMIN_CONNECT,
                          "cannot reach keeld at %s: the socket path is longer than %zu bytes",
                          path, sizeof addr.sun_path - 1);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    keel_admin_conn *conn = calloc(1, sizeof *conn);
    char *copy = strdup(path);
    if (conn == NULL || copy == NULL) {
        free(conn);
        free(copy);
        return admin_fail(err, KEEL_ADMIN_NOMEM, "out of memory");
    }
    conn->path = copy;
    conn->timeout_ms = timeout_ms;
    conn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (conn->fd < 0 || connect(conn->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        int e = errno;
        keel_admin_close(conn);
        return admin_fail(err, KEEL_ADMIN_CONNECT, "cannot reach keeld at %s: %s (is it running?)",
                          path, strerror(e));
    }
    *out = conn;
    return KEEL_ADMIN_OK;
}

void keel_admin_close(keel_admin_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->fd >= 0)
        close(conn->fd);
    free(conn->path);
    free(conn->buf);
    free(conn);
}

char *keel_admin_request_line(const char *op, const cJSON *args, size_t *size)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *copy = args != NULL ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
    char *text = NULL;
    if (req != NULL && copy != NULL && cJSON_AddStringToObject(req, "op", op) != NULL &&
        cJSON_AddItemToObject(req, "args", copy)) {
        copy = NULL;
        text = cJSON_PrintUnformatted(req);
    }
    cJSON_Delete(copy);
    cJSON_Delete(req);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (line == NULL) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *size = n + 1;
    return line;
}

static keel_admin_outcome admin_send(keel_admin_conn *conn, const char *line, size_t size,
                                     keel_admin_error *err)
{
    while (size > 0) {
        ssize_t n = send(conn->fd, line, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return admin_fail(err, KEEL_ADMIN_IO, "lost the connection to keeld at %s: %s",
                              conn->path, strerror(errno));
        line += n;
        size -= (size_t)n;
    }
    return KEEL_ADMIN_OK;
}

/* Makes room for more bytes after buf[len]. */
static keel_admin_outcome admin_make_room(keel_admin_conn *conn, keel_admin_error *err)
{
    if (conn->start > 0) {
        memmove(conn->buf, conn->buf + conn->start, conn->len - conn->start);
        conn->len -= conn->start;
        conn->start = 0;
    }
    if (conn->len < conn->cap)
        return KEEL_ADMIN_OK;
    if (conn->cap >= ADMIN_LINE_MAX)
        return admin_fail(err, KEEL_ADMIN_PROTOCOL, "keeld at %s sent a line longer than %u bytes",
                          conn->path, ADMIN_LINE_MAX);
    size_t cap = conn->cap == 0 ? ADMIN_BUF_INITIAL : conn->cap * 2;
    char *buf = realloc(conn->buf, cap + 1);
    if (buf == NULL)
        return admin_fail(err, KEEL_ADMIN_NOMEM, "out of memory");
    conn->buf = buf;
    conn->cap = cap;
    return KEEL_ADMIN_OK;
}

/* Waits until the socket is readable or the deadline (-1: none) passes. */
static keel_admin_outcome admin_wait(keel_admin_conn *conn, int64_t deadline,
                                     keel_admin_error *err)
{
    for (;;) {
        int wait_ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - admin_now_ms();
            if (left <= 0)
                return admin_fail(err, KEEL_ADMIN_TIMEOUT,
                                  "keeld at %s did not answer within %.3g s", conn->path,
                                  conn->timeout_ms / 1000.0);
            wait_ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = conn->fd, .events = POLLIN};
        int rc = poll(&p, 1, wait_ms);
        if (rc > 0)
            return KEEL_ADMIN_OK;
        if (rc < 0 && errno != EINTR)
            return admin_fail(err, KEEL_ADMIN_IO, "lost the connection to keeld at %s: %s",
                              conn->path, strerror(errno));
    }
}

/* Reads one line (newline stripped) into *line, which points into the
 * connection's buffer and stays valid until the next read. */
static keel_admin_outcome admin_read_line(keel_admin_conn *conn, int64_t deadline, char **line,
                                          size_t *size, keel_admin_error *err)
{
    size_t scanned = conn->start;
    for (;;) {
        char *nl = conn->len > scanned ? memchr(conn->buf + scanned, '\n', conn->len - scanned)
                                       : NULL;
        if (nl != NULL) {
            *nl = '\0';
            *line = conn->buf + conn->start;
            *size = (size_t)(nl - *line);
            conn->start = (size_t)(nl - conn->buf) + 1;
            return KEEL_ADMIN_OK;
        }
        scanned = conn->len - conn->start;   /* offset once compacted */
        keel_admin_outcome o = admin_make_room(conn, err);
        if (o == KEEL_ADMIN_OK)
            o = admin_wait(conn, deadline, err);
        if (o != KEEL_ADMIN_OK)
            return o;
        ssize_t n = recv(conn->fd, conn->buf + conn->len, conn->cap - conn->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return admin_fail(err, KEEL_ADMIN_IO, "lost the connection to keeld at %s: %s",
                              conn->path, strerror(errno));
        if (n == 0)
            return admin_fail(err, KEEL_ADMIN_IO,
                              "keeld at %s closed the connection before answering", conn->path);
        conn->len += (size_t)n;
    }
}

/* Turns a final {"ok": false, "error": {...}} into err. */
static keel_admin_outcome admin_refused(const keel_admin_conn *conn, const cJSON *answer,
                                        keel_admin_error *err)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(answer, "error");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(error, "status");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    if (cJSON_IsString(message) && message->valuestring[0] != '\0')
        admin_fail(err, KEEL_ADMIN_REFUSED, "%s", message->valuestring);
    else if (cJSON_IsString(error))
        admin_fail(err, KEEL_ADMIN_REFUSED, "%s", error->valuestring);
    else
        admin_fail(err, KEEL_ADMIN_REFUSED, "keeld at %s refused the request without a message",
                   conn->path);
    if (cJSON_IsString(status))
        snprintf(err->status, sizeof err->status, "%s", status->valuestring);
    if (cJSON_IsNumber(code))
        err->code = code->valueint;
    return KEEL_ADMIN_REFUSED;
}

/* Handles one parsed line: a progress line (returns -1 to read on) or the
 * final answer. */
static int admin_handle_line(const keel_admin_conn *conn, cJSON *answer,
                             keel_admin_progress_fn progress, void *user, cJSON **result,
                             keel_admin_error *err, keel_admin_outcome *outcome)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(answer, "ok");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(answer, "progress");
    if (ok == NULL && cJSON_IsString(text)) {
        if (progress != NULL)
            progress(user, text->valuestring);
        return -1;
    }
    if (!cJSON_IsBool(ok)) {
        *outcome = admin_fail(err, KEEL_ADMIN_PROTOCOL,
                              "keeld at %s answered without an \"ok\" field", conn->path);
        return 0;
    }
    if (cJSON_IsFalse(ok)) {
        *outcome = admin_refused(conn, answer, err);
        return 0;
    }
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(answer, "result");
    if (r == NULL)
        r = cJSON_CreateObject();
    if (r == NULL) {
        *outcome = admin_fail(err, KEEL_ADMIN_NOMEM, "out of memory");
        return 0;
    }
    *result = r;
    *outcome = KEEL_ADMIN_OK;
    return 0;
}

keel_admin_outcome keel_admin_exchange(keel_admin_conn *conn, const char *line, size_t size,
                                       keel_admin_progress_fn progress, void *user,
                                       cJSON **result, keel_admin_error *err)
{
    *result = NULL;
    int64_t deadline = conn->timeout_ms >= 0 ? admin_now_ms() + conn->timeout_ms : -1;
    keel_admin_outcome outcome = admin_send(conn, line, size, err);
    /* keeld may refuse a connection (another user, too many clients) with a
     * line and close it before reading ours: the write then fails, but the
     * reason is waiting to be read. */
    keel_admin_error send_error = *err;
    int send_failed = outcome != KEEL_ADMIN_OK;
    if (send_failed)
        outcome = KEEL_ADMIN_OK;
    while (outcome == KEEL_ADMIN_OK) {
        char *text = NULL;
        size_t n = 0;
        outcome = admin_read_line(conn, deadline, &text, &n, err);
        if (outcome != KEEL_ADMIN_OK) {
            if (send_failed) {
                *err = send_error;
                return KEEL_ADMIN_IO;
            }
            break;
        }
        cJSON *answer = cJSON_ParseWithLength(text, n);
        if (!cJSON_IsObject(answer)) {
            cJSON_Delete(answer);
            return admin_fail(err, KEEL_ADMIN_PROTOCOL,
                              "keeld at %s sent an answer that is not a JSON object", conn->path);
        }
        int more = admin_handle_line(conn, answer, progress, user, result, err, &outcome);
        cJSON_Delete(answer);
        if (!more)
            return outcome;
    }
    return outcome;
}

keel_admin_outcome keel_admin_request(keel_admin_conn *conn, const char *op, const cJSON *args,
                                      keel_admin_progress_fn progress, void *user,
                                      cJSON **result, keel_admin_error *err)
{
    *result = NULL;
    size_t size = 0;
    char *line = keel_admin_request_line(op, args, &size);
    if (line == NULL)
        return admin_fail(err, KEEL_ADMIN_NOMEM, "out of memory");
    keel_admin_outcome o = keel_admin_exchange(conn, line, size, progress, user, result, err);
    free(line);
    return o;
}

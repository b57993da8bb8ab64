/*
 * The admin socket server: an accept thread, one thread per connection,
 * newline-delimited requests answered through keel_admin_handle.
 */
#include "admin_socket.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <keel/log.h>
#include "base_internal.h"

#define SOCKET_BACKLOG 64
#define SOCKET_READ_CHUNK 65536
#define SOCKET_SEND_TIMEOUT_S 10   /* a peer that does not read is dropped */

typedef struct socket_conn {
    keel_admin_socket *server;
    int fd;
    pthread_t thread;
    atomic_int done;           /* the thread has finished; join and close */
    int broken;                /* a write failed or a line was too long: stop */
    struct socket_conn *next;
} socket_conn;

struct keel_admin_socket {
    keel_base *base;
    char *path;
    int listen_fd;
    int wake[2];               /* written once by stop to end the accept loop */
    dev_t dev;                 /* the socket file we bound, removed at stop */
    ino_t ino;
    pthread_t accept_thread;
    pthread_mutex_t lock;      /* guards conns and conn_count */
    socket_conn *conns;
    size_t conn_count;
};

/* ---- writing ------------------------------------------------------------- */

static int socket_send_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Writes `text` (borrowed, may be NULL: out of memory) and a newline. */
static void socket_send_line(socket_conn *conn, const char *text)
{
    static const char nomem[] = "{\"ok\":false,\"error\":{\"status\":\"nomem\",\"code\":2,"
                                "\"message\":\"keeld is out of memory\"}}";
    if (conn->broken)
        return;
    const char *line = text ? text : nomem;
    if (socket_send_all(conn->fd, line, strlen(line)) != 0 || socket_send_all(conn->fd, "\n", 1) != 0)
        conn->broken = 1;
}

static void socket_send_error(socket_conn *conn, keel_status status, const char *message)
{
    char *text = keel_admin_error_text(status, message);
    socket_send_line(conn, text);
    free(text);
}

static void socket_progress(void *user, const char *text)
{
    cJSON *line = cJSON_CreateObject();
    char *out = NULL;
    if (line != NULL && cJSON_AddStringToObject(line, "progress", text) != NULL)
        out = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);
    if (out != NULL)
        socket_send_line(user, out);
    free(out);
}

/* ---- one connection ------------------------------------------------------ */

static void socket_handle_line(socket_conn *conn, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t skip = 0;
    while (skip < len && (line[skip] == ' ' || line[skip] == '\t'))
        skip++;
    if (skip == len)
        return; /* blank lines are ignored */
    char *answer = keel_admin_handle(conn->server->base, line + skip, len - skip, socket_progress, conn);
    socket_send_line(conn, answer);
    free(answer);
}

static void socket_refuse_long_line(socket_conn *conn)
{
    socket_send_error(conn, KEEL_ERR_INVALID, "request line longer than 1 MiB; closing the "
                      "connection");
    conn->broken = 1;
}

/* Handles every complete line in buf[0..*len); keeps the partial rest.
 * *scanned is how far no newline was found. A line over the limit ends
 * the connection. */
static void socket_drain_lines(socket_conn *conn, char *buf, size_t *len, size_t *scanned)
{
    size_t start = 0;
    for (size_t i = *scanned; i < *len && !conn->broken; i++) {
        if (buf[i] != '\n')
            continue;
        if (i - start > KEEL_ADMIN_SOCKET_MAX_LINE)
            socket_refuse_long_line(conn);
        else
            socket_handle_line(conn, buf + start, i - start);
        start = i + 1;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    *scanned = *len;
    if (*len > KEEL_ADMIN_SOCKET_MAX_LINE && !conn->broken)
        socket_refuse_long_line(conn);
}

static void *socket_conn_main(void *arg)
{
    socket_conn *conn = arg;
    size_t cap = KEEL_ADMIN_SOCKET_MAX_LINE + SOCKET_READ_CHUNK, len = 0, scanned = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        socket_send_line(conn, NULL);
    while (buf != NULL && !conn->broken) {
        ssize_t n = recv(conn->fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (len > 0 && len <= KEEL_ADMIN_SOCKET_MAX_LINE)
                socket_handle_line(conn, buf, len); /* a last line without its newline */
            break;
        }
        len += (size_t)n;
        socket_drain_lines(conn, buf, &len, &scanned);
    }
    free(buf);
    /* The peer sees the end now; the descriptor itself is closed when the
     * thread is joined, so its number cannot be reused under stop(). */
    shutdown(conn->fd, SHUT_RDWR);
    atomic_store(&conn->done, 1);
    return NULL;
}

/* ---- accepting ------------------------------------------------------------ */

static void socket_conn_reap(socket_conn *conn)
{
    pthread_join(conn->thread, NULL);
    close(conn->fd);
    free(conn);
}

/* Joins and frees the connections whose thread has finished. */
static void socket_reap_done(keel_admin_socket *s)
{
    pthread_mutex_lock(&s->lock);
    socket_conn **link = &s->conns, *done = NULL;
    while (*link != NULL) {
        socket_conn *c = *link;
        if (atomic_load(&c->done)) {
            *link = c->next;
            c->next = done;
            done = c;
            s->conn_count--;
        } else {
            link = &c->next;
        }
    }
    pthread_mutex_unlock(&s->lock);
    while (done != NULL) {
        socket_conn *next = done->next;
        socket_conn_reap(done);
        done = next;
    }
}

/* Only keeld's own user and root may talk to it. */
static int socket_peer_allowed(int fd, char *why, size_t size)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        snprintf(why, size, "cannot identify the peer: %s", strerror(errno));
        return 0;
    }
    if (cred.uid == geteuid() || cred.uid == 0)
        return 1;
    snprintf(why, size, "uid %u may not manage this base (keeld runs as uid %u)",
             (unsigned)cred.uid, (unsigned)geteuid());
    return 0;
}

/* Refuses with one error line, or starts a thread for the connection. */
static void socket_admit(keel_admin_socket *s, int fd)
{
    socket_conn probe = {.server = s, .fd = fd};
    char why[160];
    struct timeval timeout = {SOCKET_SEND_TIMEOUT_S, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) != 0)
        keel_log(KEEL_LOG_WARN, NULL, "admin socket: cannot set a send timeout: %s", strerror(errno));
    if (!socket_peer_allowed(fd, why, sizeof why)) {
        keel_log(KEEL_LOG_WARN, NULL, "admin socket: refused a connection: %s", why);
        socket_send_error(&probe, KEEL_ERR_DENIED, why);
        close(fd);
        return;
    }
    pthread_mutex_lock(&s->lock);
    socket_conn *conn = s->conn_count < KEEL_ADMIN_SOCKET_MAX_CONNECTIONS ? calloc(1, sizeof *conn) : NULL;
    if (conn != NULL) {
        *conn = (socket_conn){.server = s, .fd = fd};
        atomic_init(&conn->done, 0);
        if (pthread_create(&conn->thread, NULL, socket_conn_main, conn) != 0) {
            free(conn);
            conn = NULL;
        } else {
            conn->next = s->conns;
            s->conns = conn;
            s->conn_count++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (conn == NULL) {
        socket_send_error(&probe, KEEL_ERR_LIMIT, "too many admin connections (at most 64 at once); "
                          "retry later");
        close(fd);
    }
}

static void *socket_accept_main(void *arg)
{
    keel_admin_socket *s = arg;
    for (;;) {
        struct pollfd fds[2] = {{s->listen_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            keel_log(KEEL_LOG_ERROR, NULL, "admin socket: poll failed: %s", strerror(errno));
            break;
        }
        if (fds[1].revents != 0)
            break; /* stop() */
        if (fds[0].revents & (POLLERR | POLLNVAL)) {
            keel_log(KEEL_LOG_ERROR, NULL, "admin socket: %s stopped accepting", s->path);
            break;
        }
        if (!(fds[0].revents & POLLIN))
            continue;
        socket_reap_done(s);
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            socket_admit(s, fd);
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            keel_log(KEEL_LOG_WARN, NULL, "admin socket: cannot accept: %s", strerror(errno));
            struct timespec pause = {0, 100000000L};
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* ---- start / stop ----------------------------------------------------- */

/* A socket file already at the path: refuse when someone answers there,
 * remove it when nobody does. */
static keel_status socket_clear_path(const struct sockaddr_un *addr, keel_error *err)
{
    struct stat sb;
    if (lstat(addr->sun_path, &sb) != 0)
        return KEEL_OK;
    if (!S_ISSOCK(sb.st_mode))
        return keel_error_set(err, KEEL_ERR_EXISTS, "%s exists and is not a socket; remove it or "
                              "choose another --socket", addr->sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot create a socket: %s", strerror(errno));
    int live = connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0;
    int e = errno;
    close(fd);
    if (live)
        return keel_error_set(err, KEEL_ERR_BUSY, "another keeld is already serving %s; stop it "
                              "or choose another --socket", addr->sun_path);
    if (e != ECONNREFUSED)
        return keel_error_set(err, KEEL_ERR_IO, "%s: cannot tell whether a keeld serves it: %s",
                              addr->sun_path, strerror(e));
    if (unlink(addr->sun_path) != 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot remove the stale socket %s: %s",
                              addr->sun_path, strerror(errno));
    keel_log(KEEL_LOG_INFO, NULL, "removed the stale socket %s", addr->sun_path);
    return KEEL_OK;
}

static keel_status socket_bind(keel_admin_socket *s, keel_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(s->path) >= sizeof addr.sun_path)
        return keel_error_set(err, KEEL_ERR_INVALID, "socket path %s is too long (at most %zu "
                              "bytes)", s->path, sizeof addr.sun_path - 1);
    memcpy(addr.sun_path, s->path, strlen(s->path) + 1);
    keel_status st = socket_clear_path(&addr, err);
    if (st != KEEL_OK)
        return st;
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot create a socket: %s", strerror(errno));
    mode_t old = umask(0177); /* no moment with a wider mode than 0600 */
    int bound = bind(s->listen_fd, (const struct sockaddr *)&addr, sizeof addr);
    int e = errno;
    umask(old);
    if (bound != 0)
        return keel_error_set(err, e == EADDRINUSE ? KEEL_ERR_BUSY : KEEL_ERR_IO,
                              "cannot bind the admin socket %s: %s", s->path, strerror(e));
    struct stat sb;
    if (chmod(s->path, 0600) != 0 || stat(s->path, &sb) != 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot set mode 0600 on %s: %s", s->path,
                              strerror(errno));
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    if (listen(s->listen_fd, SOCKET_BACKLOG) != 0)
        return keel_error_set(err, KEEL_ERR_IO, "cannot listen on %s: %s", s->path, strerror(errno));
    return KEEL_OK;
}

/* Removes the socket file if it is still the one we bound. */
static void socket_unlink_own(keel_admin_socket *s)
{
    struct stat sb;
    if (s->ino != 0 && stat(s->path, &sb) == 0 && sb.st_dev == s->dev && sb.st_ino == s->ino)
        unlink(s->path);
}

static void socket_free(keel_admin_socket *s)
{
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    socket_unlink_own(s);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

keel_status keel_admin_socket_start(keel_base *base, const char *path, keel_admin_socket **out,
                                    keel_error *err)
{
    *out = NULL;
    keel_admin_socket *s = calloc(1, sizeof *s);
    if (s == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    s->base = base;
    s->listen_fd = s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    keel_status st = (s->path = strdup(path)) == NULL
                         ? keel_error_set(err, KEEL_ERR_NOMEM, "out of memory") : socket_bind(s, err);
    if (st == KEEL_OK && pipe2(s->wake, O_CLOEXEC) != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot create a pipe: %s", strerror(errno));
    if (st == KEEL_OK && pthread_create(&s->accept_thread, NULL, socket_accept_main, s) != 0)
        st = keel_error_set(err, KEEL_ERR_IO, "cannot start the admin socket thread");
    if (st != KEEL_OK) {
        socket_free(s);
        return st;
    }
    *out = s;
    return KEEL_OK;
}

void keel_admin_socket_stop(keel_admin_socket *s)
{
    if (s == NULL)
        return;
    ssize_t w;
    do
        w = write(s->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(s->accept_thread, NULL);
    /* Reading ends; a request being handled still gets its answer (writes
     * are bounded by SOCKET_SEND_TIMEOUT_S). */
    pthread_mutex_lock(&s->lock);
    for (socket_conn *c = s->conns; c != NULL; c = c->next)
        shutdown(c->fd, SHUT_RD);
    socket_conn *conns = s->conns;
    s->conns = NULL;
    s->conn_count = 0;
    pthread_mutex_unlock(&s->lock);
    while (conns != NULL) {
        socket_conn *next = conns->next;
        socket_conn_reap(conns);
        conns = next;
    }
    socket_free(s);
}

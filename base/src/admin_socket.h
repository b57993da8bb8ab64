/*
 * The admin socket: a Unix domain stream socket (mode 0600) that carries
 * the line protocol of admin.h. Only processes of keeld's own user (or
 * root) are served; one thread per connection, at most
 * KEEL_ADMIN_SOCKET_MAX_CONNECTIONS at once.
 */
#ifndef KEEL_BASE_ADMIN_SOCKET_H
#define KEEL_BASE_ADMIN_SOCKET_H

#include <keel/error.h>
#include "admin.h"

#define KEEL_ADMIN_SOCKET_MAX_CONNECTIONS 64
#define KEEL_ADMIN_SOCKET_MAX_LINE (1u << 20)

typedef struct keel_admin_socket keel_admin_socket;

/* Binds `path` (borrowed, copied) and starts accepting. Refuses
 * (KEEL_ERR_BUSY) when a live server already answers there, removes a
 * stale socket file, refuses a path that exists and is not a socket.
 * `base` is borrowed and must outlive the server. On KEEL_OK *out is owned
 * by the caller (keel_admin_socket_stop). */
keel_status keel_admin_socket_start(keel_base *base, const char *path, keel_admin_socket **out,
                                    keel_error *err);

/* Stops accepting, wakes every connection (a request being handled
 * finishes first), joins the threads, removes the socket file and frees.
 * NULL-safe. */
void keel_admin_socket_stop(keel_admin_socket *server);

#endif

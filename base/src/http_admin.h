/*
 * The HTTP admin API: loopback only, off unless configured, every request
 * carrying the configured token. Koupleless arklet command names map onto
 * the admin operations of admin.h; GET /metrics serves Prometheus text.
 */
#ifndef KEEL_BASE_HTTP_ADMIN_H
#define KEEL_BASE_HTTP_ADMIN_H

#include <keel/error.h>
#include "admin.h"

typedef struct keel_http keel_http;

/* Starts serving on `listen` ("127.0.0.1:PORT" or "[::1]:PORT"; any other
 * address is refused: this API is for the local machine). `token`
 * (borrowed, copied; at least 16 characters) must be presented as
 * "Authorization: Bearer TOKEN". `base` is borrowed and must outlive the
 * server. On KEEL_OK *out is owned by the caller (keel_http_stop). */
keel_status keel_http_start(keel_base *base, const char *listen, const char *token,
                            keel_http **out, keel_error *err);

/* Stops serving (waits for requests in progress) and frees. NULL-safe. */
void keel_http_stop(keel_http *http);

/* The port actually bound (useful with port 0). */
unsigned keel_http_port(const keel_http *http);

#endif

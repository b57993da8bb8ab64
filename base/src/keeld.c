/*
 * keeld — the keel base daemon. Runs in the foreground, logs to stderr,
 * keeps its state in the work directory and serves the admin socket (and
 * the HTTP admin API when configured) until SIGTERM or SIGINT.
 *
 * Exit codes: 0 after a clean stop (or --help / --version), 1 when it
 * cannot start, 2 for a wrong command line.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/log.h>
#include "admin_socket.h"
#include "base_internal.h"
#include "config.h"
#include "http_admin.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

typedef struct keeld {
    keel_base *base;
    keel_admin_socket *socket;
    keel_http *http;
} keeld;

static int keeld_fail(const char *message)
{
    fprintf(stderr, "keeld: %s\n", message);
    return 1;
}

/* Modules serving now (ACTIVE), for the ready line. */
static size_t keeld_active_count(keel_base *base)
{
    keel_base_instances_read(base);
    keel_instance **list = NULL;
    size_t n = keel_base_instances_snapshot(base, &list), active = 0;
    for (size_t i = 0; i < n; i++)
        active += keel_instance_state_get(list[i]) == KEEL_STATE_ACTIVE;
    free(list);
    keel_base_instances_done(base);
    return active;
}

/* Stops what keeld_start started, in reverse order. */
static void keeld_stop(keeld *d)
{
    keel_http_stop(d->http);
    keel_admin_socket_stop(d->socket);
    keel_base_destroy(d->base);
    memset(d, 0, sizeof *d);
}

static keel_status keeld_start(keeld *d, const keel_base_config *cfg, keel_error *err)
{
    keel_status st = keel_base_create(cfg, &d->base, err);
    if (st == KEEL_OK)
        st = keel_admin_socket_start(d->base, cfg->socket_path, &d->socket, err);
    if (st == KEEL_OK && cfg->http_listen != NULL)
        st = keel_http_start(d->base, cfg->http_listen, cfg->http_token, &d->http, err);
    if (st == KEEL_OK)
        st = keel_base_boot(d->base, err);
    return st;
}

static void keeld_note_config(const keel_base_config *cfg)
{
    if (cfg->log_level >= 0)
        keel_log_set_level((keel_log_level)cfg->log_level);
}

/* Waits for SIGTERM or SIGINT (blocked in every thread). */
static int keeld_wait(const sigset_t *signals)
{
    int sig = 0;
    while (sigwait(signals, &sig) != 0)
        ;
    return sig;
}

static int keeld_run(const keel_base_config *cfg, const sigset_t *signals)
{
    keeld d = {0};
    keel_error err = {0};
    keeld_note_config(cfg);
    if (keeld_start(&d, cfg, &err) != KEEL_OK) {
        keeld_stop(&d);
        return keeld_fail(err.message);
    }
    size_t active = keeld_active_count(d.base);
    printf("keeld ready: socket %s, %zu modules active\n", cfg->socket_path, active);
    fflush(stdout);
    keel_log(KEEL_LOG_INFO, NULL, "ready: socket %s, %zu modules active, work directory %s",
             cfg->socket_path, active, cfg->work_dir);
    int sig = keeld_wait(signals);
    keel_log(KEEL_LOG_INFO, NULL, "stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    keeld_stop(&d);
    keel_log(KEEL_LOG_INFO, NULL, "stopped");
    return 0;
}

int main(int argc, char **argv)
{
    /* Before any thread exists, so that every thread inherits the mask and
     * only sigwait sees the stop signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return keeld_fail("cannot set up signal handling");
    keel_base_config cfg;
    keel_base_config_init(&cfg);
    keel_config_action action = KEEL_CONFIG_RUN;
    keel_error err = {0};
    int usage = 0, code;
    if (keel_base_config_from_args(&cfg, argc, argv, &action, &usage, &err) != KEEL_OK) {
        keeld_fail(err.message);
        code = usage ? 2 : 1;
    } else if (action == KEEL_CONFIG_HELP) {
        fputs(keel_base_config_usage(), stdout);
        code = 0;
    } else if (action == KEEL_CONFIG_VERSION) {
        printf("keeld %s\n", KEEL_VERSION);
        code = 0;
    } else {
        code = keeld_run(&cfg, &signals);
    }
    keel_base_config_destroy(&cfg);
    return code;
}

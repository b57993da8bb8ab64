/*
 * commands.h — the keel CLI's command handlers. Each command lives in its own
 * cmd_<name>.c and is listed in the command table of keel.c.
 */
#ifndef KEEL_TOOLS_COMMANDS_H
#define KEEL_TOOLS_COMMANDS_H

/* Exit codes shared by every command. */
enum {
    KEEL_EXIT_OK = 0,       /* done */
    KEEL_EXIT_FAILURE = 1,  /* the operation failed; one "keel: ..." line said why */
    KEEL_EXIT_USAGE = 2     /* the command line was wrong */
};

/* Global options, parsed before the command name. */
typedef struct keel_cli {
    /* The base's control socket: --socket PATH, else $KEEL_SOCKET, else
     * NULL (commands that talk to a base then fail with a clear error).
     * Borrowed from argv or the environment. */
    const char *socket_path;
    /* --json: machine output for the commands that have one. */
    int json;
    /* --timeout SECONDS in milliseconds: how long one admin request may
     * wait for its answer; -1 when not given (no limit). */
    int timeout_ms;
} keel_cli;

/* A command: argv[0] is the command name, the rest its arguments. "--help"
 * among them prints the command's usage on stdout and returns 0. Returns an
 * exit code. */
typedef int (*keel_command_fn)(const keel_cli *cli, int argc, char **argv);

/* Prints "keel: MESSAGE" as one line on stderr. */
void keel_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "keel: COMMAND: MESSAGE (see 'keel COMMAND --help')" on stderr and
 * returns KEEL_EXIT_USAGE. */
int keel_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* keel bundle DIR [-o FILE.keel] — cmd_bundle.c */
int keel_cmd_bundle(const keel_cli *cli, int argc, char **argv);
/* keel install BUNDLE [--inactive] — cmd_install.c */
int keel_cmd_install(const keel_cli *cli, int argc, char **argv);
/* keel uninstall NAME[@VERSION] — cmd_uninstall.c */
int keel_cmd_uninstall(const keel_cli *cli, int argc, char **argv);
/* keel switch NAME@VERSION — cmd_switch.c */
int keel_cmd_switch(const keel_cli *cli, int argc, char **argv);
/* keel rollback NAME — cmd_rollback.c */
int keel_cmd_rollback(const keel_cli *cli, int argc, char **argv);
/* keel route NAME PRIMARY [GRAY PERCENT] [--by-key] — cmd_route.c */
int keel_cmd_route(const keel_cli *cli, int argc, char **argv);
/* keel list [--json] — cmd_list.c */
int keel_cmd_list(const keel_cli *cli, int argc, char **argv);
/* keel history NAME[@VERSION] [--json] (alias logs) — cmd_history.c */
int keel_cmd_history(const keel_cli *cli, int argc, char **argv);
/* keel call [--scene S] [--key K] SERVICE [JSON_ARRAY] — cmd_call.c */
int keel_cmd_call(const keel_cli *cli, int argc, char **argv);
/* keel publish [--scene S] [--sync] TOPIC DATA — cmd_publish.c */
int keel_cmd_publish(const keel_cli *cli, int argc, char **argv);
/* keel health [--json] — cmd_health.c */
int keel_cmd_health(const keel_cli *cli, int argc, char **argv);
/* keel metrics — cmd_metrics.c */
int keel_cmd_metrics(const keel_cli *cli, int argc, char **argv);
/* keel load ... SERVICE [JSON_ARRAY] — cmd_load.c */
int keel_cmd_load(const keel_cli *cli, int argc, char **argv);
/* keel new NAME [--dir DIR] [--scene S] [--starter NAME]... — cmd_new.c */
int keel_cmd_new(const keel_cli *cli, int argc, char **argv);
/* keel starter list|info|enable|disable|exec ... — cmd_starter.c */
int keel_cmd_starter(const keel_cli *cli, int argc, char **argv);
/* keel market search [WORD] [--json] — cmd_market.c */
int keel_cmd_market(const keel_cli *cli, int argc, char **argv);
/* keel config get|set|list|delete|reset ... — cmd_config.c */
int keel_cmd_config(const keel_cli *cli, int argc, char **argv);

struct cJSON;
/* Prints the starter rows of a "starters" or "market.search" result
 * (`rows`, borrowed) as a table on stdout: NAME, ENABLED, AVAILABLE,
 * BINDINGS, DESCRIPTION, or with `market` NAME, VERSIONS, ENABLED, OWNER,
 * TAGS, DESCRIPTION. Returns an exit code. — cmd_starter.c */
int keel_cli_print_starter_rows(const struct cJSON *rows, int market);

#endif

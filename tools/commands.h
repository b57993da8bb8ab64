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
     * NULL (commands that talk to a base pick their default). */
    const char *socket_path;
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

#endif

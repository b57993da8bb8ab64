/*
 * keel — the command-line tool. Global options come first, then a command
 * from the table below; each command parses its own arguments.
 */
#include "cli_common.h"
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

typedef struct keel_command {
    const char *name;
    const char *summary;   /* one line for `keel --help`; NULL: an alias, not listed */
    keel_command_fn run;
} keel_command;

static const keel_command keel_commands[] = {
    {"new", "create a module project (source, manifest, meson build)", keel_cmd_new},
    {"bundle", "pack a module directory into a .keel bundle", keel_cmd_bundle},
    {"install", "install a bundle into the base (and activate it)", keel_cmd_install},
    {"uninstall", "stop and unload a module version", keel_cmd_uninstall},
    {"switch", "make an installed version the active one", keel_cmd_switch},
    {"rollback", "go back to the previously active version", keel_cmd_rollback},
    {"route", "split traffic between two versions (gray release)", keel_cmd_route},
    {"list", "list installed modules, their state and services", keel_cmd_list},
    {"history", "show the state changes of a module (alias: logs)", keel_cmd_history},
    {"logs", NULL, keel_cmd_history},
    {"call", "call a service with JSON arguments", keel_cmd_call},
    {"publish", "publish a message on a topic", keel_cmd_publish},
    {"health", "show the base's health (exit 1 when degraded)", keel_cmd_health},
    {"metrics", "print the base's metrics (Prometheus text)", keel_cmd_metrics},
    {"load", "call a service from many connections and report latency", keel_cmd_load},
    {"starter", "list, enable, upgrade, disable the base's starters", keel_cmd_starter},
    {"market", "search the starter market", keel_cmd_market},
    {"config", "get and set run-time configuration (the config starter)", keel_cmd_config},
};

#define KEEL_COMMAND_COUNT (sizeof keel_commands / sizeof keel_commands[0])

void keel_cli_error(const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* Whatever the message holds, the contract is one line. */
    for (char *c = message; *c != '\0'; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fprintf(stderr, "keel: %s\n", message);
}

int keel_cli_usage_error(const char *command, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (command != NULL)
        keel_cli_error("%s: %s (see 'keel %s --help')", command, message, command);
    else
        keel_cli_error("%s (see 'keel --help')", message);
    return KEEL_EXIT_USAGE;
}

static void keel_print_usage(FILE *out)
{
    fputs("usage: keel [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS...]\n"
          "\n"
          "Creates, packs and manages the modules of a keel base.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < KEEL_COMMAND_COUNT; i++)
        if (keel_commands[i].summary != NULL)
            fprintf(out, "  %-10s %s\n", keel_commands[i].name, keel_commands[i].summary);
    fputs("  help       show this help, or a command's with 'keel help COMMAND'\n"
          "\n"
          "global options:\n"
          "  --socket PATH      the base's admin socket (default: $KEEL_SOCKET)\n"
          "  --json             machine output: the base's JSON result as it is\n"
          "  --timeout SECONDS  give up on an answer after SECONDS (default: wait)\n"
          "  -h, --help         show this help\n"
          "  --version          show keel's version\n"
          "\n"
          "Run 'keel COMMAND --help' for the options of a command.\n"
          "Exit status: 0 done, 1 failed (one 'keel: ...' line on stderr), 2 bad usage.\n",
          out);
}

static const keel_command *keel_find_command(const char *name)
{
    for (size_t i = 0; i < KEEL_COMMAND_COUNT; i++)
        if (strcmp(keel_commands[i].name, name) == 0)
            return &keel_commands[i];
    return NULL;
}

/* Takes the value of option `name` at argv[*i]: "--name=VALUE" or
 * "--name VALUE". Returns 1 when argv[*i] is that option (then *value is
 * set, or NULL when it is missing), 0 when it is another one. */
static int keel_global_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return 0;
    *value = NULL;
    if (arg[n] == '=')
        *value = arg + n + 1;
    else if (*i + 1 < argc)
        *value = argv[++*i];
    if (*value != NULL && (*value)[0] == '\0')
        *value = NULL;
    return 1;
}

/* Handles one global option at argv[*i]; returns -1 to stop with *exit_code. */
static int keel_parse_global(int argc, char **argv, int *i, keel_cli *cli, int *exit_code)
{
    const char *arg = argv[*i];
    const char *value;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        keel_print_usage(stdout);
        *exit_code = KEEL_EXIT_OK;
        return -1;
    }
    if (strcmp(arg, "--version") == 0) {
        printf("keel %s\n", KEEL_VERSION);
        *exit_code = KEEL_EXIT_OK;
        return -1;
    }
    if (strcmp(arg, "--json") == 0) {
        cli->json = 1;
    } else if (keel_global_value(argc, argv, i, "--socket", &value)) {
        if (value == NULL) {
            *exit_code = keel_cli_usage_error(NULL, "--socket needs a PATH");
            return -1;
        }
        cli->socket_path = value;
    } else if (keel_global_value(argc, argv, i, "--timeout", &value)) {
        if (value == NULL || keel_cli_parse_seconds(value, &cli->timeout_ms) != 0) {
            *exit_code = keel_cli_usage_error(NULL, "--timeout needs a number of SECONDS "
                                                    "greater than 0, such as 2.5");
            return -1;
        }
    } else {
        *exit_code = keel_cli_usage_error(NULL, "unknown option \"%s\"", arg);
        return -1;
    }
    return 0;
}

/* Parses the options before the command; returns the index of the command
 * name in argv, or -1 after handling --help (*exit_code set). */
static int keel_parse_globals(int argc, char **argv, keel_cli *cli, int *exit_code)
{
    const char *env = getenv("KEEL_SOCKET");
    cli->socket_path = env != NULL && env[0] != '\0' ? env : NULL;
    cli->json = 0;
    cli->timeout_ms = -1;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1;
        if (keel_parse_global(argc, argv, &i, cli, exit_code) != 0)
            return -1;
    }
    return i;
}

/* `keel help [COMMAND]` */
static int keel_help(const keel_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0) {
        keel_print_usage(stdout);
        return KEEL_EXIT_OK;
    }
    const keel_command *command = keel_find_command(argv[1]);
    if (command == NULL)
        return keel_cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);
    char *help_argv[] = {(char *)command->name, (char *)"--help", NULL};
    return command->run(cli, 2, help_argv);
}

int main(int argc, char **argv)
{
    keel_cli cli;
    int exit_code = KEEL_EXIT_OK;
    int first = keel_parse_globals(argc, argv, &cli, &exit_code);
    if (first < 0)
        return exit_code;
    if (first >= argc)
        return keel_cli_usage_error(NULL, "missing a COMMAND");
    if (strcmp(argv[first], "help") == 0)
        return keel_help(&cli, argc - first, argv + first);
    const keel_command *command = keel_find_command(argv[first]);
    if (command == NULL)
        return keel_cli_usage_error(NULL, "unknown command \"%s\"", argv[first]);
    return command->run(&cli, argc - first, argv + first);
}

/*
 * keel — the command-line tool. Global options come first, then a command
 * from the table below; each command parses its own arguments.
 */
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct keel_command {
    const char *name;
    const char *summary;   /* one line for `keel --help` */
    keel_command_fn run;
} keel_command;

static const keel_command keel_commands[] = {
    {"bundle", "pack a module directory into a .keel bundle", keel_cmd_bundle},
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
    fputs("usage: keel [--socket PATH] COMMAND [ARGS...]\n"
          "\n"
          "Packs and manages modules of a keel base.\n"
          "\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < KEEL_COMMAND_COUNT; i++)
        fprintf(out, "  %-10s %s\n", keel_commands[i].name, keel_commands[i].summary);
    fputs("  help       show this help, or a command's with 'keel help COMMAND'\n"
          "\n"
          "global options:\n"
          "  --socket PATH  the base's control socket (default: $KEEL_SOCKET)\n"
          "  -h, --help     show this help\n"
          "\n"
          "Run 'keel COMMAND --help' for the options of a command.\n",
          out);
}

static const keel_command *keel_find_command(const char *name)
{
    for (size_t i = 0; i < KEEL_COMMAND_COUNT; i++)
        if (strcmp(keel_commands[i].name, name) == 0)
            return &keel_commands[i];
    return NULL;
}

/* Parses the options before the command; returns the index of the command
 * name in argv, or -1 after handling --help (*exit_code set). */
static int keel_parse_globals(int argc, char **argv, keel_cli *cli, int *exit_code)
{
    const char *env = getenv("KEEL_SOCKET");
    cli->socket_path = env != NULL && env[0] != '\0' ? env : NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            keel_print_usage(stdout);
            *exit_code = KEEL_EXIT_OK;
            return -1;
        }
        if (strcmp(arg, "--") == 0)
            return i + 1;
        if (strncmp(arg, "--socket=", 9) == 0 && arg[9] != '\0') {
            cli->socket_path = arg + 9;
        } else if (strcmp(arg, "--socket") == 0 && i + 1 < argc && argv[i + 1][0] != '\0') {
            cli->socket_path = argv[++i];
        } else if (strcmp(arg, "--socket") == 0 || strncmp(arg, "--socket=", 9) == 0) {
            *exit_code = keel_cli_usage_error(NULL, "--socket needs a PATH");
            return -1;
        } else {
            *exit_code = keel_cli_usage_error(NULL, "unknown option \"%s\"", arg);
            return -1;
        }
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
    if (first >= argc) {
        keel_print_usage(stderr);
        return KEEL_EXIT_USAGE;
    }
    if (strcmp(argv[first], "help") == 0)
        return keel_help(&cli, argc - first, argv + first);
    const keel_command *command = keel_find_command(argv[first]);
    if (command == NULL)
        return keel_cli_usage_error(NULL, "unknown command \"%s\"", argv[first]);
    return command->run(&cli, argc - first, argv + first);
}

/*
 * keel switch NAME@VERSION — makes an installed version the active one.
 */
#include "cli_common.h"

#include <getopt.h>
#include <stdlib.h>

static void switch_usage(FILE *out)
{
    fputs("usage: keel switch NAME@VERSION [--json]\n"
          "\n"
          "Makes the installed version VERSION of module NAME the active one: new\n"
          "calls go to it at once, calls already in the old version finish there.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static void switch_print(const cJSON *result)
{
    const char *active = keel_cli_str(result, "active", "?");
    const char *previous = keel_cli_str(result, "previous", NULL);
    if (previous != NULL)
        printf("switched to %s (was %s)\n", active, previous);
    else
        printf("switched to %s\n", active);
}

int keel_cmd_switch(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("switch", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK)
        return code;
    if (help) {
        switch_usage(stdout);
        return KEEL_EXIT_OK;
    }
    code = keel_cli_operands("switch", argc, argv, optind, 1, 1, "the module NAME@VERSION");
    char *name = NULL, *version = NULL;
    if (code == KEEL_EXIT_OK)
        code = keel_cli_split_id("switch", argv[optind], 1, &name, &version);
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", name);
    args = keel_cli_args_str(args, "version", version);
    free(name);
    free(version);
    cJSON *result;
    code = keel_cli_admin(cli, "switch", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        switch_print(result);
    cJSON_Delete(result);
    return code;
}

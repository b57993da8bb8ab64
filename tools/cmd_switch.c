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

static int switch_print(const cJSON *result, const char *operand)
{
    (void)operand;
    const char *active = keel_cli_str(result, "active", "?");
    const char *previous = keel_cli_str(result, "previous", NULL);
    if (previous != NULL)
        printf("switched to %s (was %s)\n", active, previous);
    else
        printf("switched to %s\n", active);
    return KEEL_EXIT_OK;
}

int keel_cmd_switch(const keel_cli *cli, int argc, char **argv)
{
    return keel_cli_module_op(cli, argc, argv, "switch", 1, switch_usage, switch_print);
}

/*
 * keel uninstall NAME[@VERSION] — stops and unloads a module version.
 */
#include "cli_common.h"

#include <getopt.h>
#include <stdlib.h>

static void uninstall_usage(FILE *out)
{
    fputs("usage: keel uninstall NAME[@VERSION] [--json]\n"
          "\n"
          "Stops the module version, waits for the calls inside it to finish and\n"
          "unloads it. VERSION is needed when several versions are installed.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static int uninstall_print(const cJSON *result, const char *operand)
{
    printf("uninstalled %s\n", keel_cli_str(result, "uninstalled", operand));
    return KEEL_EXIT_OK;
}

int keel_cmd_uninstall(const keel_cli *cli, int argc, char **argv)
{
    return keel_cli_module_op(cli, argc, argv, "uninstall", 0, uninstall_usage, uninstall_print);
}

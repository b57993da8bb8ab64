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

int keel_cmd_uninstall(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("uninstall", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK)
        return code;
    if (help) {
        uninstall_usage(stdout);
        return KEEL_EXIT_OK;
    }
    code = keel_cli_operands("uninstall", argc, argv, optind, 1, 1, "the module NAME[@VERSION]");
    char *name = NULL, *version = NULL;
    if (code == KEEL_EXIT_OK)
        code = keel_cli_split_id("uninstall", argv[optind], 0, &name, &version);
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", name);
    args = keel_cli_args_str(args, "version", version);
    free(name);
    free(version);
    cJSON *result;
    code = keel_cli_admin(cli, "uninstall", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        printf("uninstalled %s\n", keel_cli_str(result, "uninstalled", argv[optind]));
    cJSON_Delete(result);
    return code;
}

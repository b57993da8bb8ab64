/*
 * keel rollback NAME — goes back to the previously active version.
 */
#include "cli_common.h"

#include <getopt.h>
#include <string.h>

static void rollback_usage(FILE *out)
{
    fputs("usage: keel rollback NAME [--json]\n"
          "\n"
          "Makes the version of module NAME that was active before the last switch\n"
          "the active one again.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

int keel_cmd_rollback(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("rollback", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK)
        return code;
    if (help) {
        rollback_usage(stdout);
        return KEEL_EXIT_OK;
    }
    code = keel_cli_operands("rollback", argc, argv, optind, 1, 1, "the module NAME");
    if (code != KEEL_EXIT_OK)
        return code;
    const char *name = argv[optind];
    if (strchr(name, '@') != NULL)
        return keel_cli_usage_error("rollback", "takes a module NAME without a version, got \"%s\"",
                                    name);
    cJSON *result;
    code = keel_cli_admin(cli, "rollback", keel_cli_args_str(keel_cli_args_new(), "name", name),
                          NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        printf("rolled back %s: %s is active\n", name, keel_cli_str(result, "active", "?"));
    cJSON_Delete(result);
    return code;
}

/*
 * keel route NAME PRIMARY_VERSION [GRAY_VERSION PERCENT] [--by-key] — gray
 * release: splits a module's traffic between two installed versions.
 */
#include "cli_common.h"

#include <getopt.h>
#include <string.h>

static void route_usage(FILE *out)
{
    fputs("usage: keel route NAME PRIMARY_VERSION [GRAY_VERSION PERCENT] [--by-key] [--json]\n"
          "\n"
          "Routes the calls to module NAME's services: PERCENT (0..100) of them to\n"
          "GRAY_VERSION, the rest to PRIMARY_VERSION. Without GRAY_VERSION all\n"
          "traffic goes to PRIMARY_VERSION. Both versions must be installed.\n"
          "\n"
          "options:\n"
          "  --by-key    pick the version from the call's routing key, so the same\n"
          "              key always reaches the same version (keel call --key K)\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

typedef struct route_args {
    const char *name, *primary, *gray;
    long percent;
    int by_key, json, help;
} route_args;

static int route_operands(int argc, char **argv, route_args *a)
{
    int n = argc - optind;
    if (n < 2)
        return keel_cli_usage_error("route", "missing %s",
                                    n == 0 ? "the module NAME" : "the PRIMARY_VERSION");
    if (n == 3)
        return keel_cli_usage_error("route", "GRAY_VERSION needs a PERCENT (0..100)");
    if (n > 4)
        return keel_cli_usage_error("route", "unexpected argument \"%s\"", argv[optind + 4]);
    a->name = argv[optind];
    a->primary = argv[optind + 1];
    if (strchr(a->name, '@') != NULL)
        return keel_cli_usage_error("route", "NAME and versions are separate arguments, "
                                             "got \"%s\"", a->name);
    if (n == 4) {
        a->gray = argv[optind + 2];
        if (keel_cli_parse_long(argv[optind + 3], 0, 100, &a->percent) != 0)
            return keel_cli_usage_error("route", "PERCENT must be an integer from 0 to 100, "
                                                 "got \"%s\"", argv[optind + 3]);
    }
    return KEEL_EXIT_OK;
}

static int route_parse(int argc, char **argv, route_args *a)
{
    static const struct option options[] = {
        {"by-key", no_argument, NULL, 'k'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'k')
            a->by_key = 1;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'h')
            a->help = 1;
        else
            return keel_cli_bad_option("route", c, argv);
    }
    return a->help ? KEEL_EXIT_OK : route_operands(argc, argv, a);
}

/* What keeld says the route is now, completed with what was asked. */
static void route_print(const cJSON *r, const route_args *a)
{
    const char *name = keel_cli_str(r, "name", a->name);
    const char *primary = keel_cli_str(r, "primary", a->primary);
    const char *gray = keel_cli_str(r, "gray", a->gray);
    const cJSON *percent = cJSON_GetObjectItemCaseSensitive(r, "percent");
    const cJSON *by_key = cJSON_GetObjectItemCaseSensitive(r, "by_key");
    int p = cJSON_IsNumber(percent) ? percent->valueint : (int)a->percent;
    if (gray == NULL) {
        printf("%s: all calls to %s\n", name, primary);
        return;
    }
    int keyed = by_key != NULL ? cJSON_IsTrue(by_key) : a->by_key;
    printf("%s: %d%% of calls to %s, %d%% to %s%s\n", name, 100 - p, primary, p, gray,
           keyed ? " (by routing key)" : "");
}

int keel_cmd_route(const keel_cli *cli, int argc, char **argv)
{
    route_args a = {NULL, NULL, NULL, 0, 0, cli->json, 0};
    int code = route_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            route_usage(stdout);
        return code;
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", a.name);
    args = keel_cli_args_str(args, "primary", a.primary);
    args = keel_cli_args_str(args, "gray", a.gray);
    if (a.gray != NULL)
        args = keel_cli_args_num(args, "percent", (double)a.percent);
    args = keel_cli_args_bool(args, "by_key", a.by_key);
    cJSON *result;
    code = keel_cli_admin(cli, "route", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && a.json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        route_print(result, &a);
    cJSON_Delete(result);
    return code;
}

/*
 * keel call [--scene S] [--key K] SERVICE [JSON_ARRAY] — one dynamic call.
 */
#include "cli_common.h"

#include <stdlib.h>

static void call_usage(FILE *out)
{
    fputs("usage: keel call [--scene S] [--key K] [--json] SERVICE [JSON_ARRAY]\n"
          "\n"
          "Calls SERVICE with the arguments in JSON_ARRAY (default []) through the\n"
          "base's router and prints the result as JSON on stdout.\n"
          "\n"
          "options:\n"
          "  -s, --scene S  the scene to call in (default: \"default\")\n"
          "  -k, --key K    routing key: with a route --by-key, the same key always\n"
          "                 reaches the same version\n"
          "  --json         print the base's whole result object ({\"result\": ...})\n"
          "  -h, --help     show this help\n"
          "\n"
          "example: keel call greet '[\"world\"]'\n",
          out);
}

typedef struct call_args {
    const char *scene, *key, *service;
    cJSON *args;
    int json, help;
} call_args;

static int call_parse(int argc, char **argv, call_args *a)
{
    static const struct option options[] = {
        {"scene", required_argument, NULL, 's'}, {"key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hs:k:", options, NULL)) != -1) {
        switch (c) {
        case 's': a->scene = optarg; break;
        case 'k': a->key = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': a->help = 1; break;
        default: return keel_cli_bad_option("call", c, argv);
        }
    }
    if (a->help)
        return KEEL_EXIT_OK;
    int code = keel_cli_operands("call", argc, argv, optind, 1, 2, "the SERVICE to call");
    if (code != KEEL_EXIT_OK)
        return code;
    a->service = argv[optind];
    if (argc - optind == 2)
        return keel_cli_parse_json_array("call", argv[optind + 1], &a->args);
    a->args = cJSON_CreateArray();
    if (a->args == NULL) {
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    return KEEL_EXIT_OK;
}

int keel_cmd_call(const keel_cli *cli, int argc, char **argv)
{
    call_args a = {NULL, NULL, NULL, NULL, cli->json, 0};
    int code = call_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            call_usage(stdout);
        cJSON_Delete(a.args);
        return code;
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "service", a.service);
    args = keel_cli_args_str(args, "scene", a.scene);
    args = keel_cli_args_str(args, "key", a.key);
    args = keel_cli_args_item(args, "args", a.args);
    cJSON *result;
    code = keel_cli_admin(cli, "call", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = keel_cli_print_result(result, a.json);
    cJSON_Delete(result);
    return code;
}

/*
 * keel publish [--scene S] [--sync] TOPIC DATA — publishes one message.
 */
#include "cli_common.h"

static void publish_usage(FILE *out)
{
    fputs("usage: keel publish [--scene S] [--sync] [--json] TOPIC DATA\n"
          "\n"
          "Publishes DATA (text, for example JSON) on TOPIC; the subscribers of\n"
          "TOPIC in the scene get it. Prints how many received it.\n"
          "\n"
          "options:\n"
          "  -s, --scene S  the scene to publish in (default: \"default\")\n"
          "  --sync         return only after every subscriber handled it\n"
          "  --json         print the base's result as JSON\n"
          "  -h, --help     show this help\n"
          "\n"
          "Use '--' before DATA that starts with '-'.\n",
          out);
}

typedef struct publish_args {
    const char *scene, *topic, *data;
    int sync, json, help;
} publish_args;

static int publish_parse(int argc, char **argv, publish_args *a)
{
    static const struct option options[] = {
        {"scene", required_argument, NULL, 's'}, {"sync", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hs:", options, NULL)) != -1) {
        switch (c) {
        case 's': a->scene = optarg; break;
        case 'y': a->sync = 1; break;
        case 'j': a->json = 1; break;
        case 'h': a->help = 1; break;
        default: return keel_cli_bad_option("publish", c, argv);
        }
    }
    if (a->help)
        return KEEL_EXIT_OK;
    int code = keel_cli_operands("publish", argc, argv, optind, 2, 2,
                                 argc - optind == 0 ? "the TOPIC and DATA" : "the DATA");
    if (code == KEEL_EXIT_OK) {
        a->topic = argv[optind];
        a->data = argv[optind + 1];
    }
    return code;
}

int keel_cmd_publish(const keel_cli *cli, int argc, char **argv)
{
    publish_args a = {NULL, NULL, NULL, 0, cli->json, 0};
    int code = publish_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            publish_usage(stdout);
        return code;
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "topic", a.topic);
    args = keel_cli_args_str(args, "scene", a.scene);
    args = keel_cli_args_str(args, "data", a.data);
    args = keel_cli_args_bool(args, "sync", a.sync);
    cJSON *result;
    code = keel_cli_admin(cli, "publish", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && a.json) {
        code = keel_cli_print_json(result);
    } else if (code == KEEL_EXIT_OK) {
        char n[64];
        printf("published on %s/%s: %s receivers\n", a.scene != NULL ? a.scene : "default",
               a.topic, keel_cli_cell(result, "receivers", n, sizeof n));
    }
    cJSON_Delete(result);
    return code;
}

/*
 * keel history NAME[@VERSION] [--json] (alias: keel logs) — the recorded
 * state changes of a module's instances.
 */
#include "cli_common.h"
#include "table.h"

#include <stdlib.h>

static void history_usage(FILE *out, const char *command)
{
    fprintf(out,
            "usage: keel %s NAME[@VERSION] [--json]\n"
            "\n"
            "Shows every state change recorded for the instances of module NAME (or\n"
            "only of NAME@VERSION): when, the new state, and why.\n"
            "'keel history' and 'keel logs' are the same command.\n"
            "\n"
            "options:\n"
            "  --json      print the base's result as JSON\n"
            "  -h, --help  show this help\n",
            command);
}

static int history_instance(const cJSON *instance)
{
    static const char *const headers[] = {"TIME", "STATE", "NOTE"};
    keel_table *t = keel_table_new(3, headers);
    const cJSON *h;
    int failed = t == NULL;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(instance, "history")) {
        const char *cells[] = {keel_cli_str(h, "time", "-"), keel_cli_str(h, "state", "-"),
                               keel_cli_str(h, "note", "")};
        if (!failed && keel_table_add(t, cells) != 0)
            failed = 1;
    }
    if (failed) {
        keel_table_free(t);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    printf("%s\n", keel_cli_str(instance, "id", "?"));
    if (keel_table_rows(t) == 0)
        puts("  (no state change recorded)");
    else
        keel_table_print(t, stdout, "  ");
    keel_table_free(t);
    return KEEL_EXIT_OK;
}

static int history_print(const cJSON *result)
{
    const cJSON *instances = cJSON_GetObjectItemCaseSensitive(result, "instances");
    if (cJSON_GetArraySize(instances) == 0) {
        puts("no history recorded");
        return KEEL_EXIT_OK;
    }
    const cJSON *instance;
    int first = 1;
    cJSON_ArrayForEach(instance, instances) {
        if (!first)
            putchar('\n');
        first = 0;
        if (history_instance(instance) != KEEL_EXIT_OK)
            return KEEL_EXIT_FAILURE;
    }
    return KEEL_EXIT_OK;
}

int keel_cmd_history(const keel_cli *cli, int argc, char **argv)
{
    const char *command = argv[0];
    int json, help;
    int code = keel_cli_parse_plain(command, cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            history_usage(stdout, command);
        return code;
    }
    code = keel_cli_operands(command, argc, argv, optind, 1, 1, "the module NAME[@VERSION]");
    char *name = NULL, *version = NULL;
    if (code == KEEL_EXIT_OK)
        code = keel_cli_split_id(command, argv[optind], 0, &name, &version);
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", name);
    args = keel_cli_args_str(args, "version", version);
    free(name);
    free(version);
    cJSON *result;
    code = keel_cli_admin(cli, "history", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = json ? keel_cli_print_json(result) : history_print(result);
    cJSON_Delete(result);
    return code;
}

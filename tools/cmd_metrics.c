/*
 * keel metrics — the base's metrics in Prometheus text format.
 */
#include "cli_common.h"

#include <string.h>

static void metrics_usage(FILE *out)
{
    fputs("usage: keel metrics [--json]\n"
          "\n"
          "Prints the base's metrics in the Prometheus text exposition format:\n"
          "calls, errors, in-flight calls and latency per service, state and\n"
          "memory per module, message queue counters.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON ({\"text\": ...})\n"
          "  -h, --help  show this help\n",
          out);
}

int keel_cmd_metrics(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("metrics", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            metrics_usage(stdout);
        return code;
    }
    code = keel_cli_operands("metrics", argc, argv, optind, 0, 0, "");
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *result;
    code = keel_cli_admin(cli, "metrics", keel_cli_args_new(), NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && json) {
        code = keel_cli_print_json(result);
    } else if (code == KEEL_EXIT_OK) {
        const char *text = keel_cli_str(result, "text", NULL);
        if (text == NULL) {
            keel_cli_error("keeld's metrics answer has no \"text\"");
            code = KEEL_EXIT_FAILURE;
        } else {
            size_t n = strlen(text);
            fputs(text, stdout);
            if (n > 0 && text[n - 1] != '\n')
                putchar('\n');
        }
    }
    cJSON_Delete(result);
    return code;
}

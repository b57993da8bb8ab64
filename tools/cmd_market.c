/*
 * keel market search [WORD] [--json] — the starters the base's market
 * offers (admin op "market.search" of base/src/admin.h).
 */
#include "cli_common.h"

#include <string.h>

static void market_usage(FILE *out)
{
    fputs("usage: keel market search [WORD] [--json]\n"
          "\n"
          "Lists the starters of the base's market (the index the base owner\n"
          "curates) whose name, description, owner or tags contain WORD (case\n"
          "does not matter; no WORD: every one): NAME, VERSIONS, ENABLED (the\n"
          "running version, or \"no\"), OWNER, TAGS, DESCRIPTION.\n"
          "'keel starter info NAME' shows one in detail, 'keel starter enable\n"
          "NAME' runs it.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static int market_print(const cJSON *result, const char *word)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(result, "starters");
    const char *market = keel_cli_str(result, "market", "");
    if (cJSON_GetArraySize(rows) > 0)
        return keel_cli_print_starter_rows(rows, 1);
    if (market[0] == '\0')
        puts("the base has no market: give it one with \"starters\": {\"market\": PATH} in its "
             "configuration");
    else if (word[0] != '\0')
        printf("no starter in the market %s matches \"%s\"\n", market, word);
    else
        printf("the market %s has no starters\n", market);
    return KEEL_EXIT_OK;
}

static int market_search(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("market search", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            market_usage(stdout);
        return code;
    }
    code = keel_cli_operands("market search", argc, argv, optind, 0, 1, "");
    if (code != KEEL_EXIT_OK)
        return code;
    const char *word = argc > optind ? argv[optind] : "";
    cJSON *result;
    /* No WORD: no "word" (the base wants a non-empty one when given). */
    code = keel_cli_admin(cli, "market.search",
                          keel_cli_args_str(keel_cli_args_new(), "word",
                                            word[0] != '\0' ? word : NULL),
                          NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = json ? keel_cli_print_json(result) : market_print(result, word);
    cJSON_Delete(result);
    return code;
}

int keel_cmd_market(const keel_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return keel_cli_usage_error("market", "missing the SUBCOMMAND (search)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        market_usage(stdout);
        return KEEL_EXIT_OK;
    }
    if (strcmp(argv[1], "search") == 0)
        return market_search(cli, argc - 1, argv + 1);
    return keel_cli_usage_error("market", "unknown subcommand \"%s\" (search)", argv[1]);
}

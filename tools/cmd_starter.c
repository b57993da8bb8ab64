/*
 * keel starter list|info|enable|disable|exec — the starters of a base: what
 * its market offers, what runs, enabling, upgrading in place, disabling and
 * operator commands (admin ops "starters", "starter.*" of base/src/admin.h).
 */
#include "cli_common.h"
#include "table.h"

#include <keel/file.h>
#include <keel/manifest.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define STARTER_DESCRIPTION_CELL 60   /* bytes of a description in a table */
#define STARTER_CONFIG_FILE_MAX (1024 * 1024)

static void starter_usage(FILE *out)
{
    fputs("usage: keel starter SUBCOMMAND [ARGS...]\n"
          "\n"
          "Manages the starters of the base: capability plugins (a cache, a database,\n"
          "configuration...) the base owner picks from the market and modules bind.\n"
          "\n"
          "subcommands:\n"
          "  list [--json]                       the market's starters and what runs\n"
          "  info NAME [--json]                  one starter in detail\n"
          "  enable NAME[@RANGE] [--config JSON|@FILE]\n"
          "                                      run it, or upgrade it in place\n"
          "  disable NAME                        stop it (refused while modules use it)\n"
          "  exec NAME OP [JSON_OBJECT]          run an operator command of the starter\n"
          "\n"
          "Run 'keel starter SUBCOMMAND --help' for the options of one.\n",
          out);
}

static void starter_list_usage(FILE *out)
{
    fputs("usage: keel starter list [--json]\n"
          "\n"
          "Lists every starter of the base's market and every one that runs:\n"
          "NAME, ENABLED (the running version, or \"no\"), AVAILABLE (the market's\n"
          "versions), BINDINGS (the module instances bound to it) and DESCRIPTION.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static void starter_info_usage(FILE *out)
{
    fputs("usage: keel starter info NAME [--json]\n"
          "\n"
          "Shows starter NAME: description, owner, tags, the market's versions and,\n"
          "when it runs, its version, library, configuration, bound module\n"
          "instances, upgrades in place and its own status counters.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON (with the config schemas)\n"
          "  -h, --help  show this help\n",
          out);
}

static void starter_enable_usage(FILE *out)
{
    fputs("usage: keel starter enable NAME[@RANGE] [--config JSON | --config @FILE] [--json]\n"
          "\n"
          "Runs starter NAME at the highest market version RANGE accepts (default:\n"
          "the highest), configured with the JSON object given (default {}; the\n"
          "base checks it against the version's schema first). When NAME already\n"
          "runs another version, it is upgraded in place: modules keep their\n"
          "bindings and the configuration is kept unless --config is given.\n"
          "The base remembers what is enabled across restarts.\n"
          "\n"
          "options:\n"
          "  -c, --config JSON   the configuration, a JSON object\n"
          "  -c, --config @FILE  the configuration, read from FILE\n"
          "  --json              print the base's result as JSON\n"
          "  -h, --help          show this help\n"
          "\n"
          "examples: keel starter enable kv\n"
          "          keel starter enable kv@^1.1 --config '{\"backend\": \"memory\"}'\n",
          out);
}

static void starter_disable_usage(FILE *out)
{
    fputs("usage: keel starter disable NAME [--json]\n"
          "\n"
          "Stops starter NAME. Refused, naming them, while module instances are\n"
          "bound to it: uninstall those first.\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static void starter_exec_usage(FILE *out)
{
    fputs("usage: keel starter exec NAME OP [JSON_OBJECT] [--json]\n"
          "\n"
          "Runs operator command OP of starter NAME with the arguments in\n"
          "JSON_OBJECT (default {}) and prints its result as JSON. Every starter\n"
          "has \"info\" (its counters); an unknown OP is answered with the list\n"
          "of the starter's commands.\n"
          "\n"
          "options:\n"
          "  --json      print the base's whole result object ({\"result\": ...})\n"
          "  -h, --help  show this help\n"
          "\n"
          "example: keel starter exec kv info\n",
          out);
}

/* ---- shared --------------------------------------------------------------- */

static int starter_bad_name(const char *command, const char *name)
{
    return keel_cli_usage_error(command, "\"%s\" is not a valid starter NAME: 1 to 64 characters "
                                         "from [a-z0-9_-] starting with a letter", name);
}

/* Parses the options of a subcommand that has only --json and --help, then
 * checks for `min`..`max` operands (`what` names the missing one). */
static int starter_plain(const char *command, const keel_cli *cli, int argc, char **argv, int min,
                         int max, const char *what, int *json, int *help)
{
    int code = keel_cli_parse_plain(command, cli, argc, argv, json, help);
    if (code != KEEL_EXIT_OK || *help)
        return code;
    return keel_cli_operands(command, argc, argv, optind, min, max, what);
}

/* Joins the strings of array `a` with ", " into buf; `none` when empty. */
static const char *starter_join(const cJSON *a, const char *none, char *buf, size_t size)
{
    size_t used = 0;
    const cJSON *item;
    buf[0] = '\0';
    cJSON_ArrayForEach(item, a) {
        char text[256];
        int n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "",
                         keel_cli_value_text(item, text, sizeof text));
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
    }
    return used > 0 ? buf : none;
}

/* `text` cut to at most `max` bytes (on a UTF-8 character boundary) with
 * "..." when it was longer, into buf. */
static const char *starter_clip(const char *text, size_t max, char *buf, size_t size)
{
    size_t n = strlen(text);
    if (n <= max || max < 4 || size <= max) {
        snprintf(buf, size, "%s", text);
        return buf;
    }
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)text[cut] & 0xC0) == 0x80)
        cut--;
    snprintf(buf, size, "%.*s...", (int)cut, text);
    return buf;
}

/* The BINDINGS cell: "-" when not running, "none", the instance names, or
 * their count when the names would not fit. */
static const char *starter_bindings(const cJSON *s, char *buf, size_t size)
{
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "enabled")))
        return "-";
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(s, "bindings");
    int n = cJSON_GetArraySize(b);
    if (n == 0)
        return "none";
    char names[256];
    starter_join(b, "none", names, sizeof names);
    if (n <= 3 && strlen(names) <= 48)
        snprintf(buf, size, "%s", names);
    else
        snprintf(buf, size, "%d instances", n);
    return buf;
}

/* One row of a starter table; `market` picks the columns of keel market
 * search. */
static int starter_row(keel_table *t, const cJSON *s, int market)
{
    char versions[256], bindings[128], tags[256], description[STARTER_DESCRIPTION_CELL + 8];
    const char *version = keel_cli_str(s, "version", NULL);
    const char *enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "enabled"))
                              ? (version != NULL ? version : "?") : "no";
    starter_join(cJSON_GetObjectItemCaseSensitive(s, "versions"), "-", versions, sizeof versions);
    starter_clip(keel_cli_str(s, "description", "-"), STARTER_DESCRIPTION_CELL, description,
                 sizeof description);
    if (market) {
        const char *cells[] = {keel_cli_str(s, "name", "?"), versions, enabled,
                               keel_cli_str(s, "owner", "-"),
                               starter_join(cJSON_GetObjectItemCaseSensitive(s, "tags"), "-",
                                            tags, sizeof tags),
                               description};
        return keel_table_add(t, cells);
    }
    const char *cells[] = {keel_cli_str(s, "name", "?"), enabled, versions,
                           starter_bindings(s, bindings, sizeof bindings), description};
    return keel_table_add(t, cells);
}

int keel_cli_print_starter_rows(const cJSON *rows, int market)
{
    static const char *const list_headers[] = {"NAME", "ENABLED", "AVAILABLE", "BINDINGS",
                                               "DESCRIPTION"};
    static const char *const market_headers[] = {"NAME", "VERSIONS", "ENABLED", "OWNER", "TAGS",
                                                 "DESCRIPTION"};
    keel_table *t = market ? keel_table_new(6, market_headers) : keel_table_new(5, list_headers);
    int failed = t == NULL;
    const cJSON *s;
    cJSON_ArrayForEach(s, rows) {
        if (!failed && starter_row(t, s, market) != 0)
            failed = 1;
    }
    if (failed) {
        keel_table_free(t);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    keel_table_print(t, stdout, "");
    keel_table_free(t);
    return KEEL_EXIT_OK;
}

/* ---- list ----------------------------------------------------------------- */

static int starter_list(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = starter_plain("starter list", cli, argc, argv, 0, 0, "", &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            starter_list_usage(stdout);
        return code;
    }
    cJSON *result;
    code = keel_cli_admin(cli, "starters", keel_cli_args_new(), NULL, NULL, &result);
    if (code == KEEL_EXIT_OK && json) {
        code = keel_cli_print_json(result);
    } else if (code == KEEL_EXIT_OK) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(result, "starters");
        if (cJSON_GetArraySize(rows) == 0)
            puts("no starters: the base's market is empty or it has none "
                 "(\"starters\": {\"market\": PATH} in its configuration)");
        else
            code = keel_cli_print_starter_rows(rows, 0);
    }
    cJSON_Delete(result);
    return code;
}

/* ---- info ----------------------------------------------------------------- */

#define INFO_LABEL "%-12s "
#define INFO_WIDTH 78

/* Prints the fields of object `status` as "key=value" pairs, wrapped at
 * INFO_WIDTH columns under the "status" label. */
static void starter_print_status(const cJSON *status)
{
    size_t col = (size_t)printf(INFO_LABEL, "status");
    size_t indent = col;
    int first = 1;
    const cJSON *field;
    cJSON_ArrayForEach(field, status) {
        char value[160], pair[256];
        keel_cli_value_text(field, value, sizeof value);
        int n = snprintf(pair, sizeof pair, "%s=%s", field->string, value);
        size_t len = n < 0 ? 0 : strlen(pair);
        if (!first && col + 1 + len > INFO_WIDTH) {
            printf("\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            putchar(' ');
            col++;
        }
        fputs(pair, stdout);
        col += len;
        first = 0;
    }
    putchar('\n');
}

static void starter_print_info(const cJSON *s)
{
    char text[1024];
    const cJSON *enabled = cJSON_GetObjectItemCaseSensitive(s, "enabled");
    printf(INFO_LABEL "%s\n", "name", keel_cli_str(s, "name", "?"));
    printf(INFO_LABEL "%s\n", "description", keel_cli_str(s, "description", "-"));
    printf(INFO_LABEL "%s\n", "owner", keel_cli_str(s, "owner", "-"));
    printf(INFO_LABEL "%s\n", "tags",
           starter_join(cJSON_GetObjectItemCaseSensitive(s, "tags"), "-", text, sizeof text));
    const cJSON *mv = cJSON_GetObjectItemCaseSensitive(s, "market_versions");
    const cJSON *v;
    cJSON_ArrayForEach(v, mv) {
        char api[64];
        printf(INFO_LABEL "%s (module api %s)\n", v == mv->child ? "versions" : "",
               keel_cli_str(v, "version", "?"), keel_cli_cell(v, "module_api", api, sizeof api));
    }
    if (cJSON_GetArraySize(mv) == 0)
        printf(INFO_LABEL "%s\n", "versions", "not in the market");
    if (!cJSON_IsTrue(enabled)) {
        printf(INFO_LABEL "no ('keel starter enable %s' runs it)\n", "enabled",
               keel_cli_str(s, "name", "NAME"));
        return;
    }
    printf(INFO_LABEL "%s\n", "enabled", keel_cli_str(s, "version", "?"));
    printf(INFO_LABEL "%s\n", "library", keel_cli_str(s, "library", "-"));
    char functions[32], format[32];
    printf(INFO_LABEL "%s functions, state format %s\n", "table",
           keel_cli_cell(s, "functions", functions, sizeof functions),
           keel_cli_cell(s, "state_format", format, sizeof format));
    printf(INFO_LABEL "%s\n", "config", keel_cli_cell(s, "config", text, sizeof text));
    printf(INFO_LABEL "%s\n", "bindings",
           starter_join(cJSON_GetObjectItemCaseSensitive(s, "bindings"), "none", text,
                        sizeof text));
    printf(INFO_LABEL "%s\n", "upgrades", keel_cli_cell(s, "upgrades", text, sizeof text));
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(s, "old_versions_loaded");
    if (cJSON_IsNumber(old) && old->valuedouble > 0)
        printf(INFO_LABEL "%.0f (calls still inside them)\n", "old code", old->valuedouble);
    printf(INFO_LABEL "%s\n", "work dir", keel_cli_str(s, "work_dir", "-"));
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(s, "status");
    if (cJSON_IsObject(status))
        starter_print_status(status);
    else
        printf(INFO_LABEL "%s\n", "status", keel_cli_value_text(status, text, sizeof text));
}

static int starter_info(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = starter_plain("starter info", cli, argc, argv, 1, 1, "the starter NAME", &json,
                             &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            starter_info_usage(stdout);
        return code;
    }
    const char *name = argv[optind];
    if (!keel_name_valid(name))
        return starter_bad_name("starter info", name);
    cJSON *result;
    code = keel_cli_admin(cli, "starter.info",
                          keel_cli_args_str(keel_cli_args_new(), "name", name), NULL, NULL,
                          &result);
    if (code == KEEL_EXIT_OK && json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        starter_print_info(cJSON_GetObjectItemCaseSensitive(result, "starter"));
    cJSON_Delete(result);
    return code;
}

/* ---- enable --------------------------------------------------------------- */

/* Reads FILE (borrowed) whole into a malloc'd string; NULL with errno set. */
static char *starter_read_file(const char *path)
{
    char *text = NULL;
    size_t size = 0;
    int e = keel_file_read(path, STARTER_CONFIG_FILE_MAX, &text, &size);
    if (e != 0)
        errno = e;
    return text;
}

/* Parses the value of --config: a JSON object, or @FILE holding one. On
 * KEEL_EXIT_OK *out is the caller's. */
static int starter_parse_config(const char *value, cJSON **out)
{
    const char *command = "starter enable";
    *out = NULL;
    char *file_text = NULL;
    const char *text = value;
    if (value[0] == '@') {
        if (value[1] == '\0')
            return keel_cli_usage_error(command, "option --config: \"@\" needs a FILE name");
        file_text = starter_read_file(value + 1);
        if (file_text == NULL) {
            keel_cli_error("starter enable: cannot read the --config file %s: %s", value + 1,
                           strerror(errno));
            return KEEL_EXIT_FAILURE;
        }
        text = file_text;
    }
    *out = cJSON_ParseWithOpts(text, NULL, 1);
    int code = KEEL_EXIT_OK;
    if (!cJSON_IsObject(*out)) {
        char got[64];
        starter_clip(text, 40, got, sizeof got);
        for (char *c = got; *c != '\0'; c++)
            if (*c == '\n' || *c == '\r' || *c == '\t')
                *c = ' ';
        code = keel_cli_usage_error(command, "option --config: %s%s must hold a JSON object "
                                    "such as '{\"backend\": \"memory\"}', got '%s'",
                                    file_text != NULL ? "file " : "",
                                    file_text != NULL ? value + 1 : "the value", got);
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(file_text);
    return code;
}

typedef struct enable_args {
    char *name, *range;
    cJSON *config;
    int json, help;
} enable_args;

static int starter_enable_parse(const keel_cli *cli, int argc, char **argv, enable_args *a)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *command = "starter enable";
    const char *config = NULL;
    a->json = cli->json;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hc:", options, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'h')
            a->help = 1;
        else
            return keel_cli_bad_option(command, c, argv);
    }
    if (a->help)
        return KEEL_EXIT_OK;
    int code = keel_cli_operands(command, argc, argv, optind, 1, 1, "the starter NAME[@RANGE]");
    if (code != KEEL_EXIT_OK)
        return code;
    const char *id = argv[optind];
    const char *at = strchr(id, '@');
    size_t len = at != NULL ? (size_t)(at - id) : strlen(id);
    if (at != NULL && at[1] == '\0')
        return keel_cli_usage_error(command, "\"%s\" has an empty RANGE after '@'", id);
    a->name = strndup(id, len);
    a->range = at != NULL ? strdup(at + 1) : NULL;
    if (a->name == NULL || (at != NULL && a->range == NULL)) {
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    if (!keel_name_valid(a->name))
        return starter_bad_name(command, a->name);
    return config != NULL ? starter_parse_config(config, &a->config) : KEEL_EXIT_OK;
}

static void starter_print_enabled(const cJSON *r)
{
    const char *name = keel_cli_str(r, "name", "?");
    const char *version = keel_cli_str(r, "version", "?");
    const char *previous = keel_cli_str(r, "previous", NULL);
    if (previous == NULL)
        printf("enabled %s %s\n", name, version);
    else if (strcmp(previous, version) == 0)
        printf("%s %s already runs; nothing changed\n", name, version);
    else
        printf("upgraded %s %s -> %s in place\n", name, previous, version);
}

static int starter_enable(const keel_cli *cli, int argc, char **argv)
{
    enable_args a = {NULL, NULL, NULL, 0, 0};
    int code = starter_enable_parse(cli, argc, argv, &a);
    if (code == KEEL_EXIT_OK && a.help) {
        starter_enable_usage(stdout);
    } else if (code == KEEL_EXIT_OK) {
        cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", a.name);
        args = keel_cli_args_str(args, "version", a.range);
        if (a.config != NULL) {
            args = keel_cli_args_item(args, "config", a.config);
            a.config = NULL;   /* consumed */
        }
        cJSON *result;
        code = keel_cli_admin(cli, "starter.enable", args, NULL, NULL, &result);
        if (code == KEEL_EXIT_OK && a.json)
            code = keel_cli_print_json(result);
        else if (code == KEEL_EXIT_OK)
            starter_print_enabled(result);
        cJSON_Delete(result);
    }
    cJSON_Delete(a.config);
    free(a.name);
    free(a.range);
    return code;
}

/* ---- disable -------------------------------------------------------------- */

static int starter_disable(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = starter_plain("starter disable", cli, argc, argv, 1, 1, "the starter NAME", &json,
                             &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            starter_disable_usage(stdout);
        return code;
    }
    const char *name = argv[optind];
    if (strchr(name, '@') != NULL)
        return keel_cli_usage_error("starter disable", "takes a starter NAME without a version, "
                                                       "got \"%s\"", name);
    if (!keel_name_valid(name))
        return starter_bad_name("starter disable", name);
    cJSON *result;
    code = keel_cli_admin(cli, "starter.disable",
                          keel_cli_args_str(keel_cli_args_new(), "name", name), NULL, NULL,
                          &result);
    if (code == KEEL_EXIT_OK && json)
        code = keel_cli_print_json(result);
    else if (code == KEEL_EXIT_OK)
        printf("disabled %s\n", keel_cli_str(result, "disabled", name));
    cJSON_Delete(result);
    return code;
}

/* ---- exec ----------------------------------------------------------------- */

static int starter_exec(const keel_cli *cli, int argc, char **argv)
{
    const char *command = "starter exec";
    int json, help;
    int code = keel_cli_parse_plain(command, cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            starter_exec_usage(stdout);
        return code;
    }
    code = keel_cli_operands(command, argc, argv, optind, 2, 3,
                             argc - optind < 1 ? "the starter NAME and the OP" : "the OP");
    if (code != KEEL_EXIT_OK)
        return code;
    const char *name = argv[optind], *op = argv[optind + 1];
    if (!keel_name_valid(name))
        return starter_bad_name(command, name);
    if (op[0] == '\0')
        return keel_cli_usage_error(command, "the OP is empty");
    cJSON *op_args = NULL;
    if (argc - optind == 3) {
        op_args = cJSON_ParseWithOpts(argv[optind + 2], NULL, 1);
        if (!cJSON_IsObject(op_args)) {
            cJSON_Delete(op_args);
            char got[64];
            return keel_cli_usage_error(command, "arguments must be a JSON object such as "
                                        "'{\"module\": \"orders\"}', got '%s'",
                                        starter_clip(argv[optind + 2], 40, got, sizeof got));
        }
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", name);
    args = keel_cli_args_str(args, "op", op);
    if (op_args != NULL)
        args = keel_cli_args_item(args, "args", op_args);
    cJSON *result;
    code = keel_cli_admin(cli, "starter.exec", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = keel_cli_print_result(result, json);
    cJSON_Delete(result);
    return code;
}

/* ---- dispatch ------------------------------------------------------------- */

typedef struct starter_subcommand {
    const char *name;
    keel_command_fn run;
} starter_subcommand;

static const starter_subcommand starter_subcommands[] = {
    {"list", starter_list},       {"info", starter_info}, {"enable", starter_enable},
    {"disable", starter_disable}, {"exec", starter_exec},
};

int keel_cmd_starter(const keel_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return keel_cli_usage_error("starter", "missing the SUBCOMMAND (list, info, enable, "
                                               "disable or exec)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        starter_usage(stdout);
        return KEEL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof starter_subcommands / sizeof starter_subcommands[0]; i++)
        if (strcmp(argv[1], starter_subcommands[i].name) == 0)
            return starter_subcommands[i].run(cli, argc - 1, argv + 1);
    return keel_cli_usage_error("starter", "unknown subcommand \"%s\" (list, info, enable, "
                                           "disable or exec)", argv[1]);
}

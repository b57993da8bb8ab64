/*
 * keel config get|set|list|delete|reset — the run-time configuration the
 * "config" starter keeps per module and scene. Each subcommand is the
 * starter's operator command of that name ("starter.exec" of
 * base/src/admin.h with {"module", "scene", "key", "value"}).
 */
#include "cli_common.h"
#include "table.h"

#include <stdlib.h>
#include <string.h>

#define CONFIG_STARTER "config"
#define CONFIG_OPERANDS_MAX 3
#define CONFIG_CELL_MAX 60

static void config_usage(FILE *out)
{
    fputs("usage: keel config SUBCOMMAND [ARGS...] [--scene S] [--json]\n"
          "\n"
          "Reads and changes the run-time configuration that modules read through\n"
          "the \"config\" starter (which the base must run: 'keel starter enable\n"
          "config'). A key has a module-wide value (scene \"*\") and may have one\n"
          "per scene; a module reading it in a scene gets the scene's value, else\n"
          "the module-wide one. Changes are saved, then delivered to the module's\n"
          "watchers before the command returns.\n"
          "\n"
          "subcommands:\n"
          "  get MODULE KEY [--scene S]        the value a module reads, and where it\n"
          "                                    comes from\n"
          "  set MODULE KEY VALUE [--scene S]  set it (VALUE is JSON if it parses as\n"
          "                                    JSON, else a string)\n"
          "  list [MODULE]                     every value (of MODULE)\n"
          "  delete MODULE KEY [--scene S]     remove the value at exactly that scene\n"
          "  reset MODULE KEY [--scene S]      drop the operator's change: the\n"
          "                                    module's default applies again\n"
          "\n"
          "options:\n"
          "  -s, --scene S  the scene (default: \"*\", module-wide)\n"
          "  --json         print the starter's result as JSON\n"
          "  -h, --help     show this help\n"
          "  --             the arguments that follow are not options (a VALUE\n"
          "                 such as -5 needs none: it is not an option name)\n"
          "\n"
          "examples: keel config set notify channel sms --scene retail\n"
          "          keel config set notify retries 3\n"
          "          keel config get notify channel --scene retail\n",
          out);
}

typedef struct config_args {
    const char *operands[CONFIG_OPERANDS_MAX];
    int count;
    const char *scene;   /* NULL: not given */
    int json, help;
} config_args;

/* One subcommand: its operands' names, whether it takes --scene, how its
 * result is printed. */
typedef struct config_cmd {
    const char *name;                          /* the starter's op too */
    const char *command;                       /* "config get": for errors */
    const char *const names[CONFIG_OPERANDS_MAX];
    int min, max;
    int scene;
    int (*print)(const cJSON *result, const config_args *a);
} config_cmd;

/* ---- arguments ------------------------------------------------------------ */

/* An option name (to be known or refused) rather than an operand: "--x",
 * "-x" with a letter; "-5", "-" and "-.5" are operands (values). */
static int config_is_option(const char *arg)
{
    if (arg[0] != '-')
        return 0;
    return arg[1] == '-' || (arg[1] >= 'a' && arg[1] <= 'z') || (arg[1] >= 'A' && arg[1] <= 'Z');
}

static int config_parse(const config_cmd *cmd, const keel_cli *cli, int argc, char **argv,
                        config_args *a)
{
    a->json = cli->json;
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || !config_is_option(arg)) {
            if (a->count == cmd->max)
                return keel_cli_usage_error(cmd->command, "unexpected argument \"%s\"", arg);
            a->operands[a->count++] = arg;
        } else if (strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->help = 1;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = 1;
        } else if (cmd->scene && (strcmp(arg, "-s") == 0 || strcmp(arg, "--scene") == 0)) {
            if (i + 1 >= argc)
                return keel_cli_usage_error(cmd->command, "option \"%s\" needs a value", arg);
            a->scene = argv[++i];
        } else if (cmd->scene && strncmp(arg, "--scene=", 8) == 0) {
            a->scene = arg + 8;
        } else {
            return keel_cli_usage_error(cmd->command, "unknown option \"%s\"", arg);
        }
    }
    if (a->help)
        return KEEL_EXIT_OK;
    if (a->count < cmd->min)
        return keel_cli_usage_error(cmd->command, "missing the %s", cmd->names[a->count]);
    if (a->scene != NULL && a->scene[0] == '\0')
        return keel_cli_usage_error(cmd->command, "the scene is empty (module-wide is \"*\")");
    return KEEL_EXIT_OK;
}

/* The starter's args: {"module", "scene", "key", "value"} from the
 * operands; NULL when out of memory. */
static cJSON *config_op_args(const config_args *a)
{
    cJSON *args = keel_cli_args_new();
    if (a->count > 0)
        args = keel_cli_args_str(args, "module", a->operands[0]);
    args = keel_cli_args_str(args, "scene", a->scene);
    if (a->count > 1)
        args = keel_cli_args_str(args, "key", a->operands[1]);
    if (a->count > 2) {
        /* JSON when it parses as JSON, else the text as a string. */
        cJSON *value = cJSON_ParseWithOpts(a->operands[2], NULL, 1);
        if (value == NULL)
            value = cJSON_CreateString(a->operands[2]);
        args = keel_cli_args_item(args, "value", value);
    }
    return args;
}

/* ---- printing ------------------------------------------------------------- */

/* "module/key", with " (scene S)" unless module-wide, into buf. */
static const char *config_label(const cJSON *r, const config_args *a, char *buf, size_t size)
{
    const char *scene = keel_cli_str(r, "scene", a->scene != NULL ? a->scene : "*");
    snprintf(buf, size, "%s/%s%s%s%s", keel_cli_str(r, "module", a->operands[0]),
             keel_cli_str(r, "key", a->count > 1 ? a->operands[1] : "?"),
             strcmp(scene, "*") != 0 ? " (scene " : "", strcmp(scene, "*") != 0 ? scene : "",
             strcmp(scene, "*") != 0 ? ")" : "");
    return buf;
}

/* `value` as compact JSON (strings quoted), clipped to `max` bytes. */
static const char *config_json_text(const cJSON *value, size_t max, char *buf, size_t size)
{
    if (value == NULL) {
        snprintf(buf, size, "null");
        return buf;
    }
    char *text = cJSON_PrintUnformatted(value);
    if (text == NULL)
        snprintf(buf, size, "...");
    else if (strlen(text) > max && max > 3)
        snprintf(buf, size, "%.*s...", (int)(max - 3), text);
    else
        snprintf(buf, size, "%s", text);
    free(text);
    return buf;
}

/* " (operator, module-wide)": where the value comes from, into buf. */
static const char *config_origin(const cJSON *r, char *buf, size_t size)
{
    const char *source = keel_cli_str(r, "source", NULL);
    const char *from = keel_cli_str(r, "from_scene", NULL);
    if (source == NULL) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, size, " (%s%s%s%s)", source, from != NULL ? ", " : "",
             from == NULL ? "" : strcmp(from, "*") == 0 ? "module-wide" : "scene ",
             from != NULL && strcmp(from, "*") != 0 ? from : "");
    return buf;
}

static int config_print_get(const cJSON *r, const config_args *a)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(r, "value");
    if (value == NULL)
        return keel_cli_print_json(r);
    char label[512], text[4096], origin[160];
    printf("%s = %s%s\n", config_label(r, a, label, sizeof label),
           config_json_text(value, sizeof text - 1, text, sizeof text),
           config_origin(r, origin, sizeof origin));
    return KEEL_EXIT_OK;
}

static void config_print_notified(const cJSON *notified)
{
    printf("%.0f watcher%s notified\n", notified->valuedouble,
           notified->valuedouble == 1 ? "" : "s");
}

static int config_print_set(const cJSON *r, const config_args *a)
{
    const cJSON *notified = cJSON_GetObjectItemCaseSensitive(r, "notified");
    if (!cJSON_IsNumber(notified))
        return keel_cli_print_json(r);
    char label[512], text[4096];
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(r, "value");
    cJSON *sent = value == NULL ? cJSON_ParseWithOpts(a->operands[2], NULL, 1) : NULL;
    if (value == NULL && sent == NULL)
        sent = cJSON_CreateString(a->operands[2]);
    printf("set %s = %s; ", config_label(r, a, label, sizeof label),
           config_json_text(value != NULL ? value : sent, sizeof text - 1, text, sizeof text));
    cJSON_Delete(sent);
    config_print_notified(notified);
    return KEEL_EXIT_OK;
}

/* delete and reset: what was removed and what a module reads now. */
static int config_print_change(const cJSON *r, const config_args *a, const char *done)
{
    const cJSON *notified = cJSON_GetObjectItemCaseSensitive(r, "notified");
    if (!cJSON_IsNumber(notified))
        return keel_cli_print_json(r);
    char label[512], text[4096], origin[160];
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(r, "value");
    printf("%s %s; ", done, config_label(r, a, label, sizeof label));
    if (value == NULL || cJSON_IsNull(value))
        fputs("no value left; ", stdout);
    else
        printf("now %s%s; ", config_json_text(value, sizeof text - 1, text, sizeof text),
               config_origin(r, origin, sizeof origin));
    config_print_notified(notified);
    return KEEL_EXIT_OK;
}

static int config_print_delete(const cJSON *r, const config_args *a)
{
    return config_print_change(r, a, "deleted");
}

static int config_print_reset(const cJSON *r, const config_args *a)
{
    return config_print_change(r, a, "reset");
}

/* Adds the rows of `items` to t: entries with their value and source,
 * deleted defaults as "<deleted>". */
static int config_list_rows(keel_table *t, const cJSON *items, int deleted)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, items) {
        char value[CONFIG_CELL_MAX + 8], source[CONFIG_CELL_MAX + 40];
        if (deleted) {
            char def[CONFIG_CELL_MAX + 8];
            snprintf(value, sizeof value, "<deleted>");
            snprintf(source, sizeof source, "operator (default %s)",
                     config_json_text(cJSON_GetObjectItemCaseSensitive(e, "default"),
                                      CONFIG_CELL_MAX / 2, def, sizeof def));
        } else {
            config_json_text(cJSON_GetObjectItemCaseSensitive(e, "value"), CONFIG_CELL_MAX, value,
                             sizeof value);
            snprintf(source, sizeof source, "%s", keel_cli_str(e, "source", "-"));
        }
        const char *cells[] = {keel_cli_str(e, "module", "?"), keel_cli_str(e, "scene", "?"),
                               keel_cli_str(e, "key", "?"), value, source};
        if (keel_table_add(t, cells) != 0)
            return -1;
    }
    return 0;
}

static int config_print_list(const cJSON *r, const config_args *a)
{
    static const char *const headers[] = {"MODULE", "SCENE", "KEY", "VALUE", "SOURCE"};
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(r, "entries");
    const cJSON *deleted = cJSON_GetObjectItemCaseSensitive(r, "deleted");
    if (!cJSON_IsArray(entries))
        return keel_cli_print_json(r);
    if (cJSON_GetArraySize(entries) == 0 && cJSON_GetArraySize(deleted) == 0) {
        if (a->count > 0)
            printf("no configuration values for module %s\n", a->operands[0]);
        else
            puts("no configuration values");
        return KEEL_EXIT_OK;
    }
    keel_table *t = keel_table_new(5, headers);
    if (t == NULL || config_list_rows(t, entries, 0) != 0 || config_list_rows(t, deleted, 1) != 0) {
        keel_table_free(t);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    keel_table_print(t, stdout, "");
    keel_table_free(t);
    return KEEL_EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------- */

static const config_cmd config_cmds[] = {
    {"get", "config get", {"MODULE", "KEY", NULL}, 2, 2, 1, config_print_get},
    {"set", "config set", {"MODULE", "KEY", "VALUE"}, 3, 3, 1, config_print_set},
    {"list", "config list", {"MODULE", NULL, NULL}, 0, 1, 0, config_print_list},
    {"delete", "config delete", {"MODULE", "KEY", NULL}, 2, 2, 1, config_print_delete},
    {"reset", "config reset", {"MODULE", "KEY", NULL}, 2, 2, 1, config_print_reset},
};

static int config_run(const config_cmd *cmd, const keel_cli *cli, int argc, char **argv)
{
    config_args a = {{NULL}, 0, NULL, 0, 0};
    int code = config_parse(cmd, cli, argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help && code == KEEL_EXIT_OK)
            config_usage(stdout);
        return code;
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", CONFIG_STARTER);
    args = keel_cli_args_str(args, "op", cmd->name);
    cJSON *op_args = config_op_args(&a);
    if (op_args == NULL) {
        cJSON_Delete(args);
        args = NULL;
    } else {
        args = keel_cli_args_item(args, "args", op_args);
    }
    cJSON *result;
    code = keel_cli_admin(cli, "starter.exec", args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK) {
        cJSON *value = cJSON_GetObjectItemCaseSensitive(result, "result");
        code = a.json ? keel_cli_print_json(value != NULL ? value : result)
                      : cmd->print(value != NULL ? value : result, &a);
    }
    cJSON_Delete(result);
    return code;
}

int keel_cmd_config(const keel_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return keel_cli_usage_error("config", "missing the SUBCOMMAND (get, set, list, delete "
                                              "or reset)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        config_usage(stdout);
        return KEEL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof config_cmds / sizeof config_cmds[0]; i++)
        if (strcmp(argv[1], config_cmds[i].name) == 0)
            return config_run(&config_cmds[i], cli, argc - 1, argv + 1);
    return keel_cli_usage_error("config", "unknown subcommand \"%s\" (get, set, list, delete or "
                                          "reset)", argv[1]);
}

/*
 * Shared helpers of the commands that talk to a base.
 */
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int keel_cli_bad_option(const char *command, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return keel_cli_usage_error(command, "option \"%s\" needs a value", arg);
    if (optopt != 0)
        return keel_cli_usage_error(command, "unknown option \"-%c\"", optopt);
    return keel_cli_usage_error(command, "unknown option \"%s\"", arg);
}

int keel_cli_parse_plain(const char *command, const keel_cli *cli, int argc, char **argv,
                         int *json, int *help)
{
    static const struct option with_json[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const struct option *options = json != NULL ? with_json : with_json + 1;
    if (json != NULL)
        *json = cli->json;
    *help = 0;
    opterr = 0;
    optind = 0;   /* 0, not 1: makes GNU getopt forget any earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (c == 'j')
            *json = 1;
        else if (c == 'h')
            *help = 1;
        else
            return keel_cli_bad_option(command, c, argv);
    }
    return KEEL_EXIT_OK;
}

int keel_cli_operands(const char *command, int argc, char **argv, int first, int min, int max,
                      const char *what)
{
    int n = argc - first;
    if (n < min)
        return keel_cli_usage_error(command, "missing %s", what);
    if (n > max)
        return keel_cli_usage_error(command, "unexpected argument \"%s\"", argv[first + max]);
    return KEEL_EXIT_OK;
}

int keel_cli_split_id(const char *command, const char *id, int need_version, char **name,
                      char **version)
{
    *name = NULL;
    *version = NULL;
    const char *at = strchr(id, '@');
    size_t name_len = at != NULL ? (size_t)(at - id) : strlen(id);
    if (name_len == 0)
        return keel_cli_usage_error(command, "\"%s\" has no module NAME", id);
    if (at != NULL && at[1] == '\0')
        return keel_cli_usage_error(command, "\"%s\" has an empty VERSION after '@'", id);
    if (at == NULL && need_version)
        return keel_cli_usage_error(command, "\"%s\" needs a version: NAME@VERSION", id);
    *name = strndup(id, name_len);
    if (at != NULL)
        *version = strdup(at + 1);
    if (*name == NULL || (at != NULL && *version == NULL)) {
        free(*name);
        free(*version);
        *name = *version = NULL;
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    return KEEL_EXIT_OK;
}

int keel_cli_parse_long(const char *text, long min, long max, long *out)
{
    if (text[0] == '\0' || text[0] == ' ')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int keel_cli_parse_seconds(const char *text, int *ms)
{
    if (text[0] == '\0' || text[0] == ' ')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 || v > 86400)
        return -1;
    double m = ceil(v * 1000);
    *ms = m < 1 ? 1 : (int)m;
    return 0;
}

int keel_cli_parse_json_array(const char *command, const char *text, cJSON **out)
{
    *out = cJSON_Parse(text);
    if (cJSON_IsArray(*out))
        return KEEL_EXIT_OK;
    cJSON_Delete(*out);
    *out = NULL;
    return keel_cli_usage_error(command, "arguments must be a JSON array such as '[\"world\"]', "
                                         "got '%s'", text);
}

const char *keel_cli_socket(const keel_cli *cli)
{
    if (cli->socket_path != NULL && cli->socket_path[0] != '\0')
        return cli->socket_path;
    keel_cli_error("no base socket: pass --socket PATH or set KEEL_SOCKET");
    return NULL;
}

int keel_cli_report(const keel_admin_error *err)
{
    keel_cli_error("%s", err->message);
    return KEEL_EXIT_FAILURE;
}

int keel_cli_connect(const keel_cli *cli, int timeout_ms, keel_admin_conn **conn)
{
    *conn = NULL;
    const char *path = keel_cli_socket(cli);
    if (path == NULL)
        return KEEL_EXIT_USAGE;
    keel_admin_error err;
    if (keel_admin_connect(path, timeout_ms, conn, &err) != KEEL_ADMIN_OK)
        return keel_cli_report(&err);
    return KEEL_EXIT_OK;
}

int keel_cli_admin(const keel_cli *cli, const char *op, cJSON *args,
                   keel_admin_progress_fn progress, void *user, cJSON **result)
{
    *result = NULL;
    if (args == NULL) {
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    keel_admin_conn *conn;
    int code = keel_cli_connect(cli, cli->timeout_ms, &conn);
    if (code == KEEL_EXIT_OK) {
        keel_admin_error err;
        if (keel_admin_request(conn, op, args, progress, user, result, &err) != KEEL_ADMIN_OK)
            code = keel_cli_report(&err);
        keel_admin_close(conn);
    }
    cJSON_Delete(args);
    return code;
}

int keel_cli_print_json(const cJSON *json)
{
    char *text = isatty(STDOUT_FILENO) ? cJSON_Print(json) : cJSON_PrintUnformatted(json);
    if (text == NULL) {
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    puts(text);
    free(text);
    return KEEL_EXIT_OK;
}

const char *keel_cli_str(const cJSON *obj, const char *key, const char *fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

const char *keel_cli_value_text(const cJSON *value, char *buf, size_t size)
{
    if (value == NULL || cJSON_IsNull(value))
        snprintf(buf, size, "-");
    else if (cJSON_IsString(value))
        snprintf(buf, size, "%s", value->valuestring);
    else if (cJSON_IsNumber(value) && value->valuedouble == floor(value->valuedouble) &&
             fabs(value->valuedouble) < 1e15)
        snprintf(buf, size, "%.0f", value->valuedouble);
    else if (!cJSON_PrintPreallocated((cJSON *)value, buf, (int)size, 0))
        snprintf(buf, size, "...");
    return buf;
}

const char *keel_cli_cell(const cJSON *obj, const char *key, char *buf, size_t size)
{
    return keel_cli_value_text(cJSON_GetObjectItemCaseSensitive(obj, key), buf, size);
}

cJSON *keel_cli_args_new(void)
{
    return cJSON_CreateObject();
}

cJSON *keel_cli_args_item(cJSON *args, const char *key, cJSON *item)
{
    if (args == NULL || item == NULL || !cJSON_AddItemToObject(args, key, item)) {
        cJSON_Delete(item);
        cJSON_Delete(args);
        return NULL;
    }
    return args;
}

cJSON *keel_cli_args_str(cJSON *args, const char *key, const char *value)
{
    if (value == NULL)
        return args;
    return keel_cli_args_item(args, key, cJSON_CreateString(value));
}

cJSON *keel_cli_args_bool(cJSON *args, const char *key, int value)
{
    return keel_cli_args_item(args, key, cJSON_CreateBool(value));
}

cJSON *keel_cli_args_num(cJSON *args, const char *key, double value)
{
    return keel_cli_args_item(args, key, cJSON_CreateNumber(value));
}

int keel_cli_module_op(const keel_cli *cli, int argc, char **argv, const char *op, int need_version,
                       void (*usage)(FILE *out), int (*print)(const cJSON *result, const char *operand))
{
    const char *command = argv[0];
    int json, help;
    int code = keel_cli_parse_plain(command, cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            usage(stdout);
        return code;
    }
    code = keel_cli_operands(command, argc, argv, optind, 1, 1,
                             need_version ? "the module NAME@VERSION" : "the module NAME[@VERSION]");
    char *name = NULL, *version = NULL;
    if (code == KEEL_EXIT_OK)
        code = keel_cli_split_id(command, argv[optind], need_version, &name, &version);
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "name", name);
    args = keel_cli_args_str(args, "version", version);
    free(name);
    free(version);
    cJSON *result;
    code = keel_cli_admin(cli, op, args, NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = json ? keel_cli_print_json(result) : print(result, argv[optind]);
    cJSON_Delete(result);
    return code;
}

int keel_cli_print_result(const cJSON *result, int json)
{
    if (json)
        return keel_cli_print_json(result);
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(result, "result");
    cJSON *null = value == NULL ? cJSON_CreateNull() : NULL;
    int code = keel_cli_print_json(value != NULL ? value : null);
    cJSON_Delete(null);
    return code;
}

/*
 * keel list [--json] — the installed modules.
 */
#include "cli_common.h"
#include "table.h"

#include <string.h>

static void list_usage(FILE *out)
{
    fputs("usage: keel list [--json]\n"
          "\n"
          "Lists every installed module version: its state, namespace group,\n"
          "priority, memory and the services it publishes (SCENE/NAME, with the\n"
          "share of calls it gets when a route splits them).\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static const char *list_memory(const cJSON *module, char *buf, size_t size)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(module, "memory_bytes");
    if (!cJSON_IsNumber(m))
        return "-";
    double v = m->valuedouble;
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

/* "scene/name" for each service, comma-separated; "-" when none. */
static const char *list_services(const cJSON *module, char *buf, size_t size)
{
    const cJSON *services = cJSON_GetObjectItemCaseSensitive(module, "services");
    const cJSON *s;
    size_t used = 0;
    buf[0] = '\0';
    cJSON_ArrayForEach(s, services) {
        const cJSON *share = cJSON_GetObjectItemCaseSensitive(s, "share");
        char extra[24] = "";
        if (cJSON_IsNumber(share) && share->valuedouble < 100)
            snprintf(extra, sizeof extra, " (%.0f%%)", share->valuedouble);
        int n = snprintf(buf + used, size - used, "%s%s/%s%s", used > 0 ? ", " : "",
                         keel_cli_str(s, "scene", "?"), keel_cli_str(s, "name", "?"), extra);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return used > 0 ? buf : "-";
}

static int list_row(keel_table *t, const cJSON *m)
{
    char ns[64], prio[64], mem[32], services[1024];
    const char *cells[] = {
        keel_cli_str(m, "name", "?"),
        keel_cli_str(m, "version", "?"),
        keel_cli_str(m, "state", "?"),
        keel_cli_cell(m, "namespace", ns, sizeof ns),
        keel_cli_cell(m, "priority", prio, sizeof prio),
        list_memory(m, mem, sizeof mem),
        list_services(m, services, sizeof services),
    };
    return keel_table_add(t, cells);
}

/* The reasons of modules that have one (a broken start, a leak), after the
 * table. */
static void list_reasons(const cJSON *modules)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, modules) {
        const char *reason = keel_cli_str(m, "reason", NULL);
        if (reason != NULL && reason[0] != '\0')
            printf("%s@%s: %s\n", keel_cli_str(m, "name", "?"), keel_cli_str(m, "version", "?"),
                   reason);
    }
}

static int list_print(const cJSON *result)
{
    static const char *const headers[] = {"NAME",     "VERSION", "STATE",   "NS",
                                          "PRIORITY", "MEMORY",  "SERVICES"};
    const cJSON *modules = cJSON_GetObjectItemCaseSensitive(result, "modules");
    if (cJSON_GetArraySize(modules) == 0) {
        puts("no modules installed");
        return KEEL_EXIT_OK;
    }
    keel_table *t = keel_table_new(7, headers);
    const cJSON *m;
    int failed = t == NULL;
    cJSON_ArrayForEach(m, modules) {
        if (!failed && list_row(t, m) != 0)
            failed = 1;
    }
    if (failed) {
        keel_table_free(t);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    keel_table_print(t, stdout, "");
    keel_table_free(t);
    list_reasons(modules);
    return KEEL_EXIT_OK;
}

int keel_cmd_list(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("list", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            list_usage(stdout);
        return code;
    }
    code = keel_cli_operands("list", argc, argv, optind, 0, 0, "");
    if (code != KEEL_EXIT_OK)
        return code;
    cJSON *result;
    code = keel_cli_admin(cli, "list", keel_cli_args_new(), NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = json ? keel_cli_print_json(result) : list_print(result);
    cJSON_Delete(result);
    return code;
}

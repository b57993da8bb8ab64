/*
 * keel health [--json] — the base's health; exit 1 when it is degraded.
 */
#include "cli_common.h"

#include <string.h>

static void health_usage(FILE *out)
{
    fputs("usage: keel health [--json]\n"
          "\n"
          "Shows whether the base is UP or DEGRADED (a broken module, a module\n"
          "that could not be unloaded cleanly), its uptime and module counts.\n"
          "Exits with 0 when UP, 1 when DEGRADED or still BOOTING (with one line saying why).\n"
          "\n"
          "options:\n"
          "  --json      print the base's result as JSON\n"
          "  -h, --help  show this help\n",
          out);
}

static void health_print(const cJSON *r)
{
    char modules[32], active[32], broken[32];
    const cJSON *uptime = cJSON_GetObjectItemCaseSensitive(r, "uptime_s");
    long s = cJSON_IsNumber(uptime) ? (long)uptime->valuedouble : 0;
    printf("status   %s\n", keel_cli_str(r, "status", "?"));
    printf("uptime   %ldd %02ldh %02ldm %02lds\n", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    printf("modules  %s installed, %s active, %s broken\n",
           keel_cli_cell(r, "modules", modules, sizeof modules),
           keel_cli_cell(r, "active", active, sizeof active),
           keel_cli_cell(r, "broken", broken, sizeof broken));
    const cJSON *leaks = cJSON_GetObjectItemCaseSensitive(r, "leaks");
    if (cJSON_GetArraySize(leaks) == 0)
        puts("leaks    none");
    const cJSON *leak;
    cJSON_ArrayForEach(leak, leaks) {
        char text[512];
        printf("leak     %s\n", keel_cli_value_text(leak, text, sizeof text));
    }
    const cJSON *failed;
    cJSON_ArrayForEach(failed, cJSON_GetObjectItemCaseSensitive(r, "starters_failed")) {
        char text[512];
        printf("starter  not running: %s\n", keel_cli_value_text(failed, text, sizeof text));
    }
}

/* Appends "; TEXT" (or TEXT first) to why. */
static void health_add(char *why, size_t size, const char *text)
{
    size_t used = strlen(why);
    snprintf(why + used, size - used, "%s%s", used > 0 ? "; " : "", text);
}

/* Names the broken modules and their reasons, from a "list" request on the
 * same connection; best effort. */
static void health_broken(keel_admin_conn *conn, char *why, size_t size)
{
    keel_admin_error err;
    cJSON *list;
    if (keel_admin_request(conn, "list", NULL, NULL, NULL, &list, &err) != KEEL_ADMIN_OK)
        return;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(list, "modules")) {
        const char *state = keel_cli_str(m, "state", "");
        if (strcmp(state, "broken") != 0 && strcmp(state, "failed") != 0)
            continue;
        char text[512];
        snprintf(text, sizeof text, "%s@%s is %s%s%s", keel_cli_str(m, "name", "?"),
                 keel_cli_str(m, "version", "?"), state,
                 keel_cli_str(m, "reason", NULL) != NULL ? ": " : "",
                 keel_cli_str(m, "reason", ""));
        health_add(why, size, text);
    }
    cJSON_Delete(list);
}

static int health_degraded(keel_admin_conn *conn, const cJSON *r)
{
    char why[1024] = "";
    if (strcmp(keel_cli_str(r, "status", ""), "BOOTING") == 0) {
        fputs("keel: keeld is still booting (bringing back its modules); try again shortly\n", stderr);
        return KEEL_EXIT_FAILURE;
    }
    const cJSON *broken = cJSON_GetObjectItemCaseSensitive(r, "broken");
    if (cJSON_IsNumber(broken) && broken->valueint > 0) {
        health_broken(conn, why, sizeof why);
        if (why[0] == '\0') {
            char text[64];
            snprintf(text, sizeof text, "%d broken module%s", broken->valueint,
                     broken->valueint == 1 ? "" : "s");
            health_add(why, sizeof why, text);
        }
    }
    const cJSON *leak;
    cJSON_ArrayForEach(leak, cJSON_GetObjectItemCaseSensitive(r, "leaks")) {
        char text[512], line[600];
        snprintf(line, sizeof line, "leak: %s", keel_cli_value_text(leak, text, sizeof text));
        health_add(why, sizeof why, line);
    }
    const cJSON *failed;
    cJSON_ArrayForEach(failed, cJSON_GetObjectItemCaseSensitive(r, "starters_failed")) {
        char text[512], line[600];
        snprintf(line, sizeof line, "starter not running: %s",
                 keel_cli_value_text(failed, text, sizeof text));
        health_add(why, sizeof why, line);
    }
    keel_cli_error("base is %s: %s", keel_cli_str(r, "status", "?"),
                   why[0] != '\0' ? why : "keeld gave no reason");
    return KEEL_EXIT_FAILURE;
}

int keel_cmd_health(const keel_cli *cli, int argc, char **argv)
{
    int json, help;
    int code = keel_cli_parse_plain("health", cli, argc, argv, &json, &help);
    if (code != KEEL_EXIT_OK || help) {
        if (help)
            health_usage(stdout);
        return code;
    }
    code = keel_cli_operands("health", argc, argv, optind, 0, 0, "");
    keel_admin_conn *conn = NULL;
    if (code == KEEL_EXIT_OK)
        code = keel_cli_connect(cli, cli->timeout_ms, &conn);
    if (code != KEEL_EXIT_OK)
        return code;
    keel_admin_error err;
    cJSON *r;
    if (keel_admin_request(conn, "health", NULL, NULL, NULL, &r, &err) != KEEL_ADMIN_OK) {
        keel_admin_close(conn);
        return keel_cli_report(&err);
    }
    code = json ? keel_cli_print_json(r) : (health_print(r), KEEL_EXIT_OK);
    fflush(stdout);
    if (code == KEEL_EXIT_OK && strcmp(keel_cli_str(r, "status", ""), "UP") != 0)
        code = health_degraded(conn, r);
    cJSON_Delete(r);
    keel_admin_close(conn);
    return code;
}

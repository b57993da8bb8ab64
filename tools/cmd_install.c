/*
 * keel install BUNDLE [--inactive] [--progress] — installs a bundle.
 */
#include "cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void install_usage(FILE *out)
{
    fputs("usage: keel install BUNDLE [--inactive] [--progress] [--json]\n"
          "\n"
          "Installs the .keel bundle BUNDLE into the base: verifies it, loads the\n"
          "module and, unless --inactive, starts it and makes it the active version.\n"
          "The path is made absolute; keeld reads the file itself.\n"
          "\n"
          "options:\n"
          "  --inactive   install and load, but do not activate\n"
          "  --activate   activate it (the default)\n"
          "  --progress   show keeld's progress on stderr (default: when it is a terminal)\n"
          "  --json       print the base's result as JSON\n"
          "  -h, --help   show this help\n",
          out);
}

typedef struct install_args {
    const char *bundle;
    int activate;
    int progress;
    int json;
    int help;
} install_args;

static int install_parse(int argc, char **argv, install_args *a)
{
    static const struct option options[] = {
        {"inactive", no_argument, NULL, 'i'}, {"activate", no_argument, NULL, 'a'},
        {"progress", no_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'i': a->activate = 0; break;
        case 'a': a->activate = 1; break;
        case 'p': a->progress = 1; break;
        case 'j': a->json = 1; break;
        case 'h': a->help = 1; break;
        default: return keel_cli_bad_option("install", c, argv);
        }
    }
    if (a->help)
        return KEEL_EXIT_OK;
    int code = keel_cli_operands("install", argc, argv, optind, 1, 1, "the BUNDLE to install");
    if (code == KEEL_EXIT_OK)
        a->bundle = argv[optind];
    return code;
}

static void install_progress(void *user, const char *text)
{
    (void)user;
    fprintf(stderr, "... %s\n", text);
}

static int install_print(const cJSON *result, int activate)
{
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(result, "namespace");
    printf("installed %s@%s (%s", keel_cli_str(result, "name", "?"),
           keel_cli_str(result, "version", "?"),
           keel_cli_str(result, "state", activate ? "active" : "inactive"));
    if (cJSON_IsNumber(ns))
        printf(", namespace %d", ns->valueint);
    else if (cJSON_IsString(ns))
        printf(", namespace %s", ns->valuestring);
    puts(")");
    return KEEL_EXIT_OK;
}

int keel_cmd_install(const keel_cli *cli, int argc, char **argv)
{
    install_args a = {NULL, 1, 0, cli->json, 0};
    int code = install_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            install_usage(stdout);
        return code;
    }
    char *path = realpath(a.bundle, NULL);
    if (path == NULL) {
        keel_cli_error("cannot use bundle %s: %s", a.bundle, strerror(errno));
        return KEEL_EXIT_FAILURE;
    }
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "bundle", path);
    args = keel_cli_args_bool(args, "activate", a.activate);
    free(path);
    int show = a.progress || isatty(STDERR_FILENO);
    cJSON *result;
    code = keel_cli_admin(cli, "install", args, show ? install_progress : NULL, NULL, &result);
    if (code == KEEL_EXIT_OK)
        code = a.json ? keel_cli_print_json(result) : install_print(result, a.activate);
    cJSON_Delete(result);
    return code;
}

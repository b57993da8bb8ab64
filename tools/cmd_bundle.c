/*
 * keel bundle DIR [-o FILE.keel] — packs a module directory.
 */
#include "commands.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <keel/bundle.h>
#include <keel/manifest.h>

/* The manifest is read here only to name the output; the packer reads and
 * validates it again with the same rules, so this cap just bounds memory. */
#define BUNDLE_CMD_MANIFEST_MAX (1u << 20)

static void bundle_cmd_usage(FILE *out)
{
    fputs("usage: keel bundle DIR [-o FILE.keel]\n"
          "\n"
          "Packs the module directory DIR (manifest.json, the library and its files)\n"
          "into a .keel bundle, recording a SHA-256 of every file. The same directory\n"
          "always gives the same bytes (mtime 0, or $SOURCE_DATE_EPOCH).\n"
          "\n"
          "options:\n"
          "  -o, --output FILE  where to write the bundle\n"
          "                     (default: NAME-VERSION.keel in the current directory)\n"
          "  -h, --help         show this help\n",
          out);
}

/* Reads DIR/manifest.json into a new manifest. */
static keel_status bundle_cmd_read_manifest(const char *dir, keel_manifest **m, keel_error *err)
{
    size_t len = strlen(dir) + sizeof "/" KEEL_BUNDLE_MANIFEST;
    char *path = malloc(len);
    if (path == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    snprintf(path, len, "%s/%s", dir, KEEL_BUNDLE_MANIFEST);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        keel_status s = keel_error_set(err, errno == ENOENT ? KEEL_ERR_NOT_FOUND : KEEL_ERR_IO,
                                       "module directory %s: cannot read %s: %s", dir,
                                       KEEL_BUNDLE_MANIFEST, strerror(errno));
        free(path);
        return s;
    }
    char *text = malloc(BUNDLE_CMD_MANIFEST_MAX + 1);
    size_t size = text ? fread(text, 1, BUNDLE_CMD_MANIFEST_MAX + 1, f) : 0;
    keel_status s = KEEL_OK;
    if (text == NULL)
        s = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    else if (ferror(f))
        s = keel_error_set(err, KEEL_ERR_IO, "%s: cannot be read", path);
    else if (size > BUNDLE_CMD_MANIFEST_MAX)
        s = keel_error_set(err, KEEL_ERR_MANIFEST, "%s: is larger than %u bytes", path,
                           BUNDLE_CMD_MANIFEST_MAX);
    else
        s = keel_manifest_parse(text, size, path, m, err);
    fclose(f);
    free(text);
    free(path);
    return s;
}

/* Counts the module's files in the bundle just written, for the summary:
 * every regular file but the digest list the packer generated. */
static keel_status bundle_cmd_count_files(const char *path, size_t *files, keel_error *err)
{
    *files = 0;
    struct archive *a = archive_read_new();
    if (a == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    keel_status s = KEEL_OK;
    if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
        s = keel_error_set(err, KEEL_ERR_BUNDLE, "bundle %s: cannot be read back: %s", path,
                           archive_error_string(a));
    struct archive_entry *ae;
    int rc = ARCHIVE_OK;
    while (s == KEEL_OK && (rc = archive_read_next_header(a, &ae)) == ARCHIVE_OK)
        if (archive_entry_filetype(ae) == AE_IFREG &&
            strcmp(archive_entry_pathname(ae), KEEL_BUNDLE_DIGESTS) != 0)
            (*files)++;
    if (s == KEEL_OK && rc != ARCHIVE_EOF)
        s = keel_error_set(err, KEEL_ERR_BUNDLE, "bundle %s: cannot be read back: %s", path,
                           archive_error_string(a));
    archive_read_free(a);
    return s;
}

typedef struct bundle_cmd_args {
    const char *dir;
    const char *output;
    int help;
} bundle_cmd_args;

/* Returns KEEL_EXIT_OK or the exit code of a usage error. */
static int bundle_cmd_parse(int argc, char **argv, bundle_cmd_args *args)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *args = (bundle_cmd_args){NULL, NULL, 0};
    opterr = 0;
    optind = 0;   /* 0, not 1: makes GNU getopt forget any earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) != -1) {
        if (c == 'h')
            args->help = 1;
        else if (c == 'o')
            args->output = optarg;
        else if (c == ':')
            return keel_cli_usage_error("bundle", "option \"%s\" needs a FILE", argv[optind - 1]);
        else
            return keel_cli_usage_error("bundle", "unknown option \"%s\"", argv[optind - 1]);
    }
    if (args->help)
        return KEEL_EXIT_OK;
    if (optind >= argc)
        return keel_cli_usage_error("bundle", "missing the module directory DIR");
    if (argc - optind > 1)
        return keel_cli_usage_error("bundle", "expected one DIR, got \"%s\" too", argv[optind + 1]);
    args->dir = argv[optind];
    if (args->output != NULL && args->output[0] == '\0')
        return keel_cli_usage_error("bundle", "the output FILE is empty");
    return KEEL_EXIT_OK;
}

static int bundle_cmd_fail(const keel_error *err)
{
    keel_cli_error("%s", err->message);
    return KEEL_EXIT_FAILURE;
}

int keel_cmd_bundle(const keel_cli *cli, int argc, char **argv)
{
    (void)cli;
    bundle_cmd_args args;
    int code = bundle_cmd_parse(argc, argv, &args);
    if (code != KEEL_EXIT_OK)
        return code;
    if (args.help) {
        bundle_cmd_usage(stdout);
        return KEEL_EXIT_OK;
    }
    keel_error err;
    keel_error_clear(&err);
    keel_manifest *m = NULL;
    if (bundle_cmd_read_manifest(args.dir, &m, &err) != KEEL_OK)
        return bundle_cmd_fail(&err);
    char *default_output = NULL;
    const char *output = args.output;
    if (output == NULL) {
        if (asprintf(&default_output, "%s-%s.keel", keel_manifest_name(m),
                     keel_manifest_version(m)) < 0) {
            keel_manifest_destroy(m);
            keel_cli_error("out of memory");
            return KEEL_EXIT_FAILURE;
        }
        output = default_output;
    }
    size_t files = 0;
    struct stat st;
    keel_status s = keel_bundle_pack(args.dir, output, &err);
    if (s == KEEL_OK)
        s = bundle_cmd_count_files(output, &files, &err);
    if (s == KEEL_OK && stat(output, &st) != 0)
        s = keel_error_set(&err, KEEL_ERR_IO, "bundle %s: %s", output, strerror(errno));
    if (s == KEEL_OK)
        printf("packed %s %s (%zu files, %lld bytes) -> %s\n", keel_manifest_name(m),
               keel_manifest_version(m), files, (long long)st.st_size, output);
    free(default_output);
    keel_manifest_destroy(m);
    if (s != KEEL_OK)
        return bundle_cmd_fail(&err);
    return KEEL_EXIT_OK;
}

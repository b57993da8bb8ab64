/*
 * keel new NAME [--dir DIR] [--scene S] — creates a module project that
 * builds as it stands: source, manifest, meson build producing the .so and
 * the .keel bundle, README.
 */
#include "commands.h"
#include "new_templates.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where this keel's module-api header and binary are: recorded at build
 * time by tools/meson.build. */
#ifndef KEEL_MODULE_API_INCLUDE
#define KEEL_MODULE_API_INCLUDE "/usr/include"
#endif
#ifndef KEEL_INSTALL_INCLUDE
#define KEEL_INSTALL_INCLUDE "/usr/local/include"
#endif
#ifndef KEEL_BUILD_PATH
#define KEEL_BUILD_PATH "keel"
#endif

#define NEW_NAME_MAX 64
#define NEW_SCENE_MAX 64

static void new_usage(FILE *out)
{
    fputs("usage: keel new NAME [--dir DIR] [--scene S]\n"
          "\n"
          "Creates DIR/NAME, a module project that builds as it stands:\n"
          "  NAME.c             the module: start/stop hooks, a \"hello\" service\n"
          "  manifest.json      name, version 0.1.0, api 2, library, scenes, services\n"
          "  meson.build        builds NAME.so and the bundle NAME-0.1.0.keel\n"
          "  meson_options.txt  where keel/module.h and keel are (-Dkeel_include, -Dkeel)\n"
          "  stage-bundle.sh    packs the bundle with 'keel bundle'\n"
          "  README.md          how to build, install and try it\n"
          "Then: cd DIR/NAME && meson setup b && ninja -C b\n"
          "An existing DIR/NAME is never overwritten.\n"
          "\n"
          "options:\n"
          "  -d, --dir DIR    where to create the project (default: .)\n"
          "  -s, --scene S    the scene the service is published in (default: \"default\")\n"
          "  -h, --help       show this help\n"
          "\n"
          "NAME: 1 to 64 characters from [a-z0-9_-], starting with a letter.\n",
          out);
}

/* [a-z][a-z0-9_-]{0,63}, as the manifest wants it. */
static int new_valid_name(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    size_t n = 1;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_' ||
              s[n] == '-'))
            return 0;
    return n <= NEW_NAME_MAX;
}

/* [A-Za-z0-9_.:-]{1,64}, as the manifest wants a scene id. */
static int new_valid_scene(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= NEW_SCENE_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

typedef struct new_args {
    const char *name, *dir, *scene;
    int help;
} new_args;

static int new_parse(int argc, char **argv, new_args *a)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"scene", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hd:s:", options, NULL)) != -1) {
        if (c == 'd')
            a->dir = optarg;
        else if (c == 's')
            a->scene = optarg;
        else if (c == 'h')
            a->help = 1;
        else if (c == ':')
            return keel_cli_usage_error("new", "option \"%s\" needs a value", argv[optind - 1]);
        else
            return keel_cli_usage_error("new", "unknown option \"%s\"", argv[optind - 1]);
    }
    if (a->help)
        return KEEL_EXIT_OK;
    if (optind >= argc)
        return keel_cli_usage_error("new", "missing the module NAME");
    if (argc - optind > 1)
        return keel_cli_usage_error("new", "unexpected argument \"%s\"", argv[optind + 1]);
    a->name = argv[optind];
    if (!new_valid_name(a->name))
        return keel_cli_usage_error("new", "\"%s\" is not a valid module name: 1 to 64 characters "
                                           "from [a-z0-9_-] starting with a letter", a->name);
    if (!new_valid_scene(a->scene))
        return keel_cli_usage_error("new", "\"%s\" is not a valid scene: 1 to 64 characters from "
                                           "[A-Za-z0-9_.:-]", a->scene);
    if (a->dir[0] == '\0')
        return keel_cli_usage_error("new", "the DIR is empty");
    return KEEL_EXIT_OK;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct new_vars {
    const char *name, *scene;
    char *keel_include, *keel;   /* escaped for a meson string */
} new_vars;

/* `s` (borrowed) with \ and ' escaped for a single-quoted meson string;
 * malloc'd, NULL when out of memory. */
static char *new_meson_escape(const char *s)
{
    char *out = malloc(strlen(s) * 2 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '\'')
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

static const char *new_lookup(const new_vars *v, const char *key, size_t len)
{
    static const char *const keys[] = {"NAME", "SCENE", "KEEL_INCLUDE", "KEEL"};
    const char *values[] = {v->name, v->scene, v->keel_include, v->keel};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == len && memcmp(keys[i], key, len) == 0)
            return values[i];
    return NULL;
}

/* Writes `template` with its {{KEY}}s replaced to f; 0 on success. */
static int new_render(FILE *f, const char *template, const new_vars *v)
{
    const char *p = template;
    for (;;) {
        const char *open = strstr(p, "{{");
        const char *close = open != NULL ? strstr(open + 2, "}}") : NULL;
        if (close == NULL) {
            fputs(p, f);
            return ferror(f) ? -1 : 0;
        }
        const char *value = new_lookup(v, open + 2, (size_t)(close - open - 2));
        fwrite(p, 1, (size_t)(value != NULL ? open - p : close + 2 - p), f);
        if (value != NULL)
            fputs(value, f);
        p = close + 2;
    }
}

/* ---- writing -------------------------------------------------------------- */

typedef struct new_file {
    const char *suffix;     /* file name, or NULL to use NAME + ".c" */
    const char *template;
    mode_t mode;
} new_file;

static const new_file new_files[] = {
    {NULL, keel_new_template_module, 0644},
    {"manifest.json", keel_new_template_manifest, 0644},
    {"meson.build", keel_new_template_meson, 0644},
    {"meson_options.txt", keel_new_template_options, 0644},
    {"stage-bundle.sh", keel_new_template_stage, 0755},
    {"README.md", keel_new_template_readme, 0644},
};
#define NEW_FILE_COUNT (sizeof new_files / sizeof new_files[0])

/* The path of `file` in `project`: malloc'd, NULL when out of memory. */
static char *new_file_path(const char *project, const new_file *file, const char *name)
{
    char *path = NULL;
    int n = file->suffix != NULL ? asprintf(&path, "%s/%s", project, file->suffix)
                                 : asprintf(&path, "%s/%s.c", project, name);
    return n < 0 ? NULL : path;
}

/* Creates one file (never an existing one); 0 or -1 with errno set. */
static int new_write(const char *path, const new_file *file, const new_vars *v)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file->mode);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    errno = 0;
    int rc = new_render(f, file->template, v);
    int e = rc != 0 && errno != 0 ? errno : EIO;
    if (fclose(f) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    errno = e;
    return rc;
}

/* Writes every file into `project`, or removes what it wrote and the
 * directory and returns an exit code after the error line. */
static int new_write_all(const char *project, const new_vars *v)
{
    size_t written = 0;
    char *failed = NULL;
    int e = 0;
    for (; written < NEW_FILE_COUNT; written++) {
        char *path = new_file_path(project, &new_files[written], v->name);
        if (path == NULL || new_write(path, &new_files[written], v) != 0) {
            e = path == NULL ? ENOMEM : errno;
            failed = path;
            break;
        }
        free(path);
    }
    if (written == NEW_FILE_COUNT)
        return KEEL_EXIT_OK;
    keel_cli_error("cannot write %s: %s", failed != NULL ? failed : project, strerror(e));
    free(failed);
    for (size_t i = 0; i <= written && i < NEW_FILE_COUNT; i++) {
        char *path = new_file_path(project, &new_files[i], v->name);
        if (path != NULL)
            unlink(path);
        free(path);
    }
    rmdir(project);
    return KEEL_EXIT_FAILURE;
}

/* ---- where keel is -------------------------------------------------------- */

static int new_has_header(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/keel/module.h", dir);
    return access(path, R_OK) == 0;
}

/* The recorded paths when they are still there, else the installed header
 * and the running binary. */
static int new_find_keel(new_vars *v)
{
    const char *include = KEEL_MODULE_API_INCLUDE;
    if (!new_has_header(include) && new_has_header(KEEL_INSTALL_INCLUDE))
        include = KEEL_INSTALL_INCLUDE;
    char self[4096];
    const char *keel = KEEL_BUILD_PATH;
    if (access(keel, X_OK) != 0) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            keel = self;
        }
    }
    v->keel_include = new_meson_escape(include);
    v->keel = new_meson_escape(keel);
    return v->keel_include != NULL && v->keel != NULL ? 0 : -1;
}

int keel_cmd_new(const keel_cli *cli, int argc, char **argv)
{
    (void)cli;
    new_args a = {NULL, ".", "default", 0};
    int code = new_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            new_usage(stdout);
        return code;
    }
    char *project = NULL;
    new_vars v = {a.name, a.scene, NULL, NULL};
    size_t dir_len = strlen(a.dir);
    const char *slash = a.dir[dir_len - 1] == '/' ? "" : "/";
    if (asprintf(&project, "%s%s%s", a.dir, slash, a.name) < 0)
        project = NULL;   /* asprintf leaves it undefined on failure */
    if (project == NULL || new_find_keel(&v) != 0) {
        free(project);
        free(v.keel_include);
        free(v.keel);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    if (mkdir(project, 0755) != 0) {
        code = KEEL_EXIT_FAILURE;
        if (errno == EEXIST)
            keel_cli_error("%s already exists; not overwriting it (pick another NAME or --dir)",
                           project);
        else
            keel_cli_error("cannot create %s: %s", project, strerror(errno));
    } else {
        code = new_write_all(project, &v);
    }
    if (code == KEEL_EXIT_OK)
        printf("created %s: %s.c, manifest.json, meson.build, meson_options.txt, "
               "stage-bundle.sh, README.md\nnext: cd %s && meson setup b && ninja -C b\n",
               project, a.name, project);
    free(project);
    free(v.keel_include);
    free(v.keel);
    return code;
}

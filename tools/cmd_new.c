/*
 * keel new NAME [--dir DIR] [--scene S] [--starter NAME]... — creates a
 * module project that builds as it stands: source, manifest, meson build
 * producing the .so and the .keel bundle, README; with --starter, the
 * module binds those starters.
 */
#include "commands.h"
#include "new_templates.h"

#include <keel/manifest.h>

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
#ifndef KEEL_STARTERS_INCLUDE
#define KEEL_STARTERS_INCLUDE KEEL_INSTALL_INCLUDE
#endif

#define NEW_NAME_MAX 64
#define NEW_SCENE_MAX 64
#define NEW_STARTERS_MAX 16

static void new_usage(FILE *out)
{
    fputs("usage: keel new NAME [--dir DIR] [--scene S] [--starter STARTER]...\n"
          "\n"
          "Creates DIR/NAME, a module project that builds as it stands:\n"
          "  NAME.c             the module: start/stop hooks, a \"hello\" service\n"
          "  manifest.json      name, version 0.1.0, api 2 (3 with starters), library,\n"
          "                     scenes, services, requires (the starters)\n"
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
          "  -S, --starter STARTER\n"
          "                   bind starter STARTER (repeat for more): the manifest\n"
          "                   requires it (\"^1.0\"), NAME.c binds it in module_start\n"
          "                   with api->starter_get and includes keel/starters/STARTER.h,\n"
          "                   which the build looks for (-Dkeel_starters_include=DIR)\n"
          "  -h, --help       show this help\n"
          "\n"
          "NAME and STARTER: 1 to 64 characters from [a-z0-9_-], starting with a letter.\n"
          "\n"
          "example: keel new orders --starter kv --starter db\n",
          out);
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
    const char *starters[NEW_STARTERS_MAX];
    size_t starter_count;
    int help;
} new_args;

/* Adds --starter `s` (borrowed) to a; returns an exit code. */
static int new_add_starter(new_args *a, const char *s)
{
    if (!keel_name_valid(s))
        return keel_cli_usage_error("new", "\"%s\" is not a valid starter name: 1 to 64 "
                                           "characters from [a-z0-9_-] starting with a letter", s);
    for (size_t i = 0; i < a->starter_count; i++)
        if (strcmp(a->starters[i], s) == 0)
            return keel_cli_usage_error("new", "starter \"%s\" is given twice", s);
    if (a->starter_count == NEW_STARTERS_MAX)
        return keel_cli_usage_error("new", "at most %d --starter options", NEW_STARTERS_MAX);
    a->starters[a->starter_count++] = s;
    return KEEL_EXIT_OK;
}

static int new_parse(int argc, char **argv, new_args *a)
{
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"scene", required_argument, NULL, 's'},
        {"starter", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hd:s:S:", options, NULL)) != -1) {
        int code = c == 'S' ? new_add_starter(a, optarg) : KEEL_EXIT_OK;
        if (code != KEEL_EXIT_OK)
            return code;
        if (c == 'S')
            continue;
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
    if (!keel_name_valid(a->name))
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

/* The values of the templates' {{KEY}}s. */
enum {
    NV_NAME, NV_SCENE, NV_KEEL_INCLUDE, NV_KEEL, NV_KEEL_STARTERS_INCLUDE, NV_API,
    NV_STARTER_INCLUDES, NV_STARTER_DECLS, NV_STARTER_BINDS, NV_REQUIRES, NV_STARTER_LIST,
    NV_MESON_STARTERS, NV_MESON_STARTERS_INC, NV_OPTIONS_STARTERS, NV_STARTER_LIST_MD,
    NV_STARTER_ENABLES, NV_README_STARTERS,
    NV_STARTER, NV_SID, NV_EXAMPLE,   /* the starter being rendered */
    NV_COUNT
};

static const char *const new_keys[NV_COUNT] = {
    "NAME", "SCENE", "KEEL_INCLUDE", "KEEL", "KEEL_STARTERS_INCLUDE", "API",
    "STARTER_INCLUDES", "STARTER_DECLS", "STARTER_BINDS", "REQUIRES", "STARTER_LIST",
    "MESON_STARTERS", "MESON_STARTERS_INC", "OPTIONS_STARTERS", "STARTER_LIST_MD",
    "STARTER_ENABLES", "README_STARTERS",
    "STARTER", "SID", "EXAMPLE",
};

typedef struct new_vars {
    const char *value[NV_COUNT];   /* NULL: the {{KEY}} stays as it is */
    char *owned[NV_COUNT];         /* what new_vars_free frees */
} new_vars;

/* Sets value `key` to `text`, which the vars then own (NULL: out of
 * memory). Returns 0 or -1. */
static int new_vars_own(new_vars *v, int key, char *text)
{
    free(v->owned[key]);
    v->owned[key] = text;
    v->value[key] = text;
    return text != NULL ? 0 : -1;
}

static void new_vars_free(new_vars *v)
{
    for (int i = 0; i < NV_COUNT; i++)
        free(v->owned[i]);
}

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
    for (int i = 0; i < NV_COUNT; i++)
        if (strlen(new_keys[i]) == len && memcmp(new_keys[i], key, len) == 0)
            return v->value[i];
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

/* `template` rendered into a malloc'd string; NULL when out of memory. */
static char *new_render_text(const char *template, const new_vars *v)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    int rc = new_render(f, template, v);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The example call of starter `name` for the comment in module_start. */
static const char *new_starter_example(const char *name)
{
    for (const keel_new_starter_example *e = keel_new_starter_examples; e->name != NULL; e++)
        if (strcmp(e->name, name) == 0)
            return e->call;
    return NULL;
}

/* `template` rendered once per starter of `a`, joined with `separator`,
 * into a malloc'd string (NULL when out of memory). */
static char *new_render_each(const char *template, const char *separator, const new_args *a,
                             new_vars *v)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    int rc = 0;
    for (size_t i = 0; i < a->starter_count && rc == 0; i++) {
        char sid[NEW_NAME_MAX + 1];
        snprintf(sid, sizeof sid, "%s", a->starters[i]);
        for (char *c = sid; *c != '\0'; c++)
            if (*c == '-')
                *c = '_';   /* keel_my_cache_api for starter "my-cache" */
        v->value[NV_STARTER] = a->starters[i];
        v->value[NV_SID] = sid;
        const char *example = new_starter_example(a->starters[i]);
        char *generic = example == NULL ? new_render_text(keel_new_template_starter_example, v)
                                        : NULL;
        v->value[NV_EXAMPLE] = example != NULL ? example : generic;
        if (i > 0)
            fputs(separator, f);
        rc = v->value[NV_EXAMPLE] == NULL ? -1 : new_render(f, template, v);
        free(generic);
        v->value[NV_STARTER] = v->value[NV_SID] = v->value[NV_EXAMPLE] = NULL;
    }
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Fills the starter parts of v (all "" without --starter); 0 or -1 when out
 * of memory. */
static int new_starter_vars(const new_args *a, new_vars *v)
{
    static const int parts[] = {NV_STARTER_INCLUDES, NV_STARTER_DECLS, NV_STARTER_BINDS,
                                NV_REQUIRES, NV_STARTER_LIST, NV_MESON_STARTERS,
                                NV_MESON_STARTERS_INC, NV_OPTIONS_STARTERS, NV_STARTER_LIST_MD,
                                NV_STARTER_ENABLES, NV_README_STARTERS};
    v->value[NV_API] = a->starter_count > 0 ? "3" : "2";
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        v->value[parts[i]] = "";
    if (a->starter_count == 0)
        return 0;
    char *requires = new_render_each(keel_new_template_requires_item, ", ", a, v);
    char *wrapped = NULL;
    if (requires != NULL && asprintf(&wrapped, ",\n  \"requires\": {%s}", requires) < 0)
        wrapped = NULL;
    free(requires);
    int rc = new_vars_own(v, NV_REQUIRES, wrapped);
    rc |= new_vars_own(v, NV_STARTER_INCLUDES,
                       new_render_each(keel_new_template_starter_include, "", a, v));
    rc |= new_vars_own(v, NV_STARTER_DECLS,
                       new_render_each(keel_new_template_starter_decl, "", a, v));
    rc |= new_vars_own(v, NV_STARTER_BINDS,
                       new_render_each(keel_new_template_starter_bind, "", a, v));
    rc |= new_vars_own(v, NV_STARTER_LIST, new_render_each("'{{STARTER}}'", ", ", a, v));
    rc |= new_vars_own(v, NV_STARTER_LIST_MD, new_render_each("`{{STARTER}}`", ", ", a, v));
    rc |= new_vars_own(v, NV_STARTER_ENABLES,
                       new_render_each(keel_new_template_readme_enable, "", a, v));
    if (rc != 0)
        return -1;
    v->value[NV_MESON_STARTERS_INC] = ", keel_starters_include";
    rc |= new_vars_own(v, NV_MESON_STARTERS, new_render_text(keel_new_template_meson_starters, v));
    rc |= new_vars_own(v, NV_OPTIONS_STARTERS,
                       new_render_text(keel_new_template_options_starters, v));
    rc |= new_vars_own(v, NV_README_STARTERS,
                       new_render_text(keel_new_template_readme_starters, v));
    return rc;
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
        char *path = new_file_path(project, &new_files[written], v->value[NV_NAME]);
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
        char *path = new_file_path(project, &new_files[i], v->value[NV_NAME]);
        if (path != NULL)
            unlink(path);
        free(path);
    }
    rmdir(project);
    return KEEL_EXIT_FAILURE;
}

/* ---- where keel is -------------------------------------------------------- */

/* Whether `dir` holds `header` ("keel/module.h"). */
static int new_has_header(const char *dir, const char *header)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, header);
    return access(path, R_OK) == 0;
}

/* Where the starters' headers are: the recorded directory when it is still
 * there, else the installed one. */
static const char *new_starters_include(void)
{
    if (!new_has_header(KEEL_STARTERS_INCLUDE, "keel/starter.h") &&
        new_has_header(KEEL_INSTALL_INCLUDE, "keel/starter.h"))
        return KEEL_INSTALL_INCLUDE;
    return KEEL_STARTERS_INCLUDE;
}

/* The recorded paths when they are still there, else the installed headers
 * and the running binary. */
static int new_find_keel(new_vars *v)
{
    const char *include = KEEL_MODULE_API_INCLUDE;
    if (!new_has_header(include, "keel/module.h") &&
        new_has_header(KEEL_INSTALL_INCLUDE, "keel/module.h"))
        include = KEEL_INSTALL_INCLUDE;
    const char *starters = new_starters_include();
    char self[4096];
    const char *keel = KEEL_BUILD_PATH;
    if (access(keel, X_OK) != 0) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = '\0';
            keel = self;
        }
    }
    int rc = new_vars_own(v, NV_KEEL_INCLUDE, new_meson_escape(include));
    rc |= new_vars_own(v, NV_KEEL_STARTERS_INCLUDE, new_meson_escape(starters));
    rc |= new_vars_own(v, NV_KEEL, new_meson_escape(keel));
    return rc;
}

/* Notes, on stdout, the starters whose header is not where the build will
 * look: the project builds once it is there (a starter of another market). */
static void new_note_headers(const new_args *a)
{
    const char *dir = new_starters_include();
    for (size_t i = 0; i < a->starter_count; i++) {
        char header[NEW_NAME_MAX + 32];
        snprintf(header, sizeof header, "keel/starters/%s.h", a->starters[i]);
        if (!new_has_header(dir, header))
            printf("note: %s is not under %s; the project builds once it is "
                   "(-Dkeel_starters_include=DIR)\n", header, dir);
    }
}

int keel_cmd_new(const keel_cli *cli, int argc, char **argv)
{
    (void)cli;
    new_args a = {NULL, ".", "default", {NULL}, 0, 0};
    int code = new_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            new_usage(stdout);
        return code;
    }
    char *project = NULL;
    new_vars v = {{NULL}, {NULL}};
    v.value[NV_NAME] = a.name;
    v.value[NV_SCENE] = a.scene;
    size_t dir_len = strlen(a.dir);
    const char *slash = a.dir[dir_len - 1] == '/' ? "" : "/";
    if (asprintf(&project, "%s%s%s", a.dir, slash, a.name) < 0)
        project = NULL;   /* asprintf leaves it undefined on failure */
    if (project == NULL || new_find_keel(&v) != 0 || new_starter_vars(&a, &v) != 0) {
        free(project);
        new_vars_free(&v);
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
    if (code == KEEL_EXIT_OK) {
        printf("created %s: %s.c, manifest.json, meson.build, meson_options.txt, "
               "stage-bundle.sh, README.md\n", project, a.name);
        for (size_t i = 0; i < a.starter_count; i++)
            printf("%s%s%s", i == 0 ? "binds starters " : ", ", a.starters[i],
                   i + 1 == a.starter_count ? " (the base must run them: keel starter enable "
                                              "NAME)\n" : "");
        new_note_headers(&a);
        printf("next: cd %s && meson setup b && ninja -C b\n", project);
    }
    free(project);
    new_vars_free(&v);
    return code;
}

#include "test_support.h"

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_make_work_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/keel-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0)
        return NULL;
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

void test_remove_tree(const char *path)
{
    if (path != NULL)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_bundle(const char *which)
{
    static char path[4096];
    const char *slash = strchr(which, '/');
    ck_assert_ptr_nonnull(slash);
    const char *dir = strncmp(which, "samples/", 8) == 0 ? KEEL_SAMPLES_DIR : KEEL_TEST_MODULES_DIR;
    snprintf(path, sizeof path, "%s/%s.keel", dir, slash + 1);
    ck_assert_msg(access(path, R_OK) == 0, "bundle %s was not built", path);
    return path;
}

int test_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int test_fd_count(void)
{
    return test_dir_entries("/proc/self/fd") - 1; /* the one opendir uses */
}

int test_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    /* File-backed mappings only: anonymous ones come and go with the
     * allocator (and a sanitizer's), loaded objects must not. */
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, " /") != NULL;
    fclose(f);
    return n;
}

keel_loader *test_loader_new(char **work_dir, unsigned max_namespaces)
{
    *work_dir = test_make_work_dir();
    ck_assert_ptr_nonnull(*work_dir);
    keel_loader_options opts = {.work_dir = *work_dir, .max_namespaces = max_namespaces,
                                .stop_timeout_ms = 2000};
    keel_loader *l = NULL;
    keel_error err = {0};
    keel_status st = keel_loader_create(&opts, &l, &err);
    ck_assert_msg(st == KEEL_OK, "loader: %s", err.message);
    return l;
}

keel_instance *test_install_started(keel_loader *l, const char *which)
{
    keel_instance *inst = NULL;
    keel_error err = {0};
    keel_status st = keel_loader_install(l, test_bundle(which), &inst, &err);
    ck_assert_msg(st == KEEL_OK, "install %s: %s", which, err.message);
    st = keel_instance_start(inst, 1, &err);
    ck_assert_msg(st == KEEL_OK, "start %s: %s", which, err.message);
    return inst;
}

void (*test_service(keel_instance *inst, const char *scene, const char *name))(void)
{
    keel_registration r;
    for (size_t i = 0; keel_instance_service_at(inst, i, &r) == 0; i++)
        if (strcmp(r.scene, scene) == 0 && strcmp(r.name, name) == 0)
            return r.fn;
    return NULL;
}

/* config_test_util.c — see config_test_util.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config_test_util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *test_mkwork(void)
{
    char tmpl[] = "/tmp/keel-config-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    return strdup(tmpl);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_rmtree(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

keel_status test_try_open(const char *so, const char *work, const char *config, keel_starter_error *err)
{
    starter_harness *h = NULL;
    keel_status st = starter_harness_open(so, work, config, NULL, NULL, NULL, &h, err);
    if (st == KEEL_OK)
        starter_harness_close(h);
    return st;
}

starter_harness *test_open(const char *so, const char *work, const char *config)
{
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(so, work, config, NULL, NULL, NULL, &h, &err);
    ck_assert_msg(st == KEEL_OK, "open %s: status %d: %s", so, (int)st, err.message);
    return h;
}

const keel_config_api *test_api(starter_harness *h)
{
    return starter_harness_table(h);
}

keel_config *test_bind(starter_harness *h, const char *module, const char *scene)
{
    void *client = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_bind(h, module, scene, &client, &err);
    ck_assert_msg(st == KEEL_OK, "bind %s: %s", module, err.message);
    ck_assert_ptr_nonnull(client);
    return client;
}

cJSON *test_admin(starter_harness *h, const char *op, const char *args)
{
    char *result = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_admin(h, op, args, &result, &err);
    ck_assert_msg(st == KEEL_OK, "admin %s %s: status %d: %s", op, args ? args : "", (int)st, err.message);
    cJSON *r = cJSON_Parse(result);
    ck_assert_msg(cJSON_IsObject(r), "admin %s gave %s", op, result);
    free(result);
    return r;
}

void test_admin_fails(starter_harness *h, const char *op, const char *args, keel_status expect,
                      const char *needle)
{
    char *result = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_admin(h, op, args, &result, &err);
    ck_assert_msg(st == expect, "admin %s %s: status %d, wanted %d (%s)", op, args ? args : "(null)", (int)st,
                  (int)expect, result ? result : err.message);
    ck_assert_ptr_null(result);
    ck_assert_msg(strncmp(err.message, "config: ", 8) == 0, "message: %s", err.message);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "one line: %s", err.message);
    if (needle != NULL)
        ck_assert_msg(strstr(err.message, needle) != NULL, "admin %s %s: \"%s\" lacks \"%s\"", op,
                      args ? args : "(null)", err.message, needle);
}

double test_info_number(starter_harness *h, const char *field)
{
    cJSON *r = test_admin(h, "info", NULL);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, field);
    ck_assert_msg(cJSON_IsNumber(v), "info has no number \"%s\"", field);
    double d = v->valuedouble;
    cJSON_Delete(r);
    return d;
}

char *test_get(starter_harness *h, keel_config *cfg, const char *scene, const char *key, keel_status *st)
{
    char *v = (char *)0x1;
    *st = test_api(h)->get(cfg, scene, key, &v);
    if (*st != KEEL_OK)
        ck_assert_ptr_null(v);
    return *st == KEEL_OK ? v : NULL;
}

char *test_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    return buf;
}

char *test_path(const char *work, const char *name)
{
    char *p = NULL;
    ck_assert_int_ge(asprintf(&p, "%s/%s", work, name), 0);
    return p;
}

/* timer_fake.c — see timer_fake.h. */
#include "timer_fake.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void fake_init(fake *f, const char *module)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    f->module = module;
    f->status = KEEL_STARTER_MODULE_SERVING;
    f->slow_ms = 150;
}

void fake_destroy(fake *f)
{
    pthread_mutex_destroy(&f->lock);
}

keel_status fake_call_json(void *user, const char *scene, const char *name, const char *args_json,
                           char **result_json, keel_starter_error *err)
{
    fake *f = user;
    fake_call c;
    memset(&c, 0, sizeof c);
    snprintf(c.scene, sizeof c.scene, "%s", scene);
    snprintf(c.service, sizeof c.service, "%s", name);
    c.tick = -1;
    c.at_ms = now_ms();
    cJSON *args = cJSON_Parse(args_json);
    ck_assert_msg(cJSON_IsArray(args), "args not an array: %s", args_json);
    cJSON *a0 = cJSON_GetArrayItem(args, 0);
    if (cJSON_IsNumber(a0))
        c.tick = (int64_t)a0->valuedouble;
    else if (cJSON_IsString(a0))
        snprintf(c.arg0, sizeof c.arg0, "%s", a0->valuestring);
    cJSON_Delete(args);

    pthread_mutex_lock(&f->lock);
    c.while_switching = f->status != KEEL_STARTER_MODULE_SERVING;
    if (f->ncalls < FAKE_MAX_CALLS)
        f->calls[f->ncalls++] = c;
    bool slow = strcmp(name, "slow") == 0;
    if (slow && ++f->in_flight_slow > f->max_in_flight_slow)
        f->max_in_flight_slow = f->in_flight_slow;
    if (strcmp(name, "switch") == 0 && !f->switched) {
        f->switched = true;
        f->switched_at = now_ms();
        f->status = KEEL_STARTER_MODULE_SWITCHING;
    }
    int slow_ms = f->slow_ms;
    pthread_mutex_unlock(&f->lock);

    if (slow) {
        sleep_ms(slow_ms);
        pthread_mutex_lock(&f->lock);
        f->in_flight_slow--;
        pthread_mutex_unlock(&f->lock);
    }
    if (strcmp(name, "bad") == 0) {
        *result_json = NULL;
        keel_starter_error_set(err, "reconcile exploded");
        return KEEL_ERR_INTERNAL;
    }
    *result_json = strdup("{\"ok\":true}");
    return KEEL_OK;
}

keel_starter_module_status fake_status(void *user, const char *module)
{
    fake *f = user;
    if (strcmp(module, f->module) != 0)
        return KEEL_STARTER_MODULE_SERVING;
    pthread_mutex_lock(&f->lock);
    keel_starter_module_status s = f->status;
    pthread_mutex_unlock(&f->lock);
    return s;
}

void fake_set_status(fake *f, keel_starter_module_status status)
{
    pthread_mutex_lock(&f->lock);
    f->status = status;
    pthread_mutex_unlock(&f->lock);
}

size_t fake_count(fake *f, const char *service)
{
    pthread_mutex_lock(&f->lock);
    size_t n = 0;
    for (size_t i = 0; i < f->ncalls; i++)
        n += strcmp(f->calls[i].service, service) == 0;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t fake_calls(fake *f, const char *service, fake_call *out, size_t max)
{
    pthread_mutex_lock(&f->lock);
    size_t n = 0;
    for (size_t i = 0; i < f->ncalls && n < max; i++)
        if (strcmp(f->calls[i].service, service) == 0)
            out[n++] = f->calls[i];
    pthread_mutex_unlock(&f->lock);
    return n;
}

bool fake_wait(fake *f, const char *service, size_t n, int timeout_ms)
{
    int64_t until = now_ms() + timeout_ms;
    while (fake_count(f, service) < n) {
        if (now_ms() > until)
            return false;
        sleep_ms(2);
    }
    return true;
}

void make_workdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/keel-timer-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *timer_so(const char *version)
{
    static char path[2][512];
    int i = strcmp(version, "1.0.0") == 0 ? 0 : 1;
    snprintf(path[i], sizeof path[i], "%s/timer/keel-starter-timer-%s.so", KEEL_STARTERS_DIR,
             version);
    return path[i];
}

starter_harness *open_timer(const char *version, const char *workdir, const char *config,
                            fake *f)
{
    starter_harness *h = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_open(timer_so(version), workdir, config, fake_call_json,
                                          fake_status, f, &h, &err);
    ck_assert_msg(st == KEEL_OK, "open %s: %d %s", version, st, err.message);
    return h;
}

cJSON *admin_ok(starter_harness *h, const char *op, const char *args)
{
    char *out = NULL;
    keel_starter_error err = {{0}};
    keel_status st = starter_harness_admin(h, op, args, &out, &err);
    ck_assert_msg(st == KEEL_OK, "admin %s: %d %s", op, st, err.message);
    cJSON *o = cJSON_Parse(out);
    ck_assert_msg(o != NULL, "admin %s answered no JSON: %s", op, out);
    free(out);
    return o;
}

cJSON *job_info(starter_harness *h, const char *name)
{
    char args[160];
    snprintf(args, sizeof args, "{\"job\":\"%s\"}", name);
    cJSON *o = admin_ok(h, "jobs", args);
    cJSON *jobs = cJSON_GetObjectItem(o, "jobs");
    ck_assert_int_eq(cJSON_GetArraySize(jobs), 1);
    cJSON *job = cJSON_DetachItemFromArray(jobs, 0);
    cJSON_Delete(o);
    return job;
}

double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "no number \"%s\"", key);
    return v->valuedouble;
}

/* kv_test_util.c — see kv_test_util.h. */
#include "kv_test_util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_SERVER "/usr/bin/redis-server"

static int kvt_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void kvt_rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, kvt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

keel_status kvt_open(kvt *t, const char *so, const char *config)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/keel-kv-test-XXXXXX");
    ck_assert_msg(mkdtemp(t->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(t->work, sizeof t->work, "%s/work", t->dir);
    return starter_harness_open(so, t->work, config, NULL, NULL, NULL, &t->h, &t->err);
}

const keel_kv_api *kvt_api(const kvt *t)
{
    return starter_harness_table(t->h);
}

keel_kv *kvt_bind(kvt *t, const char *module)
{
    void *client = NULL;
    keel_status st = starter_harness_bind(t->h, module, NULL, &client, &t->err);
    ck_assert_msg(st == KEEL_OK, "bind %s: %d %s", module, st, t->err.message);
    ck_assert_ptr_nonnull(client);
    return client;
}

void kvt_close(kvt *t)
{
    starter_harness_close(t->h);
    t->h = NULL;
    kvt_rm_tree(t->dir);
    t->dir[0] = '\0';
}

cJSON *kvt_info(kvt *t)
{
    char *json = NULL;
    keel_status st = starter_harness_admin(t->h, "info", NULL, &json, &t->err);
    ck_assert_msg(st == KEEL_OK, "info: %d %s", st, t->err.message);
    cJSON *info = cJSON_Parse(json);
    ck_assert_msg(cJSON_IsObject(info), "info is not a JSON object: %s", json);
    free(json);
    return info;
}

double kvt_info_number(kvt *t, const char *field)
{
    cJSON *info = kvt_info(t);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(info, field);
    ck_assert_msg(cJSON_IsNumber(n), "info has no number \"%s\"", field);
    double v = n->valuedouble;
    cJSON_Delete(info);
    return v;
}

void kvt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

long long kvt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kvt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

/* True when redis on r->port answers PING (with AUTH when configured). */
static int kvt_redis_answers(const kvt_redis *r)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        redisFree(c);
        return 0;
    }
    redisSetTimeout(c, tv);
    int ok = 1;
    if (r->password[0]) {
        redisReply *a = redisCommand(c, "AUTH %s", r->password);
        ok = a && a->type == REDIS_REPLY_STATUS;
        freeReplyObject(a);
    }
    redisReply *p = ok ? redisCommand(c, "PING") : NULL;
    ok = p && p->type == REDIS_REPLY_STATUS && strcmp(p->str, "PONG") == 0;
    freeReplyObject(p);
    redisFree(c);
    return ok;
}

void kvt_redis_start(kvt_redis *r)
{
    ck_assert_msg(access(REDIS_SERVER, X_OK) == 0,
                  REDIS_SERVER " is missing: the kv Redis tests need a real redis-server "
                               "(scripts/install-deps.sh installs it)");
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/keel-kv-redis-XXXXXX");
        ck_assert_msg(mkdtemp(r->dir) != NULL, "mkdtemp: %s", strerror(errno));
    }
    if (r->port == 0)
        r->port = kvt_free_port();
    char port[16], logpath[300];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(logpath, sizeof logpath, "%s/redis.log", r->dir);
    const char *argv[20];
    int n = 0;
    argv[n++] = REDIS_SERVER;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--dir";
    argv[n++] = r->dir;
    if (r->password[0]) {
        argv[n++] = "--requirepass";
        argv[n++] = r->password;
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Dies with the test (a failed check exits without teardown). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(REDIS_SERVER, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    long long deadline = kvt_now_ms() + 10000;
    while (!kvt_redis_answers(r)) {
        int status;
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                      "redis-server on port %d exited at start (see %s)", r->port, logpath);
        ck_assert_msg(kvt_now_ms() < deadline, "redis-server on port %d does not answer PING",
                      r->port);
        kvt_sleep_ms(10);
    }
}

void kvt_redis_kill(kvt_redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
}

void kvt_redis_stop(kvt_redis *r)
{
    kvt_redis_kill(r);
    kvt_rm_tree(r->dir);
    r->dir[0] = '\0';
}

redisContext *kvt_redis_client(const kvt_redis *r, int db)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    ck_assert_msg(c && !c->err, "test client: cannot connect to redis on %d", r->port);
    redisSetTimeout(c, tv);
    if (r->password[0]) {
        redisReply *a = redisCommand(c, "AUTH %s", r->password);
        ck_assert_msg(a && a->type == REDIS_REPLY_STATUS, "test client: AUTH failed");
        freeReplyObject(a);
    }
    if (db) {
        redisReply *s = redisCommand(c, "SELECT %d", db);
        ck_assert_msg(s && s->type == REDIS_REPLY_STATUS, "test client: SELECT failed");
        freeReplyObject(s);
    }
    return c;
}

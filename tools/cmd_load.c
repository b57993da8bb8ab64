/*
 * keel load — an operator's smoke/load tool: N connections, each sending
 * "call" requests back to back, then totals, latency percentiles and
 * counts per value of a result field. Failures are counted, never fatal, so
 * it keeps going across a version switch.
 */
#include "cli_common.h"
#include "load_stats.h"
#include "table.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_PARALLEL_MAX 256
#define LOAD_DEFAULT_TIMEOUT_MS 10000
#define LOAD_RECONNECT_NS 10000000L   /* pause before reconnecting: 10 ms */

static void load_usage(FILE *out)
{
    fputs("usage: keel load [--scene S] [--key K] [--parallel N] [--seconds S | --count N]\n"
          "                 [--group-by FIELD] [--json] SERVICE [JSON_ARRAY]\n"
          "\n"
          "Calls SERVICE with JSON_ARRAY (default []) from N connections, each sending\n"
          "its next call as soon as the last one is answered, then prints the number\n"
          "of calls, failures (with the first distinct errors), calls/s and the p50\n"
          "and p99 latency of successful calls. Errors are counted, not fatal: it\n"
          "keeps going while modules are switched. Ctrl-C stops early and reports.\n"
          "Exits with 0 when no call failed, else 1.\n"
          "\n"
          "options:\n"
          "  -s, --scene S        the scene to call in (default: \"default\")\n"
          "  -k, --key K          routing key sent with every call\n"
          "  -p, --parallel N     connections, one thread each (default 4, at most 256)\n"
          "  -t, --seconds S      run for S seconds (default 5)\n"
          "  -n, --count N        send N calls in all instead\n"
          "  -g, --group-by FIELD count the calls per value of FIELD of the result\n"
          "                       object (or of keeld's answer), e.g. version\n"
          "  --json               print the totals as JSON\n"
          "  -h, --help           show this help\n"
          "\n"
          "Each call waits at most --timeout SECONDS (global option; default 10).\n",
          out);
}

typedef struct load_args {
    const char *scene, *key, *service, *group_by;
    cJSON *args;
    long parallel, count;
    int duration_ms;
    int seconds_given, json, help;
} load_args;

/* What the workers share; read-only but for `issued` and `stop`. */
typedef struct load_shared {
    const char *socket;
    int timeout_ms;
    char *line;              /* the request line, sent as is every time */
    size_t size;
    const char *group_by;
    int64_t deadline_ns;     /* CLOCK_MONOTONIC; -1 in count mode */
    long count;              /* 0 in seconds mode */
    atomic_long issued;
} load_shared;

typedef struct load_worker {
    pthread_t thread;
    load_shared *shared;
    load_stats *stats;
} load_worker;

static atomic_int load_interrupted;   /* set by SIGINT or a failed start */

static void load_on_sigint(int sig)
{
    (void)sig;
    load_interrupted = 1;
}

static int64_t load_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- arguments ------------------------------------------------------------ */

static int load_option(load_args *a, int c, char **argv)
{
    switch (c) {
    case 's': a->scene = optarg; return KEEL_EXIT_OK;
    case 'k': a->key = optarg; return KEEL_EXIT_OK;
    case 'g': a->group_by = optarg; return KEEL_EXIT_OK;
    case 'j': a->json = 1; return KEEL_EXIT_OK;
    case 'h': a->help = 1; return KEEL_EXIT_OK;
    case 'p':
        if (keel_cli_parse_long(optarg, 1, LOAD_PARALLEL_MAX, &a->parallel) != 0)
            return keel_cli_usage_error("load", "--parallel needs a number from 1 to %d, got \"%s\"",
                                        LOAD_PARALLEL_MAX, optarg);
        return KEEL_EXIT_OK;
    case 'n':
        if (keel_cli_parse_long(optarg, 1, 1000000000L, &a->count) != 0)
            return keel_cli_usage_error("load", "--count needs a number of calls from 1, got \"%s\"",
                                        optarg);
        return KEEL_EXIT_OK;
    case 't':
        a->seconds_given = 1;
        if (keel_cli_parse_seconds(optarg, &a->duration_ms) != 0)
            return keel_cli_usage_error("load", "--seconds needs a duration greater than 0, "
                                                "got \"%s\"", optarg);
        return KEEL_EXIT_OK;
    default:
        return keel_cli_bad_option("load", c, argv);
    }
}

static int load_operands(int argc, char **argv, load_args *a)
{
    if (a->count > 0 && a->seconds_given)
        return keel_cli_usage_error("load", "give --seconds or --count, not both");
    if (a->group_by != NULL && a->group_by[0] == '\0')
        return keel_cli_usage_error("load", "--group-by needs a FIELD name");
    int code = keel_cli_operands("load", argc, argv, optind, 1, 2, "the SERVICE to call");
    if (code != KEEL_EXIT_OK)
        return code;
    a->service = argv[optind];
    if (argc - optind == 2)
        return keel_cli_parse_json_array("load", argv[optind + 1], &a->args);
    return KEEL_EXIT_OK;
}

static int load_parse(int argc, char **argv, load_args *a)
{
    static const struct option options[] = {
        {"scene", required_argument, NULL, 's'},    {"key", required_argument, NULL, 'k'},
        {"parallel", required_argument, NULL, 'p'}, {"seconds", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},    {"group-by", required_argument, NULL, 'g'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hs:k:p:t:n:g:", options, NULL)) != -1) {
        int code = load_option(a, c, argv);
        if (code != KEEL_EXIT_OK)
            return code;
    }
    return a->help ? KEEL_EXIT_OK : load_operands(argc, argv, a);
}

/* ---- the workers ---------------------------------------------------------- */

/* The group of a successful call: FIELD of the call's result when it is an
 * object that has it, else FIELD of keeld's answer, else "(none)". */
static const char *load_group(const cJSON *answer, const char *field, char *buf, size_t size)
{
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(answer, "result");
    const cJSON *v = cJSON_IsObject(value) ? cJSON_GetObjectItemCaseSensitive(value, field) : NULL;
    if (v == NULL)
        v = cJSON_GetObjectItemCaseSensitive(answer, field);
    if (v == NULL)
        return "(none)";
    return keel_cli_value_text(v, buf, size);
}

/* Whether the worker should send another call. */
static int load_more(load_shared *sh)
{
    if (load_interrupted)
        return 0;
    if (sh->count > 0)
        return atomic_fetch_add(&sh->issued, 1) < sh->count;
    return load_now_ns() < sh->deadline_ns;
}

/* One call on *conn (connecting first when it is NULL), counted. */
static void load_one(load_worker *w, keel_admin_conn **conn)
{
    load_shared *sh = w->shared;
    keel_admin_error err;
    if (*conn == NULL && keel_admin_connect(sh->socket, sh->timeout_ms, conn, &err) != KEEL_ADMIN_OK) {
        load_stats_fail(w->stats, err.message);
        nanosleep(&(struct timespec){0, LOAD_RECONNECT_NS}, NULL);
        return;
    }
    cJSON *answer = NULL;
    int64_t t0 = load_now_ns();
    keel_admin_outcome o = keel_admin_exchange(*conn, sh->line, sh->size, NULL, NULL, &answer, &err);
    int64_t ns = load_now_ns() - t0;
    if (o == KEEL_ADMIN_OK) {
        char buf[256];
        load_stats_ok(w->stats, (uint64_t)ns,
                      sh->group_by != NULL ? load_group(answer, sh->group_by, buf, sizeof buf)
                                           : NULL);
    } else {
        load_stats_fail(w->stats, err.message);
    }
    cJSON_Delete(answer);
    if (o != KEEL_ADMIN_OK && o != KEEL_ADMIN_REFUSED) {
        keel_admin_close(*conn);
        *conn = NULL;
    }
}

static void *load_worker_main(void *arg)
{
    load_worker *w = arg;
    keel_admin_conn *conn = NULL;
    while (load_more(w->shared))
        load_one(w, &conn);
    keel_admin_close(conn);
    return NULL;
}

/* ---- the report ----------------------------------------------------------- */

static double load_ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static cJSON *load_json_counts(const load_count *items, size_t n, int as_object)
{
    cJSON *out = as_object ? cJSON_CreateObject() : cJSON_CreateArray();
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (as_object) {
            if (cJSON_AddNumberToObject(out, items[i].text, (double)items[i].count) == NULL)
                goto fail;
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || cJSON_AddStringToObject(e, "message", items[i].text) == NULL ||
            cJSON_AddNumberToObject(e, "count", (double)items[i].count) == NULL ||
            !cJSON_AddItemToArray(out, e)) {
            cJSON_Delete(e);
            goto fail;
        }
    }
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

/* Adds a counts array or object to r; 0 when out of memory. */
static int load_json_add_counts(cJSON *r, const char *key, const load_count *items, size_t n,
                                int as_object)
{
    cJSON *counts = load_json_counts(items, n, as_object);
    if (counts == NULL || !cJSON_AddItemToObject(r, key, counts)) {
        cJSON_Delete(counts);
        return 0;
    }
    return 1;
}

static int load_report_json(const load_stats *s, const load_args *a, double seconds)
{
    uint64_t ok = s->calls - s->failures;
    cJSON *r = cJSON_CreateObject();
    int good = cJSON_AddStringToObject(r, "service", a->service) != NULL;
    good &= cJSON_AddNumberToObject(r, "parallel", (double)a->parallel) != NULL;
    good &= cJSON_AddNumberToObject(r, "seconds", seconds) != NULL;
    good &= cJSON_AddNumberToObject(r, "calls", (double)s->calls) != NULL;
    good &= cJSON_AddNumberToObject(r, "failures", (double)s->failures) != NULL;
    good &= cJSON_AddNumberToObject(r, "calls_per_s",
                                    seconds > 0 ? (double)s->calls / seconds : 0) != NULL;
    cJSON *lat = cJSON_AddObjectToObject(r, "latency_ms");
    good &= cJSON_AddNumberToObject(lat, "p50", load_ms(load_stats_percentile(s, 0.50))) != NULL;
    good &= cJSON_AddNumberToObject(lat, "p99", load_ms(load_stats_percentile(s, 0.99))) != NULL;
    good &= cJSON_AddNumberToObject(lat, "max", load_ms(s->max_ns)) != NULL;
    good &= cJSON_AddNumberToObject(lat, "mean", ok > 0 ? load_ms(s->sum_ns / ok) : 0) != NULL;
    good &= load_json_add_counts(r, "errors", s->errors, s->n_errors, 0);
    if (a->group_by != NULL) {
        good &= cJSON_AddStringToObject(r, "group_by", a->group_by) != NULL;
        good &= load_json_add_counts(r, "groups", s->groups, s->n_groups, 1);
    }
    int code = good ? keel_cli_print_json(r) : KEEL_EXIT_FAILURE;
    if (!good)
        keel_cli_error("out of memory");
    cJSON_Delete(r);
    return code;
}

static void load_report_counts(const char *title, const char *header, const load_count *items,
                               size_t n)
{
    const char *const headers[] = {"CALLS", header};
    keel_table *t = keel_table_new(2, headers);
    for (size_t i = 0; t != NULL && i < n; i++) {
        char count[32];
        snprintf(count, sizeof count, "%llu", (unsigned long long)items[i].count);
        const char *cells[] = {count, items[i].text};
        if (keel_table_add(t, cells) != 0)
            break;
    }
    if (t == NULL)
        return;
    puts(title);
    keel_table_print(t, stdout, "  ");
    keel_table_free(t);
}

static void load_report_text(const load_stats *s, const load_args *a, double seconds)
{
    printf("calls     %llu in %.2f s over %ld connection%s: %.1f calls/s\n",
           (unsigned long long)s->calls, seconds, a->parallel, a->parallel == 1 ? "" : "s",
           seconds > 0 ? (double)s->calls / seconds : 0.0);
    printf("failures  %llu\n", (unsigned long long)s->failures);
    if (s->calls > s->failures)
        printf("latency   p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
               load_ms(load_stats_percentile(s, 0.50)), load_ms(load_stats_percentile(s, 0.99)),
               load_ms(s->max_ns));
    if (s->n_errors > 0)
        load_report_counts("errors (first distinct)", "MESSAGE", s->errors, s->n_errors);
    if (a->group_by != NULL) {
        char title[160];
        snprintf(title, sizeof title, "by %s", a->group_by);
        load_report_counts(title, a->group_by, s->groups, s->n_groups);
    }
}

static int load_report(const load_stats *s, const load_args *a, double seconds)
{
    int code = a->json ? load_report_json(s, a, seconds) : (load_report_text(s, a, seconds), 0);
    fflush(stdout);
    if (code != KEEL_EXIT_OK)
        return code;
    if (s->oom)
        keel_cli_error("out of memory while counting; the totals above are incomplete");
    if (s->failures == 0)
        return s->oom ? KEEL_EXIT_FAILURE : KEEL_EXIT_OK;
    keel_cli_error("%llu of %llu calls failed; first error: %s",
                   (unsigned long long)s->failures, (unsigned long long)s->calls,
                   s->n_errors > 0 ? s->errors[0].text : "(not kept)");
    return KEEL_EXIT_FAILURE;
}

/* ---- running -------------------------------------------------------------- */

/* Starts the workers, waits for them and merges their stats into *total. */
static int load_run_workers(load_shared *sh, long parallel, load_stats *total)
{
    load_worker *workers = calloc((size_t)parallel, sizeof *workers);
    if (workers == NULL)
        return -1;
    long started = 0;
    for (; started < parallel; started++) {
        workers[started].shared = sh;
        workers[started].stats = load_stats_new();
        if (workers[started].stats == NULL ||
            pthread_create(&workers[started].thread, NULL, load_worker_main, &workers[started]) != 0) {
            load_stats_free(workers[started].stats);
            break;
        }
    }
    if (started < parallel)
        load_interrupted = 1;   /* stop the ones that started */
    for (long i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        load_stats_merge(total, workers[i].stats);
        load_stats_free(workers[i].stats);
    }
    free(workers);
    return started == parallel ? 0 : -1;
}

static cJSON *load_request_args(load_args *a)
{
    cJSON *args = keel_cli_args_str(keel_cli_args_new(), "service", a->service);
    args = keel_cli_args_str(args, "scene", a->scene);
    args = keel_cli_args_str(args, "key", a->key);
    args = keel_cli_args_item(args, "args", a->args != NULL ? a->args : cJSON_CreateArray());
    a->args = NULL;
    return args;
}

static int load_run(const keel_cli *cli, load_args *a, const char *socket)
{
    load_shared sh = {socket, cli->timeout_ms >= 0 ? cli->timeout_ms : LOAD_DEFAULT_TIMEOUT_MS,
                      NULL, 0, a->group_by, -1, a->count, 0};
    cJSON *args = load_request_args(a);
    sh.line = args != NULL ? keel_admin_request_line("call", args, &sh.size) : NULL;
    cJSON_Delete(args);
    load_stats *total = load_stats_new();
    if (sh.line == NULL || total == NULL) {
        free(sh.line);
        load_stats_free(total);
        keel_cli_error("out of memory");
        return KEEL_EXIT_FAILURE;
    }
    struct sigaction sa = {.sa_handler = load_on_sigint}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int64_t start = load_now_ns();
    if (a->count == 0)
        sh.deadline_ns = start + (int64_t)a->duration_ms * 1000000;
    int rc = load_run_workers(&sh, a->parallel, total);
    double seconds = (double)(load_now_ns() - start) / 1e9;
    sigaction(SIGINT, &old, NULL);
    int code = KEEL_EXIT_FAILURE;
    if (rc != 0)
        keel_cli_error("cannot start %ld worker threads", a->parallel);
    else
        code = load_report(total, a, seconds);
    load_stats_free(total);
    free(sh.line);
    return code;
}

int keel_cmd_load(const keel_cli *cli, int argc, char **argv)
{
    load_args a = {NULL, NULL, NULL, NULL, NULL, 4, 0, 5000, 0, cli->json, 0};
    int code = load_parse(argc, argv, &a);
    if (code != KEEL_EXIT_OK || a.help) {
        if (a.help)
            load_usage(stdout);
        cJSON_Delete(a.args);
        return code;
    }
    /* Fail fast, with the usual message, when the base is not there. */
    keel_admin_conn *probe;
    code = keel_cli_connect(cli, cli->timeout_ms, &probe);
    keel_admin_close(probe);
    if (code == KEEL_EXIT_OK)
        code = load_run(cli, &a, keel_cli_socket(cli));
    cJSON_Delete(a.args);
    return code;
}

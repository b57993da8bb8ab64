/*
 * keel_base_metrics_text: the base's metrics in the Prometheus text
 * exposition format (version 0.0.4): per-service calls, errors, in-flight
 * calls and latency histograms from the router, per-module state and
 * memory from the loader, per-module queue counters, running starters,
 * uptime and leaks.
 */
#include "base_internal.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum metrics_family {
    METRICS_CALLS,
    METRICS_ERRORS,
    METRICS_INFLIGHT,
    METRICS_LATENCY
} metrics_family;

typedef struct metrics_pass {
    FILE *out;
    metrics_family family;
} metrics_pass;

/* Writes `value` (borrowed) as a label value: backslash, double quote and
 * newline escaped. */
static void metrics_label_value(FILE *out, const char *value)
{
    for (const char *c = value ? value : ""; *c != '\0'; c++) {
        if (*c == '\\')
            fputs("\\\\", out);
        else if (*c == '"')
            fputs("\\\"", out);
        else if (*c == '\n')
            fputs("\\n", out);
        else
            fputc(*c, out);
    }
}

/* Writes {module="..",version="..",scene="..",service=".."} with `extra`
 * (a preformatted label such as le="0.5", or NULL) last. */
static void metrics_service_labels(FILE *out, const keel_service_metrics *m, const char *extra)
{
    fputs("{module=\"", out);
    metrics_label_value(out, m->module);
    fputs("\",version=\"", out);
    metrics_label_value(out, m->version);
    fputs("\",scene=\"", out);
    metrics_label_value(out, m->scene);
    fputs("\",service=\"", out);
    metrics_label_value(out, m->service);
    fprintf(out, "\"%s%s}", extra ? "," : "", extra ? extra : "");
}

static void metrics_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One service's histogram: cumulative buckets with upper bounds 2^(i+1)
 * ns, +Inf, _sum and _count. The router keeps counts per bucket only, so
 * _sum is approximated by counting every sample at its bucket's midpoint
 * (1.5 * 2^i ns): within a factor of 1.5 of the truth. */
static void metrics_latency(FILE *out, const keel_service_metrics *m)
{
    uint64_t cumulative = 0;
    double sum = 0, low_ns = 1; /* 2^i */
    char le[48];
    for (int i = 0; i < KEEL_LATENCY_BUCKETS; i++, low_ns *= 2) {
        cumulative += m->latency[i];
        sum += (double)m->latency[i] * 1.5 * low_ns * 1e-9;
        snprintf(le, sizeof le, "le=\"%.9g\"", 2 * low_ns * 1e-9);
        fputs("keel_service_latency_seconds_bucket", out);
        metrics_service_labels(out, m, le);
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
    fputs("keel_service_latency_seconds_bucket", out);
    metrics_service_labels(out, m, "le=\"+Inf\"");
    fprintf(out, " %llu\n", (unsigned long long)cumulative);
    fputs("keel_service_latency_seconds_sum", out);
    metrics_service_labels(out, m, NULL);
    fprintf(out, " %.9g\n", sum);
    fputs("keel_service_latency_seconds_count", out);
    metrics_service_labels(out, m, NULL);
    fprintf(out, " %llu\n", (unsigned long long)cumulative);
}

static void metrics_service(const keel_service_metrics *m, void *user)
{
    metrics_pass *pass = user;
    switch (pass->family) {
    case METRICS_CALLS:
        fputs("keel_service_calls_total", pass->out);
        metrics_service_labels(pass->out, m, NULL);
        fprintf(pass->out, " %llu\n", (unsigned long long)m->calls);
        break;
    case METRICS_ERRORS:
        fputs("keel_service_errors_total", pass->out);
        metrics_service_labels(pass->out, m, NULL);
        fprintf(pass->out, " %llu\n", (unsigned long long)m->errors);
        break;
    case METRICS_INFLIGHT:
        fputs("keel_service_inflight", pass->out);
        metrics_service_labels(pass->out, m, NULL);
        fprintf(pass->out, " %ld\n", m->inflight);
        break;
    case METRICS_LATENCY:
        metrics_latency(pass->out, m);
        break;
    }
}

static void metrics_services(FILE *out, keel_router *router)
{
    static const struct {
        metrics_family family;
        const char *name, *type, *help;
    } families[] = {
        {METRICS_CALLS, "keel_service_calls_total", "counter", "Calls entered, per service version."},
        {METRICS_ERRORS, "keel_service_errors_total", "counter", "Dynamic calls that failed."},
        {METRICS_INFLIGHT, "keel_service_inflight", "gauge", "Calls inside the version now."},
        {METRICS_LATENCY, "keel_service_latency_seconds", "histogram",
         "Call latency (every dynamic call, 1 in 64 typed calls); buckets are powers of two "
         "nanoseconds; _sum is approximated from bucket midpoints."},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        metrics_pass pass = {out, families[i].family};
        metrics_header(out, families[i].name, families[i].type, families[i].help);
        keel_router_metrics(router, metrics_service, &pass);
    }
}

static void metrics_queue(const keel_queue_metrics *m, void *user)
{
    FILE *out = user;
    const struct {
        const char *kind;
        uint64_t value;
    } kinds[] = {
        {"posted", m->stats.posted},       {"delivered", m->stats.delivered},
        {"rejected", m->stats.rejected},   {"dropped", m->stats.dropped},
        {"undeliverable", m->undeliverable},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        fputs("keel_queue_messages_total{module=\"", out);
        metrics_label_value(out, m->module);
        fprintf(out, "\",kind=\"%s\"} %llu\n", kinds[i].kind, (unsigned long long)kinds[i].value);
    }
}

static void metrics_module_labels(FILE *out, keel_instance *inst)
{
    fputs("{module=\"", out);
    metrics_label_value(out, keel_instance_name(inst));
    fputs("\",version=\"", out);
    metrics_label_value(out, keel_instance_version(inst));
    fputc('"', out);
}

static void metrics_modules(FILE *out, keel_base *b)
{
    keel_base_instances_read(b);
    keel_instance **list = NULL;
    size_t n = keel_base_instances_snapshot(b, &list);
    metrics_header(out, "keel_module_state", "gauge",
                   "1 for the state each loaded module version is in.");
    for (size_t i = 0; i < n; i++) {
        fputs("keel_module_state", out);
        metrics_module_labels(out, list[i]);
        fprintf(out, ",state=\"%s\"} 1\n", keel_instance_state_name(keel_instance_state_get(list[i])));
    }
    metrics_header(out, "keel_module_memory_bytes", "gauge",
                   "Bytes of a module version: its mapped object plus what it holds through the module API allocator.");
    for (size_t i = 0; i < n; i++) {
        fputs("keel_module_memory_bytes", out);
        metrics_module_labels(out, list[i]);
        fprintf(out, "} %zu\n", keel_instance_mapped_bytes(list[i]) + keel_instance_memory_bytes(list[i]));
    }
    free(list);
    keel_base_instances_done(b);
}

static size_t metrics_leak_count(keel_base *b)
{
    char *leaks = keel_loader_leaks(b->loader);
    size_t n = 0;
    for (const char *line = leaks; line != NULL && *line != '\0';) {
        size_t len = strcspn(line, "\n");
        n += len > 0;
        line += len + (line[len] == '\n');
    }
    free(leaks);
    return n;
}

/* Running starters (their version as a label) and their bindings; the
 * starters the configuration wants that failed to enable. */
static void metrics_starters(FILE *out, keel_base *base)
{
    char *text = keel_starter_set_list_json(base->starters);
    cJSON *list = text ? cJSON_Parse(text) : NULL;
    free(text);
    metrics_header(out, "keel_starter_info", "gauge",
                   "Starters running in the base (1), with the running version.");
    const cJSON *s;
    cJSON_ArrayForEach(s, list) {
        const cJSON *version = cJSON_GetObjectItemCaseSensitive(s, "version");
        if (!cJSON_IsString(version))
            continue;
        fputs("keel_starter_info{starter=\"", out);
        metrics_label_value(out, cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring);
        fputs("\",version=\"", out);
        metrics_label_value(out, version->valuestring);
        fputs("\"} 1\n", out);
    }
    metrics_header(out, "keel_starter_bindings", "gauge",
                   "Module instances bound to each running starter.");
    cJSON_ArrayForEach(s, list) {
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(s, "version")))
            continue;
        fputs("keel_starter_bindings{starter=\"", out);
        metrics_label_value(out, cJSON_GetObjectItemCaseSensitive(s, "name")->valuestring);
        fprintf(out, "\"} %d\n", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s, "bindings")));
    }
    cJSON_Delete(list);
    char *failed = keel_base_starter_failures(base);
    size_t n = 0;
    for (const char *c = failed; c && *c; c++)
        n += *c == '\n';
    free(failed);
    metrics_header(out, "keel_starters_failed", "gauge",
                   "Starters the configuration enables that could not be enabled (see health).");
    fprintf(out, "keel_starters_failed %zu\n", n);
}

char *keel_base_metrics_text(keel_base *base)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL)
        return NULL;
    keel_router *router = keel_loader_router(base->loader);
    metrics_services(out, router);
    metrics_modules(out, base);
    metrics_header(out, "keel_queue_messages_total", "counter",
                   "Messages per subscribing module, by what happened to them.");
    keel_router_queue_metrics(router, metrics_queue, out);
    metrics_starters(out, base);
    metrics_header(out, "keel_base_uptime_seconds", "gauge", "Seconds since the base started.");
    fprintf(out, "keel_base_uptime_seconds %.3f\n", keel_base_uptime(base));
    metrics_header(out, "keel_base_leaks", "gauge",
                   "Unloads that left something mapped (see the health operation).");
    fprintf(out, "keel_base_leaks %zu\n", metrics_leak_count(base));
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

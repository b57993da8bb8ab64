#include "bench_common.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, by_value);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int bench_quick(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--quick") == 0)
            return 1;
    return 0;
}

static long status_field(const char *path, const char *field)
{
    FILE *f = fopen(path, "r");
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, len) == 0) {
            kb = strtol(line + len, NULL, 10);
            break;
        }
    if (f != NULL)
        fclose(f);
    return kb;
}

long bench_rss_kb(void) { return status_field("/proc/self/status", "VmRSS:"); }
long bench_pss_kb(void) { return status_field("/proc/self/smaps_rollup", "Pss:"); }

int bench_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = -1; /* the directory's own descriptor */
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    return n;
}

int bench_map_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    int n = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        n += strstr(line, " /") != NULL;
    if (f != NULL)
        fclose(f);
    return n;
}

static void json_string(const char *s)
{
    if (s == NULL) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

void bench_row(const char *group, const char *name, const char *unit, double p50, double p99,
               const char *baseline, double baseline_p50, const char *goal, int met,
               const char *extra)
{
    fputs("{\"group\": ", stdout);
    json_string(group);
    fputs(", \"name\": ", stdout);
    json_string(name);
    fputs(", \"unit\": ", stdout);
    json_string(unit);
    printf(", \"p50\": %.6g, \"p99\": %.6g, \"baseline\": ", p50, p99);
    json_string(baseline);
    if (baseline != NULL && baseline_p50 > 0)
        printf(", \"ratio\": %.4g", p50 / baseline_p50);
    else
        fputs(", \"ratio\": null", stdout);
    fputs(", \"goal\": ", stdout);
    json_string(goal);
    fputs(met < 0 ? ", \"met\": null" : met ? ", \"met\": true" : ", \"met\": false", stdout);
    if (extra != NULL && extra[0] != '\0')
        printf(", %s", extra);
    puts("}");
    fflush(stdout);
}

char *bench_tmpdir(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/keel-bench-%s-XXXXXX", tmp && tmp[0] ? tmp : "/tmp", tag) < 0)
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

void bench_rmtree(const char *path)
{
    if (path != NULL)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

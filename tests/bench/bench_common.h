/*
 * Shared by the benchmark programs: clocks, percentiles, process counters,
 * and the one output format every program prints, one JSON object a line:
 *
 *   {"group": "calls", "name": "typed call through the router",
 *    "unit": "ns", "p50": 8.6, "p99": 12.1,
 *    "baseline": "direct function-pointer call", "ratio": 4.5,
 *    "goal": "<= 2x direct call", "met": false, ...extra fields}
 *
 * "ratio" is p50 / baseline's p50 measured in the same run; "baseline",
 * "ratio", "goal" and "met" are null when they do not apply.
 */
#ifndef KEEL_BENCH_COMMON_H
#define KEEL_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock. */
double bench_now_ns(void);

/* Sorts `v` (n values) and returns the p-th percentile (0..100). */
double bench_percentile(double *v, size_t n, double p);

/* Non-zero when argv holds --quick (small counts, to keep benches working
 * in CI). Removes nothing from argv. */
int bench_quick(int argc, char **argv);

/* Process counters from /proc/self. */
long bench_rss_kb(void);
long bench_pss_kb(void);
int bench_fd_count(void);
int bench_map_count(void);   /* file-backed mappings */

/* One output row. `extra` is NULL or JSON members without braces, e.g.
 * "\"calls_per_s\": 123". goal NULL: no goal; met: -1 unknown, 0/1. */
void bench_row(const char *group, const char *name, const char *unit, double p50, double p99,
               const char *baseline, double baseline_p50, const char *goal, int met,
               const char *extra);

/* A fresh directory under $TMPDIR (caller frees; remove with bench_rmtree). */
char *bench_tmpdir(const char *tag);
void bench_rmtree(const char *path);

#endif

/*
 * load_stats.h — what `keel load` counts: calls, failures with their first
 * distinct messages, a latency histogram and counts per group value. One
 * load_stats per worker thread, merged at the end (no locking).
 */
#ifndef KEEL_TOOLS_LOAD_STATS_H
#define KEEL_TOOLS_LOAD_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Log-linear latency buckets in nanoseconds: exact below 64 ns, then 64
 * buckets per power of two (1.6% resolution) up to 2^64 ns. */
#define LOAD_HIST_BUCKETS 3776
#define LOAD_ERRORS_KEPT 5       /* distinct error messages remembered */
#define LOAD_GROUPS_MAX 1000     /* distinct group values; the rest go to "(other)" */

typedef struct load_count {
    char *text;          /* an error message or a group value, malloc'd */
    uint64_t count;
} load_count;

typedef struct load_stats {
    uint64_t calls;                        /* answered or failed requests */
    uint64_t failures;
    uint64_t max_ns, sum_ns;               /* of successful calls */
    uint64_t hist[LOAD_HIST_BUCKETS];      /* successful calls' latency */
    load_count errors[LOAD_ERRORS_KEPT];   /* first distinct failures */
    size_t n_errors;
    load_count *groups;
    size_t n_groups;
    int oom;                               /* a text could not be kept */
} load_stats;

/* A new, zeroed load_stats (caller frees with load_stats_free); NULL when
 * out of memory. */
load_stats *load_stats_new(void);
void load_stats_free(load_stats *s);

/* Counts a successful call of `ns` nanoseconds, in group `group` (borrowed,
 * copied; NULL: no grouping). */
void load_stats_ok(load_stats *s, uint64_t ns, const char *group);

/* Counts a failed call with its one-line message (borrowed, copied). */
void load_stats_fail(load_stats *s, const char *message);

/* Adds `from` into `into`. */
void load_stats_merge(load_stats *into, const load_stats *from);

/* The latency (ns) under which a fraction p (0..1] of the successful calls
 * fell; 0 when there were none. */
uint64_t load_stats_percentile(const load_stats *s, double p);

#endif

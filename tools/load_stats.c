/*
 * keel load's counters.
 */
#include "load_stats.h"

#include <stdlib.h>
#include <string.h>

load_stats *load_stats_new(void)
{
    return calloc(1, sizeof(load_stats));
}

void load_stats_free(load_stats *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_errors; i++)
        free(s->errors[i].text);
    for (size_t i = 0; i < s->n_groups; i++)
        free(s->groups[i].text);
    free(s->groups);
    free(s);
}

static size_t load_bucket(uint64_t ns)
{
    if (ns < 64)
        return (size_t)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    return (size_t)(64u * (msb - 5u) + ((ns >> (msb - 6u)) & 63u));
}

/* The middle of a bucket's range. */
static uint64_t load_bucket_value(size_t idx)
{
    if (idx < 64)
        return idx;
    unsigned msb = (unsigned)(idx / 64) + 5u;
    uint64_t low = (64u + idx % 64) << (msb - 6u);
    return low + ((UINT64_C(1) << (msb - 6u)) >> 1);
}

/* Adds `n` to the counter of `text` in the array, appending it when there
 * is room; returns 0 when counted, -1 when it did not fit. */
static int load_count_add(load_count *items, size_t *used, size_t max, const char *text,
                          uint64_t n, int *oom)
{
    for (size_t i = 0; i < *used; i++) {
        if (strcmp(items[i].text, text) == 0) {
            items[i].count += n;
            return 0;
        }
    }
    if (*used >= max)
        return -1;
    char *copy = strdup(text);
    if (copy == NULL) {
        *oom = 1;
        return -1;
    }
    items[*used] = (load_count){copy, n};
    (*used)++;
    return 0;
}

/* Groups live in one array of LOAD_GROUPS_MAX + 1 slots, the last one kept
 * for "(other)". */
static void load_group_add(load_stats *s, const char *group, uint64_t n)
{
    if (s->groups == NULL) {
        s->groups = calloc(LOAD_GROUPS_MAX + 1, sizeof *s->groups);
        if (s->groups == NULL) {
            s->oom = 1;
            return;
        }
    }
    if (load_count_add(s->groups, &s->n_groups, LOAD_GROUPS_MAX, group, n, &s->oom) != 0)
        load_count_add(s->groups, &s->n_groups, LOAD_GROUPS_MAX + 1, "(other)", n, &s->oom);
}

void load_stats_ok(load_stats *s, uint64_t ns, const char *group)
{
    s->calls++;
    s->hist[load_bucket(ns)]++;
    s->sum_ns += ns;
    if (ns > s->max_ns)
        s->max_ns = ns;
    if (group != NULL)
        load_group_add(s, group, 1);
}

void load_stats_fail(load_stats *s, const char *message)
{
    s->calls++;
    s->failures++;
    load_count_add(s->errors, &s->n_errors, LOAD_ERRORS_KEPT, message, 1, &s->oom);
}

void load_stats_merge(load_stats *into, const load_stats *from)
{
    into->calls += from->calls;
    into->failures += from->failures;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
    for (size_t i = 0; i < LOAD_HIST_BUCKETS; i++)
        into->hist[i] += from->hist[i];
    for (size_t i = 0; i < from->n_errors; i++)
        load_count_add(into->errors, &into->n_errors, LOAD_ERRORS_KEPT, from->errors[i].text,
                       from->errors[i].count, &into->oom);
    for (size_t i = 0; i < from->n_groups; i++)
        load_group_add(into, from->groups[i].text, from->groups[i].count);
    into->oom |= from->oom;
}

uint64_t load_stats_percentile(const load_stats *s, double p)
{
    uint64_t ok = s->calls - s->failures;
    if (ok == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)ok);
    if ((double)rank < p * (double)ok)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LOAD_HIST_BUCKETS; i++) {
        seen += s->hist[i];
        if (seen >= rank) {
            uint64_t v = load_bucket_value(i);
            return v > s->max_ns ? s->max_ns : v;
        }
    }
    return s->max_ns;
}

/* benchstats: small numeric routines; a private library of bench-large
 * (libbenchstats.so.1). */
#ifndef BENCHSTATS_H
#define BENCHSTATS_H
#include <stddef.h>
/* Sorts `v` in place (introsort-free quicksort with insertion sort for
 * short ranges). */
void benchstats_sort(double *v, size_t n);
double benchstats_mean(const double *v, size_t n);
double benchstats_stddev(const double *v, size_t n);
/* Percentile p (0..100) of `v`, sorting it first; linear interpolation. */
double benchstats_percentile(double *v, size_t n, double p);
/* Counts `v` into `bins` equal-width buckets over [lo, hi); values outside
 * go to the first or last bucket. */
void benchstats_histogram(const double *v, size_t n, double lo, double hi, size_t *bins,
                          size_t bin_count);
/* out = a * b for row-major n x n matrices. */
void benchstats_matmul(const double *a, const double *b, double *out, size_t n);
int benchstats_selftest(void);
#endif

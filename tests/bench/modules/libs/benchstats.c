#include "benchstats.h"

#include <math.h>

static void insertion_sort(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static double median_of_three(double a, double b, double c)
{
    if ((a <= b && b <= c) || (c <= b && b <= a))
        return b;
    if ((b <= a && a <= c) || (c <= a && a <= b))
        return a;
    return c;
}

void benchstats_sort(double *v, size_t n)
{
    /* Recurse into the smaller side, loop on the larger: bounded stack. */
    while (n > 16) {
        double pivot = median_of_three(v[0], v[n / 2], v[n - 1]);
        size_t i = 0, j = n - 1;
        for (;;) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i >= j)
                break;
            double t = v[i];
            v[i++] = v[j];
            v[j--] = t;
        }
        size_t left = j + 1;
        if (left < n - left) {
            benchstats_sort(v, left);
            v += left;
            n -= left;
        } else {
            benchstats_sort(v + left, n - left);
            n = left;
        }
    }
    insertion_sort(v, n);
}

double benchstats_mean(const double *v, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return n ? sum / (double)n : 0;
}

double benchstats_stddev(const double *v, size_t n)
{
    if (n < 2)
        return 0;
    double mean = benchstats_mean(v, n), sq = 0;
    for (size_t i = 0; i < n; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    return sqrt(sq / (double)(n - 1));
}

double benchstats_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    benchstats_sort(v, n);
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return v[n - 1];
    return v[lo] + (v[lo + 1] - v[lo]) * (pos - (double)lo);
}

void benchstats_histogram(const double *v, size_t n, double lo, double hi, size_t *bins,
                          size_t bin_count)
{
    for (size_t b = 0; b < bin_count; b++)
        bins[b] = 0;
    if (bin_count == 0 || hi <= lo)
        return;
    for (size_t i = 0; i < n; i++) {
        double at = (v[i] - lo) / (hi - lo) * (double)bin_count;
        size_t b = at < 0 ? 0 : at >= (double)bin_count ? bin_count - 1 : (size_t)at;
        bins[b]++;
    }
}

void benchstats_matmul(const double *a, const double *b, double *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double sum = 0;
            for (size_t k = 0; k < n; k++)
                sum += a[i * n + k] * b[k * n + j];
            out[i * n + j] = sum;
        }
}

int benchstats_selftest(void)
{
    double v[40];
    for (int i = 0; i < 40; i++)
        v[i] = (double)((i * 17) % 40);
    int bad = 0;
    benchstats_sort(v, 40);
    for (int i = 0; i < 40; i++)
        bad |= v[i] != (double)i;
    bad |= benchstats_percentile(v, 40, 50) != 19.5;
    bad |= fabs(benchstats_mean(v, 40) - 19.5) > 1e-9;
    size_t bins[4];
    benchstats_histogram(v, 40, 0, 40, bins, 4);
    bad |= bins[0] != 10 || bins[3] != 10;
    double id[4] = {1, 0, 0, 1}, m[4] = {1, 2, 3, 4}, out[4];
    benchstats_matmul(id, m, out, 2);
    bad |= out[1] != 2 || out[2] != 3;
    return bad;
}

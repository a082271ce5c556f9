/* dx_bench_hist.c - `dx bench`'s latency histogram: merging the
 * per-thread ones and reading percentiles (recording is inline in
 * dx_bench.h, on the hot path). */
#include "dx_bench.h"

/* The lowest and highest value of bucket i. */
static void h_range(unsigned i, uint64_t *lo, uint64_t *hi)
{
	if (i < 2 * H_SUB) {
		*lo = *hi = i;
		return;
	}
	unsigned shift = (i >> H_SHIFT) - 1;
	*lo = (uint64_t)(i - shift * H_SUB) << shift;
	*hi = *lo + ((uint64_t)1 << shift) - 1;
}

void bench_hist_merge(bhist *into, const bhist *h)
{
	for (unsigned i = 0; i < H_N; i++)
		into->b[i] += h->b[i];
	into->count += h->count;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at percentile p (0 < p <= 100), in ns: the middle of the
 * bucket holding it (never above the exact max). */
double bench_hist_percentile(const bhist *h, double p)
{
	if (!h->count)
		return 0;
	double x = p / 100.0 * (double)h->count;
	uint64_t want = (uint64_t)x;
	if ((double)want < x || want < 1)
		want++; /* ceil */
	uint64_t seen = 0;
	for (unsigned i = 0; i < H_N; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t lo, hi;
			h_range(i, &lo, &hi);
			double mid = ((double)lo + (double)hi) / 2;
			return mid > (double)h->max ? (double)h->max : mid;
		}
	}
	return (double)h->max;
}

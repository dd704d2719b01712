/*
 * hist.c - the log-linear latency histogram behind the p50/p99 figures in
 * the stats.
 *
 * Bucket layout: values below 16 have a bucket each.  Above that, each
 * power of two [2^m, 2^(m+1)) is cut into 16 equal sub-buckets, so the
 * bucket of v is found from its highest set bit and the four bits below
 * it.  A bucket's width is under 1/16 of its lower bound, which is where
 * the documented relative error comes from.  2^64 - 1 lands in bucket 975;
 * the rest of the fixed array is unused so the header can stay simple.
 */
#include "hist.h"

#include <string.h>

#define SUB_COUNT (1u << HIST_SUB_BITS)

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;

	if (v < SUB_COUNT)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	return ((msb - HIST_SUB_BITS + 1) << HIST_SUB_BITS) +
	       (unsigned)((v >> shift) & (SUB_COUNT - 1));
}

/* The largest value that falls in bucket i. */
static uint64_t bucket_upper(unsigned i)
{
	unsigned group = i >> HIST_SUB_BITS, sub = i & (SUB_COUNT - 1);
	unsigned shift;
	uint64_t lower;

	if (group == 0)
		return i;
	shift = group - 1;
	lower = (uint64_t)(SUB_COUNT + sub) << shift;
	return lower + ((UINT64_C(1) << shift) - 1);
}

/*
 * A bucket about to overflow halves every bucket instead: the shape of the
 * distribution, which is all the quantiles need, survives, and h->count
 * stays the sum of the buckets.  Halves round up so that no bucket empties:
 * the max keeps its bucket.  Only a daemon up for years gets here.
 */
static void halve(struct hist *h)
{
	uint64_t count = 0;

	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		h->bucket[i] = h->bucket[i] / 2 + (h->bucket[i] & 1);
		count += h->bucket[i];
	}
	h->count = count;
}

void hist_add(struct hist *h, uint64_t v)
{
	unsigned i = bucket_of(v);

	if (h->bucket[i] == UINT32_MAX)
		halve(h);
	h->bucket[i]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* The rank (1-based) of quantile q among count values: ceil(q * count). */
static uint64_t rank_of(double q, uint64_t count)
{
	double r;

	if (!(q > 0.0)) /* also catches NaN */
		return 1;
	if (q >= 1.0)
		return count;
	r = q * (double)count;
	if (r >= (double)count)
		return count;
	if ((double)(uint64_t)r < r)
		return (uint64_t)r + 1;
	return r < 1.0 ? 1 : (uint64_t)r;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, upper;

	if (h->count == 0)
		return 0;
	rank = rank_of(q, h->count);
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			upper = bucket_upper(i);
			return upper < h->max ? upper : h->max;
		}
	}
	return h->max; /* not reached while the counts are consistent */
}

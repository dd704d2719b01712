/*
 * hist.h - a fixed-size log-linear histogram for latency figures
 * (p50/p99/max) in the stats.  Values are unsigned integers in whatever
 * unit the caller uses (ns, us).  Relative error of a quantile is under
 * 1/16 (16 linear sub-buckets per power of two).  No allocation; not
 * thread-safe (callers lock).
 */
#ifndef LOOPD_HIST_H
#define LOOPD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 4
#define HIST_BUCKETS  (64 << HIST_SUB_BITS)

struct hist {
	uint64_t count, sum, max;
	uint32_t bucket[HIST_BUCKETS];
};

void hist_reset(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
/* q in [0, 1]; 0 for an empty histogram.  The quantile is the value of
 * rank ceil(q * count), at least 1 (nearest rank: q = 0 is the minimum,
 * q = 1 the max).  The value returned is the upper bound of the bucket
 * holding it, capped at the exact max: never below the true value, and
 * above it by less than 1/16 of it. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif

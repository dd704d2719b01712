/*
 * testseed.h - the seed of a seeded-random test: LOOPD_TEST_SEED if set,
 * else one from the clock and pid.  It is printed, so any failing run can
 * be repeated with LOOPD_TEST_SEED=N; and the generator such tests draw from.
 */
#ifndef LOOPD_TESTSEED_H
#define LOOPD_TESTSEED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline unsigned test_seed_pick(void)
{
	const char *s = getenv("LOOPD_TEST_SEED");
	unsigned seed =
		s && *s ? (unsigned)strtoul(s, NULL, 0)
			: (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
	printf("seed=%u (LOOPD_TEST_SEED=%u reproduces)\n", seed, seed);
	return seed;
}

/* splitmix64: the same sequence on every libc, so a seed reproduces.
 * Seed it by setting rng_state. */
static uint64_t rng_state;

static inline uint64_t rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

#endif

/*
 * testseed.h - the seed of a seeded-random test: LOOPD_TEST_SEED if set,
 * else one from the clock and pid.  It is printed, so any failing run can
 * be repeated with LOOPD_TEST_SEED=N.
 */
#ifndef LOOPD_TESTSEED_H
#define LOOPD_TESTSEED_H

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

#endif

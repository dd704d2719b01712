/*
 * timer_warm.c - where the time to start 1M timers goes: three rounds of
 * starting 1M timers (0 ms) and firing them, in one process, through the
 * loop's own API.  Round 0 touches fresh memory (page faults); later
 * rounds reuse the handle slabs and the id table.  Loopd only: no peer
 * has the same split.  Prints numbers, asserts nothing.
 *
 *   make bench builds it: build-bench/tests/bench/timer_warm
 */
#include <stdio.h>
#include <time.h>

#include "loop.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fire(loopd_plugin *p, void *ud)
{
}

int main(void)
{
	struct loop *l;
	if (loop_new(&l, 4) < 0)
		return 1;
	for (int round = 0; round < 3; round++) {
		double t0 = now_s();
		for (long i = 0; i < 1000000; i++)
			if (loop_timer(l, NULL, 0, 0, fire, NULL) < 0)
				return 1;
		double t1 = now_s();
		loop_run(l);
		printf("round %d (%s): start 1M timers %.3f s, fire them %.3f s\n",
		       round, round ? "memory reused" : "fresh memory", t1 - t0,
		       now_s() - t1);
	}
	loop_free(l);
	return 0;
}

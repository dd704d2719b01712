/*
 * timer_micro.c - micro-benchmark of the timer queue: ns per add and per
 * pop at 1M timers, for the duration patterns the loop benchmark uses.
 * Prints numbers only; asserts nothing about time.
 *
 *   make bench builds it: build-bench/tests/bench/timer_micro
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "timer.h"

#define NTIMERS 1000000u
#define REPS    5

struct pattern {
	const char *name;
	int advance; /* now grows by 1 ms every 1000 adds */
	uint64_t (*duration)(uint32_t i);
};

static uint64_t d_same(uint32_t i)
{
	(void)i;
	return 1000;
}

static uint64_t d_distinct(uint32_t i)
{
	return 1 + i % 1000;
}

static uint64_t d_shuffled(uint32_t i)
{
	return 1 + ((uint64_t)i * 7919) % 1000;
}

static uint64_t d_zero(uint32_t i)
{
	(void)i;
	return 0;
}

static const struct pattern patterns[] = {
	{ "same duration", 0, d_same },
	{ "1000 distinct", 0, d_distinct },
	{ "shuffled 1+(i*7919)%1000", 0, d_shuffled },
	{ "all zero", 0, d_zero },
	{ "shuffled, now advancing", 1, d_shuffled },
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One rep: best-of times are kept by the caller. */
static int run(const struct pattern *p, struct timer_node *n, double *add_ns,
	       double *pop_ns)
{
	struct timer_queue q;
	uint64_t t0, t1, t2, popped = 0;
	uint32_t i;

	if (timer_queue_init(&q) < 0)
		return -1;
	t0 = now_ns();
	for (i = 0; i < NTIMERS; i++)
		if (timer_queue_add(&q, &n[i], p->advance ? i / 1000 : 0,
				    p->duration(i)) < 0)
			return -1;
	t1 = now_ns();
	/* As the timers phase does: one pop per callback, with a seq limit. */
	while (timer_queue_pop_due(&q, UINT64_MAX - 1, q.next_seq))
		popped++;
	t2 = now_ns();
	timer_queue_free(&q);
	if (popped != NTIMERS)
		return -1;
	*add_ns = (double)(t1 - t0) / NTIMERS;
	*pop_ns = (double)(t2 - t1) / NTIMERS;
	return 0;
}

int main(void)
{
	struct timer_node *n = calloc(NTIMERS, sizeof(*n));
	size_t k;

	if (!n)
		return 1;
	printf("%-28s %10s %10s   (best of %d, %u timers)\n", "pattern",
	       "ns/add", "ns/pop", REPS, NTIMERS);
	for (k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
		double best_add = 1e9, best_pop = 1e9;
		int r;

		for (r = 0; r < REPS; r++) {
			double a, p;

			if (run(&patterns[k], n, &a, &p) < 0) {
				fprintf(stderr, "timer_micro: run failed\n");
				free(n);
				return 1;
			}
			best_add = a < best_add ? a : best_add;
			best_pop = p < best_pop ? p : best_pop;
		}
		printf("%-28s %10.1f %10.1f\n", patterns[k].name, best_add,
		       best_pop);
	}
	free(n);
	return 0;
}

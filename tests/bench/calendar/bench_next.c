/*
 * bench_next.c - nanoseconds per cal_next() call.
 *
 * Usage: bench_next EXPRS_FILE [CALLS].  For each expression (one a line)
 * and zone, chains next() CHAIN times from 2026-01-01 00:00 UTC, as a
 * scheduler does, and starts over until CALLS calls are made; the best of
 * REPEAT such runs is printed.  That is the series bench_croner.mjs
 * computes.  Prints "zone<TAB>expr<TAB>ns<TAB>end"
 * lines, end being the last time of a chain (epoch seconds), which run.sh
 * joins with croner's.  No asserted times: a benchmark.
 */
#include "calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN      100 /* calls per chain, then back to the start */
#define REPEAT     5
#define START_USEC (1767225600LL * 1000000) /* 2026-01-01 00:00 UTC */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per call; *end receives the last time of a chain. */
static double run(const struct cal_expr *e, const struct tz_zone *z, int n,
		  int64_t *end)
{
	int64_t t = START_USEC;
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		if (i % CHAIN == 0) {
			if (i)
				*end = t;
			t = START_USEC;
		}
		t = cal_next(e, z, START_USEC, t);
	}
	if (n <= CHAIN)
		*end = t;
	return (now_ns() - t0) / n;
}

static int bench_one(const char *text, const char *zname,
		     const struct tz_zone *z, int n)
{
	char err[CAL_ERR_MAX];
	struct cal_expr *e;
	int64_t end = 0;

	if (cal_parse(text, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", text, err);
		return -1;
	}
	/* The best of REPEAT runs: the machine may be shared. */
	double ns = run(e, z, n / 10, &end);
	for (int i = 0; i < REPEAT; i++) {
		double r = run(e, z, n, &end);
		ns = i == 0 || r < ns ? r : ns;
	}
	printf("%s\t%s\t%.1f\t%lld\n", zname, text, ns,
	       (long long)(end / 1000000));
	cal_expr_free(e);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const zones[] = { "UTC", "Europe/Berlin" };
	int n = argc > 2 ? atoi(argv[2]) : 200000;
	char err[CAL_ERR_MAX], line[256];
	FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;

	if (!f) {
		fprintf(stderr, "usage: bench_next EXPRS_FILE [CALLS]\n");
		return 2;
	}
	for (size_t zi = 0; zi < sizeof(zones) / sizeof(zones[0]); zi++) {
		struct tz_zone *z;
		if (tz_zone_load(zones[zi], &z, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		rewind(f);
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] && line[0] != '#' &&
			    bench_one(line, zones[zi], z, n) < 0)
				return 1;
		}
		tz_zone_unref(z);
	}
	fclose(f);
	return 0;
}

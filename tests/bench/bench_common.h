/*
 * bench_common.h - what loop_bench.c (loopd) and uv_bench.c (libuv) share.
 *
 * The two must run the same workloads, read from the same environment, and
 * print the same result line for run.sh to put side by side, so that part
 * is written once, here: the workload and pattern names, the tracker's
 * sizes, the clocks, the timer patterns, the parsing of LOOPD_BENCH,
 * LOOPD_BENCH_PATTERN and LOOPD_BENCH_N, the counting of callbacks and the
 * result line.  Each file keeps what differs: its loop, its handles and how
 * it reports errors.
 *
 * Everything is static: each benchmark is one translation unit.
 */
#ifndef LOOPD_BENCH_COMMON_H
#define LOOPD_BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum workload {
	WL_TIMERS,
	WL_IMMEDIATES,
	WL_POOL,
	WL_PINGPONG
};
enum pattern {
	PAT_NONE,
	PAT_SPREAD,
	PAT_SHUFFLE,
	PAT_ZERO,
	PAT_SAME
};

static const char *const workload_names[] = {
	[WL_TIMERS] = "timers",
	[WL_IMMEDIATES] = "immediates",
	[WL_POOL] = "pool",
	[WL_PINGPONG] = "pingpong",
};
static const char *const pattern_names[] = {
	[PAT_NONE] = "-",    [PAT_SPREAD] = "spread", [PAT_SHUFFLE] = "shuffle",
	[PAT_ZERO] = "zero", [PAT_SAME] = "same",
};
/* The tracker's sizes, used when LOOPD_BENCH_N is not set. */
static const uint64_t default_n[] = {
	[WL_TIMERS] = 1000000,
	[WL_IMMEDIATES] = 10000000,
	[WL_POOL] = 100000,
	[WL_PINGPONG] = 100000,
};

/* The format of a bad workload's message, for the values of LOOPD_BENCH,
 * LOOPD_BENCH_PATTERN and LOOPD_BENCH_N (struct bench_env). */
#define BENCH_BAD_WORKLOAD                                         \
	"bad workload: LOOPD_BENCH=%s LOOPD_BENCH_PATTERN=%s "     \
	"LOOPD_BENCH_N=%s (want timers|immediates|pool|pingpong, " \
	"spread|shuffle|zero|same, a positive count)"

/* One measurement: the workload and what is measured of it. */
struct bench_run {
	enum workload wl;
	enum pattern pat;
	uint64_t n;
	uint64_t done;        /* callbacks run so far */
	uint64_t errors;      /* failed jobs (status != 0) */
	uint64_t max_timeout; /* ms, the latest a timer was asked to fire */
	/* Monotonic ns: workload start, end of starting, first and last
	 * callback. */
	uint64_t t0, t1, t_first, t_last;
	double cpu0;
	long base_kb;
};

/* The environment of a workload as it was set, "" when unset: for the
 * message (BENCH_BAD_WORKLOAD) when it is bad. */
struct bench_env {
	const char *wl, *pat, *n;
};

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User+sys seconds of the process; *maxrss_kb gets its peak RSS. */
static inline double cpu_s(long *maxrss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*maxrss_kb = ru.ru_maxrss;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline int lookup(const char *const *names, size_t count, const char *s)
{
	for (size_t i = 0; i < count; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* The four timer patterns of the tracker, for the i-th timer. */
static inline uint64_t pattern_timeout(enum pattern pat, uint64_t i)
{
	switch (pat) {
	case PAT_SPREAD: return 1 + i / 1000;
	case PAT_SHUFFLE: return 1 + (i * 7919) % 1000;
	case PAT_ZERO: return 0;
	case PAT_SAME: return 1000;
	case PAT_NONE: break;
	}
	return 0;
}

static inline double secs(uint64_t from, uint64_t to)
{
	return (double)(to - from) / 1e9;
}

/* Reads the workload (LOOPD_BENCH, LOOPD_BENCH_PATTERN, LOOPD_BENCH_N) into
 * r->wl, r->pat and r->n; 0, or -1 when it is bad, with *env for the
 * caller's message. */
static inline int bench_parse_env(struct bench_run *r, struct bench_env *env)
{
	const char *wl = getenv("LOOPD_BENCH");
	const char *pat = getenv("LOOPD_BENCH_PATTERN");
	const char *n = getenv("LOOPD_BENCH_N");
	int i;

	*env = (struct bench_env){ wl ? wl : "", pat ? pat : "", n ? n : "" };
	i = lookup(workload_names, COUNT(workload_names), wl ? wl : "timers");
	if (i < 0)
		return -1;
	r->wl = (enum workload)i;
	r->pat = PAT_NONE;
	if (r->wl == WL_TIMERS) {
		i = lookup(pattern_names, COUNT(pattern_names),
			   pat ? pat : "spread");
		if (i <= PAT_NONE)
			return -1;
		r->pat = (enum pattern)i;
	}
	r->n = default_n[r->wl];
	if (n && *n) {
		char *end;

		errno = 0;
		r->n = strtoull(n, &end, 10);
		if (errno || *end || r->n == 0 || n[0] == '-')
			return -1;
	}
	return 0;
}

/* Counts a callback, stamping the first; 1 when it was the last one. */
static inline int bench_count(struct bench_run *r)
{
	if (r->done++ == 0)
		r->t_first = mono_ns();
	return r->done >= r->n;
}

/* Runs in the last callback: stamps the end of the run and prints the
 * result line, impl its first word and extra (may be "") just before its
 * errors=, the line run.sh and node_bench.js agree on. */
static inline void bench_print_result(struct bench_run *r, const char *impl,
				      const char *extra)
{
	long rss_kb;
	double cpu;

	r->t_last = mono_ns();
	cpu = cpu_s(&rss_kb) - r->cpu0;
	printf("%s %s %s n=%" PRIu64 " start_s=%.4f run_s=%.4f wall_s=%.4f "
	       "fire_s=%.4f cpu_s=%.3f rss_mb=%.1f base_mb=%.1f",
	       impl, workload_names[r->wl], pattern_names[r->pat], r->n,
	       secs(r->t0, r->t1), secs(r->t1, r->t_last),
	       secs(r->t0, r->t_last), secs(r->t_first, r->t_last), cpu,
	       (double)rss_kb / 1024, (double)r->base_kb / 1024);
	switch (r->wl) {
	case WL_TIMERS:
		/* How far behind "started + the longest timeout" the last
		 * timer fired: the last timer of the longest timeout is
		 * started at the very end of starting, for every pattern. */
		printf(" late_ms=%.2f", (double)(r->t_last - r->t1) / 1e6 -
						(double)r->max_timeout);
		break;
	case WL_IMMEDIATES:
		/* From the first callback, so the startup between the start
		 * of the workload and the first turn is not counted as
		 * turns. */
		printf(" ns_per_turn=%.1f",
		       r->n > 1 ? (double)(r->t_last - r->t_first) /
					  (double)(r->n - 1)
				: 0.0);
		break;
	case WL_PINGPONG:
		printf(" us_per_trip=%.3f",
		       r->n > 1 ? (double)(r->t_last - r->t_first) / 1e3 /
					  (double)(r->n - 1)
				: 0.0);
		break;
	case WL_POOL: break;
	}
	printf("%s errors=%" PRIu64 "\n", extra, r->errors);
	/* loopd may leave through exit paths that skip stdio's flush. */
	fflush(stdout);
}

#endif /* LOOPD_BENCH_COMMON_H */

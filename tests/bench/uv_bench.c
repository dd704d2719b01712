/*
 * uv_bench.c - the loop benchmarks of the tracker issue, against libuv.
 *
 * The peer of loop_bench.c: the same workloads, read from the same
 * environment variables (LOOPD_BENCH, LOOPD_BENCH_PATTERN, LOOPD_BENCH_N),
 * and the same result line with "libuv" as its first word, so that run.sh
 * puts the two side by side.  The pool is libuv's own threadpool, sized by
 * UV_THREADPOOL_SIZE, which run.sh sets to loopd's --threads.
 *
 * Measurement points match loop_bench.c: t0 just before the first handle
 * is made, t1 after the last, the first and the last callback.  Memory a
 * libuv user must provide (the uv_timer_t and uv_work_t arrays) is
 * allocated between t0 and t1, as loopd allocates its handles inside
 * api->timer and api->submit.
 *
 * `uv_bench --version` prints the libuv it runs with.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

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
static const uint64_t default_n[] = {
	[WL_TIMERS] = 1000000,
	[WL_IMMEDIATES] = 10000000,
	[WL_POOL] = 100000,
	[WL_PINGPONG] = 100000,
};

struct bench {
	uv_loop_t *loop;
	enum workload wl;
	enum pattern pat;
	uint64_t n;
	uint64_t done;
	uint64_t errors;
	uint64_t max_timeout;
	uint64_t t0, t1, t_first, t_last;
	double cpu0;
	long base_kb;
	int reported;
	/* Per workload: what a libuv user owns. */
	uv_timer_t *timers;
	uv_work_t *work;
	uv_check_t check;
	uv_idle_t idle;
};

static struct bench bench;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(long *maxrss_kb)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*maxrss_kb = ru.ru_maxrss;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int lookup(const char *const *names, size_t count, const char *s)
{
	for (size_t i = 0; i < count; i++)
		if (names[i] && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static uint64_t pattern_timeout(enum pattern pat, uint64_t i)
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

static double secs(uint64_t from, uint64_t to)
{
	return (double)(to - from) / 1e9;
}

/* The same line as loop_bench.c's, first word "libuv". */
static void bench_report(struct bench *b)
{
	long rss_kb;
	double cpu;

	b->t_last = mono_ns();
	cpu = cpu_s(&rss_kb) - b->cpu0;
	b->reported = 1;
	printf("libuv %s %s n=%" PRIu64 " start_s=%.4f run_s=%.4f wall_s=%.4f "
	       "fire_s=%.4f cpu_s=%.3f rss_mb=%.1f base_mb=%.1f",
	       workload_names[b->wl], pattern_names[b->pat], b->n,
	       secs(b->t0, b->t1), secs(b->t1, b->t_last),
	       secs(b->t0, b->t_last), secs(b->t_first, b->t_last), cpu,
	       (double)rss_kb / 1024, (double)b->base_kb / 1024);
	switch (b->wl) {
	case WL_TIMERS:
		printf(" late_ms=%.2f", (double)(b->t_last - b->t1) / 1e6 -
						(double)b->max_timeout);
		break;
	case WL_IMMEDIATES:
		printf(" ns_per_turn=%.1f",
		       b->n > 1 ? (double)(b->t_last - b->t_first) /
					  (double)(b->n - 1)
				: 0.0);
		break;
	case WL_PINGPONG:
		printf(" us_per_trip=%.3f",
		       b->n > 1 ? (double)(b->t_last - b->t_first) / 1e3 /
					  (double)(b->n - 1)
				: 0.0);
		break;
	case WL_POOL: break;
	}
	printf(" errors=%" PRIu64 "\n", b->errors);
	fflush(stdout);
}

static int bench_tick(struct bench *b)
{
	if (b->done++ == 0)
		b->t_first = mono_ns();
	if (b->done < b->n)
		return 0;
	bench_report(b);
	return 1;
}

static void on_timer(uv_timer_t *t)
{
	/* A one-shot timer is inactive once it fired, so it no longer keeps
	 * the loop alive; no uv_close needed for uv_run to return. */
	bench_tick(t->data);
}

static int start_timers(struct bench *b)
{
	b->timers = malloc(b->n * sizeof *b->timers);
	if (!b->timers)
		return UV_ENOMEM;
	/* libuv counts a new timer from the loop's cached time; refresh it
	 * so the timers count from the start of the run, as in loopd. */
	uv_update_time(b->loop);
	for (uint64_t i = 0; i < b->n; i++) {
		uint64_t ms = pattern_timeout(b->pat, i);
		uv_timer_t *t = &b->timers[i];
		int rc;

		uv_timer_init(b->loop, t);
		t->data = b;
		rc = uv_timer_start(t, on_timer, ms, 0);
		if (rc < 0)
			return rc;
		if (ms > b->max_timeout)
			b->max_timeout = ms;
	}
	return 0;
}

/*
 * The immediate chain.  libuv has no setImmediate; Node builds it from a
 * uv_check handle, whose callback runs the queued immediates in the check
 * phase, and a uv_idle handle, started while immediates are queued, whose
 * only effect is a zero poll timeout.  That pair is the most faithful peer
 * of loopd's check phase, so it is used here: the check callback is one
 * immediate, and "queueing the next" is leaving both handles started.  A
 * re-armed uv_idle alone would run in the idle phase, before poll, which
 * is not where setImmediate runs.
 */
static void on_idle(uv_idle_t *h)
{
	(void)h;
}

static void on_check(uv_check_t *h)
{
	struct bench *b = h->data;

	if (!bench_tick(b))
		return;
	uv_check_stop(&b->check);
	uv_idle_stop(&b->idle);
}

static int start_immediates(struct bench *b)
{
	uv_check_init(b->loop, &b->check);
	uv_idle_init(b->loop, &b->idle);
	b->check.data = b;
	uv_check_start(&b->check, on_check);
	return uv_idle_start(&b->idle, on_idle);
}

/* Nothing, so what is measured is the hand-off to a worker and back. */
static void noop_work(uv_work_t *w)
{
	(void)w;
}

static void on_work_done(uv_work_t *w, int status)
{
	struct bench *b = w->data;

	if (status != 0)
		b->errors++;
	bench_tick(b);
}

static int start_pool(struct bench *b)
{
	b->work = malloc(b->n * sizeof *b->work);
	if (!b->work)
		return UV_ENOMEM;
	for (uint64_t i = 0; i < b->n; i++) {
		int rc;

		b->work[i].data = b;
		rc = uv_queue_work(b->loop, &b->work[i], noop_work,
				   on_work_done);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One request in flight: its after_work queues it again. */
static void on_pong(uv_work_t *w, int status)
{
	struct bench *b = w->data;
	int rc;

	if (status != 0)
		b->errors++;
	if (bench_tick(b))
		return;
	rc = uv_queue_work(b->loop, w, noop_work, on_pong);
	if (rc < 0) {
		fprintf(stderr, "uv_bench: uv_queue_work: %s\n",
			uv_strerror(rc));
		b->errors++;
	}
}

static int start_pingpong(struct bench *b)
{
	b->work = malloc(sizeof *b->work);
	if (!b->work)
		return UV_ENOMEM;
	b->work->data = b;
	return uv_queue_work(b->loop, b->work, noop_work, on_pong);
}

static int bench_parse(struct bench *b)
{
	const char *wl = getenv("LOOPD_BENCH");
	const char *pat = getenv("LOOPD_BENCH_PATTERN");
	const char *n = getenv("LOOPD_BENCH_N");
	int i;

	i = lookup(workload_names, COUNT(workload_names), wl ? wl : "timers");
	if (i < 0)
		goto bad;
	b->wl = (enum workload)i;
	b->pat = PAT_NONE;
	if (b->wl == WL_TIMERS) {
		i = lookup(pattern_names, COUNT(pattern_names),
			   pat ? pat : "spread");
		if (i <= PAT_NONE)
			goto bad;
		b->pat = (enum pattern)i;
	}
	b->n = default_n[b->wl];
	if (n && *n) {
		char *end;

		b->n = strtoull(n, &end, 10);
		if (*end || b->n == 0 || n[0] == '-')
			goto bad;
	}
	return 0;
bad:
	fprintf(stderr,
		"uv_bench: bad workload: LOOPD_BENCH=%s LOOPD_BENCH_PATTERN=%s "
		"LOOPD_BENCH_N=%s (want timers|immediates|pool|pingpong, "
		"spread|shuffle|zero|same, a positive count)\n",
		wl ? wl : "", pat ? pat : "", n ? n : "");
	return -1;
}

int main(int argc, char **argv)
{
	struct bench *b = &bench;
	int rc = 0;

	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("libuv %s\n", uv_version_string());
		return 0;
	}
	if (bench_parse(b) < 0)
		return 2;
	b->loop = uv_default_loop();

	b->cpu0 = cpu_s(&b->base_kb);
	b->t0 = mono_ns();
	switch (b->wl) {
	case WL_TIMERS: rc = start_timers(b); break;
	case WL_IMMEDIATES: rc = start_immediates(b); break;
	case WL_POOL: rc = start_pool(b); break;
	case WL_PINGPONG: rc = start_pingpong(b); break;
	}
	b->t1 = mono_ns();
	if (rc < 0) {
		fprintf(stderr, "uv_bench: starting %s: %s\n",
			workload_names[b->wl], uv_strerror(rc));
		return 1;
	}
	uv_run(b->loop, UV_RUN_DEFAULT);
	if (!b->reported) {
		fprintf(stderr,
			"uv_bench: loop ended after %" PRIu64 " of %" PRIu64
			" callbacks\n",
			b->done, b->n);
		return 1;
	}
	/* The fired timers are never uv_close()d, so uv_loop_close would
	 * say EBUSY; the process ends here anyway. */
	free(b->timers);
	free(b->work);
	return b->errors ? 1 : 0;
}

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

#include <uv.h>

#include "bench_common.h"

struct bench {
	uv_loop_t *loop;
	struct bench_run run;
	int reported;
	/* Per workload: what a libuv user owns. */
	uv_timer_t *timers;
	uv_work_t *work;
	uv_check_t check;
	uv_idle_t idle;
};

static struct bench bench;

/* The same line as loop_bench.c's, first word "libuv". */
static void bench_report(struct bench *b)
{
	b->reported = 1;
	bench_print_result(&b->run, "libuv", "");
}

static int bench_tick(struct bench *b)
{
	if (!bench_count(&b->run))
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
	b->timers = malloc(b->run.n * sizeof *b->timers);
	if (!b->timers)
		return UV_ENOMEM;
	/* libuv counts a new timer from the loop's cached time; refresh it
	 * so the timers count from the start of the run, as in loopd. */
	uv_update_time(b->loop);
	for (uint64_t i = 0; i < b->run.n; i++) {
		uint64_t ms = pattern_timeout(b->run.pat, i);
		uv_timer_t *t = &b->timers[i];
		int rc;

		uv_timer_init(b->loop, t);
		t->data = b;
		rc = uv_timer_start(t, on_timer, ms, 0);
		if (rc < 0)
			return rc;
		if (ms > b->run.max_timeout)
			b->run.max_timeout = ms;
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
		b->run.errors++;
	bench_tick(b);
}

static int start_pool(struct bench *b)
{
	b->work = malloc(b->run.n * sizeof *b->work);
	if (!b->work)
		return UV_ENOMEM;
	for (uint64_t i = 0; i < b->run.n; i++) {
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
		b->run.errors++;
	if (bench_tick(b))
		return;
	rc = uv_queue_work(b->loop, w, noop_work, on_pong);
	if (rc < 0) {
		fprintf(stderr, "uv_bench: uv_queue_work: %s\n",
			uv_strerror(rc));
		b->run.errors++;
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
	struct bench_env env;

	if (bench_parse_env(&b->run, &env) < 0) {
		fprintf(stderr, "uv_bench: " BENCH_BAD_WORKLOAD "\n", env.wl,
			env.pat, env.n);
		return -1;
	}
	return 0;
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

	b->run.cpu0 = cpu_s(&b->run.base_kb);
	b->run.t0 = mono_ns();
	switch (b->run.wl) {
	case WL_TIMERS: rc = start_timers(b); break;
	case WL_IMMEDIATES: rc = start_immediates(b); break;
	case WL_POOL: rc = start_pool(b); break;
	case WL_PINGPONG: rc = start_pingpong(b); break;
	}
	b->run.t1 = mono_ns();
	if (rc < 0) {
		fprintf(stderr, "uv_bench: starting %s: %s\n",
			workload_names[b->run.wl], uv_strerror(rc));
		return 1;
	}
	uv_run(b->loop, UV_RUN_DEFAULT);
	if (!b->reported) {
		fprintf(stderr,
			"uv_bench: loop ended after %" PRIu64 " of %" PRIu64
			" callbacks\n",
			b->run.done, b->run.n);
		return 1;
	}
	/* The fired timers are never uv_close()d, so uv_loop_close would
	 * say EBUSY; the process ends here anyway. */
	free(b->timers);
	free(b->work);
	return b->run.errors ? 1 : 0;
}

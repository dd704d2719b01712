/*
 * loop_bench.c - the loop benchmarks of the tracker issue, as a loopd plugin.
 *
 * One load of this plugin runs one workload, read from the environment in
 * init because run.sh starts a fresh daemon for every measurement:
 *
 *   LOOPD_BENCH          timers | immediates | pool | pingpong
 *   LOOPD_BENCH_PATTERN  spread | shuffle | zero | same   (timers only)
 *   LOOPD_BENCH_N        how many timers, turns, jobs or round trips
 *   LOOPD_BENCH_WATCH=1  also keep one idle fd (a pipe nobody writes)
 *                        watched while the workload runs
 *
 * The watch exists because loopd may skip the kernel on a zero-timeout
 * poll while no fd is watched, where libuv and Node make an epoll_wait(0)
 * every turn; with the watch the immediates chain measures a turn that
 * polls the kernel, like theirs.
 *
 * The work uses nothing but the host table, every handle it makes is a
 * one-shot, and the watch is closed after the last callback, so then
 * nothing referenced is left and `loopd --no-socket` exits by itself.  The last callback prints one
 * line on stdout, in the format uv_bench.c and node_bench.js print too:
 *
 *   loopd timers shuffle n=1000000 start_s=... run_s=... wall_s=... ...
 *
 * Times are CLOCK_MONOTONIC, read only at the edges (never per callback,
 * which would cost as much as what is measured).  cpu_s is user+sys of the
 * whole process (worker threads included) between the start of the
 * workload and its last callback, so the daemon's own startup is not in
 * it; rss_mb is the process peak (ru_maxrss), base_mb the peak just
 * before the workload started.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loopd/plugin.h>

#include "bench_common.h"

struct bench {
	loopd_plugin *p;
	const struct loopd_api *api;
	struct bench_run run;
	int failed; /* a registration failed: print no result */
	/* LOOPD_BENCH_WATCH: the pipe and the watch on its read end. */
	int watch;
	int pipe_fd[2];
	loopd_id watch_id;
};

/* One plugin instance per daemon, so the state can be static. */
static struct bench bench;

/* Runs in the last callback: the result line. */
static void bench_report(struct bench *b)
{
	if (b->failed)
		return; /* run.sh reports the missing line, loopd logged why */
	bench_print_result(&b->run, "loopd", b->watch ? " watch=1" : "");
}

/* Never called: nobody writes to the pipe. */
static void on_idle_fd(loopd_plugin *p, void *ud, int fd, int revents)
{
	(void)p;
	(void)ud;
	(void)fd;
	(void)revents;
}

static void on_watch_closed(loopd_plugin *p, void *ud)
{
	struct bench *b = ud;

	(void)p;
	close(b->pipe_fd[0]);
	close(b->pipe_fd[1]);
	b->pipe_fd[0] = b->pipe_fd[1] = -1;
}

/* The watch would keep the loop alive: it goes once the work is done. */
static void bench_unwatch(struct bench *b)
{
	if (b->watch_id <= 0)
		return;
	b->api->close(b->p, b->watch_id, on_watch_closed);
	b->watch_id = 0;
}

/* A registration failed: no result line (run.sh reports its absence), and
 * nothing left that would keep the loop alive. */
static void bench_fail(struct bench *b, const char *what, loopd_id err)
{
	b->failed = 1;
	b->api->log(b->p, LOOPD_LOG_ERR, "%s failed after %" PRIu64 ": %s",
		    what, b->run.done, strerror((int)-err));
	bench_unwatch(b);
}

/* 0 or -errno (logged). */
static int bench_watch(struct bench *b)
{
	if (pipe2(b->pipe_fd, O_CLOEXEC | O_NONBLOCK) < 0) {
		int err = errno;

		b->api->log(b->p, LOOPD_LOG_ERR, "pipe2: %s", strerror(err));
		return -err;
	}
	b->watch_id =
		b->api->watch(b->p, b->pipe_fd[0], LOOPD_READ, on_idle_fd, b);
	if (b->watch_id < 0) {
		int err = (int)b->watch_id;

		b->watch_id = 0;
		bench_fail(b, "watch", err);
		close(b->pipe_fd[0]);
		close(b->pipe_fd[1]);
		b->pipe_fd[0] = b->pipe_fd[1] = -1;
		return err;
	}
	return 0;
}

/* Counts a callback; returns 1 when it was the last one. */
static int bench_tick(struct bench *b)
{
	if (!bench_count(&b->run))
		return 0;
	bench_report(b);
	bench_unwatch(b);
	return 1;
}

static void on_timer(loopd_plugin *p, void *ud)
{
	(void)p;
	bench_tick(ud);
}

static int start_timers(struct bench *b)
{
	for (uint64_t i = 0; i < b->run.n; i++) {
		uint64_t ms = pattern_timeout(b->run.pat, i);
		loopd_id id = b->api->timer(b->p, ms, 0, on_timer, b);

		if (id < 0) {
			bench_fail(b, "timer", id);
			return (int)id;
		}
		if (ms > b->run.max_timeout)
			b->run.max_timeout = ms;
	}
	return 0;
}

/* Each immediate queues the next, so there is one per loop iteration:
 * an immediate queued in the check phase runs in the next one. */
static void on_immediate(loopd_plugin *p, void *ud)
{
	struct bench *b = ud;
	loopd_id id;

	if (bench_tick(b))
		return;
	id = b->api->immediate(p, on_immediate, b);
	if (id < 0)
		bench_fail(b, "immediate", id);
}

/* The blocking job: nothing, so what is measured is the pool's hand-off
 * to a worker and back to the loop. */
static int noop_work(void *ud)
{
	(void)ud;
	return 0;
}

static void on_job_done(loopd_plugin *p, void *ud, int status)
{
	struct bench *b = ud;

	(void)p;
	if (status != 0)
		b->run.errors++;
	bench_tick(b);
}

static int start_pool(struct bench *b)
{
	for (uint64_t i = 0; i < b->run.n; i++) {
		loopd_id id = b->api->submit(b->p, noop_work, on_job_done, b);

		if (id < 0) {
			bench_fail(b, "submit", id);
			return (int)id;
		}
	}
	return 0;
}

/* One job in flight at a time: its done submits the next. */
static void on_pong(loopd_plugin *p, void *ud, int status)
{
	struct bench *b = ud;
	loopd_id id;

	if (status != 0)
		b->run.errors++;
	if (bench_tick(b))
		return;
	id = b->api->submit(p, noop_work, on_pong, b);
	if (id < 0)
		bench_fail(b, "submit", id);
}

/* Reads the workload from the environment; 0 or -EINVAL (logged). */
static int bench_parse(struct bench *b)
{
	const char *w = getenv("LOOPD_BENCH_WATCH");
	struct bench_env env;

	if (bench_parse_env(&b->run, &env) < 0) {
		b->api->log(b->p, LOOPD_LOG_ERR, BENCH_BAD_WORKLOAD, env.wl,
			    env.pat, env.n);
		return -EINVAL;
	}
	b->watch = w && strcmp(w, "1") == 0;
	return 0;
}

static int bench_init(loopd_plugin *p, const struct loopd_api *api,
		      void **state)
{
	struct bench *b = &bench;
	loopd_id id;
	int rc = 0;

	*b = (struct bench){ 0 };
	b->p = p;
	b->api = api;
	b->pipe_fd[0] = b->pipe_fd[1] = -1;
	*state = b;
	if (api->abi_major != LOOPD_ABI_MAJOR)
		return -EPROTO;
	rc = bench_parse(b);
	if (rc < 0)
		return rc;
	if (b->watch && (rc = bench_watch(b)) < 0)
		return rc;

	b->run.cpu0 = cpu_s(&b->run.base_kb);
	b->run.t0 = mono_ns();
	switch (b->run.wl) {
	case WL_TIMERS: rc = start_timers(b); break;
	case WL_IMMEDIATES:
		id = api->immediate(p, on_immediate, b);
		if (id < 0)
			bench_fail(b, "immediate", id);
		rc = id < 0 ? (int)id : 0;
		break;
	case WL_POOL: rc = start_pool(b); break;
	case WL_PINGPONG:
		id = api->submit(p, noop_work, on_pong, b);
		if (id < 0)
			bench_fail(b, "submit", id);
		rc = id < 0 ? (int)id : 0;
		break;
	}
	b->run.t1 = mono_ns();
	return rc;
}

static void bench_shutdown(loopd_plugin *p, void *state)
{
	struct bench *b = state;

	/* Only the pipe is left if the run was cut short (the host closed
	 * the watch while draining, without on_close). */
	if (b->pipe_fd[0] >= 0) {
		close(b->pipe_fd[0]);
		close(b->pipe_fd[1]);
	}
	if (b->run.done < b->run.n)
		b->api->log(p, LOOPD_LOG_WARN,
			    "unloaded after %" PRIu64 " of %" PRIu64
			    " callbacks",
			    b->run.done, b->run.n);
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "loop_bench",
	.version = "1",
	.description =
		"loop benchmarks: timers, immediates, pool (tests/bench)",
	.init = bench_init,
	.shutdown = bench_shutdown,
};

LOOPD_PLUGIN(desc)

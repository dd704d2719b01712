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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <loopd/plugin.h>

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

struct bench {
	loopd_plugin *p;
	const struct loopd_api *api;
	enum workload wl;
	enum pattern pat;
	uint64_t n;
	uint64_t done;        /* callbacks run so far */
	uint64_t errors;      /* failed jobs (status != 0) */
	uint64_t max_timeout; /* ms, the latest a timer was asked to fire */
	int failed;           /* a registration failed: print no result */
	/* Monotonic ns: workload start, end of starting, first and last
	 * callback. */
	uint64_t t0, t1, t_first, t_last;
	double cpu0;
	long base_kb;
	/* LOOPD_BENCH_WATCH: the pipe and the watch on its read end. */
	int watch;
	int pipe_fd[2];
	loopd_id watch_id;
};

/* One plugin instance per daemon, so the state can be static. */
static struct bench bench;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User+sys seconds of the process; *maxrss_kb gets its peak RSS. */
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

/* The four timer patterns of the tracker, for the i-th timer. */
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

/* Runs in the last callback: the result line. */
static void bench_report(struct bench *b)
{
	long rss_kb;
	double cpu;

	b->t_last = mono_ns();
	cpu = cpu_s(&rss_kb) - b->cpu0;
	if (b->failed)
		return; /* run.sh reports the missing line, loopd logged why */
	printf("loopd %s %s n=%" PRIu64 " start_s=%.4f run_s=%.4f wall_s=%.4f "
	       "fire_s=%.4f cpu_s=%.3f rss_mb=%.1f base_mb=%.1f",
	       workload_names[b->wl], pattern_names[b->pat], b->n,
	       secs(b->t0, b->t1), secs(b->t1, b->t_last),
	       secs(b->t0, b->t_last), secs(b->t_first, b->t_last), cpu,
	       (double)rss_kb / 1024, (double)b->base_kb / 1024);
	switch (b->wl) {
	case WL_TIMERS:
		/* How far behind "started + the longest timeout" the last
		 * timer fired: the last timer of the longest timeout is
		 * started at the very end of starting, for every pattern. */
		printf(" late_ms=%.2f", (double)(b->t_last - b->t1) / 1e6 -
						(double)b->max_timeout);
		break;
	case WL_IMMEDIATES:
		/* From the first callback, so the daemon's startup between
		 * init and the first turn is not counted as turns. */
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
	if (b->watch)
		printf(" watch=1");
	printf(" errors=%" PRIu64 "\n", b->errors);
	/* loopd may leave through exit paths that skip stdio's flush. */
	fflush(stdout);
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
		    what, b->done, strerror((int)-err));
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
	if (b->done++ == 0)
		b->t_first = mono_ns();
	if (b->done < b->n)
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
	for (uint64_t i = 0; i < b->n; i++) {
		uint64_t ms = pattern_timeout(b->pat, i);
		loopd_id id = b->api->timer(b->p, ms, 0, on_timer, b);

		if (id < 0) {
			bench_fail(b, "timer", id);
			return (int)id;
		}
		if (ms > b->max_timeout)
			b->max_timeout = ms;
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
		b->errors++;
	bench_tick(b);
}

static int start_pool(struct bench *b)
{
	for (uint64_t i = 0; i < b->n; i++) {
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
		b->errors++;
	if (bench_tick(b))
		return;
	id = b->api->submit(p, noop_work, on_pong, b);
	if (id < 0)
		bench_fail(b, "submit", id);
}

/* Reads the workload from the environment; 0 or -EINVAL (logged). */
static int bench_parse(struct bench *b)
{
	const char *wl = getenv("LOOPD_BENCH");
	const char *pat = getenv("LOOPD_BENCH_PATTERN");
	const char *n = getenv("LOOPD_BENCH_N");
	const char *w = getenv("LOOPD_BENCH_WATCH");
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
	b->watch = w && strcmp(w, "1") == 0;
	b->n = default_n[b->wl];
	if (n && *n) {
		char *end;

		errno = 0;
		b->n = strtoull(n, &end, 10);
		if (errno || *end || b->n == 0 || n[0] == '-')
			goto bad;
	}
	return 0;
bad:
	b->api->log(b->p, LOOPD_LOG_ERR,
		    "bad workload: LOOPD_BENCH=%s LOOPD_BENCH_PATTERN=%s "
		    "LOOPD_BENCH_N=%s (want timers|immediates|pool|pingpong, "
		    "spread|shuffle|zero|same, a positive count)",
		    wl ? wl : "", pat ? pat : "", n ? n : "");
	return -EINVAL;
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

	b->cpu0 = cpu_s(&b->base_kb);
	b->t0 = mono_ns();
	switch (b->wl) {
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
	b->t1 = mono_ns();
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
	if (b->done < b->n)
		b->api->log(p, LOOPD_LOG_WARN,
			    "unloaded after %" PRIu64 " of %" PRIu64
			    " callbacks",
			    b->done, b->n);
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

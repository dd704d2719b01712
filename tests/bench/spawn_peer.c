/*
 * spawn_peer.c - the peer of exec_bench.sh: a bare loop that, at each whole
 * second of CLOCK_REALTIME, posix_spawn()s N children of one program, so
 * that loopd's exec start latency (due time to child running) has a floor
 * to be read against, measured on the same machine in the same run.
 *
 * usage: spawn_peer N SECONDS STAMPFILE PROGRAM [WARMUP]
 *
 * PROGRAM is run as `PROGRAM DUE` (DUE the whole second it was due for,
 * in seconds since the epoch); exec_stamp then appends "DUE NANOSECONDS"
 * to STAMPFILE, which is every child's stdout and stderr (O_APPEND: one
 * write is one whole line).  exec_bench.sh reads the latencies from there,
 * as it reads loopd's from the runs in its database.  WARMUP (default 0)
 * more seconds come first, as loopd gets its warm-up: the window is the
 * SECONDS from window_from on.
 *
 * What the peer does is what a scheduler cannot do without: wait for the
 * due second, spawn, reap.  What loopd's exec child gets and posix_spawn
 * can express, it gets too, so the difference is loopd's own work (the
 * scheduler, the store's commit before a start, the pidfd and pipe
 * watches): its own process group, every signal at its default and none
 * blocked, stdin /dev/null, a small fresh environment.  Not: a umask,
 * a chdir, close_range (the peer has no other descriptor open), a pipe
 * per child (the children share one file), a user switch.
 *
 * SPAWN_PEER_FDS=N in the environment: the peer first opens N more
 * descriptors (O_CLOEXEC, as loopd's pidfds and pipes are), to see what
 * the descriptors a spawner holds cost each child (its clone copies the
 * table, its exec closes them): loopd holds two per child in flight.
 *
 * When a burst of spawns overruns into later seconds, the peer behaves as
 * loopd's default catch-up (`once`): the seconds gone by are counted as
 * missed and only the latest due one is spawned, late.
 *
 * Prints one line: "spawn_peer n=N seconds=S key=value...", the counts
 * and times over the warm-up and the window together, the wall and CPU
 * times over the window:
 *   window_from             the window's first due second (epoch)
 *   spawned, failed         posix_spawn calls that succeeded, failed
 *   missed                  children not spawned (N per second gone by)
 *   spawn_p50_us, _p99, _max  one posix_spawn call (the parent is held
 *                           until the child has exec'd: clone + exec)
 *   burst_p50_ms, _max      the N spawns of one second, first to last
 *   wall_s, cpu_s           from the window's first due second to the
 *                           last reap; cpu_s is the peer's own user + sys
 *   children_cpu_s          user + sys of the children reaped meanwhile
 * Exit: 0, or 1 on a usage or setup error (with a message on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000LL

struct peer {
	long n, seconds, warmup;
	const char *prog;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	uint64_t *spawn_ns; /* one per call, for the quantiles */
	uint64_t *burst_ns; /* one per second */
	size_t nspawn, nburst;
	long spawned, failed, missed, live;
};

static char *const child_env[] = {
	"SHELL=/bin/sh",
	"HOME=/",
	"LOGNAME=bench",
	"USER=bench",
	"PATH=/usr/local/bin:/usr/bin:/bin",
	NULL,
};

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank, as daemon/hist.c: the value of rank ceil(q * n). */
static uint64_t quantile(uint64_t *v, size_t n, double q)
{
	size_t rank;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	rank = (size_t)(q * (double)n + 0.999999);
	rank = rank < 1 ? 1 : rank > n ? n : rank;
	return v[rank - 1];
}

static double cpu_of(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Reaps every exited child without blocking. */
static void reap(struct peer *p)
{
	while (p->live > 0 && waitpid(-1, NULL, WNOHANG) > 0)
		p->live--;
}

/* Reaps children as they exit until CLOCK_REALTIME reaches until_ns
 * (SIGCHLD is blocked: sigtimedwait wakes on it). */
static void wait_until(struct peer *p, int64_t until_ns)
{
	sigset_t chld;
	int64_t left;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		reap(p);
		left = until_ns - clock_ns(CLOCK_REALTIME);
		if (left <= 0)
			return;
		if (p->live == 0) {
			struct timespec ts = { (time_t)(until_ns / NS),
					       (long)(until_ns % NS) };
			while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME,
					       &ts, NULL) == EINTR)
				;
			return;
		}
		struct timespec to = { (time_t)(left / NS), (long)(left % NS) };
		sigtimedwait(&chld, NULL, &to);
	}
}

/* The N children of one due second. */
static void burst(struct peer *p, int64_t due_s)
{
	char tag[24];
	char *argv[] = { (char *)p->prog, tag, NULL };
	int64_t b0 = clock_ns(CLOCK_MONOTONIC);

	snprintf(tag, sizeof(tag), "%lld", (long long)due_s);
	for (long i = 0; i < p->n; i++) {
		int64_t t0 = clock_ns(CLOCK_MONOTONIC);
		pid_t pid;
		int e = posix_spawn(&pid, p->prog, &p->fa, &p->attr, argv,
				    child_env);

		p->spawn_ns[p->nspawn++] =
			(uint64_t)(clock_ns(CLOCK_MONOTONIC) - t0);
		if (e) {
			if (!p->failed++)
				fprintf(stderr,
					"spawn_peer: posix_spawn %s: %s\n",
					p->prog, strerror(e));
			continue;
		}
		p->spawned++;
		p->live++;
	}
	p->burst_ns[p->nburst++] = (uint64_t)(clock_ns(CLOCK_MONOTONIC) - b0);
}

static void run(struct peer *p)
{
	int64_t due = clock_ns(CLOCK_REALTIME) / NS + 1, t0_mono = 0, now_s;
	int64_t from = due + p->warmup;
	double cpu0 = 0, ccpu0 = 0;
	long ticks = 0, total = p->warmup + p->seconds;

	while (ticks < total) {
		wait_until(p, due * NS);
		if (!t0_mono && due >= from) {
			t0_mono = clock_ns(CLOCK_MONOTONIC);
			cpu0 = cpu_of(RUSAGE_SELF);
			ccpu0 = cpu_of(RUSAGE_CHILDREN);
		}
		burst(p, due);
		ticks++;
		/* Catch-up `once`: seconds wholly gone by are missed. */
		now_s = clock_ns(CLOCK_REALTIME) / NS;
		due++;
		if (now_s > due) {
			long gone = (long)(now_s - due);

			gone = gone > total - ticks ? total - ticks : gone;
			p->missed += gone * p->n;
			ticks += gone;
			due = now_s;
		}
	}
	while (p->live > 0 && waitpid(-1, NULL, 0) > 0)
		p->live--;
	printf("spawn_peer n=%ld seconds=%ld window_from=%lld spawned=%ld "
	       "failed=%ld "
	       "missed=%ld spawn_p50_us=%.0f spawn_p99_us=%.0f "
	       "spawn_max_us=%.0f burst_p50_ms=%.2f burst_max_ms=%.2f "
	       "wall_s=%.3f cpu_s=%.3f children_cpu_s=%.3f\n",
	       p->n, p->seconds, (long long)from, p->spawned, p->failed,
	       p->missed, (double)quantile(p->spawn_ns, p->nspawn, 0.5) / 1e3,
	       (double)quantile(p->spawn_ns, p->nspawn, 0.99) / 1e3,
	       (double)quantile(p->spawn_ns, p->nspawn, 1.0) / 1e3,
	       (double)quantile(p->burst_ns, p->nburst, 0.5) / 1e6,
	       (double)quantile(p->burst_ns, p->nburst, 1.0) / 1e6,
	       (double)(clock_ns(CLOCK_MONOTONIC) - t0_mono) / 1e9,
	       cpu_of(RUSAGE_SELF) - cpu0, cpu_of(RUSAGE_CHILDREN) - ccpu0);
}

/* SPAWN_PEER_FDS more descriptors, kept open for the whole run. */
static int hold_fds(void)
{
	const char *v = getenv("SPAWN_PEER_FDS");
	long n = v ? strtol(v, NULL, 10) : 0;

	for (long i = 0; i < n; i++)
		if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
			fprintf(stderr, "spawn_peer: SPAWN_PEER_FDS=%ld: %s\n",
				n, strerror(errno));
			return -1;
		}
	return 0;
}

/* posix_spawn's attributes and file actions (see the top). */
static int setup(struct peer *p, const char *stampfile)
{
	sigset_t none, all;
	int out = open(stampfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		       0644);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (out < 0 || devnull < 0) {
		fprintf(stderr, "spawn_peer: %s: %s\n",
			out < 0 ? stampfile : "/dev/null", strerror(errno));
		return -1;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&p->attr);
	posix_spawnattr_setflags(&p->attr, POSIX_SPAWN_SETPGROUP |
						   POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&p->attr, 0);
	posix_spawnattr_setsigmask(&p->attr, &none);
	posix_spawnattr_setsigdefault(&p->attr, &all);
	posix_spawn_file_actions_init(&p->fa);
	posix_spawn_file_actions_adddup2(&p->fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&p->fa, out, 1);
	posix_spawn_file_actions_adddup2(&p->fa, out, 2);
	/* Blocked, so that sigtimedwait can wait for it. */
	sigemptyset(&none);
	sigaddset(&none, SIGCHLD);
	sigprocmask(SIG_BLOCK, &none, NULL);
	return 0;
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno || *end || end == s || v < min || v > max ? -1 : v;
}

int main(int argc, char **argv)
{
	struct peer p = { 0 };

	if ((argc != 5 && argc != 6) ||
	    (p.n = arg_long(argv[1], 1, 100000)) < 0 ||
	    (p.seconds = arg_long(argv[2], 1, 86400)) < 0 ||
	    (argc == 6 && (p.warmup = arg_long(argv[5], 0, 3600)) < 0)) {
		fprintf(stderr, "usage: spawn_peer N SECONDS STAMPFILE "
				"PROGRAM [WARMUP]\n");
		return 1;
	}
	p.prog = argv[4];
	p.spawn_ns = calloc((size_t)(p.n * (p.seconds + p.warmup)),
			    sizeof(uint64_t));
	p.burst_ns = calloc((size_t)(p.seconds + p.warmup), sizeof(uint64_t));
	if (!p.spawn_ns || !p.burst_ns) {
		fprintf(stderr, "spawn_peer: out of memory\n");
		return 1;
	}
	if (setup(&p, argv[3]) < 0 || hold_fds() < 0)
		return 1;
	run(&p);
	free(p.spawn_ns);
	free(p.burst_ns);
	return 0;
}

/*
 * crash.c - the fatal-signal handler and the crash log behind plugin
 * quarantine.  See crash.h.
 *
 * The handler only reads the watchdog's atomics (the running callback's
 * plugin name is interned and never freed, so the pointer stays good) and
 * calls write(2), time(2) and raise(3).  Numbers are formatted by hand:
 * snprintf is not async-signal-safe.
 */
#include "crash.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "watchdog.h"

static char log_path[PATH_MAX];
static int log_fd = -1;
static struct watchdog *crash_wd;

#ifndef LOOPD_ASAN
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* Appends s to buf at *n (bounded), signal-safe. */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
}

static void put_num(char *buf, size_t cap, size_t *n, unsigned long long v)
{
	char d[24];
	int i = 0;
	do
		d[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < (int)sizeof(d));
	while (i > 0 && *n + 1 < cap)
		buf[(*n)++] = d[--i];
}

static void on_fatal(int sig)
{
	char msg[256], rec[128];
	size_t n = 0, r = 0;
	const char *name = NULL, *what = NULL;
	bool running = false;
	if (crash_wd) {
		running = atomic_load(&crash_wd->seq) & 1;
		name = atomic_load(&crash_wd->name);
		what = atomic_load(&crash_wd->what);
	}
	const char *signame = sigabbrev_np(sig);
	put(msg, sizeof(msg), &n, "loopd: fatal signal SIG");
	put(msg, sizeof(msg), &n, signame ? signame : "?");
	if (running && name) {
		put(msg, sizeof(msg), &n, " in plugin ");
		put(msg, sizeof(msg), &n, name);
		put(msg, sizeof(msg), &n, ", in its ");
		put(msg, sizeof(msg), &n, what ? what : "?");
		put(msg, sizeof(msg), &n, " callback");
	} else {
		put(msg, sizeof(msg), &n,
		    " in loopd itself (no plugin code "
		    "was running)");
	}
	put(msg, sizeof(msg), &n, "\n");
	(void)!write(STDERR_FILENO, msg, n);
	put_num(rec, sizeof(rec), &r, (unsigned long long)time(NULL));
	put(rec, sizeof(rec), &r, " ");
	put(rec, sizeof(rec), &r, running && name ? name : "loopd");
	put(rec, sizeof(rec), &r, "\n");
	if (log_fd >= 0)
		(void)!write(log_fd, rec, r);
	raise(sig); /* SA_RESETHAND: the default action now */
}
#endif /* LOOPD_ASAN */

int crash_init(const char *state_dir, struct watchdog *wd)
{
	if (snprintf(log_path, sizeof(log_path), "%s/crashes", state_dir) >=
	    (int)sizeof(log_path))
		return -ENAMETOOLONG;
	crash_wd = wd;
	log_fd =
		open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (log_fd < 0)
		return -errno;
#ifndef LOOPD_ASAN
	static char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	struct sigaction sa = { .sa_handler = on_fatal,
				.sa_flags = SA_ONSTACK | SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL) < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(int); i++)
		if (sigaction(fatal_signals[i], &sa, NULL) < 0)
			return -errno;
#endif
	return 0;
}

/* Calls fn for every record of the crash log: its time and name. */
static void each_record(void (*fn)(void *ctx, long long t, const char *n),
			void *ctx)
{
	FILE *f = fopen(log_path, "re");
	char line[200], name[100];
	long long t;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lld %99s", &t, name) == 2)
			fn(ctx, t, name);
	fclose(f);
}

struct scan {
	const char *name;
	long long times[64];
	size_t n;
};

static void collect(void *ctx, long long t, const char *n)
{
	struct scan *sc = ctx;
	if (strcmp(n, sc->name) != 0)
		return;
	if (sc->n == sizeof(sc->times) / sizeof(sc->times[0])) {
		memmove(sc->times, sc->times + 1,
			(sc->n - 1) * sizeof(sc->times[0]));
		sc->n--;
	}
	sc->times[sc->n++] = t;
}

bool crash_quarantined(const char *name)
{
	struct scan sc = { .name = name };
	if (!log_path[0])
		return false;
	each_record(collect, &sc);
	/* Records are in time order: any run of COUNT within the window. */
	for (size_t i = 0; i + CRASH_QUARANTINE_COUNT <= sc.n; i++)
		if (sc.times[i + CRASH_QUARANTINE_COUNT - 1] - sc.times[i] <=
		    CRASH_QUARANTINE_WINDOW_SEC)
			return true;
	return false;
}

struct keep {
	const char *drop;
	FILE *out;
};

static void copy_other(void *ctx, long long t, const char *n)
{
	struct keep *k = ctx;
	if (strcmp(n, k->drop) != 0)
		fprintf(k->out, "%lld %s\n", t, n);
}

void crash_fini(void)
{
#ifndef LOOPD_ASAN
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(int); i++)
		signal(fatal_signals[i], SIG_DFL);
#endif
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

int crash_forget(const char *name)
{
	char tmp[PATH_MAX + 8];
	if (!log_path[0])
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.new", log_path);
	struct keep k = { name, fopen(tmp, "we") };
	if (!k.out)
		return -errno;
	each_record(copy_other, &k);
	if (fclose(k.out) != 0 || rename(tmp, log_path) < 0)
		return -errno;
	/* The handler's descriptor still names the old file: reopen. */
	int fd =
		open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int old = log_fd;
		log_fd = fd;
		if (old >= 0)
			close(old);
	}
	return 0;
}

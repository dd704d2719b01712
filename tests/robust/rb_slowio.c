/*
 * rb_slowio.c - an LD_PRELOAD shim for migrate_kill.sh, which kills
 * loopd's first start (the database's creation and migration) at chosen
 * points.  It watches fsync and fdatasync (any file) and pwrite/pwrite64
 * (loopd.db* files), the calls that change what is on disk:
 *   RB_SLOWIO_LOG=FILE    each call appends "NAME FILE" there first, one
 *                         write(2): the sequence, and where a kill struck;
 *   RB_SLOWIO_KILL_AT=N   the process kills itself with SIGKILL just
 *                         before the Nth call (so the first N-1 are done);
 *   RB_SLOWIO_SYNC_MS, RB_SLOWIO_WRITE_MS   sleep that long before each
 *                         sync or write (default 0), to stretch the start
 *                         for kills from outside.
 * Test code only; nothing of loopd links it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define RB_EXPORT __attribute__((visibility("default")))

static void rb_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long rb_env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

/* The file behind fd into buf ("?" if unknown); its last component. */
static const char *rb_fd_name(int fd, char *buf, size_t n)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t r = readlink(link, buf, n - 1);
	if (r < 0)
		return "?";
	buf[r] = '\0';
	const char *slash = strrchr(buf, '/');
	return slash ? slash + 1 : buf;
}

static void rb_note(const char *what, const char *file)
{
	const char *log = getenv("RB_SLOWIO_LOG");
	char line[512];
	if (!log)
		return;
	int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int n = snprintf(line, sizeof(line), "%s %s\n", what, file);
	if (n > 0)
		(void)!write(fd, line, (size_t)n);
	close(fd);
}

static atomic_long rb_calls;

static void rb_watch(const char *what, int fd, const char *env, long dflt,
		     int only_db)
{
	char buf[4096];
	const char *file = rb_fd_name(fd, buf, sizeof(buf));
	if (only_db && strncmp(file, "loopd.db", 8) != 0)
		return;
	long n = atomic_fetch_add(&rb_calls, 1) + 1;
	if (n == rb_env_long("RB_SLOWIO_KILL_AT", 0)) {
		char tag[64];
		snprintf(tag, sizeof(tag), "killed before %s", what);
		rb_note(tag, file);
		raise(SIGKILL);
	}
	rb_note(what, file);
	long ms = rb_env_long(env, dflt);
	if (ms > 0)
		rb_sleep_ms(ms);
}

#define RB_NEXT(type, name, args)                           \
	static type(*next) args;                            \
	if (!next)                                          \
		*(void **)(&next) = dlsym(RTLD_NEXT, name); \
	if (!next) {                                        \
		errno = ENOSYS;                             \
		return -1;                                  \
	}

RB_EXPORT int fsync(int fd)
{
	RB_NEXT(int, "fsync", (int));
	rb_watch("fsync", fd, "RB_SLOWIO_SYNC_MS", 0, 0);
	return next(fd);
}

RB_EXPORT int fdatasync(int fd)
{
	RB_NEXT(int, "fdatasync", (int));
	rb_watch("fdatasync", fd, "RB_SLOWIO_SYNC_MS", 0, 0);
	return next(fd);
}

RB_EXPORT ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
	RB_NEXT(ssize_t, "pwrite", (int, const void *, size_t, off_t));
	rb_watch("pwrite", fd, "RB_SLOWIO_WRITE_MS", 0, 1);
	return next(fd, b, n, off);
}

RB_EXPORT ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
	RB_NEXT(ssize_t, "pwrite64", (int, const void *, size_t, off_t));
	rb_watch("pwrite64", fd, "RB_SLOWIO_WRITE_MS", 0, 1);
	return next(fd, b, n, off);
}

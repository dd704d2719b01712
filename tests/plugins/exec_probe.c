/*
 * exec_probe.c - a job for the exec plugin's tests: it reports the state
 * it was started in and does what the test asks, word by word:
 *
 *   fds          "fds: 0 1 2": its open descriptors
 *   stdin        "stdin: /dev/null": what fd 0 is
 *   env          "env: NAME=value", one line per variable
 *   signals      "SigBlk: ..." and "SigIgn: ..." from /proc/self/status
 *   pgid         "pgid: own" when it leads its own process group
 *   umask        "umask: 0022"
 *   cwd          "cwd: /path"
 *   uid          "uid: U gid: G groups: N"
 *   interleave N N lines each to stdout and stderr, alternating, unbuffered
 *   lines N      N lines "line 00000001\n" (13 bytes each) to stdout
 *   mib N        N MiB of 'x' lines to stdout
 *   orphan S     "orphan: PID": leaves a process behind (same group) that
 *                sleeps S s with its output on /dev/null, then exits
 *   holder S     "holder: PID": the same, keeping stdout open
 *   ignore-term  ignores SIGTERM from here on
 *   sleep S      sleeps S seconds (fractions allowed)
 *   exit N       exits with N
 *   raise N      kills itself with signal N
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void say(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(1, s, n);
		if (w <= 0)
			exit(3);
		s += w;
		n -= (size_t)w;
	}
}

static void sayf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sayf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say(buf);
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0)
		;
}

static void fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	char line[4096] = "fds:";
	if (!d) {
		say("fds: cannot open /proc/self/fd\n");
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d)) {
			strncat(line, " ", sizeof(line) - strlen(line) - 1);
			strncat(line, de->d_name,
				sizeof(line) - strlen(line) - 1);
		}
	closedir(d);
	sayf("%s\n", line);
}

static void status_lines(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "SigBlk:", 7) ||
		    !strncmp(line, "SigIgn:", 7))
			say(line);
	if (f)
		fclose(f);
}

static void leave_orphan(double s, int keep_output)
{
	pid_t pid = fork();
	if (pid != 0) {
		sayf("%s: %d\n", keep_output ? "holder" : "orphan", (int)pid);
		return;
	}
	if (!keep_output) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	nap(s);
	_exit(0);
}

static void interleave(long n)
{
	char buf[64];
	for (long i = 1; i <= n; i++) {
		int k = snprintf(buf, sizeof(buf), "out %ld\n", i);
		if (write(1, buf, (size_t)k) != k)
			exit(3);
		k = snprintf(buf, sizeof(buf), "err %ld\n", i);
		if (write(2, buf, (size_t)k) != k)
			exit(3);
	}
}

static void mib(long n)
{
	static char block[1024 * 1024];
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (i % 64 == 63) ? '\n' : 'x';
	for (long i = 0; i < n; i++) {
		size_t off = 0;
		while (off < sizeof(block)) {
			ssize_t w = write(1, block + off, sizeof(block) - off);
			if (w <= 0)
				exit(3);
			off += (size_t)w;
		}
	}
}

int main(int argc, char **argv)
{
	char buf[4096];
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i],
			   *arg = i + 1 < argc ? argv[i + 1] : "0";
		if (!strcmp(w, "fds")) {
			fds();
		} else if (!strcmp(w, "stdin")) {
			ssize_t n = readlink("/proc/self/fd/0", buf,
					     sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			sayf("stdin: %s\n", buf);
		} else if (!strcmp(w, "env")) {
			for (char **e = environ; *e; e++)
				sayf("env: %s\n", *e);
		} else if (!strcmp(w, "signals")) {
			status_lines();
		} else if (!strcmp(w, "pgid")) {
			sayf("pgid: %s\n",
			     getpgid(0) == getpid() ? "own" : "shared");
		} else if (!strcmp(w, "umask")) {
			mode_t m = umask(0);
			umask(m);
			sayf("umask: %04o\n", (unsigned)m);
		} else if (!strcmp(w, "cwd")) {
			sayf("cwd: %s\n", getcwd(buf, sizeof(buf)) ? buf : "?");
		} else if (!strcmp(w, "uid")) {
			sayf("uid: %d gid: %d groups: %d\n", (int)getuid(),
			     (int)getgid(), getgroups(0, NULL));
		} else if (!strcmp(w, "interleave")) {
			interleave(atol(arg)), i++;
		} else if (!strcmp(w, "lines")) {
			for (long k = 1, n = atol(arg); k <= n; k++)
				sayf("line %08ld\n", k);
			i++;
		} else if (!strcmp(w, "mib")) {
			mib(atol(arg)), i++;
		} else if (!strcmp(w, "orphan") || !strcmp(w, "holder")) {
			leave_orphan(atof(arg), w[0] == 'h'), i++;
		} else if (!strcmp(w, "ignore-term")) {
			signal(SIGTERM, SIG_IGN);
		} else if (!strcmp(w, "sleep")) {
			nap(atof(arg)), i++;
		} else if (!strcmp(w, "exit")) {
			exit(atoi(arg));
		} else if (!strcmp(w, "raise")) {
			signal(atoi(arg), SIG_DFL);
			raise(atoi(arg));
		} else {
			sayf("exec_probe: unknown word %s\n", w);
			return 2;
		}
	}
	return 0;
}

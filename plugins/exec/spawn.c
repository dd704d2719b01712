/*
 * spawn.c - starting a job's process, on a worker thread (see spawn.h).
 *
 * Why not posix_spawn: it cannot set the umask, nor switch users, and
 * umask() in the parent would change it for loopd's other threads while
 * they create files.  Why not fork: it copies the page tables of the whole
 * daemon for every run.  So this does what glibc's posix_spawn does inside:
 * clone(CLONE_VM | CLONE_VFORK) onto a small stack of its own, the parent
 * thread suspended until the child has exec'd or died, the child writing
 * the reason of a failure straight into the parent's memory.  That
 * suspension (0.2-3 ms, more while other children exec beside it) is why
 * exec calls this on a pool thread, not the loop's: 1,000 spawns in a row
 * held the loop for seconds (tests/bench/RESULTS.md, exec section).  Any
 * number of threads may spawn at once: each takes a child stack of its
 * own from the spawner's cache.
 *
 * The child shares loopd's memory, so it must not touch the state of the
 * C library: it uses raw system calls only.  glibc's setresuid() and
 * setgroups() would signal every thread of loopd to change their
 * credentials too; the raw calls change only the child.  It is built
 * without ASan/UBSan instrumentation: it runs on a stack they do not know.
 * All signals are blocked in the parent around clone, so no handler of
 * loopd runs in the child; the child resets every disposition to the
 * default before it unblocks them for the exec.
 *
 * CLONE_PIDFD hands back a pidfd with the pid, so no other reaper can race
 * between the two (Linux 5.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"

#define CHILD_STACK (64 * 1024)
#define PATH_USER   "/usr/local/bin:/usr/bin:/bin"
#define PATH_ROOT   "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* 16-bit uid calls on the old 32-bit ABIs; their 32-bit ones there. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

/* The kernel's sigset: one bit per signal, 1 to _NSIG - 1. */
#define KSIGSET_SIZE ((_NSIG - 1) / 8)

/* No sanitizer may touch the child's code: ThreadSanitizer's function
 * entry hooks would push onto the suspended parent's shadow stack. */
#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define CHILD_NO_TSAN __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef CHILD_NO_TSAN
#define CHILD_NO_TSAN
#endif
#if defined(__GNUC__) || defined(__clang__)
#define CHILD_CODE                                                     \
	__attribute__((no_sanitize("address", "undefined"), noinline)) \
	CHILD_NO_TSAN
#else
#define CHILD_CODE
#endif

/* Stacks kept for the next spawns: as many as spawn at once, usually the
 * pool's threads; more are unmapped after use. */
#define STACKS_KEPT 8

struct exec_spawner {
	pthread_mutex_t lock;      /* guards stacks and nstacks */
	char *stacks[STACKS_KEPT]; /* free ones: CHILD_STACK above a guard */
	size_t nstacks;
	size_t map_len, page;
	int devnull; /* O_RDONLY, O_CLOEXEC, above 2 */
};

/* What the child failed at, for the message. */
enum step {
	STEP_NONE,
	STEP_SIGNALS,
	STEP_PGID,
	STEP_GROUPS,
	STEP_GID,
	STEP_UID,
	STEP_FDS,
	STEP_CWD,
	STEP_EXEC
};

/* Shared with the child: everything is ready before the clone. */
struct child_args {
	char *const *argv, *const *envp;
	const char *path; /* PATH to search argv[0] in, if it has no '/' */
	const char *cwd;  /* the job's; else home, else / */
	const char *home;
	int devnull, out;
	int max_fd; /* for when close_range is missing */
	const struct exec_ident *id;
	/* Written by the child when it fails. */
	int step, err;
};

void exec_ident_free(struct exec_ident *id)
{
	free(id->name);
	free(id->home);
	free(id->groups);
	*id = (struct exec_ident){ 0 };
}

/* A buffer for the getpw*_r calls: their own hint, or 16 KiB. */
static size_t pw_bufsize(void)
{
	long n = sysconf(_SC_GETPW_R_SIZE_MAX);
	return n > 0 && n < 1024 * 1024 ? (size_t)n : 16384;
}

/* getpwnam_r / getpwuid_r, retried with a larger buffer on ERANGE.
 * 0 (found), -ENOENT, or -errno.  *buf is the caller's to free. */
static int pw_get(const char *name, uid_t uid, struct passwd *pw, char **buf)
{
	struct passwd *res = NULL;
	size_t n = pw_bufsize();
	int r;
	for (;;) {
		char *b = realloc(*buf, n);
		if (!b)
			return -ENOMEM;
		*buf = b;
		r = name ? getpwnam_r(name, pw, b, n, &res)
			 : getpwuid_r(uid, pw, b, n, &res);
		if (r != ERANGE || n >= 1024 * 1024)
			break;
		n *= 2;
	}
	if (r)
		return -r;
	return res ? 0 : -ENOENT;
}

int exec_ident_self(struct exec_ident *id)
{
	struct passwd pw;
	char *buf = NULL, num[16];
	*id = (struct exec_ident){ .uid = geteuid(), .gid = getegid() };
	if (pw_get(NULL, id->uid, &pw, &buf) == 0) {
		id->name = strdup(pw.pw_name);
		id->home = strdup(pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	} else {
		/* No entry (a container's uid): still a usable child. */
		snprintf(num, sizeof(num), "%u", (unsigned)id->uid);
		id->name = strdup(num);
		id->home = strdup("/");
	}
	free(buf);
	if (!id->name || !id->home) {
		exec_ident_free(id);
		return -ENOMEM;
	}
	return 0;
}

static int ident_groups(struct exec_ident *id)
{
	int n = 32;
	for (;;) {
		gid_t *g = realloc(id->groups, (size_t)n * sizeof(gid_t));
		int want = n;
		if (!g)
			return -ENOMEM;
		id->groups = g;
		if (getgrouplist(id->name, id->gid, g, &want) >= 0) {
			id->ngroups = (size_t)want;
			return 0;
		}
		if (want <= n || want > 65536)
			return -E2BIG;
		n = want;
	}
}

int exec_ident_lookup(struct exec_ident *id, const char *name, uid_t uid,
		      char *err, size_t errlen)
{
	struct passwd pw;
	char *buf = NULL;
	int r = pw_get(name, uid, &pw, &buf);
	*id = (struct exec_ident){ .change = true };
	if (r == -ENOENT && name)
		snprintf(err, errlen, "user \"%s\": no such user", name);
	else if (r == -ENOENT)
		snprintf(err, errlen,
			 "uid %u: no such user in the password database",
			 (unsigned)uid);
	else if (r < 0)
		snprintf(err, errlen, "looking up user %s: %s",
			 name ? name : "by uid", strerror(-r));
	if (r < 0) {
		free(buf);
		return r;
	}
	id->uid = pw.pw_uid;
	id->gid = pw.pw_gid;
	id->name = strdup(pw.pw_name);
	id->home = strdup(pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	free(buf);
	r = !id->name || !id->home ? -ENOMEM : ident_groups(id);
	if (r < 0) {
		snprintf(err, errlen, "groups of user %s: %s",
			 id->name ? id->name : "?", strerror(-r));
		exec_ident_free(id);
	}
	return r;
}

/* fd moved above 2 if it is 0-2 (loopd started with one closed), so the
 * child's dup3 onto 0-2 cannot clobber it. */
static int fd_above_stdio(int fd)
{
	int n;
	if (fd < 0 || fd > 2)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return n;
}

/* A child stack: CHILD_STACK bytes above a guard page (a child that
 * overran would fault, not scribble on the heap), or NULL. */
static char *stack_map(const struct exec_spawner *sp)
{
	char *m = mmap(NULL, sp->map_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (mprotect(m, sp->page, PROT_NONE) < 0) {
		munmap(m, sp->map_len);
		return NULL;
	}
	return m;
}

/* One of the cached stacks, or a new one; NULL if no memory. */
static char *stack_take(struct exec_spawner *sp)
{
	char *m = NULL;
	pthread_mutex_lock(&sp->lock);
	if (sp->nstacks)
		m = sp->stacks[--sp->nstacks];
	pthread_mutex_unlock(&sp->lock);
	return m ? m : stack_map(sp);
}

static void stack_give(struct exec_spawner *sp, char *m)
{
	pthread_mutex_lock(&sp->lock);
	if (sp->nstacks < STACKS_KEPT) {
		sp->stacks[sp->nstacks++] = m;
		m = NULL;
	}
	pthread_mutex_unlock(&sp->lock);
	if (m)
		munmap(m, sp->map_len);
}

int exec_spawner_new(struct exec_spawner **out)
{
	struct exec_spawner *sp = calloc(1, sizeof(*sp));
	long page = sysconf(_SC_PAGESIZE);
	char *first;
	if (!sp)
		return -ENOMEM;
	pthread_mutex_init(&sp->lock, NULL);
	sp->page = page > 0 ? (size_t)page : 4096;
	sp->map_len = CHILD_STACK + sp->page;
	sp->devnull = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (sp->devnull < 0) {
		int e = errno;
		exec_spawner_free(sp);
		return -e;
	}
	/* One stack now: a spawner that cannot map one fails here. */
	if (!(first = stack_map(sp))) {
		exec_spawner_free(sp);
		return -ENOMEM;
	}
	stack_give(sp, first);
	*out = sp;
	return 0;
}

void exec_spawner_free(struct exec_spawner *sp)
{
	if (!sp)
		return;
	if (sp->devnull > 0)
		close(sp->devnull);
	while (sp->nstacks)
		munmap(sp->stacks[--sp->nstacks], sp->map_len);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}

/* ---- The child: raw system calls only (see the top of the file). ---- */

CHILD_CODE static int child_fail(struct child_args *a, int step)
{
	a->step = step;
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return -1;
}

/* execve of argv[0], searched in a->path like execvp when it has no '/'.
 * Returns the errno to report (execve returned). */
CHILD_CODE static int child_exec(struct child_args *a)
{
	const char *file = a->argv[0], *p = a->path, *q;
	char buf[PATH_MAX];
	size_t flen = 0, dlen, i;
	int eacces = 0;
	for (q = file; *q; q++)
		if (*q == '/')
			p = NULL; /* a path: run it as is */
	flen = (size_t)(q - file);
	if (!p) {
		syscall(SYS_execve, file, a->argv, a->envp);
		return errno;
	}
	for (;;) {
		for (q = p; *q && *q != ':'; q++)
			;
		dlen = (size_t)(q - p);
		if (dlen + 1 + flen < sizeof(buf)) {
			for (i = 0; i < dlen; i++)
				buf[i] = p[i];
			if (!dlen) /* an empty entry: the current directory */
				buf[dlen++] = '.';
			buf[dlen] = '/';
			for (i = 0; i <= flen; i++)
				buf[dlen + 1 + i] = file[i];
			syscall(SYS_execve, buf, a->argv, a->envp);
			if (errno == EACCES)
				eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR &&
				 errno != ESTALE && errno != ENODEV &&
				 errno != ETIMEDOUT)
				return errno;
		}
		if (!*q)
			return eacces ? EACCES : ENOENT;
		p = q + 1;
	}
}

CHILD_CODE static void child_fds(struct child_args *a)
{
	if (syscall(SYS_dup3, a->devnull, 0, 0) < 0 ||
	    syscall(SYS_dup3, a->out, 1, 0) < 0 ||
	    syscall(SYS_dup3, a->out, 2, 0) < 0)
		child_fail(a, STEP_FDS);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3, ~0U, 0) == 0)
		return;
#endif
	for (int fd = 3; fd < a->max_fd; fd++)
		syscall(SYS_close, fd);
}

CHILD_CODE static void child_creds(struct child_args *a)
{
	const struct exec_ident *id = a->id;
	if (syscall(SYS_SETGROUPS, id->ngroups, id->groups) < 0)
		child_fail(a, STEP_GROUPS);
	if (syscall(SYS_SETRESGID, id->gid, id->gid, id->gid) < 0)
		child_fail(a, STEP_GID);
	if (syscall(SYS_SETRESUID, id->uid, id->uid, id->uid) < 0)
		child_fail(a, STEP_UID);
}

CHILD_CODE static int child_main(void *arg)
{
	/* A kernel sigaction of all zeroes is SIG_DFL, no flags, no mask,
	 * whatever the architecture's field order: room for any of them. */
	static const unsigned long dfl[8];
	unsigned long none[2] = { 0, 0 };
	struct child_args *a = arg;
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, dfl, NULL, KSIGSET_SIZE);
	if (syscall(SYS_setpgid, 0, 0) < 0)
		child_fail(a, STEP_PGID);
	if (a->id->change)
		child_creds(a);
	syscall(SYS_umask, 022);
	child_fds(a);
	/* As the job's user: a directory it cannot enter is its error. */
	if (a->cwd && syscall(SYS_chdir, a->cwd) < 0)
		child_fail(a, STEP_CWD);
	if (!a->cwd && syscall(SYS_chdir, a->home) < 0)
		syscall(SYS_chdir, "/");
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, KSIGSET_SIZE) <
	    0)
		child_fail(a, STEP_SIGNALS);
	errno = child_exec(a);
	return child_fail(a, STEP_EXEC);
}

/* ---- The parent. ---- */

/* The value of NAME in a NULL-terminated "NAME=value" vector, or NULL. */
static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static char *env_pair(const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	char *s = malloc(n + v + 2);
	if (s) {
		memcpy(s, name, n);
		s[n] = '=';
		memcpy(s + n + 1, value, v + 1);
	}
	return s;
}

/* Same NAME= prefix? */
static int env_same(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		if (*a == '=')
			return 1;
	return *a == '=' && *b == '=';
}

#define ENV_BASE 5

/*
 * The environment from scratch: SHELL, HOME, LOGNAME, USER, PATH, then the
 * job's env, a job's NAME replacing ours.  base[] owns the five built
 * strings; the vector borrows the job's.  NULL if no memory.
 */
static char **env_build(const struct exec_spec *spec,
			const struct exec_ident *id, char *base[ENV_BASE])
{
	size_t n = 0, njob = 0, i, j;
	char **env;
	while (spec->env[njob])
		njob++;
	base[0] = env_pair("SHELL", "/bin/sh");
	base[1] = env_pair("HOME", id->home);
	base[2] = env_pair("LOGNAME", id->name);
	base[3] = env_pair("USER", id->name);
	base[4] = env_pair("PATH", id->uid == 0 ? PATH_ROOT : PATH_USER);
	for (i = 0; i < ENV_BASE; i++)
		if (!base[i])
			return NULL;
	env = calloc(ENV_BASE + njob + 1, sizeof(char *));
	if (!env)
		return NULL;
	for (i = 0; i < ENV_BASE; i++)
		env[n++] = base[i];
	for (j = 0; j < njob; j++) {
		for (i = 0; i < ENV_BASE && !env_same(env[i], spec->env[j]);
		     i++)
			;
		if (i < ENV_BASE)
			env[i] = spec->env[j];
		else
			env[n++] = spec->env[j];
	}
	return env;
}

static const char *step_text(int step)
{
	switch (step) {
	case STEP_SIGNALS: return "signal mask";
	case STEP_PGID: return "process group";
	case STEP_GROUPS: return "setgroups";
	case STEP_GID: return "setresgid";
	case STEP_UID: return "setresuid";
	case STEP_FDS: return "stdin/stdout/stderr";
	default: return "exec";
	}
}

static void child_error(const struct child_args *a,
			const struct exec_spec *spec, char *err, size_t errlen)
{
	if (a->step == STEP_CWD)
		snprintf(err, errlen, "cwd %s: %s", a->cwd, strerror(a->err));
	else if (a->step == STEP_EXEC)
		snprintf(err, errlen, "cannot run %s: %s", spec->argv[0],
			 strerror(a->err));
	else
		snprintf(err, errlen, "starting %s: %s: %s", spec->argv[0],
			 step_text(a->step), strerror(a->err));
}

#ifdef LOOPD_TSAN
#include <dlfcn.h>
/* ThreadSanitizer's clone interceptor treats every clone as a fork: with
 * CLONE_VM the child's bookkeeping lands in the suspended parent's state
 * and the runtime aborts ("CHECK failed: tsan_rtl.cpp ... !thr->slot").
 * So the C library's own clone: the child runs no instrumented code. */
typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);
static clone_fn libc_clone(void)
{
	void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	clone_fn fn = libc ? (clone_fn)dlsym(libc, "clone") : NULL;
	if (libc)
		dlclose(libc);
	return fn ? fn : clone;
}
#define SPAWN_CLONE libc_clone()
#else
#define SPAWN_CLONE clone
#endif

/* clone with every signal blocked in this thread (see the top), on a
 * stack of this call's own. */
static pid_t clone_child(struct exec_spawner *sp, struct child_args *a,
			 int *pidfd)
{
	sigset_t all, old;
	char *stack = stack_take(sp);
	pid_t pid;
	int e;
	if (!stack) {
		errno = ENOMEM;
		return -1;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = SPAWN_CLONE(child_main, stack + sp->map_len,
			  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, a,
			  pidfd);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* The child has exec'd or exited: its stack is free again. */
	stack_give(sp, stack);
	errno = e;
	return pid;
}

int exec_spawn(struct exec_spawner *sp, const struct exec_spec *spec,
	       const struct exec_ident *id, struct exec_child *child, char *err,
	       size_t errlen)
{
	struct child_args a = { .argv = spec->argv,
				.cwd = spec->cwd,
				.devnull = sp->devnull,
				.id = id };
	char *base[ENV_BASE] = { 0 }, **env;
	int p[2], pidfd = -1, r = 0;
	long maxfd = sysconf(_SC_OPEN_MAX);
	siginfo_t si;
	pid_t pid;
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -errno;
	}
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
	env = env_build(spec, id, base);
	if (p[0] < 0 || p[1] < 0 || !env ||
	    fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		r = env ? -errno : -ENOMEM;
		snprintf(err, errlen, "setting up the output pipe: %s",
			 strerror(-r));
		goto out;
	}
	a.envp = env;
	a.out = p[1];
	a.path = env_get(env, "PATH");
	a.home = env_get(env, "HOME");
	a.max_fd = maxfd > 0 && maxfd < INT_MAX ? (int)maxfd : 65536;
	pid = clone_child(sp, &a, &pidfd);
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "clone: %s", strerror(errno));
		goto out;
	}
	if (a.step) {
		/* It has exited or is about to: reap it. */
		while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 &&
		       errno == EINTR)
			;
		close(pidfd);
		child_error(&a, spec, err, errlen);
		r = -a.err;
		goto out;
	}
	*child = (struct exec_child){ pid, pidfd, p[0] };
	p[0] = -1;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	for (int i = 0; i < ENV_BASE; i++)
		free(base[i]);
	free(env);
	return r;
}

/*
 * exec.c - the bundled `exec` job kind: runs a command or an argv as a
 * child process, supervised from the loop (PLUGIN-API.md, PROTOCOL.md,
 * issue 5).  This file owns the runs; args.c checks the args, spawn.c
 * starts the process clean, output.c keeps the output.
 *
 * A run:
 *
 *   start (loop) ──submit──▶ [user lookup,] spawn (a pool thread)
 *                                                  │
 *   watch pidfd + output (loop, poll phase) ◀── done (loop)
 *
 *   The spawn is on a pool thread because clone(CLONE_VFORK) suspends
 *   its caller until the child has exec'd: on the loop thread, a burst
 *   of starts held the loop for seconds (tests/bench/RESULTS.md).  The
 *   pool hands back the pid, a pidfd and the read end of one pipe
 *   (stdout and stderr both, so their order is kept), which the loop
 *   watches in the poll phase.  The user's lookup (NSS may block) comes
 *   first in the same job when the args name a user.
 *   The output is read as it comes, always (a job writing 10 MB never
 *   blocks on a full pipe), and kept head + tail up to output_cap.
 *   The pidfd turns readable when the child exits: its status is read
 *   with WNOWAIT, and the zombie kept until the run ends, so the pid (and
 *   process group id) cannot be reused while we may still signal it.
 *   The run ends when the child has exited and the pipe is at EOF; if
 *   processes the job left behind still hold the pipe open 1 s after the
 *   child exited, their process group is killed and the run ends anyway.
 *   Then the child is reaped and finish gets the status: 0 for exit 0,
 *   the exit code 1-255, or 128 + N for a child killed by signal N (as a
 *   shell's $? says); -errno when it could not be started, the reason as
 *   the output.
 *
 * stop (timeout, overlap `replace`, shutdown): SIGTERM to the process
 * group, SIGKILL to it after kill_grace (a run still queued for its
 * start is cancelled; one being started gets the SIGTERM as soon as its
 * done has the child); a stopped run's group is killed
 * when its child has exited, so nothing of it keeps running.  A run that
 * ends normally leaves alone what it started in the background with its
 * output redirected elsewhere: those are reaped when they exit.
 *
 * Orphans: init makes loopd a child subreaper (prctl; process-wide, which
 * is fine for loopd, and undone at unload), so what a job leaves behind is
 * re-parented to loopd instead of init.  A repeating 1 s timer (unref'd, so
 * it keeps no loop alive) reaps them: a SIGCHLD handler or signalfd would
 * need the signal blocked in every thread of loopd, which the daemon does
 * not do.  It peeks with WNOWAIT and reaps only children it does not
 * track that were already exited at the previous tick: a child another
 * plugin waits for itself gets its exit status first.  A child whose
 * start's done has not run yet is tracked too, by the pid the worker
 * published (xrun.spawned); a tick that falls while a worker is between
 * its clone and that publishing reaps nothing (xp.unpublished).
 *
 * Config ([plugin.exec]): output_cap (bytes, "64K", "1M"; default 64 KiB)
 * and kill_grace (ms, or a duration such as "10s", "1m30s"; default 10 s).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loopd/plugin.h>

#include "args.h"
#include "jargs.h"
#include "output.h"
#include "runs.h"
#include "spawn.h"

#define DEFAULT_OUTPUT_CAP (64 * 1024)
#define MAX_OUTPUT_CAP     (64 * 1024 * 1024)
#define DEFAULT_KILL_GRACE 10000    /* ms */
#define MAX_KILL_GRACE     86400000 /* a day */
#define LINGER_MS          1000     /* output held open after the exit */
#define REAP_EVERY_MS      1000
#define READ_CHUNK         (64 * 1024)
#define READS_PER_CALL     4 /* then let other callbacks run */

enum xrun_state {
	XR_STARTING, /* the lookup and spawn on a pool thread */
	XR_RUNNING,  /* a child process */
	XR_FAILING   /* could not start: a deferred finish is coming */
};

/*
 * One run of an exec job.  Freed when it finishes (xrun_end).  Loop
 * thread, except while its start job runs: then the worker writes ident,
 * child, spawned and msg and reads spec, and the loop touches none of
 * them (spawned excepted: the reaper reads it).
 */
struct xrun {
	struct run_node node; /* first: runlist_find's node is the run */
	enum xrun_state st;
	struct exec_spec spec;
	struct exec_ident ident; /* the job's user, when it names one */
	struct exec_child child; /* the worker's spawn, for the done */
	_Atomic pid_t spawned;   /* child.pid, published for the reaper */
	loopd_id job;            /* XR_STARTING: the start on the pool */
	loopd_id pidw, outw;     /* watches of pidfd and output */
	loopd_id killt, lingert; /* one-shot timers; 0 if none */
	loopd_id failt;          /* XR_FAILING: the deferred finish */
	pid_t pid;               /* also the process group id */
	int pidfd, out;          /* -1 once closed */
	bool exited, eof, stopping;
	int status; /* once exited */
	int fail_status;
	struct outbuf ob;
	char msg[512]; /* why it could not start */
};

struct exec_plugin {
	loopd_plugin *p;
	size_t output_cap;
	uint64_t kill_grace;
	bool as_root, set_subreaper;
	struct exec_ident self;
	struct exec_spawner *sp;
	struct run_list runs; /* every run not finished yet */
	char *rbuf;           /* READ_CHUNK, for the output reads */
	loopd_id reaper;
	pid_t *zombies; /* non-tracked children exited at the last tick */
	size_t nzombies, zalloc;
	uint64_t reaped; /* orphans reaped, for the log */
	/* Spawns between their clone and the publishing of the child's
	 * pid (pool threads); while any is, the reaper only notes. */
	_Atomic int unpublished;
};

static const struct loopd_api *api; /* the host table, from init */
static struct exec_plugin *xp;      /* one exec plugin per daemon */

/* ---- Bookkeeping ---- */

static bool pid_tracked(pid_t pid)
{
	for (struct run_node *n = xp->runs.head; n; n = n->next) {
		struct xrun *r = (struct xrun *)n;
		if ((r->st == XR_RUNNING && r->pid == pid) ||
		    (r->st == XR_STARTING && atomic_load(&r->spawned) == pid))
			return true;
	}
	return false;
}

static void close_handle(loopd_id *h)
{
	if (*h > 0)
		api->close(xp->p, *h, NULL);
	*h = 0;
}

static void xrun_free(struct xrun *r)
{
	exec_spec_free(&r->spec);
	exec_ident_free(&r->ident);
	outbuf_free(&r->ob);
	free(r);
}

/* Signals the child and its process group: the group may be empty, or
 * the child may have left it (setsid), so both. */
static void xrun_signal(struct xrun *r, int sig)
{
	if (r->pid <= 0)
		return;
	if (r->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, r->pidfd, sig, NULL, 0);
	kill(-r->pid, sig);
}

/* Reaps the child (a zombie by now, or killed just before) and closes
 * what is left of its handles and descriptors. */
static void xrun_release(struct xrun *r)
{
	siginfo_t si;
	close_handle(&r->pidw);
	close_handle(&r->outw);
	close_handle(&r->killt);
	close_handle(&r->lingert);
	if (r->pidfd >= 0) {
		while (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED) < 0 &&
		       errno == EINTR)
			;
		close(r->pidfd);
		r->pidfd = -1;
	}
	if (r->out >= 0)
		close(r->out);
	r->out = -1;
}

/* Ends a run: finish exactly once, then free.  text may be NULL. */
static void xrun_end(struct xrun *r, int status, const char *text, size_t len)
{
	xrun_release(r);
	runlist_remove(&xp->runs, &r->node);
	run_finish(api, xp->p, &r->node, status, text, len);
	xrun_free(r);
}

/* Ends a run that could not start, its reason as the output. */
static void xrun_end_msg(struct xrun *r, int status)
{
	char text[sizeof(r->msg) + 32];
	int n = snprintf(text, sizeof(text), "loopd exec: %s\n", r->msg);
	api->log(xp->p, LOOPD_LOG_WARN, "run %" PRId64 " of %s: %s", r->node.id,
		 api->run_job(r->node.run) ? api->run_job(r->node.run) : "?",
		 r->msg);
	xrun_end(r, status, text, (size_t)n < sizeof(text) ? (size_t)n : 0);
}

/* ---- Output and exit ---- */

/* Reads what the pipe holds, up to `calls` chunks; marks EOF. */
static void output_read(struct xrun *r, int calls)
{
	ssize_t n;
	while (calls-- > 0 && !r->eof) {
		n = read(r->out, xp->rbuf, READ_CHUNK);
		if (n > 0) {
			outbuf_add(&r->ob, xp->rbuf, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			calls++;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		} else {
			if (n < 0)
				api->log(xp->p, LOOPD_LOG_WARN,
					 "run %" PRId64 ": reading output: %s",
					 r->node.id, strerror(errno));
			r->eof = true; /* EOF, or a read error: stop here */
		}
	}
}

/* The child has exited and the output is in (or abandoned): finish. */
static void xrun_complete(struct xrun *r)
{
	char *text = NULL;
	size_t len = 0;
	uint64_t total = r->ob.total;
	/* Stopped: what is left of the group goes with it (nothing of a
	 * stopped run keeps running). */
	if (r->stopping)
		xrun_signal(r, SIGKILL);
	xrun_release(r);
	if (outbuf_take(&r->ob, &text, &len) < 0)
		api->log(xp->p, LOOPD_LOG_ERR,
			 "run %" PRId64 ": no memory for its output",
			 r->node.id);
	api->log(xp->p, LOOPD_LOG_DEBUG,
		 "run %" PRId64 ": status %d, %" PRIu64
		 " bytes of output, %" PRIu64 " dropped",
		 r->node.id, r->status, total, outbuf_dropped(&r->ob));
	xrun_end(r, r->status, text, len);
	free(text);
}

static void on_output(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct xrun *r = ud;
	output_read(r, READS_PER_CALL);
	if (!r->eof)
		return;
	close_handle(&r->outw);
	close(r->out);
	r->out = -1;
	if (r->exited)
		xrun_complete(r);
}

/* LINGER_MS after the exit, the pipe still open: processes the job left
 * behind hold it.  Kill their group, keep what they wrote, finish. */
static void on_linger(loopd_plugin *p, void *ud)
{
	struct xrun *r = ud;
	r->lingert = 0; /* a fired one-shot */
	api->log(p, LOOPD_LOG_INFO,
		 "run %" PRId64 ": what it left behind holds its output open "
		 "%d ms after it exited: killing process group %d",
		 r->node.id, LINGER_MS, (int)r->pid);
	xrun_signal(r, SIGKILL);
	output_read(r, 16); /* what is in the pipe already */
	xrun_complete(r);
}

static int exit_status(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return si->si_status & 0xff;
	return 128 + si->si_status; /* CLD_KILLED, CLD_DUMPED */
}

static void on_exit_ready(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct xrun *r = ud;
	siginfo_t si = { 0 };
	/* WNOWAIT: the zombie holds the pid and the group id until the
	 * run ends (xrun_release reaps it). */
	if (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) <
	    0) {
		if (errno == EINTR)
			return;
		/* Reaped by someone else (a waitpid(-1) elsewhere in
		 * loopd): the status is lost, and the pid may be reused,
		 * so it is never signalled again. */
		api->log(p, LOOPD_LOG_WARN,
			 "run %" PRId64 ": pid %d: %s; its exit status is lost",
			 r->node.id, (int)r->pid, strerror(errno));
		r->status = -ECHILD;
		r->pid = 0;
	} else if (si.si_pid == 0) {
		return;
	} else {
		r->status = exit_status(&si);
	}
	r->exited = true;
	close_handle(&r->pidw);
	output_read(r, READS_PER_CALL);
	if (r->eof) {
		close_handle(&r->outw);
		xrun_complete(r);
		return;
	}
	r->lingert = api->timer(p, LINGER_MS, 0, on_linger, r);
	if (r->lingert < 0) {
		r->lingert = 0;
		on_linger(p, r);
	}
}

/* ---- Stopping ---- */

static void on_kill(loopd_plugin *p, void *ud)
{
	struct xrun *r = ud;
	r->killt = 0; /* a fired one-shot */
	api->log(p, LOOPD_LOG_INFO,
		 "run %" PRId64 ": still running %" PRIu64
		 " ms after SIGTERM: SIGKILL to process group %d",
		 r->node.id, xp->kill_grace, (int)r->pid);
	xrun_signal(r, SIGKILL);
}

/* SIGTERM to a running run's group, SIGKILL after kill_grace. */
static void xrun_term(struct xrun *r)
{
	api->log(xp->p, LOOPD_LOG_DEBUG,
		 "run %" PRId64 ": stop: SIGTERM to process group %d",
		 r->node.id, (int)r->pid);
	xrun_signal(r, SIGTERM);
	r->killt = api->timer(xp->p, xp->kill_grace, 0, on_kill, r);
	if (r->killt < 0) {
		r->killt = 0;
		xrun_signal(r, SIGKILL);
	}
}

/* ---- Starting ---- */

/* The worker's child becomes the run's: its pidfd and output watched. */
static int xrun_adopt(struct xrun *r)
{
	int e;
	r->pid = r->child.pid;
	r->pidfd = r->child.pidfd;
	r->out = r->child.output;
	r->st = XR_RUNNING;
	outbuf_init(&r->ob, xp->output_cap);
	r->pidw = api->watch(xp->p, r->pidfd, LOOPD_READ, on_exit_ready, r);
	r->outw = api->watch(xp->p, r->out, LOOPD_READ, on_output, r);
	if (r->pidw > 0 && r->outw > 0) {
		api->log(xp->p, LOOPD_LOG_DEBUG, "run %" PRId64 ": pid %d: %s",
			 r->node.id, (int)r->pid,
			 r->spec.shell ? r->spec.argv[2] : r->spec.argv[0]);
		return 0;
	}
	e = r->pidw < 0 ? (int)r->pidw : (int)r->outw;
	r->pidw = r->pidw < 0 ? 0 : r->pidw;
	r->outw = r->outw < 0 ? 0 : r->outw;
	snprintf(r->msg, sizeof(r->msg), "watching the child: %s",
		 strerror(-e));
	xrun_signal(r, SIGKILL);
	xrun_release(r);
	r->pid = 0;
	return e;
}

static void on_fail(loopd_plugin *p, void *ud)
{
	struct xrun *r = ud;
	r->failt = 0;
	xrun_end_msg(r, r->fail_status);
}

/*
 * A pool thread: the user's lookup, which may block on NSS, then the
 * spawn, which holds this thread until the child has exec'd.  Reads
 * r->spec and xp's spawner and own identity (fixed while runs exist).
 */
static int start_work(void *ud)
{
	struct xrun *r = ud;
	const struct exec_ident *id = &xp->self;
	int e;
	if (r->spec.user || r->spec.has_uid) {
		e = exec_ident_lookup(&r->ident, r->spec.user, r->spec.uid,
				      r->msg, sizeof(r->msg));
		if (e < 0)
			return e;
		id = &r->ident;
	}
	atomic_fetch_add(&xp->unpublished, 1);
	e = exec_spawn(xp->sp, &r->spec, id, &r->child, r->msg, sizeof(r->msg));
	if (e == 0)
		atomic_store(&r->spawned, r->child.pid);
	atomic_fetch_sub(&xp->unpublished, 1);
	return e;
}

static void start_done(loopd_plugin *p, void *ud, int status)
{
	struct xrun *r = ud;
	int e;
	r->job = 0;
	if (status == -ECANCELED) {
		snprintf(r->msg, sizeof(r->msg), "stopped before it started");
		xrun_end_msg(r, -ECANCELED);
		return;
	}
	if (status < 0) {
		xrun_end_msg(r, status);
		return;
	}
	e = xrun_adopt(r);
	if (e < 0)
		xrun_end_msg(r, e);
	else if (r->stopping) /* stopped while its spawn was in flight */
		xrun_term(r);
}

static int kind_validate(loopd_plugin *p, const char *args_json, char *err,
			 size_t errlen)
{
	return exec_args_parse(args_json, xp->as_root, NULL, err, errlen);
}

/*
 * Loop thread.  The start itself is on the pool (start_work).  A run that
 * cannot start (no such program, a bad cwd) still returns 0: it finishes
 * in the done, or the next pending phase, with -errno and the reason as
 * its output, which says more than a bare status.
 */
static int kind_start(loopd_plugin *p, loopd_run *run, const char *args_json)
{
	struct xrun *r = calloc(1, sizeof(*r));
	int e;
	if (!r)
		return -ENOMEM;
	r->node.run = run;
	r->node.id = api->run_id(run);
	r->pidfd = r->out = -1;
	e = exec_args_parse(args_json, xp->as_root, &r->spec, r->msg,
			    sizeof(r->msg));
	runlist_add(&xp->runs, &r->node);
	if (!e) {
		r->st = XR_STARTING;
		r->job = api->submit(p, start_work, start_done, r);
		if (r->job > 0)
			return 0;
		e = (int)r->job;
		r->job = 0;
		snprintf(r->msg, sizeof(r->msg), "submitting the start: %s",
			 strerror(-e));
	}
	r->st = XR_FAILING;
	r->fail_status = e;
	r->failt = api->defer(p, on_fail, r);
	if (r->failt > 0)
		return 0;
	api->log(p, LOOPD_LOG_WARN, "run %" PRId64 ": %s", r->node.id, r->msg);
	runlist_remove(&xp->runs, &r->node);
	xrun_free(r);
	return e;
}

static void kind_stop(loopd_plugin *p, loopd_run *run)
{
	struct xrun *r = (struct xrun *)runlist_find(&xp->runs, run);
	if (!r || r->stopping)
		return; /* unknown, or already asked */
	r->stopping = true;
	if (r->st == XR_STARTING)
		/* Queued: done gets -ECANCELED; being spawned (-EBUSY):
		 * done sees stopping and sends the SIGTERM. */
		api->cancel(p, r->job);
	else if (r->st == XR_RUNNING)
		xrun_term(r);
	/* XR_FAILING: its finish is on the way. */
}

/* ---- Orphans ---- */

static bool zombie_seen(pid_t pid)
{
	for (size_t i = 0; i < xp->nzombies; i++)
		if (xp->zombies[i] == pid)
			return true;
	return false;
}

/* One child of loopd seen at this tick: reaped if it is an exited
 * stranger already seen exited at the last tick, unless a spawn may
 * not have published its child yet (reap false): a job's own child
 * that exited at once would look like a stranger. */
static void reap_one(pid_t pid, bool reap, pid_t **now, size_t *n,
		     size_t *alloc)
{
	siginfo_t si = { 0 };
	if (pid_tracked(pid) ||
	    waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    si.si_pid != pid)
		return;
	if (reap && zombie_seen(pid)) {
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) == 0)
			xp->reaped++;
		api->log(xp->p, LOOPD_LOG_DEBUG, "reaped orphan %d (status %d)",
			 (int)pid, exit_status(&si));
		return;
	}
	if (*n == *alloc) {
		size_t a = *alloc ? *alloc * 2 : 16;
		pid_t *v = realloc(*now, a * sizeof(pid_t));
		if (!v)
			return; /* seen again at the next tick */
		*now = v;
		*alloc = a;
	}
	(*now)[(*n)++] = pid;
}

/* The children of one thread of loopd, from /proc. */
static void reap_task(const char *tid, bool reap, pid_t **now, size_t *n,
		      size_t *alloc)
{
	char path[300];
	FILE *f;
	int pid;
	snprintf(path, sizeof(path), "/proc/self/task/%s/children", tid);
	if (!(f = fopen(path, "re")))
		return;
	while (fscanf(f, "%d", &pid) == 1)
		reap_one((pid_t)pid, reap, now, n, alloc);
	fclose(f);
}

/* Every tick: a scan of loopd's children. */
static void on_reap(loopd_plugin *p, void *ud)
{
	bool reap = atomic_load(&xp->unpublished) == 0; /* before the scan */
	pid_t *now = NULL;
	size_t n = 0, alloc = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			reap_task(de->d_name, reap, &now, &n, &alloc);
	closedir(d);
	free(xp->zombies);
	xp->zombies = now;
	xp->nzombies = n;
	xp->zalloc = alloc;
}

/* ---- Config, init and shutdown ---- */

/* "65536", "64K", "64KiB", "1M", "1MiB" to bytes; -EINVAL. */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -EINVAL;
	if (!strcmp(end, "K") || !strcmp(end, "KiB") || !strcmp(end, "k"))
		v *= 1024;
	else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
		v *= 1024 * 1024;
	else if (*end)
		return -EINVAL;
	if (v < OUTBUF_MIN_CAP || v > MAX_OUTPUT_CAP)
		return -ERANGE;
	*out = (size_t)v;
	return 0;
}

/* "10000" (ms) or a duration, "500ms", "10s", "1m30s", "1h"; -EINVAL,
 * -ERANGE past MAX_KILL_GRACE. */
static int parse_ms(const char *s, uint64_t *out)
{
	unsigned long long n;
	int64_t v;
	char *end;
	int r;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (!*end) { /* a bare number: ms */
		if (errno || n > MAX_KILL_GRACE)
			return -ERANGE;
		*out = n;
		return 0;
	}
	if ((r = jargs_duration(s, MAX_KILL_GRACE, &v)) == 0)
		*out = (uint64_t)v;
	return r;
}

static int read_config(loopd_plugin *p, struct exec_plugin *x)
{
	const char *cap = api->config(p, "output_cap");
	const char *grace = api->config(p, "kill_grace");
	x->output_cap = DEFAULT_OUTPUT_CAP;
	x->kill_grace = DEFAULT_KILL_GRACE;
	if (cap && parse_size(cap, &x->output_cap) < 0) {
		api->log(
			p, LOOPD_LOG_ERR,
			"[plugin.exec] output_cap = '%s': not a size from %d to %d bytes (65536, 64K, 1M)",
			cap, OUTBUF_MIN_CAP, MAX_OUTPUT_CAP);
		return -EINVAL;
	}
	if (grace && parse_ms(grace, &x->kill_grace) < 0) {
		api->log(
			p, LOOPD_LOG_ERR,
			"[plugin.exec] kill_grace = '%s': not milliseconds or a duration up to a day (10000, 10s, 1m30s)",
			grace);
		return -EINVAL;
	}
	return 0;
}

/* Kills and reaps what is left (the drain has closed our handles: their
 * ids are dead), and frees every run.  No finish: the host has ended the
 * runs it still had.  No run is XR_STARTING: the drain waited for every
 * submitted start and ran its done (PLUGIN-API.md rule 4). */
static void exec_shutdown(loopd_plugin *p, void *state)
{
	struct exec_plugin *x = state;
	struct xrun *r;
	while ((r = (struct xrun *)x->runs.head)) {
		r->pidw = r->outw = r->killt = r->lingert = r->failt = 0;
		if (r->st == XR_RUNNING) {
			api->log(p, LOOPD_LOG_WARN,
				 "shutdown: killing run %" PRId64
				 " (process group %d)",
				 r->node.id, (int)r->pid);
			xrun_signal(r, SIGKILL);
		}
		xrun_release(r);
		runlist_remove(&x->runs, &r->node);
		xrun_free(r);
	}
	/* Killed members of the groups, orphans already gone: reaped now,
	 * without the tick's grace (they would outlive us as zombies). */
	x->nzombies = 0;
	on_reap(p, x); /* notes them */
	on_reap(p, x); /* reaps them */
	if (x->set_subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	if (x->reaped)
		api->log(p, LOOPD_LOG_INFO, "reaped %" PRIu64 " orphans",
			 x->reaped);
	exec_spawner_free(x->sp);
	exec_ident_free(&x->self);
	free(x->zombies);
	free(x->rbuf);
	free(x);
	xp = NULL;
}

static const struct loopd_kind exec_kind = {
	.size = sizeof(struct loopd_kind),
	.name = "exec",
	.description = "runs a command (/bin/sh -c) or an argv as a process",
	.validate = kind_validate,
	.start = kind_start,
	.stop = kind_stop,
};

static int exec_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	struct exec_plugin *x = calloc(1, sizeof(*x));
	int was = 0, e;
	api = a;
	if (!x)
		return -ENOMEM;
	x->p = p;
	xp = x;
	x->as_root = geteuid() == 0;
	x->rbuf = malloc(READ_CHUNK);
	if (!x->rbuf)
		e = -ENOMEM;
	else if ((e = read_config(p, x)) == 0 &&
		 (e = exec_ident_self(&x->self)) == 0)
		e = exec_spawner_new(&x->sp);
	if (e < 0)
		goto fail;
	if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) == 0 && !was &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
		x->set_subreaper = true;
	if ((e = a->add_kind(p, &exec_kind)) < 0) {
		a->log(p, LOOPD_LOG_ERR, "registering the exec kind: %s",
		       strerror(-e));
		goto fail;
	}
	x->reaper = a->timer(p, REAP_EVERY_MS, REAP_EVERY_MS, on_reap, x);
	if (x->reaper < 0 || a->ref(p, x->reaper, 0) < 0) {
		e = x->reaper < 0 ? (int)x->reaper : -EINVAL;
		goto fail;
	}
	*st = x;
	a->log(p, LOOPD_LOG_DEBUG,
	       "output_cap %zu bytes, kill_grace %" PRIu64 " ms%s",
	       x->output_cap, x->kill_grace, x->as_root ? ", as root" : "");
	return 0;
fail:
	exec_shutdown(p, x); /* loopd undoes the handles */
	return e;
}

static const struct loopd_plugin_desc exec_desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "exec",
	.version = "1.0",
	.description = "the exec job kind: commands and programs as processes",
	.init = exec_init,
	.shutdown = exec_shutdown,
};
LOOPD_PLUGIN(exec_desc)

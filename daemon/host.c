/*
 * host.c - the host table handed to plugins (PLUGIN-API.md), in contract
 * order.  Each entry checks what a plugin can get wrong (the thread it is
 * called from, a draining plugin, NULL callbacks) before the loop sees the
 * call, so a misbehaving plugin gets an error and a log line, never a
 * corrupted loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "scheduler.h"

static struct loop *loop_of(loopd_plugin *p)
{
	return plugins_loop(p->reg);
}

/* 0 if p may call `what` now, else -EPERM or -ESHUTDOWN (logged). */
static int gate(loopd_plugin *p, const char *what)
{
	if (!p)
		return -EINVAL;
	if (!loop_on_thread()) {
		/* Not plugin_error: its counters belong to the loop thread. */
		log_msg(LOGL_ERR, p->name,
			"%s called from a thread other than the loop thread; refused",
			what);
		return -EPERM;
	}
	if (p->pstate != PLUGIN_ACTIVE && p->pstate != PLUGIN_LOADING) {
		plugin_error(p,
			     "%s called while the plugin is unloading; refused",
			     what);
		return -ESHUTDOWN;
	}
	return 0;
}

/* Logs a failed call so a plugin author sees it without checking. */
static int64_t report(loopd_plugin *p, const char *what, int64_t r)
{
	if (r < 0 && r != -ENOENT && r != -EBUSY)
		plugin_error(p, "%s failed: %s", what, strerror((int)-r));
	return r;
}

LOOPD_PRINTF(3, 4)
static void host_log(loopd_plugin *p, int level, const char *fmt, ...)
{
	va_list ap;
	if (level < LOOPD_LOG_ERR)
		level = LOOPD_LOG_ERR;
	if (level > LOOPD_LOG_DEBUG)
		level = LOOPD_LOG_DEBUG;
	va_start(ap, fmt);
	log_vmsg(level, p ? p->name : "?", fmt, ap);
	va_end(ap);
}

static const char *host_config(loopd_plugin *p, const char *key)
{
	/* Plugin sections come from the config file ([plugin.NAME]);
	 * without --config there are none. */
	if (gate(p, "config") < 0 || !key)
		return NULL;
	return plugin_config(p, key);
}

static uint64_t host_now(loopd_plugin *p)
{
	if (!p || !loop_on_thread()) {
		if (p)
			log_msg(LOGL_ERR, p->name,
				"now called from a thread other than the loop thread");
		return 0;
	}
	return loop_now(loop_of(p));
}

static loopd_id host_timer(loopd_plugin *p, uint64_t timeout_ms,
			   uint64_t repeat_ms, loopd_cb cb, void *ud)
{
	int r = gate(p, "timer");
	if (r < 0)
		return r;
	return report(p, "timer",
		      loop_timer(loop_of(p), p, timeout_ms, repeat_ms, cb, ud));
}

static loopd_id host_immediate(loopd_plugin *p, loopd_cb cb, void *ud)
{
	int r = gate(p, "immediate");
	if (r < 0)
		return r;
	return report(p, "immediate", loop_immediate(loop_of(p), p, cb, ud));
}

static loopd_id host_defer(loopd_plugin *p, loopd_cb cb, void *ud)
{
	int r = gate(p, "defer");
	if (r < 0)
		return r;
	return report(p, "defer", loop_defer(loop_of(p), p, cb, ud));
}

static loopd_id host_watch(loopd_plugin *p, int fd, int events, loopd_io_cb cb,
			   void *ud)
{
	int r = gate(p, "watch");
	if (r < 0)
		return r;
	return report(p, "watch",
		      loop_watch(loop_of(p), p, fd, events, cb, ud));
}

static loopd_id host_submit(loopd_plugin *p, loopd_work_fn work,
			    loopd_done_fn done, void *ud)
{
	int r = gate(p, "submit");
	if (r < 0)
		return r;
	return report(p, "submit", loop_submit(loop_of(p), p, work, done, ud));
}

/* cancel, close and ref stay allowed while draining: a plugin tidying up
 * in its callbacks must be able to. */
static int gate_thread(loopd_plugin *p, const char *what)
{
	int r = gate(p, what);
	return r == -ESHUTDOWN ? 0 : r;
}

static int host_cancel(loopd_plugin *p, loopd_id job)
{
	int r = gate_thread(p, "cancel");
	if (r < 0)
		return r;
	return (int)report(p, "cancel", loop_cancel(loop_of(p), p, job));
}

static int host_close(loopd_plugin *p, loopd_id h, loopd_cb on_close)
{
	int r = gate_thread(p, "close");
	if (r < 0)
		return r;
	return (int)report(p, "close", loop_close(loop_of(p), p, h, on_close));
}

static int host_ref(loopd_plugin *p, loopd_id h, int ref)
{
	int r = gate_thread(p, "ref");
	if (r < 0)
		return r;
	return (int)report(p, "ref", loop_ref(loop_of(p), p, h, ref));
}

/*
 * Any thread.  The post is counted in the plugin's account before the
 * plugin's state is read, and the loop sets the state before it reads the
 * count, so a post on a plugin being unloaded is either refused here or
 * waited for there, never run after the plugin's code is gone.  A refused
 * post may have been what held the plugin back: the loop re-checks.
 */
static int host_post(loopd_plugin *p, loopd_cb cb, void *ud)
{
	if (!p)
		return -EINVAL;
	struct plugins *reg = p->reg;
	struct loop *l = plugins_loop(reg);
	enum plugin_state st;
	int r = -ESHUTDOWN;
	atomic_fetch_add(&p->acct.posts, 1);
	st = p->pstate;
	if (st == PLUGIN_ACTIVE || st == PLUGIN_LOADING)
		r = loop_post(l, p, cb, ud);
	else
		log_msg(LOGL_ERR, p->name,
			"post called while the plugin is unloading; refused");
	if (atomic_fetch_sub(&p->acct.posts, 1) == 1 && r < 0)
		loop_post(l, NULL, plugins_recheck, reg);
	return r;
}

/* Job kinds: registered during init only, so a job never sees a kind
 * half set up; the scheduler owns them from then on. */
static int host_add_kind(loopd_plugin *p, const struct loopd_kind *kind)
{
	int r = gate(p, "add_kind");
	struct sched *s = r < 0 ? NULL : plugins_sched(p->reg);
	if (r < 0)
		return r;
	if (p->pstate != PLUGIN_LOADING) {
		plugin_error(p, "add_kind called outside init; refused");
		return -EPERM;
	}
	if (!s)
		return (int)report(p, "add_kind", -ENOTSUP);
	r = sched_add_kind(s, p, kind);
	if (r == -EEXIST)
		plugin_error(p, "add_kind: the kind %s is already registered",
			     kind->name);
	return r == -EEXIST ? r : (int)report(p, "add_kind", r);
}

/* Runs are only touched on the loop thread; a run pointer stays valid
 * until its plugin is gone, so a late finish is refused, not a crash. */
static bool run_gate(loopd_run *run, const char *what)
{
	if (!run)
		return false;
	if (!loop_on_thread()) {
		log_msg(LOGL_ERR, NULL,
			"%s called from a thread other than the loop thread; "
			"refused",
			what);
		return false;
	}
	return true;
}

static const char *host_run_job(loopd_run *run)
{
	return run_gate(run, "run_job") ? sched_run_job(run) : NULL;
}

static int64_t host_run_id(loopd_run *run)
{
	return run_gate(run, "run_id") ? sched_run_id(run) : -EPERM;
}

static int host_finish(loopd_run *run, int status, const char *output,
		       size_t len)
{
	if (!run_gate(run, "finish"))
		return run ? -EPERM : -EINVAL;
	return sched_finish(run, status, output, len);
}

static const struct loopd_api api = {
	.size = sizeof(struct loopd_api),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.log = host_log,
	.config = host_config,
	.now = host_now,
	.timer = host_timer,
	.immediate = host_immediate,
	.defer = host_defer,
	.watch = host_watch,
	.submit = host_submit,
	.cancel = host_cancel,
	.close = host_close,
	.ref = host_ref,
	.post = host_post,
	.add_kind = host_add_kind,
	.run_job = host_run_job,
	.run_id = host_run_id,
	.finish = host_finish,
};

const struct loopd_api *host_api(void)
{
	return &api;
}

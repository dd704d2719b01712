/*
 * ctl_methods.c - the io.loopd.* methods of PROTOCOL.md, in one table.
 *
 * Each handler reads its parameters, asks the module that owns the answer
 * (scheduler, store, plugins, loop) and replies through ctl.h.  Writes
 * reply from the scheduler's callbacks, which run after the commit.
 * Parameter errors name the parameter (InvalidParameter); everything a
 * client can get wrong gets an error reply, never a crash.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "ctl.h"
#include "ctl_methods.h"
#include "daemon.h"
#include "events.h"
#include "jbuf.h"
#include "log.h"
#include "loop.h"
#include "loopd/protocol.h"
#include "plugin.h"
#include "pool.h"
#include "scheduler.h"
#include "store.h"

/* ---- parameters ---- */

/* A string parameter: *out borrowed, NULL when absent.  False (and an
 * error reply) when present but not a string, or required and absent. */
static bool p_str(struct ctl_call *c, json_t *params, const char *key,
		  bool required, const char **out)
{
	json_t *v = json_object_get(params, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			ctl_error_param(c, key, "%s is required", key);
		return !required;
	}
	if (!json_is_string(v)) {
		ctl_error_param(c, key, "%s must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* An integer parameter in [min, max]; *out keeps its default if absent. */
static bool p_int(struct ctl_call *c, json_t *params, const char *key,
		  int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(params, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		ctl_error_param(c, key,
				"%s must be an integer from %" PRId64
				" to %" PRId64,
				key, min, max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static bool p_bool(struct ctl_call *c, json_t *params, const char *key,
		   bool *out)
{
	json_t *v = json_object_get(params, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		ctl_error_param(c, key, "%s must be true or false", key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- scheduler answers ---- */

/* Replies with res: the job (or run) under key, or the error it names. */
static void reply_result(struct ctl_call *c, struct sched_result *res,
			 const char *key, const char *name)
{
	json_t *job = res->job;
	res->job = NULL;
	switch (res->status) {
	case 0:
		ctl_reply(c, key ? json_pack("{s:o}", key, job)
				 : (job ? job : json_object()));
		return;
	case -EINVAL:
		ctl_error_param(c, res->param[0] ? res->param : "parameters",
				"%s", res->message);
		break;
	case -ENOENT:
		ctl_error(c, LOOPD_E_NO_SUCH_JOB,
			  json_pack("{s:s}", "name", name ? name : ""), "%s",
			  res->message);
		break;
	case -EEXIST:
		ctl_error(c, LOOPD_E_JOB_EXISTS,
			  json_pack("{s:s}", "name", name ? name : ""), "%s",
			  res->message);
		break;
	case -ENOKEY:
		ctl_error(c, LOOPD_E_UNKNOWN_KIND, NULL, "%s", res->message);
		break;
	case -EBADMSG:
		ctl_error(c, LOOPD_E_ARGS_REJECTED, NULL, "%s", res->message);
		break;
	case -EDOM:
		ctl_error(c, LOOPD_E_INVALID_SCHEDULE, NULL, "%s",
			  res->message);
		break;
	case -ESHUTDOWN:
		ctl_error(c, LOOPD_E_SHUTTING_DOWN, NULL, "%s", res->message);
		break;
	default:
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "%s",
			  res->message[0] ? res->message
					  : "the write was not made");
	}
	json_decref(job);
}

/* A call waiting for the scheduler: the call, and the job's name for
 * error parameters. */
struct pending {
	struct ctl_call *c;
	char name[72];
	const char *key;
	uint64_t token; /* a trigger's watch */
	struct daemon *d;
	bool wait, more, started;
};

static struct pending *pending_new(struct ctl_call *c, const char *name,
				   const char *key)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p) {
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "out of memory");
		return NULL;
	}
	p->c = c;
	p->key = key;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "");
	return p;
}

static void job_done(void *ud, struct sched_result *res)
{
	struct pending *p = ud;
	reply_result(p->c, res, p->key, p->name);
	free(p);
}

/* The InvalidSchedule error of a failed cal_parse. */
static void schedule_error(struct ctl_call *c, const char *expr,
			   const char *err)
{
	ctl_error(c, LOOPD_E_INVALID_SCHEDULE,
		  json_pack("{s:s}", "expression", expr), "%s", err);
}

/* ---- io.loopd.daemon ---- */

/*
 * GetStatus is the hot call (issue 4 measures it next to Redis's PING):
 * its reply is written as text, with no jansson tree.
 */
static void plugins_summary(struct jbuf *b, struct daemon *d)
{
	unsigned loaded = 0, failed = 0;
	for (loopd_plugin *p = plugins_head(d->plugins); p; p = p->next) {
		if (p->pstate == PLUGIN_FAILED)
			failed++;
		else
			loaded++;
	}
	unsigned quarantined = 0;
	for (const struct plugin_quarantine *q = plugins_quarantine(d->plugins);
	     q; q = q->next)
		quarantined++;
	jb_key(b, "plugins");
	jb_open(b, '{');
	jb_int(b, "loaded", loaded);
	jb_int(b, "failed", failed + plugins_failed_loads(d->plugins));
	jb_int(b, "quarantined", quarantined);
	jb_close(b, '}');
}

/* The configuration's last reading (start or SIGHUP). */
static void config_summary(struct jbuf *b, struct daemon *d)
{
	jb_key(b, "config");
	jb_open(b, '{');
	jb_str_lossy(b, "path", d->config_path);
	jb_int(b, "loaded_usec", d->config_usec);
	jb_str_lossy(b, "result", d->config_result);
	jb_close(b, '}');
}

static void jobs_summary(struct jbuf *b, const struct sched_counts *n)
{
	jb_key(b, "jobs");
	jb_open(b, '{');
	jb_int(b, "total", (int64_t)n->total);
	jb_int(b, "active", (int64_t)n->active);
	jb_int(b, "paused", (int64_t)n->paused);
	jb_int(b, "running", (int64_t)n->running);
	jb_int(b, "failing", (int64_t)n->failing);
	jb_int(b, "waiting", (int64_t)n->waiting);
	jb_close(b, '}');
}

static void m_get_status(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	struct sched_counts n;
	struct jbuf b;
	sched_counts(d->sched, &n);
	const char *state = d->state == DAEMON_STOPPING ? "stopping"
			    : store_degraded(d->store)  ? "degraded"
							: "running";
	ctl_reply_begin(&b);
	jb_open(&b, '{');
	jb_str(&b, "version", LOOPD_VERSION);
	jb_int(&b, "pid", d->pid);
	jb_int(&b, "started_usec", d->started_usec);
	jb_str(&b, "state", state);
	jb_str_lossy(&b, "socket", d->socket_path);
	jb_str_lossy(&b, "database", d->db_path);
	jobs_summary(&b, &n);
	plugins_summary(&b, d);
	config_summary(&b, d);
	jb_close(&b, '}');
	ctl_reply_jbuf(c, &b);
}

static json_t *loop_json(struct loop *l)
{
	struct loop_stats st;
	loop_stats(l, &st);
	json_t *phases = json_object();
	for (int i = 0; i < PHASE_COUNT; i++)
		json_object_set_new(
			phases, loop_phase_names[i],
			json_pack("{s:I, s:I}", "callbacks",
				  (json_int_t)st.phase_callbacks[i], "time_us",
				  (json_int_t)(st.phase_ns[i] / 1000)));
	return json_pack(
		"{s:I, s:I, s:I, s:I, s:f, s:o, s:I, s:I, s:I, s:{s:I, s:s,"
		" s:s}, s:I, s:I, s:I}",
		"iterations", (json_int_t)st.iterations, "callbacks",
		(json_int_t)st.events, "uptime_us",
		(json_int_t)(st.uptime_ns / 1000), "idle_us",
		(json_int_t)(st.idle_ns / 1000), "utilization", st.utilization,
		"phases", phases, "lag_p50_us", (json_int_t)st.lag_p50_us,
		"lag_p99_us", (json_int_t)st.lag_p99_us, "lag_max_us",
		(json_int_t)st.lag_max_us, "slowest_callback", "time_us",
		(json_int_t)(st.slowest_ns / 1000), "what",
		st.slowest_what ? st.slowest_what : "", "plugin",
		st.slowest_owner, "timers", (json_int_t)st.timers, "handles",
		(json_int_t)st.handles, "watchdog_reports",
		(json_int_t)st.watchdog_reports);
}

static json_t *pool_json(struct loop *l)
{
	struct pool_stats p;
	pool_stats(loop_pool(l), &p);
	return json_pack(
		"{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I}",
		"threads", (int)p.threads, "busy", (int)p.busy, "queued",
		(json_int_t)p.queued, "completed", (json_int_t)p.completed,
		"cancelled", (json_int_t)p.cancelled, "wait_p50_us",
		(json_int_t)(p.wait_p50_ns / 1000), "wait_p99_us",
		(json_int_t)(p.wait_p99_ns / 1000), "run_p50_us",
		(json_int_t)(p.run_p50_ns / 1000), "run_p99_us",
		(json_int_t)(p.run_p99_ns / 1000), "stuck", (json_int_t)p.stuck,
		"stuck_total", (json_int_t)p.stuck_total, "oldest_running_us",
		(json_int_t)(p.oldest_running_ns / 1000));
}

static json_t *store_json(struct store *s)
{
	struct store_stats t;
	store_stats(s, &t);
	return json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I, s:b}",
		"commits", (json_int_t)t.commits, "failed_batches",
		(json_int_t)t.failed_batches, "rows", (json_int_t)t.rows,
		"writes", (json_int_t)t.writes, "reads", (json_int_t)t.reads,
		"batch_p50", (json_int_t)t.batch_p50, "batch_p99",
		(json_int_t)t.batch_p99, "batch_max", (json_int_t)t.batch_max,
		"commit_p50_us", (json_int_t)t.commit_p50_us, "commit_p99_us",
		(json_int_t)t.commit_p99_us, "db_bytes", (json_int_t)t.db_bytes,
		"wal_bytes", (json_int_t)t.wal_bytes, "queued",
		(json_int_t)t.queued, "degraded", t.degraded);
}

static json_t *ctl_json(struct daemon *d)
{
	struct ctl_server_stats t = { 0 };
	if (d->ctl)
		ctl_server_stats(d->ctl, &t);
	return json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "clients",
		(json_int_t)t.clients, "accepted", (json_int_t)t.accepted,
		"calls", (json_int_t)t.calls, "errors", (json_int_t)t.errors,
		"rejected", (json_int_t)t.rejected, "bytes_in",
		(json_int_t)t.bytes_in, "bytes_out", (json_int_t)t.bytes_out);
}

static json_t *sched_json(struct sched *s)
{
	struct sched_counts n;
	sched_counts(s, &n);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "runs_inflight",
			 (json_int_t)n.runs_inflight, "runs_started",
			 (json_int_t)n.runs_started, "runs_finished",
			 (json_int_t)n.runs_finished, "missed",
			 (json_int_t)n.missed, "skipped", (json_int_t)n.skipped,
			 "clock_steps", (json_int_t)n.clock_steps);
}

static void m_get_stats(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	ctl_reply(c, json_pack("{s:o, s:o, s:o, s:o, s:o}", "loop",
			       loop_json(d->loop), "pool", pool_json(d->loop),
			       "store", store_json(d->store), "ctl",
			       ctl_json(d), "scheduler", sched_json(d->sched)));
}

static void m_shutdown(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	int64_t timeout = -1;
	if (!p_int(c, params, "timeout_ms", 0, INT32_MAX, &timeout))
		return;
	if (d->state == DAEMON_STOPPING) {
		ctl_error(c, LOOPD_E_SHUTTING_DOWN, NULL,
			  "loopd is already stopping");
		return;
	}
	log_info("shutdown requested by uid %u pid %d",
		 (unsigned)ctl_call_peer(c)->uid, (int)ctl_call_peer(c)->pid);
	ctl_reply(c, NULL);
	daemon_shutdown(d, timeout);
}

/* ---- io.loopd.jobs ---- */

static void m_jobs_list(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *state, *kind, *name;
	if (!p_str(c, params, "state", false, &state) ||
	    !p_str(c, params, "kind", false, &kind) ||
	    !p_str(c, params, "name", false, &name))
		return;
	struct jbuf b;
	ctl_reply_begin(&b);
	sched_job_list(d->sched, state, kind, name, &b);
	ctl_reply_jbuf(c, &b);
}

static void m_jobs_get(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return;
	json_t *job = sched_job_get(d->sched, name);
	if (!job)
		ctl_error(c, LOOPD_E_NO_SUCH_JOB,
			  json_pack("{s:s}", "name", name), "no job named %s",
			  name);
	else
		ctl_reply(c, json_pack("{s:o}", "job", job));
}

/*
 * PROTOCOL.md: an exec job's `user` defaults to the uid of the client
 * that added it.  Only root can run a job as another user, so only a
 * root loopd fills it in (the exec kind refuses `user` otherwise).
 * Returns params with args.user set (new reference), or NULL: unchanged.
 */
static json_t *exec_owner(json_t *params, uid_t uid)
{
	json_t *args = json_object_get(params, "args");
	const char *kind = json_string_value(json_object_get(params, "kind"));
	if (geteuid() != 0 || !kind || strcmp(kind, "exec") != 0 ||
	    (args && !json_is_object(args)) || json_object_get(args, "user"))
		return NULL;
	json_t *p = json_deep_copy(params);
	json_t *a = json_object_get(p, "args");
	if (!a) {
		a = json_object();
		json_object_set_new(p, "args", a);
	}
	json_object_set_new(a, "user", json_integer((json_int_t)uid));
	return p;
}

static void m_jobs_add(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return;
	struct pending *p = pending_new(c, name, "job");
	if (!p)
		return;
	json_t *own = exec_owner(params, ctl_call_peer(c)->uid);
	sched_job_add(d->sched, own ? own : params, job_done, p);
	json_decref(own);
}

/*
 * An Update that replaces an exec job's args without `user` keeps the
 * user the job had (by default its adder's), rather than leaving the
 * job to run as loopd's own user: root, for a job a non-root admin
 * added.  Returns params with it (new reference), or NULL: unchanged.
 */
static json_t *exec_keep_user(struct daemon *d, json_t *params,
			      const char *name)
{
	json_t *args = json_object_get(params, "args");
	if (!json_is_object(args) || json_object_get(args, "user"))
		return NULL;
	json_t *job = sched_job_get(d->sched, name), *p = NULL;
	json_t *kind = json_object_get(params, "kind");
	const char *k =
		json_string_value(kind ? kind : json_object_get(job, "kind"));
	json_t *user = json_object_get(json_object_get(job, "args"), "user");
	if (user && k && !strcmp(k, "exec")) {
		p = json_deep_copy(params);
		json_object_set(json_object_get(p, "args"), "user", user);
	}
	json_decref(job);
	return p;
}

static void m_jobs_update(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return;
	struct pending *p = pending_new(c, name, "job");
	if (!p)
		return;
	json_t *own = exec_keep_user(d, params, name);
	sched_job_update(d->sched, own ? own : params, job_done, p);
	json_decref(own);
}

static void m_jobs_remove(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return;
	struct pending *p = pending_new(c, name, NULL);
	if (p)
		sched_job_remove(d->sched, name, job_done, p);
}

static void pause_resume(struct ctl_call *c, json_t *params, void *ctx,
			 bool pause)
{
	struct daemon *d = ctx;
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return;
	struct pending *p = pending_new(c, name, "job");
	if (p)
		sched_job_pause(d->sched, name, pause, job_done, p);
}

static void m_jobs_pause(struct ctl_call *c, json_t *params, void *ctx)
{
	pause_resume(c, params, ctx, true);
}

static void m_jobs_resume(struct ctl_call *c, json_t *params, void *ctx)
{
	pause_resume(c, params, ctx, false);
}

/* Trigger: without wait, the run once committed; with wait, the run when
 * it ends; with wait and more, both. */
static void trigger_started(void *ud, struct sched_result *res)
{
	struct pending *p = ud;
	if (res->status < 0) {
		reply_result(p->c, res, "run", p->name);
		free(p);
		return;
	}
	if (!p->wait) {
		reply_result(p->c, res, "run", p->name);
		p->c = NULL; /* answered; finished frees p */
		return;
	}
	if (p->more)
		ctl_reply_more(p->c, json_pack("{s:O}", "run", res->job));
	json_decref(res->job);
	res->job = NULL;
}

static void trigger_finished(void *ud, struct sched_result *res)
{
	struct pending *p = ud;
	if (p->c)
		reply_result(p->c, res, "run", p->name);
	else
		json_decref(res->job);
	res->job = NULL;
	free(p);
}

static void trigger_gone(struct ctl_call *c, void *ud)
{
	struct pending *p = ud;
	sched_unwatch(p->d->sched, p->token);
	ctl_reply(c, NULL); /* dropped: frees the call */
	free(p);
}

static void m_jobs_trigger(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *name;
	bool wait = false;
	if (!p_str(c, params, "name", true, &name) ||
	    !p_bool(c, params, "wait", &wait))
		return;
	struct pending *p = pending_new(c, name, "run");
	if (!p)
		return;
	p->d = d;
	p->wait = wait;
	p->more = wait && ctl_call_more(c);
	p->token = sched_job_trigger(d->sched, name, trigger_started,
				     trigger_finished, p);
	if (p->token && wait)
		ctl_call_on_gone(c, trigger_gone, p);
}

static void m_jobs_preview(struct ctl_call *c, json_t *params, void *ctx)
{
	const char *expr, *tz;
	int64_t from = now_usec(), count = LOOPD_PREVIEW_DEFAULT;
	char err[CAL_ERR_MAX];
	struct cal_expr *e;
	struct tz_zone *z;
	if (!p_str(c, params, "schedule", true, &expr) ||
	    !p_str(c, params, "tz", false, &tz) ||
	    !p_int(c, params, "from_usec", 0, INT64_MAX / 2, &from) ||
	    !p_int(c, params, "count", 1, LOOPD_PREVIEW_MAX, &count))
		return;
	if (tz_zone_load(tz, &z, err, sizeof(err)) < 0) {
		ctl_error_param(c, "tz", "tz: %s", err);
		return;
	}
	if (cal_parse(expr, &e, err, sizeof(err)) < 0) {
		tz_zone_unref(z);
		schedule_error(c, expr, err);
		return;
	}
	json_t *next = json_array();
	for (int64_t t = from, i = 0; i < count; i++) {
		if ((t = cal_next(e, z, from, t)) == CAL_NEVER)
			break;
		json_array_append_new(next, json_integer(t));
	}
	cal_expr_free(e);
	tz_zone_unref(z);
	ctl_reply(c, json_pack("{s:o}", "next", next));
}

/* ---- io.loopd.runs ---- */

struct runs_req {
	struct store_req req;
	struct ctl_call *c;
};

static void runs_done(struct store_req *req, int status)
{
	struct runs_req *r = (struct runs_req *)req;
	if (status == -ENOENT || (status == 0 && req->op == STORE_RUN_GET &&
				  req->run.id == STORE_NULL)) {
		ctl_error(r->c, LOOPD_E_NO_SUCH_RUN,
			  json_pack("{s:I}", "id", (json_int_t)req->run.id),
			  "no run with id %" PRId64, req->run.id);
	} else if (status < 0) {
		ctl_error(r->c, LOOPD_E_STORAGE_FAILED, NULL,
			  "the run history could not be read: %s",
			  strerror(-status));
	} else if (req->op == STORE_RUN_GET) {
		ctl_reply(r->c, json_pack("{s:o}", "run",
					  sched_run_to_json(&req->run, true)));
	} else {
		json_t *a = json_array();
		for (size_t i = 0; i < req->nruns; i++)
			json_array_append_new(
				a, sched_run_to_json(&req->runs[i], false));
		ctl_reply(r->c, json_pack("{s:o}", "runs", a));
	}
	store_req_clear(req);
	free(r);
}

static void runs_submit(struct ctl_call *c, struct daemon *d,
			struct runs_req *r)
{
	r->c = c;
	r->req.done = runs_done;
	int e = store_submit(d->store, &r->req);
	if (e < 0) {
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL,
			  "the run history could not be read: %s",
			  strerror(-e));
		store_req_clear(&r->req);
		free(r);
	}
}

static void m_runs_list(struct ctl_call *c, json_t *params, void *ctx)
{
	const char *job, *result;
	int64_t limit = LOOPD_RUNS_DEFAULT, before = STORE_NULL;
	if (!p_str(c, params, "job", false, &job) ||
	    !p_str(c, params, "result", false, &result) ||
	    !p_int(c, params, "limit", 1, 10000, &limit) ||
	    !p_int(c, params, "before_id", 1, INT64_MAX, &before))
		return;
	int res = result ? store_enum_parse(store_result_names,
					    STORE_RESULT_COUNT, result)
			 : STORE_RESULT_NONE;
	if (result && res < 0) {
		ctl_error_param(c, "result", "result: %s is not a run result",
				result);
		return;
	}
	struct runs_req *r = calloc(1, sizeof(*r));
	if (!r) {
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "out of memory");
		return;
	}
	store_req_init(&r->req, STORE_RUN_LIST);
	r->req.filter.job = job ? strdup(job) : NULL;
	r->req.filter.result = (enum store_result)res;
	r->req.filter.before_id = before;
	r->req.filter.limit = (unsigned)limit;
	runs_submit(c, ctx, r);
}

static void m_runs_get(struct ctl_call *c, json_t *params, void *ctx)
{
	int64_t id = 0;
	if (!p_int(c, params, "id", 1, INT64_MAX, &id))
		return;
	if (id == 0) {
		ctl_error_param(c, "id", "id is required");
		return;
	}
	struct runs_req *r = calloc(1, sizeof(*r));
	if (!r) {
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "out of memory");
		return;
	}
	store_req_init(&r->req, STORE_RUN_GET);
	r->req.run.id = id;
	runs_submit(c, ctx, r);
}

/* ---- io.loopd.plugins ---- */

static const char *const plugin_state_names[] = {
	[PLUGIN_LOADING] = "loading",    [PLUGIN_ACTIVE] = "active",
	[PLUGIN_DRAINING] = "unloading", [PLUGIN_FAILED] = "failed",
	[PLUGIN_STOPPING] = "stopping",
};

static json_t *plugin_json(struct daemon *d, loopd_plugin *p)
{
	const struct loopd_plugin_desc *ds = p->desc;
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I,"
		" s:s}",
		"name", p->name, "version", ds->version ? ds->version : "",
		"description", ds->description ? ds->description : "", "abi",
		"", "path", p->path, "state", plugin_state_names[p->pstate],
		"kinds", sched_plugin_kinds(d->sched, p), "handles",
		(json_int_t)p->acct.handles, "inflight",
		(json_int_t)p->acct.inflight, "callbacks",
		(json_int_t)p->acct.callbacks, "callback_max_us",
		(json_int_t)(p->acct.max_ns / 1000), "errors",
		(json_int_t)p->errors, "last_error", p->last_error);
	char abi[16];
	snprintf(abi, sizeof(abi), "%u.%u", ds->abi_major, ds->abi_minor);
	json_object_set_new(o, "abi", json_string(abi));
	json_object_set_new(o, "stuck",
			    json_integer((json_int_t)p->acct.stuck));
	return o;
}

static void m_plugins_list(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	json_t *a = json_array();
	for (loopd_plugin *p = plugins_head(d->plugins); p; p = p->next)
		json_array_append_new(a, plugin_json(d, p));
	for (const struct plugin_quarantine *q = plugins_quarantine(d->plugins);
	     q; q = q->next)
		json_array_append_new(
			a,
			json_pack("{s:s, s:s, s:s, s:o, s:s}", "name", q->name,
				  "path", q->path, "state", "quarantined",
				  "kinds", json_array(), "last_error",
				  "crashed loopd 3 times within 10 minutes; "
				  "'loopctl plugins load NAME' enables it "
				  "again"));
	ctl_reply(c, json_pack("{s:o}", "plugins", a));
}

static void load_error(struct ctl_call *c, int r, const char *path,
		       const char *err)
{
	const char *name =
		r == -EPROTO ? LOOPD_E_INCOMPATIBLE_ABI : LOOPD_E_LOAD_FAILED;
	ctl_error(c, name, json_pack("{s:s}", "path", path), "%s", err);
}

/* Loads path (which must be in the plugin directory) and replies. */
static void load_and_reply(struct ctl_call *c, struct daemon *d,
			   const char *path)
{
	char err[600];
	loopd_plugin *p;
	int r = plugins_enable(d->plugins, path, &p, err, sizeof(err));
	if (r < 0)
		load_error(c, r, path, err);
	else
		ctl_reply(c, json_pack("{s:o}", "plugin", plugin_json(d, p)));
}

static void m_plugins_load(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	const char *path;
	char real[PATH_MAX], dir[PATH_MAX];
	if (!p_str(c, params, "path", true, &path))
		return;
	bool bare = !strchr(path, '/');
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s/%s%s", d->plugin_dir, path,
		 bare && !strstr(path, ".so") ? ".so" : "");
	const char *want = bare ? full : path;
	if (!realpath(want, real) || !realpath(d->plugin_dir, dir) ||
	    strncmp(real, dir, strlen(dir)) != 0 || real[strlen(dir)] != '/') {
		ctl_error(c, LOOPD_E_LOAD_FAILED,
			  json_pack("{s:s}", "path", path),
			  "%s: only plugins in the plugin directory %s can be "
			  "loaded",
			  path, d->plugin_dir);
		return;
	}
	load_and_reply(c, d, real);
}

static loopd_plugin *find_plugin(struct ctl_call *c, struct daemon *d,
				 json_t *params)
{
	const char *name;
	if (!p_str(c, params, "name", true, &name))
		return NULL;
	for (loopd_plugin *p = plugins_head(d->plugins); p; p = p->next)
		if (strcmp(p->name, name) == 0 &&
		    (p->pstate == PLUGIN_ACTIVE ||
		     p->pstate == PLUGIN_DRAINING))
			return p;
	ctl_error(c, LOOPD_E_NO_SUCH_PLUGIN, json_pack("{s:s}", "name", name),
		  "no plugin named %s is loaded", name);
	return NULL;
}

/* Waits for an unloading plugin to be gone, then loads it again (reload)
 * or replies (unload). */
struct unload {
	struct ctl_call *c;
	struct daemon *d;
	char name[33];
	char *path; /* reload: load this once gone */
	json_t *info;
	int tries;
};

static bool plugin_present(struct daemon *d, const char *name)
{
	for (loopd_plugin *p = plugins_head(d->plugins); p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return true;
	return false;
}

static void unload_check(loopd_plugin *unused, void *ud)
{
	struct unload *u = ud;
	if (plugin_present(u->d, u->name) && ++u->tries < 3000) {
		loop_timer(u->d->loop, NULL, 10, 0, unload_check, u);
		return;
	}
	if (plugin_present(u->d, u->name))
		ctl_error(u->c, LOOPD_E_BUSY,
			  json_pack("{s:s}", "name", u->name),
			  "%s is still draining after 30 s", u->name);
	else if (u->path)
		load_and_reply(u->c, u->d, u->path);
	else
		ctl_reply(u->c, json_pack("{s:O}", "plugin", u->info));
	json_decref(u->info);
	free(u->path);
	free(u);
}

static void unload_common(struct ctl_call *c, json_t *params, void *ctx,
			  bool reload)
{
	struct daemon *d = ctx;
	loopd_plugin *p = find_plugin(c, d, params);
	if (!p)
		return;
	struct unload *u = calloc(1, sizeof(*u));
	if (!u || (reload && !(u->path = strdup(p->path)))) {
		free(u);
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "out of memory");
		return;
	}
	*u = (struct unload){ c, d, "", u->path, NULL, 0 };
	snprintf(u->name, sizeof(u->name), "%s", p->name);
	log_info("%s of plugin %s requested by uid %u",
		 reload ? "reload" : "unload", p->name,
		 (unsigned)ctl_call_peer(c)->uid);
	plugins_unload(d->plugins, p);
	u->info = plugin_json(d, p);
	json_object_set_new(u->info, "state", json_string("unloaded"));
	unload_check(NULL, u);
}

static void m_plugins_unload(struct ctl_call *c, json_t *params, void *ctx)
{
	unload_common(c, params, ctx, false);
}

static void m_plugins_reload(struct ctl_call *c, json_t *params, void *ctx)
{
	unload_common(c, params, ctx, true);
}

/* ---- io.loopd.events ---- */

struct sub {
	struct ctl_call *c;
	struct daemon *d;
	uint64_t token;
	json_t *types; /* array of globs, or NULL: all */
	bool ended;
};

static bool sub_wants(const struct sub *s, const char *type)
{
	size_t i;
	json_t *g;
	if (!s->types || json_array_size(s->types) == 0)
		return true;
	json_array_foreach(s->types, i, g)
	{
		if (json_is_string(g) &&
		    fnmatch(json_string_value(g), type, 0) == 0)
			return true;
	}
	return false;
}

static void sub_end(struct sub *s)
{
	if (s->token)
		events_unsubscribe(s->d->events, s->token);
	json_decref(s->types);
	free(s);
}

static void sub_event(void *ud, json_t *ev)
{
	struct sub *s = ud;
	if (s->ended ||
	    !sub_wants(s, json_string_value(json_object_get(ev, "type"))))
		return;
	if (ctl_call_backlog(s->c) > LOOPD_MAX_QUEUED_OUTPUT) {
		s->ended = true;
		ctl_call_disconnect(s->c);
		ctl_error(s->c, LOOPD_E_OVERFLOW,
			  json_pack("{s:I}", "seq",
				    json_integer_value(
					    json_object_get(ev, "seq"))),
			  "the subscriber fell more than %d bytes behind",
			  LOOPD_MAX_QUEUED_OUTPUT);
		if (s->token) /* else the replay's caller frees it */
			sub_end(s);
		return;
	}
	ctl_reply_more(s->c,
		       json_pack("{s:O, s:O}", "seq",
				 json_object_get(ev, "seq"), "event", ev));
}

static void sub_gone(struct ctl_call *c, void *ud)
{
	struct sub *s = ud;
	ctl_reply(c, NULL);
	sub_end(s);
}

static void m_events_subscribe(struct ctl_call *c, json_t *params, void *ctx)
{
	struct daemon *d = ctx;
	int64_t since = -1;
	json_t *types = json_object_get(params, "types");
	if (!ctl_call_more(c)) {
		ctl_error(c, LOOPD_E_EXPECTED_MORE, NULL,
			  "Subscribe streams: call it with \"more\": true");
		return;
	}
	if (types && !json_is_null(types) && !json_is_array(types)) {
		ctl_error_param(c, "types", "types must be an array of globs");
		return;
	}
	if (!p_int(c, params, "since_seq", 0, INT64_MAX, &since))
		return;
	struct sub *s = calloc(1, sizeof(*s));
	if (!s) {
		ctl_error(c, LOOPD_E_STORAGE_FAILED, NULL, "out of memory");
		return;
	}
	*s = (struct sub){ c, d, 0,
			   json_is_array(types) ? json_incref(types) : NULL,
			   false };
	ctl_reply_more(c, json_pack("{s:I}", "seq",
				    (json_int_t)events_seq(d->events)));
	if (since >= 0 &&
	    events_replay(d->events, (uint64_t)since, sub_event, s) < 0) {
		ctl_error(c, LOOPD_E_OVERFLOW, NULL,
			  "events after %" PRId64 " are no longer kept", since);
		sub_end(s);
		return;
	}
	if (s->ended) {
		sub_end(s);
		return;
	}
	s->token = events_subscribe(d->events, sub_event, s);
	ctl_call_on_gone(c, sub_gone, s);
}

/* ---- the table ---- */

const struct ctl_method ctl_methods[] = {
	{ LOOPD_M_GET_STATUS, CTL_READ, m_get_status },
	{ LOOPD_M_GET_STATS, CTL_READ, m_get_stats },
	{ LOOPD_M_SHUTDOWN, CTL_ADMIN, m_shutdown },
	{ LOOPD_M_JOBS_LIST, CTL_READ, m_jobs_list },
	{ LOOPD_M_JOBS_GET, CTL_READ, m_jobs_get },
	{ LOOPD_M_JOBS_ADD, CTL_ADMIN, m_jobs_add },
	{ LOOPD_M_JOBS_UPDATE, CTL_ADMIN, m_jobs_update },
	{ LOOPD_M_JOBS_REMOVE, CTL_ADMIN, m_jobs_remove },
	{ LOOPD_M_JOBS_PAUSE, CTL_ADMIN, m_jobs_pause },
	{ LOOPD_M_JOBS_RESUME, CTL_ADMIN, m_jobs_resume },
	{ LOOPD_M_JOBS_TRIGGER, CTL_ADMIN, m_jobs_trigger },
	{ LOOPD_M_JOBS_PREVIEW, CTL_READ, m_jobs_preview },
	{ LOOPD_M_RUNS_LIST, CTL_READ, m_runs_list },
	{ LOOPD_M_RUNS_GET, CTL_READ, m_runs_get },
	{ LOOPD_M_PLUGINS_LIST, CTL_READ, m_plugins_list },
	{ LOOPD_M_PLUGINS_LOAD, CTL_ADMIN, m_plugins_load },
	{ LOOPD_M_PLUGINS_UNLOAD, CTL_ADMIN, m_plugins_unload },
	{ LOOPD_M_PLUGINS_RELOAD, CTL_ADMIN, m_plugins_reload },
	{ LOOPD_M_EVENTS_SUBSCRIBE, CTL_READ, m_events_subscribe },
	{ NULL, CTL_READ, NULL },
};

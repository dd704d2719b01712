/*
 * sql.c - the bundled `sql` job kind: SQL statements against an existing
 * SQLite database, on the worker pool (the nightly VACUUM, deleting old
 * rows), with a summary of what changed as the run's output.  This file
 * owns the runs; sql_args.c checks the args, sql_exec.c does the work.
 *
 * A run:
 *
 *   start (loop) ──submit──▶ sql_job_run (a pool thread) ──▶ done (loop)
 *                                                            └─ finish
 *
 * start parses the args and submits one blocking job; done calls finish
 * exactly once, with 0 (every statement ran), 1 (one failed, or the
 * database or the SQL file could not be opened) or -ECANCELED (stopped),
 * and the output sql_job_run wrote.  The run is freed in done.
 *
 * stop: a job still queued is cancelled (done gets -ECANCELED); a running
 * one is interrupted (sql_job_stop), and its done follows within moments.
 * The host turns the status into the run's result (timeout, cancelled,
 * interrupted) by why it stopped the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <loopd/plugin.h>

#include "sql_args.h"
#include "sql_exec.h"

/* One run of an sql job, from start to its done.  Loop thread, except
 * job, which the worker uses while it runs (see sql_exec.h). */
struct srun {
	struct srun *prev, *next;
	loopd_run *run;
	int64_t id;
	loopd_id handle; /* the submitted job */
	struct sql_job job;
};

static const struct loopd_api *api; /* the host table, from init */
static struct srun *runs;           /* every run whose done has not run yet */

static void srun_link(struct srun *r)
{
	r->next = runs;
	if (runs)
		runs->prev = r;
	runs = r;
}

static void srun_unlink(struct srun *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void srun_free(struct srun *r)
{
	sql_job_free(&r->job);
	free(r);
}

/* A pool thread: only log may be called. */
static int sql_work(void *ud)
{
	struct srun *r = ud;
	return sql_job_run(&r->job);
}

/* The loop thread, poll phase: the one finish of the run. */
static void sql_done(loopd_plugin *p, void *ud, int status)
{
	struct srun *r = ud;
	size_t len = 0;
	char *text;
	int e;
	srun_unlink(r);
	if (status == -ECANCELED && !r->job.out.len)
		sbuf_printf(&r->job.out, "stopped before it started\n");
	text = sbuf_take(&r->job.out, &len);
	api->log(p, status ? LOOPD_LOG_INFO : LOOPD_LOG_DEBUG,
		 "run %" PRId64 " of %s: status %d", r->id,
		 api->run_job(r->run), status);
	e = api->finish(r->run, status, text ? text : "", text ? len : 0);
	/* -EALREADY: the host ended it itself after its kill grace. */
	if (e < 0)
		api->log(p, e == -EALREADY ? LOOPD_LOG_DEBUG : LOOPD_LOG_WARN,
			 "run %" PRId64 ": finish: %s", r->id, strerror(-e));
	free(text);
	srun_free(r);
}

static int sql_validate(loopd_plugin *p, const char *args_json, char *err,
			size_t errlen)
{
	return sql_args_parse(args_json, NULL, err, errlen);
}

static int sql_start(loopd_plugin *p, loopd_run *run, const char *args_json)
{
	struct sql_args a;
	char err[256];
	struct srun *r;
	int e = sql_args_parse(args_json, &a, err, sizeof(err));
	if (e < 0) {
		api->log(p, LOOPD_LOG_WARN, "run %" PRId64 " of %s: %s",
			 api->run_id(run), api->run_job(run), err);
		return e;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		sql_args_free(&a);
		return -ENOMEM;
	}
	if ((e = sql_job_init(&r->job, &a)) < 0) {
		free(r);
		return e;
	}
	r->run = run;
	r->id = api->run_id(run);
	r->handle = api->submit(p, sql_work, sql_done, r);
	if (r->handle < 0) {
		e = (int)r->handle;
		srun_free(r);
		return e;
	}
	srun_link(r);
	return 0;
}

static void sql_stop(loopd_plugin *p, loopd_run *run)
{
	for (struct srun *r = runs; r; r = r->next)
		if (r->run == run) {
			/* Queued: done gets -ECANCELED.  Running (-EBUSY):
			 * interrupted, and done follows. */
			if (api->cancel(p, r->handle) < 0)
				sql_job_stop(&r->job);
			return;
		}
}

static const struct loopd_kind sql_kind = {
	.size = sizeof(struct loopd_kind),
	.name = "sql",
	.description = "runs SQL statements against a SQLite database file",
	.validate = sql_validate,
	.start = sql_start,
	.stop = sql_stop,
};

/* The drain ran every done; anything left is freed all the same. */
static void sql_shutdown(loopd_plugin *p, void *state)
{
	while (runs) {
		struct srun *r = runs;
		srun_unlink(r);
		srun_free(r);
	}
}

static int sql_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	int e;
	api = a;
	if ((e = a->add_kind(p, &sql_kind)) < 0) {
		a->log(p, LOOPD_LOG_ERR, "registering the sql kind: %s",
		       strerror(-e));
		return e;
	}
	*st = NULL;
	a->log(p, LOOPD_LOG_DEBUG, "SQLite %s", sqlite3_libversion());
	return 0;
}

static const struct loopd_plugin_desc sql_desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "sql",
	.version = "1.0",
	.description = "the sql job kind: SQL statements on a SQLite database",
	.init = sql_init,
	.shutdown = sql_shutdown,
};
LOOPD_PLUGIN(sql_desc)

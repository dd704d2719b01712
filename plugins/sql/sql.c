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
 * start parses the args and submits one blocking job (the pool-run
 * bookkeeping of ../common/runs.c); done calls finish exactly once, with
 * 0 (every statement ran), 1 (one failed, or the database or the SQL file
 * could not be opened) or -ECANCELED (stopped), and the output
 * sql_job_run wrote.  The run is freed in done.
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

#include "runs.h"
#include "sql_args.h"
#include "sql_exec.h"

static const struct loopd_api *api; /* the host table, from init */

/* The pool-run hooks (runs.h): job is a struct sql_job. */
static int sql_work(void *job)
{
	return sql_job_run(job);
}

static void sql_interrupt(void *job)
{
	sql_job_stop(job);
}

static struct sbuf *sql_output(void *job)
{
	return &((struct sql_job *)job)->out;
}

static void sql_free(void *job)
{
	sql_job_free(job);
	free(job);
}

static const struct poolrun_ops sql_ops = {
	.work = sql_work,
	.interrupt = sql_interrupt,
	.output = sql_output,
	.free = sql_free,
};

static struct poolrun_kind sql_runs = { .ops = &sql_ops };

static int sql_validate(loopd_plugin *p, const char *args_json, char *err,
			size_t errlen)
{
	return sql_args_parse(args_json, NULL, err, errlen);
}

static int sql_start(loopd_plugin *p, loopd_run *run, const char *args_json)
{
	struct sql_args a;
	struct sql_job *job;
	char err[256];
	int e = sql_args_parse(args_json, &a, err, sizeof(err));
	if (e < 0) {
		api->log(p, LOOPD_LOG_WARN, "run %" PRId64 " of %s: %s",
			 api->run_id(run), api->run_job(run), err);
		return e;
	}
	if (!(job = calloc(1, sizeof(*job)))) {
		sql_args_free(&a);
		return -ENOMEM;
	}
	if ((e = sql_job_init(job, &a)) < 0) {
		free(job);
		return e;
	}
	return poolrun_start(&sql_runs, p, run, job);
}

static void sql_stop(loopd_plugin *p, loopd_run *run)
{
	poolrun_stop(&sql_runs, p, run);
}

static const struct loopd_kind sql_kind = {
	.size = sizeof(struct loopd_kind),
	.name = "sql",
	.description = "runs SQL statements against a SQLite database file",
	.validate = sql_validate,
	.start = sql_start,
	.stop = sql_stop,
};

static void sql_shutdown(loopd_plugin *p, void *state)
{
	poolrun_shutdown(&sql_runs);
}

static int sql_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	int e;
	api = a;
	sql_runs.api = a;
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

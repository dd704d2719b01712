/*
 * files.c - the bundled `files` job kind: removes files older than an age
 * under a directory, or moves them to an archive directory, like
 * tmpreaper or systemd-tmpfiles' age cleanup; with a dry run; never
 * following a symlink.  This file owns the runs; files_args.c checks the
 * args, files_walk.c does the work on the worker pool.
 *
 * A run:
 *
 *   start (loop) ──submit──▶ files_job_run (a pool thread) ──▶ done (loop)
 *                                                              └─ finish
 *
 * The submit, done and stop bookkeeping is ../common/runs.c's pool runs.
 * done calls finish exactly once: 0 (no error), 1 (an error on some
 * file, each a line of the output) or -ECANCELED (stopped), with the
 * output the walk wrote.  The run is freed in done.
 *
 * stop: a job still queued is cancelled (done gets -ECANCELED); a running
 * walk sees its stop flag at the next entry and ends, and its done
 * follows.  The host turns the status into the run's result by why it
 * stopped the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loopd/plugin.h>

#include "files_args.h"
#include "files_walk.h"
#include "runs.h"

static const struct loopd_api *api; /* the host table, from init */

/* The pool-run hooks (runs.h): job is a struct files_job. */
static int files_work(void *job)
{
	return files_job_run(job);
}

static void files_interrupt(void *job)
{
	files_job_stop(job);
}

static struct sbuf *files_output(void *job)
{
	return &((struct files_job *)job)->out;
}

static void files_note(const void *job, char *buf, size_t len)
{
	const struct files_job *j = job;
	snprintf(buf, len, ", %" PRIu64 " files acted on, %" PRIu64 " errors",
		 j->acted, j->errors);
}

static void files_free(void *job)
{
	files_job_free(job);
	free(job);
}

static const struct poolrun_ops files_ops = {
	.work = files_work,
	.interrupt = files_interrupt,
	.output = files_output,
	.note = files_note,
	.free = files_free,
};

static struct poolrun_kind files_runs = { .ops = &files_ops };

static int files_validate(loopd_plugin *p, const char *args_json, char *err,
			  size_t errlen)
{
	return files_args_parse(args_json, NULL, err, errlen);
}

static int files_start(loopd_plugin *p, loopd_run *run, const char *args_json)
{
	struct files_args a;
	struct files_job *job;
	char err[256];
	int e = files_args_parse(args_json, &a, err, sizeof(err));
	if (e < 0) {
		api->log(p, LOOPD_LOG_WARN, "run %" PRId64 " of %s: %s",
			 api->run_id(run), api->run_job(run), err);
		return e;
	}
	if (!(job = calloc(1, sizeof(*job)))) {
		files_args_free(&a);
		return -ENOMEM;
	}
	if ((e = files_job_init(job, &a)) < 0) {
		free(job);
		return e;
	}
	return poolrun_start(&files_runs, p, run, job);
}

static void files_stop(loopd_plugin *p, loopd_run *run)
{
	poolrun_stop(&files_runs, p, run);
}

static const struct loopd_kind files_kind = {
	.size = sizeof(struct loopd_kind),
	.name = "files",
	.description = "deletes or archives files older than an age under a "
		       "directory",
	.validate = files_validate,
	.start = files_start,
	.stop = files_stop,
};

static void files_shutdown(loopd_plugin *p, void *state)
{
	poolrun_shutdown(&files_runs);
}

static int files_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	int e;
	api = a;
	files_runs.api = a;
	if ((e = a->add_kind(p, &files_kind)) < 0) {
		a->log(p, LOOPD_LOG_ERR, "registering the files kind: %s",
		       strerror(-e));
		return e;
	}
	*st = NULL;
	return 0;
}

static const struct loopd_plugin_desc files_desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "files",
	.version = "1.0",
	.description = "the files job kind: age-based cleanup of a directory",
	.init = files_init,
	.shutdown = files_shutdown,
};
LOOPD_PLUGIN(files_desc)

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

/* One run of a files job, from start to its done.  Loop thread, except
 * job, which the worker uses while it runs (see files_walk.h). */
struct frun {
	struct frun *prev, *next;
	loopd_run *run;
	int64_t id;
	loopd_id handle; /* the submitted job */
	struct files_job job;
};

static const struct loopd_api *api; /* the host table, from init */
static struct frun *runs;           /* every run whose done has not run */

static void frun_link(struct frun *r)
{
	r->next = runs;
	if (runs)
		runs->prev = r;
	runs = r;
}

static void frun_unlink(struct frun *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		runs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void frun_free(struct frun *r)
{
	files_job_free(&r->job);
	free(r);
}

/* A pool thread: only log may be called. */
static int files_work(void *ud)
{
	struct frun *r = ud;
	return files_job_run(&r->job);
}

/* The loop thread, poll phase: the one finish of the run. */
static void files_done(loopd_plugin *p, void *ud, int status)
{
	struct frun *r = ud;
	size_t len = 0;
	char *text;
	int e;
	frun_unlink(r);
	if (status == -ECANCELED && !r->job.out.len)
		sbuf_printf(&r->job.out, "stopped before it started\n");
	text = sbuf_take(&r->job.out, &len);
	api->log(p, status ? LOOPD_LOG_INFO : LOOPD_LOG_DEBUG,
		 "run %" PRId64 " of %s: status %d, %" PRIu64
		 " files acted on, %" PRIu64 " errors",
		 r->id, api->run_job(r->run), status, r->job.acted,
		 r->job.errors);
	e = api->finish(r->run, status, text ? text : "", text ? len : 0);
	/* -EALREADY: the host ended it itself after its kill grace. */
	if (e < 0)
		api->log(p, e == -EALREADY ? LOOPD_LOG_DEBUG : LOOPD_LOG_WARN,
			 "run %" PRId64 ": finish: %s", r->id, strerror(-e));
	free(text);
	frun_free(r);
}

static int files_validate(loopd_plugin *p, const char *args_json, char *err,
			  size_t errlen)
{
	return files_args_parse(args_json, NULL, err, errlen);
}

static int files_start(loopd_plugin *p, loopd_run *run, const char *args_json)
{
	struct files_args a;
	char err[256];
	struct frun *r;
	int e = files_args_parse(args_json, &a, err, sizeof(err));
	if (e < 0) {
		api->log(p, LOOPD_LOG_WARN, "run %" PRId64 " of %s: %s",
			 api->run_id(run), api->run_job(run), err);
		return e;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		files_args_free(&a);
		return -ENOMEM;
	}
	if ((e = files_job_init(&r->job, &a)) < 0) {
		free(r);
		return e;
	}
	r->run = run;
	r->id = api->run_id(run);
	r->handle = api->submit(p, files_work, files_done, r);
	if (r->handle < 0) {
		e = (int)r->handle;
		frun_free(r);
		return e;
	}
	frun_link(r);
	return 0;
}

static void files_stop(loopd_plugin *p, loopd_run *run)
{
	for (struct frun *r = runs; r; r = r->next)
		if (r->run == run) {
			/* Queued: done gets -ECANCELED.  Running (-EBUSY):
			 * the walk ends at its next entry. */
			if (api->cancel(p, r->handle) < 0)
				files_job_stop(&r->job);
			return;
		}
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

/* The drain ran every done; anything left is freed all the same. */
static void files_shutdown(loopd_plugin *p, void *state)
{
	while (runs) {
		struct frun *r = runs;
		frun_unlink(r);
		frun_free(r);
	}
}

static int files_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	int e;
	api = a;
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

/*
 * runs.h - the run bookkeeping the bundled kinds share (plugins/common/:
 * sources compiled into each plugin, not a plugin).
 *
 * A run list: every run of the kind that has not finished yet, so that
 * stop can find a run by its loopd_run and shutdown can free what is
 * left.  Loop thread only.  A kind embeds a struct run_node first in its
 * own run and casts back.
 *
 * Pool runs, for kinds whose whole run is one blocking job on the pool
 * (sql, files):
 *
 *   start (loop) ──submit──▶ ops->work (a pool thread) ──▶ done (loop)
 *                                                          └─ finish
 *
 * poolrun_start submits the job; its done calls finish exactly once with
 * what work returned (or -ECANCELED, "stopped before it started" when the
 * job had written nothing) and the job's output, then frees the run.
 * poolrun_stop cancels a job still queued (its done gets -ECANCELED) and
 * interrupts a running one (ops->interrupt), whose done follows.
 */
#ifndef LOOPD_PLUGIN_RUNS_H
#define LOOPD_PLUGIN_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include <loopd/plugin.h>

#include "sbuf.h"

struct run_node {
	struct run_node *prev, *next;
	loopd_run *run; /* the host's (borrowed) */
	int64_t id;     /* api->run_id(run), for the log */
};

struct run_list {
	struct run_node *head;
};

void runlist_add(struct run_list *l, struct run_node *n);
void runlist_remove(struct run_list *l, struct run_node *n);
/* The node of run, or NULL. */
struct run_node *runlist_find(const struct run_list *l, const loopd_run *run);

/* api->finish for n's run, its refusal logged: -EALREADY (the host ended
 * the run itself after its kill grace) at debug, anything else as a
 * warning.  text may be NULL (no output). */
void run_finish(const struct loopd_api *api, loopd_plugin *p,
		const struct run_node *n, int status, const char *text,
		size_t len);

/* What a pool-run kind does with its job (a pointer of its own). */
struct poolrun_ops {
	int (*work)(void *job);            /* a pool thread: the whole run */
	void (*interrupt)(void *job);      /* loop: a running work ends soon */
	struct sbuf *(*output)(void *job); /* the output work wrote */
	/* Optional: appended to the log line of the run's end, such as
	 * ", 3 files acted on, 0 errors". */
	void (*note)(const void *job, char *buf, size_t len);
	void (*free)(void *job); /* the job and all it owns */
};

struct poolrun_kind {
	const struct loopd_api *api; /* set in init */
	const struct poolrun_ops *ops;
	struct run_list runs; /* whose done has not run yet */
};

/* Submits job (taken: freed by ops->free whatever happens) for run.  0,
 * or -errno from submit (the run then fails at once). */
int poolrun_start(struct poolrun_kind *k, loopd_plugin *p, loopd_run *run,
		  void *job);
void poolrun_stop(struct poolrun_kind *k, loopd_plugin *p, loopd_run *run);
/* Frees what is left: nothing, as the drain ran every done first. */
void poolrun_shutdown(struct poolrun_kind *k);

#endif /* LOOPD_PLUGIN_RUNS_H */

/*
 * runs.c - the run bookkeeping the bundled kinds share (see runs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runs.h"

void runlist_add(struct run_list *l, struct run_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	l->head = n;
}

void runlist_remove(struct run_list *l, struct run_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

struct run_node *runlist_find(const struct run_list *l, const loopd_run *run)
{
	for (struct run_node *n = l->head; n; n = n->next)
		if (n->run == run)
			return n;
	return NULL;
}

void run_finish(const struct loopd_api *api, loopd_plugin *p,
		const struct run_node *n, int status, const char *text,
		size_t len)
{
	int e = api->finish(n->run, status, text ? text : "", text ? len : 0);
	if (e < 0)
		api->log(p, e == -EALREADY ? LOOPD_LOG_DEBUG : LOOPD_LOG_WARN,
			 "run %" PRId64 ": finish: %s", n->id, strerror(-e));
}

/* One pool run, from its start to its done. */
struct poolrun {
	struct run_node node; /* first: runlist_find's node is the run */
	struct poolrun_kind *k;
	loopd_id handle; /* the submitted job */
	void *job;       /* the worker's while work runs */
};

static void poolrun_free(struct poolrun *r)
{
	r->k->ops->free(r->job);
	free(r);
}

/* A pool thread: only log may be called. */
static int poolrun_work(void *ud)
{
	struct poolrun *r = ud;
	return r->k->ops->work(r->job);
}

/* The loop thread, poll phase: the one finish of the run. */
static void poolrun_done(loopd_plugin *p, void *ud, int status)
{
	struct poolrun *r = ud;
	const struct loopd_api *api = r->k->api;
	struct sbuf *out = r->k->ops->output(r->job);
	char note[160] = "";
	size_t len = 0;
	char *text;
	runlist_remove(&r->k->runs, &r->node);
	if (status == -ECANCELED && !out->len)
		sbuf_printf(out, "stopped before it started\n");
	text = sbuf_take(out, &len);
	if (r->k->ops->note)
		r->k->ops->note(r->job, note, sizeof(note));
	api->log(p, status ? LOOPD_LOG_INFO : LOOPD_LOG_DEBUG,
		 "run %" PRId64 " of %s: status %d%s", r->node.id,
		 api->run_job(r->node.run), status, note);
	run_finish(api, p, &r->node, status, text, len);
	free(text);
	poolrun_free(r);
}

int poolrun_start(struct poolrun_kind *k, loopd_plugin *p, loopd_run *run,
		  void *job)
{
	struct poolrun *r = calloc(1, sizeof(*r));
	if (!r) {
		k->ops->free(job);
		return -ENOMEM;
	}
	r->k = k;
	r->job = job;
	r->node.run = run;
	r->node.id = k->api->run_id(run);
	r->handle = k->api->submit(p, poolrun_work, poolrun_done, r);
	if (r->handle < 0) {
		int e = (int)r->handle;
		poolrun_free(r);
		return e;
	}
	runlist_add(&k->runs, &r->node);
	return 0;
}

void poolrun_stop(struct poolrun_kind *k, loopd_plugin *p, loopd_run *run)
{
	struct poolrun *r = (struct poolrun *)runlist_find(&k->runs, run);
	/* Queued: done gets -ECANCELED.  Running (-EBUSY): interrupted, and
	 * done follows. */
	if (r && k->api->cancel(p, r->handle) < 0)
		k->ops->interrupt(r->job);
}

void poolrun_shutdown(struct poolrun_kind *k)
{
	while (k->runs.head) {
		struct poolrun *r = (struct poolrun *)k->runs.head;
		runlist_remove(&k->runs, &r->node);
		poolrun_free(r);
	}
}

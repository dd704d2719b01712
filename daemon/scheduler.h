/*
 * scheduler.h - the scheduler (sched.c): jobs in memory, the due queue,
 * runs and their policies (overlap, catch-up, retries, timeouts), and the
 * job-kind side of the plugin API.
 *
 * (The header is not called sched.h: daemon/ is on the include path and
 * would hide the system's <sched.h>.)
 *
 * Loop thread only.  The store is the truth: every change a client makes
 * is applied in memory only after its commit, and acknowledged then.
 * Runs are recorded as PROTOCOL.md says: a run is `starting` and committed
 * before the kind's start is called, then `running`, then its result.
 *
 * Runs prepared ahead (the lead, sched_opts.lead_ms): when a job's due
 * time T (its next fire time plus its jitter) comes within the lead, its
 * run is created and its `starting` record (scheduled_usec T,
 * started_usec null) submitted then, so that the commit is out of the way
 * at T.  At T the run starts exactly as an unprepared one would: the
 * overlap policy is decided then, started_usec is set, the kind's start
 * is called, and run.started is emitted; only the record moved earlier.
 * If the commit has not returned by T, the run starts when it returns.
 * A prepared run that does not start leaves no record: when its job is
 * paused, updated or removed, its kind's plugin goes, loopd stops, a
 * clock step moves T back out of the lead, or one forward makes T an
 * occurrence to catch up (or a re-anchor replaces it), its record is
 * deleted (STORE_RUN_DELETE); at T, overlap `skip` makes it `skipped`
 * (no second record) and `queue` / `replace` delete it and queue the run
 * as before.
 * A prepared run whose record could not be written is not started at T,
 * as when a `starting` write fails.  A crash between the commit and T
 * leaves the record `starting` with started_usec null: the next start
 * marks it `interrupted`, as it does every unfinished run.  Manual
 * triggers, retries, catch-up, queued and @reboot runs are never
 * prepared: they are recorded when they are due, as before.
 *
 * The database holds a job's base state (active, paused, done); `running`
 * and `waiting-for-plugin` are derived at runtime and only shown.
 */
#ifndef LOOPD_SCHEDULER_H
#define LOOPD_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "loopd/plugin.h"
#include "store.h"

struct loop;
struct sched;
struct events;

/* Catch-up: an occurrence later than this when it is handled is missed. */
#define SCHED_LATE_USEC          (10 * 1000000LL)
/* At most this many missed occurrences are recorded, or run (`all`),
 * per catch-up. */
#define SCHED_CATCHUP_MAX        100
/* A backward wall-clock step this large re-anchors every schedule. */
#define SCHED_STEP_REANCHOR_USEC (3 * 3600 * 1000000LL)
/* The longest sleep between two readings of the wall clock. */
#define SCHED_MAX_SLEEP_MS       60000
/* Default: how long a kind has to finish a run it was told to stop. */
#define SCHED_KILL_GRACE_MS      15000
/* Default lead: a run is prepared (its `starting` record committed) this
 * long before it is due; at most SCHED_LEAD_MAX_MS. */
#define SCHED_LEAD_MS            1000
#define SCHED_LEAD_MAX_MS        60000

struct sched_opts {
	uint64_t kill_grace_ms;
	/* Runs are prepared this long before they are due (see above);
	 * 0: recorded when due, as before the lead existed.  Larger than
	 * SCHED_LEAD_MAX_MS is taken as that. */
	uint64_t lead_ms;
	/* The wall clock in microseconds; tests inject their own. */
	int64_t (*realtime)(void *ctx);
	void *clock_ctx;
	bool no_clock_watch; /* tests: no CLOCK_REALTIME timerfd */
};
void sched_opts_default(struct sched_opts *o);

/* ev may be NULL (no events).  All borrowed; they outlive the scheduler. */
int sched_new(struct sched **out, struct loop *l, struct store *st,
	      struct events *ev, const struct sched_opts *opts);
void sched_free(struct sched *s);

/* Main thread, before loop_run: loads every job from the store. */
int sched_load(struct sched *s);
/* After the plugins are loaded: computes next fire times, applies the
 * catch-up policies, runs @reboot jobs, arms the timer. */
void sched_start(struct sched *s);

/* Stop: no run starts any more (timer closed, queues dropped, prepared
 * runs dropped: their records deleted, in the stop's final commit). */
void sched_stop_starting(struct sched *s);
/* Runs in flight (runs_inflight: prepared runs are not counted). */
unsigned sched_running(const struct sched *s);
/* Tells every running run to stop (the kind's stop); after the kill grace
 * the host finishes those still running as `interrupted`. */
void sched_interrupt_all(struct sched *s);

/* Submits again the results of ended runs that the store failed to
 * write (they are also retried every few seconds on their own); the
 * stop calls it before the final commit. */
void sched_write_unwritten(struct sched *s);

/* ---- the plugin side (host.c) ---- */

/* During p's init only.  0, -EEXIST (a kind of that name exists),
 * -EINVAL (bad struct), -ENOMEM. */
int sched_add_kind(struct sched *s, loopd_plugin *p,
		   const struct loopd_kind *k);
/* p finished init: its kinds are usable; waiting jobs resume. */
void sched_plugin_up(struct sched *s, loopd_plugin *p);
/* p is going (failed init, unload, stop): its kinds go, their jobs wait.
 * Runs still in flight are told to stop. */
void sched_plugin_down(struct sched *s, loopd_plugin *p);
/* p is gone (its code unmapped): forget every run pointer it held. */
void sched_plugin_gone(struct sched *s, loopd_plugin *p);

const char *sched_run_job(loopd_run *run);
int64_t sched_run_id(loopd_run *run);
/* 0; -EALREADY after a finish (or after the host finished it itself). */
int sched_finish(loopd_run *run, int status, const char *output, size_t len);

/* ---- the client side (ctl_methods.c) ---- */

/*
 * The outcome of an asynchronous request: status 0 or -errno, with a
 * message for the person when status < 0 (what failed, where), and the
 * job (JSON) on success.  The result owns job: a callback that keeps it
 * takes it and sets res->job to NULL.  Errors:
 * -EINVAL (a bad field: param names it), -ENOENT (no such job), -EEXIST
 * (a different job has this name), -ENOKEY (unknown kind), -EBADMSG (the
 * kind's validate refused args), -EDOM (invalid schedule), -ESHUTDOWN,
 * or a store error (store_err_is_storage).
 */
struct sched_result {
	int status;
	char param[48]; /* InvalidParameter's parameter, or "" */
	char message[512];
	json_t *job; /* or the run, for triggers */
};
typedef void (*sched_done_fn)(void *ud, struct sched_result *res);

/* params: the Job's settable fields (borrowed).  The callback runs after
 * the commit, never from inside the call. */
void sched_job_add(struct sched *s, json_t *params, sched_done_fn done,
		   void *ud);
void sched_job_update(struct sched *s, json_t *params, sched_done_fn done,
		      void *ud);
void sched_job_remove(struct sched *s, const char *name, sched_done_fn done,
		      void *ud);
void sched_job_pause(struct sched *s, const char *name, bool pause,
		     sched_done_fn done, void *ud);

/*
 * Runs the job now (trigger `manual`).  started: once the run is
 * committed as starting (res.job is the run); finished (may be NULL): when
 * it ends, with the final run.  Returns a watch token (> 0) that
 * sched_unwatch cancels (the client went away), or 0 when the request
 * already failed (started was called with the error).
 */
uint64_t sched_job_trigger(struct sched *s, const char *name,
			   sched_done_fn started, sched_done_fn finished,
			   void *ud);
void sched_unwatch(struct sched *s, uint64_t token);

/* A run as PROTOCOL.md's Run object (output only when asked).  New. */
json_t *sched_run_to_json(const struct store_run *r, bool with_output);

/* Synchronous reads from memory.  New references. */
json_t *sched_job_get(struct sched *s, const char *name);
/* jobs.List's parameters, {"jobs": [Job...]} in name order, as JSON
 * text appended to out.  state, kind: exact or NULL; name: a glob or
 * NULL. */
struct jbuf;
void sched_job_list(struct sched *s, const char *state, const char *kind,
		    const char *name_glob, struct jbuf *out);

/*
 * runs_inflight: runs from their start (at their time, or when a manual
 * trigger, retry, catch-up or queued run is recorded) until their end;
 * sched_running (the stop's drain waits for it) is the same number.
 * runs_prepared: runs prepared ahead that have not reached their time
 * (their record committing, committed, or failed): they are not in
 * flight and do not make their job `running`.
 */
struct sched_counts {
	uint64_t total, active, paused, running, waiting, done, failing;
	uint64_t runs_inflight, runs_started, runs_finished;
	uint64_t missed, skipped, clock_steps;
	uint64_t runs_prepared;
};
/* O(1) once sched_start ran: the job counts are kept at every change of
 * a job's state (before, between sched_load and sched_start, it walks
 * the jobs). */
void sched_counts(const struct sched *s, struct sched_counts *out);
/* Tests: the same by walking every job and run, O(jobs + runs);
 * sched_counts must always agree with it. */
void sched_counts_recount(const struct sched *s, struct sched_counts *out);
/* The kinds, for plugins.List: a JSON array of names of p's kinds. */
json_t *sched_plugin_kinds(const struct sched *s, const loopd_plugin *p);

/* Tests: the scheduler's timer fires now (an injected clock moved). */
void sched_poke(struct sched *s);

#endif

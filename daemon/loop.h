/*
 * loop.h - loopd's event loop: five phases in the Node.js order, handles,
 * reference counting and loop metrics.  See loop.c for the phase list.
 *
 * Handles are named by loopd_id (the plugin API's ids).  Every handle has
 * an owner: a plugin, or NULL for the daemon itself.  All functions are
 * for the loop thread except loop_post() and loop_on_thread().
 */
#ifndef LOOPD_LOOP_H
#define LOOPD_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "loopd/plugin.h"

struct loop;
struct pool;
struct event_base;
struct watchdog;

enum loop_phase {
	PHASE_TIMERS,
	PHASE_PENDING,
	PHASE_POLL,
	PHASE_CHECK,
	PHASE_CLOSE,
	PHASE_COUNT
};
extern const char *const loop_phase_names[PHASE_COUNT];

/* Per-owner accounting, embedded in each plugin (and one for the daemon). */
struct loop_account {
	uint64_t handles;           /* live handles */
	uint64_t inflight;          /* submitted jobs whose done has not run */
	uint64_t stuck;             /* of those, reported stuck */
	atomic_uint_fast64_t posts; /* posts queued (any thread) */
	uint64_t callbacks;         /* callbacks run */
	uint64_t total_ns;          /* time spent in them */
	uint64_t max_ns;            /* the slowest one */
	const char *max_what;       /* its kind: "timer", "io", ... (static) */
};

struct loop_stats {
	uint64_t iterations;
	uint64_t events; /* callbacks run, all phases */
	uint64_t uptime_ns, idle_ns;
	double utilization; /* 1 - idle / uptime */
	uint64_t phase_callbacks[PHASE_COUNT];
	uint64_t phase_ns[PHASE_COUNT];
	/* Timer lateness (fire time - due time), in microseconds. */
	uint64_t lag_p50_us, lag_p99_us, lag_max_us;
	uint64_t slowest_ns;
	const char *slowest_what; /* static */
	char slowest_owner[40];   /* plugin name or "loopd" */
	uint64_t timers, handles;
	uint64_t watchdog_reports; /* callbacks named while still running */
};

/* Owner hooks: loop.c needs a plugin's accounting and name; plugin.c
 * provides them.  NULL owners are the daemon's own handles. */
struct loop_account *loop_owner_account(loopd_plugin *owner);
/* Never freed (the watchdog thread may read it after the plugin is gone). */
const char *loop_owner_name(loopd_plugin *owner);
/* Called when owner's last handle is freed, no job of its is in flight
 * and no post of its is queued. */
void loop_owner_released(struct loop *l, loopd_plugin *owner);

/* threads: the worker pool size (>= 1).  0 or -errno. */
int loop_new(struct loop **out, unsigned threads);
/* After loop_run has returned; frees remaining handles without callbacks. */
void loop_free(struct loop *l);

/* Runs iterations until nothing referenced is left or loop_stop is
 * called.  Returns 0 when the loop emptied, 1 when it was stopped. */
int loop_run(struct loop *l);
/* One iteration, whether or not anything keeps the loop alive (its poll
 * does not block then). */
void loop_run_once(struct loop *l);
/* Makes loop_run return after the current iteration. */
void loop_stop(struct loop *l);
/* Whether anything referenced is left. */
bool loop_alive(const struct loop *l);

/* The cached monotonic time, ms. */
uint64_t loop_now(const struct loop *l);
/* Reads the clock into the cache; returns the new time, ms. */
uint64_t loop_update_time(struct loop *l);
/* Whether the caller runs on the loop thread. */
bool loop_on_thread(void);

struct event_base *loop_base(struct loop *l);
struct pool *loop_pool(struct loop *l);

/* Handles.  Return an id > 0, or -errno. */
loopd_id loop_timer(struct loop *l, loopd_plugin *owner, uint64_t timeout_ms,
		    uint64_t repeat_ms, loopd_cb cb, void *ud);
loopd_id loop_immediate(struct loop *l, loopd_plugin *owner, loopd_cb cb,
			void *ud);
loopd_id loop_defer(struct loop *l, loopd_plugin *owner, loopd_cb cb, void *ud);
loopd_id loop_watch(struct loop *l, loopd_plugin *owner, int fd, int events,
		    loopd_io_cb cb, void *ud);
loopd_id loop_submit(struct loop *l, loopd_plugin *owner, loopd_work_fn work,
		     loopd_done_fn done, void *ud);
/* Store-lane work for the daemon's store; same contract as loop_submit. */
loopd_id loop_submit_store(struct loop *l, loopd_work_fn work,
			   loopd_done_fn done, void *ud);
/* 0, -EBUSY (started or finished), -ENOENT (unknown or not owner's). */
int loop_cancel(struct loop *l, loopd_plugin *owner, loopd_id job);
/* 0, -ENOENT (fired one-shot, closed, unknown, not owner's), -EINVAL (a
 * job: use cancel). */
int loop_close(struct loop *l, loopd_plugin *owner, loopd_id h,
	       loopd_cb on_close);
int loop_ref(struct loop *l, loopd_plugin *owner, loopd_id h, int ref);
/* Any thread: cb(owner, ud) on the loop thread, in the poll phase.  The
 * owner's account counts it until it has run. */
int loop_post(struct loop *l, loopd_plugin *owner, loopd_cb cb, void *ud);

/*
 * Draining a plugin (PLUGIN-API rule 4): closes its timers, immediates,
 * defers and watches without their on_close, cancels its queued jobs
 * (their done runs later with -ECANCELED).  Its running jobs stay in
 * flight: the caller waits for owner's account.inflight to reach 0.
 */
void loop_drain_owner(struct loop *l, loopd_plugin *owner);

void loop_stats(struct loop *l, struct loop_stats *out);
/* A callback that holds the loop limit_ms or longer is logged, while it
 * runs and when it returns (default 500); 0: never. */
void loop_set_watchdog(struct loop *l, uint64_t limit_ms);
/* The watchdog's published state (the crash handler reads it). */
struct watchdog *loop_watchdog(struct loop *l);

/* A pool job that has run the stuck-after limit or longer. */
struct loop_stuck {
	loopd_plugin *owner; /* NULL: the daemon's own (store lane) */
	const char *plugin;  /* its name, or "loopd" */
	loopd_id job;
	const char *work; /* the work function: symbol or library+offset */
	uint64_t running_ms, limit_ms;
};
typedef void (*loop_stuck_fn)(void *ud, const struct loop_stuck *s);
/*
 * A job that has run on a pool thread limit_ms or longer is reported once:
 * logged at warning level, counted in its owner's account.stuck until its
 * done runs, and handed to fn (may be NULL).  0: never (the default).  A
 * loop timer checks, unreferenced, only while jobs are in flight.
 */
void loop_set_stuck_after(struct loop *l, uint64_t limit_ms, loop_stuck_fn fn,
			  void *ud);

/* Around a plugin entry the daemon calls from its own callback (a job
 * kind's validate/start/stop): the watchdog and the crash handler name
 * the plugin meanwhile, and the plugin's account gets the call. */
struct loop_call {
	const char *name, *what, *label;
	loopd_plugin *owner;
	uint64_t t0;
	uint64_t ns; /* set by loop_call_leave: how long the call took */
};
void loop_call_enter(struct loop *l, loopd_plugin *owner, const char *what,
		     struct loop_call *save);
void loop_call_leave(struct loop *l, struct loop_call *save);

#endif

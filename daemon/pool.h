/*
 * pool.h - the worker pool: threads that run blocking work, and the lane
 * that serializes the store's work.
 *
 * Work items are intrusive (struct pool_work embedded in the caller's
 * struct).  pool_submit queues an item; a worker runs work(); the item then
 * goes on the done list and the pool's eventfd becomes readable (written
 * only on the empty-to-non-empty change).  The loop thread calls
 * pool_deliver() from the poll phase, which calls each done() on the loop
 * thread.  Cancelled items reach done() through the same path, with status
 * -ECANCELED.
 *
 * The store lane is one extra thread with its own queue, so that a pool
 * full of long plugin work never delays a database write.
 */
#ifndef LOOPD_POOL_H
#define LOOPD_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool;
struct pool_work;

/* Worker thread.  Returns the status handed to done. */
typedef int (*pool_work_fn)(struct pool_work *w);
/* Loop thread, from pool_deliver.  The item is the caller's again. */
typedef void (*pool_done_fn)(struct pool_work *w, int status);

enum pool_lane {
	POOL_LANE_WORK = 0,
	POOL_LANE_STORE = 1
};

/* The most work threads pool_new accepts. */
#define POOL_MAX_THREADS 1024

/*
 * Owned by the pool from pool_submit until its done() is called; the
 * caller must not touch it, free it or submit it again in between.  A
 * zeroed item is idle: pool_cancel on one never submitted gives -EBUSY.
 */
struct pool_work {
	pool_work_fn work;
	pool_done_fn done;
	/* Private to the pool below this line. */
	struct pool_work *prev, *next;
	int state;
	int status;
	uint8_t lane;
	bool stuck; /* reported by pool_take_stuck */
	uint64_t queued_ns, started_ns;
};

struct pool_stats {
	/* threads counts the store-lane thread; busy: running work now. */
	unsigned threads, busy;
	/* queued: waiting now; completed, cancelled: totals since pool_new. */
	uint64_t queued, completed, cancelled;
	/* Wait (queued to started) and run (started to finished) times, ns. */
	uint64_t wait_p50_ns, wait_p99_ns, run_p50_ns, run_p99_ns;
	/* stuck: items reported by pool_take_stuck that still run;
	 * stuck_total: reported since pool_new; oldest_running_ns: how long
	 * the longest-running item has run (0: none runs). */
	uint64_t stuck, stuck_total, oldest_running_ns;
};

/* A running item that pool_take_stuck reports, and how long it has run. */
struct pool_stuck {
	struct pool_work *w;
	uint64_t running_ns;
};

/* nthreads (1 to POOL_MAX_THREADS) work threads plus one store-lane
 * thread.  0 or -errno. */
int pool_new(struct pool **out, unsigned nthreads);
/* Joins every thread.  Items still queued are not run: call
 * pool_cancel_all and pool_deliver first if their done must run.  Loop
 * thread, not from a done callback. */
void pool_free(struct pool *p);
/* The eventfd to watch for readability; pool_deliver drains it. */
int pool_fd(const struct pool *p);

/* Loop thread.  w->work and w->done must be set.  0 or -errno. */
int pool_submit(struct pool *p, struct pool_work *w, enum pool_lane lane);
/* Loop thread.  0: w was queued and its done will get -ECANCELED;
 * -EBUSY: it started or finished. */
int pool_cancel(struct pool *p, struct pool_work *w);
/* Loop thread.  Cancels every queued item; returns how many. */
unsigned pool_cancel_all(struct pool *p);
/* Loop thread.  Runs done() for every finished item, in the order they
 * finished; returns how many.  done() may submit and cancel.  A steady
 * stream of completions is cut into several calls: the eventfd then stays
 * readable. */
unsigned pool_deliver(struct pool *p);
/* Loop thread, no system call: whether finished items wait for
 * pool_deliver (the eventfd has been written and not yet drained). */
bool pool_has_done(struct pool *p);
/* Items submitted whose done has not run yet (keeps the loop alive). */
uint64_t pool_inflight(const struct pool *p);
void pool_stats(struct pool *p, struct pool_stats *out);

/*
 * Stuck work: an item that has run limit_ns or longer (either lane).
 * pool_take_stuck marks up to max such items not reported before, stores
 * them in out and returns how many: each is reported once.  The items are
 * still running, but their done() can only run on the loop thread, so
 * they stay valid until the caller returns to the loop.  *next_ns (if not
 * NULL): how long until another running item passes the limit, at most
 * limit_ns; 0 if some were left out for want of room.  Loop thread.
 * limit_ns 0 reports nothing (*next_ns 0).
 */
unsigned pool_take_stuck(struct pool *p, uint64_t limit_ns,
			 struct pool_stuck *out, unsigned max,
			 uint64_t *next_ns);
/* Loop thread, from done(): whether pool_take_stuck reported w. */
bool pool_work_stuck(const struct pool_work *w);

#endif

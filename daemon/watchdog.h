/*
 * watchdog.h - a thread that names a callback while it still holds the
 * loop (PLUGIN-API rule 5): the loop publishes which callback runs and
 * since when; the watchdog logs it once when it passes the limit.
 *
 * It sleeps while the loop waits in a blocking poll (an idle daemon wakes
 * no one), and checks every tenth of the limit otherwise.  The loop's
 * side is a few plain atomic stores per callback.
 */
#ifndef LOOPD_WATCHDOG_H
#define LOOPD_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct watchdog {
	/* Written by the loop thread only. */
	atomic_uint_fast64_t seq; /* odd while a callback runs */
	atomic_uint_fast64_t start_ns;
	_Atomic(const char *) what; /* static strings */
	_Atomic(const char *) name; /* never freed: see loop_owner_name */
	atomic_bool in_poll;        /* blocked in the poll phase */
	/* The watchdog thread's. */
	atomic_bool parked, stop;
	atomic_uint_fast64_t reports;
	atomic_uint_fast64_t limit_ns; /* 0: checks off */
	uint64_t seq_reported;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;
};

/* Starts the thread with a limit (> 0).  0 or -errno. */
int watchdog_start(struct watchdog *w, uint64_t limit_ms);
/* Any time: a new limit; 0 turns the checks off. */
void watchdog_set_limit(struct watchdog *w, uint64_t limit_ms);
void watchdog_stop(struct watchdog *w);

/* Loop thread: a callback begins (at t0) / ends. */
static inline void watchdog_enter(struct watchdog *w, const char *name,
				  const char *what, uint64_t t0)
{
	uint64_t s = atomic_load_explicit(&w->seq, memory_order_relaxed);
	atomic_store_explicit(&w->name, name, memory_order_relaxed);
	atomic_store_explicit(&w->what, what, memory_order_relaxed);
	atomic_store_explicit(&w->start_ns, t0, memory_order_relaxed);
	atomic_store_explicit(&w->seq, s + 1, memory_order_release);
}

static inline void watchdog_leave(struct watchdog *w)
{
	uint64_t s = atomic_load_explicit(&w->seq, memory_order_relaxed);
	atomic_store_explicit(&w->seq, s + 1, memory_order_release);
}

/* Loop thread: around a poll that may block. */
void watchdog_poll_begin(struct watchdog *w);
void watchdog_poll_end(struct watchdog *w);

#endif

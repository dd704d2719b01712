/*
 * watchdog.c - see watchdog.h.
 *
 * Lock order: w->lock only, taken by the watchdog to park and by the loop
 * to wake it.  The loop sets in_poll before it reads parked, and the
 * watchdog sets parked before it reads in_poll (both sequentially
 * consistent), so a wake-up is never lost.
 */
#include "watchdog.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#include "log.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Logs the running callback once if it has passed the limit. */
static void check(struct watchdog *w)
{
	uint64_t s = atomic_load_explicit(&w->seq, memory_order_acquire);
	if (!(s & 1) || s == w->seq_reported)
		return;
	uint64_t start =
		atomic_load_explicit(&w->start_ns, memory_order_relaxed);
	const char *name = atomic_load_explicit(&w->name, memory_order_relaxed);
	const char *what = atomic_load_explicit(&w->what, memory_order_relaxed);
	uint64_t held = now_ns() - start, limit = atomic_load(&w->limit_ns);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&w->seq, memory_order_relaxed) != s ||
	    !limit || held < limit)
		return; /* it ended, is not late yet, or checks are off */
	w->seq_reported = s;
	atomic_fetch_add(&w->reports, 1);
	log_msg(LOGL_WARN, name,
		"a %s callback has held the loop for %llu ms and still runs "
		"(watchdog limit %llu ms)",
		what, (unsigned long long)(held / 1000000),
		(unsigned long long)(limit / 1000000));
}

static void sleep_for(struct watchdog *w, uint64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec += (long)(ns % 1000000000u);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&w->cond, &w->lock, &ts);
}

static void *run(void *arg)
{
	struct watchdog *w = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the loop's */
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->stop)) {
		atomic_store(&w->parked, true);
		while (atomic_load(&w->in_poll) && !atomic_load(&w->stop))
			pthread_cond_wait(&w->cond, &w->lock);
		atomic_store(&w->parked, false);
		check(w);
		uint64_t limit = atomic_load(&w->limit_ns);
		sleep_for(w, limit ? limit / 10 : 1000000000u);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int watchdog_start(struct watchdog *w, uint64_t limit_ms)
{
	atomic_store(&w->limit_ns, limit_ms * 1000000u);
	w->running = false;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&w->thread, NULL, run, w);
	if (r) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		return -r;
	}
	w->running = true;
	return 0;
}

static void wake(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void watchdog_stop(struct watchdog *w)
{
	if (!w->running)
		return;
	atomic_store(&w->stop, true);
	wake(w);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	w->running = false;
}

void watchdog_set_limit(struct watchdog *w, uint64_t limit_ms)
{
	atomic_store(&w->limit_ns, limit_ms * 1000000u);
}

void watchdog_poll_begin(struct watchdog *w)
{
	atomic_store(&w->in_poll, true);
}

void watchdog_poll_end(struct watchdog *w)
{
	if (!atomic_load_explicit(&w->in_poll, memory_order_relaxed))
		return;
	atomic_store(&w->in_poll, false);
	if (w->running && atomic_load(&w->parked))
		wake(w);
}

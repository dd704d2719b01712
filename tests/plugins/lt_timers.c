/*
 * lt_timers.c - scenario 4: timer order and timeliness.
 *
 *  a. 64 timers of one duration started in a burst fire in start order.
 *  b. 8 timers with different durations but one deadline D, each started
 *     on a later millisecond with timeout D - start, fire in start order
 *     (the heap must break ties on the start sequence, not the duration).
 *  c. Nothing fires early: 100 timers of 1..50 ms check, when they fire,
 *     that a CLOCK_MONOTONIC reading has reached the instant read just
 *     before api->timer plus the timeout, to the nanosecond, and that
 *     api->now (whole ms) has too.  A loop that counted from the start of
 *     the current millisecond would fire up to 1 ms early.  Half of the
 *     timers are started by a callback that first stalls the loop for
 *     30 ms, so a loop that started timers from its stale cached time
 *     fires them early too.
 *  d. A 2 ms interval closed on its 5th call fires exactly 5 times, and
 *     its close callback runs once; the other timers keep the loop alive
 *     long after, so a sixth call would be seen.
 *
 * Everything is checked here and summed up at shutdown; an early timer
 * also prints a line of its own as it happens.
 */
#include <stdint.h>

#include "lt.h"

static const struct loopd_api *api;

#define NSAME  64
#define NEQUAL 8
#define NEARLY 50

static int same_order[NSAME], nsame;
static int equal_order[NEQUAL], nequal;

struct early {
	uint64_t start_ns, timeout_ms;
};
static struct early early[2 * NEARLY];
static unsigned early_fired, early_bad;

static loopd_id rep_id;
static unsigned rep_calls, rep_closes;

static void on_same(loopd_plugin *p, void *ud)
{
	if (nsame < NSAME)
		same_order[nsame++] = (int)(intptr_t)ud;
}

static void on_equal(loopd_plugin *p, void *ud)
{
	if (nequal < NEQUAL)
		equal_order[nequal++] = (int)(intptr_t)ud;
}

static void on_early(loopd_plugin *p, void *ud)
{
	const struct early *e = ud;
	uint64_t due_ns = e->start_ns + e->timeout_ms * 1000000u;
	uint64_t now_ns = api->now(p) * 1000000u, clock_ns = lt_mono_ns();
	early_fired++;
	if (now_ns < due_ns || clock_ns < due_ns) {
		early_bad++;
		lt_say("EARLY: %llu ms timer fired %lld us before its time by "
		       "api->now, %lld us by the clock",
		       (unsigned long long)e->timeout_ms,
		       (long long)(due_ns - now_ns) / 1000,
		       (long long)(due_ns - clock_ns) / 1000);
	}
}

/* Starts NEARLY timers of 1..50 ms, in a shuffled order of durations. */
static int start_early(loopd_plugin *p, struct early *batch)
{
	for (int i = 0; i < NEARLY; i++) {
		batch[i].timeout_ms = 1 + (uint64_t)(i * 37 % NEARLY);
		batch[i].start_ns = lt_mono_ns(); /* before loopd reads it */
		if (api->timer(p, batch[i].timeout_ms, 0, on_early,
			       &batch[i]) <= 0)
			return -1;
	}
	return 0;
}

/* Holds the loop thread for 30 ms, so that the loop's cached time is
 * stale, then starts timers. */
static void stall(loopd_plugin *p, void *ud)
{
	uint64_t end = lt_mono_ms() + 30;
	while (lt_mono_ms() < end)
		;
	if (start_early(p, early + NEARLY) < 0)
		lt_say("starting timers after the stall failed");
}

static void on_rep_close(loopd_plugin *p, void *ud)
{
	rep_closes++;
}

static void on_rep(loopd_plugin *p, void *ud)
{
	if (++rep_calls != 5)
		return;
	int r = api->close(p, rep_id, on_rep_close);
	if (r != 0)
		lt_say("close of the interval returned %s", lt_err(r));
}

/* Waits for the next millisecond, so that what follows has most of one
 * millisecond to itself. */
static uint64_t next_ms(void)
{
	uint64_t m = lt_mono_ms(), n;
	while ((n = lt_mono_ms()) == m)
		;
	return n;
}

/*
 * Starts NEQUAL timers due at one deadline, on successive milliseconds,
 * with decreasing timeouts.  An attempt is valid only if each start
 * happened within the millisecond it was read in (loopd reads the clock
 * in api->timer), so that the deadline is known; otherwise it is undone
 * and tried again.
 */
static int start_equal(loopd_plugin *p)
{
	loopd_id ids[NEQUAL];
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t deadline = 0;
		int i, ok = 1;
		for (i = 0; i < NEQUAL && ok; i++) {
			uint64_t ms = next_ms();
			if (i == 0)
				deadline = ms + 30;
			ok = ms < deadline;
			ids[i] = ok ? api->timer(p, deadline - ms, 0, on_equal,
						 (void *)(intptr_t)i)
				    : -1;
			ok = ok && ids[i] > 0 && lt_mono_ms() == ms;
		}
		if (ok)
			return 0;
		while (i-- > 0)
			if (ids[i] > 0)
				api->close(p, ids[i], NULL);
	}
	return -1;
}

static int timers_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	for (int i = 0; i < NSAME; i++)
		if (api->timer(p, 5, 0, on_same, (void *)(intptr_t)i) <= 0)
			return -1;
	if (start_equal(p) < 0) {
		lt_say("could not start timers with one deadline");
		return -1;
	}
	rep_id = api->timer(p, 2, 2, on_rep, NULL);
	if (rep_id <= 0 || start_early(p, early) < 0 ||
	    api->timer(p, 5, 0, stall, NULL) <= 0)
		return -1;
	return 0;
}

/* "yes (N of M)" if order is 0, 1, ... M-1, else the order seen. */
static void say_order(const char *what, const int *order, int n, int want)
{
	char buf[600];
	size_t len = 0;
	int in_order = n == want;
	for (int i = 0; i < n; i++)
		in_order = in_order && order[i] == i;
	for (int i = 0; i < n && len < sizeof(buf) - 16; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %d",
					order[i]);
	buf[len] = 0;
	if (in_order)
		lt_say("%s fired in start order: yes (%d of %d)", what, n,
		       want);
	else
		lt_say("%s fired in start order: NO, %d of %d:%s", what, n,
		       want, buf);
}

static void timers_shutdown(loopd_plugin *p, void *state)
{
	say_order("same-duration timers", same_order, nsame, NSAME);
	say_order("equal-deadline timers", equal_order, nequal, NEQUAL);
	lt_say("timers fired: %u of %u, early: %u", early_fired, 2 * NEARLY,
	       early_bad);
	lt_say("interval calls: %u, close callbacks: %u", rep_calls,
	       rep_closes);
}

LT_PLUGIN("lt_timers", timers_init, timers_shutdown)

/*
 * lt_order_done.c - scenario 2: what a blocking job's done (poll phase)
 * starts.  An immediate runs in this iteration's check phase, before a
 * 0 ms timer (next iteration's timers phase); a deferred callback runs in
 * the next iteration's pending phase, so after that timer.
 *
 * Expected: done, immediate, timer, deferred.  A done run outside the
 * poll phase, an immediate that waited an iteration, or a deferred
 * callback run in this iteration (before the timer) each change it.
 */
#include "lt.h"

static const struct loopd_api *api;

static int work(void *ud)
{
	return 7;
}

static void done(loopd_plugin *p, void *ud, int status)
{
	lt_say("done %d", status);
	if (api->defer(p, lt_say_ud, "deferred") <= 0 ||
	    api->timer(p, 0, 0, lt_say_ud, "timer") <= 0 ||
	    api->immediate(p, lt_say_ud, "immediate") <= 0)
		lt_say("registering from done failed");
}

static int order_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	return api->submit(p, work, done, NULL) > 0 ? 0 : -1;
}

LT_PLUGIN("lt_order_done", order_init, NULL)

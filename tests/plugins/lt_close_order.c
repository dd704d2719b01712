/*
 * lt_close_order.c - scenario 6: close callbacks run in the close phase,
 * after the check callbacks of the same iteration.
 *
 * Timer T1 closes a long timer H (on_close C), queues an immediate I and
 * starts a 0 ms timer T2.  Expected: T1, I, C, T2.  A close phase before
 * the check phase prints C before I; close callbacks put off to a later
 * iteration print T2 before C; a lost or repeated on_close shows too.
 */
#include "lt.h"

static const struct loopd_api *api;
static loopd_id long_timer;

static void say(loopd_plugin *p, void *ud)
{
	lt_say("%s", (const char *)ud);
}

static void t1(loopd_plugin *p, void *ud)
{
	lt_say("timer T1");
	int r = api->close(p, long_timer, say);
	if (r != 0)
		lt_say("close returned %s", lt_err(r));
	if (api->immediate(p, say, "immediate I") <= 0 ||
	    api->timer(p, 0, 0, say, "timer T2") <= 0)
		lt_say("registering from T1 failed");
}

static int close_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	/* H's ud is what its on_close prints. */
	long_timer = api->timer(p, 60000, 0, say, "close callback C");
	return long_timer > 0 && api->timer(p, 0, 0, t1, NULL) > 0 ? 0 : -1;
}

LT_PLUGIN("lt_close_order", close_init, NULL)

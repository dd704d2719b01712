/*
 * lt_order_timer.c - scenario 3: what timer and immediate callbacks start.
 *
 * Timer A (from init) starts a 0 ms timer B and an immediate I1: I1 runs
 * in this iteration's check phase, B waits for the next timers phase even
 * though it is due at once.  I1 queues an immediate I2 and a 0 ms timer C:
 * I2 waits for the next check phase, after that iteration's timers B, C.
 *
 * Expected: A, I1, B, C, I2.  A timers phase that ran timers started
 * during itself prints B before I1; a check phase that ran immediates
 * queued during itself prints I2 before B.
 */
#include "lt.h"

static const struct loopd_api *api;

static void say(loopd_plugin *p, void *ud)
{
	lt_say("%s", (const char *)ud);
}

static void i1(loopd_plugin *p, void *ud)
{
	lt_say("immediate I1");
	if (api->immediate(p, say, "immediate I2") <= 0 ||
	    api->timer(p, 0, 0, say, "timer C") <= 0)
		lt_say("registering from I1 failed");
}

static void timer_a(loopd_plugin *p, void *ud)
{
	lt_say("timer A");
	if (api->timer(p, 0, 0, say, "timer B") <= 0 ||
	    api->immediate(p, i1, NULL) <= 0)
		lt_say("registering from A failed");
}

static int order_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	return api->timer(p, 0, 0, timer_a, NULL) > 0 ? 0 : -1;
}

LT_PLUGIN("lt_order_timer", order_init, NULL)

/*
 * lt_order_init.c - scenario 1: a 0 ms timer, an immediate and a deferred
 * callback registered in init run as timer, deferred, immediate (the
 * timers, pending and check phases of the first iteration).
 *
 * They are registered in the reverse of that order, so a loop that ran
 * callbacks in registration order, or mixed up the phases, prints
 * another sequence.
 */
#include "lt.h"

static void on_timer(loopd_plugin *p, void *ud)
{
	lt_say("timer");
}

static void on_deferred(loopd_plugin *p, void *ud)
{
	lt_say("deferred");
}

static void on_immediate(loopd_plugin *p, void *ud)
{
	lt_say("immediate");
}

static int order_init(loopd_plugin *p, const struct loopd_api *api,
		      void **state)
{
	if (api->immediate(p, on_immediate, NULL) <= 0 ||
	    api->defer(p, on_deferred, NULL) <= 0 ||
	    api->timer(p, 0, 0, on_timer, NULL) <= 0)
		return -1;
	lt_say("init");
	return 0;
}

LT_PLUGIN("lt_order_init", order_init, NULL)

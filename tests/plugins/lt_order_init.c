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

static int order_init(loopd_plugin *p, const struct loopd_api *api,
		      void **state)
{
	if (api->immediate(p, lt_say_ud, "immediate") <= 0 ||
	    api->defer(p, lt_say_ud, "deferred") <= 0 ||
	    api->timer(p, 0, 0, lt_say_ud, "timer") <= 0)
		return -1;
	lt_say("init");
	return 0;
}

LT_PLUGIN("lt_order_init", order_init, NULL)

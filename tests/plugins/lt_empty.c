/*
 * lt_empty.c - scenario 5, second half: a plugin that registers nothing.
 * With --no-socket the loop has nothing referenced from the start, so
 * loopd must exit at once (the script bounds the time).
 */
#include "lt.h"

static int empty_init(loopd_plugin *p, const struct loopd_api *api,
		      void **state)
{
	lt_say("init");
	return 0;
}

static void empty_shutdown(loopd_plugin *p, void *state)
{
	lt_say("shutdown");
}

LT_PLUGIN("lt_empty", empty_init, empty_shutdown)

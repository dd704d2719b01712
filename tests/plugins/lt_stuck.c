/*
 * lt_stuck.c - a plugin whose one blocking job never returns, and an
 * interval that keeps ticking: what SIGTERM must drain, and what a second
 * SIGTERM must cut short.  Prints "stuck: working" when the job runs and
 * "stuck: shutdown" if its shutdown is ever called.
 */
#include "lt.h"

static int stuck_work(void *ud)
{
	lt_say("stuck: working");
	for (;;)
		pause();
	return 0;
}

static void stuck_done(loopd_plugin *p, void *ud, int status)
{
	lt_say("stuck: done %d", status);
}

static void tick(loopd_plugin *p, void *ud)
{
}

static int stuck_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	if (api->timer(p, 10, 10, tick, NULL) <= 0 ||
	    api->submit(p, stuck_work, stuck_done, NULL) <= 0)
		return -1;
	return 0;
}

static void stuck_shutdown(loopd_plugin *p, void *state)
{
	lt_say("stuck: shutdown");
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "lt_stuck",
	.version = "1",
	.description = "a job that never returns",
	.init = stuck_init,
	.shutdown = stuck_shutdown,
};
LOOPD_PLUGIN(desc)

/*
 * lt_slow.c - a timer callback that holds the loop for 1.2 s: loopd
 * must log it with the plugin's name and the kind of callback.  Prints
 * "slow: done" after blocking.
 */
#include "lt.h"

static void hog(loopd_plugin *p, void *ud)
{
	struct timespec ts = { 1, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	lt_say("slow: done");
}

static int slow_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	return api->timer(p, 1, 0, hog, NULL) > 0 ? 0 : -1;
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "lt_slow",
	.version = "1",
	.description = "a callback that holds the loop",
	.init = slow_init,
};
LOOPD_PLUGIN(desc)

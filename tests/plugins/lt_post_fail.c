/*
 * lt_post_fail.c - init posts a callback, then fails.  The post is the
 * plugin's code: it must run (or be refused) before the plugin is
 * unloaded, never after (a use-after-free under ASan, a crash without).
 * Prints "post ran" from the callback.
 */
#include "lt.h"

static void posted(loopd_plugin *p, void *ud)
{
	lt_say("post ran");
}

static int pf_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	if (api->post(p, posted, NULL) != 0)
		lt_say("post refused");
	return -1;
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "lt_post_fail",
	.version = "1",
	.description = "posts, then fails its init",
	.init = pf_init,
};
LOOPD_PLUGIN(desc)

/*
 * lt_refuse.c - scenario 9: descriptors loopd must refuse.  Built several
 * times by loop_tests.cmake, each with one define that spoils one thing:
 *
 *   LT_ABI_MAJOR=2     another ABI major
 *   LT_MAGIC=...       a bad magic
 *   LT_NO_SYMBOL       no loopd_plugin_v1 at all
 *   LT_NAME="..."      a bad name, or one that two plugins share
 *
 * Without those it is a valid plugin named "lt_refuse".  init and
 * shutdown print LT_TARGET, the copy's name, so the script sees which
 * copies ran.
 */
#include "lt.h"

#ifndef LT_ABI_MAJOR
#define LT_ABI_MAJOR LOOPD_ABI_MAJOR
#endif
#ifndef LT_MAGIC
#define LT_MAGIC LOOPD_PLUGIN_MAGIC
#endif
#ifndef LT_TARGET
#define LT_TARGET "lt_refuse"
#endif
#ifndef LT_NAME
#define LT_NAME "lt_refuse"
#endif

static int refuse_init(loopd_plugin *p, const struct loopd_api *api,
		       void **state)
{
	lt_say("init %s", LT_TARGET);
	return 0;
}

static void refuse_shutdown(loopd_plugin *p, void *state)
{
	lt_say("shutdown %s", LT_TARGET);
}

#ifdef LT_NO_SYMBOL
/* The descriptor is here, but nothing exports it. */
const struct loopd_plugin_desc *lt_hidden_desc(void);
const struct loopd_plugin_desc *lt_hidden_desc(void)
{
	static const struct loopd_plugin_desc desc = {
		.magic = LT_MAGIC,
		.size = sizeof(struct loopd_plugin_desc),
		.abi_major = LT_ABI_MAJOR,
		.abi_minor = LOOPD_ABI_MINOR,
		.name = LT_NAME,
		.init = refuse_init,
		.shutdown = refuse_shutdown,
	};
	return &desc;
}
#else
static const struct loopd_plugin_desc refuse_desc = {
	.magic = LT_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LT_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = LT_NAME,
	.version = "test",
	.init = refuse_init,
	.shutdown = refuse_shutdown,
};

LOOPD_PLUGIN(refuse_desc)
#endif

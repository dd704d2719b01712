/*
 * lt_crash.c - a plugin that crashes loopd: a timer 100 ms after init
 * writes through a NULL pointer, unless its config says crash = no.
 * tests/integration/crash_quarantine.sh checks that loopd names it when
 * it dies, and quarantines it after three crashes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "lt.h"

static void boom(loopd_plugin *p, void *ud)
{
	volatile int *nowhere = NULL;
	*nowhere = 1;
}

static void fine(loopd_plugin *p, void *ud)
{
	lt_say("crash: behaving");
}

static int crash_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	const char *c = api->config(p, "crash");
	bool crash = !c || strcmp(c, "no") != 0;
	return api->timer(p, 100, 0, crash ? boom : fine, NULL) > 0 ? 0 : -1;
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "lt_crash",
	.version = "1",
	.description = "crashes loopd from a timer",
	.init = crash_init,
};
LOOPD_PLUGIN(desc)

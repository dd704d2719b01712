/*
 * lt_many_jobs.c - scenario 10: 100,000 blocking jobs submitted in one
 * batch from init all complete.  A lost wake-up between the pool and the
 * loop leaves jobs done but undelivered, and loopd then sleeps in poll
 * forever (the script's timeout catches it) or exits with fewer dones.
 * Each job returns a value derived from its number, and done checks it,
 * so a done given another job's status is caught too.
 *
 * The jobs take 0-8 us each, so that the loop often catches up with the
 * workers and goes back to sleep: every job then stands a fair chance of
 * being the one whose completion must wake it.  With instant jobs the
 * done list is rarely empty, and a lost wake-up would go unnoticed.
 */
#include <stdint.h>

#include "lt.h"

#define NJOBS 100000

static unsigned dones, wrong_status;

static int work(void *ud)
{
	uint64_t end = lt_mono_ns() + (uintptr_t)ud % 9 * 1000;
	while (lt_mono_ns() < end)
		;
	return (int)((uintptr_t)ud % 1000);
}

static void done(loopd_plugin *p, void *ud, int status)
{
	dones++;
	if (status != (int)((uintptr_t)ud % 1000))
		wrong_status++;
}

static int many_init(loopd_plugin *p, const struct loopd_api *api, void **state)
{
	for (uintptr_t i = 1; i <= NJOBS; i++)
		if (api->submit(p, work, done, (void *)i) <= 0)
			return -1;
	lt_say("submitted %d", NJOBS);
	return 0;
}

static void many_shutdown(loopd_plugin *p, void *state)
{
	lt_say("done %u, wrong status %u", dones, wrong_status);
}

LT_PLUGIN("lt_many_jobs", many_init, many_shutdown)

/*
 * lt_unref.c - scenario 5, first half: an unreferenced repeating timer
 * neither keeps the loop alive nor fires once the last referenced handle
 * is gone.
 *
 * A 1 ms interval U is unreferenced; a referenced 50 ms one-shot R keeps
 * the loop alive, and R queues an immediate I, which is then the last
 * referenced handle.  U must tick while R waits (it is a working timer)
 * and never after I has run: loopd must exit at the end of that
 * iteration.  (U may still fire in R's own timers phase, after R, as in
 * libuv: the loop checks for life between iterations, not between
 * timers.)  The script bounds loopd's run time: a U that kept the loop
 * alive would tick forever.
 */
#include "lt.h"

static const struct loopd_api *api;
static unsigned ticks_before, ticks_after;
static int gone;

static void on_u(loopd_plugin *p, void *ud)
{
	if (gone)
		ticks_after++;
	else
		ticks_before++;
}

static void on_i(loopd_plugin *p, void *ud)
{
	gone = 1;
	lt_say("last referenced handle ran");
}

static void on_r(loopd_plugin *p, void *ud)
{
	lt_say("referenced timer fired");
	if (api->immediate(p, on_i, NULL) <= 0)
		lt_say("immediate failed");
}

static int unref_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	loopd_id u = api->timer(p, 1, 1, on_u, NULL);
	if (u <= 0 || api->ref(p, u, 0) != 0)
		return -1;
	return api->timer(p, 50, 0, on_r, NULL) > 0 ? 0 : -1;
}

static void unref_shutdown(loopd_plugin *p, void *state)
{
	lt_say("unreferenced timer ticked before: %s",
	       ticks_before > 0 ? "yes" : "no");
	lt_say("unreferenced timer ticks after: %u", ticks_after);
}

LT_PLUGIN("lt_unref", unref_init, unref_shutdown)

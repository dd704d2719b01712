/*
 * lt_far_timer.c - a timer centuries away must make the poll wait, not
 * spin: with it pending for 300 ms the process may use only a little CPU.
 * Also checks that api->now is fresh in a poll-phase callback: a job that
 * sleeps 200 ms, then done compares api->now with the clock.  Prints
 * "cpu_ms=N" and "now_lag_ms=N".
 */
#include "lt.h"

static const struct loopd_api *api;
static loopd_id far;

static void never(loopd_plugin *p, void *ud)
{
	lt_say("the far timer fired");
}

static void check_cpu(loopd_plugin *p, void *ud)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	lt_say("cpu_ms=%lld",
	       (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	api->close(p, far, NULL);
}

static int nap(void *ud)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	return 0;
}

static void napped(loopd_plugin *p, void *ud, int status)
{
	int64_t lag = (int64_t)lt_mono_ms() - (int64_t)api->now(p);
	lt_say("now_lag_ms=%lld", (long long)lag);
}

static int ft_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	api = a;
	far = a->timer(p, UINT64_MAX / 1000, 0, never, NULL);
	if (far <= 0 || a->timer(p, 300, 0, check_cpu, NULL) <= 0 ||
	    a->submit(p, nap, napped, NULL) <= 0)
		return -1;
	return 0;
}

static const struct loopd_plugin_desc desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "lt_far_timer",
	.version = "1",
	.description = "a timer centuries away; now in the poll phase",
	.init = ft_init,
};
LOOPD_PLUGIN(desc)

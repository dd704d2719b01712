/*
 * rb_block.c - a plugin whose one timer callback holds the loop for 2 s
 * (tests/robust/blocker.sh, issue 6 item 7): the watchdog must name it
 * while it still runs, within 700 ms of the start.  Prints, unbuffered,
 * "rb_block: start USEC" just before blocking and "rb_block: end USEC"
 * after, USEC being CLOCK_REALTIME in microseconds, the clock of
 * loopd's JSON log lines (time_usec).  The timer fires 200 ms after
 * init, once the daemon is serving.
 */
#include "../plugins/lt.h"

#define RB_BLOCK_MS 2000

static long long rb_realtime_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void rb_hog(loopd_plugin *p, void *ud)
{
	uint64_t until = lt_mono_ms() + RB_BLOCK_MS;
	lt_say("rb_block: start %lld", rb_realtime_usec());
	/* Sleep in steps: a signal must not cut the block short. */
	while (lt_mono_ms() < until) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	lt_say("rb_block: end %lld", rb_realtime_usec());
}

static int rb_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	return api->timer(p, 200, 0, rb_hog, NULL) > 0 ? 0 : -1;
}

LT_PLUGIN("rb_block", rb_init, NULL)

/*
 * lt_init_fail.c - scenario 9: an init that fails after registering a
 * timer, an immediate and blocking jobs.  Run with --threads 1.
 *
 * Job 1 holds the only worker (init waits until it runs); jobs 2-8 are
 * still queued when init returns -EIO.  loopd must refuse the plugin and
 * undo everything: the 0 ms timer and the immediate never run (their ud
 * is freed before init returns, so under ASan running them is also a use
 * after free), the queued jobs' done gets -ECANCELED, and job 1 runs to
 * its end: it waits until those seven dones have run (or 5 s, so that a
 * loop that failed to cancel them shows as "ran: 8" rather than a hang).
 * shutdown is not called: init never succeeded.  The last done frees the
 * shared state, so nothing leaks.
 */
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lt.h"

#define NJOBS 8

struct shared {
	int release[2]; /* a byte here lets job 1 finish */
	unsigned dones, cancelled, ran, other;
};

static atomic_int job1_started;

static void must_not_run(loopd_plugin *p, void *ud)
{
	lt_say("CALLBACK OF A FAILED INIT RAN: %s", (const char *)ud);
}

static int job1_work(void *ud)
{
	struct shared *s = ud;
	struct pollfd pfd = { .fd = s->release[0], .events = POLLIN };
	atomic_store(&job1_started, 1);
	poll(&pfd, 1, 5000);
	return 5;
}

static int quick_work(void *ud)
{
	return 5;
}

static void done(loopd_plugin *p, void *ud, int status)
{
	struct shared *s = ud;
	s->dones++;
	if (status == -ECANCELED)
		s->cancelled++;
	else if (status == 5)
		s->ran++;
	else
		s->other++;
	if (s->cancelled == NJOBS - 1 && status == -ECANCELED &&
	    write(s->release[1], "x", 1) != 1)
		lt_say("cannot release job 1");
	if (s->dones < NJOBS)
		return;
	lt_say("dones: %u, -ECANCELED: %u, ran: %u, other: %u", s->dones,
	       s->cancelled, s->ran, s->other);
	close(s->release[0]);
	close(s->release[1]);
	free(s);
}

static int fail_init(loopd_plugin *p, const struct loopd_api *api, void **state)
{
	struct shared *s = calloc(1, sizeof(*s));
	char *timer_ud = strdup("timer"), *immediate_ud = strdup("immediate");
	int r = -EIO;
	/* Failures here cannot happen; if one did, the output would show. */
	if (!s || pipe(s->release) < 0 || !timer_ud || !immediate_ud ||
	    api->timer(p, 0, 0, must_not_run, timer_ud) <= 0 ||
	    api->immediate(p, must_not_run, immediate_ud) <= 0 ||
	    api->submit(p, job1_work, done, s) <= 0)
		r = -ENOMEM;
	while (r == -EIO && !atomic_load(&job1_started))
		usleep(1000);
	for (int i = 1; r == -EIO && i < NJOBS; i++)
		if (api->submit(p, quick_work, done, s) <= 0)
			r = -ENOMEM;
	lt_say("init returns %d", r);
	free(timer_ud);
	free(immediate_ud);
	return r;
}

static void fail_shutdown(loopd_plugin *p, void *state)
{
	lt_say("SHUTDOWN CALLED AFTER A FAILED INIT");
}

LT_PLUGIN("lt_init_fail", fail_init, fail_shutdown)

/*
 * lt_pool_cancel.c - scenario 7: blocking jobs' threads and cancellation.
 * Run with --threads 2.
 *
 * Two blockers occupy both workers (their work waits on a pipe until
 * init releases them); init waits until both have started.  Then 16
 * jobs are submitted and, still queued, cancelled: cancel returns 0 and
 * each done gets -ECANCELED.  Cancelling a running blocker returns -EBUSY
 * and its done gets what its work returned.  32 quick jobs follow.
 * Every work must run off the loop thread, every done on it (compared
 * with pthread_self() in init).
 *
 * A pool with more than 2 workers would start a "queued" job (cancel
 * -EBUSY, done 1), and one that ignored cancel would run it; either
 * changes the counts printed at shutdown.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lt.h"

#define NBLOCK  2
#define NQUEUED 16
#define NQUICK  32

static const struct loopd_api *api;
static pthread_t loop_thread;
static int gate[2]; /* blockers read a byte each from gate[0] */
static atomic_int started, work_on_loop;
static unsigned done_off_loop, dones;
static unsigned queued_cancel_ok, queued_canceled, queued_other;
static unsigned running_busy, running_ok, quick_ok;

enum kind {
	BLOCKER,
	QUEUED,
	QUICK
};

static void check_work_thread(void)
{
	if (pthread_equal(pthread_self(), loop_thread))
		atomic_fetch_add(&work_on_loop, 1);
}

static int blocker_work(void *ud)
{
	char c;
	check_work_thread();
	atomic_fetch_add(&started, 1);
	return read(gate[0], &c, 1) == 1 ? 100 : -EIO;
}

static int quick_work(void *ud)
{
	check_work_thread();
	return 1;
}

static void done(loopd_plugin *p, void *ud, int status)
{
	dones++;
	if (!pthread_equal(pthread_self(), loop_thread))
		done_off_loop++;
	switch ((enum kind)(intptr_t)ud) {
	case BLOCKER: running_ok += status == 100; break;
	case QUEUED:
		if (status == -ECANCELED)
			queued_canceled++;
		else
			queued_other++;
		break;
	case QUICK: quick_ok += status == 1; break;
	}
}

static int submit(loopd_plugin *p, loopd_work_fn work, enum kind k,
		  loopd_id *id)
{
	*id = api->submit(p, work, done, (void *)(intptr_t)k);
	return *id > 0 ? 0 : -1;
}

/* Waits up to 10 s for both blockers to run. */
static int wait_started(void)
{
	uint64_t end = lt_mono_ms() + 10000;
	while (atomic_load(&started) < NBLOCK && lt_mono_ms() < end)
		usleep(1000);
	return atomic_load(&started) == NBLOCK ? 0 : -1;
}

static int cancel_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	loopd_id blockers[NBLOCK], queued[NQUEUED], quick;
	api = a;
	loop_thread = pthread_self();
	if (pipe(gate) < 0)
		return -1;
	for (int i = 0; i < NBLOCK; i++)
		if (submit(p, blocker_work, BLOCKER, &blockers[i]) < 0)
			return -1;
	if (wait_started() < 0)
		lt_say("the blockers did not start within 10 s");
	for (int i = 0; i < NQUEUED; i++)
		if (submit(p, quick_work, QUEUED, &queued[i]) < 0)
			return -1;
	for (int i = 0; i < NQUEUED; i++)
		queued_cancel_ok += api->cancel(p, queued[i]) == 0;
	for (int i = 0; i < NBLOCK; i++)
		running_busy += api->cancel(p, blockers[i]) == -EBUSY;
	if (write(gate[1], "xx", NBLOCK) != NBLOCK)
		return -1;
	for (int i = 0; i < NQUICK; i++)
		if (submit(p, quick_work, QUICK, &quick) < 0)
			return -1;
	return 0;
}

static void cancel_shutdown(loopd_plugin *p, void *state)
{
	close(gate[0]);
	close(gate[1]);
	lt_say("cancel of a queued job returned 0: %u of %d", queued_cancel_ok,
	       NQUEUED);
	lt_say("done of a cancelled job got -ECANCELED: %u of %d (other %u)",
	       queued_canceled, NQUEUED, queued_other);
	lt_say("cancel of a running job returned -EBUSY: %u of %d",
	       running_busy, NBLOCK);
	lt_say("done of a running job got its status: %u of %d", running_ok,
	       NBLOCK);
	lt_say("quick jobs done: %u of %d", quick_ok, NQUICK);
	lt_say("dones: %u, off the loop thread: %u", dones, done_off_loop);
	lt_say("works on the loop thread: %d", atomic_load(&work_on_loop));
}

LT_PLUGIN("lt_pool_cancel", cancel_init, cancel_shutdown)

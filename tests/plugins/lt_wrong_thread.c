/*
 * lt_wrong_thread.c - loop-thread-only host calls made from other
 * threads return -EPERM, are logged, and change nothing; the loop keeps
 * working.
 *
 * A thread the plugin creates in init calls timer, immediate, defer,
 * watch, submit, cancel, close and ref (the last three on live handles of
 * the plugin), then posts the results to the loop thread.  The posted
 * callback closes the 60 s keepalive timer: that close must return 0,
 * proving the thread's close did nothing.  It then submits a job whose
 * work (a pool thread) calls api->timer, and the job's done starts a 0 ms
 * timer, which must fire.  The script checks stderr for the log lines.
 */
#include <pthread.h>
#include <stdint.h>

#include "lt.h"

static const struct loopd_api *api;
static pthread_t thread;
static int thread_started;
static loopd_id keepalive, queued_job;
static int fds[2] = { -1, -1 };

/* What the thread got, filled before it posts (post orders the reads). */
struct result {
	const char *what;
	int64_t r;
};
static struct result results[8];

static void nop(loopd_plugin *p, void *ud)
{
	lt_say("CALLBACK OF A HANDLE STARTED FROM THE WRONG THREAD");
}

static void nop_io(loopd_plugin *p, void *ud, int fd, int revents)
{
	nop(p, ud);
}

static int nop_work(void *ud)
{
	return 0;
}

static void nop_done(loopd_plugin *p, void *ud, int status)
{
	if (ud)
		nop(p, ud);
}

static void say(loopd_plugin *p, void *ud)
{
	lt_say("%s", (const char *)ud);
}

static int timer_work(void *ud)
{
	/* A pool thread is not the loop thread either. */
	return (int)api->timer(*(loopd_plugin **)ud, 0, 0, nop, NULL);
}

static void timer_done(loopd_plugin *p, void *ud, int status)
{
	lt_say("timer from a pool thread: %s", lt_err(status));
	if (api->timer(p, 0, 0, say, "timer from the loop thread fired") <= 0)
		lt_say("timer from the loop thread failed");
}

static void on_posted(loopd_plugin *p, void *ud)
{
	static loopd_plugin *self;
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
		lt_say("%s from a plugin thread: %s", results[i].what,
		       lt_err(results[i].r));
	lt_say("keepalive close from the loop thread: %s",
	       lt_err(api->close(p, keepalive, NULL)));
	self = p;
	if (api->submit(p, timer_work, timer_done, &self) <= 0)
		lt_say("submit from the loop thread failed");
}

static void *thread_main(void *arg)
{
	loopd_plugin *p = arg;
	int i = 0;
#define TRY(name, call) results[i++] = (struct result){ name, call }
	TRY("timer", api->timer(p, 0, 0, nop, "x"));
	TRY("immediate", api->immediate(p, nop, "x"));
	TRY("defer", api->defer(p, nop, "x"));
	TRY("watch", api->watch(p, fds[0], LOOPD_READ, nop_io, "x"));
	TRY("submit", api->submit(p, nop_work, nop_done, "x"));
	TRY("cancel", api->cancel(p, queued_job));
	TRY("close", api->close(p, keepalive, nop));
	TRY("ref", api->ref(p, keepalive, 0));
#undef TRY
	int r = api->post(p, on_posted, NULL);
	if (r != 0)
		lt_say("post returned %s", lt_err(r));
	return NULL;
}

static int wrong_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	if (pipe(fds) < 0)
		return -1;
	keepalive = api->timer(p, 60000, 0, say, "KEEPALIVE FIRED");
	/* A job to name in cancel: it may have run by then, so the thread
	 * could only get -EBUSY or 0 if the call were let through. */
	queued_job = api->submit(p, nop_work, nop_done, NULL);
	if (keepalive <= 0 || queued_job <= 0)
		return -1;
	if (pthread_create(&thread, NULL, thread_main, p) != 0)
		return -1;
	thread_started = 1;
	return 0;
}

static void wrong_shutdown(loopd_plugin *p, void *state)
{
	if (thread_started)
		pthread_join(thread, NULL);
	close(fds[0]);
	close(fds[1]);
	lt_say("thread joined");
}

LT_PLUGIN("lt_wrong_thread", wrong_init, wrong_shutdown)

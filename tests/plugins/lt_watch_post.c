/*
 * lt_watch_post.c - scenario 8: watch callbacks and posts run in the poll
 * phase, with the right revents, on the loop thread.
 *
 * Iteration 1: a pipe made readable in init is watched for LOOPD_READ,
 * beside a 0 ms timer, a deferred callback and an immediate, which must
 * come out as timer, deferred, io, immediate (poll is between pending and
 * check).  The io callback does not read, so (level-triggered) it is
 * called again in iteration 2, after the immediate.  Then it reads, closes
 * its watch and watches one end of an empty socketpair for
 * LOOPD_READ|LOOPD_WRITE: revents must be LOOPD_WRITE alone.
 *
 * When that watch's on_close has run, a thread the plugin created in init
 * is told to post a callback.  The callback must run on the loop thread
 * in the poll phase: an immediate it queues runs before a 0 ms timer and
 * a deferred callback it starts (as from a done, scenario 2).  A 60 s
 * timer keeps the loop alive until the post has arrived.
 */
#include <pthread.h>
#include <sys/socket.h>

#include "lt.h"

static const struct loopd_api *api;
static pthread_t loop_thread, poster;
static int thread_started;
static int data[2] = { -1, -1 }, pair[2] = { -1, -1 }, go[2] = { -1, -1 };
static loopd_id read_watch, pair_watch, keepalive;
static int read_calls;

static void say(loopd_plugin *p, void *ud)
{
	lt_say("%s", (const char *)ud);
}

static const char *revents_name(int revents)
{
	switch (revents) {
	case LOOPD_READ: return "READ";
	case LOOPD_WRITE: return "WRITE";
	case LOOPD_READ | LOOPD_WRITE: return "READ|WRITE";
	default: return "none";
	}
}

static void on_posted(loopd_plugin *p, void *ud)
{
	lt_say("posted callback, on the loop thread: %s",
	       pthread_equal(pthread_self(), loop_thread) ? "yes" : "no");
	if (api->defer(p, say, "post: deferred") <= 0 ||
	    api->timer(p, 0, 0, say, "post: timer") <= 0 ||
	    api->immediate(p, say, "post: immediate") <= 0)
		lt_say("registering from the posted callback failed");
	int r = api->close(p, keepalive, NULL);
	if (r != 0)
		lt_say("close of the keepalive timer returned %s", lt_err(r));
}

static void *poster_main(void *arg)
{
	loopd_plugin *p = arg;
	char c;
	if (read(go[0], &c, 1) == 1) {
		int r = api->post(p, on_posted, NULL);
		if (r != 0)
			lt_say("post returned %s", lt_err(r));
	}
	return NULL;
}

static void pair_closed(loopd_plugin *p, void *ud)
{
	lt_say("socketpair watch closed");
	if (write(go[1], "x", 1) != 1)
		lt_say("cannot wake the poster thread");
}

static void on_pair(loopd_plugin *p, void *ud, int fd, int revents)
{
	lt_say("io socketpair revents=%s", revents_name(revents));
	int r = api->close(p, pair_watch, pair_closed);
	if (r != 0)
		lt_say("close of the socketpair watch returned %s", lt_err(r));
}

static void on_read(loopd_plugin *p, void *ud, int fd, int revents)
{
	char c;
	lt_say("io pipe call %d revents=%s", ++read_calls,
	       revents_name(revents));
	if (read_calls < 2)
		return; /* not read: must be called again */
	if (read(fd, &c, 1) != 1)
		lt_say("the pipe was not readable");
	int r = api->close(p, read_watch, NULL);
	if (r != 0)
		lt_say("close of the pipe watch returned %s", lt_err(r));
	pair_watch =
		api->watch(p, pair[0], LOOPD_READ | LOOPD_WRITE, on_pair, NULL);
	if (pair_watch <= 0)
		lt_say("watch of the socketpair returned %s",
		       lt_err(pair_watch));
}

static int watch_init(loopd_plugin *p, const struct loopd_api *a, void **state)
{
	api = a;
	loop_thread = pthread_self();
	if (pipe(data) < 0 || pipe(go) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0 ||
	    write(data[1], "x", 1) != 1)
		return -1;
	if (pthread_create(&poster, NULL, poster_main, p) != 0)
		return -1;
	thread_started = 1;
	read_watch = api->watch(p, data[0], LOOPD_READ, on_read, NULL);
	keepalive = api->timer(p, 60000, 0, say, "KEEPALIVE FIRED");
	if (read_watch <= 0 || keepalive <= 0 ||
	    api->immediate(p, say, "immediate") <= 0 ||
	    api->defer(p, say, "deferred") <= 0 ||
	    api->timer(p, 0, 0, say, "timer") <= 0)
		return -1;
	return 0;
}

static void watch_shutdown(loopd_plugin *p, void *state)
{
	if (thread_started) {
		close(go[1]); /* wakes the thread if it still waits */
		go[1] = -1;
		pthread_join(poster, NULL);
	}
	int *fds[] = { data, pair, go };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		for (int j = 0; j < 2; j++)
			if (fds[i][j] >= 0)
				close(fds[i][j]);
	lt_say("poster thread joined");
}

LT_PLUGIN("lt_watch_post", watch_init, watch_shutdown)

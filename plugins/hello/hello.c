/*
 * hello.c - the example plugin, one of each thing the plugin API offers:
 * copy it to start your own.  It greets from a timer, an immediate and a
 * deferred callback, then ticks on an interval; each tick's blocking job
 * writes a byte to a pipe the loop watches.  After `ticks` ticks (config
 * key "ticks": default 3, "0" = forever) it closes its handles, and
 * `loopd --no-socket` exits.
 *
 * It also registers the job kind "hello": args {"message": "..."}; a run
 * logs the message from a blocking job on the pool and finishes ok with
 * the message as its output.  Out of the tree:
 *   cc -shared -fPIC $(pkg-config --cflags loopd-plugin) hello.c \
 *      -o hello.so -ljansson
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <loopd/plugin.h>

static const struct loopd_api *api; /* the host table, from init */
static struct hello *the_hello;     /* the state, for the kind's entries */

struct hello {
	unsigned ticks, max_ticks; /* max_ticks 0: tick forever */
	unsigned received;         /* bytes the jobs sent */
	int fds[2];                /* jobs write fds[1], the loop reads [0] */
	loopd_id interval, watch;  /* interval: 0 once closed */
	struct greet *greets;      /* runs of the hello kind in flight */
};

struct job {
	struct hello *h;
	unsigned n;
}; /* a job's ud: done frees it */

/* Worker thread: the one place that may block.  No host call but log. */
static int job_work(void *ud)
{
	struct job *j = ud;
	char c = (char)j->n;
	usleep(20 * 1000); /* stands for slow work: a disk, a DNS lookup */
	return write(j->h->fds[1], &c, 1) == 1 ? 0 : -errno;
}

/* Loop thread, poll phase.  status is what job_work returned. */
static void job_done(loopd_plugin *p, void *ud, int status)
{
	struct job *j = ud;
	api->log(p, LOOPD_LOG_INFO, "job %u done: %d", j->n, status);
	free(j);
}

/* The watch's on_close, in the close phase: only now may the fds go. */
static void watch_closed(loopd_plugin *p, void *ud)
{
	struct hello *h = ud;
	close(h->fds[0]);
	close(h->fds[1]);
	h->fds[0] = h->fds[1] = -1;
	api->log(p, LOOPD_LOG_INFO, "pipe closed; goodbye");
}

/* Poll phase, for as long as the pipe is readable (level-triggered). */
static void on_pipe(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct hello *h = ud;
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++, h->received++)
		api->log(p, LOOPD_LOG_INFO, "job %d said hello", buf[i]);
	/* Done ticking and every job's byte is in: the watch may go. */
	if (!h->interval && h->received == h->ticks)
		api->close(p, h->watch, watch_closed);
}

/* Timers phase, every 200 ms. */
static void on_tick(loopd_plugin *p, void *ud)
{
	struct hello *h = ud;
	struct job *j = malloc(sizeof(*j));
	if (j)
		*j = (struct job){ h, h->ticks + 1 };
	if (!j || api->submit(p, job_work, job_done, j) < 0) {
		free(j); /* not submitted: done will never run */
		return;  /* so this was no tick: try again at the next */
	}
	api->log(p, LOOPD_LOG_INFO, "tick %u at %llu ms", ++h->ticks,
		 (unsigned long long)api->now(p));
	if (h->ticks == h->max_ticks) {
		/* Closing a handle in its own callback is fine. */
		api->close(p, h->interval, NULL);
		h->interval = 0;
	}
}

static void say(loopd_plugin *p, void *ud) /* ud: a literal, not freed */
{
	api->log(p, LOOPD_LOG_INFO, "%s", (const char *)ud);
}

/* ---- the "hello" job kind ---- */

struct greet { /* one run: the blocking job's ud, freed by its done */
	struct hello *h;
	loopd_plugin *p;
	loopd_run *run;
	loopd_id job;
	char *msg;
	struct greet *next;
};

/* args is an object with one string, "message"; the reason in err. */
static char *greet_message(const char *args, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(args, 0, &je),
	       *m = json_object_get(o, "message");
	char *msg = NULL;
	if (!json_is_object(o))
		snprintf(err, errlen, "args must be a JSON object");
	else if (!json_is_string(m))
		snprintf(err, errlen, "args.message: a string is required");
	else if (json_object_size(o) != 1)
		snprintf(err, errlen, "args: only \"message\" is known");
	else if (!(msg = strdup(json_string_value(m))))
		snprintf(err, errlen, "out of memory");
	json_decref(o);
	return msg;
}

static int greet_validate(loopd_plugin *p, const char *args, char *err,
			  size_t errlen)
{
	char *msg = greet_message(args, err, errlen);
	free(msg);
	return msg ? 0 : -EINVAL;
}

static int greet_work(void *ud) /* a pool thread: only log may be called */
{
	struct greet *g = ud;
	api->log(g->p, LOOPD_LOG_INFO, "%s: %s", "hello kind says", g->msg);
	return 0;
}

static void greet_done(loopd_plugin *p, void *ud, int status)
{
	struct greet *g = ud;
	for (struct greet **pp = &g->h->greets; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (status == 0)
		api->finish(g->run, 0, g->msg, strlen(g->msg));
	else
		api->finish(g->run, status, NULL, 0); /* e.g. -ECANCELED */
	free(g->msg);
	free(g);
}

static int greet_start(loopd_plugin *p, loopd_run *run, const char *args)
{
	char err[128];
	struct greet *g = calloc(1, sizeof(*g));
	if (!g || !(g->msg = greet_message(args, err, sizeof(err)))) {
		free(g);
		return -EINVAL;
	}
	g->p = p;
	g->run = run;
	g->h = the_hello;
	g->job = api->submit(p, greet_work, greet_done, g);
	if (g->job < 0) {
		int r = (int)g->job;
		free(g->msg);
		free(g);
		return r;
	}
	g->next = g->h->greets;
	g->h->greets = g;
	return 0;
}

/* A queued job is cancelled (its done finishes the run); one already
 * running ends within moments anyway. */
static void greet_stop(loopd_plugin *p, loopd_run *run)
{
	for (struct greet *g = the_hello->greets; g; g = g->next)
		if (g->run == run)
			api->cancel(p, g->job);
}

static const struct loopd_kind hello_kind = {
	.size = sizeof(struct loopd_kind),
	.name = "hello",
	.description = "logs args.message from the pool; output: the message",
	.validate = greet_validate,
	.start = greet_start,
	.stop = greet_stop,
};

/* After loopd drained us (no on_close then), the rest is ours to free. */
static void hello_shutdown(loopd_plugin *p, void *state)
{
	struct hello *h = state;
	while (h->greets) { /* none: drain ran every done; but be sure */
		struct greet *g = h->greets;
		h->greets = g->next;
		free(g->msg);
		free(g);
	}
	the_hello = NULL;
	if (h->fds[0] >= 0) {
		close(h->fds[0]);
		close(h->fds[1]);
	}
	free(h);
}

static int hello_init(loopd_plugin *p, const struct loopd_api *a, void **st)
{
	struct hello *h = calloc(1, sizeof(*h));
	const char *ticks = a->config(p, "ticks"); /* NULL if unset */
	char *end = NULL;
	api = a;
	if (!h || pipe(h->fds) < 0) {
		free(h);
		return -ENOMEM;
	}
	h->max_ticks = ticks ? (unsigned)strtoul(ticks, &end, 10) : 3;
	if (ticks && (!*ticks || *end)) { /* refuse a typo, naming it */
		a->log(p, LOOPD_LOG_ERR,
		       "[plugin.hello] ticks = '%s': not a number", ticks);
		hello_shutdown(p, h);
		return -EINVAL;
	}
	/* The phases set the order, not this code: the 0 ms timer (timers
	 * phase), then the defer (pending), then the immediate (check). */
	if ((h->interval = a->timer(p, 200, 200, on_tick, h)) > 0 &&
	    (h->watch = a->watch(p, h->fds[0], LOOPD_READ, on_pipe, h)) > 0 &&
	    a->immediate(p, say, "immediate: check phase") > 0 &&
	    a->defer(p, say, "deferred: pending phase") > 0 &&
	    a->timer(p, 0, 0, say, "timer: hello, world") > 0 &&
	    a->add_kind(p, &hello_kind) == 0) {
		*st = h; /* handed back to shutdown */
		the_hello = h;
		a->log(p, LOOPD_LOG_INFO, "init: %u ticks", h->max_ticks);
		return 0;
	}
	/* On failure loopd undoes our handles, but shutdown is ours to call. */
	hello_shutdown(p, h);
	return -EAGAIN;
}

static const struct loopd_plugin_desc hello_desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "hello",
	.version = "1.0",
	.description = "a tour of the plugin API; copy me",
	.init = hello_init,
	.shutdown = hello_shutdown,
};
LOOPD_PLUGIN(hello_desc)

/*
 * client.c - a small varlink client (PROTOCOL.md): one Unix stream
 * connection, calls sent as one JSON object and a NUL, replies read back
 * in call order, "continues" followed for streams.  Every failure is
 * printed here, once, in CLI.md's form, and turned into loopctl's exit
 * status; commands only pass the status on.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "loopctl.h"

/* Replies larger than this are refused; the daemon sends at most
 * LOOPD_MAX_MESSAGE, but a client should not be the one to break. */
#define CLIENT_MAX_REPLY (64 * 1024 * 1024)

static volatile sig_atomic_t interrupted;
static sigset_t wait_mask; /* the mask to wait with (signals unblocked) */
static bool following;

void client_init(struct client *c, const char *socket, bool json, bool color)
{
	memset(c, 0, sizeof(*c));
	c->socket = socket;
	c->json = json;
	c->color = color && !json;
	c->fd = -1;
}

void client_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

int client_connect(struct client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (c->fd >= 0)
		return 0;
	if (strlen(c->socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "loopctl: socket path too long: %s\n",
			c->socket);
		return LC_EXIT_USAGE;
	}
	memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "loopctl: socket: %s\n", strerror(errno));
		return LC_EXIT_FAILED;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	int e = errno;
	close(c->fd);
	c->fd = -1;
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
	case ENOTSOCK:
	case ENOTDIR:
		fprintf(stderr, "loopctl: no daemon at %s: %s\n", c->socket,
			strerror(e));
		return LC_EXIT_NO_DAEMON;
	case EACCES:
	case EPERM:
		fprintf(stderr, "loopctl: cannot connect to %s: %s (%s)\n",
			c->socket, strerror(e), LOOPD_E_PERMISSION_DENIED);
		return LC_EXIT_DENIED;
	default:
		fprintf(stderr, "loopctl: cannot connect to %s: %s\n",
			c->socket, strerror(e));
		return LC_EXIT_FAILED;
	}
}

/* After a failed read or write the connection is of no more use: the
 * next call connects again. */
static int drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
	return LC_EXIT_FAILED;
}

static int closed_error(struct client *c)
{
	fprintf(stderr, "loopctl: the daemon at %s closed the connection\n",
		c->socket);
	return drop(c);
}

/* Whether the daemon, which closed the connection before reading the
 * call, left a message first: a client over its connection limits is
 * told io.loopd.daemon.Busy, which client_recv then returns. */
static bool told_why(struct client *c)
{
	char b;
	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

int client_send(struct client *c, const char *method, json_t *params,
		unsigned flags)
{
	json_t *call = json_pack("{s:s, s:o}", "method", method, "parameters",
				 params ? params : json_object());
	if (!call)
		abort();
	if (flags & CALL_MORE)
		json_object_set_new(call, "more", json_true());
	char *text = json_dumps(call, JSON_COMPACT);
	json_decref(call);
	if (!text)
		abort();

	int rc = client_connect(c);
	size_t len = strlen(text) + 1, off = 0; /* the NUL too */
	while (!rc && off < len) {
		ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			if (told_why(c))
				break; /* client_recv reads it */
			rc = closed_error(c);
		} else if (n < 0) {
			fprintf(stderr, "loopctl: sending to %s: %s\n",
				c->socket, strerror(errno));
			rc = drop(c);
		} else {
			off += (size_t)n;
		}
	}
	free(text);
	return rc;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

void client_follow_signals(struct client *c)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block;

	c->follow = true;
	if (following)
		return;
	following = true;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool client_interrupted(void)
{
	return interrupted;
}

/* Waits for fd (or -1: none) to be readable, for at most timeout_ms (< 0:
 * for ever).  1 readable, 0 timed out, -EINTR interrupted, -errno. */
static int wait_fd(int fd, int64_t timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = { timeout_ms / 1000, timeout_ms % 1000 * 1000000 };

	for (;;) {
		if (following && interrupted)
			return -EINTR;
		int n = ppoll(&p, fd >= 0, timeout_ms < 0 ? NULL : &ts,
			      following ? &wait_mask : NULL);
		if (n >= 0)
			return n > 0;
		if (errno != EINTR)
			return -errno;
		if (following && interrupted)
			return -EINTR;
	}
}

bool client_sleep(int64_t ms)
{
	return wait_fd(-1, ms) != -EINTR;
}

/* Reads until buf holds a NUL.  0, -EINTR, or an exit status. */
static int fill(struct client *c)
{
	while (!memchr(c->buf ? c->buf : "", 0, c->len)) {
		if (c->len == CLIENT_MAX_REPLY) {
			fprintf(stderr, "loopctl: a reply larger than %d MiB\n",
				CLIENT_MAX_REPLY >> 20);
			return drop(c);
		}
		if (c->cap - c->len < 4096) {
			c->cap = c->cap ? c->cap * 2 : 65536;
			if (c->cap > CLIENT_MAX_REPLY)
				c->cap = CLIENT_MAX_REPLY;
			if (!(c->buf = realloc(c->buf, c->cap)))
				abort();
		}
		int w = wait_fd(c->fd, c->timeout_ms ? c->timeout_ms : -1);
		if (w == -EINTR)
			return -EINTR;
		if (w == 0) {
			fprintf(stderr, "loopctl: no reply from %s in %d ms\n",
				c->socket, c->timeout_ms);
			return drop(c);
		}
		ssize_t n = w < 0 ? (errno = -w, -1)
				  : recv(c->fd, c->buf + c->len,
					 c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return closed_error(c);
		if (n < 0) {
			fprintf(stderr, "loopctl: reading from %s: %s\n",
				c->socket, strerror(errno));
			return drop(c);
		}
		c->len += (size_t)n;
	}
	return 0;
}

static int bad_reply(struct client *c, const char *why)
{
	fprintf(stderr, "loopctl: a malformed reply from %s: %s\n", c->socket,
		why);
	return drop(c);
}

/* Fills *r from one message's text. */
static int decode(struct client *c, const char *text, size_t len,
		  struct reply *r)
{
	json_error_t jerr;
	json_t *msg = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);

	if (!msg)
		return bad_reply(c, jerr.text);
	json_t *params = json_object_get(msg, "parameters");
	json_t *error = json_object_get(msg, "error");
	if (!json_is_object(msg) || (params && !json_is_object(params)) ||
	    (error && !json_is_string(error))) {
		json_decref(msg);
		return bad_reply(c, "not a varlink reply");
	}
	r->params = params ? json_incref(params) : json_object();
	r->error = error ? strdup(json_string_value(error)) : NULL;
	r->continues = json_is_true(json_object_get(msg, "continues"));
	json_decref(msg);
	return 0;
}

int client_recv(struct client *c, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	int rc = fill(c);
	if (rc)
		return rc;
	char *nul = memchr(c->buf, 0, c->len);
	size_t len = (size_t)(nul - c->buf);
	if ((rc = decode(c, c->buf, len, r)))
		return rc; /* the connection was dropped, with its buffer */
	memmove(c->buf, nul + 1, c->len - len - 1);
	c->len -= len + 1;
	return 0;
}

void reply_clear(struct reply *r)
{
	json_decref(r->params);
	free(r->error);
	memset(r, 0, sizeof(*r));
}

int client_error_status(const char *error)
{
	if (!strcmp(error, LOOPD_E_PERMISSION_DENIED))
		return LC_EXIT_DENIED;
	if (!strcmp(error, LOOPD_E_NO_SUCH_JOB) ||
	    !strcmp(error, LOOPD_E_NO_SUCH_RUN) ||
	    !strcmp(error, LOOPD_E_NO_SUCH_PLUGIN))
		return LC_EXIT_NO_SUCH;
	return LC_EXIT_FAILED;
}

int client_report_error(const char *error, json_t *params)
{
	const char *msg = jget_str(params, "message");

	if (msg && *msg)
		fprintf(stderr, "loopctl: %s (%s)\n", msg, error);
	else
		fprintf(stderr, "loopctl: the call failed (%s)\n", error);
	return client_error_status(error);
}

static int call(struct client *c, const char *method, json_t *params,
		json_t **out, bool quiet)
{
	struct reply r;
	int rc = client_send(c, method, params, 0);

	*out = NULL;
	if (rc || (rc = client_recv(c, &r)))
		return rc;
	if (r.error && quiet)
		rc = client_error_status(r.error);
	else if (r.error)
		rc = client_report_error(r.error, r.params);
	else if (r.continues)
		rc = bad_reply(c, "\"continues\" on a call without \"more\"");
	else
		*out = json_incref(r.params);
	reply_clear(&r);
	return rc;
}

int client_call(struct client *c, const char *method, json_t *params,
		json_t **out)
{
	return call(c, method, params, out, false);
}

int client_try(struct client *c, const char *method, json_t *params,
	       json_t **out)
{
	return call(c, method, params, out, true);
}

int client_stream(struct client *c, const char *method, json_t *params,
		  client_stream_fn *fn, void *ud)
{
	int rc = client_send(c, method, params, CALL_MORE);
	bool more = !rc;

	while (more) {
		struct reply r;
		if ((rc = client_recv(c, &r)))
			return rc == -EINTR ? 0 : rc;
		more = r.continues;
		if (r.error) {
			rc = client_report_error(r.error, r.params);
			more = false;
		} else {
			rc = fn(c, r.params, r.continues, ud);
			more = more && !rc;
		}
		reply_clear(&r);
	}
	return rc;
}

void client_print_json(json_t *params, bool line)
{
	size_t flags = line ? JSON_COMPACT : JSON_INDENT(2);
	json_dumpf(params, stdout, flags | JSON_ENCODE_ANY);
	fputc('\n', stdout);
	if (line)
		fflush(stdout);
}

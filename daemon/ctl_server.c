/*
 * ctl_server.c - the varlink control socket (PROTOCOL.md): the listening
 * socket and its stale-file rules, connections and their limits, the NUL
 * framing, parsing a call, peer credentials and levels, dispatch to the
 * method table (ctl.h), org.varlink.service, and writing replies.
 *
 * A connection reads into its input buffer and handles the complete
 * messages there one call at a time (ctl.h): the next is parsed only when
 * the previous one got its final reply.  What a client can make the
 * daemon hold is bounded:
 *   - input: at most max_message bytes are buffered.  A message longer
 *     than that closes the connection; so does one not finished within
 *     message_ms of its first byte (a slow sender).
 *   - output: while more than max_output bytes wait for the client,
 *     nothing more is read or dispatched from it (backpressure), so a
 *     client that never reads holds at most max_output plus one reply.
 *     Output that makes no progress for idle_ms closes the connection.
 *   - time: a connection with no call in flight, no output and no
 *     traffic for idle_ms is closed.
 * A malformed message gets an InvalidParameter reply: the NUL framing is
 * intact, so the connection stays usable.  Nothing a client sends aborts.
 *
 * Lifetimes.  A connection is freed only from the server's own loop
 * callbacks (read, write, kick, sweep) and ctl_server_free, never inside
 * a reply function, so a handler may answer any call at any time; replies
 * to a connection that is not in one of its callbacks are written from a
 * "kick" immediate.  A call outlives its connection: when the client goes,
 * call->conn is cleared (the call never points at freed memory) and
 * on_gone runs; the handler's final answer then only frees the call.
 *
 * The connection's watches: the read watch is unreferenced (an idle
 * client does not keep the loop alive after stop_accepting), the write
 * watch is referenced (a final reply, e.g. Shutdown's, is written before
 * the loop ends).
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "jbuf.h"
#include "log.h"
#include "loop.h"
#include "loopd/protocol.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define CTL_BUF_MIN        4096u  /* a buffer's first allocation */
#define CTL_BUF_KEEP       65536u /* an empty buffer above this is freed */
#define CTL_ACCEPT_BURST   64     /* accepts per poll, for fairness */
#define CTL_PAUSE_MS       250u   /* accept pause after EMFILE and such */
#define CTL_CALLS_PER_PASS 64u    /* calls per callback, for fairness */
#define CTL_SWEEP_MAX_MS   1000u  /* how often timeouts are checked */
#define CTL_SWEEP_MIN_MS   10u
#define CTL_GROUPS         256u   /* peer groups read without malloc */
#define CTL_REFUSE_LOG_MS  10000u /* one refusal logged per this */

#define LOOPD_E_METHOD_NOT_IMPLEMENTED LOOPD_IF_SERVICE ".MethodNotImplemented"
#define CTL_PARAMS_KEY                 "\"parameters\":" /* of every reply */

/* Bytes p[off..len) are data; p[0..off) are consumed. */
struct ctl_buf {
	char *p;
	size_t off, len, cap;
};

struct ctl_conn {
	struct ctl_server *s;
	struct ctl_conn *prev, *next;
	int fd;
	loopd_id rw, ww, kick; /* read and write watches, kick immediate */
	struct ctl_peer peer;
	struct ctl_buf in, out;
	size_t scanned;     /* in's first scanned data bytes hold no NUL */
	uint64_t msg_start; /* ms: first byte of an unfinished message, or 0 */
	uint64_t last_io;   /* ms: latest traffic or reply */
	uint64_t last_out;  /* ms: output started or last progressed */
	struct ctl_call *call; /* in flight */
	bool busy;   /* inside one of its callbacks: settled on return */
	bool eof;    /* the client sent EOF (it may still read) */
	bool dead;   /* to be freed */
	bool hangup; /* close once the output is written (disconnect) */
};

struct ctl_call {
	struct ctl_conn *conn; /* NULL once the client is gone */
	char *method;
	struct ctl_peer peer;
	bool more, oneway, gone;
	void (*on_gone)(struct ctl_call *c, void *ud);
	void *gone_ud;
};

struct ctl_server {
	struct loop *loop;
	struct ctl_opts opts;
	char *path;
	dev_t dev; /* the socket file we bound, to unlink only ours */
	ino_t ino;
	const struct ctl_method *methods;
	void *ctx;
	int fd;
	loopd_id listen, pause, sweep;
	bool accepting, accept_warned;
	int force_level; /* -1: from the credentials */
	struct ctl_conn *conns;
	uint64_t nconns, refuse_logged;
	struct ctl_server_stats st;
	json_t *empty; /* the parameters of a call that has none (ctl_msg) */
};

/* A parsed call. */
struct ctl_msg {
	json_t *root, *params; /* params: a new reference */
	const char *method;    /* borrowed from root, or name */
	bool more, oneway;
	char name[96]; /* the method, parsed without jansson */
};

/* Why a message is malformed: the part at fault and a sentence. */
struct ctl_bad {
	const char *part;
	char why[240];
};

/* The standard interface every varlink service provides, as varlink.org
 * publishes it, with the two errors PROTOCOL.md also uses.  Error replies
 * carry a "message" too (every loopd error does). */
static const char ctl_service_description[] =
	"# The Varlink Service Interface is provided by every varlink service. It\n"
	"# describes the service and the interfaces it implements.\n"
	"interface org.varlink.service\n"
	"\n"
	"# Get a list of all the interfaces a service provides and information\n"
	"# about the implementation.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# Get the description of an interface that is implemented by this service.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# The requested interface was not found.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# The requested method was not found\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface defines the requested method, but the service does not\n"
	"# implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# One of the passed parameters is invalid.\n"
	"error InvalidParameter (parameter: string)\n"
	"\n"
	"# Client is denied access\n"
	"error PermissionDenied ()\n"
	"\n"
	"# Method is expected to be called with 'more' set to true, but wasn't\n"
	"error ExpectedMore ()\n";

static void conn_service(struct ctl_conn *cn);
static void conn_settle(struct ctl_conn *cn);
static void conn_on_read(loopd_plugin *p, void *ud, int fd, int revents);
static void conn_on_write(loopd_plugin *p, void *ud, int fd, int revents);
static void ctl_on_accept(loopd_plugin *p, void *ud, int fd, int revents);
static void ctl_verror(struct ctl_call *c, const char *error, json_t *params,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

/* ---- small helpers ---- */

static void *ctl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		fatalx("ctl: out of memory (%zu bytes)", n);
	return q;
}

static void *ctl_xcalloc(size_t n)
{
	return memset(ctl_xrealloc(NULL, n), 0, n);
}

static char *ctl_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(ctl_xrealloc(NULL, n), s, n);
}

/* Formats a message into err (may be NULL) and returns r. */
static int ctl_fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ctl_fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return r;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

/* Replaces what is not printable ASCII (jansson may quote input bytes). */
static void ctl_sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* A JSON string of s, sanitized when s is not valid UTF-8. */
static json_t *ctl_text(const char *s)
{
	json_t *t = json_string(s);
	if (t)
		return t;
	char *copy = ctl_xstrdup(s);
	ctl_sanitize(copy);
	t = json_string(copy);
	free(copy);
	return t;
}

/* ---- buffers ---- */

static size_t buf_pending(const struct ctl_buf *b)
{
	return b->len - b->off;
}

/* Makes room for n more bytes, moving the data to the front first. */
static void buf_reserve(struct ctl_buf *b, size_t n)
{
	if (b->off && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : CTL_BUF_MIN;
	while (cap < b->len + n)
		cap *= 2;
	b->p = ctl_xrealloc(b->p, cap);
	b->cap = cap;
}

static void buf_put(struct ctl_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Drops n bytes of data; an emptied large buffer is given back. */
static void buf_consume(struct ctl_buf *b, size_t n)
{
	b->off += n;
	if (b->off < b->len)
		return;
	b->off = b->len = 0;
	if (b->cap > CTL_BUF_KEEP) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

/* json_dump_callback's sink: appends to a buffer. */
static int ctl_dump_cb(const char *buf, size_t size, void *data)
{
	buf_put(data, buf, size);
	return 0;
}

/* ---- options and levels ---- */

void ctl_opts_default(struct ctl_opts *o)
{
	*o = (struct ctl_opts){
		.path = NULL,
		.admin_gid = (gid_t)-1,
		.max_message = LOOPD_MAX_MESSAGE,
		.max_clients = LOOPD_MAX_CLIENTS,
		.max_clients_uid = LOOPD_MAX_CLIENTS_UID,
		.idle_ms = LOOPD_IDLE_TIMEOUT_MS,
		.message_ms = LOOPD_MESSAGE_TIMEOUT_MS,
		.max_output = LOOPD_MAX_QUEUED_OUTPUT,
		.max_depth = LOOPD_MAX_DEPTH,
	};
}

static int ctl_opts_check(const struct ctl_opts *o, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	if (!o->path || !o->path[0])
		return ctl_fail(err, errlen, -EINVAL, "no socket path");
	if (strlen(o->path) >= sizeof(sa.sun_path))
		return ctl_fail(
			err, errlen, -ENAMETOOLONG,
			"socket path %s is too long (at most %zu bytes)",
			o->path, sizeof(sa.sun_path) - 1);
	if (o->max_message < 2 || !o->max_clients || !o->max_clients_uid ||
	    !o->max_output || !o->max_depth)
		return ctl_fail(err, errlen, -EINVAL,
				"control socket limits must be positive");
	return 0;
}

enum ctl_level ctl_level_for(uid_t uid, gid_t gid, const gid_t *groups,
			     size_t n, gid_t admin_gid)
{
	if (uid == 0 || uid == geteuid())
		return CTL_ADMIN;
	if (admin_gid == (gid_t)-1)
		return CTL_READ;
	if (gid == admin_gid)
		return CTL_ADMIN;
	for (size_t i = 0; i < n; i++)
		if (groups[i] == admin_gid)
			return CTL_ADMIN;
	return CTL_READ;
}

/* The groups of uid's passwd entry (when the kernel lacks SO_PEERGROUPS).
 * getpwuid_r may ask NSS; it runs only with an admin group configured,
 * for a peer that is not admin by uid or gid. */
static size_t ctl_user_groups(uid_t uid, gid_t gid, gid_t *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char text[4096];
	int n = (int)cap;
	if (getpwuid_r(uid, &pw, text, sizeof(text), &res) != 0 || !res)
		return 0;
	if (getgrouplist(pw.pw_name, gid, buf, &n) < 0)
		return 0; /* more than cap: not admin by a group */
	return (size_t)n;
}

/* The peer's supplementary groups, as they were when it connected, into
 * *out: buf, or a malloc'ed array when more than cap.  Their number. */
static size_t ctl_peer_groups(int fd, const struct ctl_peer *p, gid_t **out,
			      gid_t *buf, size_t cap)
{
	socklen_t len = (socklen_t)(cap * sizeof(gid_t));
	*out = buf;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf, &len) == 0)
		return len / sizeof(gid_t);
	if (errno != ERANGE)
		return ctl_user_groups(p->uid, p->gid, buf, cap);
	*out = ctl_xrealloc(NULL, len);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, *out, &len) == 0)
		return len / sizeof(gid_t);
	return 0;
}

/* The peer's credentials and level.  0 or -errno. */
static int ctl_peer_read(int fd, gid_t admin_gid, struct ctl_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t buf[CTL_GROUPS], *groups;
	*p = (struct ctl_peer){ (uid_t)-1, (gid_t)-1, 0, CTL_READ };
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	*p = (struct ctl_peer){ uc.uid, uc.gid, uc.pid, CTL_READ };
	p->level = ctl_level_for(uc.uid, uc.gid, NULL, 0, admin_gid);
	if (p->level == CTL_ADMIN || admin_gid == (gid_t)-1)
		return 0;
	size_t n = ctl_peer_groups(fd, p, &groups, buf, CTL_GROUPS);
	p->level = ctl_level_for(uc.uid, uc.gid, groups, n, admin_gid);
	if (groups != buf)
		free(groups);
	return 0;
}

/* ---- watches and timers ---- */

static void conn_set_read(struct ctl_conn *cn, bool on)
{
	struct loop *l = cn->s->loop;
	if (on == (cn->rw > 0))
		return;
	if (!on) {
		loop_close(l, NULL, cn->rw, NULL);
		cn->rw = 0;
		return;
	}
	cn->rw = loop_watch(l, NULL, cn->fd, LOOPD_READ, conn_on_read, cn);
	if (cn->rw < 0) {
		log_warnx("ctl: cannot watch a client: %s",
			  strerror((int)-cn->rw));
		cn->rw = 0;
		cn->dead = true;
		return;
	}
	loop_ref(l, NULL, cn->rw, 0);
	if (cn->msg_start) /* reads were paused: not the client's time */
		cn->msg_start = loop_now(l);
}

static void conn_set_write(struct ctl_conn *cn, bool on)
{
	struct loop *l = cn->s->loop;
	if (on == (cn->ww > 0))
		return;
	if (!on) {
		loop_close(l, NULL, cn->ww, NULL);
		cn->ww = 0;
		return;
	}
	cn->ww = loop_watch(l, NULL, cn->fd, LOOPD_WRITE, conn_on_write, cn);
	if (cn->ww < 0) {
		log_warnx("ctl: cannot watch a client: %s",
			  strerror((int)-cn->ww));
		cn->ww = 0;
		cn->dead = true;
	}
}

static void conn_on_kick(loopd_plugin *p, void *ud)
{
	struct ctl_conn *cn = ud;
	cn->kick = 0;
	cn->busy = true;
	conn_service(cn);
	cn->busy = false;
	conn_settle(cn);
}

/* Services cn from an immediate (this iteration's check phase). */
static void conn_schedule(struct ctl_conn *cn)
{
	if (cn->kick)
		return;
	loopd_id id = loop_immediate(cn->s->loop, NULL, conn_on_kick, cn);
	if (id < 0)
		log_warnx("ctl: cannot schedule a client: %s",
			  strerror((int)-id));
	else
		cn->kick = id;
}

/* After a reply: services cn soon unless one of its callbacks will. */
static void conn_kick(struct ctl_conn *cn)
{
	if (!cn->busy)
		conn_schedule(cn);
}

static uint64_t ctl_sweep_ms(const struct ctl_opts *o)
{
	uint64_t t = CTL_SWEEP_MAX_MS;
	if (o->idle_ms && o->idle_ms / 4 < t)
		t = o->idle_ms / 4;
	if (o->message_ms && o->message_ms / 4 < t)
		t = o->message_ms / 4;
	return t < CTL_SWEEP_MIN_MS ? CTL_SWEEP_MIN_MS : t;
}

static void ctl_on_sweep(loopd_plugin *p, void *ud);

/* The timeout sweep runs while there are connections, unreferenced. */
static void ctl_sweep_start(struct ctl_server *s)
{
	uint64_t t = ctl_sweep_ms(&s->opts);
	if (s->sweep)
		return;
	s->sweep = loop_timer(s->loop, NULL, t, t, ctl_on_sweep, s);
	if (s->sweep < 0) {
		log_warnx("ctl: no timeout sweep: %s",
			  strerror((int)-s->sweep));
		s->sweep = 0;
		return;
	}
	loop_ref(s->loop, NULL, s->sweep, 0);
}

static void ctl_sweep_stop(struct ctl_server *s)
{
	if (s->sweep)
		loop_close(s->loop, NULL, s->sweep, NULL);
	s->sweep = 0;
}

/* ---- connections ---- */

static bool conn_backlogged(const struct ctl_conn *cn)
{
	return buf_pending(&cn->out) > cn->s->opts.max_output;
}

/* The NUL ending the next complete message in the input, or NULL. */
static char *conn_next(struct ctl_conn *cn)
{
	size_t pending = buf_pending(&cn->in);
	if (cn->scanned >= pending)
		return NULL;
	char *start = cn->in.p + cn->in.off;
	char *nul = memchr(start + cn->scanned, 0, pending - cn->scanned);
	if (!nul)
		cn->scanned = pending;
	return nul;
}

static bool conn_wants_read(struct ctl_conn *cn)
{
	return !cn->eof && !cn->dead && !cn->hangup && !conn_backlogged(cn) &&
	       buf_pending(&cn->in) < cn->s->opts.max_message;
}

/* Whether the client has closed its end entirely (not just shut down
 * writing): then nothing can reach it any more. */
static bool conn_hup(const struct ctl_conn *cn)
{
	struct pollfd p = { .fd = cn->fd, .events = POLLOUT };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static void conn_log(const struct ctl_conn *cn, const char *why)
{
	log_debug("ctl: closing client uid %u pid %d: %s",
		  (unsigned)cn->peer.uid, (int)cn->peer.pid, why);
}

/* Marks cn for closing for malformed input (counted in rejected). */
static void conn_reject(struct ctl_conn *cn, const char *why)
{
	conn_log(cn, why);
	cn->s->st.rejected++;
	cn->dead = true;
}

static void conn_unlink(struct ctl_server *s, struct ctl_conn *cn)
{
	if (s->conns == cn)
		s->conns = cn->next;
	else
		cn->prev->next = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	s->nconns--;
}

/* The call's client is gone: replies are dropped from now on. */
static void call_gone(struct ctl_call *c)
{
	void (*fn)(struct ctl_call *, void *) = c->on_gone;
	c->conn = NULL;
	c->gone = true;
	c->on_gone = NULL;
	if (fn)
		fn(c, c->gone_ud); /* may end (free) the call */
}

/* Closes and frees cn; its call in flight, if any, is told. */
static void conn_free(struct ctl_conn *cn)
{
	struct ctl_server *s = cn->s;
	struct ctl_call *c = cn->call;
	if (c)
		c->conn = NULL;
	conn_unlink(s, cn);
	conn_set_read(cn, false);
	conn_set_write(cn, false);
	if (cn->kick)
		loop_close(s->loop, NULL, cn->kick, NULL);
	close(cn->fd);
	free(cn->in.p);
	free(cn->out.p);
	free(cn);
	if (c)
		call_gone(c);
}

/* ---- reading ---- */

/* Books n bytes just read at the end of the input. */
static void conn_got(struct ctl_conn *cn, size_t n)
{
	const char *chunk = cn->in.p + cn->in.len;
	const char *nul = memrchr(chunk, 0, n);
	uint64_t now = loop_now(cn->s->loop);
	cn->in.len += n;
	cn->s->st.bytes_in += n;
	cn->last_io = now;
	if (nul) /* a message ended here: one more may have begun */
		cn->msg_start = nul + 1 < chunk + n ? now : 0;
	else if (!cn->msg_start)
		cn->msg_start = now;
}

/* Reads what the socket has, up to max_message bytes buffered. */
static void conn_read(struct ctl_conn *cn)
{
	size_t max = cn->s->opts.max_message;
	while (!cn->eof && !cn->dead && buf_pending(&cn->in) < max) {
		size_t room = max - buf_pending(&cn->in);
		buf_reserve(&cn->in, room < CTL_BUF_MIN ? room : CTL_BUF_MIN);
		size_t n = cn->in.cap - cn->in.len;
		size_t want = n < room ? n : room;
		ssize_t r = recv(cn->fd, cn->in.p + cn->in.len, want, 0);
		if (r > 0) {
			conn_got(cn, (size_t)r);
			/* A short read emptied the socket: no recv that
			 * would only say EAGAIN (the watch is level-
			 * triggered, so more data brings us back). */
			if ((size_t)r < want)
				break;
		} else if (r == 0) {
			cn->eof = true;
		} else if (errno != EINTR) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_log(cn, strerror(errno));
				cn->dead = true;
			}
			break;
		}
	}
}

/* ---- writing ---- */

/* A message was appended to the output, which held pending bytes
 * before it. */
static void conn_queued(struct ctl_conn *cn, size_t pending)
{
	uint64_t now = loop_now(cn->s->loop);
	if (!pending)
		cn->last_out = now;
	cn->last_io = now;
}

/* Appends the JSON of v (compact).  False when jansson cannot encode it. */
static bool buf_dump(struct ctl_buf *b, const json_t *v)
{
	return json_dump_callback(v, ctl_dump_cb, b,
				  JSON_COMPACT | JSON_ENCODE_ANY) == 0;
}

/* Appends "error":NAME, (jansson quotes it: errors are not the hot path). */
static bool buf_error(struct ctl_buf *b, const char *error)
{
	json_t *name = json_string(error);
	bool ok = name != NULL;
	if (ok) {
		buf_put(b, "\"error\":", 8);
		ok = buf_dump(b, name);
		buf_put(b, ",", 1);
	}
	json_decref(name);
	return ok;
}

/* Appends "parameters":PARAMS (NULL: {}). */
static bool buf_params(struct ctl_buf *b, const json_t *params)
{
	buf_put(b, CTL_PARAMS_KEY, sizeof(CTL_PARAMS_KEY) - 1);
	if (params)
		return buf_dump(b, params);
	buf_put(b, "{}", 2);
	return true;
}

/* Appends {"error": error, "parameters": params, "continues": true} (the
 * parts that apply) and its NUL to the output: written around the
 * parameters rather than built as one more jansson object.  0, or
 * -EINVAL when jansson cannot encode it (nothing is appended). */
static int conn_queue(struct ctl_conn *cn, const char *error,
		      const json_t *params, bool continues)
{
	static const char more[] = ",\"continues\":true";
	struct ctl_buf *b = &cn->out;
	size_t pending = buf_pending(b);
	buf_put(b, "{", 1);
	if ((error && !buf_error(b, error)) || !buf_params(b, params)) {
		b->len = b->off + pending; /* buf_reserve keeps off + pending */
		return -EINVAL;
	}
	if (continues)
		buf_put(b, more, sizeof(more) - 1);
	buf_put(b, "}", 2); /* and the NUL */
	conn_queued(cn, pending);
	return 0;
}

/* Writes what the socket takes. */
static void conn_flush(struct ctl_conn *cn)
{
	while (buf_pending(&cn->out) && !cn->dead) {
		ssize_t r = send(cn->fd, cn->out.p + cn->out.off,
				 buf_pending(&cn->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			buf_consume(&cn->out, (size_t)r);
			cn->s->st.bytes_out += (uint64_t)r;
			cn->last_out = cn->last_io = loop_now(cn->s->loop);
		} else if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else if (errno != EINTR) {
			conn_log(cn, strerror(errno));
			cn->dead = true;
		}
	}
}

/* ---- parsing ---- */

static int ctl_bad(struct ctl_bad *bad, const char *part, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int ctl_bad(struct ctl_bad *bad, const char *part, const char *fmt, ...)
{
	va_list ap;
	bad->part = part;
	va_start(ap, fmt);
	vsnprintf(bad->why, sizeof(bad->why), fmt, ap);
	va_end(ap);
	ctl_sanitize(bad->why);
	return -EINVAL;
}

/* Whether JSON text nests arrays and objects deeper than max.  Runs
 * before the parser, so that no recursion depends on the input. */
static bool ctl_too_deep(const char *p, size_t n, unsigned max)
{
	unsigned depth = 0;
	bool str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				str = false;
		} else if (ch == '"') {
			str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > max)
				return true;
		} else if ((ch == ']' || ch == '}') && depth) {
			depth--;
		}
	}
	return false;
}

/* An optional boolean member: absent or null is false. */
static int ctl_flag(json_t *root, const char *key, bool *out,
		    struct ctl_bad *bad)
{
	json_t *v = json_object_get(root, key);
	*out = json_is_true(v);
	if (!v || json_is_boolean(v) || json_is_null(v))
		return 0;
	return ctl_bad(bad, key, "\"%s\" must be true or false", key);
}

/* Checks the shape of a call: {"method": string, "parameters": object
 * or null, "more": bool, "oneway": bool}; other members are ignored. */
static int ctl_shape(struct ctl_msg *m, struct ctl_bad *bad)
{
	json_t *params;
	if (!json_is_object(m->root))
		return ctl_bad(bad, "message", "a call is a JSON object");
	if (ctl_flag(m->root, "more", &m->more, bad) < 0 ||
	    ctl_flag(m->root, "oneway", &m->oneway, bad) < 0)
		return -EINVAL;
	if (m->more && m->oneway) { /* which is it? answer, to be safe */
		m->oneway = false;
		return ctl_bad(bad, "oneway",
			       "a call cannot be both \"more\" and \"oneway\"");
	}
	m->method = json_string_value(json_object_get(m->root, "method"));
	if (!m->method) /* absent or not a string */
		return ctl_bad(bad, "method", "\"method\" must be a string");
	params = json_object_get(m->root, "parameters");
	if (params && !json_is_null(params) && !json_is_object(params))
		return ctl_bad(bad, "parameters",
			       "\"parameters\" must be an object");
	m->params =
		json_is_object(params) ? json_incref(params) : json_object();
	return 0;
}

/*
 * The common calls without jansson: a message of exactly this shape,
 * {"method":"io.loopd.daemon.GetStatus"}, with members "method" (letters,
 * digits, dots and underscores), "parameters" ({} or null), "more" and
 * "oneway" (true or false), each at most once, in any order, no spaces.
 * Every such message is valid JSON that ctl_parse would accept with the
 * same meaning; anything else (whitespace, escapes, other members or
 * values, a mistake) takes jansson's path, which also says what is wrong.
 */
enum {
	FP_METHOD = 1,
	FP_PARAMS = 2,
	FP_MORE = 4,
	FP_ONEWAY = 8
};

/* Skips the literal lit at *p (before end).  False if it is not there. */
static bool fp_take(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

static bool fp_name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_';
}

/* The method name at p, up to its closing quote, into m->name. */
static const char *fp_name(const char *p, const char *end, struct ctl_msg *m)
{
	const char *q = p;
	while (q < end && fp_name_char(*q))
		q++;
	if (q == end || *q != '"' || q == p ||
	    (size_t)(q - p) >= sizeof(m->name))
		return NULL;
	memcpy(m->name, p, (size_t)(q - p));
	m->name[q - p] = '\0';
	m->method = m->name;
	return q + 1;
}

static const char *fp_bool(const char *p, const char *end, bool *out)
{
	if (fp_take(&p, end, "true"))
		*out = true;
	else if (fp_take(&p, end, "false"))
		*out = false;
	else
		return NULL;
	return p;
}

/* "parameters": {} (when the nesting limit allows two levels) or null. */
static const char *fp_params(const char *p, const char *end, bool two_deep)
{
	if ((two_deep && fp_take(&p, end, "{}")) || fp_take(&p, end, "null"))
		return p;
	return NULL;
}

/* One member at p, and the position after it; NULL when it is not of the
 * shape above.  *seen: the members so far. */
static const char *fp_member(const struct ctl_server *s, const char *p,
			     const char *end, struct ctl_msg *m, unsigned *seen)
{
	unsigned bit;
	if (fp_take(&p, end, "\"method\":\"")) {
		bit = FP_METHOD;
		p = fp_name(p, end, m);
	} else if (fp_take(&p, end, "\"parameters\":")) {
		bit = FP_PARAMS;
		p = fp_params(p, end, s->opts.max_depth >= 2);
	} else if (fp_take(&p, end, "\"more\":")) {
		bit = FP_MORE;
		p = fp_bool(p, end, &m->more);
	} else if (fp_take(&p, end, "\"oneway\":")) {
		bit = FP_ONEWAY;
		p = fp_bool(p, end, &m->oneway);
	} else {
		return NULL;
	}
	if (!p || (*seen & bit))
		return NULL;
	*seen |= bit;
	return p;
}

/* Parses msg (len bytes) if it has the shape above: true with m set. */
static bool ctl_parse_fast(struct ctl_server *s, const char *msg, size_t len,
			   struct ctl_msg *m)
{
	if (len < 2 || msg[0] != '{' || msg[len - 1] != '}')
		return false;
	const char *p = msg + 1, *end = msg + len - 1; /* inside the braces */
	unsigned seen = 0;
	while (p && p < end) {
		if (seen && !fp_take(&p, end, ","))
			return false;
		p = fp_member(s, p, end, m, &seen);
	}
	if (p != end || !(seen & FP_METHOD) || (m->more && m->oneway))
		return false; /* both: jansson's path says so */
	m->params = json_incref(s->empty);
	return true;
}

/* After a call: the shared empty parameters are replaced if a handler
 * kept a reference to them or changed them. */
static void ctl_empty_check(struct ctl_server *s)
{
	if (s->empty->refcount == 1 && json_object_size(s->empty) == 0)
		return;
	json_decref(s->empty);
	s->empty = json_object();
	if (!s->empty)
		fatalx("ctl: out of memory");
}

/* Parses one message (without its NUL).  0, or -EINVAL with bad set;
 * m->root is set whenever the JSON parsed, and freed by the caller. */
static int ctl_parse(struct ctl_server *s, const char *msg, size_t len,
		     struct ctl_msg *m, struct ctl_bad *bad)
{
	json_error_t je;
	*m = (struct ctl_msg){ 0 };
	if (ctl_parse_fast(s, msg, len, m))
		return 0;
	*m = (struct ctl_msg){ 0 };
	if (ctl_too_deep(msg, len, s->opts.max_depth))
		return ctl_bad(bad, "message",
			       "the JSON nests deeper than %u levels",
			       s->opts.max_depth);
	m->root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &je);
	if (!m->root)
		return ctl_bad(bad, "message",
			       "not valid JSON at line %d, column %d: %s",
			       je.line, je.column, je.text);
	return ctl_shape(m, bad);
}

/* ---- replies ---- */

static void call_free(struct ctl_call *c)
{
	free(c->method);
	free(c);
}

/* The final answer went out (or was dropped): the next call may go. */
static void call_end(struct ctl_call *c)
{
	struct ctl_conn *cn = c->conn;
	if (cn) {
		cn->call = NULL;
		cn->last_io = loop_now(cn->s->loop);
		conn_kick(cn);
	}
	call_free(c);
}

/* A reply that jansson could not encode (a handler's bug, e.g. a string
 * that is not UTF-8).  A streaming one is dropped; for a final one the
 * client still gets an answer. */
static void ctl_unencodable(struct ctl_call *c, bool final)
{
	log_warnx("ctl: a reply to %s cannot be encoded as JSON (%s)",
		  ctl_call_method(c), final ? "error sent" : "dropped");
	if (!final)
		return;
	json_t *p =
		json_pack("{s:s, s:s}", "method", ctl_call_method(c), "message",
			  "loopd could not encode the reply (a bug: see "
			  "its log)");
	if (p &&
	    conn_queue(c->conn, LOOPD_E_METHOD_NOT_IMPLEMENTED, p, false) == 0)
		c->conn->s->st.errors++;
	json_decref(p);
}

/* Queues {"error": error, "parameters": params, "continues": true} (the
 * parts that apply).  Steals params. */
static void ctl_send(struct ctl_call *c, const char *error, json_t *params,
		     bool continues)
{
	struct ctl_conn *cn = c->conn;
	if (!cn || c->oneway) {
		json_decref(params);
		return;
	}
	if (conn_queue(cn, error, params, continues) < 0)
		ctl_unencodable(c, !continues);
	else if (error)
		cn->s->st.errors++;
	json_decref(params);
	conn_kick(cn);
}

void ctl_reply(struct ctl_call *c, json_t *params)
{
	ctl_send(c, NULL, params, false);
	call_end(c);
}

void ctl_reply_begin(struct jbuf *b)
{
	static const char head[] = "{" CTL_PARAMS_KEY;
	jb_init(b);
	jb_reserve(b, 1024); /* a GetStatus in one allocation */
	jb_append(b, head, sizeof(head) - 1);
}

/* Queues the message in b (NUL included): a big one by taking b's memory
 * when nothing else is queued, a small one by a copy (the output buffer
 * is kept; b's would be one more allocation per call). */
static void conn_take(struct ctl_conn *cn, struct jbuf *b)
{
	struct ctl_buf *out = &cn->out;
	size_t pending = buf_pending(out);
	if (pending || b->len <= CTL_BUF_KEEP) {
		buf_put(out, b->p, b->len);
	} else {
		free(out->p);
		*out = (struct ctl_buf){ b->p, 0, b->len, b->cap };
		jb_init(b);
	}
	conn_queued(cn, pending);
	conn_kick(cn);
}

void ctl_reply_jbuf(struct ctl_call *c, struct jbuf *b)
{
	jb_append(b, "}", 2); /* and the NUL: the message's end */
	if (c->conn && !c->oneway)
		conn_take(c->conn, b);
	jb_free(b);
	call_end(c);
}

void ctl_reply_more(struct ctl_call *c, json_t *params)
{
	if (!c->more) {
		log_warnx("ctl: %s: a streaming reply to a call without "
			  "\"more\" (dropped)",
			  c->method ? c->method : "?");
		json_decref(params);
		return;
	}
	ctl_send(c, NULL, params, true);
}

static void ctl_verror(struct ctl_call *c, const char *error, json_t *params,
		       const char *fmt, va_list ap)
{
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	if (!json_is_object(params)) {
		json_decref(params);
		params = json_object();
	}
	json_object_set_new(params, "message", ctl_text(text ? text : error));
	free(text);
	ctl_send(c, error, params, false);
	call_end(c);
}

void ctl_error(struct ctl_call *c, const char *error, json_t *params,
	       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ctl_verror(c, error, params, fmt, ap);
	va_end(ap);
}

void ctl_error_param(struct ctl_call *c, const char *parameter, const char *fmt,
		     ...)
{
	va_list ap;
	json_t *p = json_object();
	json_object_set_new(p, "parameter",
			    ctl_text(parameter ? parameter : ""));
	va_start(ap, fmt);
	ctl_verror(c, LOOPD_E_INVALID_PARAMETER, p, fmt, ap);
	va_end(ap);
}

bool ctl_call_more(const struct ctl_call *c)
{
	return c->more;
}

bool ctl_call_oneway(const struct ctl_call *c)
{
	return c->oneway;
}

const char *ctl_call_method(const struct ctl_call *c)
{
	return c->method ? c->method : "";
}

const struct ctl_peer *ctl_call_peer(const struct ctl_call *c)
{
	return &c->peer;
}

bool ctl_call_gone(const struct ctl_call *c)
{
	return c->gone;
}

size_t ctl_call_backlog(const struct ctl_call *c)
{
	return c->conn ? buf_pending(&c->conn->out) : 0;
}

void ctl_call_disconnect(struct ctl_call *c)
{
	if (c->conn)
		c->conn->hangup = true;
}

void ctl_call_on_gone(struct ctl_call *c,
		      void (*fn)(struct ctl_call *c, void *ud), void *ud)
{
	c->on_gone = fn;
	c->gone_ud = ud;
}

/* ---- org.varlink.service ---- */

static void ctl_get_info(struct ctl_call *c, json_t *params, void *ctx)
{
	json_t *ifs = json_array();
	json_array_append_new(ifs, json_string(LOOPD_IF_SERVICE));
	for (size_t i = 0; i < ctl_interfaces_count; i++)
		json_array_append_new(ifs, json_string(ctl_interfaces[i].name));
	ctl_reply(c,
		  json_pack("{s:s, s:s, s:s, s:s, s:o}", "vendor", LOOPD_VENDOR,
			    "product", LOOPD_PRODUCT, "version", LOOPD_VERSION,
			    "url", LOOPD_URL, "interfaces", ifs));
}

static const char *ctl_description(const char *name)
{
	if (strcmp(name, LOOPD_IF_SERVICE) == 0)
		return ctl_service_description;
	for (size_t i = 0; i < ctl_interfaces_count; i++)
		if (strcmp(name, ctl_interfaces[i].name) == 0)
			return ctl_interfaces[i].description;
	return NULL;
}

static void ctl_get_description(struct ctl_call *c, json_t *params, void *ctx)
{
	json_t *v = json_object_get(params, "interface");
	if (!json_is_string(v)) {
		ctl_error_param(c, "interface",
				"\"interface\" must be an interface name");
		return;
	}
	const char *name = json_string_value(v), *d = ctl_description(name);
	if (!d)
		ctl_error(c, LOOPD_E_INTERFACE_NOT_FOUND,
			  json_pack("{s:s}", "interface", name),
			  "no interface %s", name);
	else
		ctl_reply(c, json_pack("{s:s}", "description", d));
}

static const struct ctl_method ctl_service_methods[] = {
	{ LOOPD_M_GET_INFO, CTL_READ, ctl_get_info },
	{ LOOPD_M_GET_IFACE_DESC, CTL_READ, ctl_get_description },
	{ NULL, CTL_READ, NULL },
};

/* ---- dispatch ---- */

static const struct ctl_method *ctl_find(const struct ctl_method *t,
					 const char *name)
{
	for (; t && t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* Whether the interface name[0..n) is one the server knows: described,
 * or the prefix of a method in the table. */
static bool ctl_iface_known(const struct ctl_server *s, const char *name,
			    size_t n)
{
	if (strlen(LOOPD_IF_SERVICE) == n &&
	    memcmp(name, LOOPD_IF_SERVICE, n) == 0)
		return true;
	for (size_t i = 0; i < ctl_interfaces_count; i++)
		if (strlen(ctl_interfaces[i].name) == n &&
		    memcmp(ctl_interfaces[i].name, name, n) == 0)
			return true;
	/* A method's interface is all of its name before the last dot:
	 * "io.loopd" is not one because "io.loopd.jobs.Add" exists. */
	for (const struct ctl_method *m = s->methods; m && m->name; m++)
		if (strncmp(m->name, name, n) == 0 && m->name[n] == '.' &&
		    !strchr(m->name + n + 1, '.'))
			return true;
	return false;
}

/* InterfaceNotFound, MethodNotFound, or InvalidParameter for a method
 * name that is not interface.Method. */
static void ctl_not_found(struct ctl_call *c, const struct ctl_server *s)
{
	const char *name = c->method, *dot = strrchr(name, '.');
	if (!dot || dot == name || !dot[1]) {
		ctl_error_param(
			c, "method",
			"\"%s\" is not a method name (interface.Method)", name);
		return;
	}
	size_t n = (size_t)(dot - name);
	if (ctl_iface_known(s, name, n))
		ctl_error(c, LOOPD_E_METHOD_NOT_FOUND,
			  json_pack("{s:s}", "method", name), "no method %s",
			  name);
	else
		ctl_error(c, LOOPD_E_INTERFACE_NOT_FOUND,
			  json_pack("{s:s%}", "interface", name, n),
			  "no interface %.*s", (int)n, name);
}

static void ctl_deny(struct ctl_call *c)
{
	log_info("ctl: uid %u pid %d: %s denied (needs admin)",
		 (unsigned)c->peer.uid, (int)c->peer.pid, c->method);
	ctl_error(c, LOOPD_E_PERMISSION_DENIED, NULL,
		  "%s needs admin access: uid %u is not root, loopd's user or "
		  "in the admin group",
		  c->method, (unsigned)c->peer.uid);
}

/* Calls the method of a well-formed call; the call is then the
 * handler's to end. */
static void ctl_dispatch(struct ctl_call *c, struct ctl_msg *m)
{
	struct ctl_server *s = c->conn->s;
	const struct ctl_method *me = ctl_find(ctl_service_methods, m->method);
	void *ctx = me ? (void *)s : s->ctx;
	c->method = ctl_xstrdup(m->method);
	c->more = m->more;
	s->st.calls++;
	if (!me)
		me = ctl_find(s->methods, m->method);
	if (!me) {
		ctl_not_found(c, s);
	} else if (me->level > c->peer.level) {
		ctl_deny(c);
	} else {
		if (me->level == CTL_ADMIN)
			log_info("ctl: uid %u pid %d calls %s",
				 (unsigned)c->peer.uid, (int)c->peer.pid,
				 c->method);
		me->fn(c, m->params, ctx);
	}
}

/* Handles one message (len bytes, its NUL not included). */
static void conn_message(struct ctl_conn *cn, const char *msg, size_t len)
{
	struct ctl_server *s = cn->s;
	struct ctl_call *c = ctl_xcalloc(sizeof(*c));
	struct ctl_msg m;
	struct ctl_bad bad;
	c->conn = cn;
	c->peer = cn->peer;
	cn->call = c;
	int r = ctl_parse(s, msg, len, &m, &bad);
	c->oneway = m.oneway; /* known when the JSON parsed */
	if (r < 0)
		ctl_error_param(c, bad.part, "%s", bad.why);
	else
		ctl_dispatch(c, &m);
	json_decref(m.params);
	json_decref(m.root);
	ctl_empty_check(s);
}

/* Handles complete messages while the previous call is answered, the
 * output is below max_output and the budget lasts. */
static void conn_process(struct ctl_conn *cn, unsigned *budget)
{
	char *nul;
	while (*budget && !cn->dead && !cn->hangup && !cn->call &&
	       !conn_backlogged(cn) && (nul = conn_next(cn))) {
		char *msg = cn->in.p + cn->in.off;
		size_t len = (size_t)(nul - msg);
		(*budget)--;
		conn_message(cn, msg, len);
		buf_consume(&cn->in, len + 1);
		cn->scanned = 0;
	}
}

/* Whether conn_process would handle a message now. */
static bool conn_ready(struct ctl_conn *cn)
{
	return !cn->dead && !cn->hangup && !cn->call && !conn_backlogged(cn) &&
	       conn_next(cn);
}

/* Handles what can be handled now: calls, then output. */
static void conn_service(struct ctl_conn *cn)
{
	unsigned budget = CTL_CALLS_PER_PASS;
	do {
		conn_process(cn, &budget);
		conn_flush(cn);
	} while (budget && conn_ready(cn));
	if (!budget && conn_ready(cn))
		conn_schedule(cn); /* the rest after other clients */
}

/* Whether a connection whose client sent EOF is finished with. */
static bool conn_finished(struct ctl_conn *cn)
{
	if (buf_pending(&cn->out) == 0 && !cn->call && !conn_next(cn))
		return true;
	return conn_hup(cn);
}

/* After one of cn's callbacks: frees it when it is done, otherwise sets
 * its watches for what it waits for. */
static void conn_settle(struct ctl_conn *cn)
{
	size_t max = cn->s->opts.max_message;
	if (!cn->dead && !conn_next(cn) && buf_pending(&cn->in) >= max)
		conn_reject(cn, "message too long");
	if (!cn->dead && cn->hangup && !cn->call && !buf_pending(&cn->out))
		cn->dead = true;
	if (!cn->dead && cn->eof && conn_finished(cn))
		cn->dead = true;
	if (cn->dead) {
		conn_free(cn);
		return;
	}
	conn_set_read(cn, conn_wants_read(cn));
	conn_set_write(cn, buf_pending(&cn->out) > 0);
	if (cn->dead)
		conn_free(cn);
}

static void conn_on_read(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct ctl_conn *cn = ud;
	cn->busy = true;
	conn_read(cn);
	conn_service(cn);
	cn->busy = false;
	conn_settle(cn);
}

static void conn_on_write(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct ctl_conn *cn = ud;
	cn->busy = true;
	conn_flush(cn);
	conn_service(cn);
	cn->busy = false;
	conn_settle(cn);
}

/* Why cn should be closed now, or NULL.  *rejected: for its input. */
static const char *conn_expired(const struct ctl_conn *cn, uint64_t now,
				bool *rejected)
{
	const struct ctl_opts *o = &cn->s->opts;
	*rejected = o->message_ms && cn->msg_start && cn->rw &&
		    now - cn->msg_start >= o->message_ms;
	if (*rejected)
		return "message not finished in time";
	if (o->idle_ms && buf_pending(&cn->out) &&
	    now - cn->last_out >= o->idle_ms)
		return "not reading its replies";
	if (o->idle_ms && !cn->call && !buf_pending(&cn->out) &&
	    now - cn->last_io >= o->idle_ms)
		return "idle";
	/* Without a read watch (EOF, or reads paused behind a call or a
	 * backlog) nothing else notices that the client went away. */
	if ((cn->eof || !cn->rw) && conn_hup(cn))
		return "gone";
	return NULL;
}

static void ctl_on_sweep(loopd_plugin *p, void *ud)
{
	struct ctl_server *s = ud;
	uint64_t now = loop_now(s->loop);
	bool rejected;
	for (struct ctl_conn *cn = s->conns, *next; cn; cn = next) {
		next = cn->next;
		const char *why = conn_expired(cn, now, &rejected);
		if (!why || cn->busy)
			continue;
		conn_log(cn, why);
		s->st.rejected += rejected;
		conn_free(cn);
	}
	if (!s->conns)
		ctl_sweep_stop(s);
}

/* ---- accepting ---- */

static void ctl_listen(struct ctl_server *s, bool on)
{
	if (on == (s->listen > 0))
		return;
	if (!on) {
		loop_close(s->loop, NULL, s->listen, NULL);
		s->listen = 0;
		return;
	}
	s->listen =
		loop_watch(s->loop, NULL, s->fd, LOOPD_READ, ctl_on_accept, s);
	if (s->listen < 0) {
		log_warnx("ctl: cannot watch %s: %s", s->path,
			  strerror((int)-s->listen));
		s->listen = 0;
	}
}

static void ctl_on_resume(loopd_plugin *p, void *ud)
{
	struct ctl_server *s = ud;
	s->pause = 0;
	if (s->accepting)
		ctl_listen(s, true);
}

/* accept failed with err (out of descriptors, or worse): stops watching
 * the socket for a while instead of spinning on it. */
static void ctl_accept_pause(struct ctl_server *s, int err)
{
	if (!s->accept_warned)
		log_warnx("ctl: accept on %s: %s; pausing accept for %u ms",
			  s->path, strerror(err), CTL_PAUSE_MS);
	s->accept_warned = true;
	ctl_listen(s, false);
	s->pause = loop_timer(s->loop, NULL, CTL_PAUSE_MS, 0, ctl_on_resume, s);
	if (s->pause < 0) {
		log_warnx("ctl: cannot pause accept: %s",
			  strerror((int)-s->pause));
		s->pause = 0;
	}
}

/* A connection limit: its [ctl] option and value. */
struct ctl_limit {
	const char *option;
	unsigned max;
	bool per_uid;
};

/* Whether a new client of uid is over a limit (then *lim says which). */
static bool ctl_over_limit(const struct ctl_server *s, uid_t uid,
			   struct ctl_limit *lim)
{
	unsigned mine = 0;
	if (s->nconns >= s->opts.max_clients) {
		*lim = (struct ctl_limit){ "max-clients", s->opts.max_clients,
					   false };
		return true;
	}
	for (const struct ctl_conn *cn = s->conns; cn; cn = cn->next)
		mine += cn->peer.uid == uid;
	*lim = (struct ctl_limit){ "max-clients-per-uid",
				   s->opts.max_clients_uid, true };
	return mine >= s->opts.max_clients_uid;
}

/* The Busy error of a client over lim, as text (caller frees), or NULL. */
static char *ctl_busy_text(const struct ctl_limit *lim, uid_t uid)
{
	char why[160];
	if (!lim->per_uid)
		snprintf(why, sizeof(why),
			 "too many clients: loopd serves at most %u at once "
			 "([ctl] %s); try again later",
			 lim->max, lim->option);
	else
		snprintf(why, sizeof(why),
			 "too many clients of uid %u: loopd serves at most %u "
			 "per uid ([ctl] %s); try again later",
			 (unsigned)uid, lim->max, lim->option);
	json_t *m =
		json_pack("{s:s, s:{s:s, s:s, s:I}}", "error",
			  LOOPD_E_DAEMON_BUSY, "parameters", "message", why,
			  "limit", lim->option, "max", (json_int_t)lim->max);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	return text;
}

/* Tells a client over a limit (Busy, if its socket takes it), closes it. */
static void ctl_refuse(struct ctl_server *s, int fd, const struct ctl_peer *p,
		       const struct ctl_limit *lim)
{
	uint64_t now = loop_now(s->loop);
	char *text = ctl_busy_text(lim, p->uid);
	if (text &&
	    send(fd, text, strlen(text) + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("ctl: refusing a client: %s", strerror(errno));
	free(text);
	close(fd);
	s->st.rejected++;
	if (s->refuse_logged && now - s->refuse_logged < CTL_REFUSE_LOG_MS)
		return;
	s->refuse_logged = now ? now : 1;
	log_warnx("ctl: refused a client (uid %u, pid %d): over [ctl] %s = %u",
		  (unsigned)p->uid, (int)p->pid, lim->option, lim->max);
}

static void ctl_accepted(struct ctl_server *s, int fd)
{
	struct ctl_peer peer;
	struct ctl_limit lim;
	int r = ctl_peer_read(fd, s->opts.admin_gid, &peer);
	if (r < 0) {
		log_warnx("ctl: a client's credentials: %s", strerror(-r));
		close(fd);
		return;
	}
	if (ctl_over_limit(s, peer.uid, &lim))
		ctl_refuse(s, fd, &peer, &lim);
	else
		ctl_server_adopt(s, fd, &peer);
}

static void ctl_on_accept(loopd_plugin *p, void *ud, int fd, int revents)
{
	struct ctl_server *s = ud;
	for (int i = 0; i < CTL_ACCEPT_BURST && s->listen > 0; i++) {
		int cfd = accept4(s->fd, NULL, NULL,
				  SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (cfd >= 0) {
			s->accept_warned = false;
			ctl_accepted(s, cfd);
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return;
		} else if (errno != EINTR && errno != ECONNABORTED) {
			ctl_accept_pause(s, errno);
			return;
		}
	}
}

/* Adds cn to the server's connections. */
static void conn_link(struct ctl_server *s, struct ctl_conn *cn)
{
	cn->next = s->conns;
	if (s->conns)
		s->conns->prev = cn;
	s->conns = cn;
	s->nconns++;
	s->st.accepted++;
	ctl_sweep_start(s);
}

int ctl_server_adopt(struct ctl_server *s, int fd, const struct ctl_peer *peer)
{
	struct ctl_conn *cn = calloc(1, sizeof(*cn));
	int fl = fcntl(fd, F_GETFL);
	if (!cn || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int r = cn ? -errno : -ENOMEM;
		free(cn);
		close(fd);
		return r;
	}
	*cn = (struct ctl_conn){ .s = s, .fd = fd, .peer = *peer };
	if (s->force_level >= 0)
		cn->peer.level = (enum ctl_level)s->force_level;
	cn->last_io = loop_now(s->loop);
	conn_set_read(cn, true);
	if (!cn->rw) {
		close(fd);
		free(cn);
		return -ENOMEM;
	}
	conn_link(s, cn);
	log_debug("ctl: client uid %u pid %d (%s)", (unsigned)cn->peer.uid,
		  (int)cn->peer.pid,
		  cn->peer.level == CTL_ADMIN ? "admin" : "read");
	return 0;
}

void ctl_server_force_level(struct ctl_server *s, int level)
{
	s->force_level = level;
}

/* ---- the socket file ---- */

static socklen_t ctl_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path) + 1); /* length checked */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			   strlen(path) + 1);
}

/* Creates dir and its missing parents, mode 0750. */
static int ctl_mkdirs(char *dir, char *err, size_t errlen)
{
	struct stat st;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode)
			       ? 0
			       : ctl_fail(err, errlen, -ENOTDIR,
					  "%s is not a directory", dir);
	if (errno != ENOENT)
		return ctl_fail(err, errlen, -errno, "cannot use %s: %s", dir,
				strerror(errno));
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		int r = ctl_mkdirs(dir, err, errlen);
		*slash = '/';
		if (r < 0)
			return r;
	}
	/* chmod: 0750 whatever the umask, but only a directory we made. */
	if (mkdir(dir, 0750) == 0 ? chmod(dir, 0750) == 0 : errno == EEXIST)
		return 0;
	return ctl_fail(err, errlen, -errno,
			"cannot create the socket directory %s: %s", dir,
			strerror(errno));
}

/* Creates the directory the socket goes in, if missing. */
static int ctl_make_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return ctl_mkdirs(dir, err, errlen);
}

/* 0 when something listens on path, else -errno of the connect
 * (-ECONNREFUSED: a stale socket). */
static int ctl_probe(const char *path)
{
	struct sockaddr_un sa;
	socklen_t n = ctl_addr(&sa, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *)&sa, n) == 0 || errno == EAGAIN
			? 0
			: -errno;
	close(fd);
	return r;
}

/* Removes a stale socket at path; refuses anything else there. */
static int ctl_clear_stale(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0
				       : ctl_fail(err, errlen, -errno,
						  "cannot check %s: %s", path,
						  strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return ctl_fail(err, errlen, -EEXIST,
				"%s exists and is not a socket: not replacing "
				"it (remove it, or choose another --socket)",
				path);
	int r = ctl_probe(path);
	if (r == 0)
		return ctl_fail(err, errlen, -EADDRINUSE,
				"another loopd is listening on %s", path);
	if (r != -ECONNREFUSED)
		return ctl_fail(err, errlen, r,
				"cannot check whether %s is in use: %s", path,
				strerror(-r));
	if (unlink(path) < 0 && errno != ENOENT)
		return ctl_fail(err, errlen, -errno,
				"cannot remove the stale socket %s: %s", path,
				strerror(errno));
	log_info("ctl: replaced the stale socket %s", path);
	return 0;
}

/* Binds (mode 0660 through the umask) and listens. */
static int ctl_bind(struct ctl_server *s, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t n = ctl_addr(&sa, s->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ctl_fail(err, errlen, -errno, "socket: %s",
				strerror(errno));
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, n) < 0 ? -errno : 0;
	umask(old);
	if (r == 0 && listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		unlink(s->path);
	}
	if (r < 0) {
		close(fd);
		return ctl_fail(err, errlen, r, "cannot listen on %s: %s",
				s->path, strerror(-r));
	}
	s->fd = fd;
	return 0;
}

static int ctl_open(struct ctl_server *s, char *err, size_t errlen)
{
	struct stat st;
	int r = ctl_make_dir(s->path, err, errlen);
	if (r == 0)
		r = ctl_clear_stale(s->path, err, errlen);
	if (r == 0)
		r = ctl_bind(s, err, errlen);
	if (r < 0)
		return r;
	if (stat(s->path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	s->accepting = true;
	ctl_listen(s, true);
	if (s->listen > 0)
		return 0;
	close(s->fd);
	unlink(s->path);
	return ctl_fail(err, errlen, -ENOMEM, "cannot watch %s", s->path);
}

int ctl_server_new(struct ctl_server **out, struct loop *l,
		   const struct ctl_opts *opts,
		   const struct ctl_method *methods, void *ctx, char *err,
		   size_t errlen)
{
	*out = NULL;
	int r = ctl_opts_check(opts, err, errlen);
	if (r < 0)
		return r;
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(opts->path)) ||
	    !(s->empty = json_object())) {
		if (s)
			free(s->path);
		free(s);
		return ctl_fail(err, errlen, -ENOMEM, "out of memory");
	}
	s->loop = l;
	s->opts = *opts;
	s->opts.path = s->path;
	s->methods = methods;
	s->ctx = ctx;
	s->fd = -1;
	s->force_level = -1;
	if ((r = ctl_open(s, err, errlen)) < 0) {
		json_decref(s->empty);
		free(s->path);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void ctl_server_stop_accepting(struct ctl_server *s)
{
	if (!s || !s->accepting)
		return;
	s->accepting = false;
	ctl_listen(s, false);
	if (s->pause)
		loop_close(s->loop, NULL, s->pause, NULL);
	s->pause = 0;
	close(s->fd); /* clients now get ECONNREFUSED */
	s->fd = -1;
}

/* Unlinks the socket file if it is still the one this server bound. */
static void ctl_unlink_own(const struct ctl_server *s)
{
	struct stat st;
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino && S_ISSOCK(st.st_mode))
		unlink(s->path);
}

void ctl_server_free(struct ctl_server *s)
{
	if (!s)
		return;
	ctl_server_stop_accepting(s);
	while (s->conns)
		conn_free(s->conns);
	ctl_sweep_stop(s);
	ctl_unlink_own(s);
	json_decref(s->empty);
	free(s->path);
	free(s);
}

void ctl_server_stats(const struct ctl_server *s, struct ctl_server_stats *o)
{
	*o = s->st;
	o->clients = s->nconns;
	o->backlog = o->buffered = 0;
	for (const struct ctl_conn *cn = s->conns; cn; cn = cn->next) {
		o->backlog += buf_pending(&cn->out);
		o->buffered += buf_pending(&cn->in);
	}
}

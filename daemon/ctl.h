/*
 * ctl.h - the seam between the varlink server (ctl_server.c: socket,
 * framing, limits, peer credentials, org.varlink.service) and the method
 * handlers (ctl_methods.c: the io.loopd.* method table).
 *
 * Everything here runs on the loop thread.
 *
 * Calls on one connection are handled one at a time, in the order they
 * arrived: the server parses and dispatches the next pipelined call only
 * after the previous one got its final reply, so replies come back in call
 * order and a call sees the effects of the calls before it.
 *
 * A call's life: the server checks the level and calls the method's fn.
 * The handler answers now or later (after a commit) with exactly one final
 * ctl_reply(), ctl_reply_jbuf() or ctl_error(); a call made with "more" may
 * send any number of ctl_reply_more() first.  The final answer frees the
 * call.  If the client goes away first, the call's on_gone hook (if set)
 * runs once; the handler must still end the call with one of them, which
 * then only frees it.  For a "oneway" call the answer is dropped, not sent.
 */
#ifndef LOOPD_CTL_H
#define LOOPD_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct jbuf;
struct loop;
struct ctl_server;
struct ctl_call;

enum ctl_level {
	CTL_READ,
	CTL_ADMIN
};

struct ctl_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	enum ctl_level level; /* from uid/groups, fixed at accept */
};

/* One entry of the method table. */
struct ctl_method {
	const char *name; /* full: "io.loopd.jobs.Add" */
	enum ctl_level level;
	/* params: the call's "parameters" object (borrowed; {} when absent). */
	void (*fn)(struct ctl_call *c, json_t *params, void *ctx);
};

/* An interface the server describes (org.varlink.service): name and its
 * varlink IDL text (static). */
struct ctl_interface {
	const char *name;
	const char *description;
};
/* The io.loopd.*.varlink files, embedded at build time, in name order. */
extern const struct ctl_interface ctl_interfaces[];
extern const size_t ctl_interfaces_count;

struct ctl_opts {
	const char *path;   /* the socket */
	gid_t admin_gid;    /* (gid_t)-1: none */
	size_t max_message; /* bytes, NUL included */
	unsigned max_clients, max_clients_uid;
	uint64_t idle_ms, message_ms; /* idle; to finish a started message */
	size_t max_output;            /* queued output before reads pause */
	unsigned max_depth;           /* JSON nesting */
};
/* Fills the PROTOCOL.md defaults (protocol.h). */
void ctl_opts_default(struct ctl_opts *o);

/*
 * Creates the socket's directory (0750) if missing, replaces a stale
 * socket (only a socket, and only when a connect to it is refused: call
 * this while holding the instance lock), binds with umask 0117 (0660),
 * listens, and watches it on l.  methods: a table ending with a NULL name
 * (borrowed, static); ctx is passed to every fn.  0 or -errno with a
 * message in err.
 */
int ctl_server_new(struct ctl_server **out, struct loop *l,
		   const struct ctl_opts *opts,
		   const struct ctl_method *methods, void *ctx, char *err,
		   size_t errlen);
/* Stops accepting (the listening handle no longer keeps the loop alive);
 * open connections stay until their calls end. */
void ctl_server_stop_accepting(struct ctl_server *s);
/* Closes every connection (calls get on_gone), unlinks the socket and
 * frees.  After this, handlers still holding calls may end them.  Call it
 * before loop_free, and not from a method's fn or an on_gone hook. */
void ctl_server_free(struct ctl_server *s);

struct ctl_server_stats {
	uint64_t clients;       /* connected now */
	uint64_t accepted;      /* since start */
	uint64_t calls, errors; /* calls dispatched; error replies sent */
	uint64_t rejected;      /* connections refused (limits) or closed for
			    * malformed input */
	uint64_t bytes_in, bytes_out;
	/* Memory held for clients now: output queued and not yet written,
	 * input read and not yet handled. */
	uint64_t backlog, buffered;
};
void ctl_server_stats(const struct ctl_server *s, struct ctl_server_stats *o);

/* The level of a peer (ctl_peer.level): ADMIN for uid 0, the daemon's
 * euid, or a member of admin_gid by its gid or one of its n groups; READ
 * otherwise, and always when admin_gid is (gid_t)-1 and uid is neither. */
enum ctl_level ctl_level_for(uid_t uid, gid_t gid, const gid_t *groups,
			     size_t n, gid_t admin_gid);
/* Connections adopted from now on get level (CTL_READ or CTL_ADMIN)
 * whatever their credentials; -1 goes back to the credentials.  For
 * tests, which cannot change their uid. */
void ctl_server_force_level(struct ctl_server *s, int level);
/* Serves fd (a connected stream socket; the server owns it from now on,
 * and closes it even on failure) as a client with credentials peer, as
 * if accepted.  For tests and the fuzzer (one end of a socketpair).
 * 0 or -errno. */
int ctl_server_adopt(struct ctl_server *s, int fd, const struct ctl_peer *peer);

/* ---- answering a call ---- */

/* Final reply {"parameters": params}.  Steals params (NULL: {}). */
void ctl_reply(struct ctl_call *c, json_t *params);
/*
 * A final reply written as JSON text, with no jansson tree: for the hot
 * calls (GetStatus) and the big replies (a 10,000-job jobs.List).
 * ctl_reply_begin initialises b with the reply's head; the handler then
 * writes the parameters object into it (jbuf.h) and hands it over with
 * ctl_reply_jbuf, which takes b's memory (a big reply is queued without
 * a copy) and leaves b empty.  The handler vouches that what it wrote is
 * one JSON object in UTF-8.
 */
void ctl_reply_begin(struct jbuf *b);
void ctl_reply_jbuf(struct ctl_call *c, struct jbuf *b);
/* A streaming reply with "continues": true.  Only for calls with more;
 * otherwise it is a programming error (logged, dropped).  Steals. */
void ctl_reply_more(struct ctl_call *c, json_t *params);
/* Final error reply.  params (stolen, may be NULL) gets "message" from
 * the format. */
void ctl_error(struct ctl_call *c, const char *error, json_t *params,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* InvalidParameter naming the parameter. */
void ctl_error_param(struct ctl_call *c, const char *parameter, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

bool ctl_call_more(const struct ctl_call *c);
bool ctl_call_oneway(const struct ctl_call *c);
const char *ctl_call_method(const struct ctl_call *c);
const struct ctl_peer *ctl_call_peer(const struct ctl_call *c);
/* The client has gone (or the server is closing): replies are dropped. */
bool ctl_call_gone(const struct ctl_call *c);
/* Bytes queued to the client and not yet written (streams use it to
 * detect a subscriber that does not read: Overflow). */
size_t ctl_call_backlog(const struct ctl_call *c);
/* Marks the call's connection to be closed once its final reply (sent
 * next) and what is queued before it are written: a stream ending with
 * Overflow.  Call it before that final reply. */
void ctl_call_disconnect(struct ctl_call *c);
/* Runs fn(ud) once when the client goes away before the final reply. */
void ctl_call_on_gone(struct ctl_call *c,
		      void (*fn)(struct ctl_call *c, void *ud), void *ud);

#endif

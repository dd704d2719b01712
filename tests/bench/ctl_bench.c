/*
 * ctl_bench.c - loopd's control socket under load (tracker issue 4,
 * "Benchmarks"): GetStatus calls per second and their latency over N
 * connections, Jobs.Add throughput, and the round trip of a large
 * Jobs.List.  run.sh runs it against a private loopd, next to
 * redis-benchmark against a private redis-server.
 *
 * The client is one thread with non-blocking sockets and epoll, as
 * redis-benchmark is, so that both servers face the same kind of client.
 * On a 2-CPU machine the alternative, a thread per connection, would put
 * 200 runnable client threads on the CPUs the daemon needs and measure
 * the kernel's scheduler rather than the daemon.  The client's own CPU use
 * is printed (cli_cpu) so that a saturated client can be seen, and the
 * daemon's too when its pid is given: srv_cpu, a share of one CPU (loopd's
 * loop is one thread, so near 1.0 the daemon is the limit), and
 * srv_us_call, its CPU time per call, which other load on the machine
 * skews far less than it skews rates and latencies.
 *
 * Modes (the last argument):
 *   status  each connection calls GetStatus in a loop, DEPTH calls in
 *           flight (1: request/response, no pipelining) for SECONDS after
 *           WARMUP seconds not counted (connecting, the first accept)
 *   add     COUNT Jobs.Add calls (kind hello, schedule "every 1h"),
 *           spread over CONNS connections with DEPTH in flight each; a
 *           reply comes after the commit, so latency includes the wait
 *           for it; then the store's batching, from GetStats (store_*)
 *   list    COUNT rounds of one Jobs.List on one connection, one at a time
 *   ping    as status, but PING in RESP to a redis-server's socket: the
 *           same client against loopd's peer, next to redis-benchmark's
 *           figures, so that a difference between the two clients does
 *           not pass for one between the servers
 *
 * Prints one line, "loopd MODE key=value... errors=N" ("redis ping ..."
 * for ping), and exits 0 when
 * every reply was a success; 1 otherwise (the first error is on stderr);
 * 2 on bad usage.  It measures; it never checks a time against a target.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "loopd/protocol.h"

#define JOB_PREFIX  "ctlbench-"
#define READ_CHUNK  65536u
#define MAX_EVENTS  256
#define DRAIN_NS    (10 * 1000000000ull) /* in-flight calls at the end */
#define OK_PREFIX   "{\"parameters\":"
#define STATUS_CALL "{\"method\":\"" LOOPD_M_GET_STATUS "\"}"
#define LIST_CALL   "{\"method\":\"" LOOPD_M_JOBS_LIST "\"}"
#define PING_CALL   "*1\r\n$4\r\nPING\r\n" /* RESP, as redis-cli sends it */
#define PONG        "+PONG"

enum mode {
	MODE_STATUS,
	MODE_PING,
	MODE_ADD,
	MODE_LIST
};

/* A byte buffer: data is p[off..len). */
struct buf {
	char *p;
	size_t off, len, cap;
};

struct conn {
	unsigned id;
	int fd;
	struct buf in, out;
	uint64_t *sent; /* ring of depth entries: when each call was sent */
	unsigned head, inflight;
	bool pollout; /* EPOLLOUT is on: out did not fit the socket */
};

/* Latencies in ns, to sort at the end. */
struct samples {
	uint64_t *v;
	size_t n, cap;
};

struct opts {
	enum mode mode;
	const char *sock;
	unsigned conns, depth;
	double secs, warmup;
	uint64_t count;
	pid_t pid;
};

struct bench {
	const struct opts *o;
	int ep;
	struct conn *conns;
	uint64_t t_begin, t_end; /* the measured window, monotonic ns */
	bool began, stopping;
	uint64_t next_job;     /* add: the next job's number */
	uint64_t done, errors; /* replies in the window; errors anywhere */
	uint64_t first, last;  /* add: first call sent, last reply */
	uint64_t inflight;     /* over all connections */
	struct samples lat;
	double cpu0, cpu1;     /* client CPU s at the window's edges */
	double srv0, srv1;     /* daemon CPU s at the window's edges */
	uint64_t edge0, edge1; /* when they were read */
	char first_error[256];
};

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("ctl_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* This process's user + system CPU seconds. */
static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) /
		       1e6;
}

/* The user + system CPU seconds of pid (all its threads), or -1. */
static double proc_cpu(pid_t pid)
{
	char path[64], line[1024];
	unsigned long ut, st;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	const char *p = strrchr(line, ')');
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->off && b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : READ_CHUNK;
	while (cap < b->len + n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static void samples_add(struct samples *s, uint64_t v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 65536;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The p-quantile (nearest rank) of sorted v[0..n), in µs; 0 when empty. */
static double quantile_us(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)n + 0.999999);
	i = i ? i - 1 : 0;
	return (double)v[i < n ? i : n - 1] / 1e3;
}

/* A connected, blocking stream socket to path. */
static int dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		die("socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot connect to %s: %s (is loopd running there?)", path,
		    strerror(errno));
	return fd;
}

/* Keeps the first error reply (for stderr at the end) and counts it. */
static void note_error(struct bench *b, const char *msg, size_t len)
{
	if (!b->errors++)
		snprintf(b->first_error, sizeof(b->first_error), "%.*s",
			 (int)(len < 200 ? len : 200), msg);
}

static bool has_prefix(const char *msg, size_t len, const char *prefix)
{
	return len >= strlen(prefix) &&
	       memcmp(msg, prefix, strlen(prefix)) == 0;
}

static bool is_ok(const char *msg, size_t len)
{
	return has_prefix(msg, len, OK_PREFIX);
}

/* Whether a mode runs for a time (else for a count of calls). */
static bool timed(const struct opts *o)
{
	return o->mode == MODE_STATUS || o->mode == MODE_PING;
}

/* ---- blocking calls (list, GetStats) ---- */

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("send: %s", strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

/* Reads one reply into b (from its start); its length, NUL excluded. */
static size_t recv_reply(int fd, struct buf *b)
{
	b->off = b->len = 0;
	for (;;) {
		buf_reserve(b, READ_CHUNK);
		ssize_t r = recv(fd, b->p + b->len, b->cap - b->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("loopd closed the connection (%s)",
			    r ? strerror(errno) : "EOF");
		char *nul = memchr(b->p + b->len, 0, (size_t)r);
		b->len += (size_t)r;
		if (nul)
			return (size_t)(nul - b->p);
	}
}

/* A number member of a reply's text: the first "key": in it, or -1.
 * Enough for GetStats, whose keys are unique in the reply. */
static long long member(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* After the adds: how the store batched them (GetStats), on stdout as
 * more key=value pairs of the result line. */
static void print_store_figures(const char *sock)
{
	static const char call[] = "{\"method\":\"" LOOPD_M_GET_STATS "\"}";
	static const char *const keys[] = { "commits", "batch_p50", "batch_max",
					    "commit_p50_us", "commit_p99_us" };
	struct buf in = { 0 };
	int fd = dial(sock);
	send_all(fd, call, sizeof(call)); /* with NUL */
	recv_reply(fd, &in);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf(" store_%s=%lld", keys[i], member(in.p, keys[i]));
	close(fd);
	free(in.p);
}

/* ---- the epoll client (status, add) ---- */

/* c's connection is gone (why): says so with what loopd sent last, e.g.
 * the io.loopd.daemon.Busy of a client over [ctl] max-clients, and exits. */
static void conn_lost(struct bench *b, struct conn *c, const char *why)
{
	char last[256] = "";
	ssize_t r = recv(c->fd, last, sizeof(last) - 1, MSG_DONTWAIT);
	if (r > 0)
		last[r] = '\0';
	const char *said = r > 0 ? last : b->first_error;
	die("connection %u: %s%s%s (over loopd's [ctl] max-clients or "
	    "max-clients-per-uid?)",
	    c->id, why, said[0] ? "; the server said: " : "", said);
}

/* Appends the next call to c's output, or returns false when there is
 * no more work. */
static bool conn_queue_call(struct bench *b, struct conn *c, uint64_t now)
{
	char text[512];
	int n;
	if (b->stopping)
		return false;
	if (b->o->mode == MODE_ADD) {
		if (b->next_job >= b->o->count)
			return false;
		n = snprintf(text, sizeof(text),
			     "{\"method\":\"" LOOPD_M_JOBS_ADD "\","
			     "\"parameters\":{\"name\":\"" JOB_PREFIX
			     "%05" PRIu64
			     "\",\"kind\":\"hello\",\"schedule\":\"every 1h\","
			     "\"args\":{\"message\":\"x\"}}}",
			     b->next_job++);
		if (!b->first)
			b->first = now;
	} else {
		n = snprintf(text, sizeof(text), "%s",
			     b->o->mode == MODE_PING ? PING_CALL : STATUS_CALL);
	}
	/* varlink's NUL ends the message: snprintf's own. */
	size_t len = (size_t)n + (b->o->mode == MODE_PING ? 0 : 1);
	buf_reserve(&c->out, len);
	memcpy(c->out.p + c->out.len, text, len);
	c->out.len += len;
	c->sent[(c->head + c->inflight) % b->o->depth] = now;
	c->inflight++;
	b->inflight++;
	return true;
}

static void conn_pollout(struct bench *b, struct conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = c };
	if (c->pollout == on)
		return;
	if (epoll_ctl(b->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	c->pollout = on;
}

/* Writes what the socket takes of c's output. */
static void conn_flush(struct bench *b, struct conn *c)
{
	while (c->out.len > c->out.off) {
		ssize_t r = send(c->fd, c->out.p + c->out.off,
				 c->out.len - c->out.off, MSG_NOSIGNAL);
		if (r > 0)
			buf_consume(&c->out, (size_t)r);
		else if (r < 0 && errno == EINTR)
			continue;
		else if (r < 0 && errno == EAGAIN)
			break;
		else
			conn_lost(b, c, strerror(errno));
	}
	conn_pollout(b, c, c->out.len > c->out.off);
}

/* Tops c up to depth calls in flight, then writes them in one go. */
static void conn_fill(struct bench *b, struct conn *c, uint64_t now)
{
	while (c->inflight < b->o->depth && conn_queue_call(b, c, now))
		;
	conn_flush(b, c);
}

/* One reply (len bytes, its NUL not included) received at now. */
static void conn_reply(struct bench *b, struct conn *c, const char *msg,
		       size_t len, uint64_t now)
{
	if (!c->inflight)
		die("connection %u: a reply to no call: %.*s", c->id,
		    (int)(len < 200 ? len : 200), msg);
	uint64_t sent = c->sent[c->head];
	c->head = (c->head + 1) % b->o->depth;
	c->inflight--;
	b->inflight--;
	if (b->o->mode == MODE_PING ? !has_prefix(msg, len, PONG)
				    : !is_ok(msg, len))
		note_error(b, msg, len);
	if (b->o->mode == MODE_ADD) {
		b->done++;
		b->last = now;
		samples_add(&b->lat, now - sent);
	} else if (now >= b->t_begin && now < b->t_end) {
		b->done++;
		samples_add(&b->lat, now - sent);
	}
}

static void conn_read(struct bench *b, struct conn *c)
{
	buf_reserve(&c->in, READ_CHUNK);
	ssize_t r = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0)
		conn_lost(b, c,
			  r == 0 ? "closed by the server" : strerror(errno));
	c->in.len += (size_t)r;
	uint64_t now = mono_ns();
	int end = b->o->mode == MODE_PING ? '\n' : '\0'; /* RESP: "+PONG\r\n" */
	char *nul;
	while ((nul = memchr(c->in.p + c->in.off, end,
			     c->in.len - c->in.off))) {
		char *msg = c->in.p + c->in.off;
		size_t len = (size_t)(nul - msg);
		conn_reply(b, c, msg, len, now);
		buf_consume(&c->in, len + 1);
	}
	conn_fill(b, c, now);
}

/* Reads the CPU counters at the window's edges. */
static void bench_edges(struct bench *b, uint64_t now)
{
	if (!b->began && now >= b->t_begin) {
		b->began = true;
		b->edge0 = now;
		b->cpu0 = self_cpu();
		b->srv0 = proc_cpu(b->o->pid);
	}
	if (timed(b->o) && !b->stopping && now >= b->t_end) {
		b->stopping = true;
		b->edge1 = now;
		b->cpu1 = self_cpu();
		b->srv1 = proc_cpu(b->o->pid);
	}
}

static void bench_connect(struct bench *b)
{
	const struct opts *o = b->o;
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	if (b->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	b->conns = xrealloc(NULL, o->conns * sizeof(*b->conns));
	for (unsigned i = 0; i < o->conns; i++) {
		struct conn *c = &b->conns[i];
		*c = (struct conn){ .id = i, .fd = dial(o->sock) };
		c->sent = xrealloc(NULL, o->depth * sizeof(*c->sent));
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
			die("fcntl: %s", strerror(errno));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(b->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
	}
}

/* Runs the calls until the work is done (add) or the window is over
 * (status), then waits for the calls still in flight. */
static void bench_run(struct bench *b)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now = mono_ns();
	b->t_begin = now;
	if (timed(b->o))
		b->t_begin += (uint64_t)(b->o->warmup * 1e9);
	b->t_end = b->t_begin + (uint64_t)(b->o->secs * 1e9);
	if (b->o->mode == MODE_ADD)
		bench_edges(b, now);
	for (unsigned i = 0; i < b->o->conns; i++)
		conn_fill(b, &b->conns[i], now);
	for (;;) {
		bool over = b->o->mode == MODE_ADD ? b->next_job >= b->o->count
						   : b->stopping;
		if (over && !b->inflight)
			break;
		if (over &&
		    now > (b->o->mode == MODE_ADD ? b->last : b->t_end) +
				    DRAIN_NS)
			die("%" PRIu64 " calls still unanswered after 10 s",
			    b->inflight);
		int n = epoll_wait(b->ep, evs, MAX_EVENTS, 10);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(b, c);
			if (evs[i].events & EPOLLOUT)
				conn_flush(b, c);
		}
		now = mono_ns();
		bench_edges(b, now);
	}
	if (b->o->mode == MODE_ADD) {
		b->edge1 = b->last;
		b->cpu1 = self_cpu();
		b->srv1 = proc_cpu(b->o->pid);
	}
}

/* The CPU used over the window, as a fraction of one CPU; -1 unknown. */
static double cpu_share(double c0, double c1, uint64_t t0, uint64_t t1)
{
	if (c0 < 0 || c1 < 0 || t1 <= t0)
		return -1;
	return (c1 - c0) / ((double)(t1 - t0) / 1e9);
}

static void bench_report(struct bench *b)
{
	const struct opts *o = b->o;
	double secs = (double)(b->edge1 - b->edge0) / 1e9;
	qsort(b->lat.v, b->lat.n, sizeof(*b->lat.v), cmp_u64);
	printf("%s conns=%u depth=%u",
	       o->mode == MODE_ADD    ? "loopd add"
	       : o->mode == MODE_PING ? "redis ping"
				      : "loopd status",
	       o->conns, o->depth);
	if (o->mode == MODE_ADD)
		printf(" n=%" PRIu64, o->count);
	printf(" secs=%.3f calls=%" PRIu64 " rate=%.0f p50_us=%.1f p99_us=%.1f"
	       " max_us=%.1f cli_cpu=%.2f srv_cpu=%.2f srv_us_call=%.1f",
	       secs, b->done, secs > 0 ? (double)b->done / secs : 0,
	       quantile_us(b->lat.v, b->lat.n, 0.50),
	       quantile_us(b->lat.v, b->lat.n, 0.99),
	       b->lat.n ? (double)b->lat.v[b->lat.n - 1] / 1e3 : 0,
	       cpu_share(b->cpu0, b->cpu1, b->edge0, b->edge1),
	       cpu_share(b->srv0, b->srv1, b->edge0, b->edge1),
	       b->srv0 < 0 || b->srv1 < 0 || !b->done
		       ? -1.0
		       : (b->srv1 - b->srv0) * 1e6 / (double)b->done);
	if (o->mode == MODE_ADD)
		print_store_figures(o->sock);
	printf(" errors=%" PRIu64 "\n", b->errors);
	fflush(stdout);
}

static int run_epoll(const struct opts *o)
{
	struct bench b = { .o = o };
	bench_connect(&b);
	bench_run(&b);
	bench_report(&b);
	if (b.errors)
		fprintf(stderr,
			"ctl_bench: %" PRIu64 " error replies; the first: %s\n",
			b.errors, b.first_error);
	for (unsigned i = 0; i < o->conns; i++) {
		close(b.conns[i].fd);
		free(b.conns[i].in.p);
		free(b.conns[i].out.p);
		free(b.conns[i].sent);
	}
	free(b.conns);
	free(b.lat.v);
	close(b.ep);
	return b.errors ? 1 : 0;
}

/* ---- list: one call at a time on a blocking socket ---- */

/* How many jobs a List reply holds: each is an object whose first member
 * is its name (jansson keeps the order the daemon packed them in). */
static size_t count_jobs(const char *p, size_t n)
{
	static const char key[] = "{\"name\":";
	size_t count = 0;
	const char *end = p + n, *q = p;
	while ((q = memmem(q, (size_t)(end - q), key, sizeof(key) - 1))) {
		count++;
		q += sizeof(key) - 1;
	}
	return count;
}

static int run_list(const struct opts *o)
{
	struct bench b = { .o = o };
	struct buf in = { 0 };
	uint64_t *t = xrealloc(NULL, o->count * sizeof(*t));
	size_t len = 0, jobs = 0;
	int fd = dial(o->sock);
	double srv0 = proc_cpu(o->pid);
	for (uint64_t i = 0; i < o->count; i++) {
		uint64_t t0 = mono_ns();
		send_all(fd, LIST_CALL, sizeof(LIST_CALL)); /* with NUL */
		len = recv_reply(fd, &in);
		t[i] = mono_ns() - t0;
		if (!is_ok(in.p, len))
			note_error(&b, in.p, len);
		else if (i == 0)
			jobs = count_jobs(in.p, len);
	}
	double srv1 = proc_cpu(o->pid);
	uint64_t first = t[0];
	qsort(t, o->count, sizeof(*t), cmp_u64);
	printf("loopd list jobs=%zu bytes=%zu rounds=%" PRIu64
	       " median_ms=%.2f min_ms=%.2f max_ms=%.2f first_ms=%.2f"
	       " srv_cpu_ms=%.1f errors=%" PRIu64 "\n",
	       jobs, len + 1, o->count, quantile_us(t, o->count, 0.5) / 1e3,
	       (double)t[0] / 1e6, (double)t[o->count - 1] / 1e6,
	       (double)first / 1e6,
	       srv0 < 0 || srv1 < 0 ? -1
				    : (srv1 - srv0) * 1e3 / (double)o->count,
	       b.errors);
	if (b.errors)
		fprintf(stderr, "ctl_bench: %s\n", b.first_error);
	close(fd);
	free(in.p);
	free(t);
	return b.errors ? 1 : 0;
}

/* ---- arguments ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: ctl_bench [-s SOCKET] [-c CONNS] [-P DEPTH] [-d SECONDS]\n"
		"                 [-w WARMUP] [-n COUNT] [-p PID] MODE\n"
		"MODE:\n"
		"  status  GetStatus in a loop on CONNS connections (default 1),\n"
		"          DEPTH calls in flight each (default 1), for SECONDS\n"
		"          (default 5) after WARMUP seconds (default 0.5)\n"
		"  add     COUNT Jobs.Add calls (default 10000) over CONNS\n"
		"          connections (default 4), DEPTH in flight (default 64)\n"
		"  list    COUNT Jobs.List round trips (default 10)\n"
		"  ping    as status, with PING to the redis-server at SOCKET\n"
		"  -s      loopd's socket (default: $" LOOPD_SOCKET_ENV
		", else loopctl's default)\n"
		"  -p      the server's pid: its CPU use in the window (srv_cpu)\n");
	exit(2);
}

static unsigned long long num(const char *s, unsigned long long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || !*s || s[0] == '-' || v == 0 || v > max)
		usage();
	return v;
}

static double secs_arg(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || !*s || !(v >= 0) || v > 3600)
		usage();
	return v;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static char def[108];
	unsigned conns = 0, depth = 0;
	uint64_t count = 0;
	int ch;
	*o = (struct opts){ .secs = 5, .warmup = 0.5 };
	while ((ch = getopt(argc, argv, "s:c:P:d:w:n:p:h")) != -1) {
		switch (ch) {
		case 's': o->sock = optarg; break;
		case 'c': conns = (unsigned)num(optarg, 100000); break;
		case 'P': depth = (unsigned)num(optarg, 100000); break;
		case 'd': o->secs = secs_arg(optarg); break;
		case 'w': o->warmup = secs_arg(optarg); break;
		case 'n': count = num(optarg, 100000000); break;
		case 'p': o->pid = (pid_t)num(optarg, 1u << 30); break;
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
	const char *m = argv[optind];
	if (!strcmp(m, "status"))
		o->mode = MODE_STATUS;
	else if (!strcmp(m, "add"))
		o->mode = MODE_ADD;
	else if (!strcmp(m, "list"))
		o->mode = MODE_LIST;
	else if (!strcmp(m, "ping"))
		o->mode = MODE_PING;
	else
		usage();
	o->conns = conns ? conns : o->mode == MODE_ADD ? 4 : 1;
	o->depth = depth ? depth : o->mode == MODE_ADD ? 64 : 1;
	o->count = count ? count : o->mode == MODE_LIST ? 10 : 10000;
	if (!o->sock)
		o->sock = getenv(LOOPD_SOCKET_ENV);
	if (!o->sock) {
		if (loopd_default_socket(def, sizeof(def)) < 0)
			usage();
		o->sock = def;
	}
	if (timed(o) && o->secs <= 0)
		usage();
}

int main(int argc, char **argv)
{
	struct opts o;
	parse_args(argc, argv, &o);
	return o.mode == MODE_LIST ? run_list(&o) : run_epoll(&o);
}

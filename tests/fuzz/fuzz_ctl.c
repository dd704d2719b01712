/*
 * fuzz_ctl.c - libFuzzer target for the control socket's framing, parsing
 * and dispatch (ctl_server.c, compiled into this target so that it is
 * instrumented).
 *
 * Input: one selector byte, then what a client sends on one connection,
 * byte for byte: NUL-terminated messages, the last possibly unfinished.
 * The connection is one end of a socketpair adopted by a server on a real
 * loop.  The selector picks the client's level (bit 0: READ), whether it
 * reads its replies (bit 1: no, exercising backpressure) and how it ends
 * (bit 2: shutdown(SHUT_WR) and wait for the server to finish, else a
 * plain close).  Limits are small (2 KiB messages, 4 KiB of output, depth
 * 8) so that every one is reachable.  The method table has an echo, an
 * admin method, an async reply, a stream, a held call answered from a
 * timer, a large reply and a disconnect.
 *
 * Nothing may crash, leak, hang or trip UBSan; after each input the server
 * must be back to no clients and no call left (else abort()).
 *
 *   cmake -B b -DCMAKE_C_COMPILER=clang -DLOOPD_FUZZ=ON -DLOOPD_SANITIZE=ON
 *   b/tests/fuzz/fuzz_ctl -max_len=8192 NEW_DIR tests/fuzz/corpus/ctl
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "loopd/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define F_IF "io.loopd.fuzz"

static struct {
	struct loop *l;
	struct ctl_server *s;
	int pending; /* calls answered from timers, not yet answered */
	loopd_id tick;
} G;

struct later {
	struct ctl_call *c;
	int count;
};

static int param_int(json_t *params, const char *key, int lo, int hi)
{
	json_int_t v = json_integer_value(json_object_get(params, key));
	return v < lo ? lo : v > hi ? hi : (int)v;
}

static void m_echo(struct ctl_call *c, json_t *params, void *ctx)
{
	ctl_reply(c, json_incref(params));
}

static void m_admin(struct ctl_call *c, json_t *params, void *ctx)
{
	ctl_reply(c, json_pack("{s:b}", "ok", 1));
}

static void stream_to(struct ctl_call *c, int count)
{
	if (ctl_call_more(c))
		for (int i = 0; i < count; i++)
			ctl_reply_more(c, json_pack("{s:i}", "i", i));
	ctl_reply(c, json_pack("{s:b}", "done", 1));
}

static void m_stream(struct ctl_call *c, json_t *params, void *ctx)
{
	if (!ctl_call_more(c))
		ctl_error(c, LOOPD_E_EXPECTED_MORE, NULL, "call it with more");
	else
		stream_to(c, param_int(params, "count", 0, 20));
}

static void later_fire(loopd_plugin *p, void *ud)
{
	struct later *t = ud;
	G.pending--;
	stream_to(t->c, t->count);
	free(t);
}

static void later_gone(struct ctl_call *c, void *ud)
{
	if (!ctl_call_gone(c))
		abort();
}

/* Answers from a timer of params.ms (0 to 3): a stream of params.count
 * replies when called with more. */
static void m_later(struct ctl_call *c, json_t *params, void *ctx)
{
	struct later *t = malloc(sizeof(*t));
	if (!t)
		abort();
	t->c = c;
	t->count = param_int(params, "count", 0, 20);
	ctl_call_on_gone(c, later_gone, t);
	G.pending++;
	if (loop_timer(G.l, NULL, (uint64_t)param_int(params, "ms", 0, 3), 0,
		       later_fire, t) < 0)
		abort();
}

static void m_big(struct ctl_call *c, json_t *params, void *ctx)
{
	int n = param_int(params, "size", 0, 20000);
	char *s = malloc((size_t)n + 1);
	if (!s)
		abort();
	memset(s, 'x', (size_t)n);
	s[n] = '\0';
	ctl_reply(c, json_pack("{s:s}", "data", s));
	free(s);
}

static void m_hangup(struct ctl_call *c, json_t *params, void *ctx)
{
	ctl_call_disconnect(c);
	ctl_error(c, LOOPD_E_OVERFLOW, NULL, "bye");
}

static const struct ctl_method methods[] = {
	{ F_IF ".Echo", CTL_READ, m_echo },
	{ F_IF ".Admin", CTL_ADMIN, m_admin },
	{ F_IF ".Stream", CTL_READ, m_stream },
	{ F_IF ".Later", CTL_READ, m_later },
	{ F_IF ".Big", CTL_READ, m_big },
	{ F_IF ".Hangup", CTL_READ, m_hangup },
	{ NULL, CTL_READ, NULL },
};

static void tick(loopd_plugin *p, void *ud)
{
}

static char dir[] = "/tmp/ctl-fuzz-XXXXXX", path[64];

static void fuzz_fini(void)
{
	ctl_server_free(G.s);
	loop_close(G.l, NULL, G.tick, NULL); /* loop_free: no live timers */
	loop_run_once(G.l);
	loop_free(G.l);
	rmdir(dir);
}

static void fuzz_init(void)
{
	struct ctl_opts o;
	char err[256];
	log_init(LOGL_ERR, 0); /* quiet: warnings are expected outcomes */
	if (!mkdtemp(dir) || loop_new(&G.l, 1) < 0)
		abort();
	strcpy(path, dir);
	strcat(path, "/ctl.sock");
	ctl_opts_default(&o);
	o.path = path;
	o.max_message = 2048;
	o.max_output = 4096;
	o.max_depth = 8;
	o.idle_ms = o.message_ms = 50;
	if (ctl_server_new(&G.s, G.l, &o, methods, NULL, err, sizeof(err)) <
		    0 ||
	    (G.tick = loop_timer(G.l, NULL, 1, 1, tick, NULL)) < 0)
		abort();
	atexit(fuzz_fini);
}

static void drain(int fd)
{
	char buf[8192];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Writes the input, pumping the loop while the socket is full; gives up
 * on the rest when nothing moves (a client that does not read). */
static void feed(int fd, const uint8_t *p, size_t n, bool reads)
{
	int stuck = 0;
	while (n && stuck < 50) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			stuck = 0;
			continue;
		}
		stuck++;
		loop_run_once(G.l);
		if (reads)
			drain(fd);
	}
}

static uint64_t clients(void)
{
	struct ctl_server_stats st;
	ctl_server_stats(G.s, &st);
	return st.clients;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (!G.l)
		fuzz_init();
	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return 0;
	unsigned sel = data[0];
	struct ctl_peer peer = { getuid(), getgid(), getpid(), CTL_ADMIN };
	ctl_server_force_level(G.s, (sel & 1) ? CTL_READ : CTL_ADMIN);
	if (ctl_server_adopt(G.s, sv[0], &peer) < 0)
		abort();
	feed(sv[1], data + 1, size - 1, !(sel & 2));
	if (sel & 4) { /* half-close: the server finishes, then closes */
		shutdown(sv[1], SHUT_WR);
		for (int i = 0; i < 200 && clients(); i++) {
			loop_run_once(G.l);
			if (!(sel & 2))
				drain(sv[1]);
		}
	}
	close(sv[1]);
	for (int i = 0; i < 2000 && (clients() || G.pending); i++)
		loop_run_once(G.l);
	if (clients() || G.pending)
		abort(); /* a connection or a call that never ends */
	return 0;
}

/*
 * test_ctl_server.c - the varlink control socket (ctl_server.c) with a
 * real loop, a real socket in a temporary directory and a small method
 * table of its own: framing and pipelining, streaming, oneway, the
 * standard errors, levels, malformed input, every limit (message size,
 * slow senders, idle clients, a client that never reads, client counts),
 * the socket file's rules, org.varlink.service, calls that outlive their
 * client, and descriptors coming back after clients close.
 *
 * The loop runs one iteration at a time (pump) with a 5 ms ticker, so
 * that no test waits in poll for longer than that; a client is a
 * non-blocking socket read between iterations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl.h"
#include "jbuf.h"
#include "log.h"
#include "loop.h"
#include "loopd/protocol.h"

#define T_IF "io.loopd.test"

struct client {
	int fd;
	char *buf;
	size_t len, cap;
};

static struct fixture {
	struct loop *l;
	struct ctl_server *s;
	char dir[64], sockdir[80], path[96];
	loopd_id tick;
	int admin_calls, echo_calls, gone, async_pending;
	struct ctl_call *held;
	bool end_in_gone;
	json_t *kept; /* parameters a handler kept (m_taint) */
} F;

/* ---- the method table ---- */

static void m_echo(struct ctl_call *c, json_t *params, void *ctx)
{
	F.echo_calls++;
	ctl_reply(c, json_incref(params));
}

static void m_admin(struct ctl_call *c, json_t *params, void *ctx)
{
	F.admin_calls++;
	ctl_reply(c, json_pack("{s:b}", "ok", 1));
}

struct async {
	struct ctl_call *c;
	json_t *n;
};

static void async_fire(loopd_plugin *p, void *ud)
{
	struct async *a = ud;
	F.async_pending--;
	ctl_reply(a->c, json_pack("{s:o}", "n", a->n));
	free(a);
}

/* Answers {"n": params.n} after params.ms (default 20) ms. */
static void m_async(struct ctl_call *c, json_t *params, void *ctx)
{
	struct async *a = malloc(sizeof(*a));
	json_t *ms = json_object_get(params, "ms");
	assert_non_null(a);
	a->c = c;
	a->n = json_incref(json_object_get(params, "n"));
	if (!a->n)
		a->n = json_null();
	F.async_pending++;
	assert_true(loop_timer(F.l, NULL,
			       ms ? (uint64_t)json_integer_value(ms) : 20, 0,
			       async_fire, a) > 0);
}

/* With more: {"i": 0} ... {"i": count-1} continuing, then {"done": true}. */
static void m_stream(struct ctl_call *c, json_t *params, void *ctx)
{
	json_t *v = json_object_get(params, "count");
	json_int_t n = v ? json_integer_value(v) : 3;
	if (!ctl_call_more(c)) {
		ctl_error(c, LOOPD_E_EXPECTED_MORE, NULL, "call it with more");
		return;
	}
	for (json_int_t i = 0; i < n; i++)
		ctl_reply_more(c, json_pack("{s:I}", "i", i));
	ctl_reply(c, json_pack("{s:b}", "done", 1));
}

static void hold_gone(struct ctl_call *c, void *ud)
{
	F.gone++;
	assert_true(ctl_call_gone(c));
	assert_int_equal(ctl_call_backlog(c), 0);
	if (F.end_in_gone) {
		F.held = NULL;
		ctl_reply(c, NULL); /* dropped: frees the call */
	}
}

/* Keeps the call (like a subscription) in F.held until the test ends it. */
static void m_hold(struct ctl_call *c, json_t *params, void *ctx)
{
	F.held = c;
	F.end_in_gone = json_is_true(json_object_get(params, "end_in_gone"));
	ctl_call_on_gone(c, hold_gone, NULL);
}

/* {"data": "xxx..."} of params.size (default 65536) bytes. */
static void m_big(struct ctl_call *c, json_t *params, void *ctx)
{
	json_t *v = json_object_get(params, "size");
	size_t n = v ? (size_t)json_integer_value(v) : 65536;
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, 'x', n);
	s[n] = '\0';
	ctl_reply(c, json_pack("{s:s}", "data", s));
	free(s);
}

/* A handler that changes its parameters and keeps a reference to them:
 * the next call must not see either. */
static void m_taint(struct ctl_call *c, json_t *params, void *ctx)
{
	json_object_set_new(params, "taint", json_true());
	json_decref(F.kept);
	F.kept = json_incref(params);
	ctl_reply(c, NULL);
}

/* {"data": "yyy..."} of params.size (default 300000) bytes, written as
 * text (ctl_reply_jbuf). */
static void m_text(struct ctl_call *c, json_t *params, void *ctx)
{
	json_t *v = json_object_get(params, "size");
	size_t n = v ? (size_t)json_integer_value(v) : 300000;
	struct jbuf b;
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, 'y', n);
	s[n] = '\0';
	ctl_reply_begin(&b);
	jb_open(&b, '{');
	jb_str(&b, "data", s);
	jb_close(&b, '}');
	ctl_reply_jbuf(c, &b);
	assert_null(b.p); /* taken or freed */
	free(s);
}

/* Overflow, then the connection is closed once that is written. */
static void m_hangup(struct ctl_call *c, json_t *params, void *ctx)
{
	ctl_call_disconnect(c);
	ctl_error(c, LOOPD_E_OVERFLOW, NULL, "bye");
}

static const struct ctl_method methods[] = {
	{ T_IF ".Echo", CTL_READ, m_echo },
	{ T_IF ".Admin", CTL_ADMIN, m_admin },
	{ T_IF ".Async", CTL_READ, m_async },
	{ T_IF ".Stream", CTL_READ, m_stream },
	{ T_IF ".Hold", CTL_READ, m_hold },
	{ T_IF ".Big", CTL_READ, m_big },
	{ T_IF ".Hangup", CTL_READ, m_hangup },
	{ T_IF ".Taint", CTL_READ, m_taint },
	{ T_IF ".Text", CTL_READ, m_text },
	{ NULL, CTL_READ, NULL },
};

/* ---- the loop and the server ---- */

static void tick(loopd_plugin *p, void *ud)
{
}

static void pump(void)
{
	loop_run_once(F.l);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pump_ms(uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end)
		pump();
}

static struct ctl_server_stats stats(void)
{
	struct ctl_server_stats st;
	ctl_server_stats(F.s, &st);
	return st;
}

static struct ctl_opts opts(void)
{
	struct ctl_opts o;
	ctl_opts_default(&o);
	o.path = F.path;
	return o;
}

static void start(const struct ctl_opts *o)
{
	char err[256];
	int r = ctl_server_new(&F.s, F.l, o, methods, &F, err, sizeof(err));
	if (r < 0)
		fail_msg("ctl_server_new: %s", err);
}

static void stop(void)
{
	ctl_server_free(F.s);
	F.s = NULL;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	snprintf(F.dir, sizeof(F.dir), "/tmp/ctl-test-XXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	snprintf(F.sockdir, sizeof(F.sockdir), "%s/s", F.dir);
	snprintf(F.path, sizeof(F.path), "%s/loopd.sock", F.sockdir);
	if (loop_new(&F.l, 1) < 0)
		return -1;
	F.tick = loop_timer(F.l, NULL, 5, 5, tick, NULL);
	return F.tick > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	for (int i = 0; i < 400 && F.async_pending; i++)
		pump();
	stop();
	json_decref(F.kept);
	loop_close(F.l, NULL, F.tick, NULL);
	for (int i = 0; i < 3; i++)
		pump();
	loop_free(F.l);
	unlink(F.path);
	rmdir(F.sockdir);
	rmdir(F.dir);
	return 0;
}

/* ---- clients ---- */

static int cl_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	return fd;
}

static int cl_connect_fd(int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.path);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

static struct client *cl_new(void)
{
	struct client *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->fd = cl_socket();
	assert_int_equal(cl_connect_fd(c->fd), 0);
	return c;
}

static void cl_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

/* Sends n bytes, pumping the loop while the socket is full. */
static void cl_send_raw(struct client *c, const void *p, size_t n)
{
	const char *b = p;
	uint64_t end = now_ms() + 5000;
	while (n) {
		ssize_t r = send(c->fd, b, n, MSG_NOSIGNAL);
		if (r > 0) {
			b += r;
			n -= (size_t)r;
			continue;
		}
		assert_true(errno == EAGAIN);
		assert_true(now_ms() < end);
		pump();
	}
}

/* Sends a message and its NUL. */
static void cl_send(struct client *c, const char *json)
{
	cl_send_raw(c, json, strlen(json) + 1);
}

/* Reads what is there: 1 data, 0 EOF, -1 nothing now. */
static int cl_fill(struct client *c)
{
	if (c->cap - c->len < 65536) {
		c->cap = c->cap ? c->cap * 2 : 131072;
		c->buf = realloc(c->buf, c->cap);
		assert_non_null(c->buf);
	}
	ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (r > 0)
		c->len += (size_t)r;
	if (r < 0 && errno != EAGAIN)
		return 0; /* ECONNRESET counts as closed */
	return r > 0 ? 1 : r == 0 ? 0 : -1;
}

/* The next reply, parsed; NULL if the server closed the connection. */
static json_t *cl_recv(struct client *c)
{
	uint64_t end = now_ms() + 5000;
	for (;;) {
		char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
		if (nul) {
			json_error_t je;
			size_t n = (size_t)(nul - c->buf);
			json_t *j = json_loadb(c->buf, n, 0, &je);
			if (!j)
				fail_msg("reply is not JSON: %s", je.text);
			memmove(c->buf, nul + 1, c->len - n - 1);
			c->len -= n + 1;
			return j;
		}
		if (cl_fill(c) == 0)
			return NULL;
		if (now_ms() > end)
			fail_msg("no reply within 5 s");
		pump();
	}
}

static json_t *cl_call(struct client *c, const char *json)
{
	cl_send(c, json);
	json_t *r = cl_recv(c);
	assert_non_null(r);
	return r;
}

/* Whether the server closes c within ms (replies before are skipped). */
static bool cl_closed_within(struct client *c, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		if (cl_fill(c) == 0)
			return true;
		c->len = 0;
		pump();
	}
	return false;
}

static json_t *params_of(json_t *r)
{
	return json_object_get(r, "parameters");
}

static json_int_t int_of(json_t *r, const char *key)
{
	json_t *v = json_object_get(params_of(r), key);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* Checks that r is the error name with a message; frees r. */
static void expect_error(json_t *r, const char *name)
{
	assert_non_null(r);
	json_t *e = json_object_get(r, "error");
	if (!json_is_string(e) || strcmp(json_string_value(e), name) != 0) {
		char *t = json_dumps(r, 0);
		fail_msg("expected %s, got %s", name, t);
	}
	json_t *m = json_object_get(params_of(r), "message");
	assert_true(json_is_string(m));
	assert_true(json_string_length(m) > 0);
	json_decref(r);
}

static void expect_param(json_t *r, const char *parameter)
{
	json_t *p = json_object_get(params_of(r), "parameter");
	assert_true(json_is_string(p));
	assert_string_equal(json_string_value(p), parameter);
	expect_error(r, LOOPD_E_INVALID_PARAMETER);
}

/* Checks that Echo still works on c (the connection survived). */
static void expect_echo(struct client *c)
{
	json_t *r = cl_call(c, "{\"method\":\"" T_IF ".Echo\","
			       "\"parameters\":{\"i\":42}}");
	assert_null(json_object_get(r, "error"));
	assert_int_equal(int_of(r, "i"), 42);
	json_decref(r);
}

/* ---- tests ---- */

static void test_level_for(void **state)
{
	gid_t groups[] = { 5, 27, 100 };
	uid_t other = geteuid() == 4242 ? 4343 : 4242;
	assert_int_equal(ctl_level_for(0, 0, NULL, 0, (gid_t)-1), CTL_ADMIN);
	assert_int_equal(ctl_level_for(geteuid(), 1, NULL, 0, (gid_t)-1),
			 CTL_ADMIN);
	assert_int_equal(ctl_level_for(other, 1, NULL, 0, (gid_t)-1), CTL_READ);
	assert_int_equal(ctl_level_for(other, 1, groups, 3, (gid_t)-1),
			 CTL_READ);
	assert_int_equal(ctl_level_for(other, 27, NULL, 0, 27), CTL_ADMIN);
	assert_int_equal(ctl_level_for(other, 1, groups, 3, 27), CTL_ADMIN);
	assert_int_equal(ctl_level_for(other, 1, groups, 3, 28), CTL_READ);
	assert_int_equal(ctl_level_for(other, 1, groups, 2, 100), CTL_READ);
}

static void test_socket_modes(void **state)
{
	struct ctl_opts o = opts();
	struct stat st;
	start(&o);
	assert_int_equal(stat(F.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(stat(F.sockdir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	stop();
	assert_int_equal(lstat(F.path, &st), -1); /* unlinked */
}

static void test_get_info(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	/* The Go library sends "parameters": null. */
	json_t *r = cl_call(c, "{\"method\":\"" LOOPD_M_GET_INFO
			       "\",\"parameters\":null}");
	json_t *p = params_of(r), *ifs = json_object_get(p, "interfaces");
	assert_string_equal(json_string_value(json_object_get(p, "vendor")),
			    LOOPD_VENDOR);
	assert_string_equal(json_string_value(json_object_get(p, "product")),
			    LOOPD_PRODUCT);
	assert_string_equal(json_string_value(json_object_get(p, "version")),
			    LOOPD_VERSION);
	assert_string_equal(json_string_value(json_object_get(p, "url")),
			    LOOPD_URL);
	assert_int_equal(json_array_size(ifs), ctl_interfaces_count + 1);
	assert_string_equal(json_string_value(json_array_get(ifs, 0)),
			    LOOPD_IF_SERVICE);
	for (size_t i = 0; i < ctl_interfaces_count; i++) {
		assert_string_equal(
			json_string_value(json_array_get(ifs, i + 1)),
			ctl_interfaces[i].name);
		if (i)
			assert_true(strcmp(ctl_interfaces[i - 1].name,
					   ctl_interfaces[i].name) < 0);
	}
	assert_true(ctl_interfaces_count >= 5);
	json_decref(r);
	cl_free(c);
}

static void test_get_description(void **state)
{
	struct ctl_opts o = opts();
	char msg[256];
	start(&o);
	struct client *c = cl_new();
	for (size_t i = 0; i < ctl_interfaces_count; i++) {
		snprintf(msg, sizeof(msg),
			 "{\"method\":\"" LOOPD_M_GET_IFACE_DESC
			 "\",\"parameters\":{\"interface\":\"%s\"}}",
			 ctl_interfaces[i].name);
		json_t *r = cl_call(c, msg);
		const char *d = json_string_value(
			json_object_get(params_of(r), "description"));
		assert_non_null(d);
		assert_string_equal(d, ctl_interfaces[i].description);
		snprintf(msg, sizeof(msg), "\ninterface %s\n",
			 ctl_interfaces[i].name);
		assert_non_null(strstr(d, msg));
		json_decref(r);
	}
	json_t *r = cl_call(
		c,
		"{\"method\":\"" LOOPD_M_GET_IFACE_DESC
		"\",\"parameters\":{\"interface\":\"" LOOPD_IF_SERVICE "\"}}");
	const char *d =
		json_string_value(json_object_get(params_of(r), "description"));
	assert_non_null(d);
	assert_non_null(strstr(d, "interface org.varlink.service\n"));
	assert_non_null(strstr(d, "method GetInterfaceDescription("));
	json_decref(r);
	r = cl_call(c, "{\"method\":\"" LOOPD_M_GET_IFACE_DESC
		       "\",\"parameters\":{\"interface\":\"io.loopd.nope\"}}");
	assert_string_equal(
		json_string_value(json_object_get(params_of(r), "interface")),
		"io.loopd.nope");
	expect_error(r, LOOPD_E_INTERFACE_NOT_FOUND);
	expect_param(cl_call(c, "{\"method\":\"" LOOPD_M_GET_IFACE_DESC "\"}"),
		     "interface");
	expect_echo(c);
	cl_free(c);
}

/* Replies come back in call order, including behind an async call and
 * around a stream. */
static void test_pipelined_order(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	static const char batch[] =
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":1}}\0"
		"{\"method\":\"" T_IF ".Async\",\"parameters\":{\"n\":2,"
		"\"ms\":30}}\0"
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":3}}\0"
		"{\"method\":\"" T_IF ".Stream\",\"parameters\":{\"count\":3},"
		"\"more\":true}\0"
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":4}}\0"
		"{\"method\":\"" T_IF ".Admin\"}";
	cl_send_raw(c, batch, sizeof(batch));
	json_t *r = cl_recv(c);
	assert_int_equal(int_of(r, "i"), 1);
	json_decref(r);
	r = cl_recv(c);
	assert_int_equal(int_of(r, "n"), 2);
	json_decref(r);
	r = cl_recv(c);
	assert_int_equal(int_of(r, "i"), 3);
	json_decref(r);
	for (int i = 0; i < 3; i++) {
		r = cl_recv(c);
		assert_int_equal(int_of(r, "i"), i);
		assert_true(json_is_true(json_object_get(r, "continues")));
		json_decref(r);
	}
	r = cl_recv(c);
	assert_true(json_is_true(json_object_get(params_of(r), "done")));
	assert_null(json_object_get(r, "continues"));
	json_decref(r);
	r = cl_recv(c);
	assert_int_equal(int_of(r, "i"), 4);
	json_decref(r);
	r = cl_recv(c);
	assert_true(json_is_true(json_object_get(params_of(r), "ok")));
	json_decref(r);
	assert_int_equal(stats().calls, 6);
	cl_free(c);
}

static void test_oneway(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Admin\",\"oneway\":true}");
	cl_send(c, "{\"method\":\"" T_IF ".Nope\",\"oneway\":true}");
	cl_send(c, "{\"method\":\"" T_IF ".Echo\",\"oneway\":true,"
		   "\"parameters\":[]}");
	cl_send(c, "{\"method\":\"" T_IF ".Async\",\"oneway\":true,"
		   "\"parameters\":{\"n\":1}}");
	expect_echo(c); /* the first reply is the first non-oneway call's */
	assert_int_equal(F.admin_calls, 1);
	assert_int_equal(F.async_pending, 0);
	/* A oneway call, then the client closes at once: it still runs. */
	cl_send(c, "{\"method\":\"" T_IF ".Admin\",\"oneway\":true}");
	close(c->fd);
	c->fd = -1;
	for (int i = 0; i < 50 && (F.admin_calls < 2 || stats().clients); i++)
		pump();
	assert_int_equal(F.admin_calls, 2);
	assert_int_equal(stats().clients, 0);
	cl_free(c);
}

static void test_errors(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	json_t *r = cl_call(c, "{\"method\":\"com.example.Foo\"}");
	assert_string_equal(
		json_string_value(json_object_get(params_of(r), "interface")),
		"com.example");
	expect_error(r, LOOPD_E_INTERFACE_NOT_FOUND);
	r = cl_call(c, "{\"method\":\"" T_IF ".Nope\"}");
	assert_string_equal(
		json_string_value(json_object_get(params_of(r), "method")),
		T_IF ".Nope");
	expect_error(r, LOOPD_E_METHOD_NOT_FOUND);
	expect_error(cl_call(c, "{\"method\":\"org.varlink.service.Nope\"}"),
		     LOOPD_E_METHOD_NOT_FOUND);
	/* Described (embedded) but not in this table. */
	expect_error(cl_call(c, "{\"method\":\"" LOOPD_M_JOBS_LIST "\"}"),
		     LOOPD_E_METHOD_NOT_FOUND);
	expect_param(cl_call(c, "{\"method\":\"NoDot\"}"), "method");
	expect_param(cl_call(c, "{\"method\":\"io.loopd.test.\"}"), "method");
	expect_param(cl_call(c, "{\"method\":5}"), "method");
	expect_param(cl_call(c, "{\"parameters\":{}}"), "method");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\","
				"\"parameters\":[1]}"),
		     "parameters");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"more\":1}"),
		     "more");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"more\":true,"
				"\"oneway\":true}"),
		     "oneway");
	expect_param(cl_call(c, "[\"" T_IF ".Echo\"]"), "message");
	expect_param(cl_call(c, "\"just a string\""), "message");
	expect_error(cl_call(c, "{\"method\":\"" T_IF ".Stream\"}"),
		     LOOPD_E_EXPECTED_MORE);
	/* more on a method that does not stream: one final reply. */
	json_t *e = cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"more\":true,"
			       "\"upgrade\":false,\"parameters\":{\"i\":7}}");
	assert_int_equal(int_of(e, "i"), 7);
	assert_null(json_object_get(e, "continues"));
	json_decref(e);
	expect_echo(c);
	assert_int_equal(stats().errors, 14);
	assert_int_equal(stats().rejected, 0);
	cl_free(c);
}

static void test_permission_denied(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	ctl_server_force_level(F.s, CTL_READ);
	struct client *c = cl_new();
	expect_error(cl_call(c, "{\"method\":\"" T_IF ".Admin\"}"),
		     LOOPD_E_PERMISSION_DENIED);
	expect_echo(c);
	assert_int_equal(F.admin_calls, 0);
	ctl_server_force_level(F.s, -1);
	struct client *root = cl_new(); /* the test runs as loopd's own uid */
	json_t *r = cl_call(root, "{\"method\":\"" T_IF ".Admin\"}");
	assert_true(json_is_true(json_object_get(params_of(r), "ok")));
	json_decref(r);
	expect_error(cl_call(c, "{\"method\":\"" T_IF ".Admin\"}"),
		     LOOPD_E_PERMISSION_DENIED); /* fixed at accept */
	assert_int_equal(F.admin_calls, 1);
	cl_free(c);
	cl_free(root);
}

/*
 * Calls of the shape ctl_server.c parses without jansson, each answered
 * as the same call with a space after its '{' (jansson's path) is: the
 * same reply, error or not.  Oneway calls are checked by the Echo after
 * them being the next reply.
 */
static void test_fast_path(void **state)
{
	static const char *const calls[] = {
		"{\"method\":\"" T_IF ".Echo\"}",
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{}}",
		"{\"parameters\":null,\"method\":\"" T_IF ".Echo\"}",
		"{\"method\":\"" T_IF
		".Echo\",\"more\":false,\"oneway\":false}",
		"{\"more\":true,\"method\":\"" T_IF ".Stream\"}",
		"{\"method\":\"" T_IF ".Stream\",\"more\":false}",
		"{\"method\":\"" T_IF ".Stream\"}",
		"{\"method\":\"" T_IF ".Echo\",\"more\":true,\"oneway\":true}",
		"{\"method\":\"" T_IF ".Echo\",\"method\":\"" T_IF ".Echo\"}",
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{},"
		"\"parameters\":{}}",
		"{\"method\":\"" T_IF ".Echo\",\"more\":true,\"more\":true}",
		"{\"method\":\"" T_IF ".Nope\"}",
		"{\"method\":\"com.example.Foo\"}",
		"{\"method\":\"NoDot\"}",
		"{\"method\":\"\"}",
		"{\"method\":\"" T_IF ".Echo\",\"oneway\":true}",
		"{\"method\":\"" T_IF ".Admin\",\"oneway\":true}",
		"{\"oneway\":true}",
		"{}",
	};
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	for (size_t i = 0; i < sizeof(calls) / sizeof(*calls); i++) {
		char slow[256];
		json_t *r[2][8] = { { NULL } };
		snprintf(slow, sizeof(slow), "{ %s", calls[i] + 1);
		for (int k = 0; k < 2; k++) {
			cl_send(c, k ? slow : calls[i]);
			cl_send(c, "{\"method\":\"" T_IF ".Echo\","
				   "\"parameters\":{\"end\":true}}");
			for (int n = 0; n < 8; n++) {
				r[k][n] = cl_recv(c);
				assert_non_null(r[k][n]);
				if (json_object_get(params_of(r[k][n]), "end"))
					break;
			}
		}
		for (int n = 0; n < 8 && (r[0][n] || r[1][n]); n++) {
			/* Error messages may quote a column, one more for
			 * the space. */
			for (int k = 0; k < 2; k++)
				if (json_object_get(r[k][n], "error"))
					json_object_del(params_of(r[k][n]),
							"message");
			if (!json_equal(r[0][n], r[1][n]))
				fail_msg("%s: reply %d differs from that of "
					 "%s: %s",
					 calls[i], n, slow,
					 json_dumps(r[0][n], JSON_COMPACT));
			json_decref(r[0][n]);
			json_decref(r[1][n]);
		}
	}
	assert_int_equal(F.admin_calls, 2);
	cl_free(c);
	stop();
	/* Nesting allowed one level: "parameters":{} is one too many. */
	o.max_depth = 1;
	start(&o);
	c = cl_new();
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\","
				"\"parameters\":{}}"),
		     "message");
	json_t *r = cl_call(c, "{\"method\":\"" T_IF ".Echo\"}");
	assert_null(json_object_get(r, "error"));
	json_decref(r);
	cl_free(c);
}

/* The parameters of a call without any are shared between calls: one a
 * handler changed and kept must not reach the next call. */
static void test_shared_params(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	for (int i = 0; i < 3; i++) {
		json_decref(cl_call(c, "{\"method\":\"" T_IF ".Taint\"}"));
		assert_true(json_is_true(json_object_get(F.kept, "taint")));
		json_t *r = cl_call(c, "{\"method\":\"" T_IF ".Echo\"}");
		assert_int_equal(json_object_size(params_of(r)), 0);
		json_decref(r);
	}
	cl_free(c);
}

/* The data member of reply r, of n bytes of ch; frees r. */
static void expect_data(json_t *r, size_t n, char ch)
{
	assert_non_null(r);
	const char *d =
		json_string_value(json_object_get(params_of(r), "data"));
	assert_non_null(d);
	assert_int_equal(strlen(d), n);
	assert_int_equal(d[0], ch);
	assert_int_equal(d[n - 1], ch);
	json_decref(r);
}

/* Replies written as text: a big one taken without a copy (nothing else
 * queued), one queued behind other output, a small one, and none for a
 * oneway call. */
static void test_reply_text(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Text\",\"oneway\":true}");
	cl_send(c, "{\"method\":\"" T_IF ".Text\"}");
	expect_data(cl_recv(c), 300000, 'y');
	cl_send(c, "{\"method\":\"" T_IF ".Big\"}");
	cl_send(c, "{\"method\":\"" T_IF ".Text\"}");
	cl_send(c,
		"{\"method\":\"" T_IF ".Text\",\"parameters\":{\"size\":3}}");
	expect_data(cl_recv(c), 65536, 'x');
	expect_data(cl_recv(c), 300000, 'y');
	expect_data(cl_recv(c), 3, 'y');
	expect_echo(c);
	assert_int_equal(stats().calls, 6);
	cl_free(c);
}

/* A message of {"method":Echo,"parameters":{"a":<depth nested arrays>}}. */
static char *nested(unsigned depth)
{
	const char *head =
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"a\":";
	size_t n = strlen(head) + 2 * depth + 3;
	char *m = malloc(n), *p = m;
	assert_non_null(m);
	p += sprintf(p, "%s", head);
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	strcpy(p + 2 * depth, "}}");
	return m;
}

static void test_depth(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	char *m = nested(2000);
	json_t *r = cl_call(c, m);
	assert_non_null(strstr(
		json_string_value(json_object_get(params_of(r), "message")),
		"deeper than 32"));
	expect_param(r, "message");
	free(m);
	expect_echo(c);
	m = nested(30); /* with the call and its parameters: 32 */
	r = cl_call(c, m);
	assert_null(json_object_get(r, "error"));
	json_decref(r);
	free(m);
	m = nested(31);
	expect_param(cl_call(c, m), "message");
	free(m);
	/* Brackets inside strings do not count. */
	r = cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"s\":"
		       "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[\"}}");
	assert_null(json_object_get(r, "error"));
	json_decref(r);
	expect_echo(c);
	cl_free(c);
}

static void test_bad_bytes(void **state)
{
	struct ctl_opts o = opts();
	unsigned char garbage[300];
	start(&o);
	struct client *c = cl_new();
	json_t *r = cl_call(c, "{\"method\":\"" T_IF ".Echo\","
			       "\"parameters\":{\"s\":\"\xff\xfe\xc3\"}}");
	json_t *msg = json_object_get(params_of(r), "message");
	assert_non_null(msg); /* valid UTF-8, whatever jansson quoted */
	expect_param(r, "message");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\","
				"\"method\":\"" T_IF ".Admin\"}"),
		     "message");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"parameters\":"
				"{\"a\":1,\"a\":2}}"),
		     "message");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\",\"parameters\":"
				"{\"s\":\"a\\u0000b\"}}"),
		     "message");
	expect_param(cl_call(c, ""), "message");
	expect_param(cl_call(c, "{\"method\":\"" T_IF ".Echo\"} trailing"),
		     "message");
	srand(7);
	for (size_t i = 0; i < sizeof(garbage) - 1; i++)
		garbage[i] = (unsigned char)(1 + rand() % 255);
	garbage[sizeof(garbage) - 1] = '\0';
	expect_param(cl_call(c, (const char *)garbage), "message");
	expect_echo(c);
	assert_int_equal(stats().rejected, 0);
	assert_int_equal(stats().calls, 1);
	cl_free(c);
}

static void test_oversized(void **state)
{
	struct ctl_opts o = opts();
	char m[5200];
	o.max_message = 4096;
	start(&o);
	struct client *c = cl_new();
	/* Exactly max_message bytes with the NUL. */
	const char *head =
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"s\":\"";
	size_t fill = 4095 - strlen(head) - 3;
	size_t n = (size_t)sprintf(m, "%s", head);
	memset(m + n, 'y', fill);
	strcpy(m + n + fill, "\"}}");
	assert_int_equal(strlen(m), 4095);
	json_t *r = cl_call(c, m);
	assert_int_equal(json_string_length(json_object_get(params_of(r), "s")),
			 fill);
	json_decref(r);
	/* One byte more, even pipelined after a good call: closed. */
	memmove(m + n + 1, m + n, fill + 4);
	m[n] = 'y';
	cl_send(c, "{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":1}}");
	cl_send(c, m);
	r = cl_recv(c);
	assert_int_equal(int_of(r, "i"), 1);
	json_decref(r);
	assert_null(cl_recv(c));
	assert_int_equal(stats().rejected, 1);
	cl_free(c);
	/* A partial message at the limit, without a NUL. */
	c = cl_new();
	memset(m, ' ', sizeof(m));
	cl_send_raw(c, m, sizeof(m));
	assert_true(cl_closed_within(c, 2000));
	assert_int_equal(stats().rejected, 2);
	cl_free(c);
}

static void test_slowloris(void **state)
{
	struct ctl_opts o = opts();
	o.message_ms = 100;
	start(&o);
	struct client *slow = cl_new(), *ok = cl_new();
	uint64_t t0 = now_ms();
	cl_send_raw(slow, "{\"method\":", 10);
	/* Bytes that keep coming do not reset the clock. */
	for (int i = 0; i < 4; i++) {
		pump_ms(20);
		cl_send_raw(slow, " ", 1);
	}
	assert_true(cl_closed_within(slow, 1000));
	uint64_t took = now_ms() - t0;
	assert_true(took >= 100);
	print_message("slow sender closed after %llu ms (message_ms 100)\n",
		      (unsigned long long)took);
	assert_int_equal(stats().rejected, 1);
	/* A message sent in pieces within the limit is fine. */
	static const char full[] =
		"{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":9}}";
	cl_send_raw(ok, full, 14);
	pump_ms(30);
	cl_send(ok, full + 14);
	json_t *r = cl_recv(ok);
	assert_int_equal(int_of(r, "i"), 9);
	json_decref(r);
	cl_free(slow);
	cl_free(ok);
}

static void test_idle(void **state)
{
	struct ctl_opts o = opts();
	o.idle_ms = 150;
	start(&o);
	struct client *idle = cl_new(), *busy = cl_new();
	cl_send(busy, "{\"method\":\"" T_IF ".Hold\",\"more\":true}");
	uint64_t t0 = now_ms();
	assert_true(cl_closed_within(idle, 1000));
	uint64_t took = now_ms() - t0;
	assert_true(took >= 140);
	print_message("idle client closed after %llu ms (idle_ms 150)\n",
		      (unsigned long long)took);
	pump_ms(300); /* a call in flight: not idle */
	assert_non_null(F.held);
	assert_int_equal(stats().clients, 1);
	ctl_reply(F.held, NULL);
	F.held = NULL;
	json_t *r = cl_recv(busy);
	assert_non_null(r);
	json_decref(r);
	assert_true(cl_closed_within(busy, 1000));
	assert_int_equal(stats().clients, 0);
	assert_int_equal(stats().rejected, 0);
	assert_int_equal(F.gone, 0);
	cl_free(idle);
	cl_free(busy);
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* 10,000 pipelined calls with 64 KiB replies from a client that never
 * reads: the server holds at most max_output plus one reply of output
 * and max_message of input, and keeps serving another client. */
static void test_never_reads(void **state)
{
	struct ctl_opts o = opts();
	static const char call[] = "{\"method\":\"" T_IF ".Big\","
				   "\"parameters\":{\"size\":65536}}";
	start(&o);
	struct client *hog = cl_new(), *other = cl_new();
	size_t heap0 = heap_used();
	int sent = 0, stuck = 0;
	size_t off = 0;
	while (sent < 10000 && stuck < 200) {
		ssize_t r = send(hog->fd, call + off, sizeof(call) - off,
				 MSG_NOSIGNAL);
		if (r > 0) {
			off += (size_t)r;
			if (off == sizeof(call)) {
				off = 0;
				sent++;
			}
			stuck = 0;
		} else {
			stuck++;
			pump();
		}
	}
	pump_ms(100);
	struct ctl_server_stats st = stats();
	size_t heap = heap_used() - heap0;
	print_message("never-reading client: %d calls written, %llu "
		      "dispatched, backlog %llu bytes, buffered %llu bytes, "
		      "heap +%zu bytes\n",
		      sent, (unsigned long long)st.calls,
		      (unsigned long long)st.backlog,
		      (unsigned long long)st.buffered, heap);
	assert_true(st.backlog <= o.max_output + 65536 + 64);
	assert_true(st.buffered <= o.max_message);
	assert_true(st.calls < 100);
#ifndef LOOPD_ASAN
	assert_true(heap < 8 * 1024 * 1024);
#endif
	for (int i = 0; i < 20; i++)
		expect_echo(other);
	close(hog->fd);
	hog->fd = -1;
	for (int i = 0; i < 100 && stats().clients > 1; i++)
		pump();
	assert_int_equal(stats().clients, 1);
	assert_int_equal(stats().backlog, 0);
	cl_free(hog);
	cl_free(other);
}

/* Backpressure lets go: a client that reads late gets every reply. */
static void test_backpressure_resumes(void **state)
{
	struct ctl_opts o = opts();
	static const char call[] = "{\"method\":\"" T_IF ".Big\","
				   "\"parameters\":{\"size\":16384}}";
	o.max_output = 65536;
	start(&o);
	struct client *c = cl_new();
	for (int i = 0; i < 200; i++)
		cl_send_raw(c, call, sizeof(call));
	pump_ms(50);
	assert_true(stats().calls < 200);
	for (int i = 0; i < 200; i++) {
		json_t *r = cl_recv(c);
		assert_non_null(r);
		assert_int_equal(json_string_length(
					 json_object_get(params_of(r), "data")),
				 16384);
		json_decref(r);
	}
	assert_int_equal(stats().calls, 200);
	expect_echo(c);
	cl_free(c);
}

static void test_output_stall(void **state)
{
	struct ctl_opts o = opts();
	o.idle_ms = 200;
	o.max_output = 65536;
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Big\",\"parameters\":{\"size\":"
		   "4000000}}");
	pump_ms(100);
	assert_int_equal(stats().clients, 1);
	for (int i = 0; i < 200 && stats().clients; i++)
		pump_ms(10);
	assert_int_equal(stats().clients, 0);
	cl_free(c);
}

/* Checks that r is the Busy error of a client over the limit option of
 * value max, with a message naming both; frees r. */
static void expect_busy(json_t *r, const char *option, json_int_t max)
{
	char num[24];
	assert_non_null(r);
	assert_string_equal(
		json_string_value(json_object_get(params_of(r), "limit")),
		option);
	assert_int_equal(int_of(r, "max"), max);
	const char *m =
		json_string_value(json_object_get(params_of(r), "message"));
	snprintf(num, sizeof(num), " %lld ", (long long)max);
	assert_non_null(m);
	assert_non_null(strstr(m, option));
	assert_non_null(strstr(m, num));
	expect_error(r, LOOPD_E_DAEMON_BUSY);
}

static void test_max_clients(void **state)
{
	struct ctl_opts o = opts();
	struct client *c[4];
	o.max_clients = 3;
	start(&o);
	for (int i = 0; i < 3; i++) {
		c[i] = cl_new();
		expect_echo(c[i]);
	}
	c[3] = cl_new();
	expect_busy(cl_recv(c[3]), "max-clients", 3);
	assert_null(cl_recv(c[3]));
	assert_int_equal(stats().rejected, 1);
	assert_int_equal(stats().clients, 3);
	cl_free(c[3]);
	cl_free(c[0]);
	for (int i = 0; i < 20 && stats().clients > 2; i++)
		pump();
	c[0] = cl_new();
	expect_echo(c[0]);
	for (int i = 0; i < 3; i++)
		cl_free(c[i]);
	stop();
	/* Per uid: every client here has the test's uid. */
	o.max_clients = 10;
	o.max_clients_uid = 2;
	start(&o);
	for (int i = 0; i < 3; i++)
		c[i] = cl_new();
	expect_echo(c[0]);
	expect_echo(c[1]);
	expect_busy(cl_recv(c[2]), "max-clients-per-uid", 2);
	assert_null(cl_recv(c[2]));
	for (int i = 0; i < 3; i++)
		cl_free(c[i]);
}

static void test_stale_socket(void **state)
{
	struct ctl_opts o = opts();
	int fd = cl_socket();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.path);
	assert_int_equal(mkdir(F.sockdir, 0700), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* the file stays: a stale socket */
	start(&o);
	struct client *c = cl_new();
	expect_echo(c);
	cl_free(c);
}

static void test_not_a_socket(void **state)
{
	struct ctl_opts o = opts();
	struct ctl_server *s = NULL;
	char err[256], buf[32] = "";
	assert_int_equal(mkdir(F.sockdir, 0700), 0);
	FILE *f = fopen(F.path, "w");
	assert_non_null(f);
	fputs("keep me", f);
	fclose(f);
	int r = ctl_server_new(&s, F.l, &o, methods, &F, err, sizeof(err));
	assert_int_equal(r, -EEXIST);
	assert_null(s);
	assert_non_null(strstr(err, "not a socket"));
	assert_non_null(strstr(err, F.path));
	f = fopen(F.path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep me");
	/* Nor a symlink to a socket, nor a directory. */
	unlink(F.path);
	assert_int_equal(symlink("/nonexistent", F.path), 0);
	assert_int_equal(
		ctl_server_new(&s, F.l, &o, methods, &F, err, sizeof(err)),
		-EEXIST);
	unlink(F.path);
	assert_int_equal(mkdir(F.path, 0700), 0);
	assert_int_equal(
		ctl_server_new(&s, F.l, &o, methods, &F, err, sizeof(err)),
		-EEXIST);
	rmdir(F.path);
}

static void test_live_socket(void **state)
{
	struct ctl_opts o = opts();
	struct ctl_server *s2 = NULL;
	char err[256];
	start(&o);
	int r = ctl_server_new(&s2, F.l, &o, methods, &F, err, sizeof(err));
	assert_int_equal(r, -EADDRINUSE);
	assert_null(s2);
	assert_non_null(strstr(err, "another loopd"));
	struct client *c = cl_new();
	expect_echo(c);
	cl_free(c);
	struct stat st;
	assert_int_equal(stat(F.path, &st), 0);
}

static void test_bad_options(void **state)
{
	struct ctl_opts o = opts();
	struct ctl_server *s = NULL;
	char err[256], path[200];
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	o.path = path;
	assert_int_equal(
		ctl_server_new(&s, F.l, &o, methods, &F, err, sizeof(err)),
		-ENAMETOOLONG);
	o = opts();
	o.max_depth = 0;
	assert_int_equal(
		ctl_server_new(&s, F.l, &o, methods, &F, err, sizeof(err)),
		-EINVAL);
	assert_null(s);
}

static void test_fd_counts(void **state)
{
	struct ctl_opts o = opts();
	struct client *c[20];
	int before_server = count_fds();
	start(&o);
	int start_fds = count_fds();
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20; i++) {
			c[i] = cl_new();
			expect_echo(c[i]);
		}
		cl_send(c[0], "{\"method\":\"" T_IF ".Hold\",\"more\":true,"
			      "\"parameters\":{\"end_in_gone\":true}}");
		cl_send(c[1], "{\"method\":\"" T_IF ".Big\"}");
		cl_send_raw(c[2], "{\"meth", 6);
		pump_ms(20);
		for (int i = 0; i < 20; i++)
			cl_free(c[i]);
		for (int i = 0; i < 100 && stats().clients; i++)
			pump();
		assert_int_equal(stats().clients, 0);
		assert_int_equal(count_fds(), start_fds);
	}
	stop();
	for (int i = 0; i < 3; i++)
		pump();
	assert_int_equal(count_fds(), before_server);
	struct stat st;
	assert_int_equal(lstat(F.path, &st), -1);
}

/* Calls that outlive their client: on_gone, then the handler's answer
 * only frees the call (ASan checks there is no use after free). */
static void test_gone(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Hold\",\"more\":true,"
		   "\"parameters\":{\"end_in_gone\":true}}");
	for (int i = 0; i < 20 && !F.held; i++)
		pump();
	assert_non_null(F.held);
	assert_false(ctl_call_gone(F.held));
	assert_true(ctl_call_more(F.held));
	assert_string_equal(ctl_call_method(F.held), T_IF ".Hold");
	assert_int_equal(ctl_call_peer(F.held)->pid, getpid());
	ctl_reply_more(F.held, json_pack("{s:i}", "x", 1));
	json_t *r = cl_recv(c);
	assert_true(json_is_true(json_object_get(r, "continues")));
	json_decref(r);
	cl_free(c);
	for (int i = 0; i < 50 && !F.gone; i++)
		pump();
	assert_int_equal(F.gone, 1);
	assert_null(F.held);
	/* Ended later, after the client went. */
	c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Hold\",\"more\":true}");
	for (int i = 0; i < 20 && !F.held; i++)
		pump();
	cl_free(c);
	for (int i = 0; i < 50 && F.gone < 2; i++)
		pump();
	assert_int_equal(F.gone, 2);
	assert_true(ctl_call_gone(F.held));
	ctl_reply_more(F.held, json_object()); /* dropped */
	ctl_error(F.held, LOOPD_E_OVERFLOW, NULL, "late");
	F.held = NULL;
	/* In flight when the server is freed. */
	c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Hold\",\"more\":true}");
	for (int i = 0; i < 20 && !F.held; i++)
		pump();
	stop();
	assert_int_equal(F.gone, 3);
	ctl_reply(F.held, json_object());
	F.held = NULL;
	assert_null(cl_recv(c));
	cl_free(c);
}

/* A client that goes while its reads are paused (its input is full of
 * calls queued behind one in flight) is still noticed: on_gone runs. */
static void test_gone_while_paused(void **state)
{
	struct ctl_opts o = opts();
	static const char echo[] = "{\"method\":\"" T_IF ".Echo\"}";
	o.max_message = 4096;
	o.message_ms = 200; /* a faster sweep */
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Hold\",\"more\":true}");
	for (int i = 0; i < 200; i++)
		cl_send_raw(c, echo, sizeof(echo));
	pump_ms(50);
	assert_non_null(F.held);
	assert_true(stats().buffered > 4000);
	cl_free(c);
	for (int i = 0; i < 400 && !F.gone; i++)
		pump();
	assert_int_equal(F.gone, 1);
	assert_int_equal(stats().clients, 0);
	assert_int_equal(F.echo_calls, 0);
	ctl_reply(F.held, NULL);
	F.held = NULL;
}

/* A client that shuts down its writing end still gets its replies. */
static void test_half_close(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Echo\",\"parameters\":{\"i\":1}}");
	cl_send(c, "{\"method\":\"" T_IF ".Async\",\"parameters\":{\"n\":2}}");
	cl_send_raw(c, "{\"method\":\"partial", 18);
	shutdown(c->fd, SHUT_WR);
	json_t *r = cl_recv(c);
	assert_int_equal(int_of(r, "i"), 1);
	json_decref(r);
	r = cl_recv(c);
	assert_int_equal(int_of(r, "n"), 2);
	json_decref(r);
	assert_null(cl_recv(c));
	cl_free(c);
}

/* ctl_call_disconnect: the final reply is written, then the connection
 * closes; calls pipelined behind it are not run. */
static void test_disconnect(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	cl_send(c, "{\"method\":\"" T_IF ".Hangup\"}");
	cl_send(c, "{\"method\":\"" T_IF ".Admin\"}");
	expect_error(cl_recv(c), LOOPD_E_OVERFLOW);
	assert_null(cl_recv(c));
	assert_int_equal(F.admin_calls, 0);
	cl_free(c);
}

static void test_stop_accepting(void **state)
{
	struct ctl_opts o = opts();
	start(&o);
	struct client *c = cl_new();
	expect_echo(c);
	ctl_server_stop_accepting(F.s);
	int fd = cl_socket();
	assert_int_equal(cl_connect_fd(fd), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	expect_echo(c); /* open connections stay */
	cl_free(c);
	stop();
	struct stat st;
	assert_int_equal(lstat(F.path, &st), -1);
}

/* Out of descriptors: accept pauses (no busy loop), then resumes. */
static void test_emfile_pauses_accept(void **state)
{
	struct ctl_opts o = opts();
	struct rlimit old, low;
	start(&o);
	struct client *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	assert_true(a && b);
	a->fd = cl_socket();
	b->fd = cl_socket();
	/* Every descriptor below the lowest free one is in use. */
	int lowest = dup(0);
	assert_true(lowest >= 0);
	close(lowest);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(cl_connect_fd(a->fd), 0);
	assert_int_equal(cl_connect_fd(b->fd), 0);
	struct loop_stats ls0, ls1;
	loop_stats(F.l, &ls0);
	pump_ms(100);
	loop_stats(F.l, &ls1);
	uint64_t iters = ls1.iterations - ls0.iterations;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	print_message("out of descriptors: %llu loop iterations in 100 ms\n",
		      (unsigned long long)iters);
	assert_true(iters < 100);
	assert_int_equal(stats().accepted, 0);
	expect_echo(a);
	expect_echo(b);
	assert_int_equal(stats().accepted, 2);
	cl_free(a);
	cl_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_level_for),
		T(test_socket_modes),
		T(test_get_info),
		T(test_get_description),
		T(test_pipelined_order),
		T(test_oneway),
		T(test_errors),
		T(test_fast_path),
		T(test_shared_params),
		T(test_reply_text),
		T(test_permission_denied),
		T(test_depth),
		T(test_bad_bytes),
		T(test_oversized),
		T(test_slowloris),
		T(test_idle),
		T(test_never_reads),
		T(test_backpressure_resumes),
		T(test_output_stall),
		T(test_max_clients),
		T(test_stale_socket),
		T(test_not_a_socket),
		T(test_live_socket),
		T(test_bad_options),
		T(test_fd_counts),
		T(test_gone),
		T(test_gone_while_paused),
		T(test_half_close),
		T(test_disconnect),
		T(test_stop_accepting),
		T(test_emfile_pauses_accept),
#undef T
	};
	log_init(LOGL_WARN, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * cmd-status.c - loopctl status: daemon.GetStatus, with the loop's health
 * from daemon.GetStats.  A degraded daemon exits 1 (CLI.md).
 */
#include <string.h>

#include "loopctl.h"

#define W 9 /* the longest label, "Database" */

/* "12 total, 10 active, 1 paused": every count of an object, in order. */
static void counts(const json_t *o, char *buf, size_t len)
{
	const char *key;
	json_t *v;
	size_t off = 0;

	snprintf(buf, len, "-");
	json_object_foreach((json_t *)o, key, v)
	{
		if (!json_is_number(v) || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%lld %s",
					off ? ", " : "",
					(long long)json_number_value(v), key);
	}
}

/* The loop's utilization and timer lag p99 from GetStats, as far as the
 * reply has them ("lag_p99_us", or "lag": {"p99_us"}). */
static bool loop_health(const json_t *stats, char *buf, size_t len)
{
	json_t *loop = json_object_get(stats, "loop");
	json_t *lag = json_object_get(loop, "lag");
	json_t *u = json_object_get(loop, "utilization");
	int64_t p99;
	char span[FMT_MAX];
	size_t off = 0;

	if (json_is_number(u)) {
		double v = json_number_value(u);
		off += (size_t)snprintf(buf, len, "utilization %.1f%%",
					v <= 1 ? v * 100 : v);
	}
	if (jget_int(loop, "lag_p99_us", &p99) ||
	    jget_int(lag, "p99_us", &p99)) {
		fmt_span(p99, span, sizeof(span));
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off,
						"%stimer lag p99 %s",
						off ? ", " : "", span);
	}
	return off > 0;
}

/* How many jobs GetStats' pool has reported stuck (loopd --stuck-after)
 * and still running. */
static int64_t stuck_jobs(const json_t *stats)
{
	int64_t n;
	return jget_int(json_object_get(stats, "pool"), "stuck", &n) ? n : 0;
}

/* "2 pool jobs past --stuck-after (lt_stuck 1, sql 1), the oldest running
 * 1min 5s": the plugins from plugins.List when the reply came. */
static void stuck_line(struct client *c, const json_t *stats, char *buf,
		       size_t len)
{
	int64_t n = stuck_jobs(stats), oldest_us, k;
	char span[FMT_MAX] = "-";
	json_t *pl = NULL, *p;
	size_t off, i;

	if (jget_int(json_object_get(stats, "pool"), "oldest_running_us",
		     &oldest_us))
		fmt_span(oldest_us, span, sizeof(span));
	off = (size_t)snprintf(buf, len, "%lld pool job%s past --stuck-after",
			       (long long)n, n == 1 ? "" : "s");
	(void)client_try(c, LOOPD_M_PLUGINS_LIST, NULL, &pl);
	json_array_foreach(json_object_get(pl, "plugins"), i, p)
	{
		if (jget_int(p, "stuck", &k) && k > 0 && off < len)
			off += (size_t)snprintf(
				buf + off, len - off, "%s%s %lld",
				strchr(buf, '(') ? ", " : " (",
				jget_str(p, "name") ? jget_str(p, "name") : "?",
				(long long)k);
	}
	json_decref(pl);
	if (off < len)
		snprintf(buf + off, len - off, "%s, the oldest running %s",
			 strchr(buf, '(') ? ")" : "", span);
}

/* "FILE, read Fri ...: ok" (or the reload's error) from GetStatus. */
static void config_line(const json_t *st, char *buf, size_t len)
{
	json_t *cfg = json_object_get(st, "config");
	const char *path = jget_str(cfg, "path"),
		   *res = jget_str(cfg, "result");
	char when[FMT_MAX] = "-";
	int64_t usec;
	buf[0] = '\0';
	if (!cfg)
		return;
	if (jget_int(cfg, "loaded_usec", &usec))
		fmt_timestamp(usec, when, sizeof(when));
	snprintf(buf, len, "%s, read %s: %s",
		 path && *path ? path : "(no file)", when, res ? res : "-");
}

static void print_status(struct client *c, const json_t *st,
			 const json_t *stats)
{
	const char *state = jget_str(st, "state");
	char buf[512], t1[FMT_MAX], t2[FMT_MAX];
	int64_t started;

	fmt_kv(stdout, W, "State", state ? state : "-",
	       c->color ? fmt_result_color(state) : NULL);
	fmt_kv(stdout, W, "Version", jget_text(st, "version", buf, sizeof(buf)),
	       NULL);
	fmt_kv(stdout, W, "PID", jget_text(st, "pid", buf, sizeof(buf)), NULL);
	if (jget_int(st, "started_usec", &started)) {
		fmt_relative(fmt_now_usec() - started, t1, sizeof(t1));
		fmt_timestamp(started, t2, sizeof(t2));
		snprintf(buf, sizeof(buf), "%s (since %s)", t1, t2);
		fmt_kv(stdout, W, "Uptime", buf, NULL);
	}
	const char *sock = jget_str(st, "socket");
	fmt_kv(stdout, W, "Socket", sock ? sock : c->socket, NULL);
	fmt_kv(stdout, W, "Database",
	       jget_text(st, "database", buf, sizeof(buf)), NULL);
	counts(json_object_get(st, "jobs"), buf, sizeof(buf));
	fmt_kv(stdout, W, "Jobs", buf, NULL);
	counts(json_object_get(st, "plugins"), buf, sizeof(buf));
	fmt_kv(stdout, W, "Plugins", buf, NULL);
	if (stats && loop_health(stats, buf, sizeof(buf)))
		fmt_kv(stdout, W, "Loop", buf, NULL);
	if (stats && stuck_jobs(stats) > 0) {
		stuck_line(c, stats, buf, sizeof(buf));
		fmt_kv(stdout, W, "Stuck", buf, c->color ? COLOR_YELLOW : NULL);
	}
	config_line(st, buf, sizeof(buf));
	if (buf[0])
		fmt_kv(stdout, W, "Config", buf, NULL);
}

static int status_exec(const struct cmd_entry *e, struct client *c,
		       struct args *a)
{
	json_t *st, *stats = NULL;
	int rc = client_call(c, LOOPD_M_GET_STATUS, NULL, &st);

	if (rc)
		return rc;
	const char *state = jget_str(st, "state");
	bool degraded = state && !strcmp(state, "degraded");
	if (c->json) {
		client_print_json(st, false);
	} else {
		/* The loop's figures are a bonus: without them, no Loop line. */
		(void)client_try(c, LOOPD_M_GET_STATS, NULL, &stats);
		print_status(c, st, stats);
	}
	json_decref(st);
	json_decref(stats);
	return degraded ? LC_EXIT_FAILED : LC_EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.usage = "",
	.summary = "daemon state, version, uptime, jobs and plugins, loop "
		   "health",
	.help = "Exits 1 when the daemon is degraded.\n",
	.min_args = 0,
	.max_args = 0,
	.exec = status_exec,
};

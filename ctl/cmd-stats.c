/*
 * cmd-stats.c - loopctl stats [--watch SECONDS]: daemon.GetStats as
 * indented "key: value" lines.  PROTOCOL.md names the figures but not
 * every field, and fields are only ever added, so the reply is printed
 * as it comes, by shape; units are read from the names' suffixes (_us,
 * _ns, _ms, _usec, _bytes) and written for people.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopctl.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* A number, in the unit its key names. */
static const char *number(const char *key, const json_t *v, char *buf,
			  size_t len)
{
	double d = json_number_value(v);
	int64_t n = (int64_t)d;

	if (ends_with(key, "_us"))
		fmt_span(n, buf, len);
	else if (ends_with(key, "_ns"))
		fmt_span(n / 1000, buf, len);
	else if (ends_with(key, "_ms"))
		fmt_span(n * USEC_PER_MSEC, buf, len);
	else if (ends_with(key, "_usec"))
		fmt_timestamp(n, buf, len);
	else if (ends_with(key, "bytes"))
		fmt_bytes(n, buf, len);
	else if (!strcmp(key, "utilization") && d <= 1)
		snprintf(buf, len, "%.1f%%", d * 100);
	else
		return jtext(v, buf, len);
	return buf;
}

/* Elements of an array on one line: scalars joined, objects as k=v. */
static void print_array(const json_t *arr, FILE *f)
{
	size_t i;
	json_t *v;
	char buf[256];

	json_array_foreach(arr, i, v)
	{
		if (!json_is_object(v)) {
			fprintf(f, "%s%s", i ? ", " : "", jtext(v, buf, 256));
			continue;
		}
		const char *k;
		json_t *x;
		bool first = true;
		fprintf(f, "%s", i ? "; " : "");
		json_object_foreach(v, k, x)
		{
			const char *t = json_is_number(x)
						? number(k, x, buf, sizeof(buf))
						: jtext(x, buf, sizeof(buf));
			fprintf(f, "%s%s=%s", first ? "" : " ", k, t);
			first = false;
		}
	}
}

static void print_object(const json_t *o, int depth, FILE *f)
{
	const char *key;
	json_t *v;
	int w = 0;
	char buf[256];

	json_object_foreach((json_t *)o, key, v)
	{
		if (!json_is_object(v) && (int)strlen(key) > w)
			w = (int)strlen(key);
	}
	json_object_foreach((json_t *)o, key, v)
	{
		fprintf(f, "%*s", depth * 2, "");
		if (json_is_object(v)) {
			fprintf(f, "%s:\n", key);
			print_object(v, depth + 1, f);
		} else if (json_is_array(v)) {
			fprintf(f, "%s:%*s ", key, w - (int)strlen(key), "");
			print_array(v, f);
			fputc('\n', f);
		} else {
			const char *t =
				json_is_number(v)
					? number(key, v, buf, sizeof(buf))
					: jtext(v, buf, sizeof(buf));
			fprintf(f, "%s:%*s %s\n", key, w - (int)strlen(key), "",
				t);
		}
	}
}

static int stats_once(struct client *c, bool watch)
{
	json_t *st;
	int rc = client_call(c, LOOPD_M_GET_STATS, NULL, &st);

	if (rc)
		return rc;
	if (c->json) {
		client_print_json(st, watch);
	} else {
		if (watch && isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		print_object(st, 0, stdout);
		fflush(stdout);
	}
	json_decref(st);
	return 0;
}

static int stats_exec(const struct cmd_entry *e, struct client *c,
		      struct args *a)
{
	const char *watch = args_get(a, "watch");
	char *end;
	int rc;

	if (!watch)
		return stats_once(c, false);
	errno = 0;
	double secs = strtod(watch, &end);
	if (errno || end == watch || *end || !(secs > 0) || secs > 86400)
		return cmd_usage_error(e,
				       "--watch takes seconds (0.1 to "
				       "86400), not '%s'",
				       watch);
	client_follow_signals(c);
	do {
		if ((rc = stats_once(c, true)))
			return rc == -EINTR ? 0 : rc; /* interrupted */
		if (!c->json)
			fputc('\n', stdout);
	} while (client_sleep((int64_t)(secs * 1000)));
	return 0;
}

static const struct cmd_opt stats_opts[] = {
	{ "watch", 0, "SECONDS",
	  "print again every SECONDS until interrupted" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_stats_entry = {
	.name = "stats",
	.usage = "[--watch SECONDS]",
	.summary = "loop, pool, store and socket figures",
	.opts = stats_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = stats_exec,
};

/*
 * cmd-show.c - loopctl show NAME: one job in full (jobs.Get), then its
 * next five fire times (jobs.Preview of its schedule in its zone) and its
 * last five runs (runs.List).  With -o json, jobs.Get's reply alone.
 */
#include <string.h>

#include "loopctl.h"

#define W 13 /* "Retry backoff" */

enum how {
	TEXT,
	MS,
	TIMEOUT,
	TIME,
	STATE,
	JSON_VALUE
};

/* The Job fields of PROTOCOL.md in the order shown, with their labels;
 * fields a newer daemon adds are shown after them under their names. */
static const struct field {
	const char *key, *label;
	enum how how;
} fields[] = {
	{ "name", "Name", TEXT },
	{ "kind", "Kind", TEXT },
	{ "plugin", "Plugin", TEXT },
	{ "schedule", "Schedule", TEXT },
	{ "tz", "Time zone", TEXT },
	{ "args", "Args", JSON_VALUE },
	{ "state", "State", STATE },
	{ "overlap", "Overlap", TEXT },
	{ "catchup", "Catch-up", TEXT },
	{ "timeout_ms", "Timeout", TIMEOUT },
	{ "retries", "Retries", TEXT },
	{ "retry_backoff_ms", "Retry backoff", MS },
	{ "jitter_ms", "Jitter", MS },
	{ "next_usec", "Next run", TIME },
	{ "next_reason", "Next reason", TEXT },
	{ "last_usec", "Last run at", TIME },
	{ "last_result", "Last result", STATE },
	{ "last_run", "Last run", TEXT },
	{ "created_usec", "Created", TIME },
	{ "updated_usec", "Updated", TIME },
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static void print_field(const struct client *c, const json_t *job,
			const struct field *fd, int64_t now)
{
	char buf[1024], rel[FMT_MAX], ts[FMT_MAX];
	int64_t v;
	const char *text = jget_text(job, fd->key, buf, sizeof(buf));
	const char *color = NULL;

	switch (fd->how) {
	case TEXT:
	case JSON_VALUE: break;
	case STATE: color = c->color ? fmt_result_color(text) : NULL; break;
	case MS:
	case TIMEOUT:
		if (!jget_int(job, fd->key, &v))
			break;
		if (fd->how == TIMEOUT && v == 0)
			text = "none";
		else
			fmt_duration_ms(v, buf, sizeof(buf)), text = buf;
		break;
	case TIME:
		if (!jget_int(job, fd->key, &v))
			break;
		fmt_timestamp(v, ts, sizeof(ts));
		fmt_relative(v > now ? v - now : now - v, rel, sizeof(rel));
		snprintf(buf, sizeof(buf), "%s; %s %s", ts, rel,
			 v > now ? "left" : "ago");
		text = buf;
		break;
	}
	fmt_kv(stdout, W, fd->label, text, color);
}

static void print_job(const struct client *c, const json_t *job)
{
	int64_t now = fmt_now_usec();
	const char *key;
	json_t *v;
	char buf[1024];

	for (size_t i = 0; i < NFIELDS; i++)
		print_field(c, job, &fields[i], now);
	json_object_foreach((json_t *)job, key, v)
	{
		size_t i = 0;
		while (i < NFIELDS && strcmp(fields[i].key, key))
			i++;
		if (i == NFIELDS)
			fmt_kv(stdout, W, key, jtext(v, buf, sizeof(buf)),
			       NULL);
	}
}

/* "Next:" and the job's next five fire times, or why there are none. */
static int print_next(struct client *c, const json_t *job)
{
	const char *sched = jget_str(job, "schedule"),
		   *tz = jget_str(job, "tz");
	json_t *params = json_pack("{s:s?, s:i}", "schedule", sched, "count",
				   LOOPD_PREVIEW_DEFAULT);
	struct reply r;
	char ts[FMT_MAX], rel[FMT_MAX];
	int64_t now = fmt_now_usec();

	if (tz && *tz)
		json_object_set_new(params, "tz", json_string(tz));
	int rc = client_send(c, LOOPD_M_JOBS_PREVIEW, params, 0);
	if (rc || (rc = client_recv(c, &r)))
		return rc;
	printf("\nNext:\n");
	const char *msg = jget_str(r.params, "message");
	json_t *next = json_object_get(r.params, "next");
	if (r.error)
		printf("  - (%s)\n", msg ? msg : r.error);
	else if (!json_array_size(next))
		printf("  -\n");
	for (size_t i = 0; !r.error && i < json_array_size(next); i++) {
		int64_t t = json_integer_value(json_array_get(next, i));
		fmt_timestamp(t, ts, sizeof(ts));
		fmt_relative(t > now ? t - now : now - t, rel, sizeof(rel));
		printf("  %s; %s %s\n", ts, rel, t > now ? "left" : "ago");
	}
	reply_clear(&r);
	return 0;
}

static int print_runs(struct client *c, const char *name)
{
	json_t *reply;
	int rc = client_call(c, LOOPD_M_RUNS_LIST,
			     json_pack("{s:s, s:i}", "job", name, "limit", 5),
			     &reply);

	if (rc)
		return rc;
	json_t *runs = json_object_get(reply, "runs");
	printf("\nLast runs:\n");
	if (json_array_size(runs))
		runs_print(stdout, runs, c->color, "  ", false);
	else
		printf("  -\n");
	json_decref(reply);
	return 0;
}

static int show_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	json_t *reply;
	int rc = client_call(c, LOOPD_M_JOBS_GET,
			     json_pack("{s:s}", "name", a->argv[0]), &reply);

	if (rc)
		return rc;
	json_t *job = json_object_get(reply, "job");
	if (c->json) {
		client_print_json(reply, false);
	} else {
		print_job(c, job);
		if (!(rc = print_next(c, job)))
			rc = print_runs(c, a->argv[0]);
	}
	json_decref(reply);
	return rc;
}

const struct cmd_entry cmd_show_entry = {
	.name = "show",
	.usage = "NAME",
	.summary = "one job in full, its next five fire times and last runs",
	.help = "With -o json, prints the reply of jobs.Get alone.\n",
	.min_args = 1,
	.max_args = 1,
	.exec = show_exec,
};

/*
 * cmd-jobs.c - loopctl jobs [--state S]: jobs.List as systemctl
 * list-timers shows timers, soonest first: NEXT, LEFT, LAST, PASSED, then
 * the last RESULT, JOB, KIND, SCHEDULE.  A job with no next run says why
 * (its next_reason) across the NEXT and LEFT columns.
 */
#include <stdlib.h>
#include <string.h>

#include "loopctl.h"

/* Soonest next run first, jobs without one last, then by name. */
static int by_next(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int64_t na, nb;
	bool ha = jget_int(a, "next_usec", &na),
	     hb = jget_int(b, "next_usec", &nb);
	const char *sa = jget_str(a, "name"), *sb = jget_str(b, "name");

	if (ha != hb)
		return ha ? -1 : 1;
	if (ha && na != nb)
		return na < nb ? -1 : 1;
	return strcmp(sa ? sa : "", sb ? sb : "");
}

static void add_row(struct table *t, const json_t *job, int64_t now)
{
	char next[FMT_MAX], left[FMT_MAX], last[FMT_MAX], passed[FMT_MAX + 8];
	char sched[512], buf[FMT_MAX];
	int64_t n, l;

	table_row(t);
	if (jget_int(job, "next_usec", &n)) {
		fmt_timestamp(n, next, sizeof(next));
		fmt_relative(n - now, left, sizeof(left));
		table_cell(t, next, NULL);
		table_cell(t, left, NULL);
	} else {
		const char *why = jget_str(job, "next_reason");
		table_cell_span(t, why && *why ? why : "-", NULL, 2);
	}
	if (jget_int(job, "last_usec", &l)) {
		fmt_timestamp(l, last, sizeof(last));
		fmt_relative(now - l, buf, sizeof(buf));
		snprintf(passed, sizeof(passed), "%s ago", buf);
	} else {
		snprintf(last, sizeof(last), "-");
		snprintf(passed, sizeof(passed), "-");
	}
	table_cell(t, last, NULL);
	table_cell(t, passed, NULL);
	const char *result = jget_str(job, "last_result");
	table_cell(t, result ? result : "-", fmt_result_color(result));
	table_cell(t, jget_text(job, "name", buf, sizeof(buf)), NULL);
	table_cell(t, jget_text(job, "kind", buf, sizeof(buf)), NULL);
	const char *tz = jget_str(job, "tz");
	snprintf(sched, sizeof(sched), "%s%s%s%s",
		 jget_text(job, "schedule", buf, sizeof(buf)),
		 tz && *tz ? " (" : "", tz && *tz ? tz : "",
		 tz && *tz ? ")" : "");
	table_cell(t, sched, NULL);
}

void jobs_print(FILE *f, const json_t *jobs, int64_t now, bool color)
{
	static const char *const headers[] = { "NEXT",   "LEFT",    "LAST",
					       "PASSED", "RESULT",  "JOB",
					       "KIND",   "SCHEDULE" };
	size_t n = json_array_size(jobs);
	json_t **v = calloc(n + 1, sizeof(*v));
	struct table *t = table_new(8, headers);

	if (!v)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(jobs, i);
	qsort(v, n, sizeof(*v), by_next);
	for (size_t i = 0; i < n; i++)
		add_row(t, v[i], now);
	table_print(t, f, color, "");
	fprintf(f, "\n%zu %s listed.\n", n, n == 1 ? "job" : "jobs");
	table_free(t);
	free(v);
}

static int jobs_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	const char *state = args_get(a, "state");
	json_t *params = json_object(), *reply;

	if (state)
		json_object_set_new(params, "state", json_string(state));
	int rc = client_call(c, LOOPD_M_JOBS_LIST, params, &reply);
	if (rc)
		return rc;
	if (c->json)
		client_print_json(reply, false);
	else
		jobs_print(stdout, json_object_get(reply, "jobs"),
			   fmt_now_usec(), c->color);
	json_decref(reply);
	return 0;
}

static const struct cmd_opt jobs_opts[] = {
	{ "state", 0, "S",
	  "only jobs in state S: active, paused, running, "
	  "waiting-for-plugin or done" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_jobs_entry = {
	.name = "jobs",
	.usage = "[--state S]",
	.summary = "the jobs, soonest first, with their last results",
	.help = "Columns: NEXT, LEFT, LAST, PASSED, RESULT, JOB, KIND, "
		"SCHEDULE.  A job with no\nnext run says why in place of NEXT "
		"and LEFT.\n",
	.opts = jobs_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = jobs_exec,
};

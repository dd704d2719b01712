/*
 * cmd-runs.c - loopctl runs [NAME] [--limit N] [--failed] (runs.List,
 * newest first) and loopctl output RUN_ID (runs.Get: the run's captured
 * output, written as it is).
 */
#include <stdint.h>
#include <string.h>

#include "loopctl.h"

static void add_row(struct table *t, const json_t *run, bool job_col)
{
	char buf[256], ts[FMT_MAX], span[FMT_MAX];
	int64_t st, fin;
	const char *result = jget_str(run, "result");

	table_row(t);
	table_cell(t, jget_text(run, "id", buf, sizeof(buf)), NULL);
	if (job_col)
		table_cell(t, jget_text(run, "job", buf, sizeof(buf)), NULL);
	table_cell(t, jget_text(run, "trigger", buf, sizeof(buf)), NULL);
	bool started = jget_int(run, "started_usec", &st);
	if (started)
		fmt_timestamp(st, ts, sizeof(ts));
	table_cell(t, started ? ts : "-", NULL);
	if (started && jget_int(run, "finished_usec", &fin))
		fmt_span(fin - st, span, sizeof(span));
	else
		snprintf(span, sizeof(span), "-");
	table_cell(t, span, NULL);
	table_cell(t, result ? result : "-", fmt_result_color(result));
	table_cell(t, jget_text(run, "exit_code", buf, sizeof(buf)), NULL);
}

void runs_print(FILE *f, const json_t *runs, bool color, const char *indent,
		bool job_col)
{
	static const char *const with_job[] = {
		"ID", "JOB", "TRIGGER", "STARTED", "DURATION", "RESULT", "EXIT"
	};
	static const char *const without[] = { "ID",       "TRIGGER", "STARTED",
					       "DURATION", "RESULT",  "EXIT" };
	struct table *t =
		job_col ? table_new(7, with_job) : table_new(6, without);

	for (size_t i = 0; i < json_array_size(runs); i++)
		add_row(t, json_array_get(runs, i), job_col);
	table_print(t, f, color, indent);
	table_free(t);
}

static int runs_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	const char *limit = args_get(a, "limit");
	json_t *params = json_object(), *reply;
	long long n;

	if (limit && parse_count(limit, 1, INT32_MAX, &n) < 0) {
		json_decref(params);
		return cmd_usage_error(e, "--limit takes a count, not '%s'",
				       limit);
	}
	if (a->argc)
		json_object_set_new(params, "job", json_string(a->argv[0]));
	if (limit)
		json_object_set_new(params, "limit", json_integer(n));
	if (args_has(a, "failed"))
		json_object_set_new(params, "result", json_string("failed"));
	int rc = client_call(c, LOOPD_M_RUNS_LIST, params, &reply);
	if (rc)
		return rc;
	if (c->json)
		client_print_json(reply, false);
	else
		runs_print(stdout, json_object_get(reply, "runs"), c->color, "",
			   true);
	json_decref(reply);
	return 0;
}

static const struct cmd_opt runs_opts[] = {
	{ "limit", 0, "N", "at most N runs (default 20)" },
	{ "failed", 0, NULL, "only runs whose result is failed" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_runs_entry = {
	.name = "runs",
	.usage = "[NAME] [--limit N] [--failed]",
	.summary = "run history, newest first",
	.help = "Columns: ID, JOB, TRIGGER, STARTED, DURATION, RESULT, EXIT.\n",
	.opts = runs_opts,
	.min_args = 0,
	.max_args = 1,
	.exec = runs_exec,
};

static int output_exec(const struct cmd_entry *e, struct client *c,
		       struct args *a)
{
	json_t *reply;
	long long id;

	if (parse_count(a->argv[0], 0, INT64_MAX, &id) < 0)
		return cmd_usage_error(e, "RUN_ID is a run's number, not '%s'",
				       a->argv[0]);
	int rc = client_call(c, LOOPD_M_RUNS_GET, json_pack("{s:I}", "id", id),
			     &reply);
	if (rc)
		return rc;
	json_t *run = json_object_get(reply, "run");
	json_t *out = json_object_get(run, "output");
	if (c->json) {
		client_print_json(reply, false);
	} else {
		fwrite(json_string_value(out) ? json_string_value(out) : "", 1,
		       json_string_length(out), stdout);
		if (json_is_true(json_object_get(run, "output_truncated")))
			fprintf(stderr,
				"loopctl: run %lld's output was cut short "
				"(output_truncated)\n",
				id);
	}
	json_decref(reply);
	return 0;
}

const struct cmd_entry cmd_output_entry = {
	.name = "output",
	.usage = "RUN_ID",
	.summary = "a run's captured output, as it is",
	.min_args = 1,
	.max_args = 1,
	.exec = output_exec,
};

/*
 * cmd-run.c - loopctl run NAME [--wait]: jobs.Trigger.  With --wait the
 * call is made with "more" and "wait": the daemon answers with the run as
 * it starts, then as it ends, and loopctl exits 0 only for a run whose
 * result is ok (CLI.md).
 */
#include <string.h>

#include "loopctl.h"

struct follow {
	json_t *run;  /* the last run seen (new reference) */
	bool started; /* its start was printed */
};

/* "run 42 (backup, manual): started Fri ...", or its end. */
static void print_run(const struct client *c, const json_t *run, bool end)
{
	char id[32], job[128], trig[32], ts[FMT_MAX], span[FMT_MAX];
	const char *result = jget_str(run, "result");
	int64_t st, fin, code;

	printf("run %s (%s, %s): ", jget_text(run, "id", id, sizeof(id)),
	       jget_text(run, "job", job, sizeof(job)),
	       jget_text(run, "trigger", trig, sizeof(trig)));
	if (!end) {
		if (!jget_int(run, "started_usec", &st) &&
		    !jget_int(run, "scheduled_usec", &st))
			st = fmt_now_usec();
		fmt_timestamp(st, ts, sizeof(ts));
		printf("%s %s\n", result ? result : "started", ts);
		return;
	}
	const char *color = c->color ? fmt_result_color(result) : NULL;
	printf("%s%s%s", color ? color : "", result ? result : "-",
	       color ? COLOR_OFF : "");
	if (jget_int(run, "exit_code", &code))
		printf(", exit %lld", (long long)code);
	if (jget_int(run, "started_usec", &st) &&
	    jget_int(run, "finished_usec", &fin)) {
		fmt_span(fin - st, span, sizeof(span));
		printf(", after %s", span);
	}
	putchar('\n');
	fflush(stdout);
}

/* The run as it starts (the first reply), then as it ends (the last):
 * replies in between, if the daemon sends any, are not printed. */
static int on_reply(struct client *c, json_t *params, bool continues, void *ud)
{
	struct follow *f = ud;
	json_t *run = json_object_get(params, "run");

	if (c->json)
		client_print_json(params, true);
	if (json_is_object(run)) {
		json_decref(f->run);
		f->run = json_incref(run);
	}
	if (!c->json && continues && !f->started && f->run) {
		print_run(c, f->run, false);
		f->started = true;
	}
	if (!c->json && !continues && f->run)
		print_run(c, f->run, true);
	return 0;
}

static int run_exec(const struct cmd_entry *e, struct client *c, struct args *a)
{
	json_t *params = json_pack("{s:s}", "name", a->argv[0]), *reply;
	struct follow f = { 0 };
	int rc;

	if (args_has(a, "wait")) {
		json_object_set_new(params, "wait", json_true());
		rc = client_stream(c, LOOPD_M_JOBS_TRIGGER, params, on_reply,
				   &f);
		const char *result = jget_str(f.run, "result");
		if (!rc && !(result && !strcmp(result, "ok")))
			rc = LC_EXIT_FAILED;
		json_decref(f.run);
		return rc;
	}
	if ((rc = client_call(c, LOOPD_M_JOBS_TRIGGER, params, &reply)))
		return rc;
	if (c->json)
		client_print_json(reply, false);
	else
		print_run(c, json_object_get(reply, "run"), false);
	json_decref(reply);
	return 0;
}

static const struct cmd_opt run_opts[] = {
	{ "wait", 0, NULL,
	  "follow the run to its end; exit 0 only if its result is ok" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_run_entry = {
	.name = "run",
	.usage = "NAME [--wait]",
	.summary = "run a job now; with --wait follow it and exit with its "
		   "result",
	.help = "Prints the run as it starts and, with --wait, as it ends; "
		"its output is\n'loopctl output RUN_ID'.\n",
	.opts = run_opts,
	.min_args = 1,
	.max_args = 1,
	.exec = run_exec,
};

/*
 * cmd-job.c - loopctl rm, pause and resume NAME...: one call per name
 * (jobs.Remove, jobs.Pause, jobs.Resume), silent on success as systemctl
 * is.  A failure is reported and the other names still tried; the exit
 * status is the first failure's.
 */
#include <string.h>

#include "loopctl.h"

static int job_exec(const struct cmd_entry *e, struct client *c, struct args *a)
{
	const char *method = !strcmp(e->name, "rm")      ? LOOPD_M_JOBS_REMOVE
			     : !strcmp(e->name, "pause") ? LOOPD_M_JOBS_PAUSE
							 : LOOPD_M_JOBS_RESUME;
	int status = 0;

	for (int i = 0; i < a->argc; i++) {
		json_t *reply;
		int rc = client_call(c, method,
				     json_pack("{s:s}", "name", a->argv[i]),
				     &reply);
		if (rc >= LC_EXIT_NO_DAEMON && rc <= LC_EXIT_DENIED)
			return rc; /* the next name would fail the same way */
		if (rc && !status)
			status = rc;
		if (!rc && c->json)
			client_print_json(reply, a->argc > 1);
		json_decref(reply);
	}
	return status;
}

const struct cmd_entry cmd_rm_entry = {
	.name = "rm",
	.usage = "NAME...",
	.summary = "remove jobs",
	.min_args = 1,
	.max_args = -1,
	.exec = job_exec,
};

const struct cmd_entry cmd_pause_entry = {
	.name = "pause",
	.usage = "NAME...",
	.summary = "pause jobs: no scheduled runs until resumed",
	.min_args = 1,
	.max_args = -1,
	.exec = job_exec,
};

const struct cmd_entry cmd_resume_entry = {
	.name = "resume",
	.usage = "NAME...",
	.summary = "resume paused jobs",
	.min_args = 1,
	.max_args = -1,
	.exec = job_exec,
};

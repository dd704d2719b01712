/*
 * cmd-shutdown.c - loopctl shutdown [--timeout D]: daemon.Shutdown.  The
 * daemon answers once draining has begun; running jobs get D (default
 * its --drain-timeout) to finish.
 */
#include "loopctl.h"

static int shutdown_exec(const struct cmd_entry *e, struct client *c,
			 struct args *a)
{
	const char *timeout = args_get(a, "timeout");
	json_t *params = json_object(), *reply;
	char err[256];
	int64_t ms;

	if (timeout) {
		if (parse_duration_ms(timeout, &ms, err, sizeof(err)) < 0) {
			json_decref(params);
			return cmd_usage_error(e, "--timeout %s: %s", timeout,
					       err);
		}
		json_object_set_new(params, "timeout_ms", json_integer(ms));
	}
	int rc = client_call(c, LOOPD_M_SHUTDOWN, params, &reply);
	if (!rc && c->json)
		client_print_json(reply, false);
	json_decref(reply);
	return rc;
}

static const struct cmd_opt shutdown_opts[] = {
	{ "timeout", 0, "D",
	  "how long running jobs may finish (default the daemon's "
	  "drain timeout)" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_shutdown_entry = {
	.name = "shutdown",
	.usage = "[--timeout D]",
	.summary = "drain and stop the daemon",
	.help = "Returns once draining has begun.\n",
	.opts = shutdown_opts,
	.min_args = 0,
	.max_args = 0,
	.exec = shutdown_exec,
};

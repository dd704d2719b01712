/*
 * cmd-call.c - loopctl call METHOD [JSON] [--more]: any varlink call,
 * the replies' parameters printed as JSON whatever -o says (one document;
 * with --more one a line).  Error replies are reported and mapped to exit
 * statuses as for every other command.
 */
#include "loopctl.h"

/* The methods loopd implements, for completion. */
const char *const call_methods[] = {
	LOOPD_M_GET_INFO,         LOOPD_M_GET_IFACE_DESC,
	LOOPD_M_GET_STATUS,       LOOPD_M_GET_STATS,
	LOOPD_M_SHUTDOWN,         LOOPD_M_JOBS_LIST,
	LOOPD_M_JOBS_GET,         LOOPD_M_JOBS_ADD,
	LOOPD_M_JOBS_UPDATE,      LOOPD_M_JOBS_REMOVE,
	LOOPD_M_JOBS_PAUSE,       LOOPD_M_JOBS_RESUME,
	LOOPD_M_JOBS_TRIGGER,     LOOPD_M_JOBS_PREVIEW,
	LOOPD_M_RUNS_LIST,        LOOPD_M_RUNS_GET,
	LOOPD_M_PLUGINS_LIST,     LOOPD_M_PLUGINS_LOAD,
	LOOPD_M_PLUGINS_UNLOAD,   LOOPD_M_PLUGINS_RELOAD,
	LOOPD_M_EVENTS_SUBSCRIBE, NULL,
};

static int print_reply(struct client *c, json_t *params, bool continues,
		       void *ud)
{
	client_print_json(params, true);
	return 0;
}

static int call_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	json_t *params = NULL, *reply;
	json_error_t jerr;

	if (a->argc == 2) {
		params = json_loads(a->argv[1], JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(params)) {
			json_decref(params);
			return cmd_usage_error(
				e, "the parameters must be a JSON object: %s",
				params ? "not an object" : jerr.text);
		}
	}
	if (args_has(a, "more")) {
		client_follow_signals(c);
		return client_stream(c, a->argv[0], params, print_reply, NULL);
	}
	int rc = client_call(c, a->argv[0], params, &reply);
	if (!rc)
		client_print_json(reply, false);
	json_decref(reply);
	return rc;
}

static const struct cmd_opt call_opts[] = {
	{ "more", 0, NULL, "a streaming call: print every reply, one a line" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_call_entry = {
	.name = "call",
	.usage = "METHOD [JSON] [--more]",
	.summary = "a raw varlink call, printing the replies as JSON",
	.help = "Example:\n  loopctl call io.loopd.jobs.Get '{\"name\": "
		"\"backup\"}'\n",
	.opts = call_opts,
	.min_args = 1,
	.max_args = 2,
	.exec = call_exec,
};

/*
 * cmd-add.c - loopctl add and edit: jobs.Add with a job's settable
 * fields, jobs.Update with only the fields given.  Both share one option
 * table and add_params(), which the unit tests call directly.
 *
 * "-- COMMAND ARGS..." is the exec kind's argv (run directly, no shell);
 * a shell command line is --args '{"command": "..."}'.  Both may be
 * combined with --args for env, cwd or user.
 */
#include <string.h>

#include "loopctl.h"

static const char *const overlaps[] = { "skip", "allow", "queue", "replace",
					NULL };
static const char *const catchups[] = { "once", "skip", "all", NULL };

static bool one_of(const char *v, const char *const *words)
{
	for (; *words; words++)
		if (!strcmp(v, *words))
			return true;
	return false;
}

/* A duration option into key (ms).  0, or -1 with err set. */
static int set_duration(json_t *p, const struct args *a, const char *opt,
			const char *key, char *err, size_t errlen)
{
	const char *v = args_get(a, opt);
	char why[256];
	int64_t ms;

	if (!v)
		return 0;
	if (parse_duration_ms(v, &ms, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "--%s %s: %s", opt, v, why);
		return -1;
	}
	json_object_set_new(p, key, json_integer(ms));
	return 0;
}

/* A word option checked against words into key.  0, or -1. */
static int set_word(json_t *p, const struct args *a, const char *opt,
		    const char *const *words, char *err, size_t errlen)
{
	const char *v = args_get(a, opt);

	if (!v)
		return 0;
	if (!one_of(v, words)) {
		char list[128];
		size_t off = 0;
		for (size_t i = 0; words[i] && off < sizeof(list); i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off,
						"%s%s",
						!i             ? ""
						: words[i + 1] ? ", "
							       : " or ",
						words[i]);
		snprintf(err, errlen, "--%s takes %s, not '%s'", opt, list, v);
		return -1;
	}
	json_object_set_new(p, opt, json_string(v));
	return 0;
}

/* --args JSON and "-- COMMAND ARGS..." into "args"; the kind is exec
 * with a command.  0, or -1. */
static int set_args(json_t *p, const struct args *a, char *err, size_t errlen)
{
	const char *text = args_get(a, "args"), *kind = args_get(a, "kind");
	json_t *args = NULL;
	json_error_t jerr;

	if (text) {
		args = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(args)) {
			snprintf(err, errlen, "--args takes a JSON object: %s",
				 args ? "not an object" : jerr.text);
			json_decref(args);
			return -1;
		}
	}
	if (a->dashdash) {
		const char *why = NULL;
		if (a->nrest == 0)
			why = "'--' must be followed by a command";
		else if (kind && strcmp(kind, "exec"))
			why = "a command after '--' is for --kind exec";
		else if (json_object_get(args, "argv") ||
			 json_object_get(args, "command"))
			why = "give the command after '--' or in --args, not both";
		if (why) {
			snprintf(err, errlen, "%s", why);
			json_decref(args);
			return -1;
		}
		json_t *argv = json_array();
		for (int i = 0; i < a->nrest; i++)
			json_array_append_new(argv, json_string(a->rest[i]));
		if (!args)
			args = json_object();
		json_object_set_new(args, "argv", argv);
		json_object_set_new(p, "kind", json_string("exec"));
	}
	if (args)
		json_object_set_new(p, "args", args);
	return 0;
}

int add_params(const struct args *a, bool edit, json_t **out, char *err,
	       size_t errlen)
{
	json_t *p = json_pack("{s:s}", "name", a->argv[0]);
	const char *v;
	long long n;

	*out = NULL;
	if ((v = args_get(a, "schedule")))
		json_object_set_new(p, "schedule", json_string(v));
	else if (!edit)
		goto usage_missing;
	if ((v = args_get(a, "tz")))
		json_object_set_new(p, "tz", json_string(v));
	if ((v = args_get(a, "kind")))
		json_object_set_new(p, "kind", json_string(v));
	if ((v = args_get(a, "retries"))) {
		if (parse_count(v, 0, 1000000, &n) < 0) {
			snprintf(err, errlen,
				 "--retries takes a count, not "
				 "'%s'",
				 v);
			goto fail;
		}
		json_object_set_new(p, "retries", json_integer(n));
	}
	if (args_has(a, "paused"))
		json_object_set_new(p, "state", json_string("paused"));
	if (set_word(p, a, "overlap", overlaps, err, errlen) ||
	    set_word(p, a, "catchup", catchups, err, errlen) ||
	    set_duration(p, a, "timeout", "timeout_ms", err, errlen) ||
	    set_duration(p, a, "backoff", "retry_backoff_ms", err, errlen) ||
	    set_duration(p, a, "jitter", "jitter_ms", err, errlen) ||
	    set_args(p, a, err, errlen))
		goto fail;
	if (!edit && !json_object_get(p, "kind"))
		json_object_set_new(p, "kind", json_string("exec"));
	if (edit && json_object_size(p) == 1) {
		snprintf(err, errlen,
			 "nothing to change: give an option or "
			 "'-- COMMAND'");
		goto fail;
	}
	*out = p;
	return 0;

usage_missing:
	snprintf(err, errlen, "a schedule is required: -e EXPR");
fail:
	json_decref(p);
	return LC_EXIT_USAGE;
}

/* "Added job NAME; next run TIME; 4min left" or why there is none. */
static void print_result(const char *verb, const json_t *job)
{
	const char *name = jget_str(job, "name"),
		   *why = jget_str(job, "next_reason");
	char ts[FMT_MAX], rel[FMT_MAX];
	int64_t next;

	if (jget_int(job, "next_usec", &next)) {
		fmt_timestamp(next, ts, sizeof(ts));
		fmt_relative(next - fmt_now_usec(), rel, sizeof(rel));
		printf("%s job %s; next run %s; %s left\n", verb,
		       name ? name : "?", ts, rel);
	} else {
		printf("%s job %s; no next run%s%s\n", verb, name ? name : "?",
		       why ? ": " : "", why ? why : "");
	}
}

static int add_exec(const struct cmd_entry *e, struct client *c, struct args *a)
{
	bool edit = !strcmp(e->name, "edit");
	char err[512];
	json_t *params, *reply;

	if (add_params(a, edit, &params, err, sizeof(err)))
		return cmd_usage_error(e, "%s", err);
	int rc = client_call(c, edit ? LOOPD_M_JOBS_UPDATE : LOOPD_M_JOBS_ADD,
			     params, &reply);
	if (rc)
		return rc;
	if (c->json)
		client_print_json(reply, false);
	else
		print_result(edit ? "Updated" : "Added",
			     json_object_get(reply, "job"));
	json_decref(reply);
	return 0;
}

static const struct cmd_opt add_opts[] = {
	{ "schedule", 'e', "EXPR",
	  "when: cron (5 or 6 fields), @daily, 'every 30s', 'at TIME'" },
	{ "tz", 0, "Z", "the schedule's IANA zone (default the daemon's)" },
	{ "kind", 0, "K", "the job's kind (default exec)" },
	{ "overlap", 0, "P",
	  "when a run is due while one runs: skip (default), allow, queue, "
	  "replace" },
	{ "catchup", 0, "P", "missed runs: once (default), skip, all" },
	{ "timeout", 0, "D", "stop a run after D (default none)" },
	{ "retries", 0, "N", "retry a failed run N times" },
	{ "backoff", 0, "D", "wait D before a retry" },
	{ "jitter", 0, "D", "start each run up to D late, at random" },
	{ "paused", 0, NULL, "add it paused (edit: pause it)" },
	{ "args", 0, "JSON",
	  "the kind's arguments, an object: exec takes command or argv, env, "
	  "cwd, user" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry cmd_add_entry = {
	.name = "add",
	.usage = "NAME -e EXPR [OPTIONS] [-- COMMAND ARGS...]",
	.summary = "add a job; with -- COMMAND... the kind is exec",
	.help = "After '--', COMMAND and its arguments are the exec kind's "
		"argv, run without a\nshell.  A shell command line goes in "
		"--args '{\"command\": \"...\"}'.\nDurations: 90s, 5m, 1h30m, "
		"2d.\n\nExample:\n  loopctl add backup -e '30 3 * * *' --tz "
		"Europe/Berlin -- /usr/bin/backup --full\n",
	.opts = add_opts,
	.min_args = 1,
	.max_args = 1,
	.flags = CMD_DASHDASH,
	.exec = add_exec,
};

const struct cmd_entry cmd_edit_entry = {
	.name = "edit",
	.usage = "NAME [OPTIONS] [-- COMMAND ARGS...]",
	.summary = "change a job: only the options given",
	.help = "Takes add's options; only those given are changed "
		"(jobs.Update).  A command\nafter '--' replaces the job's "
		"args with that argv.\n",
	.opts = add_opts,
	.min_args = 1,
	.max_args = 1,
	.flags = CMD_DASHDASH,
	.exec = add_exec,
};

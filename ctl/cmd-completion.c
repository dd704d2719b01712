/*
 * cmd-completion.c - loopctl completion bash (the script, embedded at
 * build time from ctl/loopctl.bash) and the hidden loopctl __complete,
 * which the script calls for what only the binary or the daemon knows:
 * the commands and options of cmd_table, job, plugin and kind names.
 */
#include <string.h>

#include "loopctl.h"

static int completion_exec(const struct cmd_entry *e, struct client *c,
			   struct args *a)
{
	if (strcmp(a->argv[0], "bash"))
		return cmd_usage_error(e, "no completion for '%s' (only bash)",
				       a->argv[0]);
	fputs(completion_bash, stdout);
	return 0;
}

const struct cmd_entry cmd_completion_entry = {
	.name = "completion",
	.usage = "bash",
	.summary = "print the bash completion script",
	.help = "Load it in the running shell with\n"
		"  source <(loopctl completion bash)\n"
		"It is also installed as "
		"share/bash-completion/completions/loopctl.\n",
	.min_args = 1,
	.max_args = 1,
	.exec = completion_exec,
};

static void print_opts(const struct cmd_opt *o)
{
	for (; o && o->name; o++) {
		printf("--%s%s%s\n", o->name, o->arg ? " " : "",
		       o->arg ? o->arg : "");
		if (o->short_name)
			printf("-%c%s%s\n", o->short_name, o->arg ? " " : "",
			       o->arg ? o->arg : "");
	}
}

/* Prints member key of every object in the reply's array list; for
 * arrays of strings (kinds) every string. */
static int print_names(struct client *c, const char *method, const char *list,
		       const char *key)
{
	json_t *reply;
	int rc = client_call(c, method, NULL, &reply);

	if (rc)
		return rc;
	json_t *arr = json_object_get(reply, list);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_object_get(json_array_get(arr, i), key);
		for (size_t j = 0; j < json_array_size(v); j++)
			if (json_string_value(json_array_get(v, j)))
				printf("%s\n",
				       json_string_value(json_array_get(v, j)));
		if (json_string_value(v))
			printf("%s\n", json_string_value(v));
	}
	json_decref(reply);
	return 0;
}

static int complete_exec(const struct cmd_entry *e, struct client *c,
			 struct args *a)
{
	const char *what = a->argv[0];

	c->timeout_ms = 2000; /* a shell must not hang on a stuck daemon */
	if (!strcmp(what, "commands")) {
		for (const struct cmd_entry *const *t = cmd_table; *t; t++)
			if (!((*t)->flags & CMD_HIDDEN))
				printf("%s\n", (*t)->name);
	} else if (!strcmp(what, "options")) {
		const struct cmd_entry *cmd =
			a->argc > 1 ? cmd_find(a->argv[1]) : NULL;
		if (cmd)
			print_opts(cmd->opts);
		else
			printf("--version\n");
		print_opts(cmd_global_opts);
	} else if (!strcmp(what, "methods")) {
		for (const char *const *m = call_methods; *m; m++)
			printf("%s\n", *m);
	} else if (!strcmp(what, "jobs")) {
		return print_names(c, LOOPD_M_JOBS_LIST, "jobs", "name");
	} else if (!strcmp(what, "plugins")) {
		return print_names(c, LOOPD_M_PLUGINS_LIST, "plugins", "name");
	} else if (!strcmp(what, "kinds")) {
		return print_names(c, LOOPD_M_PLUGINS_LIST, "plugins", "kinds");
	} else {
		return cmd_usage_error(e,
				       "'%s' is not commands, options, "
				       "methods, jobs, plugins or kinds",
				       what);
	}
	return 0;
}

const struct cmd_entry cmd_complete_entry = {
	.name = "__complete",
	.usage = "commands|options [COMMAND]|methods|jobs|plugins|kinds",
	.summary = "words for the bash completion, one a line",
	.min_args = 1,
	.max_args = 2,
	.flags = CMD_HIDDEN,
	.exec = complete_exec,
};

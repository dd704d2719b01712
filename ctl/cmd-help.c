/*
 * cmd-help.c - loopctl help [COMMAND]: the same text as loopctl --help
 * and loopctl COMMAND --help, both made from cmd_table.
 */
#include "loopctl.h"

static int help_exec(const struct cmd_entry *e, struct client *c,
		     struct args *a)
{
	const struct cmd_entry *cmd;

	if (a->argc == 0) {
		cmd_print_usage(stdout);
		return 0;
	}
	if (!(cmd = cmd_find(a->argv[0])))
		return cmd_usage_error(e, "unknown command '%s'", a->argv[0]);
	cmd_print_help(cmd, stdout);
	return 0;
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.usage = "[COMMAND]",
	.summary = "this list, or a command's arguments and options",
	.min_args = 0,
	.max_args = 1,
	.exec = help_exec,
};

/*
 * cmd.c - the command table: every loopctl command, in one list (as
 * tmux's cmd.c), and the help made from it, so that --help, `loopctl help`,
 * the bash completion (loopctl __complete) and the parser all read the
 * same entries.  Adding a command is a cmd-NAME.c file and a line here.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "loopctl.h"

extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_stats_entry;
extern const struct cmd_entry cmd_metrics_entry;
extern const struct cmd_entry cmd_jobs_entry;
extern const struct cmd_entry cmd_show_entry;
extern const struct cmd_entry cmd_add_entry;
extern const struct cmd_entry cmd_edit_entry;
extern const struct cmd_entry cmd_rm_entry;
extern const struct cmd_entry cmd_pause_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_run_entry;
extern const struct cmd_entry cmd_runs_entry;
extern const struct cmd_entry cmd_output_entry;
extern const struct cmd_entry cmd_next_entry;
extern const struct cmd_entry cmd_plugins_entry;
extern const struct cmd_entry cmd_events_entry;
extern const struct cmd_entry cmd_shutdown_entry;
extern const struct cmd_entry cmd_call_entry;
extern const struct cmd_entry cmd_completion_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_complete_entry;

const struct cmd_entry *const cmd_table[] = {
	&cmd_status_entry,     &cmd_stats_entry,
	&cmd_metrics_entry,    &cmd_jobs_entry,
	&cmd_show_entry,       &cmd_add_entry,
	&cmd_edit_entry,       &cmd_rm_entry,
	&cmd_pause_entry,      &cmd_resume_entry,
	&cmd_run_entry,        &cmd_runs_entry,
	&cmd_output_entry,     &cmd_next_entry,
	&cmd_plugins_entry,    &cmd_events_entry,
	&cmd_shutdown_entry,   &cmd_call_entry,
	&cmd_completion_entry, &cmd_help_entry,
	&cmd_complete_entry,   NULL,
};

const struct cmd_opt cmd_global_opts[] = {
	{ "socket", 's', "SOCKET",
	  "the daemon's socket (default $" LOOPD_SOCKET_ENV
	  ", else loopd's default)" },
	{ "output", 'o', "FORMAT",
	  "table (default) or json: each reply's parameters, unchanged" },
	{ "help", 'h', NULL, "print this help and exit" },
	{ NULL, 0, NULL, NULL },
};

const struct cmd_entry *cmd_find(const char *name)
{
	for (const struct cmd_entry *const *e = cmd_table; *e; e++)
		if (!strcmp((*e)->name, name))
			return *e;
	return NULL;
}

void cmd_print_usage(FILE *f)
{
	fprintf(f, "Usage: loopctl [-s SOCKET] [-o table|json] COMMAND "
		   "[ARGS]\n"
		   "Control loopd, the task scheduler, over its varlink "
		   "socket.\n\nCommands:\n");
	for (const struct cmd_entry *const *e = cmd_table; *e; e++) {
		if ((*e)->flags & CMD_HIDDEN)
			continue;
		fprintf(f, "  %-11s %s\n", (*e)->name, (*e)->summary);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket SOCKET  the daemon's socket (default $%s,\n"
		"                       else loopd's default)\n"
		"  -o, --output FORMAT  table (default) or json\n"
		"  -h, --help           print this help and exit\n"
		"      --version        print the version and exit\n"
		"\nRun 'loopctl COMMAND --help' for a command's arguments.\n"
		"Durations: 90s, 5m, 1h30m, 2d.  TIME: RFC 3339 or "
		"'YYYY-MM-DD HH:MM[:SS]'.\n"
		"Exit status: 0 ok; 1 the call failed; 2 usage; 3 no daemon "
		"at the socket;\n4 permission denied; 5 no such job, run or "
		"plugin.\n",
		LOOPD_SOCKET_ENV);
}

/* Writes text from column col on, wrapped before column 80, continued
 * lines indented to col. */
static void print_wrapped(const char *text, int col, FILE *f)
{
	int at = col;

	while (*text) {
		int n = (int)strcspn(text, " ");
		if (at > col && at + 1 + n > 79) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", n, text);
		at += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

static void print_opt(const struct cmd_opt *o, FILE *f)
{
	char left[64];

	snprintf(left, sizeof(left), "%c%c%s--%s%s%s",
		 o->short_name ? '-' : ' ', o->short_name ? o->short_name : ' ',
		 o->short_name ? ", " : "  ", o->name, o->arg ? " " : "",
		 o->arg ? o->arg : "");
	if (strlen(left) > 20)
		fprintf(f, "  %s\n%23s", left, "");
	else
		fprintf(f, "  %-20s ", left);
	print_wrapped(o->help, 23, f);
}

void cmd_print_help(const struct cmd_entry *e, FILE *f)
{
	fprintf(f, "Usage: loopctl %s%s%s\n%c%s.\n", e->name,
		*e->usage ? " " : "", e->usage, toupper(e->summary[0]),
		e->summary + 1);
	if (e->help)
		fprintf(f, "\n%s", e->help);
	fprintf(f, "\nOptions:\n");
	for (const struct cmd_opt *o = e->opts; o && o->name; o++)
		print_opt(o, f);
	for (const struct cmd_opt *o = cmd_global_opts; o->name; o++)
		print_opt(o, f);
}

int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "loopctl: %s%s", e ? e->name : "", e ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e)
		fprintf(stderr, "\nTry 'loopctl %s --help'.\n", e->name);
	else
		fprintf(stderr, "\nTry 'loopctl --help'.\n");
	return LC_EXIT_USAGE;
}

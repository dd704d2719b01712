/*
 * loopctl.c - main: the global options, the socket, then the command from
 * cmd_table (cmd.c) with its own options.  The steps:
 *
 *   1. global options before the command (-s, -o, -h, --version);
 *   2. the command's options and arguments (args.c), where -s and -o are
 *      accepted again;
 *   3. --help, or the argument count, or the handler;
 *   4. stdout flushed and checked: a write error is a failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loopctl.h"

struct globals {
	const char *socket;
	const char *output;
	bool help;
};

/* "-s X", "-sX", "--socket X" or "--socket=X" at argv[*i]: 1 with
 * *value set, 0 when argv[*i] is another option, -1 when the value is
 * missing. */
static int opt_value(int argc, char **argv, int *i, char sh, const char *lng,
		     const char **value)
{
	const char *s = argv[*i], *rest;
	size_t n = strlen(lng);

	if (s[1] == sh) {
		rest = s + 2;
	} else if (s[1] == '-' && !strncmp(s + 2, lng, n) &&
		   (s[2 + n] == 0 || s[2 + n] == '=')) {
		rest = s + 2 + n;
		if (*rest == '=') {
			*value = rest + 1;
			return 1;
		}
	} else {
		return 0;
	}
	if (*rest)
		*value = rest;
	else if (*i + 1 < argc)
		*value = argv[++*i];
	else
		return -1;
	return 1;
}

/* Options before the command.  *i is left on the command; 0 or an exit
 * status. */
static int parse_globals(int argc, char **argv, int *i, struct globals *g)
{
	for (*i = 1; *i < argc && argv[*i][0] == '-' && argv[*i][1]; (*i)++) {
		const char *s = argv[*i];
		int r;
		if (!strcmp(s, "--version")) {
			printf("loopctl %s\n", LOOPD_VERSION);
			exit(0);
		}
		if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			g->help = true;
			continue;
		}
		if (!strcmp(s, "--")) {
			(*i)++;
			break;
		}
		if (!(r = opt_value(argc, argv, i, 's', "socket", &g->socket)))
			r = opt_value(argc, argv, i, 'o', "output", &g->output);
		if (r == 0)
			return cmd_usage_error(NULL, "unknown option '%s'", s);
		if (r < 0)
			return cmd_usage_error(NULL,
					       "option '%s' needs a value", s);
	}
	return 0;
}

static int check_output(const char *output, const struct cmd_entry *e)
{
	if (!output || !strcmp(output, "table") || !strcmp(output, "json"))
		return 0;
	return cmd_usage_error(e, "-o takes table or json, not '%s'", output);
}

/* The socket: -s, else $LOOPD_SOCKET, else loopd's default. */
static const char *socket_path(const char *opt, char *buf, size_t len)
{
	const char *env = getenv(LOOPD_SOCKET_ENV);

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	if (loopd_default_socket(buf, len) < 0)
		return LOOPD_SOCKET_ROOT;
	return buf;
}

/* Colours: a terminal, NO_COLOR unset (even empty), TERM not dumb. */
static bool want_color(void)
{
	const char *term = getenv("TERM");

	return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
	       !(term && !strcmp(term, "dumb"));
}

static int run(const struct cmd_entry *e, struct globals *g, int argc,
	       char **argv)
{
	struct args a;
	struct client c;
	char sock[4096];
	int rc = args_parse(e, argc, argv, &a);

	if (!rc && (a.help || g->help)) {
		cmd_print_help(e, stdout);
	} else if (!rc &&
		   !(rc = check_output(a.output ? a.output : g->output, e))) {
		if (a.argc < e->min_args)
			rc = cmd_usage_error(e,
					     "missing argument (usage: "
					     "loopctl %s %s)",
					     e->name, e->usage);
		else if (e->max_args >= 0 && a.argc > e->max_args)
			rc = cmd_usage_error(e, "unexpected argument '%s'",
					     a.argv[e->max_args]);
	}
	if (rc || a.help || g->help) {
		args_free(&a);
		return rc;
	}
	const char *output = a.output ? a.output : g->output;
	client_init(&c,
		    socket_path(a.socket ? a.socket : g->socket, sock,
				sizeof(sock)),
		    output && !strcmp(output, "json"), want_color());
	rc = e->exec(e, &c, &a);
	client_close(&c);
	args_free(&a);
	return rc;
}

int main(int argc, char **argv)
{
	struct globals g = { 0 };
	int i, rc = parse_globals(argc, argv, &i, &g);

	if (rc)
		return rc;
	if (!(rc = check_output(g.output, NULL)) && i >= argc) {
		if (g.help) {
			cmd_print_usage(stdout);
			return 0;
		}
		cmd_print_usage(stderr);
		return LC_EXIT_USAGE;
	}
	const struct cmd_entry *e = rc ? NULL : cmd_find(argv[i]);
	if (!rc && !e)
		rc = cmd_usage_error(NULL, "unknown command '%s'", argv[i]);
	if (!rc)
		rc = run(e, &g, argc - i - 1, argv + i + 1);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "loopctl: writing the output: %s\n",
			strerror(errno));
		return rc ? rc : LC_EXIT_FAILED;
	}
	return rc;
}

/*
 * args.c - a command's options and arguments, parsed against its
 * cmd_entry (see loopctl.h).
 *
 * Not getopt_long: GNU getopt moves "--" in front of the arguments it
 * permutes, so "add NAME -e X -- ls -l" could not tell NAME from the
 * command after "--".  This parser keeps them apart, accepts options
 * anywhere before "--", and names the command in every error.
 */
#include <stdlib.h>
#include <string.h>

#include "loopctl.h"

/* The option with this long name (len bytes) or short name, among the
 * command's and the global ones. */
static const struct cmd_opt *find_opt(const struct cmd_entry *e,
				      const char *name, size_t len, char sh)
{
	const struct cmd_opt *tabs[2] = { e->opts, cmd_global_opts };

	for (int t = 0; t < 2; t++) {
		for (const struct cmd_opt *o = tabs[t]; o && o->name; o++) {
			if (sh ? o->short_name == sh
			       : strlen(o->name) == len &&
					    !strncmp(o->name, name, len))
				return o;
		}
	}
	return NULL;
}

static void add_value(struct args *a, const struct cmd_opt *o,
		      const char *value)
{
	if (!strcmp(o->name, "help"))
		a->help = true;
	else if (!strcmp(o->name, "socket"))
		a->socket = value;
	else if (!strcmp(o->name, "output"))
		a->output = value;
	else
		a->v[a->nv++] = (struct args_value){ o, value };
}

/* "--name[=value]" at argv[*i]; consumes its value. */
static int parse_long(const struct cmd_entry *e, int argc, char **argv, int *i,
		      struct args *a)
{
	const char *s = argv[*i] + 2, *eq = strchr(s, '=');
	size_t len = eq ? (size_t)(eq - s) : strlen(s);
	const struct cmd_opt *o = find_opt(e, s, len, 0);

	if (!o)
		return cmd_usage_error(e, "unknown option '--%.*s'", (int)len,
				       s);
	if (!o->arg && eq)
		return cmd_usage_error(e, "option '--%s' takes no value",
				       o->name);
	const char *value = eq ? eq + 1 : NULL;
	if (o->arg && !eq) {
		if (*i + 1 >= argc)
			return cmd_usage_error(e, "option '--%s' needs %s",
					       o->name, o->arg);
		value = argv[++*i];
	}
	add_value(a, o, value);
	return 0;
}

/* "-x", "-xVALUE", "-x VALUE", "-xy" (flags) at argv[*i]. */
static int parse_short(const struct cmd_entry *e, int argc, char **argv, int *i,
		       struct args *a)
{
	for (const char *s = argv[*i] + 1; *s; s++) {
		const struct cmd_opt *o = find_opt(e, NULL, 0, *s);
		if (!o)
			return cmd_usage_error(e, "unknown option '-%c'", *s);
		if (!o->arg) {
			add_value(a, o, NULL);
			continue;
		}
		if (s[1]) {
			add_value(a, o, s + 1);
		} else if (*i + 1 < argc) {
			add_value(a, o, argv[++*i]);
		} else {
			return cmd_usage_error(e, "option '-%c' needs %s", *s,
					       o->arg);
		}
		return 0;
	}
	return 0;
}

int args_parse(const struct cmd_entry *e, int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	a->argv = calloc((size_t)argc + 1, sizeof(*a->argv));
	a->rest = calloc((size_t)argc + 1, sizeof(*a->rest));
	a->v = calloc((size_t)argc + 1, sizeof(*a->v));
	if (!a->argv || !a->rest || !a->v)
		abort();

	int i = 0, rc = 0;
	bool dashdash = false;
	for (; i < argc && !rc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--")) {
			dashdash = true;
			i++;
			break;
		}
		if (s[0] != '-' || s[1] == 0)
			a->argv[a->argc++] = argv[i];
		else if (s[1] == '-')
			rc = parse_long(e, argc, argv, &i, a);
		else
			rc = parse_short(e, argc, argv, &i, a);
	}
	if (rc)
		return rc;
	a->dashdash = dashdash && (e->flags & CMD_DASHDASH);
	for (; i < argc; i++) {
		if (a->dashdash)
			a->rest[a->nrest++] = argv[i];
		else
			a->argv[a->argc++] = argv[i];
	}
	return 0;
}

void args_free(struct args *a)
{
	free(a->argv);
	free(a->rest);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

const char *args_get(const struct args *a, const char *name)
{
	const char *value = NULL;

	for (int i = 0; i < a->nv; i++)
		if (!strcmp(a->v[i].opt->name, name))
			value = a->v[i].value;
	return value;
}

bool args_has(const struct args *a, const char *name)
{
	for (int i = 0; i < a->nv; i++)
		if (!strcmp(a->v[i].opt->name, name))
			return true;
	return false;
}

const char *args_next(const struct args *a, const char *name, int *i)
{
	for (; *i < a->nv; (*i)++) {
		if (!strcmp(a->v[*i].opt->name, name))
			return a->v[(*i)++].value;
	}
	return NULL;
}

/*
 * args.c - the exec kind's args checked and turned into a spec (see
 * args.h).  Every refusal names the place ("args.env.HOME: not a string")
 * so that `loopctl add` can print it as is.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../common/jargs.h"
#include "args.h"

#define KEYS_TEXT "command, argv, env, cwd and user"

void exec_spec_free(struct exec_spec *s)
{
	jargs_strv_free(s->argv);
	jargs_strv_free(s->env);
	free(s->cwd);
	free(s->user);
	*s = (struct exec_spec){ 0 };
}

static bool env_name_ok(const char *n)
{
	if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') ||
	      *n == '_'))
		return false;
	for (n++; *n; n++)
		if (!((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z') ||
		      (*n >= '0' && *n <= '9') || *n == '_'))
			return false;
	return true;
}

/* A NULL-terminated array of n + 1 pointers, all NULL; NULL if no memory. */
static char **vec_new(size_t n)
{
	return calloc(n + 1, sizeof(char *));
}

static int parse_command(json_t *v, struct exec_spec *s, char *err,
			 size_t errlen)
{
	if (!json_is_string(v))
		return jargs_refuse(err, errlen, "args.command: not a string");
	if (!*json_string_value(v))
		return jargs_refuse(err, errlen, "args.command: empty");
	s->shell = true;
	if (!(s->argv = vec_new(3)) || !(s->argv[0] = strdup("/bin/sh")) ||
	    !(s->argv[1] = strdup("-c")) ||
	    !(s->argv[2] = strdup(json_string_value(v))))
		return -ENOMEM;
	return 0;
}

static int parse_argv(json_t *v, struct exec_spec *s, char *err, size_t errlen)
{
	int r = jargs_strv(v, "argv", "an array",
			   "it needs at least the program to run", &s->argv,
			   err, errlen);
	if (!r && !*s->argv[0])
		return jargs_refuse(
			err, errlen,
			"args.argv[0]: empty; it names the program to run");
	return r;
}

static int parse_env(json_t *v, struct exec_spec *s, char *err, size_t errlen)
{
	const char *k;
	json_t *a;
	size_t i = 0;
	if (!json_is_object(v))
		return jargs_refuse(
			err, errlen,
			"args.env: not an object of NAME: \"value\"");
	json_object_foreach(v, k, a)
	{
		if (!env_name_ok(k))
			return jargs_refuse(
				err, errlen,
				"args.env: \"%s\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
				k);
		if (!json_is_string(a))
			return jargs_refuse(err, errlen,
					    "args.env.%s: not a string", k);
	}
	if (!(s->env = vec_new(json_object_size(v))))
		return -ENOMEM;
	json_object_foreach(v, k, a)
	{
		const char *val = json_string_value(a);
		size_t kl = strlen(k), vl = strlen(val);
		if (!(s->env[i] = malloc(kl + vl + 2)))
			return -ENOMEM;
		memcpy(s->env[i], k, kl);
		s->env[i][kl] = '=';
		memcpy(s->env[i] + kl + 1, val, vl + 1);
		i++;
	}
	return 0;
}

static int parse_cwd(json_t *v, struct exec_spec *s, char *err, size_t errlen)
{
	const char *cwd = NULL;
	int r = jargs_abspath(v, "cwd", &cwd, err, errlen);
	if (r < 0)
		return r;
	return (s->cwd = strdup(cwd)) ? 0 : -ENOMEM;
}

/* A uid is 0 to 2^32 - 2: (uid_t)-1 means "no change" to setresuid. */
static bool uid_ok(json_int_t u)
{
	return u >= 0 && u < (json_int_t)UINT32_MAX;
}

static int parse_user(json_t *v, bool as_root, struct exec_spec *s, char *err,
		      size_t errlen)
{
	const char *str = json_is_string(v) ? json_string_value(v) : NULL;
	char *end;
	if (!json_is_integer(v) && !str)
		return jargs_refuse(err, errlen,
				    "args.user: not a user name or a uid");
	if (!as_root)
		return jargs_refuse(
			err, errlen,
			"args.user: loopd does not run as root, so it cannot run a job as another user; leave user out to run it as loopd's own user");
	if (json_is_integer(v)) {
		if (!uid_ok(json_integer_value(v)))
			return jargs_refuse(err, errlen,
					    "args.user: %" JSON_INTEGER_FORMAT
					    " is not a uid",
					    json_integer_value(v));
		s->uid = (uid_t)json_integer_value(v);
		s->has_uid = true;
		return 0;
	}
	if (!*str || strpbrk(str, ":/\n"))
		return jargs_refuse(err, errlen,
				    "args.user: \"%s\" is not a user name",
				    str);
	if (*str >= '0' && *str <= '9') {
		errno = 0;
		unsigned long long u = strtoull(str, &end, 10);
		if (!*end) {
			if (errno || u >= UINT32_MAX)
				return jargs_refuse(
					err, errlen,
					"args.user: %s is not a uid", str);
			s->uid = (uid_t)u;
			s->has_uid = true;
			return 0;
		}
	}
	return (s->user = strdup(str)) ? 0 : -ENOMEM;
}

static int parse_root(json_t *root, bool as_root, struct exec_spec *s,
		      char *err, size_t errlen)
{
	static const char *const known[] = { "command", "argv", "env", "cwd",
					     "user" };
	json_t *cmd, *argv, *v;
	int r = jargs_keys(root, known, sizeof(known) / sizeof(known[0]),
			   "exec", KEYS_TEXT, err, errlen);
	if (r < 0)
		return r;
	cmd = json_object_get(root, "command");
	argv = json_object_get(root, "argv");
	if (cmd && argv)
		return jargs_refuse(
			err, errlen,
			"args: command and argv together; give one of them");
	if (!cmd && !argv)
		return jargs_refuse(
			err, errlen,
			"args: neither command (a shell command line) nor argv (an array) given");
	r = cmd ? parse_command(cmd, s, err, errlen)
		: parse_argv(argv, s, err, errlen);
	if (!r && (v = json_object_get(root, "env")))
		r = parse_env(v, s, err, errlen);
	if (!r && !s->env)
		r = (s->env = vec_new(0)) ? 0 : -ENOMEM;
	if (!r && (v = json_object_get(root, "cwd")))
		r = parse_cwd(v, s, err, errlen);
	if (!r && (v = json_object_get(root, "user")))
		r = parse_user(v, as_root, s, err, errlen);
	return r;
}

int exec_args_parse(const char *args_json, bool as_root, struct exec_spec *out,
		    char *err, size_t errlen)
{
	struct exec_spec s = { 0 };
	json_t *root;
	int r = jargs_load(args_json, &root, err, errlen);
	if (r < 0)
		return r;
	r = jargs_done(parse_root(root, as_root, &s, err, errlen), err, errlen);
	json_decref(root);
	if (r < 0 || !out)
		exec_spec_free(&s);
	else
		*out = s;
	return r;
}

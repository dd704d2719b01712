/*
 * fuzz_exec_args.c - libFuzzer target for the exec kind's args
 * (plugins/exec/args.c, compiled into this target so that it is
 * instrumented): the path of its validate, args JSON to parse, checks
 * and free, as loopd running as root and as another user.
 *
 * Input: the args JSON text (up to a NUL), as `loopctl add` would send
 * it; the seeds in tests/fuzz/corpus/exec_args are real ones.  Each input
 * is parsed into a spec and checked only, for root and not
 * (fuzz_args_run: both agree, and a refusal names its place); what is
 * accepted when not root is accepted as root; an accepted spec must be
 * what the JSON says:
 * /bin/sh -c COMMAND or the argv given, NAME=value for each env, an
 * absolute cwd, and a user (name or uid, never (uid_t)-1) only as root.
 * Nothing may crash, leak, hang or trip UBSan.
 *
 *   b/tests/fuzz/fuzz_exec_args -dict=tests/fuzz/exec_args.dict NEW_DIR \
 *     tests/fuzz/corpus/exec_args
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "fuzz_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool argv_ok(char **argv, json_t *root)
{
	json_t *cmd = json_object_get(root, "command"),
	       *arr = json_object_get(root, "argv"), *a;
	size_t i;
	if (!argv || !argv[0] || !*argv[0])
		return false;
	if (cmd)
		return !strcmp(argv[0], "/bin/sh") && argv[1] &&
		       !strcmp(argv[1], "-c") && fuzz_args_same(argv[2], cmd) &&
		       *argv[2] && !argv[3];
	json_array_foreach(arr, i, a)
	{
		if (!fuzz_args_same(argv[i], a))
			return false;
	}
	return i > 0 && !argv[i];
}

static bool env_ok(char **env, json_t *obj)
{
	size_t n = 0;
	if (!env)
		return false;
	for (; env[n]; n++) {
		const char *eq = strchr(env[n], '=');
		json_t *v;
		if (!eq || eq == env[n] ||
		    (env[n][0] >= '0' && env[n][0] <= '9'))
			return false;
		if (strspn(env[n],
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
		    (size_t)(eq - env[n]))
			return false;
		char *name = strndup(env[n], (size_t)(eq - env[n]));
		if (!name)
			abort();
		v = json_object_get(obj, name);
		free(name);
		if (!json_is_string(v) || strcmp(eq + 1, json_string_value(v)))
			return false;
	}
	return n == json_object_size(obj);
}

static bool user_ok(const struct exec_spec *s, json_t *v, bool as_root)
{
	if (!v)
		return !s->user && !s->has_uid;
	if (!as_root || !s->user == !s->has_uid)
		return false;
	if (s->has_uid)
		return s->uid != (uid_t)-1 &&
		       (json_is_integer(v)
				? json_integer_value(v) == (json_int_t)s->uid
				: strtoull(json_string_value(v), NULL, 10) ==
					  s->uid);
	return fuzz_args_same(s->user, v) && *s->user &&
	       !strpbrk(s->user, ":/\n");
}

static void check(const void *spec, json_t *root, const void *ctx)
{
	const struct exec_spec *s = spec;
	bool as_root = *(const bool *)ctx;
	json_t *cwd = json_object_get(root, "cwd");

	fuzz_args_expect("exec", argv_ok(s->argv, root),
			 "argv is not the command or argv given");
	fuzz_args_expect("exec", s->shell == !!json_object_get(root, "command"),
			 "shell is not whether command was given");
	fuzz_args_expect("exec", env_ok(s->env, json_object_get(root, "env")),
			 "env is not NAME=value for each one given");
	fuzz_args_expect("exec",
			 cwd ? fuzz_args_path_is(s->cwd, root, "cwd") : !s->cwd,
			 "cwd is not the absolute path given");
	fuzz_args_expect("exec",
			 user_ok(s, json_object_get(root, "user"), as_root),
			 "user is not the name or uid given, as root");
}

/* ctx: whether loopd runs as root. */
static int parse(const char *text, void *spec, char *err, size_t errlen,
		 const void *ctx)
{
	return exec_args_parse(text, *(const bool *)ctx, spec, err, errlen);
}

static void spec_free(void *spec)
{
	exec_spec_free(spec);
}

static const struct fuzz_args_kind kind = { "exec", parse, check, spec_free };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const bool user = false, root = true;
	char *text = fuzz_args_text(data, size);
	struct exec_spec s;
	int as_user = fuzz_args_run(&kind, text, &s, &user);
	int as_root = fuzz_args_run(&kind, text, &s, &root);

	fuzz_args_expect("exec", as_user != 0 || as_root == 0,
			 "accepted when not root, refused as root");
	free(text);
	return 0;
}

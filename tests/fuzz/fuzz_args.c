/*
 * fuzz_args.c - see fuzz_args.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_args.h"

char *fuzz_args_text(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	return text;
}

void fuzz_args_expect(const char *kind, bool ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_%s_args: %s\n", kind, what);
	abort();
}

/* r and err from parsing into a spec, v and shrt from only checking. */
static void outcome(const char *kind, int r, const char *err, int v,
		    const char *shrt)
{
	size_t n = strlen(err);
	fuzz_args_expect(kind, r == 0 || r == -EINVAL || r == -ENOMEM,
			 "returned neither 0, -EINVAL nor -ENOMEM");
	fuzz_args_expect(kind, r == v,
			 "validating (no spec) and parsing disagree");
	fuzz_args_expect(kind, n < FUZZ_ERR_MAX, "reason not terminated");
	if (r == 0) {
		fuzz_args_expect(kind, !*err && !*shrt,
				 "accepted with a reason set");
		return;
	}
	fuzz_args_expect(kind,
			 !strncmp(err, "args:", 5) || !strncmp(err, "args.", 5),
			 "a refusal that does not name its place");
	fuzz_args_expect(
		kind,
		strlen(shrt) == (n < FUZZ_ERR_SHORT ? n : FUZZ_ERR_SHORT - 1) &&
			!strncmp(shrt, err, strlen(shrt)),
		"the short reason is not the long one cut");
}

int fuzz_args_run(const struct fuzz_args_kind *k, const char *text, void *spec,
		  const void *ctx)
{
	char err[FUZZ_ERR_MAX], shrt[FUZZ_ERR_SHORT];
	int r = k->parse(text, spec, err, sizeof(err), ctx);
	int v = k->parse(text, NULL, shrt, sizeof(shrt), ctx);
	json_t *root;

	outcome(k->name, r, err, v, shrt);
	if (r)
		return r;
	root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	fuzz_args_expect(k->name, json_is_object(root),
			 "accepted what is not a JSON object");
	k->check(spec, root, ctx);
	json_decref(root);
	k->free(spec);
	return 0;
}

bool fuzz_args_same(const char *s, json_t *v)
{
	return s && json_is_string(v) && strlen(s) == json_string_length(v) &&
	       !memcmp(s, json_string_value(v), strlen(s));
}

bool fuzz_args_abs_path(const char *p)
{
	return p && p[0] == '/' && strlen(p) < PATH_MAX;
}

bool fuzz_args_path_is(const char *p, json_t *root, const char *key)
{
	return fuzz_args_abs_path(p) &&
	       fuzz_args_same(p, json_object_get(root, key));
}

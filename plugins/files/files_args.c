/*
 * files_args.c - the files kind's args checked (see files_args.h).  Every
 * refusal names the place ("args.match[1]: not a string") so that
 * `loopctl add` can print it as is.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "files_args.h"

#define KEYS_TEXT                                                             \
	"dir, older_than, older_than_ms, match, recursive, action, archive, " \
	"dry_run and remove_empty_dirs"

static int refuse(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void files_args_free(struct files_args *a)
{
	for (size_t i = 0; a->match && a->match[i]; i++)
		free(a->match[i]);
	free(a->match);
	free(a->dir);
	free(a->archive);
	free(a->age_text);
	*a = (struct files_args){ 0 };
}

int files_parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = { { "ms", 1 },      { "s", 1000 },     { "m", 60000 },
		      { "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 } };
	int64_t total = 0;
	if (!*s)
		return -EINVAL;
	while (*s) {
		int64_t v = 0;
		size_t u, n = strspn(s, "0123456789");
		if (!n)
			return -EINVAL;
		for (; n; n--, s++) {
			if (v > FILES_MAX_AGE_MS)
				return -ERANGE;
			v = v * 10 + (*s - '0');
		}
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
			if (!strncmp(s, units[u].name, strlen(units[u].name)))
				break; /* "ms" before "m" */
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		s += strlen(units[u].name);
		if (v > FILES_MAX_AGE_MS / units[u].ms ||
		    (total += v * units[u].ms) > FILES_MAX_AGE_MS)
			return -ERANGE;
	}
	*ms = total;
	return 0;
}

/* Whether path has an empty, "." or ".." component ("/a//b", "/a/../b"). */
static bool path_unclean(const char *path)
{
	const char *c = path + 1;
	for (;;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return true;
		if (!c[n])
			return false;
		c += n + 1;
	}
}

/* An absolute directory path, not "/", as a fresh copy in *out. */
static int parse_dir(json_t *v, const char *key, char **out, char *err,
		     size_t errlen)
{
	const char *s = json_string_value(v);
	size_t n;
	if (!json_is_string(v))
		return refuse(err, errlen, "args.%s: not a string", key);
	if (s[0] != '/')
		return refuse(err, errlen,
			      "args.%s: \"%s\" is not an absolute path", key,
			      s);
	n = strlen(s);
	if (n >= PATH_MAX)
		return refuse(err, errlen, "args.%s: longer than %d bytes", key,
			      PATH_MAX - 1);
	while (n > 1 && s[n - 1] == '/')
		n--; /* "/tmp/x/" is "/tmp/x" */
	if (n == 1)
		return refuse(
			err, errlen,
			"args.%s: \"/\" is refused; name the directory to clean",
			key);
	if (!(*out = strndup(s, n)))
		return -ENOMEM;
	if (path_unclean(*out))
		return refuse(
			err, errlen,
			"args.%s: \"%s\" has an empty, . or .. component; give the plain path",
			key, s);
	return 0;
}

static int parse_age(json_t *root, struct files_args *a, char *err,
		     size_t errlen)
{
	json_t *s = json_object_get(root, "older_than"),
	       *ms = json_object_get(root, "older_than_ms");
	char text[64];
	if (s && ms)
		return refuse(
			err, errlen,
			"args: older_than and older_than_ms together; give one of them");
	if (!s && !ms)
		return refuse(
			err, errlen,
			"args: neither older_than (a duration such as \"30d\") nor older_than_ms (milliseconds) given");
	if (ms) {
		json_int_t v = json_integer_value(ms);
		if (!json_is_integer(ms) || v < 0 || v > FILES_MAX_AGE_MS)
			return refuse(
				err, errlen,
				"args.older_than_ms: not an integer of milliseconds from 0 to %lld (100 years)",
				(long long)FILES_MAX_AGE_MS);
		a->older_than = (int64_t)v;
		snprintf(text, sizeof(text), "%lld ms", (long long)v);
		return (a->age_text = strdup(text)) ? 0 : -ENOMEM;
	}
	if (!json_is_string(s))
		return refuse(err, errlen,
			      "args.older_than: not a string such as \"30d\"");
	switch (files_parse_duration(json_string_value(s), &a->older_than)) {
	case 0: break;
	case -ERANGE:
		return refuse(err, errlen,
			      "args.older_than: \"%s\" is over 100 years",
			      json_string_value(s));
	default:
		return refuse(
			err, errlen,
			"args.older_than: \"%s\" is not a duration; units ms, s, m, h, d, w: \"90s\", \"1h30m\", \"30d\"",
			json_string_value(s));
	}
	return (a->age_text = strdup(json_string_value(s))) ? 0 : -ENOMEM;
}

static int parse_match(json_t *v, struct files_args *a, char *err,
		       size_t errlen)
{
	size_t i, n = json_is_array(v) ? json_array_size(v) : 0;
	json_t *g;
	if (!json_is_array(v))
		return refuse(
			err, errlen,
			"args.match: not an array of globs such as [\"*.log\"]");
	if (!n)
		return refuse(
			err, errlen,
			"args.match: empty; leave it out to match every file");
	json_array_foreach(v, i, g)
	{
		const char *s = json_string_value(g);
		if (!json_is_string(g))
			return refuse(err, errlen,
				      "args.match[%zu]: not a string", i);
		if (!*s)
			return refuse(err, errlen, "args.match[%zu]: empty", i);
		if (strchr(s, '/'))
			return refuse(
				err, errlen,
				"args.match[%zu]: \"%s\" has a '/'; globs match base names only",
				i, s);
	}
	if (!(a->match = calloc(n + 1, sizeof(char *))))
		return -ENOMEM;
	json_array_foreach(v, i, g)
	{
		if (!(a->match[i] = strdup(json_string_value(g))))
			return -ENOMEM;
	}
	return 0;
}

static int parse_bool(json_t *root, const char *key, bool *out, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return refuse(err, errlen, "args.%s: not true or false", key);
	*out = json_is_true(v);
	return 0;
}

static int parse_action(json_t *root, struct files_args *a, char *err,
			size_t errlen)
{
	json_t *v = json_object_get(root, "action"),
	       *arch = json_object_get(root, "archive");
	const char *s = json_string_value(v);
	if (v && !json_is_string(v))
		return refuse(err, errlen,
			      "args.action: not \"delete\" or \"move\"");
	if (v && strcmp(s, "delete") && strcmp(s, "move"))
		return refuse(
			err, errlen,
			"args.action: \"%s\" is not \"delete\" or \"move\"", s);
	a->action = v && !strcmp(s, "move") ? FILES_MOVE : FILES_DELETE;
	if (a->action == FILES_DELETE && arch)
		return refuse(
			err, errlen,
			"args.archive: only with \"action\": \"move\"; a delete needs no archive");
	if (a->action == FILES_DELETE)
		return 0;
	if (!arch)
		return refuse(
			err, errlen,
			"args.archive: missing; \"action\": \"move\" needs the directory to move files to");
	return parse_dir(arch, "archive", &a->archive, err, errlen);
}

static int check_keys(json_t *root, char *err, size_t errlen)
{
	static const char *const known[] = {
		"dir",     "older_than", "older_than_ms",
		"match",   "recursive",  "action",
		"archive", "dry_run",    "remove_empty_dirs"
	};
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		size_t i = 0;
		while (i < sizeof(known) / sizeof(known[0]) &&
		       strcmp(k, known[i]))
			i++;
		if (i == sizeof(known) / sizeof(known[0]))
			return refuse(
				err, errlen,
				"args.%s: unknown key; files takes " KEYS_TEXT,
				k);
	}
	return 0;
}

static int parse_root(json_t *root, struct files_args *a, char *err,
		      size_t errlen)
{
	json_t *v;
	int r;
	if (!json_is_object(root))
		return refuse(err, errlen, "args: not an object");
	if ((r = check_keys(root, err, errlen)) < 0)
		return r;
	if (!(v = json_object_get(root, "dir")))
		return refuse(
			err, errlen,
			"args.dir: missing; the absolute path of the directory to clean is required");
	a->recursive = true;
	if ((r = parse_dir(v, "dir", &a->dir, err, errlen)) < 0 ||
	    (r = parse_age(root, a, err, errlen)) < 0 ||
	    (r = parse_action(root, a, err, errlen)) < 0)
		return r;
	if ((v = json_object_get(root, "match")) &&
	    (r = parse_match(v, a, err, errlen)) < 0)
		return r;
	if ((r = parse_bool(root, "recursive", &a->recursive, err, errlen)) <
		    0 ||
	    (r = parse_bool(root, "dry_run", &a->dry_run, err, errlen)) < 0 ||
	    (r = parse_bool(root, "remove_empty_dirs", &a->remove_empty_dirs,
			    err, errlen)) < 0)
		return r;
	if (a->archive && !strcmp(a->archive, a->dir))
		return refuse(err, errlen,
			      "args.archive: the same directory as args.dir");
	return 0;
}

int files_args_parse(const char *args_json, struct files_args *out, char *err,
		     size_t errlen)
{
	struct files_args a = { 0 };
	json_error_t je;
	json_t *root;
	int r;
	if (err && errlen)
		err[0] = '\0';
	root = json_loads(args_json ? args_json : "", JSON_REJECT_DUPLICATES,
			  &je);
	if (!root)
		return refuse(err, errlen,
			      "args: not valid JSON: %s (line %d, column %d)",
			      je.text, je.line, je.column);
	r = parse_root(root, &a, err, errlen);
	json_decref(root);
	if (r == -ENOMEM)
		refuse(err, errlen, "args: out of memory");
	if (r < 0 || !out)
		files_args_free(&a);
	else
		*out = a;
	return r;
}

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

#include "../common/jargs.h"
#include "files_args.h"

#define KEYS_TEXT                                                             \
	"dir, older_than, older_than_ms, match, recursive, action, archive, " \
	"dry_run and remove_empty_dirs"

void files_args_free(struct files_args *a)
{
	jargs_strv_free(a->match);
	free(a->dir);
	free(a->archive);
	free(a->age_text);
	*a = (struct files_args){ 0 };
}

int files_parse_duration(const char *s, int64_t *ms)
{
	return jargs_duration(s, FILES_MAX_AGE_MS, ms);
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
	const char *s = NULL;
	size_t n;
	int r = jargs_abspath(v, key, &s, err, errlen);
	if (r < 0)
		return r;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		n--; /* "/tmp/x/" is "/tmp/x" */
	if (n == 1)
		return jargs_refuse(
			err, errlen,
			"args.%s: \"/\" is refused; name the directory to clean",
			key);
	if (!(*out = strndup(s, n)))
		return -ENOMEM;
	if (path_unclean(*out))
		return jargs_refuse(
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
		return jargs_refuse(
			err, errlen,
			"args: older_than and older_than_ms together; give one of them");
	if (!s && !ms)
		return jargs_refuse(
			err, errlen,
			"args: neither older_than (a duration such as \"30d\") nor older_than_ms (milliseconds) given");
	if (ms) {
		json_int_t v = json_integer_value(ms);
		if (!json_is_integer(ms) || v < 0 || v > FILES_MAX_AGE_MS)
			return jargs_refuse(
				err, errlen,
				"args.older_than_ms: not an integer of milliseconds from 0 to %lld (100 years)",
				(long long)FILES_MAX_AGE_MS);
		a->older_than = (int64_t)v;
		snprintf(text, sizeof(text), "%lld ms", (long long)v);
		return (a->age_text = strdup(text)) ? 0 : -ENOMEM;
	}
	if (!json_is_string(s))
		return jargs_refuse(
			err, errlen,
			"args.older_than: not a string such as \"30d\"");
	switch (files_parse_duration(json_string_value(s), &a->older_than)) {
	case 0: break;
	case -ERANGE:
		return jargs_refuse(err, errlen,
				    "args.older_than: \"%s\" is over 100 years",
				    json_string_value(s));
	default:
		return jargs_refuse(
			err, errlen,
			"args.older_than: \"%s\" is not a duration; units ms, s, m, h, d, w: \"90s\", \"1h30m\", \"30d\"",
			json_string_value(s));
	}
	return (a->age_text = strdup(json_string_value(s))) ? 0 : -ENOMEM;
}

static int parse_match(json_t *v, struct files_args *a, char *err,
		       size_t errlen)
{
	int r = jargs_strv(v, "match", "an array of globs such as [\"*.log\"]",
			   "leave it out to match every file", &a->match, err,
			   errlen);
	for (size_t i = 0; !r && a->match[i]; i++) {
		if (!*a->match[i])
			return jargs_refuse(err, errlen,
					    "args.match[%zu]: empty", i);
		if (strchr(a->match[i], '/'))
			return jargs_refuse(
				err, errlen,
				"args.match[%zu]: \"%s\" has a '/'; globs match base names only",
				i, a->match[i]);
	}
	return r;
}

static int parse_action(json_t *root, struct files_args *a, char *err,
			size_t errlen)
{
	json_t *v = json_object_get(root, "action"),
	       *arch = json_object_get(root, "archive");
	const char *s = json_string_value(v);
	if (v && !json_is_string(v))
		return jargs_refuse(err, errlen,
				    "args.action: not \"delete\" or \"move\"");
	if (v && strcmp(s, "delete") && strcmp(s, "move"))
		return jargs_refuse(
			err, errlen,
			"args.action: \"%s\" is not \"delete\" or \"move\"", s);
	a->action = v && !strcmp(s, "move") ? FILES_MOVE : FILES_DELETE;
	if (a->action == FILES_DELETE && arch)
		return jargs_refuse(
			err, errlen,
			"args.archive: only with \"action\": \"move\"; a delete needs no archive");
	if (a->action == FILES_DELETE)
		return 0;
	if (!arch)
		return jargs_refuse(
			err, errlen,
			"args.archive: missing; \"action\": \"move\" needs the directory to move files to");
	return parse_dir(arch, "archive", &a->archive, err, errlen);
}

static int parse_root(json_t *root, struct files_args *a, char *err,
		      size_t errlen)
{
	static const char *const known[] = {
		"dir",     "older_than", "older_than_ms",
		"match",   "recursive",  "action",
		"archive", "dry_run",    "remove_empty_dirs"
	};
	json_t *v;
	int r = jargs_keys(root, known, sizeof(known) / sizeof(known[0]),
			   "files", KEYS_TEXT, err, errlen);
	if (r < 0)
		return r;
	if (!(v = json_object_get(root, "dir")))
		return jargs_refuse(
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
	if ((r = jargs_bool(root, "recursive", &a->recursive, err, errlen)) <
		    0 ||
	    (r = jargs_bool(root, "dry_run", &a->dry_run, err, errlen)) < 0 ||
	    (r = jargs_bool(root, "remove_empty_dirs", &a->remove_empty_dirs,
			    err, errlen)) < 0)
		return r;
	if (a->archive && !strcmp(a->archive, a->dir))
		return jargs_refuse(
			err, errlen,
			"args.archive: the same directory as args.dir");
	return 0;
}

int files_args_parse(const char *args_json, struct files_args *out, char *err,
		     size_t errlen)
{
	struct files_args a = { 0 };
	json_t *root;
	int r = jargs_load(args_json, &root, err, errlen);
	if (r < 0)
		return r;
	r = jargs_done(parse_root(root, &a, err, errlen), err, errlen);
	json_decref(root);
	if (r < 0 || !out)
		files_args_free(&a);
	else
		*out = a;
	return r;
}

/*
 * jargs.h - checking a bundled kind's args JSON (plugins/common/, shared
 * by exec/args.c, sql/sql_args.c and files/files_args.c): every refusal
 * names the place, "args.KEY: what is wrong", so that `loopctl add` can
 * print it as is.  Each function returns 0, -EINVAL with the reason in err
 * (err may be NULL), or -ENOMEM.
 *
 * Why a header of static functions and not a .c: each parser is compiled
 * on its own into unit tests (tests/unit/kinds_args.cmake) and libFuzzer
 * targets (tests/fuzz/args.cmake) as well as into its plugin; with the
 * helpers here, a parser's source is still all those builds need.
 */
#ifndef LOOPD_PLUGIN_JARGS_H
#define LOOPD_PLUGIN_JARGS_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* -EINVAL, with the message in err. */
static inline int jargs_refuse(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int jargs_refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The args parsed, duplicate keys refused: a new reference in *root. */
static inline int jargs_load(const char *args_json, json_t **root, char *err,
			     size_t errlen)
{
	json_error_t je;
	if (err && errlen)
		err[0] = '\0';
	*root = json_loads(args_json ? args_json : "", JSON_REJECT_DUPLICATES,
			   &je);
	if (!*root)
		return jargs_refuse(
			err, errlen,
			"args: not valid JSON: %s (line %d, column %d)",
			je.text, je.line, je.column);
	return 0;
}

/* What a parse ends with: r, an out of memory said so in err. */
static inline int jargs_done(int r, char *err, size_t errlen)
{
	if (r == -ENOMEM)
		jargs_refuse(err, errlen, "args: out of memory");
	return r;
}

/* root is an object whose every key is one of known[0..n). kind and
 * keys_text name them in the refusal: "args.x: unknown key; sql takes
 * database, ...". */
static inline int jargs_keys(json_t *root, const char *const *known, size_t n,
			     const char *kind, const char *keys_text, char *err,
			     size_t errlen)
{
	const char *k;
	json_t *v;
	if (!json_is_object(root))
		return jargs_refuse(err, errlen, "args: not an object");
	json_object_foreach(root, k, v)
	{
		size_t i = 0;
		while (i < n && strcmp(k, known[i]))
			i++;
		if (i == n)
			return jargs_refuse(err, errlen,
					    "args.%s: unknown key; %s takes %s",
					    k, kind, keys_text);
	}
	return 0;
}

/* root.key, when there, as a boolean in *out; left as it is when not. */
static inline int jargs_bool(json_t *root, const char *key, bool *out,
			     char *err, size_t errlen)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return jargs_refuse(err, errlen, "args.%s: not true or false",
				    key);
	*out = json_is_true(v);
	return 0;
}

/* v is a string without a NUL byte: its value (borrowed from v). */
static inline int jargs_string(json_t *v, const char *key, const char **out,
			       char *err, size_t errlen)
{
	if (!json_is_string(v))
		return jargs_refuse(err, errlen, "args.%s: not a string", key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return jargs_refuse(err, errlen, "args.%s: contains a NUL byte",
				    key);
	return 0;
}

/* v is an absolute path shorter than PATH_MAX: its value (borrowed). */
static inline int jargs_abspath(json_t *v, const char *key, const char **out,
				char *err, size_t errlen)
{
	int r = jargs_string(v, key, out, err, errlen);
	if (r < 0)
		return r;
	if ((*out)[0] != '/')
		return jargs_refuse(err, errlen,
				    "args.%s: \"%s\" is not an absolute path",
				    key, *out);
	if (strlen(*out) >= PATH_MAX)
		return jargs_refuse(err, errlen,
				    "args.%s: longer than %d bytes", key,
				    PATH_MAX - 1);
	return 0;
}

/*
 * v is a non-empty array of strings: a NULL-terminated copy in *out
 * (caller frees each string and the vector, also on failure).  what: the
 * refusal's words for a non-array ("an array", "an array of globs such
 * as [\"*.log\"]"); if_empty: the reason an empty array is refused.
 */
static inline int jargs_strv(json_t *v, const char *key, const char *what,
			     const char *if_empty, char ***out, char *err,
			     size_t errlen)
{
	size_t i, n = json_array_size(v);
	json_t *a;
	if (!json_is_array(v))
		return jargs_refuse(err, errlen, "args.%s: not %s", key, what);
	if (!n)
		return jargs_refuse(err, errlen, "args.%s: empty; %s", key,
				    if_empty);
	json_array_foreach(v, i, a)
	{
		if (!json_is_string(a))
			return jargs_refuse(err, errlen,
					    "args.%s[%zu]: not a string", key,
					    i);
	}
	if (!(*out = calloc(n + 1, sizeof(char *))))
		return -ENOMEM;
	json_array_foreach(v, i, a)
	{
		if (!((*out)[i] = strdup(json_string_value(a))))
			return -ENOMEM;
	}
	return 0;
}

/* Frees a NULL-terminated vector of strings and its strings. */
static inline void jargs_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * A duration such as "90s", "1h30m", "30d": numbers each followed by a
 * unit, ms, s, m, h, d or w, added up, in *ms.  -EINVAL (not a duration),
 * -ERANGE (a duration, but over max_ms).  No message: each caller words
 * its own.
 */
static inline int jargs_duration(const char *s, int64_t max_ms, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = { { "ms", 1 },      { "s", 1000 },     { "m", 60000 },
		      { "h", 3600000 }, { "d", 86400000 }, { "w", 604800000 } };
	int64_t total = 0;
	bool over = false; /* -ERANGE, once the rest is read as a duration */
	if (!*s)
		return -EINVAL;
	while (*s) {
		int64_t v = 0;
		size_t u, n = strspn(s, "0123456789");
		if (!n)
			return -EINVAL;
		for (; n; n--, s++)
			if (v <= max_ms) /* else over: stop growing */
				v = v * 10 + (*s - '0');
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
			if (!strncmp(s, units[u].name, strlen(units[u].name)))
				break; /* "ms" before "m" */
		if (u == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		s += strlen(units[u].name);
		if (over || v > max_ms / units[u].ms ||
		    (total += v * units[u].ms) > max_ms)
			over = true;
	}
	if (over)
		return -ERANGE;
	*ms = total;
	return 0;
}

#endif /* LOOPD_PLUGIN_JARGS_H */

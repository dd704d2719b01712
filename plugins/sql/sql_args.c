/*
 * sql_args.c - the sql kind's args checked (see sql_args.h).  Every
 * refusal names the place ("args.timeout_ms: not an integer") so that
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
#include "sql_args.h"

#define KEYS_TEXT "database, statements, file, timeout_ms and readonly"

void sql_args_free(struct sql_args *a)
{
	free(a->database);
	free(a->statements);
	free(a->file);
	*a = (struct sql_args){ 0 };
}

/* An absolute path, as a fresh copy in *out. */
static int parse_path(json_t *v, const char *key, char **out, char *err,
		      size_t errlen)
{
	const char *s = NULL;
	int r = jargs_abspath(v, key, &s, err, errlen);
	if (r < 0)
		return r;
	return (*out = strdup(s)) ? 0 : -ENOMEM;
}

static int parse_statements(json_t *v, struct sql_args *a, char *err,
			    size_t errlen)
{
	const char *s = json_string_value(v);
	if (!json_is_string(v))
		return jargs_refuse(err, errlen,
				    "args.statements: not a string of SQL");
	if (strspn(s, " \t\r\n\f\v") == strlen(s))
		return jargs_refuse(err, errlen, "args.statements: empty");
	if (strlen(s) != json_string_length(v))
		return jargs_refuse(err, errlen,
				    "args.statements: contains a NUL byte");
	return (a->statements = strdup(s)) ? 0 : -ENOMEM;
}

static int parse_timeout(json_t *v, struct sql_args *a, char *err,
			 size_t errlen)
{
	json_int_t t = json_integer_value(v);
	if (!json_is_integer(v))
		return jargs_refuse(
			err, errlen,
			"args.timeout_ms: not an integer of milliseconds");
	if (t < 0 || t > SQL_MAX_TIMEOUT_MS)
		return jargs_refuse(err, errlen,
				    "args.timeout_ms: %" JSON_INTEGER_FORMAT
				    " is not from 0 to %d (a day)",
				    t, SQL_MAX_TIMEOUT_MS);
	a->timeout_ms = (int)t;
	return 0;
}

static int parse_root(json_t *root, struct sql_args *a, char *err,
		      size_t errlen)
{
	static const char *const known[] = { "database", "statements", "file",
					     "timeout_ms", "readonly" };
	json_t *db, *stmts, *file;
	int r = jargs_keys(root, known, sizeof(known) / sizeof(known[0]), "sql",
			   KEYS_TEXT, err, errlen);
	if (r < 0)
		return r;
	db = json_object_get(root, "database");
	stmts = json_object_get(root, "statements");
	file = json_object_get(root, "file");
	if (!db)
		return jargs_refuse(
			err, errlen,
			"args.database: missing; the absolute path of an existing SQLite database is required");
	if (stmts && file)
		return jargs_refuse(
			err, errlen,
			"args: statements and file together; give one of them");
	if (!stmts && !file)
		return jargs_refuse(
			err, errlen,
			"args: neither statements (SQL text) nor file (a path to SQL) given");
	a->timeout_ms = SQL_DEFAULT_TIMEOUT_MS;
	r = parse_path(db, "database", &a->database, err, errlen);
	if (!r)
		r = stmts ? parse_statements(stmts, a, err, errlen)
			  : parse_path(file, "file", &a->file, err, errlen);
	if (!r && (stmts = json_object_get(root, "timeout_ms")))
		r = parse_timeout(stmts, a, err, errlen);
	if (!r)
		r = jargs_bool(root, "readonly", &a->readonly, err, errlen);
	return r;
}

int sql_args_parse(const char *args_json, struct sql_args *out, char *err,
		   size_t errlen)
{
	struct sql_args a = { 0 };
	json_t *root;
	int r = jargs_load(args_json, &root, err, errlen);
	if (r < 0)
		return r;
	r = jargs_done(parse_root(root, &a, err, errlen), err, errlen);
	json_decref(root);
	if (r < 0 || !out)
		sql_args_free(&a);
	else
		*out = a;
	return r;
}

/*
 * fuzz_sql_args.c - libFuzzer target for the sql kind's args
 * (plugins/sql/sql_args.c, compiled into this target so that it is
 * instrumented): the path of its validate, args JSON to parse, checks
 * and free.
 *
 * Input: the args JSON text (up to a NUL), as `loopctl add` would send
 * it; the seeds in tests/fuzz/corpus/sql_args are real ones.  Each input
 * is parsed into a spec and checked only (fuzz_args_run: both agree, and
 * a refusal names its place); an accepted spec must be what the JSON says:
 * an absolute database, one of statements (not blank) or an absolute
 * file, the timeout (default SQL_DEFAULT_TIMEOUT_MS) within a day, and
 * readonly.  Nothing may crash, leak, hang or trip UBSan.
 *
 *   b/tests/fuzz/fuzz_sql_args -dict=tests/fuzz/sql_args.dict NEW_DIR \
 *     tests/fuzz/corpus/sql_args
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_args.h"
#include "sql_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const char *text, void *spec, char *err, size_t errlen,
		 const void *ctx)
{
	return sql_args_parse(text, spec, err, errlen);
}

static void check(const void *spec, json_t *root, const void *ctx)
{
	const struct sql_args *a = spec;
	json_t *timeout = json_object_get(root, "timeout_ms");
	const char *s = a->statements;

	fuzz_args_expect("sql",
			 fuzz_args_path_is(a->database, root, "database"),
			 "database is not the absolute path given");
	fuzz_args_expect("sql", !a->statements != !a->file,
			 "not exactly one of statements and file");
	if (s)
		fuzz_args_expect(
			"sql",
			fuzz_args_same(s,
				       json_object_get(root, "statements")) &&
				s[strspn(s, " \t\r\n\f\v")],
			"statements are not the SQL given, or blank");
	else
		fuzz_args_expect("sql",
				 fuzz_args_path_is(a->file, root, "file"),
				 "file is not the absolute path given");
	fuzz_args_expect("sql",
			 a->timeout_ms == (timeout ? json_integer_value(timeout)
						   : SQL_DEFAULT_TIMEOUT_MS) &&
				 a->timeout_ms >= 0 &&
				 a->timeout_ms <= SQL_MAX_TIMEOUT_MS,
			 "timeout_ms is not the one given, within a day");
	fuzz_args_expect(
		"sql",
		a->readonly == json_is_true(json_object_get(root, "readonly")),
		"readonly is not the one given");
}

static void spec_free(void *spec)
{
	sql_args_free(spec);
}

static const struct fuzz_args_kind kind = { "sql", parse, check, spec_free };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_args_text(data, size);
	struct sql_args a;
	fuzz_args_run(&kind, text, &a, NULL);
	free(text);
	return 0;
}

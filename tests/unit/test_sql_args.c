/*
 * test_sql_args.c - unit tests for the sql kind's args
 * (plugins/sql/sql_args.c): what is accepted, the defaults, and each
 * refusal naming its place.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sql_args.h"

static void test_accepts(void **state)
{
	struct sql_args a;
	char err[256];
	assert_int_equal(
		sql_args_parse(
			"{\"database\": \"/var/lib/a.db\", \"statements\": \"VACUUM\"}",
			&a, err, sizeof(err)),
		0);
	assert_string_equal(a.database, "/var/lib/a.db");
	assert_string_equal(a.statements, "VACUUM");
	assert_null(a.file);
	assert_int_equal(a.timeout_ms, SQL_DEFAULT_TIMEOUT_MS);
	assert_false(a.readonly);
	sql_args_free(&a);
	assert_int_equal(
		sql_args_parse(
			"{\"database\": \"/a.db\", \"file\": \"/n.sql\", \"timeout_ms\": 0, \"readonly\": true}",
			&a, err, sizeof(err)),
		0);
	assert_null(a.statements);
	assert_string_equal(a.file, "/n.sql");
	assert_int_equal(a.timeout_ms, 0);
	assert_true(a.readonly);
	sql_args_free(&a);
	assert_int_equal(sql_args_parse("{\"database\": \"/a.db\", "
					"\"statements\": \"VACUUM\"}",
					NULL, err, sizeof(err)),
			 0);
}

static void test_refuses(void **state)
{
	static const struct {
		const char *args, *says;
	} cases[] = {
		{ "", "args: not valid JSON" },
		{ "[]", "args: not an object" },
		{ "{\"statements\": \"x\"}", "args.database: missing" },
		{ "{\"database\": 1, \"statements\": \"x\"}",
		  "args.database: not a string" },
		{ "{\"database\": \"a.db\", \"statements\": \"x\"}",
		  "args.database: \"a.db\" is not an absolute path" },
		{ "{\"database\": \"/a\"}", "args: neither statements" },
		{ "{\"database\": \"/a\", \"statements\": \"x\", \"file\": \"/f\"}",
		  "args: statements and file together" },
		{ "{\"database\": \"/a\", \"statements\": \" \\n\"}",
		  "args.statements: empty" },
		{ "{\"database\": \"/a\", \"statements\": []}",
		  "args.statements: not a string" },
		{ "{\"database\": \"/a\", \"file\": \"f.sql\"}",
		  "args.file: \"f.sql\" is not an absolute path" },
		{ "{\"database\": \"/a\", \"statements\": \"x\", \"timeout_ms\": 1.5}",
		  "args.timeout_ms: not an integer" },
		{ "{\"database\": \"/a\", \"statements\": \"x\", \"timeout_ms\": 86400001}",
		  "args.timeout_ms: 86400001 is not from 0 to 86400000" },
		{ "{\"database\": \"/a\", \"statements\": \"x\", \"readonly\": \"no\"}",
		  "args.readonly: not true or false" },
		{ "{\"database\": \"/a\", \"statements\": \"x\", \"create\": true}",
		  "args.create: unknown key; sql takes database, statements" },
		{ "{\"database\": \"/a\", \"database\": \"/b\", \"statements\": \"x\"}",
		  "args: not valid JSON: duplicate object key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sql_args a = { 0 };
		char err[256];
		int r = sql_args_parse(cases[i].args, &a, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].says))
			fail_msg("%s: %d \"%s\", not -EINVAL \"%s\"",
				 cases[i].args, r, err, cases[i].says);
		assert_null(a.database);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_files_args.c - unit tests for the files kind's args
 * (plugins/files/files_args.c): durations against a reference (hand-
 * written cases, then seeded random ones: LOOPD_TEST_SEED reproduces),
 * the defaults, each refusal naming its place; and the escaping of names
 * in the output (plugins/files/sbuf.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testseed.h"

#include "files_args.h"
#include "sbuf.h"

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		int r;
		int64_t ms;
	} cases[] = {
		{ "90s", 0, 90000 },
		{ "5m", 0, 300000 },
		{ "1h30m", 0, 5400000 },
		{ "2d", 0, 172800000 },
		{ "1w", 0, 604800000 },
		{ "500ms", 0, 500 },
		{ "1m30s", 0, 90000 },
		{ "1m500ms", 0, 60500 },
		{ "0s", 0, 0 },
		{ "36600d", 0, FILES_MAX_AGE_MS },
		{ "36600d1ms", -ERANGE, 0 },
		{ "99999999999999999999d", -ERANGE, 0 },
		{ "99999999999999999999x", -EINVAL, 0 }, /* not "over" */
		{ "36600d1ms,", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "30", -EINVAL, 0 },
		{ "1x", -EINVAL, 0 },
		{ "h", -EINVAL, 0 },
		{ "1h 30m", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "1.5h", -EINVAL, 0 },
		{ "1hm", -EINVAL, 0 },
		{ "1H", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;
		int r = files_parse_duration(cases[i].s, &ms);
		if (r != cases[i].r || (r == 0 && ms != cases[i].ms))
			fail_msg("\"%s\": %d %" PRId64 ", not %d %" PRId64,
				 cases[i].s, r, ms, cases[i].r, cases[i].ms);
	}
}

/* Random durations written out and read back, against their sum. */
static void test_durations_random(void **state)
{
	static const char *units[] = { "ms", "s", "m", "h", "d", "w" };
	static const int64_t unit_ms[] = { 1,       1000,     60000,
					   3600000, 86400000, 604800000 };
	rng_state = test_seed_pick();
	for (int i = 0; i < 20000; i++) {
		char s[128];
		size_t o = 0;
		int64_t want = 0, got = -1;
		int parts = 1 + (int)(rng() % 4);
		for (int k = 0; k < parts; k++) {
			unsigned u = (unsigned)(rng() % 6);
			uint64_t v = rng() % 2000;
			o += (size_t)snprintf(s + o, sizeof(s) - o,
					      "%" PRIu64 "%s", v, units[u]);
			want += (int64_t)v * unit_ms[u];
		}
		int r = files_parse_duration(s, &got);
		if (want > FILES_MAX_AGE_MS ? r != -ERANGE
					    : r != 0 || got != want)
			fail_msg("\"%s\": %d %" PRId64 ", not %" PRId64, s, r,
				 got, want);
	}
}

static void test_accepts(void **state)
{
	struct files_args a;
	char err[256];
	assert_int_equal(
		files_args_parse(
			"{\"dir\": \"/var/tmp/app/\", \"older_than\": \"30d\"}",
			&a, err, sizeof(err)),
		0);
	assert_string_equal(a.dir, "/var/tmp/app");
	assert_int_equal(a.older_than, 30LL * 86400000);
	assert_string_equal(a.age_text, "30d");
	assert_null(a.match);
	assert_null(a.archive);
	assert_int_equal(a.action, FILES_DELETE);
	assert_true(a.recursive);
	assert_false(a.dry_run);
	assert_false(a.remove_empty_dirs);
	files_args_free(&a);
	assert_int_equal(
		files_args_parse(
			"{\"dir\": \"/d\", \"older_than_ms\": 1000, \"match\": [\"*.log\", \"*.tmp\"], \"recursive\": false, \"action\": \"move\", \"archive\": \"/d/archive\", \"dry_run\": true, \"remove_empty_dirs\": true}",
			&a, err, sizeof(err)),
		0);
	assert_int_equal(a.older_than, 1000);
	assert_string_equal(a.age_text, "1000 ms");
	assert_string_equal(a.match[0], "*.log");
	assert_string_equal(a.match[1], "*.tmp");
	assert_null(a.match[2]);
	assert_int_equal(a.action, FILES_MOVE);
	assert_string_equal(a.archive, "/d/archive");
	assert_false(a.recursive);
	assert_true(a.dry_run);
	assert_true(a.remove_empty_dirs);
	files_args_free(&a);
}

static void test_refuses(void **state)
{
	static const struct {
		const char *args, *says;
	} cases[] = {
		{ "{", "args: not valid JSON" },
		{ "3", "args: not valid JSON" },
		{ "{\"older_than\": \"1d\"}", "args.dir: missing" },
		{ "{\"dir\": \"rel\", \"older_than\": \"1d\"}",
		  "args.dir: \"rel\" is not an absolute path" },
		{ "{\"dir\": \"///\", \"older_than\": \"1d\"}",
		  "args.dir: \"/\" is refused" },
		{ "{\"dir\": \"/a/./b\", \"older_than\": \"1d\"}",
		  "has an empty, . or .. component" },
		{ "{\"dir\": \"/a//b\", \"older_than\": \"1d\"}",
		  "has an empty, . or .. component" },
		{ "{\"dir\": \"/a/..\", \"older_than\": \"1d\"}",
		  "has an empty, . or .. component" },
		{ "{\"dir\": \"/a\"}", "args: neither older_than" },
		{ "{\"dir\": \"/a\", \"older_than\": 5}",
		  "args.older_than: not a string" },
		{ "{\"dir\": \"/a\", \"older_than\": \"5\"}",
		  "args.older_than: \"5\" is not a duration" },
		{ "{\"dir\": \"/a\", \"older_than_ms\": \"5\"}",
		  "args.older_than_ms: not an integer" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"older_than_ms\": 5}",
		  "older_than and older_than_ms together" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"match\": [\"\"]}",
		  "args.match[0]: empty" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"match\": [\"*\", null]}",
		  "args.match[1]: not a string" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"match\": [\"x/*\"]}",
		  "args.match[0]: \"x/*\" has a '/'" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"action\": 1}",
		  "args.action: not \"delete\" or \"move\"" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"action\": \"move\"}",
		  "args.archive: missing" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"archive\": \"/b\"}",
		  "args.archive: only with" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"action\": \"move\", \"archive\": \"/a\"}",
		  "args.archive: the same directory as args.dir" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"remove_empty_dirs\": 1}",
		  "args.remove_empty_dirs: not true or false" },
		{ "{\"dir\": \"/a\", \"older_than\": \"1d\", \"age\": 1}",
		  "args.age: unknown key; files takes dir, older_than" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct files_args a = { 0 };
		char err[256];
		int r = files_args_parse(cases[i].args, &a, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].says))
			fail_msg("%s: %d \"%s\", not -EINVAL \"%s\"",
				 cases[i].args, r, err, cases[i].says);
		assert_null(a.dir);
	}
}

static void escaped(const char *in, size_t n, const char *want)
{
	struct sbuf b = { 0 };
	size_t len;
	char *s;
	sbuf_add_escaped(&b, in, n);
	s = sbuf_take(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, want);
	assert_int_equal(len, strlen(want));
	free(s);
}

static void test_escape(void **state)
{
	escaped("plain.log", 9, "plain.log");
	escaped("a\tb\nc\rd\\", 8, "a\\tb\\nc\\rd\\\\");
	escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	escaped("\xff", 1, "\\xff");
	escaped("\xc0\xaf", 2, "\\xc0\\xaf");          /* overlong '/' */
	escaped("\xed\xa0\x80", 3, "\\xed\\xa0\\x80"); /* a surrogate */
	escaped("\xe2\x82", 2, "\\xe2\\x82");          /* cut short */
	escaped("a\0b\x7f", 4, "a\\x00b\\x7f");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_durations_random),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

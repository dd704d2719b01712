/*
 * test_jbuf.c - the JSON text writer: what it writes parses back, with
 * the same values, for every awkward string (quotes, backslashes,
 * control characters, UTF-8), integers at the limits, null, nesting and
 * raw members.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "jbuf.h"

static void test_round_trip(void **state)
{
	static const char *const strs[] = {
		"",
		"plain",
		"quote \" in",
		"back\\slash",
		"nl\nand\ttab\r",
		"\x01\x1f ctl",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"</script>",
	};
	struct jbuf b;
	json_error_t e;
	json_t *o;
	jb_init(&b);
	jb_open(&b, '{');
	jb_key(&b, "a");
	jb_open(&b, '[');
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		jb_str(&b, NULL, strs[i]);
	jb_null(&b, NULL);
	jb_close(&b, ']');
	jb_int(&b, "min", INT64_MIN + 1);
	jb_int(&b, "max", INT64_MAX);
	jb_str(&b, "none", NULL);
	jb_raw(&b, "raw", "{\"x\":[1,2]}", 11);
	jb_close(&b, '}');
	o = json_loads(jb_text(&b), 0, &e);
	assert_non_null(o);
	json_t *a = json_object_get(o, "a");
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
		assert_string_equal(json_string_value(json_array_get(a, i)),
				    strs[i]);
	assert_true(json_is_null(json_array_get(a, 8)));
	assert_int_equal(json_integer_value(json_object_get(o, "max")),
			 INT64_MAX);
	assert_int_equal(json_integer_value(json_object_get(o, "min")),
			 INT64_MIN + 1);
	assert_true(json_is_null(json_object_get(o, "none")));
	assert_int_equal(
		json_integer_value(json_array_get(
			json_object_get(json_object_get(o, "raw"), "x"), 1)),
		2);
	json_decref(o);
	jb_free(&b);
}

/* Keys that need escapes are written escaped, as values are. */
static void test_odd_keys(void **state)
{
	struct jbuf b;
	jb_init(&b);
	jb_open(&b, '{');
	jb_int(&b, "plain", 1);
	jb_int(&b, "quo\"te", 2);
	jb_str(&b, "back\\slash\n", "v");
	jb_close(&b, '}');
	json_t *o = json_loads(jb_text(&b), 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "quo\"te")), 2);
	assert_string_equal(
		json_string_value(json_object_get(o, "back\\slash\n")), "v");
	json_decref(o);
	jb_free(&b);
}

/* jb_str_lossy: valid UTF-8 as it is; each byte of an invalid sequence
 * (a stray continuation, a truncated or overlong form, a surrogate,
 * beyond U+10FFFF, 0xff) as U+FFFD; NULL as null. */
static void test_lossy(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac",
		  "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac" },
		{ "/tmp/\xff.conf", "/tmp/\xef\xbf\xbd.conf" },
		{ "a\x80!", "a\xef\xbf\xbd!" },
		{ "trunc\xc3", "trunc\xef\xbf\xbd" },
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80x",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		  "x" },
		{ "quote\" \xfe", "quote\" \xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct jbuf b;
		jb_init(&b);
		jb_open(&b, '[');
		jb_str_lossy(&b, NULL, cases[i].in);
		jb_str_lossy(&b, NULL, NULL);
		jb_close(&b, ']');
		json_error_t e;
		json_t *a = json_loads(jb_text(&b), 0, &e);
		if (!a)
			fail_msg("case %zu: %s: %s", i, e.text, jb_text(&b));
		assert_string_equal(json_string_value(json_array_get(a, 0)),
				    cases[i].out);
		assert_true(json_is_null(json_array_get(a, 1)));
		json_decref(a);
		jb_free(&b);
	}
}

/* jb_append writes text as it is, with no separator. */
static void test_append(void **state)
{
	struct jbuf b;
	jb_init(&b);
	jb_append(&b, "{\"p\":", 5);
	jb_open(&b, '{');
	jb_int(&b, "a", 1);
	jb_close(&b, '}');
	jb_append(&b, "}", 1);
	assert_string_equal(jb_text(&b), "{\"p\":{\"a\":1}}");
	jb_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_odd_keys),
		cmocka_unit_test(test_lossy),
		cmocka_unit_test(test_append),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

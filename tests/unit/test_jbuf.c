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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

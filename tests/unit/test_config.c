/*
 * test_config.c - the config file reader: values, sections, repeated
 * keys, and the errors that name the file and the line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/loopd-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_values(void **state)
{
	struct config *c;
	char err[256];
	write_file("; comment\n[loopd]\nthreads = 2\nplugin = a\nplugin = b\n"
		   "[plugin.hello]\nticks = 0\nmessage = hi there\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(config_get(c, "loopd", "threads"), "2");
	assert_string_equal(config_get(c, "loopd", "plugin"), "b");
	assert_string_equal(config_get(c, "plugin.hello", "message"),
			    "hi there");
	assert_null(config_get(c, "plugin.hello", "threads"));
	assert_null(config_get(c, "nosuch", "ticks"));
	assert_int_equal(c->n, 5);
	assert_string_equal(c->v[1].value, "a"); /* file order kept */
	config_free(c);
	unlink(path);
}

static void test_missing(void **state)
{
	struct config *c = NULL;
	char err[256];
	assert_int_equal(
		config_load("/nonexistent/loopd.conf", &c, err, sizeof(err)),
		-ENOENT);
	assert_non_null(strstr(err, "/nonexistent/loopd.conf"));
	assert_null(c);
}

static void test_syntax_error_names_line(void **state)
{
	struct config *c = NULL;
	char err[256];
	write_file("[loopd]\nthreads = 2\nthis is not ini\n");
	assert_int_equal(config_load(path, &c, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:3:", path);
	assert_non_null(strstr(err, want));
	assert_null(c);
	unlink(path);
}

/* A directory opens, but every read fails: refused, not an empty file. */
static void test_directory(void **state)
{
	struct config *c = NULL;
	char err[256];
	assert_int_equal(config_load("/", &c, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "cannot read the config file /"));
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_syntax_error_names_line),
		cmocka_unit_test(test_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

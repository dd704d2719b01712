/*
 * test_loopctl.c - loopctl's parts that need no daemon: durations and
 * times as the command line gives them, zones from TZ, relative times,
 * spans and durations written back (and read again), tables with
 * spanning cells, the jobs and runs tables at a fixed "now", the option
 * parser (add's "-- COMMAND" kept apart), add/edit's parameters, the
 * exit status of each error name, and the command table itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testseed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "loopctl.h"
#include "tzfile.h"

#define S USEC_PER_SEC

/* ---- Helpers ---- */

static struct tz_zone *zone(const char *name)
{
	char err[CAL_ERR_MAX];
	struct tz_zone *z = NULL;

	if (zone_load(name, &z, err, sizeof(err)) < 0)
		fail_msg("zone %s: %s", name ? name : "(local)", err);
	return z;
}

/* Runs fn(f, ud) on a memory stream and returns what it wrote (caller
 * frees). */
static char *capture(void (*fn)(FILE *f, void *ud), void *ud)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	fn(f, ud);
	fclose(f);
	return text;
}

/* Parses argv (NULL-terminated, after the command name) for command. */
static int parse(const char *command, struct args *a, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, a);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	const struct cmd_entry *e = cmd_find(command);
	assert_non_null(e);
	return args_parse(e, argc, argv, a);
}

static void set_tz(const char *tz)
{
	if (tz)
		setenv("TZ", tz, 1);
	else
		unsetenv("TZ");
	tzset();
}

/* ---- Durations and times ---- */

static void test_parse_duration(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {
		{ "90s", 90000 },     { "5m", 300000 },
		{ "1h30m", 5400000 }, { "2d", 172800000 },
		{ "1500ms", 1500 },   { "0s", 0 },
		{ " 1h ", 3600000 },  { "1d2h3m4s5ms", 93784005 },
	};
	static const char *const bad[] = { "",     "5",    "5x",  "m",
					   "1m1h", "1h1h", "-5s", "1.5h" };
	char err[CAL_ERR_MAX];
	int64_t ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (parse_duration_ms(ok[i].text, &ms, err, sizeof(err)) < 0)
			fail_msg("\"%s\" refused: %s", ok[i].text, err);
		assert_int_equal(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (parse_duration_ms(bad[i], &ms, err, sizeof(err)) == 0)
			fail_msg("\"%s\" accepted as %lld ms", bad[i],
				 (long long)ms);
		assert_non_null(strstr(err, "duration"));
	}
}

static void test_parse_count(void **state)
{
	long long n;

	assert_int_equal(parse_count("5", 1, 10, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(parse_count("0", 1, 10, &n), -EINVAL);
	assert_int_equal(parse_count("11", 1, 10, &n), -EINVAL);
	assert_int_equal(parse_count("5x", 1, 10, &n), -EINVAL);
	assert_int_equal(parse_count("", 1, 10, &n), -EINVAL);
	assert_int_equal(parse_count("99999999999999999999", 1, 10, &n),
			 -EINVAL);
}

static void test_parse_time(void **state)
{
	struct tz_zone *berlin = zone("Europe/Berlin");
	char err[CAL_ERR_MAX];
	int64_t t;

	/* RFC 3339 carries its offset: the zone does not matter. */
	assert_int_equal(parse_time("2026-12-24T17:00:00Z", berlin, &t, err,
				    sizeof(err)),
			 0);
	assert_int_equal(t, 1798131600 * S);
	assert_int_equal(parse_time("2026-12-24T18:00:00+01:00", NULL, &t, err,
				    sizeof(err)),
			 0);
	assert_int_equal(t, 1798131600 * S);
	/* A wall-clock time is read on the zone's clock. */
	assert_int_equal(
		parse_time("2026-12-24 18:00", berlin, &t, err, sizeof(err)),
		0);
	assert_int_equal(t, 1798131600 * S);
	assert_int_equal(
		parse_time("2026-12-24 18:00:30", berlin, &t, err, sizeof(err)),
		0);
	assert_int_equal(t, 1798131630 * S);
	/* In the spring-forward gap: the first instant after it. */
	assert_int_equal(
		parse_time("2026-03-29 02:30", berlin, &t, err, sizeof(err)),
		0);
	assert_int_equal(t, 1774746000 * S); /* 01:00Z = 03:00+02:00 */
	assert_int_not_equal(
		parse_time("tomorrow", berlin, &t, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "time"));
	assert_int_not_equal(
		parse_time("2026-13-01 00:00", berlin, &t, err, sizeof(err)),
		0);
	tz_zone_unref(berlin);
}

static void test_zone_load(void **state)
{
	char err[CAL_ERR_MAX], buf[FMT_MAX];
	struct tz_zone *z;

	assert_int_not_equal(zone_load("Mars/Olympus", &z, err, sizeof(err)),
			     0);
	assert_non_null(strstr(err, "Mars/Olympus"));
	/* The local zone follows TZ as the C library does. */
	set_tz("Europe/Berlin");
	z = zone(NULL);
	fmt_rfc3339(1774747800 * S, z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-29T03:30:00+02:00");
	tz_zone_unref(z);
	set_tz(":America/New_York");
	z = zone(NULL);
	fmt_rfc3339(1774747800 * S, z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-28T21:30:00-04:00");
	tz_zone_unref(z);
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	z = zone(NULL);
	fmt_rfc3339(1774661400 * S, z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-28T02:30:00+01:00");
	tz_zone_unref(z);
	set_tz("");
	z = zone(NULL);
	fmt_rfc3339(1774661400 * S, z, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-28T01:30:00+00:00");
	tz_zone_unref(z);
	set_tz("UTC");
}

/* ---- Formatting ---- */

static void test_fmt_rfc3339(void **state)
{
	struct tz_zone *berlin = zone("Europe/Berlin");
	char buf[FMT_MAX];

	/* Each time with the offset of its own instant (CLI.md's example). */
	fmt_rfc3339(1774661400 * S, berlin, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-28T02:30:00+01:00");
	fmt_rfc3339(1774747800 * S, berlin, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-29T03:30:00+02:00");
	/* NULL is the local zone, through the C library. */
	set_tz("Europe/Berlin");
	fmt_rfc3339(1774747800 * S, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-29T03:30:00+02:00");
	set_tz("Asia/Kolkata");
	fmt_rfc3339(1774747800 * S, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-29T07:00:00+05:30");
	set_tz("UTC");
	tz_zone_unref(berlin);
}

static void test_fmt_relative(void **state)
{
	static const struct {
		int64_t usec;
		const char *text;
	} cases[] = {
		{ 0, "now" },
		{ -5 * S, "now" },
		{ 7, "7us" },
		{ 500000, "500ms" },
		{ 59 * S, "59s" },
		{ 299 * S + S / 2, "4min 59s" },
		{ 300 * S + S / 2, "5min" },
		{ 3720 * S, "1h 2min" },
		{ 6 * 3600 * S + 1800 * S, "6h" },
		{ 24 * 3600 * S, "24h" },
		{ 25 * 3600 * S, "1 day 1h" },
		{ 2 * 86400 * S, "2 days" },
		{ 6 * 86400 * S, "6 days" },
		{ 7 * 86400 * S, "1 week" },
		{ 8 * 86400 * S, "1 week 1 day" },
		{ 16 * 86400 * S, "2 weeks 2 days" },
		{ 2629800LL * S, "1 month" },
		{ 2629800LL * S + 3 * 86400 * S, "1 month 3 days" },
		{ 31557600LL * S, "1 year" },
		{ 31557600LL * S + 2 * 2629800LL * S, "1 year 2 months" },
		{ 3 * 31557600LL * S, "3 years" },
	};
	char buf[FMT_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt_relative(cases[i].usec, buf, sizeof(buf));
		if (strcmp(buf, cases[i].text))
			fail_msg("%lld us: \"%s\", not \"%s\"",
				 (long long)cases[i].usec, buf, cases[i].text);
	}
}

static void test_fmt_timestamp(void **state)
{
	char buf[FMT_MAX];

	set_tz("UTC");
	fmt_timestamp(1795822200 * S, buf, sizeof(buf));
	assert_string_equal(buf, "Fri 2026-11-27 23:30:00 UTC");
	set_tz("Europe/Berlin");
	fmt_timestamp(1795822200 * S, buf, sizeof(buf));
	assert_string_equal(buf, "Sat 2026-11-28 00:30:00 CET");
	fmt_timestamp(1782595800 * S, buf, sizeof(buf));
	assert_string_equal(buf, "Sat 2026-06-27 23:30:00 CEST");
	fmt_timestamp(-1, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	set_tz("UTC");
}

static void test_fmt_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *text;
	} cases[] = {
		{ 0, "0s" },         { 1, "1ms" },
		{ 1500, "1s500ms" }, { 90000, "1m30s" },
		{ 300000, "5m" },    { 5400000, "1h30m" },
		{ 172800000, "2d" }, { 93784005, "1d2h3m4s5ms" },
	};
	char buf[FMT_MAX], err[CAL_ERR_MAX];
	unsigned seed = test_seed_pick();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fmt_duration_ms(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
	/* What is written reads back as the same duration. */
	rng_state = seed;
	for (int i = 0; i < 10000; i++) {
		int64_t ms = (int64_t)(rng() % (400ULL * 86400000)), back;
		fmt_duration_ms(ms, buf, sizeof(buf));
		if (parse_duration_ms(buf, &back, err, sizeof(err)) < 0 ||
		    back != ms)
			fail_msg("seed %u: %lld ms written \"%s\" reads %s",
				 seed, (long long)ms, buf, err);
	}
}

static void test_fmt_span_bytes(void **state)
{
	char buf[FMT_MAX];

	fmt_span(850, buf, sizeof(buf));
	assert_string_equal(buf, "850us");
	fmt_span(120 * 1000, buf, sizeof(buf));
	assert_string_equal(buf, "120ms");
	fmt_span(1250000, buf, sizeof(buf));
	assert_string_equal(buf, "1.25s");
	fmt_span(12345678, buf, sizeof(buf));
	assert_string_equal(buf, "12.3s");
	fmt_span(125 * S, buf, sizeof(buf));
	assert_string_equal(buf, "2min 5s");
	fmt_span(3720 * S, buf, sizeof(buf));
	assert_string_equal(buf, "1h 2min");
	fmt_span(26 * 3600 * S, buf, sizeof(buf));
	assert_string_equal(buf, "1 day 2h");
	fmt_span(-5, buf, sizeof(buf));
	assert_string_equal(buf, "0us");
	fmt_bytes(512, buf, sizeof(buf));
	assert_string_equal(buf, "512B");
	fmt_bytes(1536, buf, sizeof(buf));
	assert_string_equal(buf, "1.5K");
	fmt_bytes(3 * 1024 * 1024, buf, sizeof(buf));
	assert_string_equal(buf, "3.0M");
}

static void test_result_color(void **state)
{
	/* Compared as text: equal literals need not share an address. */
	assert_string_equal(fmt_result_color("failed"), COLOR_RED);
	assert_string_equal(fmt_result_color("timeout"), COLOR_RED);
	assert_string_equal(fmt_result_color("ok"), COLOR_GREEN);
	assert_string_equal(fmt_result_color("missed"), COLOR_YELLOW);
	assert_null(fmt_result_color("starting"));
	assert_null(fmt_result_color(NULL));
}

static void test_jget(void **state)
{
	json_t *o = json_pack("{s:s, s:I, s:n, s:b, s:f, s:[i,i]}", "s", "x",
			      "i", (json_int_t)1774747800000000LL, "n", "t", 1,
			      "r", 2.5, "a", 1, 2);
	char buf[32];
	int64_t v;

	assert_string_equal(jget_str(o, "s"), "x");
	assert_null(jget_str(o, "i"));
	assert_null(jget_str(NULL, "s"));
	assert_true(jget_int(o, "i", &v));
	assert_int_equal(v, 1774747800000000LL);
	assert_false(jget_int(o, "n", &v));
	assert_false(jget_int(o, "absent", &v));
	assert_string_equal(jget_text(o, "n", buf, sizeof(buf)), "-");
	assert_string_equal(jget_text(o, "absent", buf, sizeof(buf)), "-");
	assert_string_equal(jget_text(o, "t", buf, sizeof(buf)), "yes");
	assert_string_equal(jget_text(o, "r", buf, sizeof(buf)), "2.5");
	assert_string_equal(jget_text(o, "a", buf, sizeof(buf)), "[1,2]");
	assert_string_equal(jget_text(o, "a", buf, 4), "[1,");
	json_decref(o);
}

/* ---- Tables ---- */

static void print_small(FILE *f, void *ud)
{
	static const char *const headers[] = { "A", "BB", "C" };
	struct table *t = table_new(3, headers);

	table_row(t);
	table_cell(t, "x", NULL);
	table_cell(t, "long one", NULL);
	table_cell(t, "end", NULL);
	table_row(t);
	table_cell_span(t, "a reason across two", NULL, 2);
	table_cell(t, "z", COLOR_RED);
	table_row(t);
	table_cell(t, "é", COLOR_RED); /* two bytes, one column */
	table_cell(t, "", NULL);
	table_cell(t, "", NULL);
	table_print(t, f, *(bool *)ud, "> ");
	table_free(t);
}

static void test_table(void **state)
{
	bool color = false;
	char *text = capture(print_small, &color);

	/* The spanned columns widen so that "a reason across two" fits
	 * A + 2 + BB: BB grows from 8 to 16. */
	assert_string_equal(text, "> A  BB                C\n"
				  "> x  long one          end\n"
				  "> a reason across two  z\n"
				  "> é                    \n");
	free(text);
	color = true;
	text = capture(print_small, &color);
	assert_non_null(strstr(text, COLOR_BOLD "A" COLOR_OFF));
	assert_non_null(strstr(text, COLOR_RED "z" COLOR_OFF "\n"));
	assert_non_null(strstr(text, COLOR_RED "é" COLOR_OFF "  "));
	free(text);
	assert_int_equal(table_text_width("héllo"), 5);
}

struct jobs_case {
	json_t *arr;
	int64_t now;
	bool color;
	bool runs;
};

static void print_jobs(FILE *f, void *ud)
{
	struct jobs_case *c = ud;
	if (c->runs)
		runs_print(f, c->arr, c->color, "", true);
	else
		jobs_print(f, c->arr, c->now, c->color);
}

static void test_jobs_table(void **state)
{
	int64_t now = 1795822200 * S; /* Fri 2026-11-27 23:30:00 UTC */
	json_error_t jerr;
	json_t *jobs = json_loads(
		"[{\"name\": \"report\", \"kind\": \"exec\", \"schedule\": "
		"\"0 9 * * mon-fri\", \"next_usec\": null, \"next_reason\": "
		"\"paused\", \"last_usec\": 1795649395000000, "
		"\"last_result\": \"failed\"},"
		" {\"name\": \"backup\", \"kind\": \"exec\", \"schedule\": "
		"\"30 3 * * *\", \"tz\": \"Europe/Berlin\", \"next_usec\": "
		"1795822499000000, \"last_usec\": 1795818480000000, "
		"\"last_result\": \"ok\"},"
		" {\"name\": \"fresh\", \"kind\": \"sql\", \"schedule\": "
		"\"every 1h\", \"next_usec\": 1795825920000000}]",
		0, &jerr);
	struct jobs_case c = { jobs, now, false, false };

	assert_non_null(jobs);
	set_tz("UTC");
	char *text = capture(print_jobs, &c);
	assert_string_equal(
		text,
		"NEXT                         LEFT      LAST                 "
		"        PASSED       RESULT  JOB     KIND  SCHEDULE\n"
		"Fri 2026-11-27 23:34:59 UTC  4min 59s  Fri 2026-11-27 "
		"22:28:00 UTC  1h 2min ago  ok      backup  exec  30 3 * * * "
		"(Europe/Berlin)\n"
		"Sat 2026-11-28 00:32:00 UTC  1h 2min   -                    "
		"        -            -       fresh   sql   every 1h\n"
		"paused                                 Wed 2026-11-25 "
		"23:29:55 UTC  2 days ago   failed  report  exec  0 9 * * "
		"mon-fri\n"
		"\n3 jobs listed.\n");
	free(text);
	c.color = true;
	text = capture(print_jobs, &c);
	assert_non_null(strstr(text, COLOR_RED "failed" COLOR_OFF));
	free(text);
	json_decref(jobs);
}

static void test_runs_table(void **state)
{
	json_error_t jerr;
	json_t *runs = json_loads(
		"[{\"id\": 42, \"job\": \"backup\", \"trigger\": "
		"\"schedule\", \"started_usec\": 1795822200000000, "
		"\"finished_usec\": 1795822201250000, \"result\": \"ok\", "
		"\"exit_code\": 0},"
		" {\"id\": 7, \"job\": \"r\", \"trigger\": \"catchup\", "
		"\"started_usec\": null, \"result\": \"missed\", "
		"\"exit_code\": null}]",
		0, &jerr);
	struct jobs_case c = { runs, 0, false, true };

	set_tz("UTC");
	char *text = capture(print_jobs, &c);
	assert_string_equal(
		text, "ID  JOB     TRIGGER   STARTED                      "
		      "DURATION  RESULT  EXIT\n"
		      "42  backup  schedule  Fri 2026-11-27 23:30:00 UTC  "
		      "1.25s     ok      0\n"
		      "7   r       catchup   -                            -  "
		      "       missed  -\n");
	free(text);
	json_decref(runs);
}

/* ---- The command line ---- */

static void test_args_add(void **state)
{
	struct args a;

	assert_int_equal(parse("add", &a, "backup", "-e", "30 3 * * *",
			       "--tz=Europe/Berlin", "--paused", "--", "ls",
			       "-l", "--", "/", NULL),
			 0);
	assert_int_equal(a.argc, 1);
	assert_string_equal(a.argv[0], "backup");
	assert_true(a.dashdash);
	assert_int_equal(a.nrest, 4);
	assert_string_equal(a.rest[0], "ls");
	assert_string_equal(a.rest[1], "-l");
	assert_string_equal(a.rest[2], "--");
	assert_string_equal(args_get(&a, "schedule"), "30 3 * * *");
	assert_string_equal(args_get(&a, "tz"), "Europe/Berlin");
	assert_true(args_has(&a, "paused"));
	assert_null(args_get(&a, "paused"));
	assert_false(args_has(&a, "kind"));
	args_free(&a);

	/* Options after the name, short with the value attached, globals. */
	assert_int_equal(parse("add", &a, "-ex y", "n", "-s", "/s", "-o",
			       "json", "--timeout", "5m", NULL),
			 0);
	assert_string_equal(args_get(&a, "schedule"), "x y");
	assert_string_equal(a.socket, "/s");
	assert_string_equal(a.output, "json");
	assert_false(a.dashdash);
	assert_int_equal(a.argc, 1);
	args_free(&a);

	/* Usage errors. */
	assert_int_equal(parse("add", &a, "n", "--bogus", NULL), LC_EXIT_USAGE);
	args_free(&a);
	assert_int_equal(parse("add", &a, "n", "-e", NULL), LC_EXIT_USAGE);
	args_free(&a);
	assert_int_equal(parse("add", &a, "n", "--paused=yes", NULL),
			 LC_EXIT_USAGE);
	args_free(&a);
	assert_int_equal(parse("add", &a, "n", "-x", NULL), LC_EXIT_USAGE);
	args_free(&a);
}

static void test_args_other(void **state)
{
	struct args a;
	int i = 0;

	/* "--" in a command without CMD_DASHDASH ends the options only. */
	assert_int_equal(parse("rm", &a, "a", "--", "-b", NULL), 0);
	assert_false(a.dashdash);
	assert_int_equal(a.argc, 2);
	assert_string_equal(a.argv[1], "-b");
	args_free(&a);
	assert_int_equal(parse("next", &a, "@daily", "-n5", NULL), 0);
	assert_string_equal(args_get(&a, "count"), "5");
	args_free(&a);
	assert_int_equal(
		parse("events", &a, "--type", "run.*", "--type=job.*", NULL),
		0);
	assert_string_equal(args_next(&a, "type", &i), "run.*");
	assert_string_equal(args_next(&a, "type", &i), "job.*");
	assert_null(args_next(&a, "type", &i));
	args_free(&a);
	assert_int_equal(parse("jobs", &a, "--help", NULL), 0);
	assert_true(a.help);
	args_free(&a);
	/* A lone "-" is an argument. */
	assert_int_equal(parse("call", &a, "m", "-", NULL), 0);
	assert_int_equal(a.argc, 2);
	args_free(&a);
}

/* add_params for the arguments; NULL-terminated; expects success. */
static json_t *params_ok(int edit, ...)
{
	char *argv[32], err[512];
	int argc = 0;
	struct args a;
	json_t *p;
	va_list ap;

	va_start(ap, edit);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	assert_int_equal(
		args_parse(cmd_find(edit ? "edit" : "add"), argc, argv, &a), 0);
	if (add_params(&a, edit, &p, err, sizeof(err)))
		fail_msg("refused: %s", err);
	args_free(&a);
	return p;
}

/* add_params must refuse; err must contain want. */
static void params_bad(bool edit, const char *want, ...)
{
	char *argv[32], err[512] = "";
	int argc = 0;
	struct args a;
	json_t *p;
	va_list ap;

	va_start(ap, want);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	assert_int_equal(
		args_parse(cmd_find(edit ? "edit" : "add"), argc, argv, &a), 0);
	assert_int_equal(add_params(&a, edit, &p, err, sizeof(err)),
			 LC_EXIT_USAGE);
	assert_null(p);
	if (!strstr(err, want))
		fail_msg("\"%s\" lacks \"%s\"", err, want);
	args_free(&a);
}

static void assert_json(json_t *got, const char *want)
{
	json_error_t jerr;
	json_t *w = json_loads(want, 0, &jerr);

	assert_non_null(w);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("got %s, want %s", g, want);
	}
	json_decref(w);
	json_decref(got);
}

static void test_add_params(void **state)
{
	assert_json(
		params_ok(false, "b", "-e", "@daily", "--", "ls", "-l", NULL),
		"{\"name\": \"b\", \"schedule\": \"@daily\", \"kind\": "
		"\"exec\", \"args\": {\"argv\": [\"ls\", \"-l\"]}}");
	/* Without a command the kind is still exec by default. */
	assert_json(params_ok(false, "b", "-e", "@daily", "--args",
			      "{\"command\": \"echo hi | wc\"}", NULL),
		    "{\"name\": \"b\", \"schedule\": \"@daily\", \"kind\": "
		    "\"exec\", \"args\": {\"command\": \"echo hi | wc\"}}");
	/* Every option, and --args merged with the command. */
	assert_json(params_ok(false, "b", "-e", "every 30s", "--tz", "UTC",
			      "--overlap", "queue", "--catchup", "all",
			      "--timeout", "1h30m", "--retries", "3",
			      "--backoff", "90s", "--jitter", "2d", "--paused",
			      "--args", "{\"cwd\": \"/tmp\"}", "--", "/bin/x",
			      NULL),
		    "{\"name\": \"b\", \"schedule\": \"every 30s\", \"tz\": "
		    "\"UTC\", \"overlap\": \"queue\", \"catchup\": \"all\", "
		    "\"timeout_ms\": 5400000, \"retries\": 3, "
		    "\"retry_backoff_ms\": 90000, \"jitter_ms\": 172800000, "
		    "\"state\": \"paused\", \"kind\": \"exec\", \"args\": "
		    "{\"cwd\": \"/tmp\", \"argv\": [\"/bin/x\"]}}");
	assert_json(params_ok(false, "b", "-e", "@daily", "--kind", "sql",
			      "--args", "{\"query\": \"x\"}", NULL),
		    "{\"name\": \"b\", \"schedule\": \"@daily\", \"kind\": "
		    "\"sql\", \"args\": {\"query\": \"x\"}}");
	/* edit: only what is given. */
	assert_json(params_ok(true, "b", "--timeout", "0s", NULL),
		    "{\"name\": \"b\", \"timeout_ms\": 0}");
	assert_json(params_ok(true, "b", "--", "echo", "x", NULL),
		    "{\"name\": \"b\", \"kind\": \"exec\", \"args\": "
		    "{\"argv\": [\"echo\", \"x\"]}}");

	params_bad(false, "-e EXPR", "b", "--", "ls", NULL);
	params_bad(true, "nothing to change", "b", NULL);
	params_bad(false, "followed by a command", "b", "-e", "@daily", "--",
		   NULL);
	params_bad(false, "--kind exec", "b", "-e", "@daily", "--kind", "sql",
		   "--", "ls", NULL);
	params_bad(false, "not both", "b", "-e", "@daily", "--args",
		   "{\"command\": \"ls\"}", "--", "ls", NULL);
	params_bad(false, "JSON object", "b", "-e", "@daily", "--args", "[1]",
		   NULL);
	params_bad(false, "JSON object", "b", "-e", "@daily", "--args", "{",
		   NULL);
	params_bad(false, "JSON object", "b", "-e", "@daily", "--args",
		   "{\"a\": 1, \"a\": 2}", NULL);
	params_bad(false, "--timeout 5x", "b", "-e", "@daily", "--timeout",
		   "5x", NULL);
	params_bad(false, "--retries", "b", "-e", "@daily", "--retries", "-1",
		   NULL);
	params_bad(false, "skip, allow, queue or replace", "b", "-e", "@daily",
		   "--overlap", "never", NULL);
	params_bad(true, "once, skip or all", "b", "--catchup", "twice", NULL);
}

/* ---- Exit statuses and the table ---- */

static void test_error_status(void **state)
{
	assert_int_equal(client_error_status(LOOPD_E_PERMISSION_DENIED),
			 LC_EXIT_DENIED);
	assert_int_equal(client_error_status(LOOPD_E_NO_SUCH_JOB),
			 LC_EXIT_NO_SUCH);
	assert_int_equal(client_error_status(LOOPD_E_NO_SUCH_RUN),
			 LC_EXIT_NO_SUCH);
	assert_int_equal(client_error_status(LOOPD_E_NO_SUCH_PLUGIN),
			 LC_EXIT_NO_SUCH);
	assert_int_equal(client_error_status(LOOPD_E_DAEMON_BUSY),
			 LC_EXIT_FAILED);
	assert_int_equal(client_error_status(LOOPD_E_JOB_EXISTS),
			 LC_EXIT_FAILED);
	assert_int_equal(client_error_status(LOOPD_E_INVALID_SCHEDULE),
			 LC_EXIT_FAILED);
	assert_int_equal(client_error_status(LOOPD_E_METHOD_NOT_FOUND),
			 LC_EXIT_FAILED);
	assert_int_equal(client_error_status("com.example.Whatever"),
			 LC_EXIT_FAILED);
	assert_int_equal(client_error_status(""), LC_EXIT_FAILED);
}

static void test_cmd_table(void **state)
{
	/* CLI.md's commands, each once. */
	static const char *const cli[] = {
		"status", "stats",   "jobs",   "show",     "add",  "edit",
		"rm",     "pause",   "resume", "run",      "runs", "output",
		"next",   "plugins", "events", "shutdown", "call", "completion",
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cli) / sizeof(cli[0]); i++)
		if (!cmd_find(cli[i]))
			fail_msg("no command %s", cli[i]);
	for (const struct cmd_entry *const *e = cmd_table; *e; e++, n++) {
		assert_non_null((*e)->name);
		assert_non_null((*e)->usage);
		assert_non_null((*e)->summary);
		assert_non_null((*e)->exec);
		assert_ptr_equal(cmd_find((*e)->name), *e);
		assert_true((*e)->max_args < 0 ||
			    (*e)->max_args >= (*e)->min_args);
		for (const struct cmd_opt *o = (*e)->opts; o && o->name; o++) {
			assert_non_null(o->help);
			/* No command option hides a global one. */
			for (const struct cmd_opt *g = cmd_global_opts; g->name;
			     g++) {
				assert_string_not_equal(o->name, g->name);
				assert_true(!o->short_name ||
					    o->short_name != g->short_name);
			}
		}
	}
	assert_true(n >= sizeof(cli) / sizeof(cli[0]));
	assert_null(cmd_find("nope"));
	assert_non_null(
		strstr(completion_bash, "complete -F _loopctl loopctl"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_count),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_zone_load),
		cmocka_unit_test(test_fmt_rfc3339),
		cmocka_unit_test(test_fmt_relative),
		cmocka_unit_test(test_fmt_timestamp),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test(test_fmt_span_bytes),
		cmocka_unit_test(test_result_color),
		cmocka_unit_test(test_jget),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_jobs_table),
		cmocka_unit_test(test_runs_table),
		cmocka_unit_test(test_args_add),
		cmocka_unit_test(test_args_other),
		cmocka_unit_test(test_add_params),
		cmocka_unit_test(test_error_status),
		cmocka_unit_test(test_cmd_table),
	};

	set_tz("UTC");
	return cmocka_run_group_tests(tests, NULL, NULL);
}

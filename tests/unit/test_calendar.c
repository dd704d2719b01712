/*
 * test_calendar.c - calendar.c and tzfile.c: grammar tables (accepted with
 * their first fire time, refused with the field and position at fault),
 * Vixie's day rule, the extensions, macros, every, at, time and duration
 * parsing, zones checked against glibc, hand-checked daylight-saving cases
 * in three zones, and a reference model: seeded random expressions whose
 * fire times over a window are compared with a brute-force stepper that
 * walks the wall clock (glibc's offsets, its own reading of the text).
 *
 * The seed is printed; LOOPD_TEST_SEED=N reproduces a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testseed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calendar.h"
#include "tzfile.h"

#define USEC 1000000LL

static unsigned seed;

/* ---- Helpers ---- */

static struct tz_zone *zone(const char *name)
{
	char err[CAL_ERR_MAX];
	struct tz_zone *z = NULL;

	int rc = tz_zone_load(name, &z, err, sizeof(err));
	if (rc < 0)
		fail_msg("zone %s: %s", name ? name : "(local)", err);
	return z;
}

static struct cal_expr *parse_ok(const char *text)
{
	char err[CAL_ERR_MAX];
	struct cal_expr *e = NULL;

	if (cal_parse(text, &e, err, sizeof(err)) < 0)
		fail_msg("\"%s\" refused: %s", text, err);
	return e;
}

static int64_t when(const char *text, const struct tz_zone *z)
{
	char err[CAL_ERR_MAX];
	int64_t t = 0;

	if (cal_parse_time(text, z, &t, err, sizeof(err)) < 0)
		fail_msg("time \"%s\": %s", text, err);
	return t;
}

static const char *fmt(int64_t t, const struct tz_zone *z, char buf[40])
{
	if (t == CAL_NEVER)
		return "never";
	assert_int_equal(cal_format_time(t, z, buf, 40), 0);
	return buf;
}

/*
 * Checks the fire times after `from` (wall time in zone) against a list
 * of RFC 3339 strings, ending with "never" when the series ends.
 */
static void expect_series(const char *expr, const char *zname, const char *from,
			  ...)
{
	struct tz_zone *z = zone(zname);
	struct cal_expr *e = parse_ok(expr);
	int64_t t = when(from, z);
	const char *want;
	char buf[40];
	va_list ap;

	va_start(ap, from);
	while ((want = va_arg(ap, const char *))) {
		t = cal_next(e, z, 0, t);
		const char *got = fmt(t, z, buf);
		if (strcmp(got, want) != 0)
			fail_msg("%s in %s from %s: got %s, want %s", expr,
				 zname, from, got, want);
		if (t == CAL_NEVER)
			break;
	}
	va_end(ap);
	cal_expr_free(e);
	tz_zone_unref(z);
}

/* ---- Grammar ---- */

struct accept_case {
	const char *expr, *first; /* first fire after 2026-01-01 00:00 UTC */
};

static const struct accept_case accepts[] = {
	{ "*/15 9-17 * * mon-fri", "2026-01-01T09:00:00+00:00" },
	{ "30 */5 * * * *", "2026-01-01T00:00:30+00:00" },
	{ "5/10 * * * *", "2026-01-01T00:05:00+00:00" },
	{ "1-30/5 * * * *", "2026-01-01T00:01:00+00:00" },
	{ "0,30 * * * *", "2026-01-01T00:30:00+00:00" },
	{ "0 0 * * 7", "2026-01-04T00:00:00+00:00" },
	{ "0 0 * * 0", "2026-01-04T00:00:00+00:00" },
	{ "0 0 * * SUN", "2026-01-04T00:00:00+00:00" },
	{ "0 0 * * Sun", "2026-01-04T00:00:00+00:00" },
	{ "0 0 * * fri-sun", "2026-01-02T00:00:00+00:00" },
	{ "0 0 * * sat-7", "2026-01-03T00:00:00+00:00" },
	{ "0 12 * * 1/2", "2026-01-02T12:00:00+00:00" },
	{ "0 12 * * */3", "2026-01-03T12:00:00+00:00" },
	{ "0 0 1 JAN-mar *", "2026-02-01T00:00:00+00:00" },
	{ "0 0 1 feb,Apr *", "2026-02-01T00:00:00+00:00" },
	{ "0 0 1 */5 *", "2026-06-01T00:00:00+00:00" },
	{ "  */5\t*  * * *  ", "2026-01-01T00:05:00+00:00" },
	{ "59 23 31 12 *", "2026-12-31T23:59:00+00:00" },
	{ "0-59/30 0-23/12 1-31/15 1-12/6 0-7/7", "2026-01-01T00:30:00+00:00" },
	{ "0 0 L 2 *", "2026-02-28T00:00:00+00:00" },
	{ "0 0 l * *", "2026-01-31T00:00:00+00:00" },
	{ "0 0 1,L * *", "2026-01-31T00:00:00+00:00" },
	{ "0 9 1W 8 *", "2026-08-03T09:00:00+00:00" }, /* Sat 1st -> Mon 3rd */
	{ "0 9 31W 5 *",
	  "2026-05-29T09:00:00+00:00" }, /* Sun 31st -> Fri 29th */
	{ "0 9 15W 8 *", "2026-08-14T09:00:00+00:00" },    /* Sat -> Fri */
	{ "0 9 15W 2 *", "2026-02-16T09:00:00+00:00" },    /* Sun -> Mon */
	{ "0 9 15w 4 *", "2026-04-15T09:00:00+00:00" },    /* a weekday */
	{ "0 9 1W,15W 3 *", "2026-03-02T09:00:00+00:00" }, /* Sun 1st -> Mon */
	{ "0 9 * * 5#2", "2026-01-09T09:00:00+00:00" },
	{ "0 9 * * fri#5", "2026-01-30T09:00:00+00:00" },
	{ "0 9 * * 1#5", "2026-03-30T09:00:00+00:00" },
	{ "0 9 * * 7#1", "2026-01-04T09:00:00+00:00" },
	{ "0 9 * * 5L", "2026-01-30T09:00:00+00:00" },
	{ "0 9 * * friL", "2026-01-30T09:00:00+00:00" },
	{ "0 9 * * 0L", "2026-01-25T09:00:00+00:00" },
	{ "0 9 * * 1#1,5L", "2026-01-05T09:00:00+00:00" },
	{ "0 0 29 2 *", "2028-02-29T00:00:00+00:00" },
	{ "0 0 31 * *", "2026-01-31T00:00:00+00:00" },
	{ "0 0 * 2 5#5", "2036-02-29T00:00:00+00:00" },
	{ "@yearly", "2027-01-01T00:00:00+00:00" },
	{ "@annually", "2027-01-01T00:00:00+00:00" },
	{ "@monthly", "2026-02-01T00:00:00+00:00" },
	{ "@weekly", "2026-01-04T00:00:00+00:00" },
	{ "@daily", "2026-01-02T00:00:00+00:00" },
	{ "@midnight", "2026-01-02T00:00:00+00:00" },
	{ "@hourly", "2026-01-01T01:00:00+00:00" },
	{ "@HOURLY", "2026-01-01T01:00:00+00:00" },
	{ "every 30s", "2026-01-01T00:00:30+00:00" },
	{ "Every 1h30m", "2026-01-01T01:30:00+00:00" },
	{ "every 2d", "2026-01-03T00:00:00+00:00" },
	{ "at 2026-12-24 18:00", "2026-12-24T18:00:00+00:00" },
	{ "at 2026-12-24 18:00:30", "2026-12-24T18:00:30+00:00" },
	{ "at 2026-12-24T17:00:00Z", "2026-12-24T17:00:00+00:00" },
	{ "at 2026-12-24T18:00:00+01:00", "2026-12-24T17:00:00+00:00" },
	{ "AT 2026-12-24t17:00:00.5z", "2026-12-24T17:00:00+00:00" },
	{ "@reboot", "never" },
	{ "at 2025-12-31 23:59:59", "never" },
};

static void test_grammar_accept(void **state)
{
	const int64_t start = 1767225600LL * USEC; /* 2026-01-01 00:00 UTC */
	char buf[40];

	(void)state;
	for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
		struct cal_expr *e = parse_ok(accepts[i].expr);
		const char *got =
			fmt(cal_next(e, NULL, start, start), NULL, buf);
		if (strcmp(got, accepts[i].first) != 0)
			fail_msg("\"%s\": got %s, want %s", accepts[i].expr,
				 got, accepts[i].first);
		cal_expr_free(e);
	}
}

struct reject_case {
	const char *expr, *where;
	int pos;
};

static const struct reject_case rejects[] = {
	{ "", "expression", 1 },
	{ "   ", "expression", 4 },
	{ "* * * *", "expression", 8 },
	{ "* * * * * * *", "expression", 13 },
	{ "30 24 * * *", "hour field", 4 },
	{ "60 * * * *", "minute field", 1 },
	{ "60 * * * * *", "second field", 1 },
	{ "* * 0 * *", "day-of-month field", 5 },
	{ "* * 32 * *", "day-of-month field", 5 },
	{ "* * * 13 *", "month field", 7 },
	{ "* * * 0 *", "month field", 7 },
	{ "* * * * 8", "day-of-week field", 9 },
	{ "* * * foo *", "month field", 7 },
	{ "* * * * mon-foo", "day-of-week field", 13 },
	{ "* * * * monday", "day-of-week field", 9 },
	{ "* * * mon *", "month field", 7 },
	{ "* * jan * *", "day-of-month field", 5 },
	{ "*/0 * * * *", "minute field", 3 },
	{ "*/61 * * * *", "minute field", 3 },
	{ "5-1 * * * *", "minute field", 1 },
	{ "1,,2 * * * *", "minute field", 3 },
	{ "1, * * * *", "minute field", 3 },
	{ ",1 * * * *", "minute field", 1 },
	{ "1-2-3 * * * *", "minute field", 4 },
	{ "*-5 * * * *", "minute field", 2 },
	{ "a * * * *", "minute field", 1 },
	{ "1/ * * * *", "minute field", 3 },
	{ "1/x * * * *", "minute field", 3 },
	{ "0 9 * * 5#6", "day-of-week field", 11 },
	{ "0 9 * * 5#0", "day-of-week field", 11 },
	{ "0 9 * * 5#", "day-of-week field", 11 },
	{ "0 9 * * 1#2#3", "day-of-week field", 12 },
	{ "0 9 * * L", "day-of-week field", 9 },
	{ "0 9 * * 5W", "day-of-week field", 10 },
	{ "0 9 1-5W * *", "day-of-month field", 8 },
	{ "0 9 L-2 * *", "day-of-month field", 5 },
	{ "0 9 LW * *", "day-of-month field", 5 },
	{ "0 9 5L * *", "day-of-month field", 6 },
	{ "0 9 5#1 * *", "day-of-month field", 6 },
	{ "0 9 * 2#1 *", "month field", 8 },
	{ "* * * * * *x", "day-of-week field", 12 },
	{ "* * * * * \x01", "day-of-week field", 11 },
	{ "0 0 30 2 *", "day-of-month field", 5 },
	{ "0 0 31 4 *", "day-of-month field", 5 },
	{ "0 0 31 4,6,9,11 *", "day-of-month field", 5 },
	{ "0 0 30W 2 *", "day-of-month field", 5 },
	{ "0 0 */31 2 5#5", "day-of-week field", 12 },
	{ "@foo", "macro", 1 },
	{ "@daily x", "macro", 8 },
	{ "@", "macro", 1 },
	{ "every", "interval", 6 },
	{ "every 0s", "interval", 7 },
	{ "every 500ms", "interval", 7 },
	{ "every 5x", "interval", 8 },
	{ "every 5m1h", "interval", 10 },
	{ "every 30", "interval", 9 },
	{ "every 1h 30m", "interval", 9 },
	{ "at", "time", 3 },
	{ "at 2026-13-01 00:00", "time", 9 },
	{ "at 2026-02-30 00:00", "time", 12 },
	{ "at 2026-12-24 24:00", "time", 15 },
	{ "at 2026-12-24", "time", 14 },
	{ "at 2026-12-24 18:00 tomorrow", "time", 20 },
	{ "at 2026-12-24T17:00:00+25:00", "time", 24 },
	{ "at 26-12-24 18:00", "time", 6 },
	{ "at 0000-01-01 00:00", "time", 4 },
};

static void test_grammar_reject(void **state)
{
	char err[CAL_ERR_MAX], want_where[64], want_pos[32];
	struct cal_expr *e;

	(void)state;
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct reject_case *c = &rejects[i];
		e = (struct cal_expr *)1;
		int rc = cal_parse(c->expr, &e, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("\"%s\": rc %d, want -EINVAL", c->expr, rc);
		assert_null(e);
		snprintf(want_where, sizeof(want_where), "%s: ", c->where);
		snprintf(want_pos, sizeof(want_pos), " at position %d", c->pos);
		size_t el = strlen(err), pl = strlen(want_pos);
		if (strncmp(err, want_where, strlen(want_where)) != 0 ||
		    el < pl || strcmp(err + el - pl, want_pos) != 0)
			fail_msg("\"%s\": got \"%s\", want \"%s...%s\"",
				 c->expr, err, want_where, want_pos);
	}
}

static void test_error_messages(void **state)
{
	char err[CAL_ERR_MAX], small[12];
	struct cal_expr *e;

	(void)state;
	assert_int_equal(cal_parse("30 24 * * *", &e, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(
		err, "hour field: value 24 out of range 0-23 at position 4");
	assert_int_equal(cal_parse("0 0 30 2 *", &e, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "never fire"));
	/* A short buffer is truncated, never overrun; NULL is allowed. */
	assert_int_equal(cal_parse("30 24 * * *", &e, small, sizeof(small)),
			 -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(cal_parse("30 24 * * *", &e, NULL, 0), -EINVAL);
	char big[2000];
	memset(big, '*', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cal_parse(big, &e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 1024"));
}

static void test_kinds(void **state)
{
	struct cal_expr *e;

	(void)state;
	e = parse_ok("@reboot");
	assert_int_equal(cal_expr_kind(e), CAL_REBOOT);
	assert_true(cal_expr_at_reboot(e));
	assert_int_equal(cal_next(e, NULL, 0, 0), CAL_NEVER);
	cal_expr_free(e);
	e = parse_ok("every 1h30m");
	assert_int_equal(cal_expr_kind(e), CAL_EVERY);
	assert_false(cal_expr_at_reboot(e));
	assert_int_equal(cal_expr_interval_ms(e), 5400000);
	cal_expr_free(e);
	e = parse_ok("at 2026-12-24 18:00");
	assert_int_equal(cal_expr_kind(e), CAL_AT);
	assert_int_equal(cal_expr_interval_ms(e), 0);
	cal_expr_free(e);
	e = parse_ok("@daily");
	assert_int_equal(cal_expr_kind(e), CAL_CRON);
	cal_expr_free(e);
	cal_expr_free(NULL);
}

/* The years 0001-9999, and absurd inputs, end in "never", not a hang. */
static void test_limits(void **state)
{
	struct tz_zone *z = zone("Australia/Lord_Howe");
	struct cal_expr *e = parse_ok("0 0 1 1 *");
	char buf[40];

	(void)state;
	assert_string_equal(
		fmt(cal_next(e, z, 0, when("9998-06-01 00:00", z)), z, buf),
		"9999-01-01T00:00:00+11:00");
	assert_int_equal(cal_next(e, z, 0, when("9999-06-01 00:00", z)),
			 CAL_NEVER);
	assert_int_equal(cal_next(e, z, 0, INT64_MAX), CAL_NEVER);
	assert_int_equal(cal_next(e, NULL, 0, INT64_MAX), CAL_NEVER);
	int64_t t = cal_next(e, NULL, 0, INT64_MIN);
	assert_string_equal(fmt(t, NULL, buf), "0002-01-01T00:00:00+00:00");
	cal_expr_free(e);
	e = parse_ok("* * * * * *");
	assert_int_equal(cal_next(e, z, 0, when("9999-12-31 23:59:59", z)),
			 CAL_NEVER);
	cal_expr_free(e);
	tz_zone_unref(z);
}

/* ---- Day rules and extensions ---- */

static void test_vixie_day_rule(void **state)
{
	(void)state;
	/* Both restricted: either matches (Jan 3 is a Saturday). */
	expect_series("0 0 13 * 0,2,4,6", "UTC", "2026-01-01 00:00",
		      "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
		      "2026-01-06T00:00:00+00:00", "2026-01-08T00:00:00+00:00",
		      "2026-01-10T00:00:00+00:00", "2026-01-11T00:00:00+00:00",
		      "2026-01-13T00:00:00+00:00", NULL);
	/* The day of week starts with '*': both must match. */
	expect_series("0 0 13 * */2", "UTC", "2026-01-01 00:00",
		      "2026-01-13T00:00:00+00:00", "2026-06-13T00:00:00+00:00",
		      NULL);
	/* The day of month starts with '*' (a step): both must match. */
	expect_series("0 0 */13 * 5", "UTC", "2026-01-01 00:00",
		      "2026-02-27T00:00:00+00:00", "2026-03-27T00:00:00+00:00",
		      "2026-05-01T00:00:00+00:00", "2026-08-14T00:00:00+00:00",
		      NULL);
	/* "1-31" is restricted although it means every day: either matches. */
	expect_series("0 0 1-31 * 5", "UTC", "2026-01-01 00:00",
		      "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00",
		      NULL);
	/* Friday the 13th needs both. */
	expect_series("0 0 */1 * 5", "UTC", "2026-01-01 00:00",
		      "2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
		      NULL);
	expect_series("0 0 13 * fri", "UTC", "2026-01-01 00:00",
		      "2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
		      "2026-01-13T00:00:00+00:00", NULL);
	/* Specials are day sets like any other: 15W or the last Friday. */
	expect_series("0 9 15W * 5L", "UTC", "2026-08-01 00:00",
		      "2026-08-14T09:00:00+00:00", "2026-08-28T09:00:00+00:00",
		      "2026-09-15T09:00:00+00:00", "2026-09-25T09:00:00+00:00",
		      NULL);
	expect_series("0 9 * * 5#2", "UTC", "2026-01-01 00:00",
		      "2026-01-09T09:00:00+00:00", "2026-02-13T09:00:00+00:00",
		      "2026-03-13T09:00:00+00:00", NULL);
}

static void test_extensions(void **state)
{
	(void)state;
	expect_series("0 0 L * *", "UTC", "2027-12-31 12:00",
		      "2028-01-31T00:00:00+00:00", "2028-02-29T00:00:00+00:00",
		      "2028-03-31T00:00:00+00:00", "2028-04-30T00:00:00+00:00",
		      NULL);
	/* W never leaves the month: 1st on a Saturday goes to Monday 3rd. */
	expect_series("0 9 1W * *", "UTC", "2026-07-31 00:00",
		      "2026-08-03T09:00:00+00:00", "2026-09-01T09:00:00+00:00",
		      NULL);
	/* 31W only in months with a 31st; a Sunday 31st goes back to Friday. */
	expect_series("0 9 31W * *", "UTC", "2026-04-01 00:00",
		      "2026-05-29T09:00:00+00:00", "2026-07-31T09:00:00+00:00",
		      "2026-08-31T09:00:00+00:00", NULL);
	/* The 5th Monday exists only in some months. */
	expect_series("0 9 * * 1#5", "UTC", "2026-01-01 00:00",
		      "2026-03-30T09:00:00+00:00", "2026-06-29T09:00:00+00:00",
		      "2026-08-31T09:00:00+00:00", NULL);
	expect_series("0 9 * * 0L", "UTC", "2026-01-01 00:00",
		      "2026-01-25T09:00:00+00:00", "2026-02-22T09:00:00+00:00",
		      "2026-03-29T09:00:00+00:00", NULL);
	expect_series("0 0 29 2 *", "UTC", "2096-03-01 00:00",
		      "2104-02-29T00:00:00+00:00", NULL);
	expect_series("0 0 0 29 2 *", "UTC", "2028-02-29 00:00",
		      "2032-02-29T00:00:00+00:00", NULL);
}

static void test_every(void **state)
{
	struct cal_expr *e = parse_ok("every 30s");
	const int64_t a = 1767225600LL * USEC + 123456; /* not on a second */

	(void)state;
	assert_int_equal(cal_next(e, NULL, a, a), a + 30 * USEC);
	assert_int_equal(cal_next(e, NULL, a, a - 100 * USEC), a + 30 * USEC);
	assert_int_equal(cal_next(e, NULL, a, a + 29 * USEC), a + 30 * USEC);
	assert_int_equal(cal_next(e, NULL, a, a + 30 * USEC), a + 60 * USEC);
	/* Late runs do not shift the rate: still on the anchor's grid. */
	assert_int_equal(cal_next(e, NULL, a, a + 3617 * USEC),
			 a + 3630 * USEC);
	assert_int_equal(cal_next(e, NULL, a, INT64_MAX - 1), CAL_NEVER);
	assert_int_equal(cal_next(e, NULL, INT64_MIN + 1, INT64_MAX - 1),
			 CAL_NEVER);
	cal_expr_free(e);
	e = parse_ok("every 2d");
	assert_int_equal(cal_next(e, NULL, a, a), a + 172800 * USEC);
	cal_expr_free(e);
	/* A zone does not matter: the rate is in real time across DST. */
	struct tz_zone *z = zone("Europe/Berlin");
	e = parse_ok("every 1h");
	int64_t t = when("2026-03-29 01:30", z);
	char buf[40];
	assert_string_equal(fmt(cal_next(e, z, t, t), z, buf),
			    "2026-03-29T03:30:00+02:00");
	cal_expr_free(e);
	tz_zone_unref(z);
}

static void test_at(void **state)
{
	struct tz_zone *z = zone("Europe/Berlin");
	char buf[40];

	(void)state;
	struct cal_expr *e = parse_ok("at 2026-12-24 18:00");
	int64_t t0 = when("2026-01-01 00:00", z);
	assert_string_equal(fmt(cal_next(e, z, 0, t0), z, buf),
			    "2026-12-24T18:00:00+01:00");
	/* The same text means another instant in another zone. */
	assert_string_equal(fmt(cal_next(e, NULL, 0, t0), NULL, buf),
			    "2026-12-24T18:00:00+00:00");
	int64_t t = cal_next(e, z, 0, t0);
	assert_int_equal(cal_next(e, z, 0, t), CAL_NEVER);
	assert_int_equal(cal_next(e, z, 0, t - 1), t);
	cal_expr_free(e);
	e = parse_ok("at 2026-12-24T17:00:00Z");
	assert_string_equal(fmt(cal_next(e, z, 0, t0), z, buf),
			    "2026-12-24T18:00:00+01:00");
	assert_int_equal(cal_next(e, z, 0, t0), cal_next(e, NULL, 0, t0));
	cal_expr_free(e);
	e = parse_ok("at 2026-12-24T12:00:00-05:00");
	assert_string_equal(fmt(cal_next(e, z, 0, t0), z, buf),
			    "2026-12-24T18:00:00+01:00");
	cal_expr_free(e);
	/* Wall times follow the fixed-time rules: gap -> after it, fold -> first. */
	expect_series("at 2026-03-29 02:30", "Europe/Berlin",
		      "2026-03-01 00:00", "2026-03-29T03:00:00+02:00", "never",
		      NULL);
	expect_series("at 2026-10-25 02:30", "Europe/Berlin",
		      "2026-10-01 00:00", "2026-10-25T02:30:00+02:00", "never",
		      NULL);
	tz_zone_unref(z);
}

static void test_parse_time(void **state)
{
	struct tz_zone *ber = zone("Europe/Berlin");
	char err[CAL_ERR_MAX], buf[40];
	int64_t t;

	(void)state;
	assert_int_equal(when("2026-12-24T17:00:00Z", NULL),
			 1798131600LL * USEC);
	assert_int_equal(when("2026-12-24 18:00", ber), 1798131600LL * USEC);
	assert_int_equal(when("2026-12-24 18:00:00", ber), 1798131600LL * USEC);
	assert_int_equal(when("2026-12-24T18:00:00+01:00", NULL),
			 1798131600LL * USEC);
	assert_int_equal(when(" 2026-12-24 17:00:00.000001Z ", ber),
			 1798131600LL * USEC + 1);
	assert_int_equal(when("1969-12-31T23:59:59Z", NULL), -USEC);
	assert_int_equal(when("0001-01-01T00:00:00Z", NULL),
			 -62135596800LL * USEC);
	assert_string_equal(fmt(when("2026-03-29 02:30", ber), ber, buf),
			    "2026-03-29T03:00:00+02:00");
	assert_string_equal(fmt(when("2026-10-25 02:30", ber), ber, buf),
			    "2026-10-25T02:30:00+02:00");
	assert_int_equal(
		cal_parse_time("2026-12-24", ber, &t, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(
		err, "time: unexpected end, expected ' ' at position 11");
	assert_int_equal(
		cal_parse_time("2026-12-24 18:60", ber, &t, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err,
			    "time: minute 60 out of range 0-59 at position 15");
	assert_int_equal(
		cal_parse_time("2027-02-29 00:00", ber, &t, err, sizeof(err)),
		-EINVAL);
	assert_string_equal(err,
			    "time: day 29 out of range 1-28 at position 9");
	assert_int_equal(cal_parse_time("2026-12-24T17:00:00Zx", ber, &t, err,
					sizeof(err)),
			 -EINVAL);
	assert_int_equal(cal_parse_time("2026-12-24T17:00:00.Z", ber, &t, err,
					sizeof(err)),
			 -EINVAL);
	tz_zone_unref(ber);
}

static void test_format_time(void **state)
{
	struct tz_zone *ny = zone("America/New_York"),
		       *lh = zone("Australia/Lord_Howe");
	char buf[40];

	(void)state;
	assert_string_equal(fmt(0, NULL, buf), "1970-01-01T00:00:00+00:00");
	assert_string_equal(fmt(-1, NULL, buf), "1969-12-31T23:59:59+00:00");
	assert_string_equal(fmt(1798131600LL * USEC + 999999, ny, buf),
			    "2026-12-24T12:00:00-05:00");
	assert_string_equal(fmt(1798131600LL * USEC, lh, buf),
			    "2026-12-25T04:00:00+11:00");
	assert_string_equal(fmt(1782000000LL * USEC, lh, buf),
			    "2026-06-21T10:30:00+10:30");
	assert_int_equal(cal_format_time(0, NULL, buf, 25), -ENOSPC);
	assert_int_equal(cal_format_time(253402300800LL * USEC, NULL, buf, 40),
			 -ERANGE);
	assert_int_equal(cal_format_time(INT64_MIN, NULL, buf, 40), -ERANGE);
	tz_zone_unref(ny);
	tz_zone_unref(lh);
}

static void test_duration(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {
		{ "90s", 90000 },
		{ "5m", 300000 },
		{ "1h30m", 5400000 },
		{ "2d", 172800000 },
		{ "1500ms", 1500 },
		{ "0s", 0 },
		{ "1d2h3m4s5ms", 93784005 },
		{ " 7s ", 7000 },
		{ "100000d", 8640000000000 },
	};
	static const struct {
		const char *text;
		int rc, pos;
	} bad[] = {
		{ "", -EINVAL, 1 },
		{ "5", -EINVAL, 2 },
		{ "m", -EINVAL, 1 },
		{ "5m1h", -EINVAL, 4 },
		{ "5mm", -EINVAL, 2 },
		{ "1h 30m", -EINVAL, 3 },
		{ "1s1s", -EINVAL, 4 },
		{ "-5s", -EINVAL, 1 },
		{ "5S", -EINVAL, 2 },
		{ "99999999999999999999s", -ERANGE, 1 },
		{ "9999999999999999d", -ERANGE, 1 },
	};
	char err[CAL_ERR_MAX], pos[32];
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (cal_parse_duration(ok[i].text, &ms, err, sizeof(err)) < 0)
			fail_msg("\"%s\": %s", ok[i].text, err);
		assert_int_equal(ms, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = cal_parse_duration(bad[i].text, &ms, err, sizeof(err));
		snprintf(pos, sizeof(pos), "at position %d", bad[i].pos);
		if (rc != bad[i].rc || strncmp(err, "duration: ", 10) != 0 ||
		    !strstr(err, pos))
			fail_msg("\"%s\": rc %d \"%s\", want %d %s",
				 bad[i].text, rc, err, bad[i].rc, pos);
	}
}

/* ---- Zones ---- */

static void test_zone_load(void **state)
{
	char err[CAL_ERR_MAX];
	struct tz_zone *z;

	(void)state;
	z = zone("Europe/Berlin");
	assert_string_equal(tz_zone_name(z), "Europe/Berlin");
	assert_ptr_equal(tz_zone_ref(z), z);
	tz_zone_unref(z);
	tz_zone_unref(z);
	z = zone("UTC");
	assert_ptr_equal(z, tz_utc());
	tz_zone_unref(z);
	z = zone(NULL); /* the local zone */
	assert_non_null(z);
	tz_zone_unref(z);
	z = zone("");
	tz_zone_unref(z);
	static const struct {
		const char *name;
		int rc;
	} bad[] = {
		{ "../../etc/passwd", -EINVAL },
		{ "/etc/passwd", -EINVAL },
		{ "Europe/../Europe/Berlin", -EINVAL },
		{ "Europe/Berlin/", -EINVAL },
		{ "Europe/Ber lin", -EINVAL },
		{ "No/Such_Zone", -ENOENT },
		{ "Europe", -ENOENT },
		{ "zone1970.tab", -EINVAL },
		{ "Europe/Berlin/x", -ENOENT },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		z = (struct tz_zone *)1;
		int rc = tz_zone_load(bad[i].name, &z, err, sizeof(err));
		if (rc != bad[i].rc)
			fail_msg("%s: rc %d (%s), want %d", bad[i].name, rc,
				 err, bad[i].rc);
		assert_null(z);
		assert_true(strlen(err) > 0);
	}
}

static int32_t glibc_offset(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	return (int32_t)tm.tm_gmtoff;
}

static void use_glibc_zone(const char *name)
{
	setenv("TZ", name, 1);
	tzset();
}

/* Offsets and spans agree with glibc, in and past the TZif table. */
static void test_zone_vs_glibc(void **state)
{
	static const char *const zones[] = {
		"Europe/Berlin",     "America/New_York", "Australia/Lord_Howe",
		"America/Sao_Paulo", "Asia/Kolkata",     "Pacific/Chatham",
		"Europe/Dublin",     "Antarctica/Troll", "Africa/Casablanca",
	};
	unsigned r = seed;

	(void)state;
	for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++) {
		struct tz_zone *z = zone(zones[k]);
		use_glibc_zone(zones[k]);
		for (int i = 0; i < 20000; i++) {
			/* 1901..2200: the table and the footer rule. */
			int64_t t = -2100000000LL +
				    (int64_t)(rand_r(&r) % 9500) * 1000000 +
				    rand_r(&r) % 1000000;
			struct tz_span s;
			tz_span_at(z, t, &s);
			if (s.off != glibc_offset(t))
				fail_msg("%s at %lld: %d, glibc %d", zones[k],
					 (long long)t, s.off, glibc_offset(t));
			assert_true(s.start <= t && t < s.end);
			if (s.start != INT64_MIN) {
				assert_int_equal(glibc_offset(s.start - 1),
						 s.prev_off);
				assert_int_equal(glibc_offset(s.start), s.off);
			}
			if (s.end != INT64_MAX)
				assert_int_equal(glibc_offset(s.end - 1),
						 s.off);
		}
		tz_zone_unref(z);
	}
	unsetenv("TZ");
	tzset();
}

static void test_zone_posix_rules(void **state)
{
	static const struct {
		const char *rule, *file;
	} pairs[] = {
		{ "CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Berlin" },
		{ "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		  "Australia/Lord_Howe" },
		{ "EST5EDT,M3.2.0,M11.1.0", "America/New_York" },
		{ "IST-1GMT0,M10.5.0,M3.5.0/1", "Europe/Dublin" },
	};
	char err[CAL_ERR_MAX];
	struct tz_zone *a, *b;

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		assert_int_equal(
			tz_zone_from_posix(pairs[i].rule, &a, err, sizeof(err)),
			0);
		b = zone(pairs[i].file);
		/* 2008-2300, every 6 hours and 17 minutes. */
		for (int64_t t = 1199145600; t < 10413792000; t += 22620)
			if (tz_offset_at(a, t) != tz_offset_at(b, t))
				fail_msg("%s vs %s at %lld", pairs[i].rule,
					 pairs[i].file, (long long)t);
		tz_zone_unref(a);
		tz_zone_unref(b);
	}
	/* Daylight time all year (RFC 8536's example), and no DST at all. */
	assert_int_equal(
		tz_zone_from_posix("EST5EDT,0/0,J365/25", &a, err, sizeof(err)),
		0);
	for (int64_t t = 1199145600; t < 4102444800; t += 86399)
		assert_int_equal(tz_offset_at(a, t), -4 * 3600);
	tz_zone_unref(a);
	assert_int_equal(
		tz_zone_from_posix("<+0545>-5:45", &a, err, sizeof(err)), 0);
	assert_int_equal(tz_offset_at(a, 0), 20700);
	tz_zone_unref(a);
	static const char *const bad[] = { "",
					   "C",
					   "CET",
					   "CET-1CEST,M3.5.0",
					   "CET-1CEST,M13.5.0,M10.5.0",
					   "CET-1CEST,M3.5.0,M10.5.0/3x",
					   "<A>1",
					   "CET99" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			tz_zone_from_posix(bad[i], &a, err, sizeof(err)),
			-EINVAL);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/* Truncated and corrupted files are refused or read; never a crash. */
static void test_tzif_malformed(void **state)
{
	char err[CAL_ERR_MAX];
	size_t len;
	unsigned char *buf = slurp("/usr/share/zoneinfo/Europe/Berlin", &len);
	unsigned char *copy = malloc(len);
	struct tz_zone *z;
	unsigned r = seed;

	(void)state;
	assert_non_null(copy);
	assert_int_equal(tz_zone_from_tzif(buf, len, "x", &z, err, sizeof(err)),
			 0);
	tz_zone_unref(z);
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, buf, n);
		if (tz_zone_from_tzif(copy, n, "x", &z, err, sizeof(err)) == 0)
			fail_msg("truncated to %zu bytes and accepted", n);
	}
	for (int i = 0; i < 3000; i++) {
		memcpy(copy, buf, len);
		for (int k = 0; k < 1 + i % 4; k++)
			copy[rand_r(&r) % len] ^=
				(unsigned char)(1 + rand_r(&r) % 255);
		if (tz_zone_from_tzif(copy, len, "x", &z, err, sizeof(err)) < 0)
			continue;
		for (int64_t t = -4000000000LL; t < 8000000000LL;
		     t += 86400 * 97)
			tz_local_to_utc(z, t + tz_offset_at(z, t));
		tz_zone_unref(z);
	}
	free(copy);
	free(buf);
}

/* ---- Daylight saving, hand-checked ---- */

static void test_dst_berlin(void **state)
{
	const char *B = "Europe/Berlin";

	(void)state;
	/* Fixed time in the gap: once, at the first instant after it. */
	expect_series("30 2 * * *", B, "2026-03-28 12:00",
		      "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
		      NULL);
	expect_series("0,30 2 * * *", B, "2026-03-28 12:00",
		      "2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00",
		      NULL);
	expect_series("0 30 2 * * *", B, "2026-03-28 12:00",
		      "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
		      NULL);
	expect_series("30 2,3 * * *", B, "2026-03-29 00:00",
		      "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00",
		      NULL);
	/* Fixed time in the repeated hour: the first pass only. */
	expect_series("30 2 * * *", B, "2026-10-24 12:00",
		      "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00",
		      NULL);
	expect_series("30 2 * * *", B, "2026-10-25 02:45",
		      "2026-10-26T02:30:00+01:00", NULL);
	/* Wildcard minute: gap times do not happen, repeated ones twice. */
	expect_series("*/30 * * * *", B, "2026-03-29 01:00",
		      "2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00",
		      NULL);
	expect_series("*/30 2 * * *", B, "2026-03-28 12:00",
		      "2026-03-30T02:00:00+02:00", NULL);
	expect_series("*/30 * * * *", B, "2026-10-25 01:45",
		      "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
		      "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00",
		      "2026-10-25T03:00:00+01:00", NULL);
	/* Wildcard hour (@hourly is "0 * * * *"). */
	expect_series("@hourly", B, "2026-03-29 00:30",
		      "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00",
		      NULL);
	expect_series("30 * * * *", B, "2026-10-25 02:00",
		      "2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00",
		      "2026-10-25T03:30:00+01:00", NULL);
	/* From inside the second pass, the first pass is not run again. */
	int64_t t =
		1792890000LL * USEC; /* 2026-10-25 01:00 UTC = 02:00+01:00 */
	struct tz_zone *z = zone(B);
	struct cal_expr *e = parse_ok("45 2 * * *");
	char buf[40];
	assert_string_equal(fmt(cal_next(e, z, 0, t), z, buf),
			    "2026-10-26T02:45:00+01:00");
	cal_expr_free(e);
	/* From just before the gap, a gap time is due at its end. */
	e = parse_ok("30 2 * * *");
	t = 1774746000LL * USEC - 1; /* 2026-03-29 01:00 UTC, minus 1 us */
	assert_string_equal(fmt(cal_next(e, z, 0, t), z, buf),
			    "2026-03-29T03:00:00+02:00");
	cal_expr_free(e);
	tz_zone_unref(z);
}

static void test_dst_new_york(void **state)
{
	const char *N = "America/New_York";

	(void)state;
	expect_series("30 2 * * *", N, "2026-03-07 12:00",
		      "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00",
		      NULL);
	expect_series("30 1 * * *", N, "2026-10-31 12:00",
		      "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00",
		      NULL);
	expect_series("*/20 1 * * *", N, "2026-11-01 00:30",
		      "2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00",
		      "2026-11-01T01:40:00-04:00", "2026-11-01T01:00:00-05:00",
		      "2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00",
		      "2026-11-02T01:00:00-05:00", NULL);
	expect_series("15 * * * *", N, "2026-03-08 01:00",
		      "2026-03-08T01:15:00-05:00", "2026-03-08T03:15:00-04:00",
		      NULL);
	expect_series("0 0 2 * * *", N, "2026-03-08 00:00",
		      "2026-03-08T03:00:00-04:00", NULL);
}

static void test_dst_lord_howe(void **state)
{
	const char *L = "Australia/Lord_Howe";

	(void)state;
	/* Spring: 02:00 -> 02:30 (+10:30 -> +11). */
	expect_series("15 2 * * *", L, "2026-10-03 12:00",
		      "2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00",
		      NULL);
	expect_series("45 2 * * *", L, "2026-10-03 12:00",
		      "2026-10-04T02:45:00+11:00", NULL);
	expect_series("*/15 * * * *", L, "2026-10-04 01:40",
		      "2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00",
		      NULL);
	/* Autumn: 02:00 -> 01:30 (+11 -> +10:30). */
	expect_series("45 1 * * *", L, "2026-04-04 12:00",
		      "2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30",
		      NULL);
	expect_series("*/15 * * * *", L, "2026-04-05 01:20",
		      "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00",
		      "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30",
		      "2026-04-05T02:00:00+10:30", NULL);
	/* Past the TZif table (the footer rule). */
	expect_series("15 2 * * *", L, "2090-09-30 12:00",
		      "2090-10-01T02:30:00+11:00", NULL);
}

/* ---- Threads: shared expressions and zones ---- */

struct thread_arg {
	const struct cal_expr *e;
	const struct tz_zone *z;
	int64_t sum;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	int64_t t = 1767225600LL * USEC;

	for (int i = 0; i < 20000; i++) {
		t = cal_next(a->e, a->z, 0, t);
		a->sum += t % 1000003;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct tz_zone *z = zone("Europe/Berlin");
	struct cal_expr *e = parse_ok("*/7 1-3 * * *");
	struct thread_arg args[4];
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ e, tz_zone_ref(z), 0 };
		assert_int_equal(
			pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].sum, args[0].sum);
		tz_zone_unref((struct tz_zone *)args[i].z);
	}
	cal_expr_free(e);
	tz_zone_unref(z);
}

/* ---- Reference model ---- */

/*
 * The model reads the expression text itself, item by item, with the
 * plain meaning of CLI.md's grammar, and walks the wall clock one step
 * (second or minute) at a time with glibc's offsets and gmtime_r.  It
 * shares no code with calendar.c or tzfile.c.
 */

static const char *const mon_names[] = { "jan", "feb", "mar", "apr",
					 "may", "jun", "jul", "aug",
					 "sep", "oct", "nov", "dec" };
static const char *const dow_names[] = { "sun", "mon", "tue", "wed",
					 "thu", "fri", "sat" };

enum {
	R_SEC,
	R_MIN,
	R_HOUR,
	R_DOM,
	R_MON,
	R_DOW
};

struct ref_expr {
	char field[6][96]; /* the text of each field, seconds "0" when absent */
	bool six;
	char text[640];
};

static int ref_value(const char **s, int f)
{
	if (**s >= '0' && **s <= '9')
		return (int)strtol(*s, (char **)s, 10);
	const char *const *names = f == R_MON ? mon_names : dow_names;
	for (int i = 0; i < (f == R_MON ? 12 : 7); i++)
		if (strncasecmp(*s, names[i], 3) == 0) {
			*s += 3;
			return f == R_MON ? i + 1 : i;
		}
	fail_msg("model: bad value %s", *s);
	return -1;
}

static int ref_weekday(int y, int m, int d)
{
	struct tm tm = { .tm_year = y - 1900,
			 .tm_mon = m - 1,
			 .tm_mday = d,
			 .tm_hour = 12 };
	time_t t = timegm(&tm);

	gmtime_r(&t, &tm);
	return tm.tm_wday;
}

static int ref_month_len(int y, int m)
{
	static const int len[] = { 31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31 };

	return m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)
		       ? 29
		       : len[m - 1];
}

/* Whether one item (no commas) matches v; day items get the date too. */
static bool ref_item(const char *it, int f, int v, int y, int m, int d)
{
	static const int lo[] = { 0, 0, 0, 1, 1, 0 },
			 top[] = { 59, 59, 23, 31, 12, 6 };
	const char *s = it;
	int a, b, step = 1,
		  len = f == R_DOM || f == R_DOW ? ref_month_len(y, m) : 0;

	if (f == R_DOM && strcmp(it, "L") == 0)
		return d == len;
	if (*s == '*') {
		a = lo[f];
		b = top[f];
		s++;
	} else {
		a = b = ref_value(&s, f);
		if (*s == 'W') {
			int wd = ref_weekday(y, m, a), t = a;
			if (a > len)
				return false;
			if (wd == 6)
				t = a == 1 ? 3 : a - 1;
			if (wd == 0)
				t = a == len ? a - 2 : a + 1;
			return d == t;
		}
		if (*s == '#')
			return ref_weekday(y, m, d) == a % 7 &&
			       (d - 1) / 7 + 1 == atoi(s + 1);
		if (*s == 'L')
			return ref_weekday(y, m, d) == a % 7 && d + 7 > len;
		if (*s == '-') {
			s++;
			b = ref_value(&s, f);
			if (f == R_DOW && b == 0 && a > 0)
				b = 7; /* "fri-sun" */
		} else if (*s == '/') {
			b = top[f];
		}
	}
	if (*s == '/')
		step = atoi(s + 1);
	if (f == R_DOW && v == 0 && a <= 7 && 7 <= b && (7 - a) % step == 0)
		return true;
	return v >= a && v <= b && (v - a) % step == 0;
}

static bool ref_field(const struct ref_expr *r, int f, int v, int y, int m,
		      int d)
{
	char buf[96], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", r->field[f]);
	for (char *it = strtok_r(buf, ",", &save); it;
	     it = strtok_r(NULL, ",", &save))
		if (ref_item(it, f, v, y, m, d))
			return true;
	return false;
}

/* Per-value tables, filled once per expression (days once per month). */
struct ref_tables {
	bool sec[60], min[60], hour[24], mon[13];
	int day_y, day_m;
	bool day[32];
};

static void ref_days(const struct ref_expr *r, struct ref_tables *t, int y,
		     int m)
{
	bool dom_star = r->field[R_DOM][0] == '*',
	     dow_star = r->field[R_DOW][0] == '*';

	t->day_y = y;
	t->day_m = m;
	for (int d = 1; d <= ref_month_len(y, m); d++) {
		bool a = ref_field(r, R_DOM, d, y, m, d);
		bool b = ref_field(r, R_DOW, ref_weekday(y, m, d), y, m, d);
		t->day[d] = dom_star || dow_star ? a && b : a || b;
	}
}

static void ref_tables_init(const struct ref_expr *r, struct ref_tables *t)
{
	for (int v = 0; v < 60; v++) {
		t->sec[v] = ref_field(r, R_SEC, v, 0, 0, 0);
		t->min[v] = ref_field(r, R_MIN, v, 0, 0, 0);
	}
	for (int v = 0; v < 24; v++)
		t->hour[v] = ref_field(r, R_HOUR, v, 0, 0, 0);
	for (int v = 1; v <= 12; v++)
		t->mon[v] = ref_field(r, R_MON, v, 0, 0, 0);
	t->day_y = 0;
}

/* Whether the wall-clock time `local` (seconds, as if UTC) matches. */
static bool ref_match(const struct ref_expr *r, struct ref_tables *t,
		      int64_t local)
{
	time_t tt = (time_t)local;
	struct tm tm;

	gmtime_r(&tt, &tm);
	int y = tm.tm_year + 1900, m = tm.tm_mon + 1;
	if (!t->sec[tm.tm_sec] || !t->min[tm.tm_min] || !t->hour[tm.tm_hour] ||
	    !t->mon[m])
		return false;
	if (t->day_y != y || t->day_m != m)
		ref_days(r, t, y, m);
	return t->day[tm.tm_mday];
}

/* glibc's offset, read once per 15 minutes of UTC: every transition of
 * the zones tested here falls on a quarter hour. */
static int32_t ref_offset(int64_t t)
{
	static int64_t block = INT64_MIN;
	static int32_t off;

	if (tz_floordiv(t, 900) != block) {
		block = tz_floordiv(t, 900);
		off = glibc_offset(block * 900);
	}
	return off;
}

/*
 * Fire instants in (after, after + window], by stepping.  Real time fires
 * when the wall clock shows a match.  As written fires a match the first
 * time the wall clock shows it, and once at the end of a gap that
 * swallowed a match.
 */
static int ref_fires(const struct ref_expr *r, int64_t after_usec,
		     int64_t window, int64_t *out, int max)
{
	struct ref_tables tab;
	int step = r->six ? 1 : 60, n = 0;
	bool real = r->field[R_MIN][0] == '*' || r->field[R_HOUR][0] == '*';
	int64_t after = tz_floordiv(after_usec, USEC);
	int64_t t = tz_floordiv(after - 3 * 3600, step) * step;
	int64_t prev = t - step + ref_offset(t - step), seen = prev;

	ref_tables_init(r, &tab);
	for (; t <= after + window; t += step) {
		int64_t local = t + ref_offset(t);
		bool fire = false;
		if (real) {
			fire = ref_match(r, &tab, local);
		} else {
			for (int64_t g = prev + step; g < local && !fire;
			     g += step)
				fire = g > seen && ref_match(r, &tab, g);
			fire = fire ||
			       (local > seen && ref_match(r, &tab, local));
			seen = local > seen ? local : seen;
		}
		prev = local;
		if (fire && t * USEC > after_usec && n < max)
			out[n++] = t * USEC;
	}
	return n;
}

/* ---- Random expressions ---- */

static int rnd(unsigned *r, int n)
{
	return (int)(rand_r(r) % (unsigned)n);
}

static void gen_value(unsigned *r, int f, int v, char *out, size_t len)
{
	if ((f == R_MON || f == R_DOW) && rnd(r, 3) == 0) {
		const char *name =
			f == R_MON ? mon_names[v - 1] : dow_names[v % 7];
		snprintf(out, len, "%c%s", rnd(r, 2) ? name[0] - 32 : name[0],
			 name + 1);
	} else {
		snprintf(out, len, "%d", v);
	}
}

/* One item: a value, range, step or extension of field f. */
static void gen_item(unsigned *r, int f, char *out, size_t len, bool first)
{
	static const int lo[] = { 0, 0, 0, 1, 1, 0 },
			 hi[] = { 59, 59, 23, 31, 12, 7 };
	int span = hi[f] - lo[f] + 1;
	int a = lo[f] + rnd(r, span), b = a + rnd(r, hi[f] - a + 1);
	char va[8], vb[8];

	/* Small hours often, to land on the DST changes. */
	if (f == R_HOUR && rnd(r, 2))
		a = b = rnd(r, 4);
	gen_value(r, f, a, va, sizeof(va));
	gen_value(r, f, b, vb, sizeof(vb));
	/* Draws in a fixed order, so a seed means the same run everywhere. */
	int kind = rnd(r, 10), alt = rnd(r, 2), n = 1 + rnd(r, 31);
	int step = 1 + rnd(r, span < 12 ? span : 12);
	if (f == R_DOM && kind == 9)
		snprintf(out, len, alt ? "L" : "%dW", n);
	else if (f == R_DOW && kind == 9)
		snprintf(out, len, alt ? "%s#%d" : "%sL", va, 1 + n % 5);
	else if (first && kind < 2)
		snprintf(out, len, "*/%d", 1 + n % (span < 16 ? span : 16));
	else if (kind < 5)
		snprintf(out, len, "%s", va);
	else if (kind < 7)
		snprintf(out, len, "%s-%s", va, vb);
	else if (kind < 8)
		snprintf(out, len, "%s-%s/%d", va, vb, step);
	else
		snprintf(out, len, "%s/%d", va, step);
}

static void gen_field(unsigned *r, int f, char *out, size_t len)
{
	static const int star_pct[] = { 30, 40, 25, 50, 70, 50 };
	char item[32];

	if (rnd(r, 100) < star_pct[f]) {
		snprintf(out, len, "*");
		return;
	}
	out[0] = '\0';
	int two = rnd(r, 3) == 0, three = rnd(r, 4) == 0, n = 1 + two + three;
	for (int i = 0; i < n; i++) {
		gen_item(r, f, item, sizeof(item), i == 0);
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", i ? "," : "", item);
	}
}

static void gen_expr(unsigned *r, struct ref_expr *x, bool six)
{
	x->six = six;
	x->text[0] = '\0';
	snprintf(x->field[R_SEC], sizeof(x->field[0]), "0");
	for (int f = six ? R_SEC : R_MIN; f <= R_DOW; f++) {
		gen_field(r, f, x->field[f], sizeof(x->field[f]));
		size_t used = strlen(x->text);
		snprintf(x->text + used, sizeof(x->text) - used, "%s%s",
			 f == (six ? R_SEC : R_MIN) ? ""
			 : rnd(r, 8)                ? " "
						    : " \t ",
			 x->field[f]);
	}
}

/* A start time: half near one of the zone's changes, half anywhere. */
static int64_t gen_start(unsigned *r)
{
	int64_t y0 = 1971 + rnd(r, 110); /* the table and the footer rule */
	int64_t t = (y0 - 1970) * 31556952 + rnd(r, 31556952);
	int back = rnd(r, 2 * 86400);

	if (rnd(r, 2)) {
		int32_t o = glibc_offset(t);
		for (int64_t u = t; u < t + 400 * 86400LL; u += 6 * 3600)
			if (glibc_offset(u) != o) {
				t = u - back;
				break;
			}
	}
	int whole = rnd(r, 2), usec = rnd(r, 1000000);
	return t * USEC + (whole ? 0 : usec);
}

/* A refusal as "never fires" is right: no day matches in 400 years
 * (the Gregorian cycle). */
static void check_never(const struct ref_expr *x)
{
	struct ref_tables tab;

	ref_tables_init(x, &tab);
	for (int y = 2000; y < 2400; y++)
		for (int m = 1; m <= 12; m++) {
			if (!tab.mon[m])
				continue;
			ref_days(x, &tab, y, m);
			for (int d = 1; d <= ref_month_len(y, m); d++)
				if (tab.day[d])
					fail_msg(
						"seed=%u: \"%s\" refused, but fires on %d-%02d-%02d",
						seed, x->text, y, m, d);
		}
}

static int check_one(const struct ref_expr *x, const struct tz_zone *z,
		     const char *zname, unsigned *r, int *refused)
{
	static int64_t want[4000];
	char err[CAL_ERR_MAX];
	struct cal_expr *e;
	int64_t window = x->six ? 2 * 86400 : 45 * 86400;

	if (cal_parse(x->text, &e, err, sizeof(err)) < 0) {
		if (!strstr(err, "never fire"))
			fail_msg("seed=%u: \"%s\" refused: %s", seed, x->text,
				 err);
		check_never(x);
		++*refused;
		return 0;
	}
	int64_t after = gen_start(r);
	int n = ref_fires(x, after, window, want, 4000);
	int64_t t = after;
	for (int i = 0; i <= n && i < 4000; i++) {
		t = cal_next(e, z, 0, t);
		bool in = t != CAL_NEVER && t <= (after / USEC + window) * USEC;
		if (i < n ? t == want[i] : !in)
			continue;
		char b1[40], b2[40], b3[40];
		fail_msg(
			"seed=%u zone=%s expr=\"%s\" after=%s (%lld us): fire %d is %s, model says %s",
			seed, zname, x->text, fmt(after - after % USEC, z, b3),
			(long long)after, i, fmt(t, z, b1),
			i < n ? fmt(want[i], z, b2) : "none in window");
	}
	cal_expr_free(e);
	return n;
}

static void test_reference_model(void **state)
{
	static const char *const zones[] = { "Europe/Berlin",
					     "America/New_York",
					     "Australia/Lord_Howe", "UTC" };
	const char *iters_env = getenv("LOOPD_TEST_ITERATIONS");
	int iters = iters_env ? atoi(iters_env) : 100, refused = 0, runs = 0;
	long fires = 0;
	unsigned r = seed;

	(void)state;
	for (size_t k = 0; k < sizeof(zones) / sizeof(zones[0]); k++) {
		struct tz_zone *z = zone(zones[k]);
		use_glibc_zone(zones[k]);
		for (int i = 0; i < iters; i++) {
			struct ref_expr x;
			gen_expr(&r, &x, i % 3 == 0);
			fires += check_one(&x, z, zones[k], &r, &refused);
			runs++;
		}
		tz_zone_unref(z);
	}
	unsetenv("TZ");
	tzset();
	printf("reference model: %d expressions, %ld fire times compared, "
	       "%d refused as never firing, seed=%u\n",
	       runs, fires, refused, seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grammar_accept),
		cmocka_unit_test(test_grammar_reject),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_vixie_day_rule),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_every),
		cmocka_unit_test(test_at),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_zone_load),
		cmocka_unit_test(test_zone_vs_glibc),
		cmocka_unit_test(test_zone_posix_rules),
		cmocka_unit_test(test_tzif_malformed),
		cmocka_unit_test(test_dst_berlin),
		cmocka_unit_test(test_dst_new_york),
		cmocka_unit_test(test_dst_lord_howe),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_reference_model),
	};

	seed = test_seed_pick();
	return cmocka_run_group_tests_name("calendar", tests, NULL, NULL);
}

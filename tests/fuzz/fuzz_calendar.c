/*
 * fuzz_calendar.c - libFuzzer target for calendar.c and tzfile.c.
 *
 * Input: one selector byte, eight bytes of "after" time, then text.  The
 * selector picks the zone, or (0xff) feeds the rest to the TZif reader
 * instead.  The text goes to every parser (expression, time, duration);
 * an accepted expression is run through a few cal_next and
 * cal_format_time calls.  Nothing may crash, leak, hang or trip UBSan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "tzfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tz_zone *fuzz_zone(unsigned sel)
{
	static const char *const names[] = { "UTC", "Europe/Berlin",
					     "America/New_York",
					     "Australia/Lord_Howe" };
	static struct tz_zone *zones[4];
	char err[CAL_ERR_MAX];

	sel %= 4;
	if (!zones[sel] &&
	    tz_zone_load(names[sel], &zones[sel], err, sizeof(err)) < 0)
		abort(); /* the fuzzing machine lacks tzdata */
	return zones[sel];
}

static void fuzz_tzif(const uint8_t *data, size_t size)
{
	char err[CAL_ERR_MAX];
	struct tz_zone *z;

	if (tz_zone_from_tzif(data, size, "fuzz", &z, err, sizeof(err)) < 0)
		return;
	for (int64_t t = -5000000000LL; t < 10000000000LL; t += 777777777) {
		struct tz_span s;
		tz_span_at(z, t, &s);
		tz_local_to_utc(z, t + s.off);
	}
	tz_zone_unref(z);
}

static void fuzz_expr(const char *text, const struct tz_zone *z, int64_t after)
{
	char err[CAL_ERR_MAX], buf[40];
	struct cal_expr *e;
	int64_t t = after;

	if (cal_parse(text, &e, err, sizeof(err)) < 0)
		return;
	for (int i = 0; i < 4 && t != CAL_NEVER; i++) {
		t = cal_next(e, z, after, t);
		cal_format_time(t, z, buf, sizeof(buf));
	}
	cal_expr_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CAL_ERR_MAX];
	int64_t after = 0, v;

	if (size < 9)
		return 0;
	if (data[0] == 0xff) {
		fuzz_tzif(data + 1, size - 1);
		return 0;
	}
	const struct tz_zone *z = fuzz_zone(data[0]);
	for (int i = 0; i < 8; i++)
		after = (int64_t)((uint64_t)after << 8 | data[1 + i]);
	/* Mostly plausible times: fold into 1900..2200 unless bit 7 says not. */
	if (!(data[0] & 0x80))
		after = 1767225600LL * 1000000 +
			after % (5000000000LL * 1000000);
	char *text = malloc(size - 9 + 1);
	if (!text)
		return 0;
	memcpy(text, data + 9, size - 9);
	text[size - 9] = '\0';
	fuzz_expr(text, z, after);
	cal_parse_time(text, z, &v, err, sizeof(err));
	cal_parse_duration(text, &v, err, sizeof(err));
	free(text);
	return 0;
}

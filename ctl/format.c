/*
 * format.c - the values of loopctl's command line (durations, times,
 * zones, counts) and how times, spans and sizes are written back.
 *
 * Durations and times are parsed by the daemon's own calendar.c, so that
 * loopctl and loopd agree on "1h30m" and on a wall-clock time in a zone.
 * Timestamps in tables are written in the local zone with the C library
 * (strftime's %Z gives the abbreviation, "UTC" or "CET"); RFC 3339 times
 * in a named zone are written by calendar.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "loopctl.h"
#include "tzfile.h"

#define SEC    USEC_PER_SEC
#define MINUTE (60 * SEC)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)
#define WEEK   (7 * DAY)
/* systemd's: a month is 30.44 days, a year 365.25 days. */
#define MONTH  (2629800 * SEC)
#define YEAR   (31557600 * SEC)

/* ---- Parsing ---- */

int parse_duration_ms(const char *text, int64_t *ms, char *err, size_t errlen)
{
	int rc = cal_parse_duration(text, ms, err, errlen);
	if (rc == -ERANGE)
		snprintf(err, errlen, "duration: '%s' is too long", text);
	return rc < 0 ? -EINVAL : 0;
}

int parse_count(const char *text, long long min, long long max, long long *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The local zone from TZ as the C library reads it: ":NAME", "NAME", a
 * path under /usr/share/zoneinfo, or a POSIX rule; "" is UTC, and what
 * cannot be read is UTC too, as for glibc. */
static struct tz_zone *zone_from_env(const char *tz)
{
	static const char dir[] = "/usr/share/zoneinfo/";
	char err[CAL_ERR_MAX];
	struct tz_zone *z = NULL;
	const char *name = tz[0] == ':' ? tz + 1 : tz;

	if (!strncmp(name, dir, sizeof(dir) - 1))
		name += sizeof(dir) - 1;
	if (!*name || !strcmp(name, "UTC"))
		return (struct tz_zone *)tz_utc();
	if (tz_zone_load(name, &z, err, sizeof(err)) == 0 ||
	    tz_zone_from_posix(tz, &z, err, sizeof(err)) == 0)
		return z;
	return (struct tz_zone *)tz_utc();
}

int zone_load(const char *name, struct tz_zone **out, char *err, size_t errlen)
{
	const char *tz = getenv("TZ");

	if (!name && tz) {
		*out = zone_from_env(tz);
		return 0;
	}
	int rc = tz_zone_load(name, out, err, errlen);
	if (rc < 0 && name)
		snprintf(err, errlen, "unknown time zone '%s'", name);
	return rc;
}

int parse_time(const char *text, const struct tz_zone *z, int64_t *usec,
	       char *err, size_t errlen)
{
	return cal_parse_time(text, z, usec, err, errlen);
}

/* ---- Formatting ---- */

int64_t fmt_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* "N unit[s]", then " M unit[s]" unless M is 0. */
static void two_units(char *buf, size_t len, long long n, const char *one,
		      const char *many, long long m, const char *one2,
		      const char *many2)
{
	int w = snprintf(buf, len, "%lld %s", n, plural(n, one, many));

	if (m && w > 0 && (size_t)w < len)
		snprintf(buf + w, len - (size_t)w, " %lld %s", m,
			 plural(m, one2, many2));
}

void fmt_relative(int64_t d, char *buf, size_t len)
{
	if (d >= YEAR)
		two_units(buf, len, d / YEAR, "year", "years", d % YEAR / MONTH,
			  "month", "months");
	else if (d >= MONTH)
		two_units(buf, len, d / MONTH, "month", "months",
			  d % MONTH / DAY, "day", "days");
	else if (d >= WEEK)
		two_units(buf, len, d / WEEK, "week", "weeks", d % WEEK / DAY,
			  "day", "days");
	else if (d >= 2 * DAY)
		snprintf(buf, len, "%lld days", (long long)(d / DAY));
	else if (d >= 25 * HOUR)
		snprintf(buf, len, "1 day %lldh",
			 (long long)((d - DAY) / HOUR));
	else if (d >= 6 * HOUR)
		snprintf(buf, len, "%lldh", (long long)(d / HOUR));
	else if (d >= HOUR)
		snprintf(buf, len, "%lldh %lldmin", (long long)(d / HOUR),
			 (long long)(d % HOUR / MINUTE));
	else if (d >= 5 * MINUTE)
		snprintf(buf, len, "%lldmin", (long long)(d / MINUTE));
	else if (d >= MINUTE)
		snprintf(buf, len, "%lldmin %llds", (long long)(d / MINUTE),
			 (long long)(d % MINUTE / SEC));
	else if (d >= SEC)
		snprintf(buf, len, "%llds", (long long)(d / SEC));
	else if (d >= USEC_PER_MSEC)
		snprintf(buf, len, "%lldms", (long long)(d / USEC_PER_MSEC));
	else if (d > 0)
		snprintf(buf, len, "%lldus", (long long)d);
	else
		snprintf(buf, len, "now");
}

void fmt_timestamp(int64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / SEC);
	struct tm tm;

	if (usec < 0 || !localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%a %Y-%m-%d %H:%M:%S %Z", &tm))
		snprintf(buf, len, "-");
}

void fmt_rfc3339(int64_t usec, const struct tz_zone *z, char *buf, size_t len)
{
	time_t t = (time_t)tz_floordiv(usec, SEC);
	struct tm tm;

	if (z) {
		if (cal_format_time(usec, z, buf, len) < 0)
			snprintf(buf, len, "-");
		return;
	}
	if (!localtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	long off = tm.tm_gmtoff, aoff = off < 0 ? -off : off;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', aoff / 3600,
		 aoff / 60 % 60);
}

void fmt_duration_ms(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "d", 86400000 },
		      { "h", 3600000 },
		      { "m", 60000 },
		      { "s", 1000 },
		      { "ms", 1 } };
	size_t off = 0;

	if (ms <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t n = ms / units[i].ms;
		ms %= units[i].ms;
		if (n && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%lld%s",
						(long long)n, units[i].unit);
	}
}

void fmt_span(int64_t d, char *buf, size_t len)
{
	if (d < 0)
		d = 0;
	if (d < USEC_PER_MSEC)
		snprintf(buf, len, "%lldus", (long long)d);
	else if (d < SEC)
		snprintf(buf, len, "%lldms", (long long)(d / USEC_PER_MSEC));
	else if (d < 10 * SEC)
		snprintf(buf, len, "%.2fs", (double)(d / 10000) / 100);
	else if (d < MINUTE)
		snprintf(buf, len, "%.1fs", (double)(d / 100000) / 10);
	else if (d < HOUR)
		snprintf(buf, len, "%lldmin %llds", (long long)(d / MINUTE),
			 (long long)(d % MINUTE / SEC));
	else if (d < DAY)
		snprintf(buf, len, "%lldh %lldmin", (long long)(d / HOUR),
			 (long long)(d % HOUR / MINUTE));
	else
		snprintf(buf, len, "%lld %s %lldh", (long long)(d / DAY),
			 plural(d / DAY, "day", "days"),
			 (long long)(d % DAY / HOUR));
}

void fmt_bytes(int64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%lldB", (long long)bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f%c", v, units[u]);
}

const char *fmt_result_color(const char *result)
{
	static const struct {
		const char *word, *color;
	} map[] = {
		{ "ok", COLOR_GREEN },         { "running", COLOR_GREEN },
		{ "active", COLOR_GREEN },     { "loaded", COLOR_GREEN },
		{ "failed", COLOR_RED },       { "timeout", COLOR_RED },
		{ "interrupted", COLOR_RED },  { "degraded", COLOR_RED },
		{ "missed", COLOR_YELLOW },    { "skipped", COLOR_YELLOW },
		{ "cancelled", COLOR_YELLOW }, { "stopping", COLOR_YELLOW },
		{ "paused", COLOR_YELLOW },
	};

	for (size_t i = 0; result && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(result, map[i].word))
			return map[i].color;
	return NULL;
}

void fmt_kv(FILE *f, int width, const char *label, const char *value,
	    const char *color)
{
	int pad = width - (int)table_text_width(label);

	fprintf(f, "%s:%*s %s%s%s\n", label, pad > 0 ? pad : 0, "",
		color ? color : "", value, color ? COLOR_OFF : "");
}

/* ---- JSON ---- */

const char *jget_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

bool jget_int(const json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		*out = json_integer_value(v);
	else if (json_is_real(v))
		*out = (int64_t)json_real_value(v);
	else
		return false;
	return true;
}

const char *jtext(const json_t *v, char *buf, size_t len)
{
	if (!v)
		return "-";
	switch (json_typeof(v)) {
	case JSON_STRING: return json_string_value(v);
	case JSON_INTEGER:
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE: return "yes";
	case JSON_FALSE: return "no";
	case JSON_OBJECT:
	case JSON_ARRAY: {
		char *s = json_dumps(v, JSON_COMPACT);
		snprintf(buf, len, "%s", s ? s : "-");
		free(s);
		return buf;
	}
	case JSON_NULL: break;
	}
	return "-";
}

const char *jget_text(const json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	return v ? jtext(v, buf, len) : "-";
}

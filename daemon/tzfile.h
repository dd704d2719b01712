/*
 * tzfile.h - time zones for the calendar: IANA TZif files read by loopd
 * itself, never through the process TZ.
 *
 * The C library keeps one time zone per process (TZ, tzset, localtime), and
 * loopd needs one per job, from any thread.  So zones are loaded here from
 * /usr/share/zoneinfo (TZif v1-v4, 64-bit data when present, and the footer
 * POSIX TZ string for instants past the table) into an immutable object.
 * A loaded zone is never written again and can be read by any thread at
 * once; the reference count is atomic.
 *
 * Times are seconds since the epoch (UTC, no leap seconds); offsets are
 * seconds east of UTC.
 */
#ifndef LOOPD_TZFILE_H
#define LOOPD_TZFILE_H

#include <stddef.h>
#include <stdint.h>

struct tz_zone;

/*
 * A stretch of time with one UTC offset: [start, end) in UTC seconds.
 * start is INT64_MIN before the first transition, end INT64_MAX after the
 * last.  prev_off is the offset in force just before start (equal to off
 * when there is none): prev_off > off means start began a repeated hour
 * (fall back), prev_off < off a gap (spring forward).
 */
struct tz_span {
	int64_t start, end;
	int32_t off, prev_off;
};

/*
 * Loads a zone.  name is an IANA name ("Europe/Berlin"), "UTC", or NULL or
 * "" for the local zone (/etc/localtime; UTC when it is missing).  Names
 * with a leading '/' or a ".." component are refused.  0 with *out set
 * (new reference: release with tz_zone_unref), or -EINVAL, -ENOENT,
 * -ENOMEM, -EIO with a message in err.
 */
int tz_zone_load(const char *name, struct tz_zone **out, char *err,
		 size_t errlen);

/*
 * Builds a zone from TZif bytes (borrowed, copied).  name is copied and
 * only reported by tz_zone_name.  For tests and fuzzing; same results as
 * tz_zone_load.
 */
int tz_zone_from_tzif(const void *data, size_t len, const char *name,
		      struct tz_zone **out, char *err, size_t errlen);

/* Builds a zone from a POSIX TZ string alone, e.g. "CET-1CEST,M3.5.0,M10.5.0/3". */
int tz_zone_from_posix(const char *tz, struct tz_zone **out, char *err,
		       size_t errlen);

/* The UTC zone: a static object, never freed; ref/unref are no-ops on it. */
const struct tz_zone *tz_utc(void);

/* Adds a reference and returns z.  Thread-safe. */
struct tz_zone *tz_zone_ref(struct tz_zone *z);
/* Drops a reference; the last one frees the zone.  NULL is ignored. */
void tz_zone_unref(struct tz_zone *z);

/* The name given at load ("Europe/Berlin", "UTC", or the local zone's). */
const char *tz_zone_name(const struct tz_zone *z);

/* The span that contains the instant t. */
void tz_span_at(const struct tz_zone *z, int64_t t, struct tz_span *out);

/* The UTC offset in force at the instant t. */
int32_t tz_offset_at(const struct tz_zone *z, int64_t t);

/*
 * The instant at which the wall-clock time `local` (seconds since
 * 1970-01-01 00:00 on the zone's clock) first happens.  A time in a
 * repeated hour resolves to its first pass; a time inside a gap resolves
 * to the first instant after the gap (the transition itself).
 */
int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local);

/* Floor division and modulo, for negative times. */
static inline int64_t tz_floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (m 1-12, d 1-31).
 * Counting years from March puts the leap day at the end of the year, so
 * the day of the year follows from the month by one linear formula.
 */
static inline int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = tz_floordiv(y, 400);
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of tz_days_from_civil. */
static inline void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	days += 719468;
	int64_t era = tz_floordiv(days, 146097);
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Day of the week of a day number: 0 = Sunday (1970-01-01 was a Thursday). */
static inline int tz_weekday(int64_t days)
{
	return (int)(days - tz_floordiv(days + 4, 7) * 7 + 4);
}

#endif

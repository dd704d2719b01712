/*
 * calendar.h - schedule expressions and next-fire computation (pure).
 *
 * The grammar is CLI.md's "Schedule expressions": cron with 5 fields
 * (minute hour day-of-month month day-of-week) or 6 (a leading second),
 * Vixie cron's rules, the L, W, # and nL extensions, the @ macros,
 * `every DURATION` and `at TIME`.  Times are microseconds since the epoch
 * (int64); cron fire times are whole seconds.
 *
 * Details the table in CLI.md leaves open, decided here:
 * - Names (jan-dec, sun-sat) are three letters, any case, in the month
 *   and day-of-week fields only.  Macros and `every`/`at` are any case.
 * - "a/step" runs from a to the field's end; for the day of week that end
 *   is 6 (Saturday), so Sunday is not counted twice.  A range ending in
 *   Sunday ("fri-sun", "5-0") ends at 7.  Other backward ranges, step 0 and
 *   steps wider than the field are refused.
 * - L (day of month) and NW, dL and d#n (day of week, n 1-5) may appear in
 *   lists but not in ranges or steps.  NW never leaves the month (a
 *   Saturday 1st moves to Monday 3rd, a Sunday last day to the Friday
 *   before), and does not fire in a month without day N.  They count as
 *   restricted days in Vixie's rule, like any other value.
 * - `every` takes at least 1s ("every 500ms" is refused).
 *
 * Everything here is pure: no globals that change, no process TZ (zones
 * come from tzfile.h), no allocation in cal_next.  A parsed expression is
 * immutable, so one may be shared by any number of threads.
 *
 * Errors are 0 or -errno.  Parse errors also write a message for the user
 * into err (errlen bytes, always NUL-terminated when errlen > 0) of the
 * form "WHERE: WHAT at position N", where WHERE names the field ("second
 * field", "minute field", "hour field", "day-of-month field", "month
 * field", "day-of-week field") or the part ("expression", "macro",
 * "interval", "time", "duration") and N counts characters from 1, e.g.
 * "hour field: value 24 out of range 0-23 at position 4".
 */
#ifndef LOOPD_CALENDAR_H
#define LOOPD_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tzfile.h"

/* cal_next's answer when there is no next fire time. */
#define CAL_NEVER INT64_MAX

/* Longest message the parsers write, NUL included: a good errlen. */
#define CAL_ERR_MAX 256

struct cal_expr;

enum cal_kind {
	CAL_CRON,  /* 5 or 6 fields, or a macro other than @reboot */
	CAL_EVERY, /* every DURATION (at least 1s): fixed rate from an anchor */
	CAL_AT,    /* at TIME: once */
	CAL_REBOOT, /* @reboot: once each time loopd starts */
};

/*
 * Parses a schedule expression.  0 with *out set (caller frees with
 * cal_expr_free), or -EINVAL with a message in err (invalid, or a cron
 * expression that can never fire, such as "0 0 30 2 *"), or -ENOMEM.
 * An `at` time without an offset is kept as a wall-clock time and read in
 * the zone given to cal_next, so one expression serves any zone.
 */
int cal_parse(const char *text, struct cal_expr **out, char *err,
	      size_t errlen);
/* Drops a reference (the last one frees); NULL is ignored.  An
 * expression is immutable: one parsed expression may serve many jobs.
 * The count is not atomic: references are taken and dropped on one
 * thread at a time. */
void cal_expr_free(struct cal_expr *e);
/* Another reference to e.  Returns e. */
struct cal_expr *cal_expr_ref(struct cal_expr *e);

enum cal_kind cal_expr_kind(const struct cal_expr *e);
/* True for @reboot: the scheduler runs it once at start; cal_next says never. */
bool cal_expr_at_reboot(const struct cal_expr *e);
/* The period of an `every` expression in ms; 0 for other kinds. */
int64_t cal_expr_interval_ms(const struct cal_expr *e);

/*
 * The first fire time strictly after after_usec, or CAL_NEVER (a one-shot
 * in the past, @reboot, or nothing before the year 9999).
 *
 * z (borrowed; NULL means UTC) is the job's zone, with CLI.md's
 * daylight-saving rules: when the minute or hour field starts with '*' the
 * job follows real time (wall-clock times inside a gap do not happen,
 * those in a repeated hour happen on both passes); any other cron job
 * runs as written once a day (a time in a gap runs at the first instant
 * after it, a time in a repeated hour on its first pass only).  `at` with
 * a wall-clock time follows the second rule.
 *
 * anchor_usec is used by `every` only: fires are anchor + k * period for
 * k >= 1 (the job's creation time as anchor gives a fixed rate with no
 * drift, whatever the delays of each run).  `every 2d` means 48 hours.
 */
int64_t cal_next(const struct cal_expr *e, const struct tz_zone *z,
		 int64_t anchor_usec, int64_t after_usec);

/*
 * Parses TIME as CLI.md writes it: "YYYY-MM-DD HH:MM[:SS]" on the wall
 * clock of z (NULL means UTC; a gap or repeated hour resolves as for a
 * fixed cron job), or RFC 3339 ("2026-12-24T17:00:00Z", "...+01:00",
 * fractions of a second allowed).  0 with *usec set, or -EINVAL with a
 * message ("time: ... at position N") in err.
 */
int cal_parse_time(const char *text, const struct tz_zone *z, int64_t *usec,
		   char *err, size_t errlen);

/*
 * Formats usec as RFC 3339 with z's offset at that instant (NULL means
 * UTC), to the second (rounded down): "2026-03-29T03:30:00+02:00".
 * 0, -ENOSPC when buf is shorter than 26 bytes, or -ERANGE outside the
 * years 0001-9999.
 */
int cal_format_time(int64_t usec, const struct tz_zone *z, char *buf,
		    size_t len);

/*
 * Parses a duration: one or more NUMBER UNIT pairs with the units d, h, m,
 * s, ms each used once and in that order ("90s", "5m", "1h30m", "2d",
 * "1500ms").  0 with *ms set (>= 0), or -EINVAL with a message in err
 * ("duration: ... at position N"), or -ERANGE past about 290 million years.
 */
int cal_parse_duration(const char *text, int64_t *ms, char *err, size_t errlen);

#endif

/*
 * calendar.c - schedule expressions and next-fire computation (see
 * calendar.h for the contract, CLI.md for the grammar).
 *
 * A cron expression becomes one bitmask per field plus the day-field
 * extensions.  cal_next never steps minute by minute: it finds the next
 * matching wall-clock time field by field (month, day, hour, minute,
 * second), each a count-trailing-zeros on a mask, then maps the wall time
 * to an instant through the zone's spans of constant offset.  That is also
 * where the daylight-saving rules live (next_real, next_wall).
 */
#include "calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USEC         1000000LL
#define YEAR_MIN     1
#define YEAR_MAX     9999
/* Every valid cron expression fires within 28 years; search a bit more. */
#define SEARCH_YEARS 100

struct cal_expr {
	unsigned refs; /* cal_expr_ref / cal_expr_free */
	enum cal_kind kind;
	/* CAL_CRON: bit i set when value i matches. */
	uint64_t sec, min;
	uint32_t hour;
	uint32_t dom;       /* bits 1-31 */
	uint32_t dom_w;     /* bits 1-31: NW, the weekday nearest day N */
	uint16_t month;     /* bits 1-12 */
	uint8_t dow;        /* bits 0-6, Sunday = 0 */
	uint8_t dow_last;   /* bits 0-6: dL, the last weekday d of the month */
	uint8_t dow_nth[7]; /* per weekday, bits 1-5: d#n */
	bool dom_last;      /* L */
	bool dow_special;   /* any dL or d#n */
	bool day_and;       /* a day field starts with '*': both must match */
	bool real_time;     /* minute or hour starts with '*': see cal_next */
	/* Days matching dow in a month whose 1st is weekday w (bits 1-31). */
	uint32_t dow_days[7];
	/* CAL_EVERY */
	int64_t every_usec;
	/* CAL_AT: an instant, or a wall-clock time read in the job's zone. */
	bool at_wall;
	int64_t at_usec;  /* the instant, when !at_wall */
	int64_t at_local; /* wall-clock seconds, when at_wall */
	int32_t at_frac;  /* and microseconds */
};

/* A wall-clock time, broken down. */
struct civil {
	int64_t y;
	int mo, d, h, mi, s;
};

/* ---- Calendar arithmetic ---- */

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int8_t len[13] = { 0,  31, 28, 31, 30, 31, 30,
					31, 31, 30, 31, 30, 31 };

	return m == 2 && leap_year(y) ? 29 : len[m];
}

static void to_civil(int64_t local, struct civil *c)
{
	int64_t days = tz_floordiv(local, 86400);
	int secs = (int)(local - days * 86400);

	tz_civil_from_days(days, &c->y, &c->mo, &c->d);
	c->h = secs / 3600;
	c->mi = secs / 60 % 60;
	c->s = secs % 60;
}

static int64_t from_civil(const struct civil *c)
{
	return tz_days_from_civil(c->y, c->mo, c->d) * 86400 + c->h * 3600 +
	       c->mi * 60 + c->s;
}

/* The smallest set bit >= from, or -1. */
static int next_bit(uint64_t mask, int from)
{
	if (from > 63)
		return -1;
	mask = mask >> from << from;
	return mask ? __builtin_ctzll(mask) : -1;
}

/* Weekday of day d in a month whose 1st is weekday w1. */
static int weekday_of(int w1, int d)
{
	return (w1 + d - 1) % 7;
}

/* NW: the weekday nearest day n, without leaving the month. */
static int nearest_weekday(int n, int w1, int len)
{
	int wd = weekday_of(w1, n);

	if (wd == 6)
		return n == 1 ? 3 : n - 1;
	if (wd == 0)
		return n == len ? n - 2 : n + 1;
	return n;
}

static uint32_t dom_days(const struct cal_expr *e, int w1, int len)
{
	uint32_t all = (uint32_t)((2ULL << len) - 2);
	uint32_t days = e->dom & all;

	if (e->dom_last)
		days |= 1u << len;
	for (uint32_t w = e->dom_w & all; w; w &= w - 1)
		days |= 1u << nearest_weekday(__builtin_ctz(w), w1, len);
	return days;
}

static uint32_t dow_special_days(const struct cal_expr *e, int w1, int len)
{
	uint32_t days = 0;
	int wl = weekday_of(w1, len);

	for (int wd = 0; wd < 7; wd++) {
		int first = 1 + (wd - w1 + 7) % 7;
		for (uint32_t n = e->dow_nth[wd]; n; n &= n - 1) {
			int d = first + 7 * (__builtin_ctz(n) - 1);
			days |= d <= len ? 1u << d : 0;
		}
		if (e->dow_last >> wd & 1)
			days |= 1u << (len - (wl - wd + 7) % 7);
	}
	return days;
}

/* The days (bits 1-31) of a month of len days whose 1st is weekday w1. */
static uint32_t day_mask(const struct cal_expr *e, int w1, int len)
{
	uint32_t all = (uint32_t)((2ULL << len) - 2);
	uint32_t dom = dom_days(e, w1, len);
	uint32_t dow = e->dow_days[w1] & all;

	if (e->dow_special)
		dow |= dow_special_days(e, w1, len);
	return e->day_and ? dom & dow : dom | dow;
}

/* Resets the fields below the one that just moved. */
static void reset_below(struct civil *c, int level)
{
	if (level < 1)
		c->d = 1;
	if (level < 2)
		c->h = 0;
	if (level < 3)
		c->mi = 0;
	if (level < 4)
		c->s = 0;
}

/* Moves c to the first day >= c's day that matches; false past the month. */
static bool match_day(const struct cal_expr *e, struct civil *c)
{
	int64_t first = tz_days_from_civil(c->y, c->mo, 1);
	int len = days_in_month(c->y, c->mo);
	int d = next_bit(day_mask(e, tz_weekday(first), len), c->d);

	if (d < 0)
		return false;
	if (d != c->d) {
		c->d = d;
		reset_below(c, 1);
	}
	return true;
}

/*
 * Moves c to the earliest matching wall-clock time >= c, field by field.
 * False when there is none up to the year ymax.
 */
static bool civil_next(const struct cal_expr *e, struct civil *c, int64_t ymax)
{
	int v;

	while (c->y <= ymax) {
		if ((v = next_bit(e->month, c->mo)) < 0) {
			c->y++;
			c->mo = 1;
			reset_below(c, 0);
			continue;
		}
		if (v != c->mo) {
			c->mo = v;
			reset_below(c, 0);
		}
		if (!match_day(e, c)) {
			c->mo++;
			reset_below(c, 0);
			continue;
		}
		if ((v = next_bit(e->hour, c->h)) < 0) {
			c->d++;
			reset_below(c, 1);
			continue;
		}
		if (v != c->h) {
			c->h = v;
			reset_below(c, 2);
		}
		if ((v = next_bit(e->min, c->mi)) < 0) {
			c->h++;
			reset_below(c, 2);
			continue;
		}
		if (v != c->mi) {
			c->mi = v;
			reset_below(c, 3);
		}
		if ((v = next_bit(e->sec, c->s)) < 0) {
			c->mi++;
			reset_below(c, 3);
			continue;
		}
		c->s = v;
		return true;
	}
	return false;
}

/* ---- Next fire time ---- */

/*
 * Real time: an instant fires when the wall clock then shows a matching
 * time.  Walk the spans of constant offset from t: inside one span the
 * wall clock is t + off, so the first match is one civil_next away.  A
 * gap's wall times belong to no span; a repeated hour's belong to two.
 */
static int64_t next_real(const struct cal_expr *e, const struct tz_zone *z,
			 int64_t t, int64_t ymax)
{
	struct tz_span s;
	struct civil c;

	for (int i = 0; i < 4 * SEARCH_YEARS; i++) {
		tz_span_at(z, t, &s);
		to_civil(t + s.off, &c);
		if (!civil_next(e, &c, ymax))
			return CAL_NEVER;
		int64_t r = from_civil(&c) - s.off;
		if (r < s.end)
			return r;
		t = s.end;
	}
	return CAL_NEVER;
}

/*
 * As written: each matching wall time fires once, at the instant it first
 * happens, or right after the gap that swallowed it (tz_local_to_utc).
 * That map is monotonic, so search wall times from the earliest one that
 * can still map to t or later.
 */
static int64_t next_wall(const struct cal_expr *e, const struct tz_zone *z,
			 int64_t t, int64_t ymax)
{
	struct tz_span s;
	struct civil c;

	tz_span_at(z, t, &s);
	int64_t local = t + s.off;
	if (t == s.start && s.prev_off < s.off)
		local = t + s.prev_off; /* the gap just ended: it maps to t */
	else if (s.prev_off > s.off && local < s.start + s.prev_off)
		local = s.start + s.prev_off; /* second pass: seen already */
	for (int i = 0; i < 64; i++) {
		to_civil(local, &c);
		if (!civil_next(e, &c, ymax))
			return CAL_NEVER;
		local = from_civil(&c);
		int64_t r = tz_local_to_utc(z, local);
		if (r >= t)
			return r;
		local++;
	}
	return CAL_NEVER;
}

/* The earliest instant cal_next handles: local year 1 in every zone. */
static int64_t min_instant(void)
{
	return tz_days_from_civil(YEAR_MIN, 1, 2) * 86400;
}

static int64_t next_cron(const struct cal_expr *e, const struct tz_zone *z,
			 int64_t after_usec)
{
	int64_t t = tz_floordiv(after_usec, USEC) + 1;
	int64_t y;
	int m, d;

	if (t < min_instant())
		t = min_instant();
	tz_civil_from_days(tz_floordiv(t, 86400), &y, &m, &d);
	if (y > YEAR_MAX)
		return CAL_NEVER;
	y = y + SEARCH_YEARS < YEAR_MAX ? y + SEARCH_YEARS : YEAR_MAX;
	int64_t r =
		e->real_time ? next_real(e, z, t, y) : next_wall(e, z, t, y);
	return r == CAL_NEVER ? CAL_NEVER : r * USEC;
}

static int64_t next_every(const struct cal_expr *e, int64_t anchor,
			  int64_t after)
{
	int64_t k = 1, kp, r;

	if (after >= anchor)
		k = (int64_t)(((uint64_t)after - (uint64_t)anchor) /
			      (uint64_t)e->every_usec) +
		    1;
	if (__builtin_mul_overflow(k, e->every_usec, &kp) ||
	    __builtin_add_overflow(anchor, kp, &r))
		return CAL_NEVER;
	return r;
}

/* The instant of a wall-clock time in z, as for a fixed cron job. */
static int64_t wall_to_usec(const struct tz_zone *z, int64_t local,
			    int32_t usec)
{
	int64_t r = tz_local_to_utc(z, local);

	/* A time swallowed by a gap runs at its end, to the second. */
	if (r + tz_offset_at(z, r) != local)
		return r * USEC;
	return r * USEC + usec;
}

static int64_t next_at(const struct cal_expr *e, const struct tz_zone *z,
		       int64_t after)
{
	int64_t t = e->at_wall ? wall_to_usec(z, e->at_local, e->at_frac)
			       : e->at_usec;

	return t > after ? t : CAL_NEVER;
}

int64_t cal_next(const struct cal_expr *e, const struct tz_zone *z,
		 int64_t anchor_usec, int64_t after_usec)
{
	if (!z)
		z = tz_utc();
	switch (e->kind) {
	case CAL_CRON: return next_cron(e, z, after_usec);
	case CAL_EVERY: return next_every(e, anchor_usec, after_usec);
	case CAL_AT: return next_at(e, z, after_usec);
	case CAL_REBOOT: break;
	}
	return CAL_NEVER;
}

enum cal_kind cal_expr_kind(const struct cal_expr *e)
{
	return e->kind;
}

bool cal_expr_at_reboot(const struct cal_expr *e)
{
	return e->kind == CAL_REBOOT;
}

int64_t cal_expr_interval_ms(const struct cal_expr *e)
{
	return e->kind == CAL_EVERY ? e->every_usec / 1000 : 0;
}

void cal_expr_free(struct cal_expr *e)
{
	if (e && --e->refs == 0)
		free(e);
}

struct cal_expr *cal_expr_ref(struct cal_expr *e)
{
	e->refs++;
	return e;
}

/* ---- Parsing ---- */

/* Where a parser reports: the whole text, so positions count from it. */
struct pctx {
	const char *text;
	char *err;
	size_t errlen;
};

static int perr_rc(const struct pctx *p, int rc, const char *where,
		   const char *at, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int perr_rc(const struct pctx *p, int rc, const char *where,
		   const char *at, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	if (!p->err || !p->errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s: %s at position %d", where, what,
		 (int)(at - p->text) + 1);
	return rc;
}

#define perr(p, where, at, ...) perr_rc(p, -EINVAL, where, at, __VA_ARGS__)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static const char *skip_space(const char *s, const char *end)
{
	while (s < end && is_space(*s))
		s++;
	return s;
}

/* A character for a message: itself when printable, else a code. */
static const char *show_char(char c, char buf[8])
{
	if (c > ' ' && c < 127)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", (unsigned char)c);
	return buf;
}

static int unexpected(const struct pctx *p, const char *where, const char *at,
		      const char *end)
{
	char buf[8];

	if (at >= end)
		return perr(p, where, at, "unexpected end");
	return perr(p, where, at, "unexpected %s", show_char(*at, buf));
}

/* Digits in [*s, end) as an int, saturating; false when there are none. */
static bool read_int(const char **s, const char *end, int *v)
{
	const char *start = *s;
	long n = 0;

	while (*s < end && is_digit(**s)) {
		if (n < 1000000)
			n = n * 10 + (**s - '0');
		++*s;
	}
	*v = (int)n;
	return *s > start;
}

/* ---- Cron fields ---- */

enum field_id {
	F_SEC,
	F_MIN,
	F_HOUR,
	F_DOM,
	F_MON,
	F_DOW
};

struct fdef {
	const char *name;
	const char *names; /* three-letter names in value order, or NULL */
	enum field_id id;
	int lo, hi;
	int top;     /* end of '*' and of "a/step": 6 for Sunday-as-7 */
	int name_lo; /* value of the first name */
};

static const struct fdef fdefs[6] = {
	{ .id = F_SEC, .name = "second field", .lo = 0, .hi = 59, .top = 59 },
	{ .id = F_MIN, .name = "minute field", .lo = 0, .hi = 59, .top = 59 },
	{ .id = F_HOUR, .name = "hour field", .lo = 0, .hi = 23, .top = 23 },
	{ .id = F_DOM,
	  .name = "day-of-month field",
	  .lo = 1,
	  .hi = 31,
	  .top = 31 },
	{ .id = F_MON,
	  .name = "month field",
	  .lo = 1,
	  .hi = 12,
	  .top = 12,
	  .names = "janfebmaraprmayjunjulaugsepoctnovdec",
	  .name_lo = 1 },
	{ .id = F_DOW,
	  .name = "day-of-week field",
	  .lo = 0,
	  .hi = 7,
	  .top = 6,
	  .names = "sunmontuewedthufrisat",
	  .name_lo = 0 },
};

struct fparse {
	const struct pctx *p;
	const struct fdef *f;
	struct cal_expr *e;
	uint64_t mask;
};

static int name_value(const struct fdef *f, const char *s)
{
	for (int i = 0; f->names && f->names[3 * i]; i++)
		if (strncasecmp(f->names + 3 * i, s, 3) == 0)
			return f->name_lo + i;
	return -1;
}

/* A number or a name; *s moves past it. */
static int parse_value(struct fparse *fp, const char **s, const char *end,
		       int *v)
{
	const struct fdef *f = fp->f;
	const char *start = *s, *t = *s;

	if (read_int(&t, end, v)) {
		*s = t;
		if (*v < f->lo || *v > f->hi)
			return perr(fp->p, f->name, start,
				    "value %d out of range %d-%d", *v, f->lo,
				    f->hi);
		return 0;
	}
	while (t < end && is_alpha(*t))
		t++;
	/* "friL": a day name followed by L. */
	if (f->id == F_DOW && t - start == 4 && (t[-1] == 'L' || t[-1] == 'l'))
		t--;
	if (t == start)
		return unexpected(fp->p, f->name, start, end);
	if (t - start != 3 || (*v = name_value(f, start)) < 0)
		return perr(fp->p, f->name, start, "unknown name \"%.*s\"",
			    (int)(t - start < 16 ? t - start : 16), start);
	*s = t;
	return 0;
}

/* After a day value: NW in the day of month, dL and d#n in the day of week. */
static int parse_day_suffix(struct fparse *fp, const char *s, const char *end,
			    int v)
{
	struct cal_expr *e = fp->e;
	int n;

	if (fp->f->id == F_DOM && (*s == 'W' || *s == 'w') && s + 1 == end) {
		e->dom_w |= 1u << v;
		return 0;
	}
	if (fp->f->id == F_DOW && (*s == 'L' || *s == 'l') && s + 1 == end) {
		e->dow_last |= (uint8_t)(1u << v % 7);
		return 0;
	}
	if (fp->f->id != F_DOW || *s != '#')
		return unexpected(fp->p, fp->f->name, s, end);
	const char *ns = ++s;
	if (!read_int(&s, end, &n))
		return unexpected(fp->p, fp->f->name, ns, end);
	if (n < 1 || n > 5)
		return perr(fp->p, fp->f->name, ns,
			    "occurrence %d out of range 1-5", n);
	if (s != end)
		return unexpected(fp->p, fp->f->name, s, end);
	e->dow_nth[v % 7] |= (uint8_t)(1u << n);
	return 0;
}

/* "/step" after a base; *b becomes the field's top for "a/step". */
static int parse_step(struct fparse *fp, const char **s, const char *end,
		      bool open_end, int *b, int *step)
{
	const struct fdef *f = fp->f;
	const char *ss = *s;

	if (!read_int(s, end, step))
		return unexpected(fp->p, f->name, ss, end);
	if (*step < 1 || *step > f->hi - f->lo + 1)
		return perr(fp->p, f->name, ss, "step %d out of range 1-%d",
			    *step, f->hi - f->lo + 1);
	if (open_end)
		*b = f->top;
	return 0;
}

/* One list item: *, N, N-M, any of those with /STEP, or a day extension. */
static int parse_item(struct fparse *fp, const char *s, const char *end)
{
	const struct fdef *f = fp->f;
	const char *start = s;
	int a = f->lo, b = f->top, step = 1, rc;
	bool range = *s == '*';

	if (f->id == F_DOM && end - s == 1 && (*s == 'L' || *s == 'l')) {
		fp->e->dom_last = true;
		return 0;
	}
	if (*s == '*') {
		s++;
	} else {
		if ((rc = parse_value(fp, &s, end, &a)) < 0)
			return rc;
		b = a;
		if (s < end && *s == '-') {
			s++;
			range = true;
			if ((rc = parse_value(fp, &s, end, &b)) < 0)
				return rc;
			if (f->id == F_DOW && b == 0 && a > 0)
				b = 7; /* "fri-sun" */
			if (b < a)
				return perr(fp->p, f->name, start,
					    "range %d-%d goes backwards", a, b);
		} else if (s < end && *s != '/') {
			return parse_day_suffix(fp, s, end, a);
		}
	}
	if (s < end && *s == '/') {
		s++;
		if ((rc = parse_step(fp, &s, end, !range, &b, &step)) < 0)
			return rc;
	}
	if (s != end)
		return unexpected(fp->p, f->name, s, end);
	for (int v = a; v <= b; v += step)
		fp->mask |= 1ULL << v;
	return 0;
}

static int parse_field(const struct pctx *p, const struct fdef *f,
		       const char *s, const char *end, struct cal_expr *e,
		       uint64_t *mask)
{
	struct fparse fp = { p, f, e, 0 };
	int rc;

	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *ie = comma ? comma : end;
		if (ie == s)
			return perr(p, f->name, s, "empty list item");
		if ((rc = parse_item(&fp, s, ie)) < 0)
			return rc;
		if (!comma)
			break;
		s = comma + 1;
	}
	*mask = fp.mask;
	return 0;
}

/* Whether some day of some month can match (every month length and
 * weekday of the 1st happens within 28 years). */
static bool can_fire(const struct cal_expr *e)
{
	for (int m = 1; m <= 12; m++) {
		if (!(e->month >> m & 1))
			continue;
		int len = days_in_month(2001, m), max = m == 2 ? 29 : len;
		for (; len <= max; len++)
			for (int w1 = 0; w1 < 7; w1++)
				if (day_mask(e, w1, len))
					return true;
	}
	return false;
}

static void finish_cron(struct cal_expr *e, const uint64_t m[6])
{
	e->kind = CAL_CRON;
	e->sec = m[F_SEC];
	e->min = m[F_MIN];
	e->hour = (uint32_t)m[F_HOUR];
	e->dom = (uint32_t)m[F_DOM];
	e->month = (uint16_t)m[F_MON];
	e->dow = (uint8_t)((m[F_DOW] | m[F_DOW] >> 7) & 0x7f);
	e->dow_special = e->dow_last != 0;
	for (int wd = 0; wd < 7; wd++)
		e->dow_special |= e->dow_nth[wd] != 0;
	for (int w1 = 0; w1 < 7; w1++) {
		e->dow_days[w1] = 0;
		for (int d = 1; d <= 31; d++)
			if (e->dow >> weekday_of(w1, d) & 1)
				e->dow_days[w1] |= 1u << d;
	}
}

/* Splits [s, end) at blanks; returns how many fields there are. */
static int split_fields(const char *s, const char *end, const char *fs[7],
			const char *fe[7])
{
	int n = 0;

	for (s = skip_space(s, end); s < end; s = skip_space(s, end), n++) {
		if (n < 7)
			fs[n] = s;
		while (s < end && !is_space(*s))
			s++;
		if (n < 7)
			fe[n] = s;
	}
	return n;
}

static int parse_cron(const struct pctx *p, const char *s, const char *end,
		      struct cal_expr *e)
{
	const char *fs[7], *fe[7];
	uint64_t m[6] = { 1 }; /* five fields: second 0 */
	int n = split_fields(s, end, fs, fe), rc;

	if (n < 5 || n > 6)
		return perr(p, "expression", n > 6 ? fs[6] : end,
			    "expected 5 or 6 fields, found %d", n);
	int first = 6 - n; /* index in fdefs of the first field written */
	for (int i = 0; i < n; i++)
		if ((rc = parse_field(p, &fdefs[first + i], fs[i], fe[i], e,
				      &m[first + i])) < 0)
			return rc;
	finish_cron(e, m);
	const char *dom = fs[F_DOM - first], *dow = fs[F_DOW - first];
	e->day_and = *dom == '*' || *dow == '*';
	e->real_time = *fs[F_MIN - first] == '*' || *fs[F_HOUR - first] == '*';
	if (!can_fire(e))
		return perr(p,
			    *dom == '*' ? fdefs[F_DOW].name : fdefs[F_DOM].name,
			    *dom == '*' ? dow : dom,
			    "no such day in the months given, so the "
			    "expression would never fire");
	return 0;
}

/* ---- Macros, every, at ---- */

static int parse_macro(const struct pctx *p, const char *s, const char *end,
		       struct cal_expr *e)
{
	static const struct {
		const char *name, *cron;
	} macros[] = {
		{ "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" },
		{ "@monthly", "0 0 1 * *" }, { "@weekly", "0 0 * * 0" },
		{ "@daily", "0 0 * * *" },   { "@midnight", "0 0 * * *" },
		{ "@hourly", "0 * * * *" },  { "@reboot", NULL },
	};
	const char *ne = s;

	while (ne < end && !is_space(*ne))
		ne++;
	if (skip_space(ne, end) != end)
		return perr(p, "macro", skip_space(ne, end),
			    "unexpected text after %.*s", (int)(ne - s), s);
	for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (strlen(macros[i].name) != (size_t)(ne - s) ||
		    strncasecmp(macros[i].name, s, (size_t)(ne - s)) != 0)
			continue;
		if (!macros[i].cron) {
			e->kind = CAL_REBOOT;
			return 0;
		}
		struct pctx q = { macros[i].cron, NULL, 0 };
		return parse_cron(&q, q.text, q.text + strlen(q.text), e);
	}
	return perr(p, "macro", s,
		    "unknown macro \"%.*s\" (@hourly, @daily, @midnight, "
		    "@weekly, @monthly, @yearly, @annually or @reboot)",
		    (int)(ne - s < 16 ? ne - s : 16), s);
}

static int parse_duration(const struct pctx *p, const char *where,
			  const char *s, const char *end, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "d", 86400000 },
		      { "h", 3600000 },
		      { "m", 60000 },
		      { "s", 1000 },
		      { "ms", 1 } };
	int last = -1;

	*ms = 0;
	if (s == end)
		return perr(p, where, s,
			    "missing, expected e.g. 90s, 5m, 1h30m or 2d");
	while (s < end) {
		const char *ns = s, *us;
		int64_t n = 0, v;
		bool big = false;
		for (; s < end && is_digit(*s); s++)
			big = big || __builtin_mul_overflow(n, 10, &n) ||
			      __builtin_add_overflow(n, *s - '0', &n);
		if (s == ns)
			return unexpected(p, where, s, end);
		for (us = s; s < end && is_alpha(*s);)
			s++;
		size_t ul = (size_t)(s - us);
		int i = 0;
		while (i < 5 && (strlen(units[i].unit) != ul ||
				 strncmp(units[i].unit, us, ul) != 0))
			i++;
		if (ul == 0 || i == 5)
			return perr(p, where, us,
				    "%s unit \"%.*s\" (d, h, m, s or ms)",
				    ul ? "unknown" : "missing",
				    (int)(ul < 8 ? ul : 8), us);
		if (i <= last)
			return perr(
				p, where, us,
				"unit %s out of order (write d, h, m, s, ms "
				"in that order, each once)",
				units[i].unit);
		last = i;
		if (big || __builtin_mul_overflow(n, units[i].ms, &v) ||
		    __builtin_add_overflow(*ms, v, ms))
			return perr_rc(p, -ERANGE, where, ns, "too long");
	}
	return 0;
}

static int parse_every(const struct pctx *p, const char *s, const char *end,
		       struct cal_expr *e)
{
	int64_t ms;
	int rc = parse_duration(p, "interval", s, end, &ms);

	if (rc < 0)
		return rc == -ERANGE ? -EINVAL : rc;
	if (ms < 1000)
		return perr(p, "interval", s, "shorter than 1s");
	if (ms > INT64_MAX / 1000)
		return perr(p, "interval", s, "too long");
	e->kind = CAL_EVERY;
	e->every_usec = ms * 1000;
	return 0;
}

/* A parsed TIME: wall-clock fields, and the offset when one was written. */
struct time_text {
	struct civil c;
	int32_t usec;
	bool has_off;
	int32_t off;
};

/* Exactly n digits at *s, with a range check; what names them for messages. */
static int read_fixed(const struct pctx *p, const char **s, const char *end,
		      int n, int lo, int hi, const char *what, int *v)
{
	const char *start = *s;

	*v = 0;
	for (int i = 0; i < n; i++, ++*s) {
		if (*s >= end || !is_digit(**s))
			return perr(
				p, "time", *s,
				"expected %s (YYYY-MM-DD HH:MM[:SS] or RFC 3339)",
				what);
		*v = *v * 10 + (**s - '0');
	}
	if (*v < lo || *v > hi)
		return perr(p, "time", start, "%s %d out of range %d-%d", what,
			    *v, lo, hi);
	return 0;
}

static int expect_char(const struct pctx *p, const char **s, const char *end,
		       const char *set)
{
	char buf[8];

	if (*s < end && **s && strchr(set, **s)) {
		++*s;
		return 0;
	}
	if (*s >= end)
		return perr(p, "time", *s, "unexpected end, expected '%c'",
			    set[0]);
	return perr(p, "time", *s, "unexpected %s, expected '%c'",
		    show_char(**s, buf), set[0]);
}

static int parse_date(const struct pctx *p, const char **s, const char *end,
		      struct civil *c)
{
	int y, rc;

	if ((rc = read_fixed(p, s, end, 4, YEAR_MIN, YEAR_MAX, "year", &y)) ||
	    (rc = expect_char(p, s, end, "-")) ||
	    (rc = read_fixed(p, s, end, 2, 1, 12, "month", &c->mo)) ||
	    (rc = expect_char(p, s, end, "-")))
		return rc;
	c->y = y;
	return read_fixed(p, s, end, 2, 1, days_in_month(y, c->mo), "day",
			  &c->d);
}

/* ".digits": up to microseconds kept, more digits allowed and dropped. */
static int parse_fraction(const struct pctx *p, const char **s, const char *end,
			  int32_t *usec)
{
	const char *start = *s;
	int32_t scale = 100000;

	for (*usec = 0; *s < end && is_digit(**s); ++*s, scale /= 10)
		*usec += (**s - '0') * scale;
	if (*s == start)
		return unexpected(p, "time", *s, end);
	return 0;
}

static int parse_clock(const struct pctx *p, const char **s, const char *end,
		       struct time_text *t)
{
	int rc;

	if ((rc = read_fixed(p, s, end, 2, 0, 23, "hour", &t->c.h)) ||
	    (rc = expect_char(p, s, end, ":")) ||
	    (rc = read_fixed(p, s, end, 2, 0, 59, "minute", &t->c.mi)))
		return rc;
	if (*s >= end || **s != ':')
		return 0;
	++*s;
	if ((rc = read_fixed(p, s, end, 2, 0, 59, "second", &t->c.s)))
		return rc;
	if (*s < end && **s == '.') {
		++*s;
		return parse_fraction(p, s, end, &t->usec);
	}
	return 0;
}

static int parse_offset(const struct pctx *p, const char **s, const char *end,
			struct time_text *t)
{
	int h, m, rc;

	if (*s >= end)
		return 0;
	t->has_off = true;
	if (**s == 'Z' || **s == 'z') {
		++*s;
		return 0;
	}
	int sign = **s == '-' ? -1 : 1;
	if ((rc = expect_char(p, s, end, "+-")) ||
	    (rc = read_fixed(p, s, end, 2, 0, 23, "offset hour", &h)) ||
	    (rc = expect_char(p, s, end, ":")) ||
	    (rc = read_fixed(p, s, end, 2, 0, 59, "offset minute", &m)))
		return rc;
	t->off = sign * (h * 3600 + m * 60);
	return 0;
}

static int parse_time_text(const struct pctx *p, const char *s, const char *end,
			   struct time_text *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = parse_date(p, &s, end, &t->c)) ||
	    (rc = expect_char(p, &s, end, " Tt")) ||
	    (rc = parse_clock(p, &s, end, t)) ||
	    (rc = parse_offset(p, &s, end, t)))
		return rc;
	return s == end ? 0 : unexpected(p, "time", s, end);
}

static int parse_at(const struct pctx *p, const char *s, const char *end,
		    struct cal_expr *e)
{
	struct time_text t;
	int rc = parse_time_text(p, s, end, &t);

	if (rc < 0)
		return rc;
	e->kind = CAL_AT;
	e->at_wall = !t.has_off;
	e->at_local = from_civil(&t.c);
	e->at_frac = t.usec;
	e->at_usec = (e->at_local - t.off) * USEC + t.usec;
	return 0;
}

/* Whether [s, end) starts with the word w (any case) and a blank or end. */
static bool word_is(const char *s, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - s) >= n && strncasecmp(s, w, n) == 0 &&
	       (s + n == end || is_space(s[n]));
}

/* Trims blanks; false (with a message) for an over-long text. */
static bool trim(const struct pctx *p, const char *where, const char **s,
		 const char **end)
{
	size_t len = strnlen(p->text, 1025);

	if (len > 1024) {
		perr(p, where, p->text + 1024, "longer than 1024 characters");
		return false;
	}
	*s = skip_space(p->text, p->text + len);
	*end = p->text + len;
	while (*end > *s && is_space((*end)[-1]))
		--*end;
	return true;
}

int cal_parse(const char *text, struct cal_expr **out, char *err, size_t errlen)
{
	struct pctx p = { text, err, errlen };
	const char *s, *end;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!trim(&p, "expression", &s, &end))
		return -EINVAL;
	struct cal_expr *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->refs = 1;
	if (s == end)
		rc = perr(&p, "expression", s, "empty");
	else if (*s == '@')
		rc = parse_macro(&p, s, end, e);
	else if (word_is(s, end, "every"))
		rc = parse_every(&p, skip_space(s + 5, end), end, e);
	else if (word_is(s, end, "at"))
		rc = parse_at(&p, skip_space(s + 2, end), end, e);
	else
		rc = parse_cron(&p, s, end, e);
	if (rc < 0) {
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

int cal_parse_time(const char *text, const struct tz_zone *z, int64_t *usec,
		   char *err, size_t errlen)
{
	struct pctx p = { text, err, errlen };
	struct time_text t;
	const char *s, *end;
	int rc;

	if (!trim(&p, "time", &s, &end))
		return -EINVAL;
	if ((rc = parse_time_text(&p, s, end, &t)) < 0)
		return rc;
	int64_t local = from_civil(&t.c);
	*usec = t.has_off ? (local - t.off) * USEC + t.usec
			  : wall_to_usec(z ? z : tz_utc(), local, t.usec);
	return 0;
}

int cal_parse_duration(const char *text, int64_t *ms, char *err, size_t errlen)
{
	struct pctx p = { text, err, errlen };
	const char *s, *end;

	if (!trim(&p, "duration", &s, &end))
		return -EINVAL;
	return parse_duration(&p, "duration", s, end, ms);
}

int cal_format_time(int64_t usec, const struct tz_zone *z, char *buf,
		    size_t len)
{
	struct civil c;
	int64_t t = tz_floordiv(usec, USEC);
	int32_t off = tz_offset_at(z ? z : tz_utc(), t);

	if (len < 26)
		return -ENOSPC;
	to_civil(t + off, &c);
	if (c.y < YEAR_MIN || c.y > YEAR_MAX)
		return -ERANGE;
	int aoff = off < 0 ? -off : off;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (int)c.y,
		 c.mo, c.d, c.h, c.mi, c.s, off < 0 ? '-' : '+', aoff / 3600,
		 aoff / 60 % 60);
	return 0;
}

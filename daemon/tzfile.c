/*
 * tzfile.c - TZif reader, POSIX TZ rules and offset look-ups (see tzfile.h).
 *
 * A zone keeps only the transitions that change the UTC offset (the
 * calendar does not care about abbreviations or isdst), sorted, plus the
 * footer rule for instants after the last one.  Everything is validated at
 * load, so look-ups never fail; malformed files are refused, never trusted.
 */
#include "tzfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DIR       "/usr/share/zoneinfo/"
#define TZ_LOCALTIME "/etc/localtime"
#define TZ_MAX_FILE  (1 << 20)
#define TZ_MAX_OFF   (26 * 3600) /* RFC 8536 allows -25:59:59..+25:59:59 */
#define TZ_MAX_NAME  255
#define RULE_LIMIT   (1LL << 50) /* seconds, 35 million years */

/* One end of daylight time in a POSIX rule: Jn, n or Mm.w.d, then a time. */
struct rule_date {
	char kind; /* 'J' (1-365, no leap day), 'N' (0-365), 'M' */
	int n, m, w, d;
	int32_t secs; /* local time of day of the change, may exceed 24h */
};

struct rule {
	int32_t std_off, dst_off;
	bool has_dst;
	struct rule_date start, end;
};

struct tz_zone {
	atomic_int refs; /* -1 for the static UTC zone */
	uint32_t n;      /* transitions kept */
	int64_t *at;     /* n instants, strictly ascending */
	int32_t *off;    /* n offsets, in force from at[i] */
	int32_t off0;    /* before at[0] */
	int32_t min_off, max_off;
	bool has_rule;
	struct rule rule;
	char name[TZ_MAX_NAME + 1];
};

static struct tz_zone utc_zone = { .refs = -1, .name = "UTC" };

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

const struct tz_zone *tz_utc(void)
{
	return &utc_zone;
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

static bool parse_num(const char **p, int max_digits, int *out)
{
	int v = 0, i = 0;

	while (i < max_digits && **p >= '0' && **p <= '9') {
		v = v * 10 + (*(*p)++ - '0');
		i++;
	}
	*out = v;
	return i > 0;
}

/* [+-]hh[:mm[:ss]] with hh up to max_h; the sign is returned as written. */
static bool parse_hms(const char **p, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;

	if (**p == '+' || **p == '-')
		sign = *(*p)++ == '-' ? -1 : 1;
	if (!parse_num(p, 3, &h) || h > max_h)
		return false;
	if (**p == ':' && (++*p, !parse_num(p, 2, &m) || m > 59))
		return false;
	if (**p == ':' && (++*p, !parse_num(p, 2, &s) || s > 59))
		return false;
	*out = sign * (h * 3600 + m * 60 + s);
	return true;
}

static bool parse_abbr(const char **p)
{
	const char *s = *p;

	if (*s == '<') {
		s++;
		while (*s && *s != '>' &&
		       (*s == '+' || *s == '-' || (*s >= '0' && *s <= '9') ||
			(*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
			s++;
		if (*s != '>' || s - *p < 4)
			return false;
		*p = s + 1;
		return true;
	}
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
		s++;
	if (s - *p < 3)
		return false;
	*p = s;
	return true;
}

static bool parse_rule_date(const char **p, struct rule_date *r)
{
	r->secs = 7200;
	if (**p == 'M') {
		++*p;
		r->kind = 'M';
		if (!parse_num(p, 2, &r->m) || r->m < 1 || r->m > 12 ||
		    *(*p)++ != '.' || !parse_num(p, 1, &r->w) || r->w < 1 ||
		    r->w > 5 || *(*p)++ != '.' || !parse_num(p, 1, &r->d) ||
		    r->d > 6)
			return false;
	} else if (**p == 'J') {
		++*p;
		r->kind = 'J';
		if (!parse_num(p, 3, &r->n) || r->n < 1 || r->n > 365)
			return false;
	} else {
		r->kind = 'N';
		if (!parse_num(p, 3, &r->n) || r->n > 365)
			return false;
	}
	if (**p == '/') {
		++*p;
		/* RFC 8536 extends the time to -167..167 hours. */
		if (!parse_hms(p, 167, &r->secs))
			return false;
	}
	return true;
}

static bool parse_posix(const char *s, struct rule *r)
{
	int32_t v;

	memset(r, 0, sizeof(*r));
	if (!parse_abbr(&s) || !parse_hms(&s, 24, &v))
		return false;
	r->std_off = -v; /* POSIX offsets count west of Greenwich */
	r->dst_off = r->std_off;
	if (!*s)
		return true;
	if (!parse_abbr(&s))
		return false;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s && *s != ',') {
		if (!parse_hms(&s, 24, &v))
			return false;
		r->dst_off = -v;
	}
	if (!*s) { /* POSIX leaves the rule open; use the US one as glibc does */
		r->start = (struct rule_date){ 'M', 0, 3, 2, 0, 7200 };
		r->end = (struct rule_date){ 'M', 0, 11, 1, 0, 7200 };
		return true;
	}
	if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
	    !parse_rule_date(&s, &r->end))
		return false;
	return *s == '\0';
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int8_t len[13] = { 0,  31, 28, 31, 30, 31, 30,
					31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : len[m];
}

/* The day number (days since the epoch) on which r falls in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1);

	if (r->kind == 'J')
		return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
	if (r->kind == 'N')
		return jan1 + r->n;
	int64_t first = tz_days_from_civil(y, r->m, 1);
	int day = 1 + (r->d - tz_weekday(first) + 7) % 7 + 7 * (r->w - 1);
	while (day > month_days(y, r->m))
		day -= 7;
	return first + day - 1;
}

struct change {
	int64_t at;
	int32_t off;
};

/* The rule's changes in years y-1..y+1, in time order. */
static void rule_changes(const struct rule *r, int64_t y, struct change c[6])
{
	for (int i = 0; i < 3; i++) {
		int64_t yy = y - 1 + i;
		c[2 * i].at = rule_day(&r->start, yy) * 86400 + r->start.secs -
			      r->std_off;
		c[2 * i].off = r->dst_off;
		c[2 * i + 1].at = rule_day(&r->end, yy) * 86400 + r->end.secs -
				  r->dst_off;
		c[2 * i + 1].off = r->std_off;
	}
	/* Stable insertion sort: at equal instants the later year wins. */
	for (int i = 1; i < 6; i++) {
		struct change v = c[i];
		int j = i;
		while (j > 0 && c[j - 1].at > v.at) {
			c[j] = c[j - 1];
			j--;
		}
		c[j] = v;
	}
}

static void rule_span(const struct rule *r, int64_t t, struct tz_span *out)
{
	struct change c[6];
	int64_t y;
	int m, d;

	*out = (struct tz_span){ INT64_MIN, INT64_MAX, r->std_off, r->std_off };
	if (!r->has_dst)
		return;
	if (t > RULE_LIMIT || t < -RULE_LIMIT) {
		/* Millions of years away: keep the arithmetic in range. */
		out->start = t > 0 ? RULE_LIMIT : INT64_MIN;
		out->end = t > 0 ? INT64_MAX : -RULE_LIMIT;
		return;
	}
	tz_civil_from_days(tz_floordiv(t + r->std_off, 86400), &y, &m, &d);
	/* Rule times stay within a week of their year, so c[0] <= t < c[5]
	 * but for odd rules; those shift the years once or twice. */
	int i = 0;
	for (int try = 0; try < 3; try++) {
		rule_changes(r, y, c);
		for (i = 0; i < 6 && c[i].at <= t;)
			i++;
		if (i > 0 && i < 6)
			break;
		y += i == 0 ? -1 : 1;
	}
	if (i == 0 || i == 6) {
		out->off = c[5].off;
		return;
	}
	out->start = c[i - 1].at;
	out->off = c[i - 1].off;
	out->prev_off = i >= 2 ? c[i - 2].off : c[5].off;
	out->end = c[i].at;
}

/* ---- Look-ups ---- */

static int32_t off_before(const struct tz_zone *z, uint32_t i)
{
	return i == 0 ? z->off0 : z->off[i - 1];
}

/* Number of transitions at or before t. */
static uint32_t upper_bound(const struct tz_zone *z, int64_t t)
{
	uint32_t lo = 0, hi = z->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (z->at[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void tz_span_at(const struct tz_zone *z, int64_t t, struct tz_span *out)
{
	uint32_t n = z->n;

	if (z->has_rule && (n == 0 || t >= z->at[n - 1])) {
		rule_span(&z->rule, t, out);
		if (n > 0 && out->start < z->at[n - 1]) {
			out->start = z->at[n - 1];
			out->prev_off = off_before(z, n - 1);
		}
		return;
	}
	uint32_t i = upper_bound(z, t);
	out->start = i == 0 ? INT64_MIN : z->at[i - 1];
	out->end = i == n ? INT64_MAX : z->at[i];
	out->off = off_before(z, i);
	out->prev_off = i == 0 ? z->off0 : off_before(z, i - 1);
}

int32_t tz_offset_at(const struct tz_zone *z, int64_t t)
{
	struct tz_span s;

	tz_span_at(z, t, &s);
	return s.off;
}

int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local)
{
	struct tz_span s;

	/* No instant before local - max_off shows the wall clock at local. */
	tz_span_at(z, local - z->max_off, &s);
	for (int i = 0; i < 64; i++) {
		int64_t t = local - s.off;
		if (t < s.start)
			return s.start; /* in a gap: the first instant after it */
		if (t < s.end || s.end == INT64_MAX)
			return t;
		tz_span_at(z, s.end, &s);
	}
	return local - s.off;
}

/* ---- TZif (RFC 8536) ---- */

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Reads a 44-byte header; 0 or -EINVAL. */
static int tzif_header(const unsigned char *p, size_t len, int *version,
		       struct tzif_counts *c)
{
	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	*version = p[4] ? p[4] - '0' : 1;
	c->isut = be32(p + 20);
	c->isstd = be32(p + 24);
	c->leap = be32(p + 28);
	c->time = be32(p + 32);
	c->type = be32(p + 36);
	c->chars = be32(p + 40);
	if (c->type == 0 || c->type > 256 || c->time > 1000000 ||
	    c->chars > 1000000 || c->leap > 1000000 ||
	    (c->isut && c->isut != c->type) ||
	    (c->isstd && c->isstd != c->type))
		return -EINVAL;
	return 0;
}

/* Size of a data block whose times are tw bytes wide. */
static size_t tzif_block_len(const struct tzif_counts *c, size_t tw)
{
	return (size_t)c->time * tw + c->time + (size_t)c->type * 6 + c->chars +
	       (size_t)c->leap * (tw + 4) + c->isstd + c->isut;
}

static struct tz_zone *zone_alloc(uint32_t n, const char *name)
{
	struct tz_zone *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	if (n) {
		z->at = malloc(n * sizeof(*z->at));
		z->off = malloc(n * sizeof(*z->off));
		if (!z->at || !z->off) {
			free(z->at);
			free(z->off);
			free(z);
			return NULL;
		}
	}
	atomic_init(&z->refs, 1);
	snprintf(z->name, sizeof(z->name), "%s", name ? name : "");
	return z;
}

static void zone_limits(struct tz_zone *z)
{
	z->min_off = z->max_off = z->off0;
	for (uint32_t i = 0; i < z->n; i++) {
		if (z->off[i] < z->min_off)
			z->min_off = z->off[i];
		if (z->off[i] > z->max_off)
			z->max_off = z->off[i];
	}
	if (z->has_rule) {
		int32_t a = z->rule.std_off, b = z->rule.dst_off;
		z->min_off = a < z->min_off ? a : z->min_off;
		z->min_off = b < z->min_off ? b : z->min_off;
		z->max_off = a > z->max_off ? a : z->max_off;
		z->max_off = b > z->max_off ? b : z->max_off;
	}
}

static bool rule_sane(const struct rule *r)
{
	return r->std_off > -TZ_MAX_OFF && r->std_off < TZ_MAX_OFF &&
	       r->dst_off > -TZ_MAX_OFF && r->dst_off < TZ_MAX_OFF;
}

static int64_t tzif_time(const unsigned char *p, size_t tw, uint32_t i)
{
	return tw == 8 ? be64(p + 8 * i) : (int32_t)be32(p + 4 * i);
}

/*
 * Copies the block's transitions into z, keeping only those that change
 * the offset.  0 or -EINVAL.
 */
static int tzif_transitions(struct tz_zone *z, const unsigned char *p,
			    const struct tzif_counts *c, size_t tw)
{
	const unsigned char *idx = p + (size_t)c->time * tw;
	const unsigned char *types = idx + c->time;
	int32_t cur;

	for (uint32_t i = 0; i < c->type; i++) {
		int32_t off = (int32_t)be32(types + 6 * i);
		if (off <= -TZ_MAX_OFF || off >= TZ_MAX_OFF)
			return -EINVAL;
	}
	z->off0 = cur = (int32_t)be32(types);
	for (uint32_t i = 0; i < c->time; i++) {
		int64_t at = tzif_time(p, tw, i);
		if (idx[i] >= c->type || (i && at <= tzif_time(p, tw, i - 1)))
			return -EINVAL;
		int32_t off = (int32_t)be32(types + 6 * idx[i]);
		if (off == cur)
			continue;
		z->at[z->n] = at;
		z->off[z->n++] = cur = off;
	}
	return 0;
}

/* The footer "\nTZ\n" after the v2+ block; empty means no rule. */
static int tzif_footer(struct tz_zone *z, const unsigned char *p, size_t len)
{
	char tz[128];

	if (len < 2 || p[0] != '\n')
		return -EINVAL;
	const unsigned char *nl = memchr(p + 1, '\n', len - 1);
	if (!nl || (size_t)(nl - p - 1) >= sizeof(tz))
		return -EINVAL;
	memcpy(tz, p + 1, (size_t)(nl - p - 1));
	tz[nl - p - 1] = '\0';
	if (!tz[0])
		return 0;
	if (!parse_posix(tz, &z->rule) || !rule_sane(&z->rule))
		return -EINVAL;
	z->has_rule = true;
	return 0;
}

int tz_zone_from_tzif(const void *data, size_t len, const char *name,
		      struct tz_zone **out, char *err, size_t errlen)
{
	const unsigned char *p = data;
	struct tzif_counts c;
	int version;
	size_t tw = 4;

	if (tzif_header(p, len, &version, &c) < 0)
		goto bad;
	if (version >= 2) {
		size_t skip = 44 + tzif_block_len(&c, 4);
		if (skip > len ||
		    tzif_header(p + skip, len - skip, &version, &c) < 0)
			goto bad;
		p += skip;
		len -= skip;
		tw = 8;
	}
	size_t block = tzif_block_len(&c, tw);
	if (44 + block > len)
		goto bad;
	if (c.leap)
		return fail(err, errlen, -EINVAL,
			    "time zone %s: leap-second zones are not supported",
			    name);
	struct tz_zone *z = zone_alloc(c.time, name);
	if (!z)
		return fail(err, errlen, -ENOMEM, "out of memory");
	if (tzif_transitions(z, p + 44, &c, tw) < 0 ||
	    (tw == 8 && tzif_footer(z, p + 44 + block, len - 44 - block) < 0)) {
		tz_zone_unref(z);
		goto bad;
	}
	zone_limits(z);
	*out = z;
	return 0;
bad:
	return fail(err, errlen, -EINVAL, "time zone %s: not a valid TZif file",
		    name);
}

int tz_zone_from_posix(const char *tz, struct tz_zone **out, char *err,
		       size_t errlen)
{
	struct rule r;

	if (!parse_posix(tz, &r) || !rule_sane(&r))
		return fail(err, errlen, -EINVAL,
			    "time zone rule \"%s\" is not a POSIX TZ string",
			    tz);
	struct tz_zone *z = zone_alloc(0, tz);
	if (!z)
		return fail(err, errlen, -ENOMEM, "out of memory");
	z->rule = r;
	z->has_rule = true;
	z->off0 = r.std_off;
	zone_limits(z);
	*out = z;
	return 0;
}

/* Reads a whole small file; 0 or -errno. */
static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (!rc && !S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (!rc && st.st_size > TZ_MAX_FILE)
		rc = -EFBIG;
	if (rc) {
		close(fd);
		return rc;
	}
	*buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (*buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!*buf)
		return -ENOMEM;
	*len = got;
	return 0;
}

static bool name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len > TZ_MAX_NAME || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (const char *s = name; *s; s++) {
		if (!(*s == '/' || *s == '_' || *s == '-' || *s == '+' ||
		      *s == '.' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
			return false;
	}
	/* Stricter than needed (a component ".." is the danger), but simple. */
	return strstr(name, "..") == NULL;
}

/* The local zone's name: the link target under zoneinfo/, else "localtime". */
static void local_name(char *name, size_t len)
{
	char target[512];
	ssize_t n = readlink(TZ_LOCALTIME, target, sizeof(target) - 1);
	const char *s;

	snprintf(name, len, "localtime");
	if (n <= 0)
		return;
	target[n] = '\0';
	s = strstr(target, "zoneinfo/");
	if (s && name_ok(s + 9))
		snprintf(name, len, "%s", s + 9);
}

static int load_file(const char *path, const char *name, struct tz_zone **out,
		     char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, &buf, &len);

	if (rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR)
		return fail(err, errlen, -ENOENT, "unknown time zone %s", name);
	if (rc < 0)
		return fail(err, errlen, rc == -ENOMEM ? rc : -EIO,
			    "time zone %s: cannot read %s: %s", name, path,
			    strerror(-rc));
	rc = tz_zone_from_tzif(buf, len, name, out, err, errlen);
	free(buf);
	return rc;
}

int tz_zone_load(const char *name, struct tz_zone **out, char *err,
		 size_t errlen)
{
	char path[sizeof(TZ_DIR) + TZ_MAX_NAME], local[TZ_MAX_NAME + 1];

	*out = NULL;
	if (!name || !*name) {
		local_name(local, sizeof(local));
		if (access(TZ_LOCALTIME, F_OK) < 0) {
			*out = &utc_zone;
			return 0;
		}
		return load_file(TZ_LOCALTIME, local, out, err, errlen);
	}
	if (strcmp(name, "UTC") == 0) {
		*out = &utc_zone;
		return 0;
	}
	if (!name_ok(name))
		return fail(
			err, errlen, -EINVAL,
			"invalid time zone name \"%.64s\": expected an IANA "
			"name such as Europe/Berlin",
			name);
	snprintf(path, sizeof(path), TZ_DIR "%s", name);
	return load_file(path, name, out, err, errlen);
}

struct tz_zone *tz_zone_ref(struct tz_zone *z)
{
	if (z && atomic_load_explicit(&z->refs, memory_order_relaxed) >= 0)
		atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
	return z;
}

void tz_zone_unref(struct tz_zone *z)
{
	if (!z || atomic_load_explicit(&z->refs, memory_order_relaxed) < 0)
		return;
	if (atomic_fetch_sub_explicit(&z->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(z->at);
	free(z->off);
	free(z);
}

const char *tz_zone_name(const struct tz_zone *z)
{
	return z->name;
}

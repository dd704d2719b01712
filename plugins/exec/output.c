/*
 * output.c - a job's captured output, head and tail kept up to a cap (see
 * output.h).
 *
 * The head is the first bytes, kept as they come; once it is full, later
 * bytes go into a ring of the last bytes, overwriting the oldest.  What
 * falls out between the two is only counted.  The UTF-8 repair happens once,
 * in outbuf_take, over at most a cap of bytes: a job that writes 10 MB costs
 * one memcpy per byte and no decoding.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define HEAD_FIRST_ALLOC 4096

void outbuf_init(struct outbuf *o, size_t cap)
{
	if (cap < OUTBUF_MIN_CAP)
		cap = OUTBUF_MIN_CAP;
	*o = (struct outbuf){ 0 };
	o->cap = cap;
	o->head_cap = (cap - OUTBUF_MARK_RESERVE) / 2;
	o->tail_cap = cap - o->head_cap;
}

void outbuf_free(struct outbuf *o)
{
	free(o->head);
	free(o->tail);
	*o = (struct outbuf){ 0 };
}

uint64_t outbuf_dropped(const struct outbuf *o)
{
	return o->total - o->head_len - o->tail_len;
}

/* Room for want bytes of head; 0, or -ENOMEM. */
static int head_reserve(struct outbuf *o, size_t want)
{
	size_t a = o->head_alloc ? o->head_alloc : HEAD_FIRST_ALLOC;
	char *p;
	if (want <= o->head_alloc)
		return 0;
	while (a < want)
		a *= 2;
	if (a > o->head_cap)
		a = o->head_cap;
	p = realloc(o->head, a);
	if (!p)
		return -ENOMEM;
	o->head = p;
	o->head_alloc = a;
	return 0;
}

static void tail_add(struct outbuf *o, const char *p, size_t n)
{
	size_t first;
	if (!o->tail && !(o->tail = malloc(o->tail_cap)))
		return; /* no memory: these bytes count as dropped */
	if (n >= o->tail_cap) {
		memcpy(o->tail, p + n - o->tail_cap, o->tail_cap);
		o->tail_pos = 0;
		o->tail_len = o->tail_cap;
		return;
	}
	first = o->tail_cap - o->tail_pos;
	if (first > n)
		first = n;
	memcpy(o->tail + o->tail_pos, p, first);
	memcpy(o->tail, p + first, n - first);
	o->tail_pos = (o->tail_pos + n) % o->tail_cap;
	o->tail_len =
		o->tail_len + n > o->tail_cap ? o->tail_cap : o->tail_len + n;
}

void outbuf_add(struct outbuf *o, const void *data, size_t n)
{
	const char *p = data;
	size_t h = o->head_cap - o->head_len;
	o->total += n;
	if (h > n)
		h = n;
	if (h) {
		if (head_reserve(o, o->head_len + h) < 0) {
			/* Freeze the head where it is: what follows is the
			 * middle, dropped, so the marker lands at the gap. */
			o->head_cap = o->head_len;
		} else {
			memcpy(o->head + o->head_len, p, h);
			o->head_len += h;
			p += h;
			n -= h;
		}
	}
	if (n)
		tail_add(o, p, n);
}

enum unit_kind {
	UNIT_OK,
	UNIT_BAD,
	UNIT_CUT
};

/*
 * One unit at s[0..n): a well-formed character (UNIT_OK), or a maximal
 * subpart of an ill-formed one (Unicode 15, section 3.9, table 3-7): either
 * UNIT_BAD, or UNIT_CUT when it is a well-formed start cut short by the end
 * of s, as a character split by the head's end.  *in gets the bytes it
 * spans; returns its size once sanitized: *in, or 3 for U+FFFD.
 */
static size_t utf8_unit(const unsigned char *s, size_t n, size_t *in,
			enum unit_kind *kind)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;
	*kind = UNIT_BAD;
	*in = 1;
	if (c < 0x80) {
		*kind = UNIT_OK;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlongs */
		hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		lo = c == 0xf0 ? 0x90 : 0x80; /* no overlongs */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing past U+10FFFF */
	} else {
		return 3; /* 80..c1, f5..ff: never a first byte */
	}
	for (size_t i = 1; i <= need; i++) {
		if (i == n || s[i] < lo || s[i] > hi) {
			*in = i;
			if (i == n)
				*kind = UNIT_CUT;
			return 3;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	*in = need + 1;
	*kind = UNIT_OK;
	return need + 1;
}

size_t utf8_sanitized_len(const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, out = 0, in;
	enum unit_kind k;
	while (i < n) {
		out += utf8_unit(s + i, n - i, &in, &k);
		i += in;
	}
	return out;
}

size_t utf8_sanitize(char *dst, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, out = 0, in, u;
	enum unit_kind k;
	while (i < n) {
		u = utf8_unit(s + i, n - i, &in, &k);
		memcpy(dst + out,
		       k == UNIT_OK ? (const char *)s + i : "\xef\xbf\xbd", u);
		out += u;
		i += in;
	}
	return out;
}

/* Bytes of s[0..n) in whole units whose sanitized size fits budget,
 * leaving out a character cut by the end of s; *out gets that size. */
static size_t fit_prefix(const char *s, size_t n, size_t budget, size_t *out)
{
	size_t i = 0, in, u;
	enum unit_kind k;
	*out = 0;
	while (i < n) {
		u = utf8_unit((const unsigned char *)s + i, n - i, &in, &k);
		if (k == UNIT_CUT || *out + u > budget)
			break;
		*out += u;
		i += in;
	}
	return i;
}

/* Where the longest suffix of whole units of s[0..n) starts whose
 * sanitized size fits budget; *out gets that size. */
static size_t fit_suffix(const char *s, size_t n, size_t budget, size_t *out)
{
	size_t i = 0, in;
	enum unit_kind k;
	*out = utf8_sanitized_len(s, n);
	while (*out > budget && i < n) {
		*out -= utf8_unit((const unsigned char *)s + i, n - i, &in, &k);
		i += in;
	}
	return i;
}

/* The kept bytes in order, head then tail, in one new buffer. */
static char *linearize(const struct outbuf *o)
{
	char *l = malloc(o->head_len + o->tail_len + 1);
	size_t old = o->tail_len < o->tail_cap ? 0 : o->tail_pos;
	if (!l)
		return NULL;
	if (o->head_len)
		memcpy(l, o->head, o->head_len);
	if (o->tail_len) {
		memcpy(l + o->head_len, o->tail + old, o->tail_len - old);
		memcpy(l + o->head_len + o->tail_len - old, o->tail, old);
	}
	/* Terminated (also quiets gcc -O2's maybe-uninitialized on an
	 * empty buffer). */
	l[o->head_len + o->tail_len] = '\0';
	return l;
}

/* The marker line for dropped bytes, after head[0..hn); its length. */
static int marker(char *m, const char *head, size_t hn, uint64_t dropped)
{
	return snprintf(m, OUTBUF_MARK_RESERVE,
			"%s[loopd: %" PRIu64 " bytes dropped]\n",
			hn && head[hn - 1] != '\n' ? "\n" : "", dropped);
}

int outbuf_take(const struct outbuf *o, char **text, size_t *len)
{
	size_t n = o->head_len + o->tail_len, hn, hout, ts = 0, tout = 0;
	size_t rest_n = 0, pos;
	uint64_t dropped = outbuf_dropped(o);
	char *l = linearize(o), *t, mark[OUTBUF_MARK_RESERVE];
	const char *rest;
	int m = 0;
	if (!l)
		return -ENOMEM;
	if (!dropped && (hout = utf8_sanitized_len(l, n)) <= o->cap) {
		hn = n; /* everything, and it fits once repaired */
		rest = l + n;
	} else {
		/* Without a gap yet, the head may reach into the tail. */
		size_t head_n = dropped ? o->head_len : n;
		hn = fit_prefix(l, head_n, o->head_cap, &hout);
		rest = l + (dropped ? o->head_len : hn);
		rest_n = n - (size_t)(rest - l);
		/* A character the ring cut in two starts the tail: skip
		 * its continuation bytes. */
		for (int k = 0; dropped && k < 3 && rest_n &&
				((unsigned char)rest[0] & 0xc0) == 0x80;
		     k++)
			rest++, rest_n--;
		ts = fit_suffix(rest, rest_n,
				o->cap - hout - OUTBUF_MARK_RESERVE, &tout);
		dropped = o->total - hn - (rest_n - ts);
		m = marker(mark, l, hn, dropped);
	}
	t = malloc(hout + (size_t)m + tout + 1);
	if (!t) {
		free(l);
		return -ENOMEM;
	}
	pos = utf8_sanitize(t, l, hn);
	memcpy(t + pos, mark, (size_t)m);
	pos += (size_t)m;
	pos += utf8_sanitize(t + pos, rest + ts, rest_n - ts);
	t[pos] = '\0';
	free(l);
	*text = t;
	*len = pos;
	return 0;
}

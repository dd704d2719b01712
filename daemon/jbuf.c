/*
 * jbuf.c - the JSON text writer of jbuf.h.
 */
#include "jbuf.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void jb_init(struct jbuf *b)
{
	*b = (struct jbuf){ .first = true };
}

void jb_free(struct jbuf *b)
{
	free(b->p);
	jb_init(b);
}

static void reserve(struct jbuf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		fatalx("out of memory");
	b->p = p;
	b->cap = cap;
}

void jb_reserve(struct jbuf *b, size_t n)
{
	reserve(b, n);
}

static void put(struct jbuf *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

const char *jb_text(struct jbuf *b)
{
	reserve(b, 0);
	b->p[b->len] = '\0';
	return b->p;
}

void jb_open(struct jbuf *b, char brace)
{
	put(b, &brace, 1);
	b->first = true;
}

void jb_close(struct jbuf *b, char brace)
{
	put(b, &brace, 1);
	b->first = false;
}

/* The bytes a JSON string cannot hold as they are: controls, '"', '\\'. */
static const bool escaped[256] = {
	[0] = 1,  [1] = 1,  [2] = 1,  [3] = 1,  [4] = 1,   [5] = 1,    [6] = 1,
	[7] = 1,  [8] = 1,  [9] = 1,  [10] = 1, [11] = 1,  [12] = 1,   [13] = 1,
	[14] = 1, [15] = 1, [16] = 1, [17] = 1, [18] = 1,  [19] = 1,   [20] = 1,
	[21] = 1, [22] = 1, [23] = 1, [24] = 1, [25] = 1,  [26] = 1,   [27] = 1,
	[28] = 1, [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1,
};

/* How many bytes of s come before its first that needs an escape (or
 * its end, the NUL being one of them). */
static size_t plain_len(const char *s)
{
	size_t n = 0;
	while (!escaped[(unsigned char)s[n]])
		n++;
	return n;
}

/* The rest of a string from its first byte that needs an escape. */
static void put_escaped(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (!escaped[c])
			continue;
		put(b, run, (size_t)(s - run));
		if (!c)
			break;
		char esc[6] = { '\\', (char)c, 0, 0, 0, 0 };
		size_t n = 2;
		if (c == '\n')
			esc[1] = 'n';
		else if (c == '\t')
			esc[1] = 't';
		else if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		put(b, esc, n);
		run = s + 1;
	}
}

/* A string, quoted.  Most need no escape: one reservation and one copy
 * for the whole (a jobs.List writes about 200,000 strings). */
static void put_string(struct jbuf *b, const char *s)
{
	size_t n = plain_len(s);
	reserve(b, n + 2);
	b->p[b->len] = '"';
	memcpy(b->p + b->len + 1, s, n);
	b->len += n + 1;
	if (s[n])
		put_escaped(b, s + n);
	put(b, "\"", 1);
}

/* The separator before a member or an element. */
static void put_separator(struct jbuf *b)
{
	if (!b->first)
		put(b, ",", 1);
	b->first = false;
}

/* The usual key, which needs no escape, is written with its separator,
 * quotes and colon in one go. */
void jb_key(struct jbuf *b, const char *key)
{
	size_t n = key ? plain_len(key) : 0;
	if (!key || key[n]) {
		put_separator(b);
		if (key) {
			put_string(b, key);
			put(b, ":", 1);
		}
		return;
	}
	reserve(b, n + 4);
	char *o = b->p + b->len;
	if (!b->first)
		*o++ = ',';
	b->first = false;
	*o++ = '"';
	memcpy(o, key, n);
	o += n;
	*o++ = '"';
	*o++ = ':';
	b->len = (size_t)(o - b->p);
}

void jb_str(struct jbuf *b, const char *key, const char *s)
{
	jb_key(b, key);
	if (s)
		put_string(b, s);
	else
		put(b, "null", 4);
}

/* Decimal digits by hand: snprintf costs more than the rest of a jobs.List
 * entry, which has nine integers. */
void jb_int(struct jbuf *b, const char *key, int64_t v)
{
	char num[24], *end = num + sizeof(num), *p = end;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	jb_key(b, key);
	put(b, p, (size_t)(end - p));
}

void jb_null(struct jbuf *b, const char *key)
{
	jb_key(b, key);
	put(b, "null", 4);
}

void jb_raw(struct jbuf *b, const char *key, const char *json, size_t len)
{
	jb_key(b, key);
	put(b, json, len);
}

void jb_append(struct jbuf *b, const char *text, size_t len)
{
	put(b, text, len);
}

/* The length of the valid UTF-8 sequence at s (1-4), or 0 (RFC 3629: no
 * overlong forms, surrogates or code points above U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n = c < 0x80   ? 1
		   : c < 0xc2 ? 0
		   : c < 0xe0 ? 2
		   : c < 0xf5 ? 3 + (c >= 0xf0)
			      : 0;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n > 1 && (s[1] < lo || s[1] > hi))
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void jb_str_lossy(struct jbuf *b, const char *key, const char *s)
{
	struct jbuf fixed;
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t n;
	while (*u && (*u < 0x80 || (n = utf8_len(u)) != 0))
		u += *u < 0x80 ? 1 : n;
	if (!*u) { /* NULL, or valid: as it is */
		jb_str(b, key, s);
		return;
	}
	jb_init(&fixed);
	for (u = (const unsigned char *)s; *u; u += n ? n : 1) {
		n = utf8_len(u);
		put(&fixed, n ? (const char *)u : "\xef\xbf\xbd", n ? n : 3);
	}
	jb_str(b, key, jb_text(&fixed));
	jb_free(&fixed);
}

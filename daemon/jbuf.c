/*
 * jbuf.c - the JSON text writer of jbuf.h.
 */
#include "jbuf.h"

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

static void put_string(struct jbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	put(b, "\"", 1);
	for (const char *run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
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
	put(b, "\"", 1);
}

void jb_key(struct jbuf *b, const char *key)
{
	if (!b->first)
		put(b, ",", 1);
	b->first = false;
	if (key) {
		put_string(b, key);
		put(b, ":", 1);
	}
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

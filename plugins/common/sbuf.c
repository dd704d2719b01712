/*
 * sbuf.c - the run's output buffer (see sbuf.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

static bool sbuf_grow(struct sbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;
	if (b->oom)
		return false;
	if (b->len + need + 1 <= b->cap)
		return true;
	while (cap < b->len + need + 1) {
		if (cap > ((size_t)-1) / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	if (!(p = realloc(b->p, cap))) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sbuf_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len, i;
	unsigned min, cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void sbuf_add_escaped(struct sbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, k;
	while (i + run < n) {
		unsigned char c = s[i + run];
		if (c >= 0x20 && c != 0x7f && c != '\\' &&
		    (k = utf8_seq_len(s + i + run, n - i - run))) {
			run += k;
			continue;
		}
		sbuf_add(b, str + i, run);
		i += run;
		run = 0;
		if (c == '\t')
			sbuf_add(b, "\\t", 2);
		else if (c == '\n')
			sbuf_add(b, "\\n", 2);
		else if (c == '\r')
			sbuf_add(b, "\\r", 2);
		else if (c == '\\')
			sbuf_add(b, "\\\\", 2);
		else
			sbuf_printf(b, "\\x%02x", c);
		i++;
	}
	sbuf_add(b, str + i, run);
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
	static const char note[] = "[out of memory: some output was lost]\n";
	char *p;
	if (b->oom && b->p && b->cap - b->len > sizeof(note)) {
		memcpy(b->p + b->len, note, sizeof(note));
		b->len += sizeof(note) - 1;
	}
	if (!b->p) {
		p = strdup(b->oom ? note : "");
		*len = p ? strlen(p) : 0;
	} else {
		p = b->p;
		*len = b->len;
	}
	*b = (struct sbuf){ 0 };
	return p;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}

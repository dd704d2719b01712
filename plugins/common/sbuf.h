/*
 * sbuf.h - a growable text buffer for a run's output, built on a worker
 * thread and handed to api->finish on the loop thread.  The output of a
 * run must be valid UTF-8 (the run history is JSON), so text that comes
 * from outside (values, names) goes through sbuf_add_escaped.
 *
 * Out of memory is not an error the caller handles: the buffer stops
 * growing, remembers it, and sbuf_take says so at the end.
 */
#ifndef LOOPD_PLUGIN_SBUF_H
#define LOOPD_PLUGIN_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *p;    /* NUL-terminated once anything was added; owned */
	size_t len; /* bytes in p, without the NUL */
	size_t cap; /* bytes allocated */
	bool oom;   /* something was dropped for want of memory */
};

void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends s[0..n) as one line's field: valid UTF-8 is copied, tab,
 * newline, carriage return and backslash become \t \n \r \\, any other
 * control byte or byte that is not UTF-8 becomes \xNN. */
void sbuf_add_escaped(struct sbuf *b, const char *s, size_t n);

/* The length of the valid UTF-8 sequence at s[0..n), or 0. */
size_t utf8_seq_len(const unsigned char *s, size_t n);

/* Hands the text over (caller frees; never NULL unless out of memory),
 * with a note at the end if memory ran out; b is empty after. */
char *sbuf_take(struct sbuf *b, size_t *len);
void sbuf_free(struct sbuf *b);

#endif /* LOOPD_PLUGIN_SBUF_H */

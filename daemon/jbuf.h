/*
 * jbuf.h - a small writer of JSON text into a growing buffer, for the
 * replies that are too big to build as jansson trees (a 10,000-job
 * jobs.List), the hot ones (GetStatus: a tree, its dump and its free cost
 * more than the system calls) and the objects built once and reused.
 *
 * Strings must be UTF-8 (everything loopd writes comes from JSON input or
 * its own database; jb_str_lossy for what may not be); the writer escapes
 * quotes, backslashes and control characters.  jb_raw appends JSON text as it is: the caller vouches for
 * it.  Out of memory aborts, as every allocation in loopd does.
 */
#ifndef LOOPD_JBUF_H
#define LOOPD_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jbuf {
	char *p;
	size_t len, cap;
	bool first; /* no member written yet in the open object or array */
};

void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
/* Room for n more bytes, ahead of a big reply. */
void jb_reserve(struct jbuf *b, size_t n);
/* The text, NUL-terminated (owned by b). */
const char *jb_text(struct jbuf *b);

void jb_open(struct jbuf *b, char brace);  /* '{' or '[' */
void jb_close(struct jbuf *b, char brace); /* '}' or ']' */
/* A member's key (in an object) or the separator (in an array: key NULL). */
void jb_key(struct jbuf *b, const char *key);
void jb_str(struct jbuf *b, const char *key, const char *s); /* NULL: null */
void jb_int(struct jbuf *b, const char *key, int64_t v);
void jb_null(struct jbuf *b, const char *key);
void jb_raw(struct jbuf *b, const char *key, const char *json, size_t len);
/* A string that may not be valid UTF-8 (a path, a message from the
 * system): each invalid byte is written as U+FFFD.  NULL: null. */
void jb_str_lossy(struct jbuf *b, const char *key, const char *s);
/* Appends len bytes of text as they are, with no separator: the frame
 * around a value (ctl_reply_begin). */
void jb_append(struct jbuf *b, const char *text, size_t len);

#endif

/*
 * output.h - a job's captured output: the first and the last bytes up to a
 * cap, the middle dropped and counted, and the result made valid UTF-8.
 *
 * Pure (no loop, no plugin API) so that tests/unit/test_exec_output.c can
 * drive it directly.
 */
#ifndef EXEC_OUTPUT_H
#define EXEC_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* Room kept out of the cap for the "[loopd: N bytes dropped]" line. */
#define OUTBUF_MARK_RESERVE 64
/* The smallest cap outbuf_init accepts: a marker and a few bytes. */
#define OUTBUF_MIN_CAP      256

struct outbuf {
	size_t cap;      /* the most outbuf_take returns */
	size_t head_cap; /* half of what is left of cap beside a marker */
	size_t tail_cap; /* the rest: cap - head_cap */
	char *head;      /* the first head_len bytes, grown */
	size_t head_len, head_alloc;
	char *tail; /* ring of tail_cap bytes, allocated once needed */
	size_t tail_len, tail_pos; /* valid bytes; next write index */
	uint64_t total;            /* every byte ever added */
};

/* cap: the most bytes outbuf_take returns (at least OUTBUF_MIN_CAP; a
 * smaller cap is raised to it).  Output up to cap bytes is kept whole;
 * past it, the first (cap - OUTBUF_MARK_RESERVE) / 2 bytes and about as
 * many of the last. */
void outbuf_init(struct outbuf *o, size_t cap);

/* Keeps what fits of n bytes.  Never fails: bytes it cannot store (no
 * memory) are counted as dropped. */
void outbuf_add(struct outbuf *o, const void *data, size_t n);

/* Bytes added but not kept (so far). */
uint64_t outbuf_dropped(const struct outbuf *o);

/*
 * The output to hand over: the head, then "[loopd: N bytes dropped]" on a
 * line of its own when bytes were dropped, then the tail; every byte
 * sequence that is not UTF-8 replaced by U+FFFD (one per maximal ill-formed
 * subpart, as Unicode recommends).  At most cap bytes: should replacement
 * make the text longer, more of the middle is dropped, at character
 * boundaries.  *text is NUL-terminated, caller frees; -ENOMEM.
 */
int outbuf_take(const struct outbuf *o, char **text, size_t *len);

void outbuf_free(struct outbuf *o);

/*
 * Copies src to dst with ill-formed sequences replaced by U+FFFD.  dst
 * needs utf8_sanitized_len(src, n) bytes (at most 3 * n).  Returns the
 * bytes written.
 */
size_t utf8_sanitize(char *dst, const char *src, size_t n);
size_t utf8_sanitized_len(const char *src, size_t n);

#endif /* EXEC_OUTPUT_H */

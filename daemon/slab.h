/*
 * slab.h - fixed-size object allocator for the loop's handles.
 *
 * Objects are carved from 2 MiB chunks (advised as huge pages) and reused
 * through a free list, so starting a million timers is a pointer bump each
 * and a handful of page faults instead of a million malloc calls.  Memory
 * goes back to the system only in slab_destroy: a daemon that once held a
 * million timers keeps that much mapped for reuse.  Under ASan every
 * object is a plain malloc, so use-after-free is still caught.
 * Not thread-safe: one owner thread.
 */
#ifndef LOOPD_SLAB_H
#define LOOPD_SLAB_H

#include <stddef.h>

struct slab {
	size_t size; /* object size, rounded up to 8 */
	void *free;  /* free list, linked through the objects */
	char *cur, *end;
	void **chunks; /* owned */
	size_t nchunks, cap;
};

void slab_init(struct slab *s, size_t size);
/* NULL when out of memory. */
void *slab_alloc(struct slab *s);
void slab_free(struct slab *s, void *p);
/* Frees every chunk; objects still allocated become invalid. */
void slab_destroy(struct slab *s);

#endif

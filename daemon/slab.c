/*
 * slab.c - see slab.h.
 */
#include "slab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_CHUNK ((size_t)2 << 20)

void slab_init(struct slab *s, size_t size)
{
	memset(s, 0, sizeof(*s));
	s->size = (size + 7) & ~(size_t)7;
}

#ifdef LOOPD_ASAN

void *slab_alloc(struct slab *s)
{
	return malloc(s->size);
}

void slab_free(struct slab *s, void *p)
{
	free(p);
}

void slab_destroy(struct slab *s)
{
	memset(s, 0, sizeof(*s));
}

#else

static int slab_grow(struct slab *s)
{
	if (s->nchunks == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		void **n = realloc(s->chunks, ncap * sizeof(*n));
		if (!n)
			return -1;
		s->chunks = n;
		s->cap = ncap;
	}
	char *c = aligned_alloc(SLAB_CHUNK, SLAB_CHUNK);
	if (!c)
		return -1;
	/* Fewer, larger page faults; a hint only, so failure is fine. */
	(void)madvise(c, SLAB_CHUNK, MADV_HUGEPAGE);
	s->chunks[s->nchunks++] = c;
	s->cur = c;
	s->end = c + SLAB_CHUNK;
	return 0;
}

void *slab_alloc(struct slab *s)
{
	void *p = s->free;
	if (p) {
		s->free = *(void **)p;
		return p;
	}
	if ((size_t)(s->end - s->cur) < s->size && slab_grow(s) < 0)
		return NULL;
	p = s->cur;
	s->cur += s->size;
	return p;
}

void slab_free(struct slab *s, void *p)
{
	*(void **)p = s->free;
	s->free = p;
}

void slab_destroy(struct slab *s)
{
	for (size_t i = 0; i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	memset(s, 0, sizeof(*s));
}

#endif
